/* Unit tests for the LVM2 layer on PVs built in memory: label and
 * metadata area checksums, metadata text wrapping around the circular
 * buffer, and the striped/linear mapping at every chunk and extent edge
 * (each PV sector is stamped with its own address; reading and mapping an
 * LV byte range must agree with a per-sector computation done here); a
 * writecache LV whose cache table (written here) holds some blocks,
 * replaced, uncommitted and bad entries (4 KiB blocks from the cache's
 * start, and 1 KiB blocks from a start_sector of 3); a dm-cache LV whose pool
 * metadata (written here: version 2 with its dirty bitset, version 1
 * with dirty flags, not shut down cleanly, damaged) holds clean and
 * dirty blocks; a thin LV whose last block is partial (thin-pool
 * metadata written here); an unsupported segment type (vdo) is
 * reported while the rest still maps.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"
#include "layers/lvm/lvm.h"

#define PV_SIZE (4u << 20)
#define MDA_OFF 4096u
#define MDA_SIZE (64u * 1024)
#define PE_START (256u * 1024)
#define EXTENT (64u * 1024)
#define STRIPE (24u * 512) /* not a power of two: dm-stripe allows it */

static const char *meta_text =
	"vg {\n"
	"id = \"aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg\"\n"
	"seqno = 7\n"
	"extent_size = 128\n"
	"physical_volumes {\n"
	"pv0 { id = \"PV0000-0000-0000-0000-0000-0000-000000\"\n"
	"      pe_start = 512 pe_count = 56 }\n"
	"pv1 { id = \"PV1111-1111-1111-1111-1111-1111-111111\"\n"
	"      pe_start = 512 pe_count = 56 }\n"
	"}\n"
	"logical_volumes {\n"
	"lin { status = [\"READ\", \"WRITE\", \"VISIBLE\"] segment_count = 2\n"
	"  segment1 { start_extent = 0 extent_count = 3 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv1\", 5] }\n"
	"  segment2 { start_extent = 3 extent_count = 2 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv0\", 20] }\n"
	"}\n"
	"s3 { status = [\"READ\", \"WRITE\", \"VISIBLE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 9 type = \"striped\"\n"
	"             stripe_count = 3 stripe_size = 24\n"
	"             stripes = [\"pv0\", 0, \"pv1\", 10, \"pv0\", 30] }\n"
	"}\n"
	"wc { status = [\"READ\", \"WRITE\", \"VISIBLE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 4 type = \"writecache\"\n"
	"             writecache = \"fast_cvol\" origin = \"wc_wcorig\"\n"
	"             writecache_block_size = 4096 }\n"
	"}\n"
	"wc_wcorig { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 4 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv0\", 40] }\n"
	"}\n"
	"fast_cvol { status = [\"READ\", \"WRITE\"] flags = [\"CACHE_VOL\"]\n"
	"  segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 2 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv1\", 40] }\n"
	"}\n"
	"dc { status = [\"READ\", \"WRITE\", \"VISIBLE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 4\n"
	"             type = \"cache+METADATA_FORMAT\"\n"
	"             cache_pool = \"dpool\" origin = \"dc_corig\" }\n"
	"}\n"
	"dc_corig { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 4 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv0\", 44] }\n"
	"}\n"
	"dpool { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 2 type = \"cache-pool\"\n"
	"             data = \"dpool_cdata\" metadata = \"dpool_cmeta\"\n"
	"             chunk_size = 64 cache_mode = \"writeback\" }\n"
	"}\n"
	"dpool_cdata { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 2 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv1\", 44] }\n"
	"}\n"
	"dpool_cmeta { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 1 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv1\", 46] }\n"
	"}\n"
	"th { status = [\"READ\", \"WRITE\", \"VISIBLE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 5 type = \"thin\"\n"
	"             thin_pool = \"tpool\" device_id = 1 }\n"
	"}\n"
	"tpool { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 6 type = \"thin-pool\"\n"
	"             metadata = \"tpool_tmeta\" pool = \"tpool_tdata\"\n"
	"             chunk_size = 256 }\n"
	"}\n"
	"tpool_tdata { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 6 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv1\", 47] }\n"
	"}\n"
	"tpool_tmeta { status = [\"READ\", \"WRITE\"] segment_count = 1\n"
	"  segment1 { start_extent = 0 extent_count = 1 type = \"striped\"\n"
	"             stripe_count = 1 stripes = [\"pv1\", 53] }\n"
	"}\n"
	"}\n"
	"}\n"
	"contents = \"Text Format Volume Group\"\nversion = 1\n";

static void make_pv(uint8_t *img, int idx, const char *uuid,
		    const char *text)
{
	memset(img, 0, PV_SIZE);
	/* every sector: its own (pv, offset) stamp */
	for (uint64_t o = PE_START; o < PV_SIZE; o += 512)
		bm_put_le64(img + o, (uint64_t)(idx + 1) << 56 | o);
	uint8_t *l = img + 512;
	memcpy(l, "LABELONE", 8);
	bm_put_le64(l + 8, 1);
	bm_put_le32(l + 20, 32);
	memcpy(l + 24, "LVM2 001", 8);
	uint8_t *ph = l + 32;
	memcpy(ph, uuid, 32);
	bm_put_le64(ph + 32, PV_SIZE);
	bm_put_le64(ph + 40, PE_START); /* data area, then terminator */
	bm_put_le64(ph + 72, MDA_OFF);  /* metadata area, then terminator */
	bm_put_le64(ph + 80, MDA_SIZE);
	bm_put_le32(l + 16, bm_lvm_crc(LVM_INITIAL_CRC, l + 20, 512 - 20));

	/* The text is placed to wrap: 100 bytes at the buffer's end, the
	 * rest right after the header. */
	size_t tlen = strlen(text) + 1;
	uint64_t roff = MDA_SIZE - 100;
	uint8_t *m = img + MDA_OFF;
	memcpy(m + roff, text, 100);
	memcpy(m + 512, text + 100, tlen - 100);
	memcpy(m + 4, " LVM2 x[5A%r0N*>", 16);
	bm_put_le32(m + 20, 1);
	bm_put_le64(m + 24, MDA_OFF);
	bm_put_le64(m + 32, MDA_SIZE);
	bm_put_le64(m + 40, roff);
	bm_put_le64(m + 48, tlen);
	bm_put_le32(m + 56, bm_lvm_crc(LVM_INITIAL_CRC, text, tlen));
	bm_put_le32(m, bm_lvm_crc(LVM_INITIAL_CRC, m + 4, 512 - 4));
}

/* The writecache LV "wc": origin on pv0 at extent 40, cache volume on
 * pv1 at extent 40 (2 extents).  Its block size wc_bs and start_sector
 * wc_start (bytes) are those of the LV's text; wc_nb is the number of
 * cache blocks (dm-writecache fits 31 blocks of 4 KiB and one block of
 * table in 2 extents).  wc_blocks[b] is the cache block holding LV block
 * b, or -1: written by write_wc(), expected by expect(). */
#define WC_CACHE (PE_START + 40 * EXTENT)
static uint64_t wc_bs = 4096, wc_start = 0, wc_nb = 31;
static int wc_blocks[4 * EXTENT / 512];

/* Where the cache's data blocks start on pv1: the table (superblock and
 * entries) is rounded up to a block from the start_sector on. */
static uint64_t wc_data(void)
{
	return WC_CACHE + wc_start + (64 + 16 * wc_nb + wc_bs - 1) / wc_bs * wc_bs;
}

/* Write the cache table into pv1 (IMG).  Entries (block, seq): free
 * entries are all ones; the superblock's seq_count is 10, so entries
 * with seq_count 10 or more are not committed.  BAD adds entries that
 * are not whole blocks of the LV; MAGIC 0 destroys the superblock. */
static void write_wc(uint8_t *img, bool bad, uint32_t magic)
{
	uint8_t *c = img + WC_CACHE;
	uint64_t spb = wc_bs / 512, last = 4 * EXTENT / wc_bs - 1;
	memset(c, 0, wc_data() - WC_CACHE);
	c += wc_start;
	bm_put_le32(c, magic);
	bm_put_le32(c + 4, 1);
	bm_put_le32(c + 8, (uint32_t)wc_bs);
	bm_put_le64(c + 16, wc_nb);
	bm_put_le64(c + 24, 10);
	const struct { uint64_t sector, seq; } e[] = {
		{ 1 * spb, 3 },    /* 0: block 1, replaced by entry 1 */
		{ 1 * spb, 5 },    /* 1: block 1 */
		{ 2 * spb, 10 },   /* 2: block 2, not committed */
		{ 3 * spb, 7 },    /* 3..5: blocks 3, 4, 5 in cache blocks */
		{ 4 * spb, 7 },    /*       3..5 */
		{ 5 * spb, 8 },
		{ last * spb, 1 }, /* 6: the LV's last block */
		{ 0, 2 },          /* 7, 8: block 0 twice with one */
		{ 0, 2 },          /*       seq_count: the later counts */
		{ 9 * spb + 1, 1 }, /* 9: not block-aligned (BAD) */
		{ (last + 1) * spb, 1 }, /* 10: past the LV (BAD) */
		{ 6 * spb, 11 },   /* 11: block 6, not committed */
	};
	for (unsigned i = 0; i < wc_nb; i++) {
		uint64_t sector = UINT64_MAX, seq = UINT64_MAX;
		if (i < sizeof e / sizeof e[0] && (bad || (i != 9 && i != 10))) {
			sector = e[i].sector;
			seq = e[i].seq;
		}
		bm_put_le64(c + 64 + 16 * i, sector);
		bm_put_le64(c + 64 + 16 * i + 8, seq);
	}
	for (size_t b = 0; b < sizeof wc_blocks / sizeof *wc_blocks; b++)
		wc_blocks[b] = -1;
	if (magic == 0x23489321u) {
		wc_blocks[0] = 8;
		wc_blocks[1] = 1;
		wc_blocks[3] = 3;
		wc_blocks[4] = 4;
		wc_blocks[5] = 5;
		wc_blocks[last] = 6;
	}
}

/* The dm-cache LV "dc": 8 blocks of 32 KiB, origin on pv0 at extent 44;
 * the pool's 4 cache blocks on pv1 at extent 44, its metadata (16
 * blocks of 4 KiB) at extent 46.  DC_BLOCKS[b] is the cache block
 * holding LV block b or -1, DC_DIRTY[b] whether it is dirty: written by
 * write_dc(), expected by expect() and check_dc(). */
#define DC_CHUNK 32768u
#define DC_ORIGIN (PE_START + 44 * EXTENT)
#define DC_DATA (PE_START + 44 * EXTENT)
#define DC_META (PE_START + 46 * EXTENT)
static int dc_blocks[8];
static bool dc_dirty[8];
enum dc_case { DC_V2, DC_V2_UNCLEAN, DC_V1, DC_BAD, DC_NO_SB, DC_PARTIAL };

/* Persistent-data blocks of the metadata: a btree leaf (block N) with
 * keys and 8-byte values, one with key 0 -> VAL, or an array block with
 * the 8-byte values V. */
static void pd_leaf(uint8_t *b, uint64_t n, unsigned nr, const uint64_t *keys,
		    const uint64_t *vals)
{
	memset(b, 0, 4096);
	bm_put_le32(b + 4, 2);
	bm_put_le64(b + 8, n);
	bm_put_le32(b + 16, nr);
	bm_put_le32(b + 20, 126);
	bm_put_le32(b + 24, 8);
	for (unsigned i = 0; i < nr; i++) {
		bm_put_le64(b + 32 + 8 * i, keys[i]);
		bm_put_le64(b + 32 + 8 * 126 + 8 * i, vals[i]);
	}
	bm_put_le32(b, bm_pd_csum(b, 121107));
}

static void dc_leaf(uint8_t *b, uint64_t n, uint64_t val)
{
	uint64_t key = 0;
	pd_leaf(b, n, 1, &key, &val);
}

static void dc_array(uint8_t *b, uint64_t n, unsigned nr, const uint64_t *v)
{
	memset(b, 0, 4096);
	bm_put_le32(b + 4, 509);
	bm_put_le32(b + 8, nr);
	bm_put_le32(b + 12, 8);
	bm_put_le64(b + 16, n);
	for (unsigned j = 0; j < nr; j++)
		bm_put_le64(b + 24 + 8 * j, v[j]);
	bm_put_le32(b, bm_pd_csum(b, 595846735));
}

/* Cache blocks: 0 holds LV block 1 (clean), 1 block 3 (dirty), 2 none,
 * 3 block 7 (clean); DC_BAD adds block 8 (past the LV) in 2 and block 1
 * again in 3.  Version 2 keeps the dirty bit in the bitset (block 3 ->
 * 4), version 1 in the mapping's flag 2.  DC_PARTIAL (for a pool with
 * 96 KiB blocks: the LV is 2 of them and 64 KiB) caches the partial
 * third block, which the kernel never does. */
static void write_dc(uint8_t *img, enum dc_case k)
{
	uint8_t *m = img + DC_META;
	memset(m, 0, EXTENT);
	bool v1 = k == DC_V1;
	uint64_t map[4] = { 1 << 16 | 1, 3 << 16 | 1 | (v1 ? 2 : 0), 0,
			    7 << 16 | 1 };
	if (k == DC_BAD) {
		map[2] = 8 << 16 | 1;
		map[3] = 1 << 16 | 1;
	}
	if (k == DC_PARTIAL) {
		map[0] = 2 << 16 | 1;
		map[1] = map[3] = 0;
	}
	uint64_t bits = 2;
	bm_put_le32(m + 4, k == DC_V2_UNCLEAN ? 0 : 1);
	bm_put_le64(m + 32, 06142003);
	bm_put_le32(m + 40, v1 ? 1 : 2);
	bm_put_le64(m + 192, 1);
	bm_put_le32(m + 232, (k == DC_PARTIAL ? 3 : 1) * DC_CHUNK / 512);
	bm_put_le32(m + 236, 8);
	bm_put_le32(m + 240, k == DC_PARTIAL ? 1 : 4);
	bm_put_le64(m + 284, 3);
	if (k != DC_NO_SB)
		bm_put_le32(m, bm_pd_csum(m, 9031977));
	dc_leaf(m + 4096, 1, 2);
	dc_array(m + 2 * 4096, 2, 4, map);
	dc_leaf(m + 3 * 4096, 3, 4);
	dc_array(m + 4 * 4096, 4, 1, &bits);
	for (int b = 0; b < 8; b++) {
		dc_blocks[b] = -1;
		dc_dirty[b] = false;
	}
	if (k == DC_NO_SB || k == DC_PARTIAL)
		return;
	dc_blocks[1] = k == DC_BAD ? 3 : 0;
	dc_blocks[3] = 1;
	dc_dirty[3] = true;
	if (k != DC_BAD)
		dc_blocks[7] = 3;
	if (k == DC_V2_UNCLEAN)
		dc_dirty[1] = dc_dirty[7] = true;
}

/* The thin LV "th": device 1 of the pool "tpool" (data on pv1 at
 * extent 47, blocks of 128 KiB; metadata at extent 53); 5 extents, so
 * its third block is partial, and provisioned like the others.  Its
 * blocks 0, 1, 2 are in data blocks 2, 0, 1. */
#define TH_BLOCK (128u * 1024)
#define TH_DATA (PE_START + 47 * EXTENT)
static const uint64_t th_map[3] = { 2, 0, 1 };

static void write_thin(uint8_t *img)
{
	uint8_t *m = img + PE_START + 53 * EXTENT;
	memset(m, 0, EXTENT);
	bm_put_le64(m + 32, 27022010);
	bm_put_le64(m + 320, 1);
	bm_put_le32(m + 336, TH_BLOCK / 512);
	bm_put_le64(m + 344, 16);
	bm_put_le32(m, bm_pd_csum(m, 160774));
	uint64_t dev = 1, root = 2, keys[3] = { 0, 1, 2 }, vals[3];
	for (int i = 0; i < 3; i++)
		vals[i] = th_map[i] << 24;
	pd_leaf(m + 4096, 1, 1, &dev, &root);
	pd_leaf(m + 2 * 4096, 2, 3, keys, vals);
}

/* Where LV byte OFF lies: disk (1 or 2) and PV byte offset. */
static void expect(const char *lv, uint64_t off, unsigned *disk,
		   uint64_t *poff)
{
	if (strcmp(lv, "th") == 0) {
		*disk = 2;
		*poff = TH_DATA + th_map[off / TH_BLOCK] * TH_BLOCK +
			off % TH_BLOCK;
		return;
	}
	if (strcmp(lv, "dc") == 0) {
		int cb = dc_blocks[off / DC_CHUNK];
		*disk = cb < 0 ? 1 : 2;
		*poff = cb < 0 ? DC_ORIGIN + off
			       : DC_DATA + (uint64_t)cb * DC_CHUNK +
					 off % DC_CHUNK;
		return;
	}
	if (strcmp(lv, "wc") == 0) {
		int cb = wc_blocks[off / wc_bs];
		*disk = cb < 0 ? 1 : 2;
		*poff = cb < 0 ? PE_START + 40 * EXTENT + off
			       : wc_data() + (uint64_t)cb * wc_bs + off % wc_bs;
		return;
	}
	if (strcmp(lv, "lin") == 0) {
		if (off < 3 * EXTENT) {
			*disk = 2;
			*poff = PE_START + 5 * EXTENT + off;
		} else {
			*disk = 1;
			*poff = PE_START + 20 * EXTENT + off - 3 * EXTENT;
		}
		return;
	}
	static const unsigned disks[3] = { 1, 2, 1 };
	static const uint64_t starts[3] = { 0, 10, 30 };
	uint64_t chunk = off / STRIPE, stripe = chunk % 3;
	*disk = disks[stripe];
	*poff = PE_START + starts[stripe] * EXTENT + chunk / 3 * STRIPE +
		off % STRIPE;
}

struct piece {
	unsigned disk;
	uint64_t off, len;
};
struct pieces {
	struct piece p[4096];
	unsigned flags[4096];
	size_t n;
};

static int collect(void *opaque, unsigned disk, uint64_t off, uint64_t len,
		   unsigned flags)
{
	struct pieces *ps = opaque;
	if (ps->n < 4096)
		ps->p[ps->n++] = (struct piece){ disk, off, len };
	return 0;
}

static int collect_flags(void *opaque, unsigned disk, uint64_t off,
			 uint64_t len, unsigned flags)
{
	struct pieces *ps = opaque;
	if (ps->n < 4096) {
		ps->flags[ps->n] = flags;
		ps->p[ps->n++] = (struct piece){ disk, off, len };
	}
	return 0;
}

/* Map every block of "dc" and compare the pieces with the table: the
 * cache alone (dirty), the origin then the cache as a copy (clean),
 * the origin alone (not cached). */
static void check_dc(struct bm_ctx *ctx, const char *what)
{
	struct bm_volume *v = NULL;
	for (struct bm_volume *x = bm_volumes(ctx); x; x = x->next)
		if (strcmp(x->dev, "/dev/vg/dc") == 0)
			v = x;
	CHECK(v != NULL, "%s: /dev/vg/dc not assembled", what);
	if (!v)
		return;
	int bad = 0;
	for (int b = 0; b < 8; b++) {
		struct { unsigned disk; uint64_t off, len; unsigned flags; } p[4];
		size_t n = 0;
		struct pieces *ps = calloc(1, sizeof *ps);
		bm_volume_map(v, b * DC_CHUNK + 512, DC_CHUNK - 1024, 0,
			      collect_flags, ps);
		for (size_t i = 0; i < ps->n && n < 4; i++, n++) {
			p[n].disk = ps->p[i].disk;
			p[n].off = ps->p[i].off;
			p[n].len = ps->p[i].len;
			p[n].flags = ps->flags[i];
		}
		n = ps->n;
		free(ps);
		uint64_t o = DC_ORIGIN + b * DC_CHUNK + 512;
		uint64_t c = DC_DATA + (uint64_t)dc_blocks[b] * DC_CHUNK + 512;
		uint64_t len = DC_CHUNK - 1024;
		if (dc_blocks[b] < 0)
			bad += !(n == 1 && p[0].disk == 1 && p[0].off == o &&
				 p[0].len == len);
		else if (dc_dirty[b])
			bad += !(n == 1 && p[0].disk == 2 && p[0].off == c &&
				 p[0].len == len);
		else
			bad += !(n == 2 && p[0].disk == 1 && p[0].off == o &&
				 !(p[0].flags & BM_RANGE_COPY) &&
				 p[1].disk == 2 && p[1].off == c &&
				 (p[1].flags & BM_RANGE_COPY));
	}
	CHECK(bad == 0, "%s: %d blocks of /dev/vg/dc mapped wrongly", what, bad);
}

static struct bm_volume *find_vol(struct bm_ctx *ctx, const char *dev)
{
	for (struct bm_volume *v = bm_volumes(ctx); v; v = v->next)
		if (strcmp(v->dev, dev) == 0)
			return v;
	return NULL;
}

static void check_lv(struct bm_ctx *ctx, const char *name, uint64_t size)
{
	char dev[32];
	snprintf(dev, sizeof dev, "/dev/vg/%s", name);
	struct bm_volume *v = find_vol(ctx, dev);
	CHECK(v != NULL, "%s not assembled", dev);
	if (!v)
		return;
	CHECK(v->size == size, "%s size 0x%llx", dev,
	      (unsigned long long)v->size);

	/* Read: every sector carries the stamp of where it must be. */
	uint8_t *buf = malloc(v->size);
	CHECK(bm_read(v, buf, v->size, 0) == 0, "read %s", dev);
	int bad = 0;
	for (uint64_t o = 0; o < v->size; o += 512) {
		unsigned d;
		uint64_t p;
		expect(name, o, &d, &p);
		if (bm_le64(buf + o) != ((uint64_t)d << 56 | p))
			bad++;
	}
	CHECK(bad == 0, "%s: %d sectors read from the wrong place", dev, bad);
	free(buf);
	if (strcmp(name, "dc") == 0)
		return; /* (clean blocks map twice: check_dc) */

	/* Map: ranges starting and ending around every chunk edge, byte
	 * granular; pieces must be contiguous with the per-byte answer. */
	static struct pieces ps;
	uint64_t wl = 4 * EXTENT - wc_bs; /* wc's last block */
	uint64_t edges[] = { 0, 1, 511, 512, STRIPE - 1, STRIPE, STRIPE + 1,
			     2 * STRIPE - 1, 3 * STRIPE, 3 * STRIPE + 7,
			     EXTENT - 1, EXTENT, 3 * EXTENT - 1, 3 * EXTENT,
			     3 * EXTENT + 1, wc_bs - 1, wc_bs, 2 * wc_bs + 5,
			     6 * wc_bs - 1, wl - 1, wl };
	size_t ne = sizeof edges / sizeof edges[0];
	bad = 0;
	for (size_t i = 0; i < ne; i++)
		for (uint64_t len = 1; len < 4 * STRIPE; len += STRIPE / 3) {
			uint64_t off = edges[i];
			if (off + len > v->size)
				continue;
			ps.n = 0;
			if (bm_volume_map(v, off, len, 0, collect, &ps) < 0) {
				bad++;
				continue;
			}
			uint64_t pos = off;
			for (size_t k = 0; k < ps.n; k++) {
				unsigned d;
				uint64_t p;
				expect(name, pos, &d, &p);
				/* the piece must start where POS is and not
				 * cross a place where the answer jumps */
				if (ps.p[k].disk != d || ps.p[k].off != p)
					bad++;
				uint64_t last = pos + ps.p[k].len - 1;
				expect(name, last, &d, &p);
				if (ps.p[k].disk != d ||
				    ps.p[k].off + ps.p[k].len - 1 != p)
					bad++;
				pos += ps.p[k].len;
			}
			if (pos != off + len)
				bad++;
		}
	CHECK(bad == 0, "%s: %d mapping errors", dev, bad);
}

/* Both PVs with the metadata TEXT, and on pv1 the thin-pool, writecache
 * and dm-cache (case K) metadata. */
static void make_pvs(uint8_t *a, uint8_t *b, const char *text,
		     enum dc_case k)
{
	make_pv(a, 0, "PV" "000000000000000000000000000000", text);
	make_pv(b, 1, "PV" "111111111111111111111111111111", text);
	write_thin(b);
	write_wc(b, false, 0x23489321u);
	write_dc(b, k);
}

/* meta_text with the LV section LV inserted before the one starting
 * with ANCHOR (to be freed). */
static char *with_lv(const char *anchor, const char *lv)
{
	const char *at = strstr(meta_text, anchor);
	return bm_asprintf("%.*s%s%s", (int)(at - meta_text), meta_text, lv,
			   at);
}

/* A new context with the two PVs probed and their VG assembled. */
static struct bm_ctx *assemble(uint8_t *a, uint8_t *b, const char *what)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	struct bm_volume *va = bm_volume_memory(ctx, a, PV_SIZE, "/dev/sda", 1);
	struct bm_volume *vb = bm_volume_memory(ctx, b, PV_SIZE, "/dev/sdb", 2);
	CHECK(bm_probe_volume(va) == &bm_lvm_prober, "%s: PV a not recognised",
	      what);
	CHECK(bm_probe_volume(vb) == &bm_lvm_prober, "%s: PV b not recognised",
	      what);
	CHECK(bm_lvm_prober.assemble(ctx) > 0, "%s: VG not assembled", what);
	return ctx;
}

int main(void)
{
	uint8_t *a = malloc(PV_SIZE), *b = malloc(PV_SIZE);
	make_pvs(a, b, meta_text, DC_V2);

	/* CRC against a value lvm2 wrote (a label sector of a real PV is
	 * checked by the image tests; here a known vector): the CRC of no
	 * bytes is the initial value. */
	CHECK(bm_lvm_crc(LVM_INITIAL_CRC, "", 0) == LVM_INITIAL_CRC, "crc");

	struct bm_ctx *ctx = assemble(a, b, "clean");
	check_lv(ctx, "lin", 5 * EXTENT);
	check_lv(ctx, "s3", 9 * EXTENT);
	check_lv(ctx, "wc", 4 * EXTENT);
	check_lv(ctx, "dc", 4 * EXTENT);
	check_dc(ctx, "dm-cache v2");
	check_lv(ctx, "th", 5 * EXTENT);
	CHECK(bm_ctx_status(ctx) == BM_OK, "warnings: status %d",
	      bm_ctx_status(ctx));
	bm_ctx_free(ctx);

	/* Entries that are no whole block of the LV are reported and
	 * ignored; a cache without its superblock is reported and the LV
	 * mapped through its origin. */
	for (int k = 0; k < 2; k++) {
		write_wc(b, k == 0, k == 0 ? 0x23489321u : 0);
		ctx = assemble(a, b, "writecache");
		check_lv(ctx, "wc", 4 * EXTENT);
		check_lv(ctx, "lin", 5 * EXTENT);
		CHECK(bm_ctx_status(ctx) == BM_WARN,
		      "writecache case %d not reported", k);
		bm_ctx_free(ctx);
	}
	write_wc(b, false, 0x23489321u);

	/* A writecache with 1 KiB blocks whose table starts at sector 3 of
	 * the cache volume (lvm2 passes start_sector as a free-form
	 * setting): the data blocks follow the table rounded up to a block
	 * from there. */
	char *t5 = bm_strdup(meta_text);
	const char *wbs = "writecache_block_size = 4096 }";
	char *at = strstr(t5, wbs);
	char *t6 = bm_asprintf("%.*swritecache_block_size = 1024\n"
			       "writecache_setting_key = \"start_sector\"\n"
			       "writecache_setting_val = \"3\" }%s",
			       (int)(at - t5), t5, at + strlen(wbs));
	wc_bs = 1024;
	wc_start = 3 * 512;
	wc_nb = 100;
	make_pvs(a, b, t6, DC_V2);
	ctx = assemble(a, b, "writecache 1 KiB, start_sector 3");
	check_lv(ctx, "wc", 4 * EXTENT);
	check_lv(ctx, "lin", 5 * EXTENT);
	CHECK(bm_ctx_status(ctx) == BM_OK, "writecache 1 KiB: status %d",
	      bm_ctx_status(ctx));
	bm_ctx_free(ctx);
	free(t5);
	free(t6);
	wc_bs = 4096;
	wc_start = 0;
	wc_nb = 31;
	make_pvs(a, b, meta_text, DC_V2);

	/* dm-cache: without a clean shutdown every block is dirty (in
	 * writeback mode); version 1 has dirty flags; an origin block past
	 * the LV and one cached twice are reported (the later cache block
	 * counts); without a superblock the LV maps through its origin. */
	static const struct {
		enum dc_case k;
		const char *what;
		int status;
	} dcs[] = {
		{ DC_V2_UNCLEAN, "dm-cache unclean", BM_OK },
		{ DC_V1, "dm-cache v1", BM_OK },
		{ DC_BAD, "dm-cache bad entries", BM_WARN },
		{ DC_NO_SB, "dm-cache without superblock", BM_WARN },
	};
	for (size_t i = 0; i < sizeof dcs / sizeof dcs[0]; i++) {
		write_dc(b, dcs[i].k);
		ctx = assemble(a, b, dcs[i].what);
		check_lv(ctx, "dc", 4 * EXTENT);
		check_dc(ctx, dcs[i].what);
		check_lv(ctx, "lin", 5 * EXTENT);
		CHECK(bm_ctx_status(ctx) == dcs[i].status, "%s: status %d",
		      dcs[i].what, bm_ctx_status(ctx));
		bm_ctx_free(ctx);
	}
	write_dc(b, DC_V2);

	/* A partial last origin block is never cached: an entry naming it
	 * is reported and the LV maps through its origin there. */
	char *t4 = bm_strdup(meta_text);
	memcpy(strstr(t4, "chunk_size = 64 "), "chunk_size = 192", 16);
	make_pvs(a, b, t4, DC_PARTIAL);
	ctx = assemble(a, b, "dm-cache partial block");
	check_lv(ctx, "dc", 4 * EXTENT);
	check_dc(ctx, "dm-cache partial block");
	CHECK(bm_ctx_status(ctx) == BM_WARN, "partial block not reported");
	bm_ctx_free(ctx);
	free(t4);
	make_pvs(a, b, meta_text, DC_V2);

	/* A second writecache LV naming the same cache volume (lvm2 never
	 * writes that): reported, and the first keeps its table. */
	char *t3 = with_lv("dc {",
			   "wc2 { status = [\"READ\", \"VISIBLE\"] "
			   "segment_count = 1 segment1 { start_extent = 0 "
			   "extent_count = 4 type = \"writecache\" "
			   "writecache = \"fast_cvol\" origin = \"wc_wcorig\" "
			   "writecache_block_size = 4096 } }\n");
	make_pvs(a, b, t3, DC_V2);
	ctx = assemble(a, b, "shared cache volume");
	check_lv(ctx, "wc", 4 * EXTENT);
	CHECK(bm_ctx_status(ctx) == BM_WARN, "shared cache volume not reported");
	bm_ctx_free(ctx);
	free(t3);

	/* An unsupported segment type (vdo) is reported as not mapped; the
	 * other LVs still map. */
	char *t2 = with_lv("lin {",
			   "vd { status = [\"READ\", \"VISIBLE\"] "
			   "segment_count = 1 segment1 { start_extent = 0 "
			   "extent_count = 2 type = \"vdo\" } }\n");
	make_pvs(a, b, t2, DC_V2);
	ctx = assemble(a, b, "vdo");
	CHECK(bm_ctx_status(ctx) == BM_WARN, "vdo segment not reported");
	check_lv(ctx, "lin", 5 * EXTENT);
	bm_ctx_free(ctx);
	free(t2);

	/* A damaged text checksum: the PV is reported, no VG is built. */
	a[MDA_OFF + 600] ^= 1;
	b[MDA_OFF + 600] ^= 1;
	ctx = bm_ctx_new(NULL);
	struct bm_volume *va = bm_volume_memory(ctx, a, PV_SIZE, "/dev/sda", 1);
	struct bm_volume *vb = bm_volume_memory(ctx, b, PV_SIZE, "/dev/sdb", 2);
	bm_probe_volume(va);
	bm_probe_volume(vb);
	CHECK(bm_lvm_prober.assemble(ctx) == 0, "VG from a bad checksum");
	CHECK(bm_ctx_status(ctx) == BM_WARN, "no warning for bad checksum");
	bm_ctx_free(ctx);
	free(a);
	free(b);
	CHECK_DONE();
}
