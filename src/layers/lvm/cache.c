/* dm-cache: the blocks of an LVM cache LV held in its cache pool.
 *
 * Format (linux Documentation/admin-guide/device-mapper/cache.rst and
 * drivers/md/dm-cache-metadata.c; btrees and arrays: pdata.c).  Block 0
 * of the pool's metadata LV is the superblock:
 *     0 csum (xor 9031977)   4 flags (bit 0: clean shutdown)
 *     8 blocknr (0)   32 magic 06142003 (octal)   40 version (1 or 2)
 *   192 mapping root   232 data block size (sectors)
 *   236 metadata block size (sectors: 8)   240 cache blocks
 *   284 dirty root (version 2)
 * The mapping is a dm-array indexed by cache block: le64 (origin block
 * << 16 | flags), flag 1 valid, flag 2 dirty (version 1).  Version 2
 * keeps the dirty flags in a dm-bitset: a dm-array of le64 words, bit
 * I % 64 of word I / 64.  Without the clean-shutdown flag the kernel
 * takes every valid block as dirty (here: in writeback mode; a
 * writethrough cache writes the origin too).  A partial last block of
 * the origin is never cached (dm-cache-target.c: "We don't cache
 * these").
 *
 * A valid cache block holds the current content of its origin block.
 * A clean one is a copy of the origin's (mapped after it, as a copy); a
 * dirty one is newer (the origin's copy is stale: the cache block alone
 * is mapped).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>

#include "layers/lvm/lvm.h"

#define CACHE_MAGIC 06142003u
#define CACHE_SB_CSUM_XOR 9031977u
#define CACHE_CLEAN_SHUTDOWN 1u
#define M_VALID 1u
#define M_DIRTY 2u

struct load {
	struct bm_pd pd;
	uint64_t cblocks, oblocks;
	bool writeback, v1;
	struct bm_pd_array *dirty; /* version 2: the bitset, or NULL */
	struct lvm_single *one;
	size_t n, cap;
	uint64_t bad, bad_at;   /* entries naming no block of the LV, and
				 * where the first is */
};

static void mapping(void *o, uint64_t cb, const uint8_t *val)
{
	struct load *l = o;
	uint64_t v = bm_le64(val), ob = v >> 16;
	/* (the walk gives each CB < cblocks once: n <= cblocks) */
	if (!(v & M_VALID) || cb >= l->cblocks || l->n >= l->cblocks)
		return;
	if (ob >= l->oblocks) {
		if (!l->bad++)
			l->bad_at = l->pd.at + 24 + cb % 509 * 8;
		return;
	}
	bool dirty;
	if (l->v1)
		dirty = v & M_DIRTY;
	else if (l->dirty) {
		/* (a word the bitset lacks: dirty, the safe side) */
		const uint8_t *w = bm_pd_array_get(l->dirty, cb / 64);
		dirty = !w || (bm_le64(w) >> (cb % 64) & 1);
	} else
		dirty = l->writeback; /* not shut down cleanly */
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->one = bm_reallocarray(l->one, l->cap, sizeof *l->one);
	}
	l->one[l->n++] = (struct lvm_single){ ob, cb, cb, !dirty };
}

/* Where SEG's metadata and data are: a cache pool's metadata and data
 * LVs, or two areas of a cache volume (lvm2's --cachevol).  False when
 * they are missing or do not fit. */
static bool locate(struct lvm_seg *seg, struct bm_volume **meta,
		   uint64_t *moff, uint64_t *mlen, struct bm_volume **data,
		   uint64_t *doff, uint64_t *dlen, uint64_t *chunk)
{
	struct lvm_lv *pool = seg->lv2;
	if (!pool || pool->state != 2)
		return false;
	if (seg->cachevol) {
		uint64_t size = pool->vol->size;
		*meta = *data = pool->vol;
		*moff = seg->cv_meta_off;
		*mlen = seg->cv_meta_len;
		*doff = seg->cv_data_off;
		*dlen = seg->cv_data_len;
		*chunk = seg->chunk_bytes;
		return *moff <= size && *mlen <= size - *moff &&
		       *doff <= size && *dlen <= size - *doff;
	}
	struct lvm_seg *ps = pool->nsegs == 1 ? &pool->segs[0] : NULL;
	if (!ps || ps->type != LVM_SEG_CACHE_POOL || !ps->lv1 ||
	    ps->lv1->state != 2 || !ps->lv2 || ps->lv2->state != 2)
		return false;
	*meta = ps->lv1->vol;
	*data = ps->lv2->vol;
	*moff = *doff = 0;
	*mlen = (*meta)->size;
	*dlen = (*data)->size;
	*chunk = ps->chunk_bytes;
	return true;
}

int bm_lvm_cache_load(struct lvm_lv *lv, struct lvm_seg *seg)
{
	struct bm_ctx *ctx = lv->vg->ctx;
	struct lvm_lv *origin = seg->lv1, *pool = seg->lv2;
	struct lvm_seg *ps = pool && pool->nsegs == 1 ? &pool->segs[0] : NULL;
	bool writeback = !seg->writethrough &&
			 !(!seg->cachevol && ps && ps->writethrough);
	const char *fallback =
		writeback ? "mapped through its origin; blocks dirty in the "
			    "cache are not mapped"
			  : "mapped through its origin; copies in the cache "
			    "are not mapped";
	struct bm_volume *meta, *data;
	uint64_t moff, mlen, doff, dlen, chunk;
	if (!locate(seg, &meta, &moff, &mlen, &data, &doff, &dlen, &chunk) ||
	    !origin || origin->state != 2 || origin->size < seg->len ||
	    chunk < 32768 || chunk % 32768) {
		/* (dm-cache's blocks: multiples of 32 KiB) */
		bm_warn(ctx, lv->dev, seg->start,
			"LVM2 cache LV: no usable cache pool or volume: %s",
			fallback);
		return -1;
	}
	struct load l = {
		.pd = { .ctx = ctx, .dev = meta->dev,
			.what = "cache metadata", .vol = meta, .base = moff,
			.nblocks = mlen / BM_PD_BLOCK },
		.writeback = writeback,
	};
	uint8_t *sb = bm_malloc(BM_PD_BLOCK);
	if (l.pd.nblocks == 0 || bm_pd_read(&l.pd, 0, sb) < 0 ||
	    !bm_csum_ok(bm_le32(sb) == bm_pd_csum(sb, CACHE_SB_CSUM_XOR)) ||
	    bm_le64(sb + 8) != 0 || bm_le64(sb + 32) != CACHE_MAGIC ||
	    bm_le32(sb + 40) < 1 || bm_le32(sb + 40) > 2) {
		bm_warn(ctx, l.pd.dev, moff,
			"no dm-cache superblock (checksum, magic, version 1 "
			"or 2): %s %s", lv->dev, fallback);
		free(sb);
		return -1;
	}
	uint64_t need;
	l.cblocks = bm_le32(sb + 240);
	/* the blocks fit the data area, and their mapping entries (509 per
	 * array block) the metadata */
	if ((uint64_t)bm_le32(sb + 232) * LVM_SECTOR != chunk ||
	    bm_le32(sb + 236) != BM_PD_BLOCK / LVM_SECTOR ||
	    !bm_mul(l.cblocks, chunk, &need) || need > dlen ||
	    l.cblocks / 509 >= l.pd.nblocks) {
		bm_warn(ctx, l.pd.dev, moff + 232,
			"dm-cache superblock: block size or count (0x%llx "
			"blocks of 0x%llx bytes) does not fit the cache pool: "
			"%s %s", (unsigned long long)l.cblocks,
			(unsigned long long)chunk, lv->dev, fallback);
		free(sb);
		return -1;
	}
	l.oblocks = seg->len / chunk; /* whole blocks only */
	l.v1 = bm_le32(sb + 40) == 1;
	bool clean = bm_le32(sb + 4) & CACHE_CLEAN_SHUTDOWN;
	uint64_t mroot = bm_le64(sb + 192), droot = bm_le64(sb + 284);
	free(sb);
	if (!l.v1 && clean) {
		l.dirty = bm_malloc(sizeof *l.dirty);
		*l.dirty = (struct bm_pd_array){ .pd = &l.pd, .root = droot,
						 .value_size = 8 };
	}
	if (l.v1 && !clean)
		l.v1 = false; /* its dirty flags are not to be trusted */
	bm_pd_array_walk(&l.pd, mroot, l.cblocks, 8, mapping, &l);
	free(l.dirty);
	if (l.pd.bad)
		bm_warn(ctx, l.pd.dev, moff,
			"dm-cache mapping or dirty set damaged: %s mapped in "
			"part", lv->dev);
	if (l.bad)
		bm_warn(ctx, l.pd.dev, l.bad_at,
			"dm-cache: %llu cache blocks name no whole block of "
			"%s (the first here): ignored",
			(unsigned long long)l.bad, lv->dev);
	struct lvm_remap *m = bm_calloc(1, sizeof *m);
	/* (two cache blocks for one origin block: the kernel never writes
	 * that; the higher counts) */
	size_t lost = bm_lvm_remap_from_singles(m, l.one, l.n);
	if (lost)
		bm_warn(ctx, l.pd.dev, moff,
			"dm-cache: %zu origin blocks of %s are in more than one "
			"cache block: the last counts", lost, lv->dev);
	free(l.one);
	m->unit = chunk;
	m->base = doff;
	m->stored = data;
	m->other = origin->vol;
	seg->remap = m;
	return 0;
}
