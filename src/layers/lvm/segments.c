/* LVM2 logical volumes as bmapgen volumes.
 *
 * An LV is a list of contiguous segments; each segment sends its byte
 * range to its areas the way the kernel target lvm2 loads for it does:
 *
 *  striped  dm-stripe: chunk C of STRIPE bytes goes to stripe C mod K, at
 *           chunk C div K of that stripe (K = 1 is linear);
 *  mirror   dm-mirror: every leg holds everything (legs after the first
 *           are copies);
 *  raid*    dm-raid = md: the shared geometry in layers/raid.c over the
 *           rimage sub-LVs;
 *  thin     dm-thin: the pool's block mapping (thin.c);
 *  snapshot dm-snapshot: exception store chunks, else the origin;
 *  cache    dm-cache: the blocks its pool holds (dirty ones alone, clean
 *           ones as copies after the origin's), the rest through the
 *           origin (cache.c);
 *  writecache dm-writecache: the blocks its table holds on the cache
 *           volume, the rest through the origin (writecache.c).
 *
 * An LV's object ("l /dev/VG/LV") covers its extent footprint: all PV
 * extents of the LV and of the sub-LVs it is built from (every mirror and
 * RAID leg, RAID metadata, logs), for thin LVs the pool blocks they map.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layers/lvm/lvm.h"
#include "layers/raid.h"

/* The segment holding LV byte OFF (< lv->size): binary search, segments
 * are sorted and contiguous (meta.c checked). */
static struct lvm_seg *find_seg(struct lvm_lv *lv, uint64_t off)
{
	size_t lo = 0, hi = lv->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (lv->segs[mid].start <= off)
			lo = mid;
		else
			hi = mid;
	}
	return &lv->segs[lo];
}

/* Volume and base offset of area A (NULL: missing PV or unusable LV). */
static struct bm_volume *area_vol(struct lvm_vg *vg, const struct lvm_area *a,
				  uint64_t *base)
{
	if (a->pv) {
		*base = a->pv->pe_start + a->start * vg->extent_bytes;
		return a->pv->vol;
	}
	if (a->lv && a->lv->state == 2) {
		*base = a->start * vg->extent_bytes;
		return a->lv->vol;
	}
	return NULL;
}

/* The piece of striped segment SEG at segment offset REL: area index,
 * offset in the area's range and length (at most LEN, up to the end of
 * the chunk). */
static unsigned stripe_locate(const struct lvm_seg *seg, uint64_t rel,
			      uint64_t len, uint64_t *aoff, uint64_t *n)
{
	if (seg->nareas == 1) {
		*aoff = rel;
		*n = len;
		return 0;
	}
	uint64_t s = seg->stripe_bytes, chunk = rel / s, within = rel % s;
	*aoff = chunk / seg->nareas * s + within;
	*n = s - within < len ? s - within : len;
	return (unsigned)(chunk % seg->nareas);
}

static int seg_map(struct lvm_lv *lv, struct lvm_seg *seg, uint64_t rel,
		   uint64_t len, unsigned flags, bm_range_cb cb, void *opaque)
{
	struct lvm_vg *vg = lv->vg;
	struct bm_volume *v;
	uint64_t base;
	switch (seg->type) {
	case LVM_SEG_STRIPED:
		/* Each pass consumes at least one byte (n >= 1). */
		while (len > 0) {
			uint64_t aoff, n;
			unsigned i = stripe_locate(seg, rel, len, &aoff, &n);
			v = area_vol(vg, &seg->areas[i], &base);
			if (v && bm_volume_map(v, base + aoff, n, flags, cb,
					       opaque) < 0)
				return -1;
			rel += n;
			len -= n;
		}
		return 0;
	case LVM_SEG_MIRROR: {
		int ok = 0;
		for (unsigned i = 0; i < seg->nareas; i++) {
			v = area_vol(vg, &seg->areas[i], &base);
			if (v && bm_volume_map(v, base + rel, len,
					       flags | (i ? BM_RANGE_COPY : 0),
					       cb, opaque) == 0)
				ok = 1;
		}
		return ok ? 0 : -1;
	}
	case LVM_SEG_RAID:
		return seg->raid ? bm_volume_map(seg->raid, rel, len, flags, cb,
						 opaque)
				 : 0;
	case LVM_SEG_THIN:
	case LVM_SEG_SNAPSHOT:
		return bm_lvm_remap_map(seg->remap, rel, len, flags, cb, opaque);
	case LVM_SEG_CACHE:
		if (seg->remap)
			return bm_lvm_remap_map(seg->remap, rel, len, flags, cb,
						opaque);
		if (!seg->lv1 || seg->lv1->state != 2)
			return 0;
		return bm_volume_map(seg->lv1->vol, rel, len, flags, cb, opaque);
	default:
		return 0; /* nothing stored, or not mapped (warned) */
	}
}

static int seg_read(struct lvm_lv *lv, struct lvm_seg *seg, uint8_t *buf,
		    uint64_t rel, uint64_t len)
{
	struct lvm_vg *vg = lv->vg;
	struct bm_volume *v;
	uint64_t base;
	switch (seg->type) {
	case LVM_SEG_STRIPED:
		while (len > 0) { /* n >= 1 per pass */
			uint64_t aoff, n;
			unsigned i = stripe_locate(seg, rel, len, &aoff, &n);
			v = area_vol(vg, &seg->areas[i], &base);
			if (!v) {
				errno = ENODATA;
				return -1;
			}
			if (bm_read(v, buf, n, base + aoff) < 0)
				return -1;
			buf += n;
			rel += n;
			len -= n;
		}
		return 0;
	case LVM_SEG_MIRROR:
		/* Any leg will do; try the next one on failure. */
		for (unsigned i = 0; i < seg->nareas; i++) {
			v = area_vol(vg, &seg->areas[i], &base);
			if (v && bm_read(v, buf, len, base + rel) == 0)
				return 0;
		}
		errno = ENODATA;
		return -1;
	case LVM_SEG_RAID:
		if (!seg->raid) {
			errno = ENODATA;
			return -1;
		}
		return bm_read(seg->raid, buf, len, rel);
	case LVM_SEG_THIN:
	case LVM_SEG_SNAPSHOT:
		return bm_lvm_remap_read(seg->remap, buf, len, rel);
	case LVM_SEG_CACHE:
		if (seg->remap)
			return bm_lvm_remap_read(seg->remap, buf, len, rel);
		if (!seg->lv1 || seg->lv1->state != 2) {
			errno = ENODATA;
			return -1;
		}
		return bm_read(seg->lv1->vol, buf, len, rel);
	case LVM_SEG_ZERO:
		memset(buf, 0, len);
		return 0;
	default:
		errno = ENOTSUP;
		return -1;
	}
}

/* lvm2 gives each cache pool or volume one LV: a second cache LV naming
 * it (crafted metadata) is mapped through its origin, so that no table
 * is loaded twice. */
static bool claim_cache(struct lvm_lv *lv, struct lvm_seg *seg)
{
	struct lvm_lv *c = seg->lv2;
	if (!c)
		return true; /* (the loader reports it) */
	if (c->cache_user) {
		bm_warn(lv->vg->ctx, lv->dev, seg->start,
			"LVM2 %s LV: cache %s is already %s's: mapped through "
			"its origin only", seg->typename, c->name,
			c->cache_user->name);
		return false;
	}
	c->cache_user = lv;
	return true;
}

static int lv_map(struct bm_volume *v, uint64_t off, uint64_t len,
		  unsigned flags, bm_range_cb cb, void *opaque)
{
	struct lvm_lv *lv = v->priv;
	/* Each pass consumes the rest of one segment (>= 1 byte). */
	while (len > 0) {
		struct lvm_seg *seg = find_seg(lv, off);
		uint64_t rel = off - seg->start;
		uint64_t n = seg->len - rel < len ? seg->len - rel : len;
		if (seg_map(lv, seg, rel, n, flags, cb, opaque) < 0)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

static int lv_read(struct bm_volume *v, void *buf, size_t len, uint64_t off)
{
	struct lvm_lv *lv = v->priv;
	uint8_t *p = buf;
	while (len > 0) {
		struct lvm_seg *seg = find_seg(lv, off);
		uint64_t rel = off - seg->start;
		uint64_t n = seg->len - rel < len ? seg->len - rel : len;
		if (seg_read(lv, seg, p, rel, n) < 0)
			return -1;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static void lv_destroy(struct bm_volume *v)
{
	struct lvm_lv *lv = v->priv;
	bm_lvm_vg_unref(lv->vg);
}

static const struct bm_volume_ops lv_ops = {
	.kind = "lv",
	.read = lv_read,
	.map = lv_map,
	.destroy = lv_destroy,
};

/* Are all of LV's extents on present PVs?  A raid image that is not is
 * given to the array as a missing member (so parity can stand in). */
static bool lv_complete(const struct lvm_lv *lv, unsigned depth)
{
	if (depth > LVM_MAX_DEPTH)
		return false;
	for (size_t i = 0; i < lv->nsegs; i++) {
		const struct lvm_seg *seg = &lv->segs[i];
		if (seg->type != LVM_SEG_STRIPED && seg->type != LVM_SEG_MIRROR)
			continue;
		bool any = false, all = true;
		for (unsigned j = 0; j < seg->nareas; j++) {
			const struct lvm_area *a = &seg->areas[j];
			bool ok = a->pv ? a->pv->vol != NULL
				: a->lv && lv_complete(a->lv, depth + 1);
			any |= ok;
			all &= ok;
		}
		if (seg->type == LVM_SEG_STRIPED ? !all : !any)
			return false;
	}
	return true;
}

/* Build the md-style array of a raid segment over its rimage LVs. */
static void build_raid(struct lvm_lv *lv, struct lvm_seg *seg)
{
	struct bm_ctx *ctx = lv->vg->ctx;
	struct bm_volume **m = bm_calloc(seg->nareas, sizeof *m);
	uint64_t member = UINT64_MAX;
	for (unsigned i = 0; i < seg->nareas; i++) {
		struct lvm_lv *img = seg->areas[i].lv;
		if (!img)
			continue;
		if (seg->areas[i].start != 0) {
			bm_warn(ctx, lv->dev, seg->start,
				"LVM2 raid image %s does not start at extent "
				"0: not mapped", img->name);
			goto out;
		}
		if (img->state == 2 && img->size && lv_complete(img, 0))
			m[i] = img->vol;
		if (img->size < member)
			member = img->size;
	}
	struct bm_raid_desc d = {
		.level = seg->level,
		.layout = seg->layout,
		.nmembers = seg->nareas,
		.chunk_bytes = seg->level == BM_RAID1 ? 0 : seg->stripe_bytes,
		.member_bytes = member,
		.members = m,
	};
	const char *why = bm_raid_check(&d);
	if (why) {
		bm_warn(ctx, lv->dev, seg->start,
			"LVM2 %s segment: %s: not mapped", seg->typename, why);
		goto out;
	}
	uint64_t size = bm_raid_array_size(&d);
	if (size < seg->len) {
		bm_warn(ctx, lv->dev, seg->start,
			"LVM2 %s segment of 0x%llx bytes is larger than its "
			"images hold (0x%llx): not mapped", seg->typename,
			(unsigned long long)seg->len,
			(unsigned long long)size);
		goto out;
	}
	seg->raid = bm_raid_volume_new(ctx, &d, lv->dev);
out:
	free(m);
}

static struct bm_volume *lv_volume(struct lvm_lv *lv, unsigned depth);

/* A sub-LV's volume; references that cannot be built (cycles, too deep,
 * empty) are dropped so nothing follows them later. */
static struct bm_volume *sub_volume(struct lvm_lv **lvp, unsigned depth)
{
	struct bm_volume *v = *lvp ? lv_volume(*lvp, depth + 1) : NULL;
	if (!v)
		*lvp = NULL;
	return v;
}

/* Build the volumes LV stands on, then LV's.  The state flag breaks
 * reference cycles in hostile metadata and the depth bound keeps the
 * recursion shallow (lvm2 stacks at most a few levels: thin LV -> pool
 * -> tdata -> raid image). */
static struct bm_volume *lv_volume(struct lvm_lv *lv, unsigned depth)
{
	struct lvm_vg *vg = lv->vg;
	struct bm_ctx *ctx = vg->ctx;
	if (lv->state == 2)
		return lv->vol;
	if (lv->state == 1 || depth > LVM_MAX_DEPTH) {
		bm_warn(ctx, lv->dev, BM_NO_OFFSET,
			"LVM2 LV %s/%s is %s: not mapped", vg->name, lv->name,
			lv->state == 1 ? "built on itself"
				       : "stacked too deep");
		return NULL;
	}
	lv->state = 1;
	struct bm_volume *parent = NULL;
	for (size_t i = 0; i < lv->nsegs; i++) {
		struct lvm_seg *seg = &lv->segs[i];
		for (unsigned j = 0; j < seg->nareas; j++) {
			struct lvm_area *a = &seg->areas[j];
			struct bm_volume *v = a->pv ? a->pv->vol
					      : sub_volume(&a->lv, depth);
			if (!parent)
				parent = v;
			uint64_t aoff;
			if (a->lv && v && seg->type != LVM_SEG_RAID &&
			    (!bm_mul(a->start, vg->extent_bytes, &aoff) ||
			     !bm_in_range(aoff,
					  seg->type == LVM_SEG_STRIPED
						  ? seg->len / seg->nareas
						  : seg->len,
					  v->size))) {
				bm_warn(ctx, lv->dev, seg->start,
					"LVM2 segment runs past the end of "
					"sub-LV %s: not mapped", a->lv->name);
				a->lv = NULL;
			}
		}
		for (unsigned j = 0; seg->metas && j < seg->nareas; j++)
			sub_volume(&seg->metas[j].lv, depth);
		sub_volume(&seg->log, depth);
		switch (seg->type) {
		case LVM_SEG_RAID:
			build_raid(lv, seg);
			break;
		case LVM_SEG_THIN_POOL:
		case LVM_SEG_CACHE_POOL:
			sub_volume(&seg->lv1, depth);
			parent = sub_volume(&seg->lv2, depth);
			break;
		case LVM_SEG_THIN:
			if (sub_volume(&seg->lv1, depth) &&
			    bm_lvm_thin_load(lv, seg) == 0)
				parent = seg->lv1->segs[0].lv2->vol;
			break;
		case LVM_SEG_SNAPSHOT:
			parent = sub_volume(&seg->lv1, depth);
			if (parent && sub_volume(&seg->lv2, depth))
				bm_lvm_snap_load(lv, seg);
			break;
		case LVM_SEG_CACHE:
			parent = sub_volume(&seg->lv1, depth);
			sub_volume(&seg->lv2, depth);
			/* (both warn when they fail: then mapped through
			 * the origin) */
			if (parent && claim_cache(lv, seg)) {
				if (seg->writecache)
					bm_lvm_wc_load(lv, seg);
				else
					bm_lvm_cache_load(lv, seg);
			}
			break;
		case LVM_SEG_UNMAPPED:
			bm_warn(ctx, lv->dev, seg->start,
				"LVM2 segment type %s is not supported: "
				"0x%llx bytes not mapped", seg->typename,
				(unsigned long long)seg->len);
			break;
		default:
			break;
		}
	}
	if (!parent)
		for (size_t i = 0; i < vg->npvs && !parent; i++)
			parent = vg->pvs[i].vol;
	if (lv->size == 0) {
		lv->state = 0;
		return NULL;
	}
	vg->refs++;
	lv->vol = bm_volume_new(ctx, &lv_ops, lv, lv->size, lv->dev, parent);
	lv->state = 2;
	return lv->vol;
}

struct bm_volume *bm_lvm_lv_volume(struct lvm_lv *lv)
{
	return lv_volume(lv, 0);
}

static void footprint_area(struct lvm_vg *vg, const struct lvm_area *a,
			   uint64_t len, bm_obj obj, unsigned depth)
{
	if (a->pv) {
		if (a->pv->vol)
			bm_emit(a->pv->vol,
				a->pv->pe_start + a->start * vg->extent_bytes,
				len, obj);
	} else if (a->lv) {
		if (a->start == 0 && len == a->lv->size)
			bm_lvm_emit_footprint(a->lv, obj, depth + 1);
		else if (a->lv->state == 2)
			bm_emit(a->lv->vol, a->start * vg->extent_bytes, len,
				obj);
	}
}

void bm_lvm_emit_footprint(struct lvm_lv *lv, bm_obj obj, unsigned depth)
{
	struct lvm_vg *vg = lv->vg;
	if (depth == 0)
		vg->mark++;
	/* Each LV once per object: no cycles, no repeated sub-trees; the
	 * depth bound keeps the recursion shallow. */
	if (depth > LVM_MAX_DEPTH || lv->mark == vg->mark)
		return;
	lv->mark = vg->mark;
	for (size_t i = 0; i < lv->nsegs; i++) {
		struct lvm_seg *seg = &lv->segs[i];
		switch (seg->type) {
		case LVM_SEG_THIN:
			/* The pool blocks it maps. */
			if (lv->state == 2)
				bm_emit(lv->vol, seg->start, seg->len, obj);
			continue;
		case LVM_SEG_SNAPSHOT:
			/* The origin is the origin's: a snapshot owns its
			 * COW store. */
			if (seg->lv2)
				bm_lvm_emit_footprint(seg->lv2, obj, depth + 1);
			continue;
		default:
			break;
		}
		uint64_t alen = seg->type == LVM_SEG_STRIPED
					? seg->len / seg->nareas
					: seg->len;
		for (unsigned j = 0; j < seg->nareas; j++) {
			if (seg->type == LVM_SEG_RAID) {
				if (seg->areas[j].lv)
					bm_lvm_emit_footprint(seg->areas[j].lv,
							      obj, depth + 1);
			} else {
				footprint_area(vg, &seg->areas[j], alen, obj,
					       depth);
			}
			if (seg->metas && seg->metas[j].lv)
				bm_lvm_emit_footprint(seg->metas[j].lv, obj,
						      depth + 1);
		}
		if (seg->log)
			bm_lvm_emit_footprint(seg->log, obj, depth + 1);
		if (seg->lv1 && seg->type != LVM_SEG_THIN)
			bm_lvm_emit_footprint(seg->lv1, obj, depth + 1);
		if (seg->lv2)
			bm_lvm_emit_footprint(seg->lv2, obj, depth + 1);
	}
}
