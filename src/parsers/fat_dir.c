/* FAT12/16/32 directory tree: 32-byte directory entries, VFAT long names.
 *
 * On-disk format: Microsoft FAT32 File System Specification 1.03,
 * sections 6 (directory entries) and 7 (long names).  A long name is a
 * run of entries with attribute 0x0F stored last-part-first (ordinal
 * with bit 0x40 on the first one), each carrying 13 UTF-16 units and
 * the checksum of the 8.3 entry that follows them; a run whose ordinals
 * or checksum do not match is an orphan and the 8.3 name is used.
 * Windows NT keeps the case of an all-lower-case base/extension in bits
 * 3/4 of byte 12 instead of writing a long name; Linux (shortname=mixed,
 * the default) honours them, so we do too.  Bytes >= 0x80 of an 8.3 name
 * are OEM code page 437 (Linux's default codepage).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "parsers/fat.h"

/* A directory holds at most 65536 entries (the spec's limit). */
#define FAT_DIR_MAX_BYTES (65536u * 32)

static const uint16_t cp437_high[128] = {
	0x00c7, 0x00fc, 0x00e9, 0x00e2, 0x00e4, 0x00e0, 0x00e5, 0x00e7,
	0x00ea, 0x00eb, 0x00e8, 0x00ef, 0x00ee, 0x00ec, 0x00c4, 0x00c5,
	0x00c9, 0x00e6, 0x00c6, 0x00f4, 0x00f6, 0x00f2, 0x00fb, 0x00f9,
	0x00ff, 0x00d6, 0x00dc, 0x00a2, 0x00a3, 0x00a5, 0x20a7, 0x0192,
	0x00e1, 0x00ed, 0x00f3, 0x00fa, 0x00f1, 0x00d1, 0x00aa, 0x00ba,
	0x00bf, 0x2310, 0x00ac, 0x00bd, 0x00bc, 0x00a1, 0x00ab, 0x00bb,
	0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556,
	0x2555, 0x2563, 0x2551, 0x2557, 0x255d, 0x255c, 0x255b, 0x2510,
	0x2514, 0x2534, 0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f,
	0x255a, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256c, 0x2567,
	0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256b,
	0x256a, 0x2518, 0x250c, 0x2588, 0x2584, 0x258c, 0x2590, 0x2580,
	0x03b1, 0x00df, 0x0393, 0x03c0, 0x03a3, 0x03c3, 0x00b5, 0x03c4,
	0x03a6, 0x0398, 0x03a9, 0x03b4, 0x221e, 0x03c6, 0x03b5, 0x2229,
	0x2261, 0x00b1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00f7, 0x2248,
	0x00b0, 0x2219, 0x00b7, 0x221a, 0x207f, 0x00b2, 0x25a0, 0x00a0,
};

/* Long-name accumulator: at most 20 entries of 13 units (255 chars). */
struct lfn {
	uint8_t u16[20 * 13 * 2];
	unsigned total; /* entries announced by the 0x40 entry; 0: none */
	unsigned next;  /* ordinal of the last entry seen */
	uint8_t sum;
};

struct dirwork {
	uint32_t cluster;
	char *path;
};

struct walk {
	struct bm_fatfs *fs;
	struct dirwork *stack;
	size_t n, cap;
	struct bm_u64set dirs; /* start clusters of directories queued */
};

static void lfn_add(struct lfn *l, const uint8_t *e)
{
	static const uint8_t pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	unsigned ord = e[0] & 0x3F;

	if (e[0] & 0x40) {
		if (ord == 0 || ord > 20) {
			l->total = 0;
			return;
		}
		l->total = ord;
		l->sum = e[13];
		memset(l->u16, 0xFF, sizeof l->u16);
	} else if (!l->total || ord != l->next - 1 || e[13] != l->sum || ord == 0) {
		l->total = 0; /* out of sequence: orphan */
		return;
	}
	l->next = ord;
	uint8_t *dst = l->u16 + (size_t)(ord - 1) * 26;
	for (unsigned i = 0; i < 13; i++) {
		dst[2 * i] = e[pos[i]];
		dst[2 * i + 1] = e[pos[i] + 1];
	}
}

static uint8_t sfn_checksum(const uint8_t *name11)
{
	uint8_t sum = 0;
	for (unsigned i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + name11[i]);
	return sum;
}

static void put_utf8(struct bm_str *b, uint32_t c)
{
	char u[3];
	if (c < 0x80) {
		u[0] = (char)c;
		bm_str_putn(b, u, 1);
	} else if (c < 0x800) {
		u[0] = (char)(0xC0 | c >> 6);
		u[1] = (char)(0x80 | (c & 0x3F));
		bm_str_putn(b, u, 2);
	} else {
		u[0] = (char)(0xE0 | c >> 12);
		u[1] = (char)(0x80 | (c >> 6 & 0x3F));
		u[2] = (char)(0x80 | (c & 0x3F));
		bm_str_putn(b, u, 3);
	}
}

static void sfn_part(struct bm_str *b, const uint8_t *p, unsigned n, bool lower,
		     bool first)
{
	while (n && p[n - 1] == ' ')
		n--;
	for (unsigned i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (first && i == 0 && c == 0x05) /* 0xE5 stored as 0x05 */
			c = 0xE5;
		if (lower && c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		put_utf8(b, c < 0x80 ? c : cp437_high[c - 0x80]);
	}
}

/* 8.3 name of entry E into B, NT lower-case flags applied. */
static void sfn_name(struct bm_str *b, const uint8_t *e)
{
	sfn_part(b, e, 8, e[12] & 0x08, true);
	unsigned extlen = 3;
	while (extlen && e[8 + extlen - 1] == ' ')
		extlen--;
	if (extlen) {
		bm_str_putn(b, ".", 1);
		sfn_part(b, e + 8, 3, e[12] & 0x10, false);
	}
}

static void push_dir(struct walk *w, uint32_t cluster, char *path)
{
	if (!bm_u64set_add(&w->dirs, cluster)) {
		bm_warn(w->fs->ctx, w->fs->dev, BM_NO_OFFSET,
			"%s: directory starts at cluster %#x, which another "
			"directory already uses (directory cycle?); not walked",
			path, cluster);
		free(path);
		return;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->stack = bm_reallocarray(w->stack, w->cap, sizeof *w->stack);
	}
	w->stack[w->n].cluster = cluster;
	w->stack[w->n].path = path;
	w->n++;
}

static void do_file(struct walk *w, const uint8_t *e, const char *path)
{
	struct bm_fatfs *fs = w->fs;
	uint32_t cl = bm_le16(e + 26);
	uint32_t size = bm_le32(e + 28);
	struct bm_fat_runs runs = {0};

	if (fs->bits == 32)
		cl |= (uint32_t)bm_le16(e + 20) << 16;
	if (cl == 0) {
		if (size)
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"%s: file of %u bytes has no clusters; not mapped",
				path, size);
		return;
	}
	int r = bm_fatfs_chain(fs, cl, 0, path, &runs);
	uint64_t need = ((uint64_t)size + fs->cluster_size - 1) / fs->cluster_size;
	if (r == 0 && runs.clusters < need)
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"%s: file is %u bytes but its cluster chain only %llu "
			"clusters", path, size, (unsigned long long)runs.clusters);
	/* The whole chain belongs to the file, even clusters past its size
	 * (fsck would free them; nothing else owns them). */
	/* FAT has no hard links: one entry, one object, mapped at once. */
	bm_obj obj = bm_object(fs->ctx, 'f', fs->dev, path);
	bm_fatfs_emit(fs, &runs, obj, 0, runs.clusters, 0);
	bm_object_release(fs->ctx, obj);
	bm_fat_runs_free(&runs);
}

/* Parse LEN bytes of directory entries of directory PATH. */
static void parse_dir(struct walk *w, const uint8_t *buf, size_t len,
		      const char *path)
{
	struct bm_fatfs *fs = w->fs;
	struct lfn lfn = {.total = 0};
	struct bm_str name = {0};

	for (size_t off = 0; off + 32 <= len; off += 32) {
		const uint8_t *e = buf + off;
		uint8_t attr = e[11];

		if (bm_ctx_full(fs->ctx))
			break; /* the map holds all it may */
		if (e[0] == 0x00) /* end of directory */
			break;
		if (e[0] == 0xE5) { /* deleted */
			lfn.total = 0;
			continue;
		}
		if ((attr & 0x3F) == 0x0F) {
			lfn_add(&lfn, e);
			continue;
		}
		bool have_lfn = lfn.total && lfn.next == 1;
		uint8_t lsum = lfn.sum;
		size_t lunits = (size_t)lfn.total * 13;
		lfn.total = 0;
		if (attr & 0x08) /* volume label */
			continue;
		if (e[0] == '.' && (memcmp(e, ".          ", 11) == 0 ||
				    memcmp(e, "..         ", 11) == 0))
			continue;

		name.len = 0;
		if (have_lfn && lsum == sfn_checksum(e)) {
			/* NUL-terminated unless it fills its entries. */
			size_t units = 0;
			while (units < lunits && (lfn.u16[2 * units] ||
						  lfn.u16[2 * units + 1]))
				units++;
			bm_utf16le_to_utf8(&name, lfn.u16, units);
			if (!bm_name_usable(name.s, name.len)) {
				bm_debug(fs->ctx, "%s: %s: unusable long name, "
					 "using the 8.3 name", fs->dev, path);
				name.len = 0;
			}
		} else if (have_lfn) {
			bm_debug(fs->ctx, "%s: %s: long name checksum does "
				 "not match its 8.3 entry; using the 8.3 name",
				 fs->dev, path);
		}
		if (name.len == 0)
			sfn_name(&name, e);
		if (!bm_name_usable(name.s, name.len)) {
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"%s: directory entry %zu has an invalid name; "
				"not mapped", path, off / 32);
			continue;
		}
		char *child = bm_path_join(path, name.s, name.len);
		if (attr & 0x10) {
			uint32_t cl = bm_le16(e + 26);
			if (fs->bits == 32)
				cl |= (uint32_t)bm_le16(e + 20) << 16;
			if (cl == 0) {
				bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
					"%s: directory has no clusters; not "
					"walked", child);
				free(child);
			} else {
				push_dir(w, cl, child); /* takes CHILD */
			}
		} else {
			do_file(w, e, child);
			free(child);
		}
	}
	bm_str_free(&name);
}

static void walk_dir(struct walk *w, uint32_t cluster, const char *path)
{
	struct bm_fatfs *fs = w->fs;
	struct bm_fat_runs runs = {0};
	size_t len;

	bm_fatfs_chain(fs, cluster, 0, path, &runs);
	bm_obj obj = bm_object(fs->ctx, 'd', fs->dev, path);
	bm_fatfs_emit(fs, &runs, obj, 0, runs.clusters, 0);
	bm_object_release(fs->ctx, obj);
	if (runs.clusters * fs->cluster_size > FAT_DIR_MAX_BYTES)
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"%s: directory is larger than 65536 entries; entries "
			"past that not walked", path);
	uint8_t *buf = NULL;
	if (!bm_dir_too_deep(fs->ctx, fs->dev,
			     bm_fatfs_cluster_off(fs, cluster), path))
		buf = bm_fatfs_read_runs(fs, &runs, FAT_DIR_MAX_BYTES, path,
					 &len);
	if (buf)
		parse_dir(w, buf, len, path);
	free(buf);
	bm_fat_runs_free(&runs);
}

void bm_fat_walk_tree(struct bm_fatfs *fs, uint32_t root_cluster,
		      uint64_t root_off, uint64_t root_len)
{
	struct walk w = {.fs = fs};

	if (root_cluster) {
		push_dir(&w, root_cluster, bm_strdup("/"));
	} else if (root_len) {
		uint8_t *buf = bm_malloc((size_t)root_len);
		if (bm_read(fs->vol, buf, (size_t)root_len, root_off) == 0)
			parse_dir(&w, buf, (size_t)root_len, "/");
		else
			bm_warn(fs->ctx, fs->dev, root_off, "cannot read the "
				"root directory; files not mapped");
		free(buf);
	}
	/* Terminates: every directory pushed has a start cluster not seen
	 * before (w.dirs), and there are finitely many clusters. */
	while (w.n) {
		struct dirwork d = w.stack[--w.n];
		walk_dir(&w, d.cluster, d.path);
		free(d.path);
	}
	free(w.stack);
	bm_u64set_free(&w.dirs);
}
