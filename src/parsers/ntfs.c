/* NTFS, read through libntfs-3g.
 *
 * On-disk format: the NTFS documentation of the Linux-NTFS project
 * ("NTFS Documentation", Richard Russon and Yuval Fledel) and the layout
 * comments in libntfs-3g's layout.h.  In short: the boot sector (sector
 * 0, a copy in the volume's last sector) gives the cluster size and the
 * location of $MFT; everything else, the system files included, is a file
 * described by an MFT record.  A record holds attributes; an attribute's
 * value is either resident (inside the record) or non-resident (a runlist
 * of clusters, with holes for sparse and compressed parts).  A file whose
 * attributes do not fit in one record has an $ATTRIBUTE_LIST naming the
 * extension records.  Directories are B+trees: $INDEX_ROOT in the record,
 * $INDEX_ALLOCATION blocks plus a $BITMAP outside it.
 *
 * libntfs-3g is attached through our own device operations (ntfs_dev.c),
 * mounted read-only.  We then walk the directory tree from the root and,
 * for every file, directory and system file, enumerate all its attribute
 * records (attribute lists included) and emit the clusters of each
 * non-resident one:
 *
 *   unnamed $DATA                       f /path
 *   named $DATA (alternate data stream) f /path:stream
 *   $INDEX_ROOT/$INDEX_ALLOCATION/$BITMAP of a directory   d /path
 *   other non-resident attributes ($ATTRIBUTE_LIST, $EA, ...) the file's
 *                                        own object, BM_RANGE_METADATA
 *   system files                        m <ntfs $MFT>, <ntfs $Secure>, ...
 *
 * Resident data lives in its MFT record: the record is emitted, through
 * $MFT's runlist, as the file's (BM_RANGE_INLINE); a directory's record
 * (holding $INDEX_ROOT) as the directory's.  The rest of $MFT is
 * <ntfs $MFT>.  Sparse runs and the holes of compressed units are not
 * mapped; compression units are mapped as stored (BM_RANGE_COMPRESSED).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ntfs.h"

/* ------------------------------------------------------------------ */
/* Boot sector                                                         */

struct ntfs_boot {
	uint32_t bps;       /* bytes per sector */
	uint64_t cluster;   /* bytes per cluster */
	uint64_t nsectors;  /* sectors in the volume (backup boot sector
			     * excluded) */
};

/* Sizes in the boot sector are clusters when positive and 2^-n bytes when
 * negative (record sizes smaller than a cluster). */
static bool ntfs_size_field(int8_t f, uint64_t cluster, uint64_t *out)
{
	if (f > 0)
		return bm_mul((uint64_t)f, cluster, out);
	if (f < -31 || f == 0)
		return false;
	*out = 1ull << -f;
	return true;
}

/* Check a boot sector the way Windows' ntfs.sys would accept it. */
static bool ntfs_boot_parse(const uint8_t *b, struct ntfs_boot *nb)
{
	if (memcmp(b + 3, "NTFS    ", 8) != 0 || bm_le16(b + 510) != 0xaa55)
		return false;
	uint32_t bps = bm_le16(b + 11);
	if (bps < 256 || bps > 4096 || (bps & (bps - 1)))
		return false;
	/* Sectors per cluster: a power of two up to 128, or (newer
	 * Windows, clusters > 64 KiB) 2^(256 - n). */
	uint8_t spc = b[13];
	uint64_t sectors;
	if (spc == 0)
		return false;
	if (spc <= 0x80) {
		if (spc & (spc - 1))
			return false;
		sectors = spc;
	} else {
		if (256 - spc > 12)
			return false;
		sectors = 1ull << (256 - spc);
	}
	uint64_t cluster = sectors * bps;
	if (cluster > 2u << 20)
		return false;
	/* The FAT fields of the BPB are zero on NTFS. */
	if (bm_le16(b + 14) || b[16] || bm_le16(b + 17) || bm_le16(b + 19) ||
	    bm_le16(b + 22) || bm_le32(b + 32))
		return false;
	uint64_t nsectors = bm_le64(b + 0x28);
	uint64_t mft_lcn = bm_le64(b + 0x30), mirr_lcn = bm_le64(b + 0x38);
	uint64_t nclusters = nsectors / sectors;
	if (nsectors == 0 || mft_lcn >= nclusters || mirr_lcn >= nclusters)
		return false;
	uint64_t rec, idx;
	if (!ntfs_size_field((int8_t)b[0x40], cluster, &rec) ||
	    !ntfs_size_field((int8_t)b[0x44], cluster, &idx) ||
	    rec < 256 || rec > 65536 || (rec & (rec - 1)) || idx < 256 ||
	    idx > 65536 || (idx & (idx - 1)))
		return false;
	nb->bps = bps;
	nb->cluster = cluster;
	nb->nsectors = nsectors;
	return true;
}

static int ntfs_probe(struct bm_volume *v, void **state)
{
	uint8_t b[512];
	struct ntfs_boot nb;

	if (v->size < 16 * 512 || bm_read(v, b, sizeof b, 0) < 0)
		return 0;
	if (!ntfs_boot_parse(b, &nb))
		return 0;
	struct ntfs_boot *s = bm_malloc(sizeof *s);
	*s = nb;
	*state = s;
	return 1;
}

/* ------------------------------------------------------------------ */
/* The walk                                                            */

/* The most directory entries we read in all, per MFT record: a name is
 * at least 0x52 bytes of FILE_NAME, so a 1 KiB record holds no more than
 * a dozen; anything beyond is a corrupt (looping) index. */
#define NTFS_MAX_NAMES_PER_RECORD 64
#define NTFS_MAX_DEPTH 4096          /* directory levels */
#define NTFS_MAX_ATTRS 65536         /* attribute records per inode */

struct ntfs_walk {
	struct bm_volume *v;
	struct bm_ctx *ctx;
	ntfs_volume *nv;
	uint64_t cs;        /* cluster size */
	uint64_t rs;        /* MFT record size */
	uint64_t nrecs;     /* records in $MFT */
	struct bm_u64set dirs; /* directories entered: cycle guard */
	uint64_t names_left;   /* directory entries we still accept */
	/* MFT records emitted as a file's or directory's own: cut out of
	 * <ntfs $MFT>. */
	uint64_t *claimed;
	size_t nclaimed, capclaimed;
};

/* Emit BYTES of $MFT's data at MFT offset OFF, through $MFT's runlist. */
static void mft_emit(struct ntfs_walk *w, uint64_t off, uint64_t len,
		     bm_obj obj, unsigned flags)
{
	const runlist_element *rl = w->nv->mft_na->rl;

	if (!rl)
		return;
	/* Runs are sorted by VCN; each step moves on to the next run, so
	 * this ends at the terminator (length 0). */
	for (size_t i = 0; rl[i].length > 0 && len > 0; i++) {
		uint64_t vbeg = (uint64_t)rl[i].vcn * w->cs;
		uint64_t vend = vbeg + (uint64_t)rl[i].length * w->cs;
		if (off >= vend || off < vbeg)
			continue;
		uint64_t n = vend - off < len ? vend - off : len;
		if (rl[i].lcn >= 0)
			bm_emit_flags(w->v,
				      (uint64_t)rl[i].lcn * w->cs + (off - vbeg),
				      n, obj, flags);
		off += n;
		len -= n;
	}
}

static void add_claimed(struct ntfs_walk *w, uint64_t rec)
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
static void mft_emit_rest(struct ntfs_walk *w)
{
	const runlist_element *rl = w->nv->mft_na->rl;
	bm_obj obj = bm_object(w->ctx, 'm', w->v->dev, "ntfs $MFT");

	if (!rl)
		return;
	qsort(w->claimed, w->nclaimed, sizeof *w->claimed, cmp_u64);
	size_t j = 0;
	for (size_t i = 0; rl[i].length > 0; i++) {
		if (rl[i].lcn < 0)
			continue;
		uint64_t vbeg = (uint64_t)rl[i].vcn * w->cs;
		uint64_t vend = vbeg + (uint64_t)rl[i].length * w->cs;
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
				bm_emit(w->v,
					(uint64_t)rl[i].lcn * w->cs + (cur - vbeg),
					rb - cur, obj);
			if (re > cur)
				cur = re < vend ? re : vend;
		}
		if (cur < vend)
			bm_emit(w->v, (uint64_t)rl[i].lcn * w->cs + (cur - vbeg),
				vend - cur, obj);
	}
}

/* Emit the clusters of one non-resident attribute record (one extent of
 * the attribute when it is spread over several records). */
static void emit_runs(struct ntfs_walk *w, const ATTR_RECORD *a, bm_obj obj,
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
static void claim_record(struct ntfs_walk *w, const struct rclaim *cl,
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
	qsort(cut, ncut, sizeof *cut, cmp_voff);
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
 * PATH names it: "/dir/file" for files and directories, or (SYSNAME set)
 * the metadata name of a system file.  Sets *IS_DIR.  Returns 0, or -1
 * if the inode could not be opened (warned). */
static int map_inode(struct ntfs_walk *w, uint64_t mref, const char *path,
		     bool sys, bool *is_dir)
{
	struct bm_ctx *ctx = w->ctx;
	const char *dev = w->v->dev;
	uint64_t mft_no = MREF(mref);
	ntfs_inode *ni = ntfs_inode_open(w->nv, mft_no);

	*is_dir = false;
	if (!ni) {
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"ntfs %s: MFT record %llu cannot be read (%s): "
			"not mapped", path, (unsigned long long)mft_no,
			strerror(errno));
		return -1;
	}
	uint16_t rflags = le16_to_cpu(ni->mrec->flags);
	if (!(rflags & MFT_RECORD_IN_USE) ||
	    (MSEQNO(mref) &&
	     MSEQNO(mref) != le16_to_cpu(ni->mrec->sequence_number))) {
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"ntfs %s: directory entry points to MFT record %llu, "
			"which is free or reused: not mapped", path,
			(unsigned long long)mft_no);
		ntfs_inode_close(ni);
		return -1;
	}
	bool dir = rflags & MFT_RECORD_IS_DIRECTORY;
	*is_dir = dir;
	bm_obj main = bm_object(ctx, sys ? 'm' : dir ? 'd' : 'f', dev, path);

	ntfs_attr_search_ctx *ac = ntfs_attr_get_search_ctx(ni, NULL);
	if (!ac) {
		bm_warn(ctx, dev, BM_NO_OFFSET, "ntfs %s: %s: not mapped",
			path, strerror(errno));
		ntfs_inode_close(ni);
		return -1;
	}
	struct rclaim *cl = NULL;
	size_t ncl = 0, capcl = 0;
	unsigned nattrs = 0;
	int r;
	bool saw_attrlist = false;
	/* ntfs_attrs_walk steps through the record's attributes, or the
	 * entries of the attribute list: finite; NTFS_MAX_ATTRS guards
	 * against a list that is larger than any sane file's. */
	while ((r = ntfs_attrs_walk(ac)) == 0) {
		if (++nattrs > NTFS_MAX_ATTRS) {
			bm_warn(ctx, dev, BM_NO_OFFSET,
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
			 * belong to files: see mft_emit_rest(). */
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
		bm_warn(ctx, dev, BM_NO_OFFSET,
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
	return 0;
}

struct dirent_item {
	uint64_t mref;
	char *name;
	size_t len;
};

struct dirlist {
	struct dirent_item *e;
	size_t n, cap;
	uint64_t limit;
	bool overflow;
};

/* ntfs_readdir callback: collect the entries (we open other inodes only
 * once the directory is closed again). */
static int collect_entry(void *opaque, const ntfschar *name, const int len,
			 const int name_type, const s64 pos, const MFT_REF mref,
			 const unsigned dt_type)
{
	struct dirlist *l = opaque;
	(void)pos;
	(void)dt_type;

	/* DOS 8.3 names are second names of files already listed. */
	if (name_type == FILE_NAME_DOS || len <= 0)
		return 0;
	if (len <= 2 && le16_to_cpu(name[0]) == '.' &&
	    (len == 1 || le16_to_cpu(name[1]) == '.'))
		return 0;
	if (l->n >= l->limit) {
		l->overflow = true;
		return -1;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->e = bm_reallocarray(l->e, l->cap, sizeof *l->e);
	}
	struct bm_str s = { 0 };
	bm_utf16le_to_utf8(&s, (const uint8_t *)name, (size_t)len);
	l->e[l->n++] = (struct dirent_item){
		.mref = mref, .name = s.s ? s.s : bm_strdup(""), .len = s.len,
	};
	return 0;
}

/* Walk directory MFT_NO named PATH: map every entry, recurse into
 * subdirectories.  SYS: inside $Extend (names "ntfs $Extend/...", 'm'). */
static void walk_dir(struct ntfs_walk *w, uint64_t mft_no, const char *path,
		     unsigned depth, bool sys)
{
	struct bm_ctx *ctx = w->ctx;
	const char *dev = w->v->dev;

	if (depth > NTFS_MAX_DEPTH) {
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"ntfs %s: more than %u directory levels: not mapped",
			path, NTFS_MAX_DEPTH);
		return;
	}
	ntfs_inode *ni = ntfs_inode_open(w->nv, mft_no);
	if (!ni) {
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"ntfs %s: directory unreadable (%s): its entries are "
			"not mapped", path, strerror(errno));
		return;
	}
	struct dirlist l = { .limit = w->names_left };
	s64 pos = 0;
	int r = ntfs_readdir(ni, &pos, &l, collect_entry);
	int err = errno;
	ntfs_inode_close(ni);
	if (l.overflow)
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"ntfs %s: more directory entries than the MFT can "
			"hold (corrupt index?): the rest is not mapped", path);
	else if (r != 0)
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"ntfs %s: directory index unreadable (%s): some "
			"entries are not mapped", path, strerror(err));
	w->names_left -= l.n;

	for (size_t i = 0; i < l.n; i++) {
		uint64_t child = MREF(l.e[i].mref);
		char *cpath;

		/* The root lists the system files; they are mapped as
		 * metadata by walk_system(). */
		if (!sys && child < FILE_first_user) {
			if (mft_no != FILE_root)
				bm_warn(ctx, dev, BM_NO_OFFSET,
					"ntfs %s: entry %s points to system "
					"file record %llu: ignored", path,
					l.e[i].name,
					(unsigned long long)child);
			continue;
		}
		if (bm_u64set_has(&w->dirs, child)) {
			bm_warn(ctx, dev, BM_NO_OFFSET,
				"ntfs %s: entry %s links to a directory "
				"already seen (record %llu): ignored", path,
				l.e[i].name, (unsigned long long)child);
			continue;
		}
		if (sys)
			cpath = bm_asprintf("%s/%s", path, l.e[i].name);
		else
			cpath = bm_path_join(path, l.e[i].name, l.e[i].len);
		bool is_dir;
		if (map_inode(w, l.e[i].mref, cpath, sys, &is_dir) == 0 &&
		    is_dir && bm_u64set_add(&w->dirs, child))
			walk_dir(w, child, cpath, depth + 1, sys);
		free(cpath);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.e[i].name);
	free(l.e);
}

/* The system files: records 0-11 (the root, 5, is walked as "/") and
 * everything under $Extend. */
static void walk_system(struct ntfs_walk *w)
{
	static const char *const names[] = {
		[FILE_MFT] = "ntfs $MFT",
		[FILE_MFTMirr] = "ntfs $MFTMirr",
		[FILE_LogFile] = "ntfs $LogFile",
		[FILE_Volume] = "ntfs $Volume",
		[FILE_AttrDef] = "ntfs $AttrDef",
		[FILE_Bitmap] = "ntfs $Bitmap",
		[FILE_Boot] = "ntfs boot sector",
		[FILE_BadClus] = "ntfs $BadClus",
		[FILE_Secure] = "ntfs $Secure",
		[FILE_UpCase] = "ntfs $UpCase",
		[FILE_Extend] = "ntfs $Extend",
	};
	for (uint64_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		bool is_dir;
		if (!names[i])
			continue;
		if (map_inode(w, i, names[i], true, &is_dir) == 0 &&
		    i == FILE_Extend && is_dir &&
		    bm_u64set_add(&w->dirs, i))
			walk_dir(w, i, names[i], 1, true);
	}
}

static void ntfs_emit_backup(struct bm_volume *v, const struct ntfs_boot *nb)
{
	uint64_t off;
	uint8_t b[512];
	struct ntfs_boot copy;

	/* The backup is the partition's last sector, just past the
	 * sectors the volume counts. */
	if (!bm_mul(nb->nsectors, nb->bps, &off) ||
	    !bm_in_range(off, nb->bps, v->size) ||
	    bm_read(v, b, sizeof b, off) < 0 || !ntfs_boot_parse(b, &copy)) {
		bm_debug(v->ctx, "%s: no NTFS backup boot sector", v->dev);
		return;
	}
	bm_emit(v, off, nb->bps,
		bm_object(v->ctx, 'm', v->dev, "ntfs backup boot sector"));
}

static int ntfs_walk(struct bm_volume *v, void *state)
{
	struct ntfs_boot *nb = state;
	struct bm_ctx *ctx = v->ctx;
	uint64_t bytes;
	int ret = 0;

	if (!bm_mul(nb->nsectors, nb->bps, &bytes) || bytes > v->size)
		bm_warn(ctx, v->dev, 0,
			"ntfs: the volume claims %llu sectors, more than its "
			"container holds (truncated?): what is missing is not "
			"mapped", (unsigned long long)nb->nsectors);
	ntfs_emit_backup(v, nb);

	/* libntfs-3g reports through a process-wide log handler with no
	 * context pointer: its messages go to stderr with -v only; our
	 * own warnings say what was not mapped. */
	ntfs_log_set_handler(bm_ctx_verbose(ctx) ? ntfs_log_handler_stderr
						 : ntfs_log_handler_null);

	struct ntfs_device *ndev = bm_ntfs_device_new(v);
	if (!ndev) {
		bm_warn(ctx, v->dev, 0, "ntfs: %s: not mapped",
			strerror(errno));
		free(nb);
		return -1;
	}
	/* Read-only: no $LogFile check or reset, no hibernation check, no
	 * dirty flag; the device refuses writes anyway. */
	ntfs_volume *nv = ntfs_device_mount(ndev, NTFS_MNT_RDONLY);
	if (!nv) {
		bm_warn(ctx, v->dev, 0,
			"ntfs: libntfs-3g cannot mount the volume (%s): only "
			"the boot sector is mapped", strerror(errno));
		bm_emit(v, 0, nb->bps,
			bm_object(ctx, 'm', v->dev, "ntfs boot sector"));
		bm_ntfs_device_free(ndev);
		free(nb);
		return -1;
	}

	struct ntfs_walk w = {
		.v = v,
		.ctx = ctx,
		.nv = nv,
		.cs = nv->cluster_size,
		.rs = nv->mft_record_size,
	};
	if (ntfs_attr_map_whole_runlist(nv->mft_na) < 0) {
		bm_warn(ctx, v->dev, BM_NO_OFFSET,
			"ntfs $MFT: runlist unreadable (%s): resident data and "
			"$MFT not mapped", strerror(errno));
		ret = -1;
	}
	w.nrecs = (uint64_t)nv->mft_na->initialized_size / w.rs;
	uint64_t names;
	w.names_left = bm_mul(w.nrecs, NTFS_MAX_NAMES_PER_RECORD, &names)
			       ? names : UINT64_MAX;

	walk_system(&w);
	bool is_dir;
	if (map_inode(&w, FILE_root, "/", false, &is_dir) == 0) {
		if (!is_dir)
			bm_warn(ctx, v->dev, BM_NO_OFFSET,
				"ntfs: the root is not a directory: files not "
				"mapped");
		else if (bm_u64set_add(&w.dirs, FILE_root))
			walk_dir(&w, FILE_root, "/", 0, false);
	} else {
		ret = -1;
	}
	mft_emit_rest(&w);

	void *priv = ndev->d_private;
	ntfs_umount(nv, FALSE); /* frees ndev */
	free(priv);
	bm_u64set_free(&w.dirs);
	free(w.claimed);
	free(nb);
	return ret;
}

const struct bm_prober bm_ntfs_prober = {
	.name = "ntfs",
	.kind = BM_PROBE_FS,
	.probe = ntfs_probe,
	.walk = ntfs_walk,
};
