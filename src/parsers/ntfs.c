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
	uint64_t mft_lcn, mirr_lcn; /* where $MFT and $MFTMirr start */
	uint64_t rec;       /* MFT record size */
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
	nb->mft_lcn = mft_lcn;
	nb->mirr_lcn = mirr_lcn;
	nb->rec = rec;
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
	struct bm_u64set names; /* hashes of the names, built on demand */
	bool have_names;
};

static uint64_t name_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/* Does the directory L list the name S (N bytes)?  (A hash collision
 * only makes a needless warning.) */
static bool name_seen(struct dirlist *l, const char *s, size_t n)
{
	if (!l->have_names) {
		for (size_t i = 0; i < l->n; i++)
			bm_u64set_add(&l->names,
				      name_hash(l->e[i].name, l->e[i].len));
		l->have_names = true;
	}
	return bm_u64set_has(&l->names, name_hash(s, n));
}

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
static void walk_dir(struct bm_ntfs_walk *w, uint64_t mft_no, const char *path,
		     unsigned depth, bool sys)
{
	struct bm_ctx *ctx = w->ctx;
	const char *dev = w->v->dev;
	uint64_t at = bm_ntfs_record_off(w, mft_no); /* for messages */

	if (depth > NTFS_MAX_DEPTH) {
		bm_warn(ctx, dev, at,
			"ntfs %s: more than %u directory levels: not mapped",
			path, NTFS_MAX_DEPTH);
		return;
	}
	if (bm_dir_too_deep(ctx, dev, at, path))
		return;
	ntfs_inode *ni = ntfs_inode_open(w->nv, mft_no);
	if (!ni) {
		bm_warn(ctx, dev, at,
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
		bm_warn(ctx, dev, at,
			"ntfs %s: more directory entries than the MFT can "
			"hold (corrupt index?): the rest is not mapped", path);
	else if (r != 0)
		bm_warn(ctx, dev, at,
			"ntfs %s: directory index unreadable (%s): some "
			"entries are not mapped", path, strerror(err));
	w->names_left -= l.n;

	for (size_t i = 0; i < l.n && !bm_ctx_full(ctx); i++) {
		uint64_t child = MREF(l.e[i].mref);
		char *cpath;

		/* The root lists the system files; they are mapped as
		 * metadata by walk_system(). */
		if (!sys && child < FILE_first_user) {
			if (mft_no != FILE_root)
				bm_warn(ctx, dev, bm_ntfs_record_off(w, child),
					"ntfs %s: entry %s points to system "
					"file record %llu: ignored", path,
					l.e[i].name,
					(unsigned long long)child);
			continue;
		}
		/* '/' or U+0000 in a name (the POSIX namespace allows
		 * neither): "etc/passwd" in / would print as the real
		 * /etc/passwd */
		if (!bm_name_usable(l.e[i].name, l.e[i].len)) {
			for (size_t k = 0; k < l.e[i].len; k++)
				if (l.e[i].name[k] == '\0')
					l.e[i].name[k] = '?';
			bm_warn(ctx, dev, bm_ntfs_record_off(w, child),
				"ntfs %s: entry \"%.*s\" (record %llu) has "
				"'/' or NUL in its name: not mapped", path,
				(int)l.e[i].len, l.e[i].name,
				(unsigned long long)child);
			continue;
		}
		/* Streams are named PATH:STREAM, as Windows names them; a
		 * POSIX-namespace name "A:B" beside an entry "A" may be the
		 * same text as A's stream B */
		const char *colon = sys ? NULL
				      : memchr(l.e[i].name, ':', l.e[i].len);
		if (colon && name_seen(&l, l.e[i].name,
				       (size_t)(colon - l.e[i].name)))
			bm_warn(ctx, dev, bm_ntfs_record_off(w, child),
				"ntfs %s: entry \"%s\" has ':' in its name "
				"and the directory has an entry \"%.*s\": the "
				"path may also be that entry's stream",
				path, l.e[i].name,
				(int)(colon - l.e[i].name), l.e[i].name);
		if (bm_u64set_has(&w->dirs, child)) {
			bm_warn(ctx, dev, bm_ntfs_record_off(w, child),
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
		if (bm_ntfs_map_inode(w, l.e[i].mref, cpath, sys, &is_dir) == 0 &&
		    is_dir && bm_u64set_add(&w->dirs, child))
			walk_dir(w, child, cpath, depth + 1, sys);
		free(cpath);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.e[i].name);
	free(l.e);
	bm_u64set_free(&l.names);
}

/* The system files: records 0-11 (the root, 5, is walked as "/") and
 * everything under $Extend. */
static void walk_system(struct bm_ntfs_walk *w)
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
		if (bm_ntfs_map_inode(w, i, names[i], true, &is_dir) == 0 &&
		    i == FILE_Extend && is_dir &&
		    bm_u64set_add(&w->dirs, i))
			walk_dir(w, i, names[i], 1, true);
	}
}

/* Records in use that no directory reaches (orphans of a crash, or a
 * damaged index) own clusters we did not map: say so.  Only base records
 * count; the $MFT bitmap tells which records to look at. */
static void check_orphans(struct bm_ntfs_walk *w)
{
	ntfs_attr *bmp = w->nv->mftbmp_na;
	uint8_t bits[4096];
	uint8_t *rec = bm_malloc(w->rs);
	uint64_t orphans = 0, first = 0;

	/* Each step reads the next 4096 bitmap bytes: ends after nrecs. */
	for (uint64_t base = 0; bmp && base < w->nrecs;
	     base += 8 * sizeof bits) {
		s64 n = ntfs_attr_pread(bmp, (s64)(base / 8), sizeof bits,
					bits);
		if (n <= 0)
			break;
		for (uint64_t i = 0; i < (uint64_t)n * 8; i++) {
			uint64_t r = base + i;
			if (r >= w->nrecs)
				break;
			if (r < FILE_first_user || !(bits[i / 8] & (1u << (i % 8))) ||
			    bm_u64set_has(&w->seen, r))
				continue;
			/* Header fields sit before the first fixup: no need
			 * to apply the update sequence. */
			if (ntfs_attr_pread(w->nv->mft_na, (s64)(r * w->rs),
					    (s64)w->rs, rec) != (s64)w->rs)
				continue;
			if (memcmp(rec, "FILE", 4) != 0 ||
			    !(bm_le16(rec + 22) & 1) || bm_le64(rec + 32) != 0)
				continue;
			if (!orphans++)
				first = r;
		}
	}
	if (orphans)
		bm_warn(w->ctx, w->v->dev, BM_NO_OFFSET,
			"ntfs: %llu MFT records in use are not reachable from "
			"the root (the first is record %llu): their data is "
			"not mapped", (unsigned long long)orphans,
			(unsigned long long)first);
	free(rec);
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

/* What a read-only mount does not check: a volume Windows did not shut
 * down cleanly (dirty flag, unreplayed $LogFile, hibernation or "fast
 * startup") holds changes that are not in place yet: the map shows the
 * volume as it is on disk.  Reported, not replayed. */
static void ntfs_check_clean(struct bm_volume *v, ntfs_volume *nv)
{
	const char *why = NULL;

	if (le16_to_cpu(nv->flags) & le16_to_cpu(VOLUME_IS_DIRTY))
		why = "is marked dirty";
	ntfs_inode *ni = ntfs_inode_open(nv, FILE_LogFile);
	ntfs_attr *na = ni ? ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0) : NULL;
	if (na) {
		RESTART_PAGE_HEADER *rp = NULL;
		if (!ntfs_check_logfile(na, &rp))
			why = "has a damaged $LogFile";
		else if (rp && !ntfs_is_logfile_clean(na, rp))
			why = "has an unreplayed $LogFile";
		free(rp);
		ntfs_attr_close(na);
	}
	if (ni)
		ntfs_inode_close(ni);
	if (!why && ntfs_volume_check_hiberfile(nv, 0) < 0 && errno == EPERM)
		why = "is hibernated (Windows hibernation or fast startup)";
	if (why)
		bm_finding(v->ctx, "fs-needs-recovery", BM_SEV_WARNING, v->dev,
			   0, "ntfs volume %s: changes Windows has not written "
			   "in place are not mapped", why);
}

/* Mount V read-only through our device: no $LogFile check or reset, no
 * hibernation check, no dirty flag (and the device refuses writes
 * anyway).  libntfs-3g refuses a volume whose $MFTMirr differs from the
 * first records of $MFT, which Windows leaves behind after a crash or a
 * "fast startup"; Windows itself reads $MFT and only keeps the mirror for
 * recovery, so then try once more with the mirror's clusters read from
 * $MFT's.  NULL (errno from the first attempt) if both fail. */
static ntfs_volume *ntfs_mount_ro(struct bm_volume *v,
				  const struct ntfs_boot *nb,
				  struct ntfs_device **devp)
{
	int err = ENOMEM;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct ntfs_device *ndev = bm_ntfs_device_new(v);
		if (!ndev)
			break;
		if (attempt == 1) {
			uint64_t n = nb->cluster <= 4 * nb->rec
					     ? 4 * nb->rec : nb->cluster;
			n = (n + nb->cluster - 1) / nb->cluster * nb->cluster;
			bm_ntfs_device_redirect(ndev, nb->mirr_lcn * nb->cluster,
						nb->mft_lcn * nb->cluster, n);
		}
		ntfs_volume *nv = ntfs_device_mount(ndev, NTFS_MNT_RDONLY);
		if (nv) {
			if (attempt == 1)
				bm_debug(v->ctx, "%s: ntfs: $MFTMirr does not "
					 "match $MFT: read $MFT in its place",
					 v->dev);
			*devp = ndev;
			return nv;
		}
		if (attempt == 0)
			err = errno;
		bm_ntfs_device_free(ndev);
	}
	errno = err;
	return NULL;
}

static int ntfs_walk(struct bm_volume *v, void *state)
{
	struct ntfs_boot *nb = state;
	struct bm_ctx *ctx = v->ctx;
	uint64_t bytes;
	int ret = 0;

	if (!bm_mul(nb->nsectors, nb->bps, &bytes))
		bytes = UINT64_MAX;
	v->fs_size = bytes;
	if (bytes > v->size)
		bm_finding(ctx, "fs-larger-than-volume", BM_SEV_ERROR, v->dev,
			   0, "ntfs says it spans %llu sectors of %u bytes, "
			   "more than its volume (0x%llx bytes) holds: what is "
			   "missing is not mapped",
			   (unsigned long long)nb->nsectors, nb->bps,
			   (unsigned long long)v->size);
	ntfs_emit_backup(v, nb);

	/* libntfs-3g reports through a process-wide log handler with no
	 * context pointer: its messages go to stderr with -v only; our
	 * own warnings say what was not mapped. */
	ntfs_log_set_handler(bm_ctx_verbose(ctx) ? ntfs_log_handler_stderr
						 : ntfs_log_handler_null);

	struct ntfs_device *ndev;
	ntfs_volume *nv = ntfs_mount_ro(v, nb, &ndev);
	if (!nv) {
		bm_warn(ctx, v->dev, 0,
			"ntfs: libntfs-3g cannot mount the volume (%s): only "
			"the boot sector is mapped", strerror(errno));
		bm_emit(v, 0, nb->bps,
			bm_object(ctx, 'm', v->dev, "ntfs boot sector"));
		free(nb);
		return -1;
	}

	ntfs_check_clean(v, nv);

	struct bm_ntfs_walk w = {
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
	/* Records: what $MFT says it holds, but no more than its clusters
	 * on this volume can (bounds every loop over records). */
	uint64_t mapped = bm_ntfs_mft_bytes(&w);
	w.nrecs = nv->mft_na->initialized_size > 0
			  ? (uint64_t)nv->mft_na->initialized_size / w.rs : 0;
	if (w.nrecs > mapped / w.rs)
		w.nrecs = mapped / w.rs;
	uint64_t names;
	w.names_left = bm_mul(w.nrecs, NTFS_MAX_NAMES_PER_RECORD, &names)
			       ? names : UINT64_MAX;

	walk_system(&w);
	bool is_dir;
	if (bm_ntfs_map_inode(&w, FILE_root, "/", false, &is_dir) == 0) {
		if (!is_dir)
			bm_warn(ctx, v->dev, BM_NO_OFFSET,
				"ntfs: the root is not a directory: files not "
				"mapped");
		else if (bm_u64set_add(&w.dirs, FILE_root))
			walk_dir(&w, FILE_root, "/", 0, false);
	} else {
		ret = -1;
	}
	bm_ntfs_mft_emit_rest(&w);
	check_orphans(&w);

	void *priv = ndev->d_private;
	ntfs_umount(nv, FALSE); /* frees ndev */
	free(priv);
	bm_u64set_free(&w.dirs);
	bm_u64set_free(&w.seen);
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
