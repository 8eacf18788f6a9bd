/* LVM2 volume group assembly.
 *
 * PVs found by the prober wait in the context slot.  A VG is built from
 * the newest metadata (highest seqno) any of its PVs carries; its PVs are
 * matched by uuid (PVs without metadata areas included).  A VG with
 * missing PVs is only built in the final assembly round (another layer,
 * say an md array, may still bring the missing PV), with a warning;
 * whatever lies on the present PVs is mapped.
 *
 * Then every LV gets a volume and its object ("l /dev/VG/LV", hidden
 * sub-LVs "l /dev/VG/[LV]"), and the visible ones are probed for what
 * they hold.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "layers/lvm/lvm.h"

static bool is_done(const struct lvm_slot *s, const char *vgid)
{
	for (size_t i = 0; i < s->ndone; i++)
		if (strcmp(s->done[i], vgid) == 0)
			return true;
	return false;
}

static struct lvm_pv *find_pv(struct lvm_slot *s, const char *uuid)
{
	for (size_t i = 0; i < s->npvs; i++)
		if (!s->pvs[i]->used && strcmp(s->pvs[i]->uuid, uuid) == 0)
			return s->pvs[i];
	return NULL;
}

/* Sub-LVs holding metadata of their parent, emitted as 'm' objects of
 * the LV they serve as well. */
static void emit_meta_sublvs(struct lvm_vg *vg, struct lvm_lv *lv)
{
	struct bm_ctx *ctx = vg->ctx;
	for (size_t i = 0; i < lv->nsegs; i++) {
		struct lvm_seg *seg = &lv->segs[i];
		switch (seg->type) {
		case LVM_SEG_THIN_POOL:
			bm_lvm_thin_emit_meta(lv, seg);
			break;
		case LVM_SEG_CACHE:
			if (seg->writecache)
				bm_lvm_wc_emit_meta(lv, seg);
			else if (seg->cachevol && seg->lv2 &&
				 seg->lv2->state == 2 &&
				 bm_in_range(seg->cv_meta_off, seg->cv_meta_len,
					     seg->lv2->size))
				bm_emit(seg->lv2->vol, seg->cv_meta_off,
					seg->cv_meta_len,
					bm_object(ctx, 'm', lv->dev,
						  "cache metadata"));
			break;
		case LVM_SEG_CACHE_POOL:
			if (seg->lv1 && seg->lv1->state == 2)
				bm_emit(seg->lv1->vol, 0, seg->lv1->size,
					bm_object(ctx, 'm', lv->dev,
						  "cache metadata"));
			break;
		case LVM_SEG_RAID:
			for (unsigned j = 0; seg->metas && j < seg->nareas; j++)
				if (seg->metas[j].lv &&
				    seg->metas[j].lv->state == 2)
					bm_emit(seg->metas[j].lv->vol, 0,
						seg->metas[j].lv->size,
						bm_object(ctx, 'm', lv->dev,
							  "raid metadata"));
			break;
		case LVM_SEG_MIRROR:
			if (seg->log && seg->log->state == 2)
				bm_emit(seg->log->vol, 0, seg->log->size,
					bm_object(ctx, 'm', lv->dev,
						  "mirror log"));
			break;
		default:
			break;
		}
	}
}

/* Is LV something a user reads (so worth probing)? */
static bool probe_worthy(const struct lvm_lv *lv)
{
	if (!lv->visible || lv->is_cow || !lv->nsegs)
		return false;
	enum lvm_segtype t = lv->segs[0].type;
	return t != LVM_SEG_THIN_POOL && t != LVM_SEG_CACHE_POOL &&
	       t != LVM_SEG_UNMAPPED;
}

/* PV extents each area of SEG spans (striped: the length split over the
 * stripes; every other type: each area holds the whole length). */
static uint64_t area_extents(const struct lvm_vg *vg, const struct lvm_seg *seg)
{
	uint64_t ext = seg->len / vg->extent_bytes;
	if (seg->type == LVM_SEG_STRIPED && seg->nareas)
		ext /= seg->nareas;
	return ext;
}

/* A PV extent belongs to at most one segment area: lvm2 allocates each
 * once.  Areas that reuse extents another area already claims (crafted
 * or corrupt metadata) are reported and left unmapped, so no byte is
 * mapped to two LVs. */
struct pe_use {
	struct lvm_area *a;
	struct lvm_lv *lv;
	uint64_t seg_start, end; /* end: first extent after the area */
};

static int cmp_pe_use(const void *x, const void *y)
{
	const struct pe_use *a = x, *b = y;
	uintptr_t pa = (uintptr_t)a->a->pv, pb = (uintptr_t)b->a->pv;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return a->a->start < b->a->start ? -1 : a->a->start > b->a->start;
}

static void check_overlaps(struct bm_ctx *ctx, struct lvm_vg *vg)
{
	struct pe_use *u = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < vg->nlvs; i++) {
		struct lvm_lv *lv = &vg->lvs[i];
		for (size_t j = 0; j < lv->nsegs; j++) {
			struct lvm_seg *seg = &lv->segs[j];
			uint64_t ext = area_extents(vg, seg);
			for (unsigned k = 0; k < seg->nareas; k++) {
				/* Within the PV (checked before): no
				 * overflow. */
				if (!seg->areas[k].pv || ext == 0)
					continue;
				if (n == cap) {
					cap = cap ? 2 * cap : 64;
					u = bm_reallocarray(u, cap, sizeof *u);
				}
				u[n++] = (struct pe_use){
					&seg->areas[k], lv, seg->start,
					seg->areas[k].start + ext };
			}
		}
	}
	bm_qsort(u, n, sizeof *u, cmp_pe_use);
	for (size_t i = 1, owner = 0; i < n; i++) {
		if (u[i].a->pv != u[owner].a->pv) {
			owner = i;
			continue;
		}
		if (u[i].a->start >= u[owner].end) {
			owner = i;
			continue;
		}
		bm_warn(ctx, u[i].lv->dev, u[i].seg_start,
			"LVM2 segment uses extents %llu-%llu of PV %s, which "
			"%s also uses: not mapped",
			(unsigned long long)u[i].a->start,
			(unsigned long long)u[i].end - 1, u[i].a->pv->name,
			u[owner].lv->dev);
		u[i].a->pv = NULL;
	}
	free(u);
}

static int build_vg(struct lvm_slot *s, struct lvm_pv *best)
{
	struct bm_ctx *ctx = best->vol->ctx;
	struct lvm_vg *vg = bm_lvm_vg_parse(ctx, best->vol->dev, best->text,
					    best->text_off);
	if (!vg)
		return -1;
	size_t missing = 0;
	for (size_t i = 0; i < vg->npvs; i++) {
		struct lvm_pv *pv = find_pv(s, vg->pvs[i].id);
		vg->pvs[i].vol = pv ? pv->vol : NULL;
		if (!pv)
			missing++;
	}
	if (missing && !bm_assembly_final(ctx)) {
		bm_lvm_vg_unref(vg);
		return 0; /* wait: a later layer may bring the PV */
	}
	s->done = bm_reallocarray(s->done, s->ndone + 1, sizeof *s->done);
	s->done[s->ndone++] = bm_strdup(best->vgid);
	s->vgs = bm_reallocarray(s->vgs, s->nvgs + 1, sizeof *s->vgs);
	s->vgs[s->nvgs++] = vg;

	for (size_t i = 0; i < vg->npvs; i++) {
		struct lvm_pvref *r = &vg->pvs[i];
		struct lvm_pv *pv = find_pv(s, r->id);
		if (pv)
			pv->used = true;
		/* Duplicates (a cloned disk) stay unused: warned below. */
		if (!r->vol) {
			bm_finding(ctx, "lvm-pv-missing", BM_SEV_WARNING,
				   NULL, BM_NO_OFFSET,
				   "LVM2 VG %s: PV %s (%s) is missing: LVs on "
				   "it are mapped in part",
				   vg->name, r->name, r->id);
			continue;
		}
		uint64_t end;
		if (!bm_muladd(r->pe_count, vg->extent_bytes, r->pe_start,
			       &end) || end > r->vol->size)
			bm_warn(ctx, r->vol->dev, r->pe_start,
				"LVM2 VG %s: PV %s extents run past the end "
				"of the device", vg->name, r->name);
	}
	/* Extents named by PV areas must lie within their PV. */
	for (size_t i = 0; i < vg->nlvs; i++) {
		struct lvm_lv *lv = &vg->lvs[i];
		for (size_t j = 0; j < lv->nsegs; j++) {
			struct lvm_seg *seg = &lv->segs[j];
			uint64_t ext = area_extents(vg, seg);
			for (unsigned k = 0; k < seg->nareas; k++) {
				struct lvm_area *a = &seg->areas[k];
				uint64_t end;
				if (a->pv && (a->start > a->pv->pe_count ||
					      ext > a->pv->pe_count - a->start ||
					      !bm_muladd(a->start + ext,
							 vg->extent_bytes,
							 a->pv->pe_start, &end))) {
					bm_warn(ctx, lv->dev, seg->start,
						"LVM2 segment uses extents "
						"past the end of PV %s: not "
						"mapped", a->pv->name);
					a->pv = NULL;
				}
			}
		}
	}
	check_overlaps(ctx, vg);

	int made = 0;
	for (size_t i = 0; i < vg->nlvs; i++)
		if (bm_lvm_lv_volume(&vg->lvs[i]))
			made++;
	for (size_t i = 0; i < vg->nlvs; i++) {
		struct lvm_lv *lv = &vg->lvs[i];
		bm_lvm_emit_footprint(lv, bm_object(ctx, 'l', lv->dev, NULL),
				      0);
		emit_meta_sublvs(vg, lv);
	}
	bm_debug(ctx, "LVM2 VG %s: %zu PVs (%zu missing), %zu LVs", vg->name,
		 vg->npvs, missing, vg->nlvs);
	for (size_t i = 0; i < vg->nlvs; i++) {
		struct lvm_lv *lv = &vg->lvs[i];
		if (probe_worthy(lv) && lv->state == 2)
			bm_probe_volume(lv->vol);
	}
	return made ? made : 0;
}

int bm_lvm_assemble(struct bm_ctx *ctx)
{
	struct lvm_slot *s = *bm_ctx_slot(ctx, &bm_lvm_prober);
	if (!s)
		return 0;
	int made = 0;
	/* Each pass either marks PVs used or moves on; bounded by npvs.
	 * build_vg may add PVs (LVM on LVM): they are seen in the next
	 * assembly round, as S->npvs is re-read. */
	for (size_t i = 0; i < s->npvs; i++) {
		struct lvm_pv *pv = s->pvs[i];
		if (pv->used || !pv->vgid)
			continue;
		if (is_done(s, pv->vgid)) {
			/* A stale copy or a duplicate of a built VG's PV. */
			bm_finding(ctx, "lvm-pv-stale", BM_SEV_WARNING,
				   pv->vol->dev, pv->text_off,
				   "LVM2 PV %s of VG %s was not used (duplicate "
				   "or stale metadata)",
				   pv->uuid, pv->vgname);
			pv->used = true;
			continue;
		}
		struct lvm_pv *best = pv;
		for (size_t j = i + 1; j < s->npvs; j++)
			if (!s->pvs[j]->used && s->pvs[j]->vgid &&
			    strcmp(s->pvs[j]->vgid, pv->vgid) == 0 &&
			    s->pvs[j]->seqno > best->seqno)
				best = s->pvs[j];
		int r = build_vg(s, best);
		if (r > 0)
			made += r;
		if (r < 0) {
			/* Unusable metadata: give up on this VG. */
			s->done = bm_reallocarray(s->done, s->ndone + 1,
						  sizeof *s->done);
			s->done[s->ndone++] = bm_strdup(pv->vgid);
		}
	}
	if (!bm_assembly_final(ctx))
		return made;
	for (size_t i = 0; i < s->npvs; i++) {
		struct lvm_pv *pv = s->pvs[i];
		if (pv->used || pv->vgid)
			continue;
		pv->used = true;
		if (pv->orphan) /* pvcreate'd, never added to a VG */
			bm_debug(ctx, "%s: LVM2 PV %s is in no VG",
				 pv->vol->dev, pv->uuid);
		else
			bm_warn(ctx, pv->vol->dev, BM_NO_OFFSET,
				"LVM2 PV %s carries no metadata and no VG "
				"found names it: its extents are not mapped",
				pv->uuid);
	}
	return made;
}
