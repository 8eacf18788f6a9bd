/* bmaptool's block map ("bmap") format, version 2.0, for disk 1.
 *
 * The format is the XML that bmap-tools' BmapCreate writes and BmapCopy
 * reads (bmaptools/BmapCopy.py): ImageSize, BlockSize, BlocksCount,
 * MappedBlocksCount, ChecksumType sha256, BmapFileChecksum, then the
 * mapped block ranges "first-last" (inclusive, in BlockSize units), each
 * with the sha256 of its bytes as they are in the image (the last block
 * may be short).  BmapFileChecksum is the sha256 of the whole file with
 * that checksum's own 64 digits written as ASCII zeroes.
 *
 * Which blocks are copied: a block is mapped if it holds any byte of a
 * mapped object other than the whole disk and partitions/LVs
 * (filesystem and layer metadata, file and directory blocks, encrypted
 * payloads, copies and parity).  Bytes that no recognised filesystem or
 * other content covers - gaps between partitions (a boot loader in the
 * MBR gap), unrecognised partitions, free space on LVM PVs - are not
 * understood, so their blocks are copied when they are not all zeroes;
 * so are bytes of a partition past its filesystem's end, and the whole
 * of a filesystem that could not be walked to its end.
 * Free space inside recognised filesystems is not copied: on the target
 * it holds whatever was there (zeroes for a new file).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../sha256.h"

#define BLOCK 4096u
#define CHUNK (1024u * 1024u) /* read size: a multiple of BLOCK */

struct ivl {
	uint64_t a, b; /* [a, b) */
};

struct ivls {
	struct ivl *v;
	size_t n, cap;
};

static void ivl_add(struct ivls *s, uint64_t a, uint64_t b)
{
	if (a >= b)
		return;
	if (s->n && s->v[s->n - 1].b == a) {
		s->v[s->n - 1].b = b; /* extends the last one */
		return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = bm_reallocarray(s->v, s->cap, sizeof *s->v);
	}
	s->v[s->n++] = (struct ivl){ a, b };
}

static int ivl_cmp(const void *x, const void *y)
{
	const struct ivl *p = x, *q = y;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return p->b < q->b ? -1 : p->b > q->b;
}

/* Sort and join overlapping or touching intervals. */
static void ivl_normalize(struct ivls *s)
{
	if (!s->n)
		return;
	bm_qsort(s->v, s->n, sizeof *s->v, ivl_cmp);
	size_t o = 0;
	for (size_t i = 1; i < s->n; i++) {
		if (s->v[i].a <= s->v[o].b) {
			if (s->v[i].b > s->v[o].b)
				s->v[o].b = s->v[i].b;
		} else {
			s->v[++o] = s->v[i];
		}
	}
	s->n = o + 1;
}

static int collect_cb(void *opaque, unsigned disk, uint64_t off,
		      uint64_t len, unsigned flags)
{
	struct ivls *s = opaque;
	if (disk == 1)
		ivl_add(s, off, off + len);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Add to BLOCKS the non-zero blocks of disk D that meet [a, b). */
static int add_nonzero(struct bm_volume *d, uint64_t a, uint64_t b,
		       uint8_t *buf, struct ivls *blocks)
{
	uint64_t pos = a / BLOCK * BLOCK;
	/* Terminates: pos grows by at least one block per round. */
	while (pos < b) {
		uint64_t end = pos + CHUNK < b ? pos + CHUNK : b;
		end = (end + BLOCK - 1) / BLOCK * BLOCK;
		if (end > d->size)
			end = d->size;
		if (bm_read(d, buf, (size_t)(end - pos), pos) < 0) {
			bm_fail(d->ctx, d->dev, pos, "cannot read: %s",
				strerror(errno));
			return -1;
		}
		for (uint64_t p = pos; p < end; p += BLOCK) {
			size_t n = end - p < BLOCK ? (size_t)(end - p) : BLOCK;
			if (!all_zero(buf + (p - pos), n))
				ivl_add(blocks, p / BLOCK, p / BLOCK + 1);
		}
		pos = end;
	}
	return 0;
}

/* The blocks of disk 1 to copy, as sorted block intervals. */
static int mapped_blocks(struct bm_ctx *ctx, struct bm_volume *d,
			 uint8_t *buf, struct ivls *blocks)
{
	size_t nr = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	for (size_t i = 0; i < nr; i++) {
		const struct bm_objinfo *o = bm_object_info(ctx, r[i].obj);
		if (r[i].disk != 1 || strchr("vpl", o->type))
			continue;
		ivl_add(blocks, r[i].start / BLOCK,
			r[i].end / BLOCK + (r[i].end % BLOCK != 0));
	}

	/* What recognised contents cover (in image bytes): a filesystem
	 * only up to its own size (data after it in its partition is
	 * nobody's: a verity hash tree, a shrunk filesystem), and nothing
	 * whose walk stopped early (what it did not map is not known).  A
	 * full map (a budget spent: walkers stopped without a word of
	 * their own) knows no filesystem whole. */
	struct ivls known = { 0 };
	for (struct bm_volume *v = bm_ctx_full(ctx) ? NULL : bm_volumes(ctx);
	     v; v = v->next)
		if (v->prober && !v->walk_failed &&
		    (v->prober->kind == BM_PROBE_FS ||
		     v->prober->kind == BM_PROBE_OTHER))
			bm_volume_map(v, 0,
				      v->fs_size && v->fs_size < v->size
					      ? v->fs_size
					      : v->size,
				      0, collect_cb, &known);
	ivl_normalize(&known);
	int err = 0;
	uint64_t pos = 0;
	for (size_t i = 0; i <= known.n && !err; i++) {
		uint64_t end = i < known.n ? known.v[i].a : d->size;
		if (end > d->size)
			end = d->size;
		if (pos < end)
			err = add_nonzero(d, pos, end, buf, blocks);
		if (i < known.n && known.v[i].b > pos)
			pos = known.v[i].b;
	}
	free(known.v);
	ivl_normalize(blocks);
	return err;
}

static void human_size(struct bm_str *b, uint64_t n)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB" };
	if (n < 1024) {
		bm_str_printf(b, "%llu bytes", (unsigned long long)n);
		return;
	}
	double x = (double)n;
	int u = 0;
	while (x >= 1024 && u < 6) {
		x /= 1024;
		u++;
	}
	bm_str_printf(b, "%.1f %s", x, unit[u]);
}

int bm_write_bmaptool(struct bm_ctx *ctx, FILE *out)
{
	struct bm_volume *d = bm_disk(ctx, 1);
	if (bm_disk_count(ctx) != 1) {
		bm_fail(ctx, NULL, BM_NO_OFFSET, "the bmaptool format "
			"describes one image, not %u", bm_disk_count(ctx));
		errno = EINVAL;
		return -1;
	}
	if (!d || d->size == 0) {
		bm_fail(ctx, d ? d->dev : NULL, BM_NO_OFFSET,
			"bmaptool format: no data to describe");
		errno = EINVAL;
		return -1;
	}
	uint8_t *buf = bm_malloc(CHUNK);
	struct ivls blocks = { 0 };
	if (mapped_blocks(ctx, d, buf, &blocks) < 0) {
		free(buf);
		free(blocks.v);
		errno = EIO;
		return -1;
	}
	uint64_t nblocks = d->size / BLOCK + (d->size % BLOCK != 0);
	uint64_t mapped = 0;
	for (size_t i = 0; i < blocks.n; i++)
		mapped += blocks.v[i].b - blocks.v[i].a;

	struct bm_str x = { 0 };
	bm_str_puts(&x,
		"<?xml version=\"1.0\" ?>\n"
		"<!-- This file contains the block map for an image file: the\n"
		"     blocks that hold data (partition tables, filesystem\n"
		"     metadata, files, directories), which have to be copied to\n"
		"     the target device.  Generated by bmapgen " BM_VERSION
		" from the\n"
		"     image's own partition tables and filesystems. -->\n\n"
		"<bmap version=\"2.0\">\n"
		"    <!-- Image size in bytes: ");
	human_size(&x, d->size);
	bm_str_printf(&x,
		" -->\n    <ImageSize> %llu </ImageSize>\n\n"
		"    <!-- Size of a block in bytes -->\n"
		"    <BlockSize> %u </BlockSize>\n\n"
		"    <!-- Count of blocks in the image file -->\n"
		"    <BlocksCount> %llu </BlocksCount>\n\n"
		"    <!-- Count of mapped blocks: ",
		(unsigned long long)d->size, BLOCK,
		(unsigned long long)nblocks);
	human_size(&x, mapped * BLOCK);
	bm_str_printf(&x,
		" or %.1f%% -->\n"
		"    <MappedBlocksCount> %llu </MappedBlocksCount>\n\n"
		"    <!-- Type of checksum used in this file -->\n"
		"    <ChecksumType> sha256 </ChecksumType>\n\n"
		"    <!-- The checksum of this bmap file. When it is calculated, "
		"the value of\n"
		"         the checksum has be zero (all ASCII \"0\" symbols).  "
		"-->\n"
		"    <BmapFileChecksum> ",
		(double)mapped * 100.0 / (double)nblocks,
		(unsigned long long)mapped);
	size_t cs_pos = x.len;
	bm_str_puts(&x,
		"0000000000000000000000000000000000000000000000000000000000000000"
		" </BmapFileChecksum>\n\n"
		"    <!-- The block map which consists of elements which may "
		"either be a\n"
		"         range of blocks or a single block. The 'chksum' "
		"attribute\n"
		"         (if present) is the checksum of this blocks range. -->\n"
		"    <BlockMap>\n");

	int err = 0;
	for (size_t i = 0; i < blocks.n && !err; i++) {
		uint64_t end = blocks.v[i].b * BLOCK, bad;
		if (end > d->size)
			end = d->size; /* a short last block */
		char hex[65] = "";
		if (bm_volume_sha256(d, blocks.v[i].a * BLOCK, end, buf, CHUNK,
				     hex, &bad) < 0) {
			bm_fail(ctx, d->dev, bad, "cannot read: %s",
				strerror(errno));
			err = -1;
			errno = EIO;
		}
		if (blocks.v[i].b - blocks.v[i].a == 1)
			bm_str_printf(&x, "        <Range chksum=\"%s\"> %llu "
				      "</Range>\n", hex,
				      (unsigned long long)blocks.v[i].a);
		else
			bm_str_printf(&x, "        <Range chksum=\"%s\"> "
				      "%llu-%llu </Range>\n", hex,
				      (unsigned long long)blocks.v[i].a,
				      (unsigned long long)blocks.v[i].b - 1);
	}
	bm_str_puts(&x, "    </BlockMap>\n</bmap>\n");
	if (!err) {
		struct bm_sha256 s;
		uint8_t dg[32];
		char hex[65];
		bm_sha256_init(&s);
		bm_sha256_update(&s, x.s, x.len);
		bm_sha256_final(&s, dg);
		bm_sha256_hex(dg, hex);
		memcpy(x.s + cs_pos, hex, 64);
		if (fwrite(x.s, 1, x.len, out) != x.len)
			err = -1;
	}
	bm_str_free(&x);
	free(blocks.v);
	free(buf);
	return err;
}
