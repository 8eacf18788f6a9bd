/* dm-writecache: the blocks of an LVM writecache LV that live in its
 * cache volume.
 *
 * Format (linux Documentation/admin-guide/device-mapper/writecache.rst
 * and drivers/md/dm-writecache.c; SSD and pmem modes alike), from byte
 * START of the cache volume (the start_sector setting, 0 by default):
 *
 *    0 le32 magic 0x23489321    4 le32 version 1    8 le32 block size
 *   12 le32 pad                16 le64 n_blocks    24 le64 seq_count
 *   64 n_blocks entries of 16 bytes: le64 original_sector (the origin
 *      sector whose block it holds), le64 seq_count
 *
 * The entries end at 64 + 16 * n_blocks, rounded up to the block size;
 * data block I follows at I block sizes from there.
 *
 * An entry is committed when its seq_count is below the superblock's
 * (the kernel drops the others when it loads the table; free entries are
 * all ones).  A committed entry's block is the current content of its
 * origin block: the origin's copy is stale until written back, and an
 * entry written back is freed.  Of several committed entries for one
 * origin block the highest seq_count counts (the kernel frees the rest;
 * on a tie, the later entry).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>

#include "layers/lvm/lvm.h"

#define WC_MAGIC 0x23489321u
#define WC_SB 64u
#define WC_ENTRY 16u
#define WC_READ 4096u /* entries read at a time */
/* Dirty blocks kept at most (32 bytes each, as much again for the
 * runs): a 32 GiB cache full of dirty 4 KiB blocks.  From WC_COMPACT
 * entries on, a full array keeps only the winner of each block before
 * it grows (a table naming few blocks many times stays small). */
#define WC_MAX_DIRTY (1u << 23)
#define WC_COMPACT (1u << 20)

static const char fallback[] =
	"mapped through its origin; blocks dirty in the cache are not mapped";

int bm_lvm_wc_load(struct lvm_lv *lv, struct lvm_seg *seg)
{
	struct bm_ctx *ctx = lv->vg->ctx;
	struct lvm_lv *origin = seg->lv1, *cv = seg->lv2;
	uint64_t bs = seg->wc_block, start = seg->wc_start;
	if (!origin || origin->state != 2 || !cv || cv->state != 2 ||
	    origin->size < seg->len) {
		bm_warn(ctx, lv->dev, BM_NO_OFFSET,
			"LVM2 writecache LV: cache volume or origin unusable: "
			"%s", fallback);
		return -1;
	}
	struct bm_volume *cache = cv->vol;
	uint8_t sb[WC_SB];
	if (start > cache->size || cache->size - start < WC_SB ||
	    bm_read(cache, sb, WC_SB, start) < 0) {
		bm_warn(ctx, cv->dev, start,
			"writecache superblock unreadable: %s %s", lv->dev,
			fallback);
		return -1;
	}
	if (bm_le32(sb) != WC_MAGIC || bm_le32(sb + 4) != 1 ||
	    bm_le32(sb + 8) != bs) {
		bm_warn(ctx, cv->dev, start,
			"no writecache superblock (magic, version 1, block "
			"size 0x%llx): %s %s", (unsigned long long)bs, lv->dev,
			fallback);
		return -1;
	}
	/* Entries and data area, with every step checked for overflow:
	 * the table is (START, BASE), the data [BASE, BASE + N * BS). */
	uint64_t nb = bm_le64(sb + 16), seq = bm_le64(sb + 24);
	uint64_t meta, data, base, end;
	if (!bm_muladd(nb, WC_ENTRY, WC_SB + bs - 1, &meta) ||
	    !bm_mul(nb, bs, &data) ||
	    !bm_add(start, meta & ~(bs - 1), &base) ||
	    !bm_add(base, data, &end) || end > cache->size) {
		bm_warn(ctx, cv->dev, start + 16,
			"writecache n_blocks %llu does not fit the cache "
			"volume: %s %s", (unsigned long long)nb, lv->dev,
			fallback);
		return -1;
	}
	uint64_t spb = bs / LVM_SECTOR, vblocks = seg->len / bs;
	uint8_t *buf = bm_malloc((size_t)WC_READ * WC_ENTRY);
	struct lvm_single *one = NULL;
	size_t n = 0, cap = 0;
	uint64_t bad = 0, bad_first = 0;
	int ret = 0;
	/* Chunks of WC_READ entries up to N_BLOCKS: the loop ends. */
	for (uint64_t i = 0; i < nb && ret == 0; i += WC_READ) {
		uint64_t k = nb - i < WC_READ ? nb - i : WC_READ;
		uint64_t off = start + WC_SB + i * WC_ENTRY;
		if (bm_read(cache, buf, k * WC_ENTRY, off) < 0) {
			bm_warn(ctx, cv->dev, off,
				"writecache entries unreadable: %s %s",
				lv->dev, fallback);
			ret = -1;
			break;
		}
		for (uint64_t j = 0; j < k; j++) {
			uint64_t sector = bm_le64(buf + j * WC_ENTRY);
			uint64_t s = bm_le64(buf + j * WC_ENTRY + 8);
			if (s >= seq)
				continue; /* free, or never committed */
			/* a block of the LV (whole blocks: the kernel only
			 * caches aligned writes of whole blocks) */
			if (sector % spb || sector / spb >= vblocks) {
				if (!bad++)
					bad_first = i + j;
				continue;
			}
			struct lvm_single e = { sector / spb, i + j, s, false };
			/* the same block as the last entry (runs of them in
			 * a crafted table): one of the two wins at once */
			if (n && one[n - 1].v == e.v) {
				if (e.order >= one[n - 1].order)
					one[n - 1] = e;
				continue;
			}
			if (n == cap && cap >= WC_COMPACT)
				n = bm_lvm_singles_compact(one, n);
			if (n == cap && cap >= WC_MAX_DIRTY) {
				bm_warn(ctx, cv->dev, start,
					"writecache holds more than %u dirty "
					"blocks: %s %s", WC_MAX_DIRTY, lv->dev,
					fallback);
				ret = -1;
				break;
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				one = bm_reallocarray(one, cap, sizeof *one);
			}
			one[n++] = e;
		}
	}
	free(buf);
	if (ret == 0 && bad)
		bm_warn(ctx, cv->dev, start + WC_SB + bad_first * WC_ENTRY,
			"writecache: %llu entries name no whole block of %s "
			"(the first: entry %llu): ignored",
			(unsigned long long)bad, lv->dev,
			(unsigned long long)bad_first);
	if (ret == 0) {
		struct lvm_remap *m = bm_calloc(1, sizeof *m);
		bm_lvm_remap_from_singles(m, one, n);
		m->unit = bs;
		m->base = base;
		m->stored = cache;
		m->other = origin->vol;
		seg->remap = m;
	}
	free(one);
	return ret;
}

void bm_lvm_wc_emit_meta(struct lvm_lv *lv, struct lvm_seg *seg)
{
	if (seg->remap && seg->lv2)
		bm_emit(seg->lv2->vol, seg->wc_start,
			seg->remap->base - seg->wc_start,
			bm_object(lv->vg->ctx, 'm', lv->dev,
				  "writecache metadata"));
}
