/* Thin-pool metadata and snapshot exception stores.
 *
 * Thin pools (linux Documentation/admin-guide/device-mapper/
 * thin-provisioning.rst, drivers/md/dm-thin-metadata.c and
 * drivers/md/persistent-data/dm-btree*.c): the metadata LV is an array
 * of 4 KiB blocks.  Block 0 is the superblock:
 *     0 csum (crc32c of bytes 4..4095, xor 160774)   8 blocknr (0)
 *    32 magic 27022010   40 version   320 data mapping root
 *   328 device details root   336 data block size (sectors)
 *   344 metadata block count
 * The data mapping is a two-level btree (pdata.c): device id -> root of
 * a tree virtual block -> (data block << 24 | time).
 *
 * Snapshots (drivers/md/dm-snap-persistent.c): chunk 0 of the COW store
 * is a header (le32 magic 0x70416e53 "SnAp", valid, version 1, chunk
 * size in sectors); then metadata areas of one chunk each, holding
 * (le64 old chunk, le64 new chunk) pairs, every area followed by the data
 * chunks it describes: area I sits at chunk 1 + I * (E + 1), E = chunk
 * bytes / 16.  A zero new chunk ends the list.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layers/lvm/lvm.h"

#define THIN_MAGIC 27022010u
#define SB_CSUM_XOR 160774u

#define SNAP_MAGIC 0x70416e53u

/* A thin mapping tree's leaf: virtual block KEY is in data block
 * VAL >> 24 (the low 24 bits are a time stamp). */
struct thin_walk {
	struct lvm_remap *m;
	size_t cap;
};

static void thin_leaf(void *o, uint64_t key, uint64_t val)
{
	struct thin_walk *t = o;
	bm_lvm_run_add(t->m, &t->cap, key, val >> 24, false);
}

static int cmp_run(const void *a, const void *b)
{
	const struct lvm_run *x = a, *y = b;
	return x->vstart < y->vstart ? -1 : x->vstart > y->vstart;
}

int bm_lvm_thin_load(struct lvm_lv *lv, struct lvm_seg *seg)
{
	struct bm_ctx *ctx = lv->vg->ctx;
	struct lvm_lv *pool = seg->lv1;
	if (pool->nsegs != 1 || pool->segs[0].type != LVM_SEG_THIN_POOL ||
	    !pool->segs[0].lv1 || pool->segs[0].lv1->state != 2 ||
	    !pool->segs[0].lv2 || pool->segs[0].lv2->state != 2) {
		bm_warn(ctx, lv->dev, BM_NO_OFFSET,
			"LVM2 thin LV: pool %s is unusable: not mapped",
			pool->name);
		return -1;
	}
	struct lvm_seg *ps = &pool->segs[0];
	struct bm_pd pd = {
		.ctx = ctx,
		.dev = ps->lv1->dev,
		.what = "thin-pool metadata",
		.vol = ps->lv1->vol,
		.nblocks = ps->lv1->size / BM_PD_BLOCK,
	};
	uint8_t sb[BM_PD_BLOCK];
	if (pd.nblocks == 0 || bm_read(pd.vol, sb, BM_PD_BLOCK, 0) < 0 ||
	    bm_le64(sb + 32) != THIN_MAGIC ||
	    !bm_csum_ok(bm_le32(sb) == bm_pd_csum(sb, SB_CSUM_XOR)) ||
	    bm_le64(sb + 8) != 0) {
		bm_warn(ctx, pd.dev, 0,
			"thin-pool superblock unreadable or corrupt: thin LV "
			"%s not mapped", lv->name);
		return -1;
	}
	uint64_t bs = (uint64_t)bm_le32(sb + 336) * LVM_SECTOR;
	if (bs == 0 || bs != ps->chunk_bytes) {
		bm_warn(ctx, pd.dev, 336,
			"thin-pool data block size 0x%llx differs from the "
			"VG metadata's: thin LV %s not mapped",
			(unsigned long long)bs, lv->name);
		return -1;
	}
	if (bm_le64(sb + 344) < pd.nblocks)
		pd.nblocks = bm_le64(sb + 344);
	uint64_t root;
	if (bm_pd_lookup(&pd, bm_le64(sb + 320), seg->device_id, &root) < 0) {
		bm_warn(ctx, pd.dev, BM_NO_OFFSET,
			"thin device %llu not found in the pool's mapping: "
			"thin LV %s not mapped",
			(unsigned long long)seg->device_id, lv->name);
		return -1;
	}
	struct thin_walk t = { .m = bm_calloc(1, sizeof *t.m) };
	struct lvm_remap *m = t.m;
	bm_pd_walk(&pd, root, thin_leaf, &t);
	if (pd.bad)
		bm_warn(ctx, pd.dev, BM_NO_OFFSET,
			"thin device %llu: mapping tree damaged: thin LV %s "
			"mapped in part", (unsigned long long)seg->device_id,
			lv->name);
	if (m->n)
		bm_qsort(m->r, m->n, sizeof *m->r, cmp_run);
	/* Drop what lies outside the LV or the pool, and overlaps. */
	struct bm_volume *data = ps->lv2->vol;
	/* (a partial last block of the LV is provisioned like the others) */
	uint64_t vmax = lv->size / bs + (lv->size % bs != 0);
	uint64_t pmax = data->size / bs;
	size_t k = 0;
	for (size_t i = 0; i < m->n; i++) {
		struct lvm_run r = m->r[i];
		if (r.vstart >= vmax || r.count > vmax - r.vstart ||
		    r.pstart >= pmax || r.count > pmax - r.pstart ||
		    (k && m->r[k - 1].vstart + m->r[k - 1].count > r.vstart)) {
			bm_warn(ctx, pd.dev, BM_NO_OFFSET,
				"thin device %llu: block %llu maps outside "
				"the LV or pool: skipped",
				(unsigned long long)seg->device_id,
				(unsigned long long)r.vstart);
			continue;
		}
		m->r[k++] = r;
	}
	m->n = k;
	m->unit = bs;
	m->stored = data;
	seg->remap = m;
	return 0;
}

void bm_lvm_thin_emit_meta(struct lvm_lv *pool, struct lvm_seg *seg)
{
	struct lvm_lv *meta = seg->lv1;
	if (meta && meta->state == 2)
		bm_emit(meta->vol, 0, meta->size,
			bm_object(pool->vg->ctx, 'm', pool->dev,
				  "thin-pool metadata"));
}

/* --- snapshots ---------------------------------------------------- */

int bm_lvm_snap_load(struct lvm_lv *lv, struct lvm_seg *seg)
{
	struct bm_ctx *ctx = lv->vg->ctx;
	struct lvm_lv *origin = seg->lv1, *cowlv = seg->lv2;
	uint64_t cs = seg->chunk_bytes;
	if (origin->state != 2 || cowlv->state != 2 || origin->size < lv->size) {
		bm_warn(ctx, lv->dev, BM_NO_OFFSET,
			"LVM2 snapshot: origin or COW store unusable: not "
			"mapped");
		return -1;
	}
	struct bm_volume *cow = cowlv->vol;
	uint8_t hdr[16];
	if (cs < 512 || cs > (1u << 30) || cow->size < 2 * cs ||
	    bm_read(cow, hdr, sizeof hdr, 0) < 0 ||
	    bm_le32(hdr) != SNAP_MAGIC || bm_le32(hdr + 8) != 1 ||
	    (uint64_t)bm_le32(hdr + 12) * LVM_SECTOR != cs) {
		bm_warn(ctx, lv->dev, BM_NO_OFFSET,
			"LVM2 snapshot: no persistent exception store header "
			"in %s: not mapped", cowlv->name);
		return -1;
	}
	if (bm_le32(hdr + 4) == 0) {
		bm_warn(ctx, lv->dev, BM_NO_OFFSET,
			"LVM2 snapshot is invalid (overflowed): not mapped");
		return -1;
	}
	uint64_t per = cs / 16, nchunks = cow->size / cs;
	uint8_t *area = bm_malloc(cs);
	struct lvm_single *one = NULL;
	size_t n = 0, cap = 0;
	bool end = false;
	/* Area I is at chunk 1 + I*(per+1); areas are bounded by the COW
	 * size, so the loop ends. */
	for (uint64_t a = 1; a < nchunks && !end; a += per + 1) {
		if (bm_read(cow, area, cs, a * cs) < 0) {
			bm_warn(ctx, lv->dev, BM_NO_OFFSET,
				"LVM2 snapshot exception area unreadable");
			break;
		}
		for (uint64_t i = 0; i < per; i++) {
			uint64_t oldc = bm_le64(area + 16 * i);
			uint64_t newc = bm_le64(area + 16 * i + 8);
			if (newc == 0) {
				end = true;
				break;
			}
			if (newc >= nchunks ||
			    oldc >= (lv->size + cs - 1) / cs)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				one = bm_reallocarray(one, cap, sizeof *one);
			}
			/* later exceptions for a chunk replace earlier
			 * ones: the file order decides */
			one[n] = (struct lvm_single){ oldc, newc, n, false };
			n++;
		}
	}
	free(area);
	struct lvm_remap *m = bm_calloc(1, sizeof *m);
	bm_lvm_remap_from_singles(m, one, n);
	free(one);
	m->unit = cs;
	m->stored = cow;
	m->other = origin->vol;
	seg->remap = m;
	return 0;
}
