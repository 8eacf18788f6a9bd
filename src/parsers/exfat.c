/* exFAT: boot regions, FATs, allocation bitmap, up-case table and the
 * directory tree.
 *
 * On-disk format: Microsoft "exFAT file system specification" (2019,
 * learn.microsoft.com/windows/win32/fileio/exfat-specification):
 *
 *   sectors 0-11  main boot region (boot sector, 8 extended boot sectors,
 *                 OEM parameters, reserved, and a sector full of the
 *                 32-bit checksum of sectors 0-10)
 *   sectors 12-23 backup boot region
 *   FatOffset     NumberOfFats FATs of FatLength sectors (32-bit entries)
 *   ClusterHeapOffset  cluster 2 onwards
 *
 * Directories are arrays of 32-byte entries grouped in entry sets: a
 * File entry (0x85, with a 16-bit checksum over the set), a Stream
 * Extension (0xC0: first cluster, lengths, NoFatChain flag) and File
 * Name entries (0xC1, 15 UTF-16 units each).  NoFatChain files are one
 * contiguous run whose FAT entries mean nothing.  The allocation bitmap
 * (0x81) and up-case table (0x82) live in the root directory.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "parsers/fat.h"

/* A directory is at most 256 MiB (the spec's DataLength limit). */
#define EXFAT_DIR_MAX_BYTES (256u << 20)

struct exfat_state {
	struct bm_fatfs fs;
	uint32_t bps, spc;
	uint64_t fat_start, fat_len; /* sectors */
	unsigned nfats, active_fat;
	uint64_t vol_sectors;
	uint32_t root_cluster;
	bool from_backup;
};

struct exdir {
	uint32_t first;
	bool contig;
	uint64_t len; /* 0: follow the chain to its end (root) */
	char *path;
};

struct exwalk {
	struct bm_fatfs *fs;
	struct exdir *stack;
	size_t n, cap;
	struct bm_u64set dirs;
};

static uint32_t boot_checksum(const uint8_t *region, uint32_t bps)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < (size_t)11 * bps; i++) {
		if (i == 106 || i == 107 || i == 112) /* VolumeFlags, PercentInUse */
			continue;
		sum = ((sum & 1) ? 0x80000000u : 0) + (sum >> 1) + region[i];
	}
	return sum;
}

/* Is the 12-sector boot region at OFF valid (boot sector and checksum
 * sector)?  Leaves it in BUF (12 * 4096 bytes). */
static bool region_valid(struct bm_volume *v, uint64_t off, uint8_t *buf)
{
	if (!bm_in_range(off, 512, v->size) || bm_read(v, buf, 512, off) < 0 ||
	    !bm_exfat_boot_valid(buf))
		return false;
	uint32_t bps = 1u << buf[108];
	if (!bm_in_range(off, 12 * (uint64_t)bps, v->size) ||
	    bm_read(v, buf, 12 * (size_t)bps, off) < 0)
		return false;
	uint32_t sum = boot_checksum(buf, bps);
	for (uint32_t i = 0; i < bps; i += 4)
		if (!bm_csum_ok(bm_le32(buf + 11 * (size_t)bps + i) == sum))
			return false;
	return true;
}

static int exfat_probe(struct bm_volume *v, void **state)
{
	uint8_t sec[512];

	if (v->size < 24 * 512 || bm_read(v, sec, sizeof sec, 0) < 0 ||
	    (!bm_exfat_boot_valid(sec) && memcmp(sec + 3, "EXFAT   ", 8) != 0))
		return 0;

	uint8_t *buf = bm_malloc(12 * 4096);
	bool backup = false;
	if (!region_valid(v, 0, buf)) {
		/* The backup sits 12 sectors in; try each sector size. */
		for (unsigned sh = 9; sh <= 12 && !backup; sh++)
			backup = region_valid(v, 12ull << sh, buf) && buf[108] == sh;
		if (!backup) {
			bm_warn(v->ctx, v->dev, 0, "exFAT boot region and its "
				"backup fail their checksum; not mapped");
			free(buf);
			return -1;
		}
		bm_warn(v->ctx, v->dev, 0, "exFAT main boot region is damaged "
			"(checksum); using the backup boot region");
	}

	struct exfat_state *s = bm_calloc(1, sizeof *s);
	struct bm_fatfs *fs = &s->fs;
	s->from_backup = backup;
	s->bps = 1u << buf[108];
	s->spc = 1u << buf[109];
	s->vol_sectors = bm_le64(buf + 72);
	s->fat_start = bm_le32(buf + 80);
	s->fat_len = bm_le32(buf + 84);
	uint64_t heap = bm_le32(buf + 88);
	uint64_t count = bm_le32(buf + 92);
	s->root_cluster = bm_le32(buf + 96);
	s->nfats = buf[110];
	if (s->nfats == 2 && (bm_le16(buf + 106) & 1))
		s->active_fat = 1;
	free(buf);

	fs->vol = v;
	fs->ctx = v->ctx;
	fs->dev = v->dev;
	fs->bits = 32;
	fs->exfat = true;
	fs->bad = 0xFFFFFFF7u;
	fs->eoc = 0xFFFFFFF8u;
	fs->cluster_size = s->bps * s->spc;
	fs->fat_bytes = s->fat_len * s->bps;
	fs->fat_off = (s->fat_start + s->active_fat * s->fat_len) * s->bps;
	fs->data_off = heap * s->bps;
	fs->nclusters = (uint32_t)count;

	/* Field ranges from the spec (all 32-bit values: no overflow in
	 * 64-bit arithmetic). */
	const char *why = NULL;
	if (s->fat_start < 24)
		why = "FatOffset inside the boot regions";
	else if (s->fat_len * s->bps / 4 < count + 2)
		why = "FAT too small for ClusterCount";
	else if (heap < s->fat_start + s->nfats * s->fat_len)
		why = "cluster heap overlaps the FATs";
	else if (s->vol_sectors < heap + count * s->spc)
		why = "cluster heap larger than the volume";
	else if (count > 0xFFFFFFF5u)
		why = "ClusterCount too large";
	else if (s->root_cluster < 2 || s->root_cluster > count + 1)
		why = "root directory cluster outside the heap";
	else if (!bm_in_range(s->fat_start * s->bps,
			      s->nfats * s->fat_len * s->bps, v->size))
		why = "FATs end past the end of the volume (truncated image?)";
	if (why) {
		bm_warn(v->ctx, v->dev, 0, "exFAT: %s; not mapped", why);
		free(s);
		return -1;
	}
	*state = s;
	return 1;
}

/* Walk an allocation described by FIRST/LEN/CONTIG into RUNS. */
static int alloc_runs(struct bm_fatfs *fs, uint32_t first, uint64_t len,
		      bool contig, const char *path, struct bm_fat_runs *runs)
{
	uint64_t need = len / fs->cluster_size + (len % fs->cluster_size != 0);

	if (first == 0 || need == 0)
		return 0;
	if (contig)
		return bm_fatfs_contig(fs, first, need, path, runs);
	int r = bm_fatfs_chain(fs, first, need, path, runs);
	if (r == 0 && runs->clusters < need) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"%s: cluster chain (%llu clusters) shorter than its "
			"length of %llu bytes", path,
			(unsigned long long)runs->clusters, (unsigned long long)len);
		r = -1;
	}
	return r;
}

static void meta_alloc(struct bm_fatfs *fs, const uint8_t *e, const char *name)
{
	struct bm_fat_runs runs = {0};
	alloc_runs(fs, bm_le32(e + 20), bm_le64(e + 24), false, name, &runs);
	bm_fatfs_emit(fs, &runs, bm_object(fs->ctx, 'm', fs->dev, name), 0,
		      runs.clusters, 0);
	bm_fat_runs_free(&runs);
}

static void push_dir(struct exwalk *w, uint32_t first, bool contig,
		     uint64_t len, char *path)
{
	if (!bm_u64set_add(&w->dirs, first)) {
		bm_warn(w->fs->ctx, w->fs->dev, BM_NO_OFFSET,
			"%s: directory starts at cluster %#x, which another "
			"directory already uses (directory cycle?); not walked",
			path, first);
		free(path);
		return;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->stack = bm_reallocarray(w->stack, w->cap, sizeof *w->stack);
	}
	w->stack[w->n++] = (struct exdir){first, contig, len, path};
}

static uint16_t set_checksum(const uint8_t *set, size_t n)
{
	uint16_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 2 || i == 3)
			continue;
		sum = (uint16_t)(((sum & 1) ? 0x8000 : 0) + (sum >> 1) + set[i]);
	}
	return sum;
}

/* One File entry set at E (SC secondaries, all present and checked). */
static void do_set(struct exwalk *w, const uint8_t *e, unsigned sc,
		   const char *dir)
{
	struct bm_fatfs *fs = w->fs;
	const uint8_t *st = e + 32;
	struct bm_str name = {0};
	unsigned namelen = st[3], got = 0;

	/* File Name entries follow the stream extension, in order. */
	for (unsigned i = 2; i <= sc && got < namelen && e[32 * i] == 0xC1; i++) {
		unsigned k = namelen - got < 15 ? namelen - got : 15;
		bm_utf16le_to_utf8(&name, e + 32 * i + 2, k);
		got += k;
	}
	if (got < namelen || !bm_name_usable(name.s, name.len)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"%s: entry set with a missing or invalid file name; "
			"not mapped", dir);
		bm_str_free(&name);
		return;
	}
	char *path = bm_path_join(dir, name.s, name.len);
	bm_str_free(&name);

	bool isdir = bm_le16(e + 4) & 0x10;
	uint8_t flags = st[1];
	uint64_t valid = bm_le64(st + 8), len = bm_le64(st + 24);
	uint32_t first = bm_le32(st + 20);

	if (!(flags & 1)) { /* AllocationPossible clear: no clusters */
		first = 0;
		len = 0;
	}
	if (isdir) {
		if (first == 0 || len == 0) {
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"%s: directory has no clusters; not walked", path);
			free(path);
			return;
		}
		push_dir(w, first, flags & 2, len, path);
		return;
	}
	struct bm_fat_runs runs = {0};
	alloc_runs(fs, first, len, flags & 2, path, &runs);
	if (valid > len)
		valid = len;
	uint64_t full = valid / fs->cluster_size + (valid % fs->cluster_size != 0);
	/* No hard links in exFAT: one entry set, one object, mapped here. */
	bm_obj obj = bm_object(fs->ctx, 'f', fs->dev, path);
	bm_fatfs_emit(fs, &runs, obj, 0, full, BM_RANGE_UNWRITTEN);
	bm_object_release(fs->ctx, obj);
	bm_fat_runs_free(&runs);
	free(path);
}

static void parse_dir(struct exwalk *w, const uint8_t *buf, size_t len,
		      const char *path, bool root)
{
	struct bm_fatfs *fs = w->fs;
	size_t n = len / 32;

	/* Terminates: I grows by at least 1 per iteration. */
	for (size_t i = 0; i < n;) {
		const uint8_t *e = buf + 32 * i;
		uint8_t type = e[0];

		if (bm_ctx_full(fs->ctx))
			break; /* the map holds all it may */
		if (type == 0x00) /* end of directory */
			break;
		if (!(type & 0x80) || type == 0xC0 || type == 0xC1 ||
		    type >= 0xE0) {
			/* Unused entry, or a secondary outside its set. */
			i++;
			continue;
		}
		if (type == 0x81 && root) {
			meta_alloc(fs, e, "exfat allocation bitmap");
		} else if (type == 0x82 && root) {
			meta_alloc(fs, e, "exfat upcase table");
		} else if (type == 0x85) {
			unsigned sc = e[1];
			if (sc < 2 || sc > n - i - 1) {
				bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
					"%s: entry %zu: file entry set with %u "
					"secondary entries does not fit; not "
					"mapped", path, i, sc);
				i++;
				continue;
			}
			if (e[32] != 0xC0 ||
			    !bm_csum_ok(set_checksum(e, 32 * (size_t)(sc + 1)) ==
					bm_le16(e + 2))) {
				bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
					"%s: entry %zu: file entry set fails its "
					"checksum; not mapped", path, i);
				i++;
				continue;
			}
			do_set(w, e, sc, path);
			i += 1 + sc;
			continue;
		} else if (type != 0x83 && !(type & 0x20)) {
			/* 0x83 is the volume label; 0xA0.. are benign. */
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"%s: entry %zu: unknown critical entry type "
				"%#x; skipped", path, i, type);
		}
		i++;
	}
}

static void walk_dir(struct exwalk *w, const struct exdir *d, bool root)
{
	struct bm_fatfs *fs = w->fs;
	struct bm_fat_runs runs = {0};
	size_t len;

	if (d->len == 0)
		bm_fatfs_chain(fs, d->first, 0, d->path, &runs);
	else
		alloc_runs(fs, d->first, d->len, d->contig, d->path, &runs);
	bm_obj obj = bm_object(fs->ctx, 'd', fs->dev, d->path);
	bm_fatfs_emit(fs, &runs, obj, 0, runs.clusters, 0);
	bm_object_release(fs->ctx, obj);
	uint64_t max = d->len && d->len < EXFAT_DIR_MAX_BYTES ? d->len
							       : EXFAT_DIR_MAX_BYTES;
	if (runs.clusters * fs->cluster_size > EXFAT_DIR_MAX_BYTES)
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET, "%s: directory larger "
			"than 256 MiB; entries past that not walked", d->path);
	uint8_t *buf = NULL;
	if (!bm_dir_too_deep(fs->ctx, fs->dev,
			     bm_fatfs_cluster_off(fs, d->first), d->path))
		buf = bm_fatfs_read_runs(fs, &runs, max, d->path, &len);
	if (buf)
		parse_dir(w, buf, len, d->path, root);
	free(buf);
	bm_fat_runs_free(&runs);
}

static int exfat_walk(struct bm_volume *v, void *state)
{
	struct exfat_state *s = state;
	struct bm_fatfs *fs = &s->fs;
	uint64_t rb = 12 * (uint64_t)s->bps;

	bm_debug(v->ctx, "%s: exFAT, %u-byte clusters, %u clusters%s", v->dev,
		 fs->cluster_size, fs->nclusters,
		 s->from_backup ? " (from the backup boot region)" : "");
	uint64_t vol_bytes;
	if (!bm_mul(s->vol_sectors, s->bps, &vol_bytes))
		vol_bytes = UINT64_MAX;
	v->fs_size = vol_bytes;
	if (vol_bytes > v->size)
		bm_finding(v->ctx, "fs-larger-than-volume", BM_SEV_ERROR,
			   v->dev, v->size,
			   "exFAT volume is %llu bytes but its container only "
			   "%llu (truncated image?); clusters past the end not "
			   "mapped",
			   (unsigned long long)vol_bytes,
			   (unsigned long long)v->size);

	bm_emit(v, 0, rb, bm_object(v->ctx, 'm', v->dev, "exfat boot region"));
	bm_emit_flags(v, rb, rb,
		      bm_object(v->ctx, 'm', v->dev, "exfat backup boot region"),
		      BM_RANGE_COPY);
	bm_obj fat = bm_object(v->ctx, 'm', v->dev, "exfat fat table");
	for (unsigned i = 0; i < s->nfats; i++)
		bm_emit_flags(v, (s->fat_start + i * s->fat_len) * s->bps,
			      fs->fat_bytes, fat,
			      i == s->active_fat ? 0 : BM_RANGE_COPY);

	/* Clusters past the end of the volume cannot be read or mapped. */
	if (fs->data_off >= v->size) {
		fs->nclusters = 0;
	} else {
		uint64_t fit = (v->size - fs->data_off) / fs->cluster_size;
		if (fit < fs->nclusters)
			fs->nclusters = (uint32_t)fit;
	}
	bm_fatfs_init(fs);

	struct exwalk w = {.fs = fs};
	push_dir(&w, s->root_cluster, false, 0, bm_strdup("/"));
	/* Terminates: each directory pushed has a new start cluster. */
	bool root = true;
	while (w.n) {
		struct exdir d = w.stack[--w.n];
		walk_dir(&w, &d, root);
		root = false;
		free(d.path);
	}
	free(w.stack);
	bm_u64set_free(&w.dirs);
	bm_fatfs_free(fs);
	free(s);
	return 0;
}

const struct bm_prober bm_exfat_prober = {
	.name = "exfat",
	.kind = BM_PROBE_FS,
	.probe = exfat_probe,
	.walk = exfat_walk,
};
