/* NTFS: mapping one inode's attributes, and $MFT itself.
 *
 * See ntfs.c for the format and for what is emitted as whose.  This part
 * turns an open inode's attribute records into ranges: the runlists of
 * non-resident attributes (one extent per attribute record, so attribute
 * lists spread over extension records come out whole), and the MFT
 * records that hold resident data, emitted through $MFT's own runlist.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ntfs.h"

#define NTFS_MAX_ATTRS 65536 /* attribute records per inode */

/* Byte extent of run E of $MFT's runlist: [*VBEG, *VEND) in $MFT's data
 * at volume offset *POFF.  False for holes and for runs that do not fit
 * the volume (libntfs-3g loaded the runlist but does not bound it). */
static bool mft_run(const struct bm_ntfs_walk *w, const runlist_element *e,
		    uint64_t *vbeg, uint64_t *vend, uint64_t *poff)
{
	uint64_t len;

	if (e->lcn < 0 || e->vcn < 0 ||
	    !bm_in_range((uint64_t)e->lcn, (uint64_t)e->length,
			 (uint64_t)w->nv->nr_clusters))
		return false;
	if (!bm_mul((uint64_t)e->vcn, w->cs, vbeg) ||
	    !bm_mul((uint64_t)e->length, w->cs, &len) ||
	    !bm_add(*vbeg, len, vend))
		return false;
	*poff = (uint64_t)e->lcn * w->cs;
	return true;
}

uint64_t bm_ntfs_record_off(const struct bm_ntfs_walk *w, uint64_t mft_no)
{
	const runlist_element *rl = w->nv->mft_na ? w->nv->mft_na->rl : NULL;
	uint64_t off;

	if (!rl || !bm_mul(mft_no, w->nv->mft_record_size, &off))
		return BM_NO_OFFSET;
	/* Each step moves to the next run: ends at the terminator. */
	for (size_t i = 0; rl[i].length > 0; i++) {
		uint64_t vbeg, vend, poff;
		if (mft_run(w, &rl[i], &vbeg, &vend, &poff) && off >= vbeg &&
		    off < vend)
			return poff + (off - vbeg);
	}
	return BM_NO_OFFSET;
}

/* Emit LEN bytes of $MFT's data at MFT offset OFF, through $MFT's runlist. */
static void mft_emit(struct bm_ntfs_walk *w, uint64_t off, uint64_t len,
		     bm_obj obj, unsigned flags)
{
	const runlist_element *rl = w->nv->mft_na->rl;

	if (!rl)
		return;
	/* Runs are sorted by VCN; each step moves on to the next run, so
	 * this ends at the terminator (length 0). */
	for (size_t i = 0; rl[i].length > 0 && len > 0; i++) {
		uint64_t vbeg, vend, poff;
		if (!mft_run(w, &rl[i], &vbeg, &vend, &poff) || off >= vend ||
		    off < vbeg)
			continue;
		uint64_t n = vend - off < len ? vend - off : len;
		bm_emit_flags(w->v, poff + (off - vbeg), n, obj, flags);
		off += n;
		len -= n;
	}
}

static void add_claimed(struct bm_ntfs_walk *w, uint64_t rec)
{
	if (w->nclaimed == w->capclaimed) {
		w->capclaimed = w->capclaimed ? 2 * w->capclaimed : 256;
		w->claimed = bm_reallocarray(w->claimed, w->capclaimed,
					     sizeof *w->claimed);
	}
	w->claimed[w->nclaimed++] = rec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* $MFT's own data: every allocated cluster not emitted as some file's
 * record. */
void bm_ntfs_mft_emit_rest(struct bm_ntfs_walk *w)
{
	const runlist_element *rl = w->nv->mft_na->rl;
	bm_obj obj = bm_object(w->ctx, 'm', w->v->dev, "ntfs $MFT");

	if (!rl)
		return;
	bm_qsort(w->claimed, w->nclaimed, sizeof *w->claimed, cmp_u64);
	size_t j = 0;
	for (size_t i = 0; rl[i].length > 0; i++) {
		uint64_t vbeg, vend, poff;
		if (!mft_run(w, &rl[i], &vbeg, &vend, &poff)) {
			if (rl[i].lcn >= 0)
				bm_warn(w->ctx, w->v->dev, BM_NO_OFFSET,
					"ntfs $MFT: run at cluster %lld is past "
					"the end of the volume: not mapped",
					(long long)rl[i].lcn);
			continue;
		}
		uint64_t cur = vbeg;
		/* Claimed records are sorted: skip those before this run,
		 * emit the gaps between those inside it.  A record crossing
		 * into the next run stays current (j not advanced). */
		while (j < w->nclaimed && (w->claimed[j] + 1) * w->rs <= vbeg)
			j++;
		for (size_t k = j; k < w->nclaimed; k++) {
			uint64_t rb = w->claimed[k] * w->rs, re = rb + w->rs;
			if (rb >= vend)
				break;
			if (rb > cur)
				bm_emit(w->v, poff + (cur - vbeg), rb - cur, obj);
			if (re > cur)
				cur = re < vend ? re : vend;
		}
		if (cur < vend)
			bm_emit(w->v, poff + (cur - vbeg), vend - cur, obj);
	}
}

/* Emit the clusters of one non-resident attribute record (one extent of
 * the attribute when it is spread over several records). */
static void emit_runs(struct bm_ntfs_walk *w, const ATTR_RECORD *a, bm_obj obj,
		      unsigned flags, const char *what)
{
	runlist_element *rl = ntfs_mapping_pairs_decompress(w->nv, a, NULL);

	if (!rl) {
		bm_warn(w->ctx, w->v->dev, BM_NO_OFFSET,
			"ntfs %s: attribute 0x%x: bad mapping pairs (%s): "
			"not mapped", what, (unsigned)le32_to_cpu(a->type),
			strerror(errno));
		return;
	}
	if (a->flags & ATTR_COMPRESSION_MASK)
		flags |= BM_RANGE_COMPRESSED;
	uint64_t nclusters = (uint64_t)w->nv->nr_clusters;
	/* Ends at the terminator libntfs-3g always appends. */
	for (size_t i = 0; rl[i].length > 0; i++) {
		/* Holes (sparse runs, the unused end of compression units)
		 * and the unmapped head of a later extent have no clusters. */
		if (rl[i].lcn < 0)
			continue;
		uint64_t lcn = (uint64_t)rl[i].lcn, n = (uint64_t)rl[i].length;
		if (!bm_in_range(lcn, n, nclusters)) {
			bm_warn(w->ctx, w->v->dev, BM_NO_OFFSET,
				"ntfs %s: attribute 0x%x: run at cluster %llu "
				"(+%llu) is past the end of the volume: "
				"not mapped", what,
				(unsigned)le32_to_cpu(a->type),
				(unsigned long long)lcn, (unsigned long long)n);
			continue;
		}
		bm_emit_flags(w->v, lcn * w->cs, n * w->cs, obj, flags);
	}
	free(rl);
}

/* A resident stream's claim on the MFT record that holds it. */
struct rclaim {
	uint64_t rec;
	bm_obj obj;
	int prio;          /* the highest gets the whole record */
	uint64_t voff, vlen; /* its value, as an offset into $MFT's data */
};

static int cmp_voff(const void *a, const void *b)
{
	const struct rclaim *x = a, *y = b;
	return x->voff < y->voff ? -1 : x->voff > y->voff;
}

/* Emit record CL[BEST].rec as CL[BEST].obj's, except the values of the
 * other objects' resident streams in it, which are theirs. */
static void claim_record(struct bm_ntfs_walk *w, const struct rclaim *cl,
			 size_t ncl, size_t best)
{
	uint64_t rec = cl[best].rec, rbeg = rec * w->rs, rend = rbeg + w->rs;
	struct rclaim *cut = bm_calloc(ncl, sizeof *cut);
	size_t ncut = 0;

	if (rec >= w->nrecs) {
		free(cut);
		return;
	}
	for (size_t k = 0; k < ncl; k++)
		if (cl[k].rec == rec && cl[k].obj != cl[best].obj &&
		    cl[k].vlen > 0 && cl[k].voff >= rbeg &&
		    cl[k].vlen <= rend - cl[k].voff)
			cut[ncut++] = cl[k];
	bm_qsort(cut, ncut, sizeof *cut, cmp_voff);
	uint64_t cur = rbeg;
	for (size_t k = 0; k < ncut; k++) {
		if (cut[k].voff > cur)
			mft_emit(w, cur, cut[k].voff - cur, cl[best].obj,
				 BM_RANGE_INLINE);
		uint64_t vend = cut[k].voff + cut[k].vlen;
		if (vend > cur) {
			uint64_t b = cut[k].voff > cur ? cut[k].voff : cur;
			mft_emit(w, b, vend - b, cut[k].obj, BM_RANGE_INLINE);
			cur = vend;
		}
	}
	if (cur < rend)
		mft_emit(w, cur, rend - cur, cl[best].obj, BM_RANGE_INLINE);
	free(cut);
	add_claimed(w, rec);
}

/* Map every attribute of MFT record MFT_NO (and its extension records).
 * PATH names it: "/dir/file" for files and directories, or (SYS) the
 * metadata name of a system file.  Sets *IS_DIR.  Returns 0, or -1 if the
 * inode could not be opened (warned). */
int bm_ntfs_map_inode(struct bm_ntfs_walk *w, uint64_t mref, const char *path,
		     bool sys, bool *is_dir)
{
	struct bm_ctx *ctx = w->ctx;
	const char *dev = w->v->dev;
	uint64_t mft_no = MREF(mref);
	ntfs_inode *ni = ntfs_inode_open(w->nv, mft_no);

	*is_dir = false;
	if (!ni) {
		bm_warn(ctx, dev, bm_ntfs_record_off(w, mft_no),
			"ntfs %s: MFT record %llu cannot be read (%s): "
			"not mapped", path, (unsigned long long)mft_no,
			strerror(errno));
		return -1;
	}
	uint16_t rflags = le16_to_cpu(ni->mrec->flags);
	if (!(rflags & MFT_RECORD_IN_USE) ||
	    (MSEQNO(mref) &&
	     MSEQNO(mref) != le16_to_cpu(ni->mrec->sequence_number))) {
		bm_warn(ctx, dev, bm_ntfs_record_off(w, mft_no),
			"ntfs %s: directory entry points to MFT record %llu, "
			"which is free or reused: not mapped", path,
			(unsigned long long)mft_no);
		ntfs_inode_close(ni);
		return -1;
	}
	bool dir = rflags & MFT_RECORD_IS_DIRECTORY;
	*is_dir = dir;
	bm_u64set_add(&w->seen, mft_no);
	bm_obj main = bm_object(ctx, sys ? 'm' : dir ? 'd' : 'f', dev, path);

	ntfs_attr_search_ctx *ac = ntfs_attr_get_search_ctx(ni, NULL);
	if (!ac) {
		bm_warn(ctx, dev, bm_ntfs_record_off(w, mft_no), "ntfs %s: %s: not mapped",
			path, strerror(errno));
		ntfs_inode_close(ni);
		bm_object_release(ctx, main);
		return -1;
	}
	struct rclaim *cl = NULL;
	size_t ncl = 0, capcl = 0;
	/* The stream objects made here ("/path:ads", a directory's data),
	 * released with MAIN at the end. */
	bm_obj *made = NULL;
	size_t nmade = 0, capmade = 0;
	unsigned nattrs = 0;
	int r;
	bool saw_attrlist = false;
	/* ntfs_attrs_walk steps through the record's attributes, or the
	 * entries of the attribute list: finite; NTFS_MAX_ATTRS guards
	 * against a list that is larger than any sane file's. */
	while ((r = ntfs_attrs_walk(ac)) == 0) {
		if (++nattrs > NTFS_MAX_ATTRS) {
			bm_warn(ctx, dev, bm_ntfs_record_off(w, mft_no),
				"ntfs %s: more than %u attributes: the rest "
				"is not mapped", path, NTFS_MAX_ATTRS);
			break;
		}
		const ATTR_RECORD *a = ac->attr;
		uint32_t type = le32_to_cpu(a->type);
		uint64_t rec = ac->ntfs_ino->mft_no;
		bm_obj obj = main;
		unsigned flags = 0;
		int prio = 0;

		if (type == le32_to_cpu(AT_ATTRIBUTE_LIST))
			saw_attrlist = true;
		if (sys) {
			/* $MFT's data is emitted around the records that
			 * belong to files: see bm_ntfs_mft_emit_rest(). */
			if (mft_no == FILE_MFT &&
			    type == le32_to_cpu(AT_DATA) && !a->name_length)
				continue;
		} else if (type == le32_to_cpu(AT_DATA)) {
			if (a->name_length) {
				struct bm_str s = { 0 };
				const uint8_t *nm = (const uint8_t *)a +
					le16_to_cpu(a->name_offset);
				bm_str_puts(&s, path);
				bm_str_puts(&s, ":");
				bm_utf16le_to_utf8(&s, nm, a->name_length);
				obj = bm_object(ctx, 'f', dev, s.s);
				bm_str_free(&s);
				prio = 1;
			} else {
				if (dir)
					obj = bm_object(ctx, 'f', dev, path);
				prio = 3;
			}
			if (obj != main) {
				if (nmade == capmade) {
					capmade = capmade ? 2 * capmade : 4;
					made = bm_reallocarray(made, capmade,
							       sizeof *made);
				}
				made[nmade++] = obj;
			}
		} else if (dir && (type == le32_to_cpu(AT_INDEX_ROOT) ||
				   type == le32_to_cpu(AT_INDEX_ALLOCATION) ||
				   type == le32_to_cpu(AT_BITMAP))) {
			prio = 4;
		} else if (type == le32_to_cpu(AT_REPARSE_POINT)) {
			prio = 2;
		} else {
			flags = BM_RANGE_METADATA;
		}
		if (a->non_resident) {
			emit_runs(w, a, obj, flags, path);
		} else if (prio > 0) {
			if (ncl == capcl) {
				capcl = capcl ? 2 * capcl : 4;
				cl = bm_reallocarray(cl, capcl, sizeof *cl);
			}
			uint64_t aoff = (uint64_t)((const uint8_t *)a -
						   (const uint8_t *)ac->mrec);
			cl[ncl++] = (struct rclaim){
				.rec = rec, .obj = obj, .prio = prio,
				.voff = rec * w->rs + aoff +
					le16_to_cpu(a->value_offset),
				.vlen = le32_to_cpu(a->value_length),
			};
		}
	}
	if (r != 0 && errno != ENOENT)
		bm_warn(ctx, dev, bm_ntfs_record_off(w, mft_no),
			"ntfs %s: attributes unreadable (%s): some not mapped",
			path, strerror(errno));
	ntfs_attr_put_search_ctx(ac);

	/* The attribute list itself is not among the entries it lists. */
	if (!saw_attrlist && NInoAttrList(ni)) {
		ac = ntfs_attr_get_search_ctx(ni, NULL);
		if (ac && !ntfs_attr_lookup(AT_ATTRIBUTE_LIST, AT_UNNAMED, 0,
					    CASE_SENSITIVE, 0, NULL, 0, ac) &&
		    ac->attr->non_resident)
			emit_runs(w, ac->attr, main,
				  sys ? 0 : BM_RANGE_METADATA, path);
		if (ac)
			ntfs_attr_put_search_ctx(ac);
	}

	/* Resident streams: per record, the stream that matters most (a
	 * directory's index, the unnamed data, a reparse point, an ADS)
	 * takes the record; a resident stream of another object in the same
	 * record (an ADS next to resident data) is cut out of it and gets
	 * its value's bytes, so no byte has two owners. */
	for (size_t i = 0; i < ncl; i++) {
		size_t best = i;
		bool first = true;
		for (size_t k = 0; k < ncl; k++) {
			if (cl[k].rec != cl[i].rec)
				continue;
			if (k < i)
				first = false;
			if (cl[k].prio > cl[best].prio)
				best = k;
		}
		if (first)
			claim_record(w, cl, ncl, best);
	}
	free(cl);
	ntfs_inode_close(ni);
	/* Everything of this inode under this name is emitted: a hard
	 * link's other names are other objects, mapped by their own call.
	 * (Releasing an object twice is harmless: the second id is stale.) */
	bm_object_release(ctx, main);
	for (size_t i = 0; i < nmade; i++)
		bm_object_release(ctx, made[i]);
	free(made);
	return 0;
}

uint64_t bm_ntfs_mft_bytes(const struct bm_ntfs_walk *w)
{
	const runlist_element *rl = w->nv->mft_na->rl;
	uint64_t total = 0;

	for (size_t i = 0; rl && rl[i].length > 0; i++) {
		uint64_t vbeg, vend, poff;
		if (mft_run(w, &rl[i], &vbeg, &vend, &poff) &&
		    !bm_add(total, vend - vbeg, &total))
			return UINT64_MAX;
	}
	return total;
}
