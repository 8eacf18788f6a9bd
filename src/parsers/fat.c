/* FAT12/16/32: boot sector, reserved area, FATs, cluster chains.
 *
 * On-disk format: Microsoft "FAT: General Overview of On-Disk Format"
 * (FAT32 File System Specification, version 1.03, 2000).  The volume is
 *
 *   reserved sectors (boot sector; FAT32 also FSInfo and a backup boot
 *   record) | NumFATs copies of the FAT | FAT12/16 only: the fixed root
 *   directory | the data area, cluster 2 first.
 *
 * The FAT type follows Linux (fs/fat): FAT32 when the 16-bit FAT size is
 * zero, else FAT12 below 4085 clusters and FAT16 from there.  The chain
 * helpers here are shared with exfat.c (same FAT idea, 32-bit entries).
 * The directory tree lives in fat_dir.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "parsers/fat.h"

/* ------------------------------------------------------------------ */
/* Boot sector checks (also used by mbr.c)                             */

static bool is_pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

bool bm_fat_bpb_valid(const uint8_t *sec)
{
	/* x86 jump over the BPB: EB xx (90) or E9 xx xx. */
	if (sec[0] != 0xEB && sec[0] != 0xE9)
		return false;
	uint32_t bps = bm_le16(sec + 11);
	if (bps < 512 || bps > 4096 || !is_pow2(bps))
		return false;
	if (!is_pow2(sec[13]) || sec[13] > 128)
		return false;
	uint32_t reserved = bm_le16(sec + 14);
	if (reserved == 0)
		return false;
	if (sec[16] == 0 || sec[16] > 4)
		return false;
	if (sec[21] != 0xF0 && sec[21] < 0xF8)
		return false;
	uint64_t total = bm_le16(sec + 19) ? bm_le16(sec + 19) : bm_le32(sec + 32);
	if (total == 0)
		return false;
	uint32_t rootent = bm_le16(sec + 17);
	uint64_t fatsz;
	if (bm_le16(sec + 22) != 0) {
		fatsz = bm_le16(sec + 22);
		if (rootent == 0)
			return false;
	} else {
		fatsz = bm_le32(sec + 36);
		/* FAT32: no fixed root, a root cluster, version 0.0. */
		if (fatsz == 0 || rootent != 0 || bm_le32(sec + 44) < 2 ||
		    bm_le16(sec + 42) != 0)
			return false;
	}
	uint64_t rootsec = ((uint64_t)rootent * 32 + bps - 1) / bps;
	uint64_t meta = reserved + (uint64_t)sec[16] * fatsz + rootsec;
	return meta < total;
}

bool bm_exfat_boot_valid(const uint8_t *sec)
{
	if (memcmp(sec + 3, "EXFAT   ", 8) != 0)
		return false;
	for (unsigned i = 11; i < 64; i++) /* MustBeZero: the old BPB */
		if (sec[i])
			return false;
	unsigned bps_shift = sec[108], spc_shift = sec[109];
	return bps_shift >= 9 && bps_shift <= 12 && spc_shift <= 25 - bps_shift &&
	       (sec[110] == 1 || sec[110] == 2) && sec[510] == 0x55 &&
	       sec[511] == 0xAA;
}

bool bm_fat_is_boot_sector(const uint8_t *sec)
{
	/* A BitLocker boot sector ("-FVE-FS-") is a FAT/NTFS boot sector
	 * too, with a BPB that need not pass the checks above. */
	return bm_fat_bpb_valid(sec) || bm_exfat_boot_valid(sec) ||
	       memcmp(sec + 3, "-FVE-FS-", 8) == 0;
}

/* ------------------------------------------------------------------ */
/* FAT access and cluster chains (FAT12/16/32 and exFAT)               */

void bm_fatfs_init(struct bm_fatfs *fs)
{
	fs->used = bm_calloc(((size_t)fs->nclusters + 2 + 7) / 8, 1);
	fs->cache = bm_malloc((size_t)BM_FAT_CACHE_SLOTS * BM_FAT_CACHE_BLOCK);
	memset(fs->cache_blk, 0, sizeof fs->cache_blk);
}

void bm_fatfs_free(struct bm_fatfs *fs)
{
	free(fs->used);
	free(fs->cache);
	fs->used = NULL;
	fs->cache = NULL;
}

void bm_fat_runs_free(struct bm_fat_runs *runs)
{
	free(runs->r);
	memset(runs, 0, sizeof *runs);
}

/* Byte OFF of the FAT, through the direct-mapped block cache. */
static int fat_byte(struct bm_fatfs *fs, uint64_t off, uint8_t *out)
{
	uint64_t blk = off / BM_FAT_CACHE_BLOCK;
	unsigned slot = (unsigned)(blk % BM_FAT_CACHE_SLOTS);
	uint8_t *p = fs->cache + (size_t)slot * BM_FAT_CACHE_BLOCK;

	if (off >= fs->fat_bytes)
		return -1;
	if (fs->cache_blk[slot] != blk + 1) {
		uint64_t start = blk * BM_FAT_CACHE_BLOCK;
		uint64_t len = fs->fat_bytes - start;
		if (len > BM_FAT_CACHE_BLOCK)
			len = BM_FAT_CACHE_BLOCK;
		if (bm_read(fs->vol, p, (size_t)len, fs->fat_off + start) < 0) {
			fs->cache_blk[slot] = 0;
			return -1;
		}
		fs->cache_blk[slot] = blk + 1;
	}
	*out = p[off % BM_FAT_CACHE_BLOCK];
	return 0;
}

/* FAT entry for cluster C. */
static int fat_entry(struct bm_fatfs *fs, uint32_t c, uint32_t *val)
{
	uint8_t b[4];
	uint64_t off;
	unsigned n;

	switch (fs->bits) {
	case 12:
		off = (uint64_t)c + c / 2;
		n = 2;
		break;
	case 16:
		off = (uint64_t)c * 2;
		n = 2;
		break;
	default:
		off = (uint64_t)c * 4;
		n = 4;
		break;
	}
	for (unsigned i = 0; i < n; i++)
		if (fat_byte(fs, off + i, &b[i]) < 0)
			return -1;
	switch (fs->bits) {
	case 12:
		*val = (c & 1) ? (uint32_t)bm_le16(b) >> 4 : bm_le16(b) & 0xFFFu;
		break;
	case 16:
		*val = bm_le16(b);
		break;
	default:
		*val = bm_le32(b);
		if (!fs->exfat)
			*val &= 0x0FFFFFFFu; /* the top 4 bits are reserved */
		break;
	}
	return 0;
}

static bool cluster_valid(const struct bm_fatfs *fs, uint32_t c)
{
	return c >= 2 && (uint64_t)c <= (uint64_t)fs->nclusters + 1;
}

static bool used_test_set(struct bm_fatfs *fs, uint32_t c)
{
	uint8_t bit = (uint8_t)(1u << (c & 7));
	bool was = fs->used[c >> 3] & bit;
	fs->used[c >> 3] |= bit;
	return was;
}

static void runs_add(struct bm_fat_runs *runs, uint32_t c)
{
	runs->clusters++;
	if (runs->n && runs->r[runs->n - 1].first + runs->r[runs->n - 1].count == c) {
		runs->r[runs->n - 1].count++;
		return;
	}
	if (runs->n == runs->cap) {
		runs->cap = runs->cap ? runs->cap * 2 : 8;
		runs->r = bm_reallocarray(runs->r, runs->cap, sizeof *runs->r);
	}
	runs->r[runs->n].first = c;
	runs->r[runs->n].count = 1;
	runs->n++;
}

/* Take cluster C for PATH: in the data area and not owned yet. */
static int claim(struct bm_fatfs *fs, uint32_t c, const char *path,
		 struct bm_fat_runs *runs)
{
	if (!cluster_valid(fs, c)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"%s: cluster chain leaves the data area (cluster %#x, "
			"data area is clusters 2..%#x); rest not mapped",
			path, c, fs->nclusters + 1);
		return -1;
	}
	if (used_test_set(fs, c)) {
		bm_warn(fs->ctx, fs->dev, bm_fatfs_cluster_off(fs, c),
			"%s: cluster %#x is already in use (cluster chain loop "
			"or cross-linked file); rest not mapped", path, c);
		return -1;
	}
	runs_add(runs, c);
	return 0;
}

int bm_fatfs_chain(struct bm_fatfs *fs, uint32_t start, uint64_t max,
		   const char *path, struct bm_fat_runs *runs)
{
	uint32_t c = start;

	/* Terminates: every iteration claims a cluster that was not in
	 * the used-bitmap before (claim() stops otherwise), and there are
	 * nclusters of them. */
	for (uint64_t n = 0;; n++) {
		uint32_t next;

		if (max && n >= max)
			return 0;
		if (claim(fs, c, path, runs) < 0)
			return -1;
		if (fat_entry(fs, c, &next) < 0) {
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"%s: cannot read the FAT entry of cluster %#x; "
				"rest not mapped", path, c);
			return -1;
		}
		if (next >= fs->eoc)
			return 0;
		if (next == fs->bad) {
			bm_warn(fs->ctx, fs->dev, bm_fatfs_cluster_off(fs, c),
				"%s: cluster chain runs into a bad-cluster mark "
				"after cluster %#x; rest not mapped", path, c);
			return -1;
		}
		if (next == 0) {
			bm_warn(fs->ctx, fs->dev, bm_fatfs_cluster_off(fs, c),
				"%s: cluster chain runs into a free cluster "
				"after cluster %#x; rest not mapped", path, c);
			return -1;
		}
		c = next;
	}
}

int bm_fatfs_contig(struct bm_fatfs *fs, uint32_t first, uint64_t count,
		    const char *path, struct bm_fat_runs *runs)
{
	/* Bounded by COUNT, and COUNT by the data area (checked first). */
	if (count && (!cluster_valid(fs, first) ||
		      count - 1 > (uint64_t)fs->nclusters + 1 - first)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"%s: contiguous extent (clusters %#x + %llu) leaves "
			"the data area; not mapped", path, first,
			(unsigned long long)count);
		return -1;
	}
	for (uint64_t i = 0; i < count; i++)
		if (claim(fs, first + (uint32_t)i, path, runs) < 0)
			return -1;
	return 0;
}

void bm_fatfs_emit(struct bm_fatfs *fs, const struct bm_fat_runs *runs,
		   uint32_t obj, unsigned flags, uint64_t full_clusters,
		   unsigned tail_flags)
{
	uint64_t done = 0;

	for (size_t i = 0; i < runs->n; i++) {
		uint64_t first = runs->r[i].first, count = runs->r[i].count;
		/* Split the run where the full part ends. */
		if (done < full_clusters && done + count > full_clusters) {
			uint64_t k = full_clusters - done;
			bm_emit_flags(fs->vol, bm_fatfs_cluster_off(fs, (uint32_t)first),
				      k * fs->cluster_size, obj, flags);
			bm_emit_flags(fs->vol,
				      bm_fatfs_cluster_off(fs, (uint32_t)(first + k)),
				      (count - k) * fs->cluster_size, obj, tail_flags);
		} else {
			bm_emit_flags(fs->vol, bm_fatfs_cluster_off(fs, (uint32_t)first),
				      count * fs->cluster_size, obj,
				      done < full_clusters ? flags : tail_flags);
		}
		done += count;
	}
}

uint8_t *bm_fatfs_read_runs(struct bm_fatfs *fs, const struct bm_fat_runs *runs,
			    uint64_t max, const char *path, size_t *len)
{
	uint64_t total = runs->clusters * fs->cluster_size;
	if (total > max)
		total = max;
	uint8_t *buf = bm_malloc(total ? (size_t)total : 1);
	uint64_t pos = 0;

	for (size_t i = 0; i < runs->n && pos < total; i++) {
		uint64_t n = (uint64_t)runs->r[i].count * fs->cluster_size;
		if (n > total - pos)
			n = total - pos;
		uint64_t off = bm_fatfs_cluster_off(fs, runs->r[i].first);
		if (bm_read(fs->vol, buf + pos, (size_t)n, off) < 0) {
			bm_warn(fs->ctx, fs->dev, off,
				"%s: cannot read directory clusters (%s); "
				"entries not mapped", path, strerror(errno));
			free(buf);
			return NULL;
		}
		pos += n;
	}
	*len = (size_t)total;
	return buf;
}

/* ------------------------------------------------------------------ */
/* FAT12/16/32 prober                                                  */

struct fat_state {
	struct bm_fatfs fs;
	uint32_t bps, spc, reserved, nfats, rootent;
	uint64_t total_sectors, fatsz; /* sectors */
	uint32_t root_cluster;         /* FAT32 */
	uint32_t fsinfo, backup;       /* FAT32 sectors; 0: none */
	unsigned active_fat;
	uint64_t root_off, root_len;   /* FAT12/16 fixed root */
};

/* The BitLocker To Go boot sector is a valid FAT32 BPB; leave it to
 * bitlocker.c.  Its GUID sits at 0x1A8 (To Go) or 0xA0 (Vista/7). */
static bool looks_bitlocker(const uint8_t *sec)
{
	static const uint8_t guid[16] = {0x3b, 0xd6, 0x67, 0x49, 0x29, 0x2e,
					 0xd8, 0x4a, 0x83, 0x99, 0xf6, 0xa3,
					 0x39, 0xe3, 0xd0, 0x01};
	return memcmp(sec + 3, "-FVE-FS-", 8) == 0 ||
	       memcmp(sec + 0x1A8, guid, 16) == 0 || memcmp(sec + 0xA0, guid, 16) == 0;
}

static int fat_probe(struct bm_volume *v, void **state)
{
	uint8_t sec[512];

	if (v->size < 512 || bm_read(v, sec, sizeof sec, 0) < 0)
		return 0;
	if (!bm_fat_bpb_valid(sec) || looks_bitlocker(sec))
		return 0;

	struct fat_state *s = bm_calloc(1, sizeof *s);
	struct bm_fatfs *fs = &s->fs;
	s->bps = bm_le16(sec + 11);
	s->spc = sec[13];
	s->reserved = bm_le16(sec + 14);
	s->nfats = sec[16];
	s->rootent = bm_le16(sec + 17);
	s->total_sectors = bm_le16(sec + 19) ? bm_le16(sec + 19) : bm_le32(sec + 32);
	bool fat32 = bm_le16(sec + 22) == 0;
	s->fatsz = fat32 ? bm_le32(sec + 36) : bm_le16(sec + 22);
	if (fat32) {
		uint16_t flags = bm_le16(sec + 40);
		s->root_cluster = bm_le32(sec + 44);
		s->fsinfo = bm_le16(sec + 48);
		s->backup = bm_le16(sec + 50);
		if (s->fsinfo == 0xFFFF || s->fsinfo >= s->reserved)
			s->fsinfo = 0;
		if (s->backup == 0xFFFF || s->backup >= s->reserved)
			s->backup = 0;
		/* Bit 7: mirroring off, bits 0-3 name the one active FAT. */
		if ((flags & 0x80) && (flags & 0xF) < s->nfats)
			s->active_fat = flags & 0xF;
	}

	/* All in sectors; small enough not to overflow (16/32-bit fields). */
	uint64_t rootsec = ((uint64_t)s->rootent * 32 + s->bps - 1) / s->bps;
	uint64_t fat_start = s->reserved;
	uint64_t root_start = fat_start + (uint64_t)s->nfats * s->fatsz;
	uint64_t data_start = root_start + rootsec;
	uint64_t clusters = (s->total_sectors - data_start) / s->spc;

	fs->vol = v;
	fs->ctx = v->ctx;
	fs->dev = v->dev;
	fs->bits = fat32 ? 32 : clusters < 4085 ? 12 : 16;
	fs->fat_bytes = s->fatsz * s->bps;
	fs->fat_off = (fat_start + (uint64_t)s->active_fat * s->fatsz) * s->bps;
	fs->data_off = data_start * s->bps;
	fs->cluster_size = s->bps * s->spc;
	s->root_off = root_start * s->bps;
	s->root_len = rootsec * s->bps;
	switch (fs->bits) {
	case 12:
		fs->bad = 0xFF7;
		fs->eoc = 0xFF8;
		break;
	case 16:
		fs->bad = 0xFFF7;
		fs->eoc = 0xFFF8;
		break;
	default:
		fs->bad = 0x0FFFFFF7;
		fs->eoc = 0x0FFFFFF8;
		break;
	}
	/* A FAT must have an entry for every cluster; Linux refuses to
	 * mount otherwise, we map what the FAT can describe. */
	uint64_t fat_entries = fs->fat_bytes * 8 / fs->bits;
	if (clusters + 2 > fat_entries) {
		bm_warn(v->ctx, v->dev, fs->fat_off,
			"FAT has %llu entries for %llu clusters; clusters past "
			"the FAT not mapped", (unsigned long long)fat_entries,
			(unsigned long long)clusters);
		clusters = fat_entries >= 2 ? fat_entries - 2 : 0;
	}
	if (fat32 && clusters > 0x0FFFFFF5)
		clusters = 0x0FFFFFF5;
	fs->nclusters = (uint32_t)clusters;

	/* The FATs (and so the used-bitmap they bound) must be readable. */
	if (!bm_in_range(fat_start * s->bps, (uint64_t)s->nfats * fs->fat_bytes,
			 v->size)) {
		bm_warn(v->ctx, v->dev, 0,
			"FAT%u: the FATs end past the end of the volume "
			"(truncated image?); not mapped", fs->bits);
		free(s);
		return -1;
	}
	if (fat32 && !cluster_valid(fs, s->root_cluster)) {
		bm_warn(v->ctx, v->dev, 0, "FAT32: root cluster %#x is outside "
			"the data area; not mapped", s->root_cluster);
		free(s);
		return -1;
	}
	*state = s;
	return 1;
}

struct piece {
	uint64_t sec, n;
	const char *name;
	unsigned flags;
};

/* Emit the reserved area: named sectors, the rest "fat reserved
 * sectors".  PIECES sorted, non-overlapping, inside the area. */
static void emit_reserved(struct fat_state *s, struct piece *pieces, size_t np)
{
	struct bm_fatfs *fs = &s->fs;
	uint64_t pos = 0;
	bm_obj rest = bm_object(fs->ctx, 'm', fs->dev, "fat reserved sectors");

	for (size_t i = 0; i < np; i++) {
		if (pieces[i].sec > pos)
			bm_emit(fs->vol, pos * s->bps, (pieces[i].sec - pos) * s->bps, rest);
		bm_emit_flags(fs->vol, pieces[i].sec * s->bps, pieces[i].n * s->bps,
			      bm_object(fs->ctx, 'm', fs->dev, pieces[i].name),
			      pieces[i].flags);
		pos = pieces[i].sec + pieces[i].n;
	}
	if (pos < s->reserved)
		bm_emit(fs->vol, pos * s->bps, (s->reserved - pos) * s->bps, rest);
}

static void add_piece(struct piece *p, size_t *np, uint64_t sec, uint64_t n,
		      const char *name, unsigned flags)
{
	/* Keep sorted; drop what overlaps an earlier piece (corrupt
	 * FSInfo/backup numbers). */
	uint64_t end = sec + n;
	for (size_t i = 0; i < *np; i++)
		if (sec < p[i].sec + p[i].n && p[i].sec < end)
			return;
	size_t i = *np;
	while (i > 0 && p[i - 1].sec > sec) {
		p[i] = p[i - 1];
		i--;
	}
	p[i] = (struct piece){sec, n, name, flags};
	(*np)++;
}

static int fat_walk(struct bm_volume *v, void *state)
{
	struct fat_state *s = state;
	struct bm_fatfs *fs = &s->fs;
	struct piece pieces[4];
	size_t np = 0;
	uint8_t buf[512];

	bm_debug(v->ctx, "%s: FAT%u, %u-byte clusters, %u clusters, %u FATs",
		 v->dev, fs->bits, fs->cluster_size, fs->nclusters, s->nfats);

	uint64_t fs_bytes = s->total_sectors * s->bps;
	v->fs_size = fs_bytes;
	if (fs_bytes > v->size)
		bm_finding(v->ctx, "fs-larger-than-volume", BM_SEV_ERROR,
			v->dev, v->size,
			"FAT%u filesystem is %llu bytes but its volume only %llu "
			"(truncated image?); clusters past the end not mapped",
			fs->bits, (unsigned long long)fs_bytes,
			(unsigned long long)v->size);

	add_piece(pieces, &np, 0, 1, "fat boot sector", 0);
	if (s->fsinfo) {
		/* FSInfo: lead and structure signatures. */
		if (bm_read(v, buf, sizeof buf, (uint64_t)s->fsinfo * s->bps) == 0 &&
		    memcmp(buf, "RRaA", 4) == 0 && memcmp(buf + 484, "rrAa", 4) == 0)
			add_piece(pieces, &np, s->fsinfo, 1, "fat fsinfo", 0);
		else
			bm_debug(v->ctx, "%s: FAT32 FSInfo sector %u has no "
				 "signature", v->dev, s->fsinfo);
	}
	if (s->backup) {
		/* The backup boot record: boot sector, FSInfo copy, boot
		 * code sector (as far as the reserved area reaches). */
		uint64_t n = s->reserved - s->backup < 3 ? s->reserved - s->backup : 3;
		add_piece(pieces, &np, s->backup, n, "fat backup boot sector",
			  BM_RANGE_COPY);
	}
	emit_reserved(s, pieces, np);

	bm_obj fat = bm_object(v->ctx, 'm', v->dev, "fat table");
	for (unsigned i = 0; i < s->nfats; i++)
		bm_emit_flags(v, ((uint64_t)s->reserved + i * s->fatsz) * s->bps,
			      fs->fat_bytes, fat,
			      i == s->active_fat ? 0 : BM_RANGE_COPY);

	if (fs->bits != 32 && s->root_len)
		bm_emit(v, s->root_off, s->root_len,
			bm_object(v->ctx, 'd', v->dev, "/"));

	/* Clusters past the end of the volume cannot be read or mapped:
	 * shrink the data area to what is there (warned above). */
	if (fs->data_off >= v->size) {
		fs->nclusters = 0;
	} else {
		uint64_t fit = (v->size - fs->data_off) / fs->cluster_size;
		if (fit < fs->nclusters)
			fs->nclusters = (uint32_t)fit;
	}
	bm_fatfs_init(fs);
	bm_fat_walk_tree(fs, fs->bits == 32 ? s->root_cluster : 0, s->root_off,
			 s->root_len);
	bm_fatfs_free(fs);
	free(s);
	return 0;
}

const struct bm_prober bm_fat_prober = {
	.name = "vfat",
	.kind = BM_PROBE_FS,
	.probe = fat_probe,
	.walk = fat_walk,
};
