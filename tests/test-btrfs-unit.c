/* Unit tests for the btrfs walker's pure parts: xxhash64 (reference
 * vectors of the XXH64 specification / libxxhash), superblock checks
 * (crc32c and xxhash64 checksums, field ranges), and the chunk RAID math
 * (RAID5 rotation, RAID10 groups, DUP copies, parity units) on memory
 * devices, with expected offsets worked out by hand from the kernel's
 * btrfs_map_block rules.  Image-level behaviour is in test-btrfs.sh.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"
#include "parsers/btrfs/btrfs.h"

#define KiB 1024ull
#define MiB (1024ull * 1024ull)

static void test_xxh64(void)
{
	char hundred[101];
	for (int i = 0; i < 100; i++)
		hundred[i] = (char)('0' + i % 10);
	CHECK(bm_btrfs_xxh64("", 0, 0) == 0xef46db3751d8e999ull, "empty");
	CHECK(bm_btrfs_xxh64("a", 1, 0) == 0xd24ec4f1a98c6e5bull, "a");
	CHECK(bm_btrfs_xxh64("abc", 3, 0) == 0x44bc2cf5ad770999ull, "abc");
	CHECK(bm_btrfs_xxh64(hundred, 100, 0) == 0xf80e7b96315afffaull,
	      "100 bytes");
}

static void test_blake2b(void)
{
	/* RFC 7693 / Python hashlib.blake2b(digest_size=32) values */
	static const char *want[3] = {
		"0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8",
		"bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319",
		"f1551feeb252c7e60bb362205bd1ac2f70b145260a91d41e8c5d0a187549a5f2",
	};
	uint8_t buf[1024], d[32];
	char hex[65];

	for (int i = 0; i < 1024; i++)
		buf[i] = (uint8_t)i;
	for (int t = 0; t < 3; t++) {
		if (t == 0)
			bm_btrfs_blake2b256("", 0, d);
		else if (t == 1)
			bm_btrfs_blake2b256("abc", 3, d);
		else
			bm_btrfs_blake2b256(buf, sizeof buf, d);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		CHECK(strcmp(hex, want[t]) == 0, "blake2b vector %d: %s", t, hex);
	}
}

static void make_super(uint8_t *sb, unsigned csum_type)
{
	memset(sb, 0, BTRFS_SUPER_SIZE);
	memset(sb + SB_FSID, 0x11, 16);
	bm_put_le64(sb + SB_BYTENR, BTRFS_SUPER_OFF);
	memcpy(sb + SB_MAGIC, "_BHRfS_M", 8);
	bm_put_le64(sb + SB_NUM_DEVICES, 1);
	bm_put_le32(sb + SB_SECTORSIZE, 4096);
	bm_put_le32(sb + SB_NODESIZE, 16384);
	bm_put_le32(sb + SB_SYS_ARRAY_SIZE, KEY_SIZE + CHUNK_HDR + STRIPE_SIZE);
	bm_put_le16(sb + SB_CSUM_TYPE, (uint16_t)csum_type);
	bm_put_le64(sb + SB_DEV_ITEM + DI_DEVID, 1);
	memset(sb + SB_DEV_ITEM + DI_FSID, 0x11, 16);
	if (csum_type == BTRFS_CSUM_CRC32C)
		bm_put_le32(sb, bm_crc32c(0, sb + 32, BTRFS_SUPER_SIZE - 32));
	else
		bm_put_le64(sb, bm_btrfs_xxh64(sb + 32, BTRFS_SUPER_SIZE - 32, 0));
}

static void test_super(void)
{
	uint8_t *sb = malloc(BTRFS_SUPER_SIZE);
	struct bm_btrfs_super s;
	const char *why = NULL;

	for (unsigned t = 0; t < 2; t++) {
		make_super(sb, t);
		CHECK(bm_btrfs_parse_super(sb, BTRFS_SUPER_OFF, &s, &why) == 0,
		      "csum type %u: %s", t, why);
		CHECK(s.csum_verified && s.nodesize == 16384, "fields");
		CHECK(bm_btrfs_parse_super(sb, 64 * MiB, &s, &why) < 0,
		      "bytenr of another mirror accepted");
		sb[0x12b] ^= 1; /* a byte of the label */
		CHECK(bm_btrfs_parse_super(sb, BTRFS_SUPER_OFF, &s, &why) < 0 &&
			      strstr(why, "checksum"),
		      "corruption not caught (csum type %u)", t);
	}
	/* a node size that is not a power of two */
	make_super(sb, 0);
	bm_put_le32(sb + SB_NODESIZE, 12288);
	bm_put_le32(sb, bm_crc32c(0, sb + 32, BTRFS_SUPER_SIZE - 32));
	CHECK(bm_btrfs_parse_super(sb, BTRFS_SUPER_OFF, &s, &why) < 0,
	      "node size 12288 accepted");
	/* blake2b with a wrong checksum */
	make_super(sb, 0);
	bm_put_le16(sb + SB_CSUM_TYPE, BTRFS_CSUM_BLAKE2);
	CHECK(bm_btrfs_parse_super(sb, BTRFS_SUPER_OFF, &s, &why) < 0,
	      "blake2b superblock with a crc32c checksum");
	free(sb);
}

/* A chunk item with NS stripes on devids 1.. at OFFS. */
static size_t chunk_item(uint8_t *it, uint64_t len, uint64_t type, unsigned ns,
			 unsigned sub, const uint64_t *devids, const uint64_t *offs)
{
	memset(it, 0, CHUNK_HDR + ns * STRIPE_SIZE);
	bm_put_le64(it + CH_LENGTH, len);
	bm_put_le64(it + CH_STRIPE_LEN, 64 * KiB);
	bm_put_le64(it + CH_TYPE, type);
	bm_put_le16(it + CH_NUM_STRIPES, (uint16_t)ns);
	bm_put_le16(it + CH_SUB_STRIPES, (uint16_t)sub);
	for (unsigned i = 0; i < ns; i++) {
		bm_put_le64(it + CHUNK_HDR + i * STRIPE_SIZE, devids[i]);
		bm_put_le64(it + CHUNK_HDR + i * STRIPE_SIZE + 8, offs[i]);
	}
	return CHUNK_HDR + ns * STRIPE_SIZE;
}

static bool has_range(struct bm_ctx *ctx, unsigned disk, uint64_t s,
		      uint64_t e, const char *path)
{
	size_t n = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	for (size_t i = 0; i < n; i++) {
		const struct bm_objinfo *o = bm_object_info(ctx, r[i].obj);
		if (r[i].disk == disk && r[i].start <= s && r[i].end >= e &&
		    o->path && strcmp(o->path, path) == 0)
			return true;
	}
	return false;
}

static void test_raid(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	uint8_t *mem = calloc(4, 2 * MiB);
	struct bm_btrfs_fs *fs = calloc(1, sizeof *fs);
	uint8_t it[CHUNK_HDR + 4 * STRIPE_SIZE];
	const uint64_t ids[4] = { 1, 2, 3, 4 };
	const uint64_t offs5[3] = { 0x10000, 0x20000, 0x30000 };
	const uint64_t offs10[4] = { 0x100000, 0x100000, 0x100000, 0x100000 };
	const uint64_t offsdup[2] = { 0x180000, 0x1c0000 }, iddup[2] = { 1, 1 };
	struct bm_btrfs_loc l[BTRFS_MAX_LOCS];
	uint64_t piece;
	const char *why = NULL;
	unsigned n;
	size_t sz;

	fs->ctx = ctx;
	fs->dev = strdup("/dev/sda");
	fs->ndevs = 4;
	fs->devs = calloc(4, sizeof *fs->devs);
	for (unsigned i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof name, "/dev/sd%c", 'a' + i);
		fs->devs[i].devid = i + 1;
		fs->devs[i].vol = bm_volume_memory(ctx, mem + i * 2 * MiB,
						   2 * MiB, name, i + 1);
	}

	/* RAID5 over 3 devices, 3 rows of 2 data units. */
	sz = chunk_item(it, 384 * KiB, BTRFS_BG_DATA | BTRFS_BG_RAID5, 3, 1,
			ids, offs5);
	CHECK(bm_btrfs_add_chunk(fs, 1 * MiB, it, sz, &why) == 0, "raid5: %s", why);
	n = bm_btrfs_resolve(fs, 1 * MiB, 1 * MiB, l, &piece);
	CHECK(n == 2 && l[0].devid == 1 && l[0].phys == 0x10000 &&
		      l[1].devid == 3 && l[1].phys == 0x30000 &&
		      (l[1].flags & BM_RANGE_PARITY) && piece == 64 * KiB,
	      "raid5 row 0 unit 0");
	n = bm_btrfs_resolve(fs, 1 * MiB + 128 * KiB, 1, l, &piece);
	CHECK(n == 2 && l[0].devid == 2 && l[0].phys == 0x30000 &&
		      l[1].devid == 1 && l[1].phys == 0x20000,
	      "raid5 row 1 rotates: data on devid %llu", (unsigned long long)l[0].devid);
	n = bm_btrfs_resolve(fs, 1 * MiB + 192 * KiB + 5, 1, l, &piece);
	CHECK(n == 2 && l[0].devid == 3 && l[0].phys == 0x40005, "raid5 row 1 unit 1");

	/* RAID10 over 4 devices: unit 1 on the second mirror pair. */
	sz = chunk_item(it, 512 * KiB, BTRFS_BG_DATA | BTRFS_BG_RAID10, 4, 2,
			ids, offs10);
	CHECK(bm_btrfs_add_chunk(fs, 2 * MiB, it, sz, &why) == 0, "raid10: %s", why);
	n = bm_btrfs_resolve(fs, 2 * MiB + 64 * KiB, 1, l, &piece);
	CHECK(n == 2 && l[0].devid == 3 && l[1].devid == 4 &&
		      l[0].phys == 0x100000 && (l[1].flags & BM_RANGE_COPY),
	      "raid10 unit 1");
	n = bm_btrfs_resolve(fs, 2 * MiB + 128 * KiB, 1, l, &piece);
	CHECK(n == 2 && l[0].devid == 1 && l[1].devid == 2 &&
		      l[0].phys == 0x110000, "raid10 unit 2");

	/* DUP on devid 1 */
	sz = chunk_item(it, 256 * KiB, BTRFS_BG_METADATA | BTRFS_BG_DUP, 2, 1,
			iddup, offsdup);
	CHECK(bm_btrfs_add_chunk(fs, 3 * MiB, it, sz, &why) == 0, "dup: %s", why);
	/* overlapping and malformed chunks are refused */
	CHECK(bm_btrfs_add_chunk(fs, 3 * MiB + 4096, it, sz, &why) < 0, "overlap");
	sz = chunk_item(it, 256 * KiB, BTRFS_BG_DATA | BTRFS_BG_RAID10, 4, 0,
			ids, offs10);
	CHECK(bm_btrfs_add_chunk(fs, 8 * MiB, it, sz, &why) < 0, "raid10 sub 0");

	/* Through the logical volume: data to every copy, parity apart. */
	struct bm_volume *lv = bm_btrfs_logical_volume(fs, fs->devs[0].vol);
	bm_emit(lv, 1 * MiB, 256 * KiB, bm_object(ctx, 'f', "/dev/sda", "/r5"));
	bm_emit(lv, 3 * MiB + 4096, 4096, bm_object(ctx, 'm', "/dev/sda", "dup"));
	bm_btrfs_emit_parity(fs);
	CHECK(has_range(ctx, 1, 0x10000, 0x20000, "/r5") &&
		      has_range(ctx, 2, 0x20000, 0x30000, "/r5") &&
		      has_range(ctx, 2, 0x30000, 0x40000, "/r5") &&
		      has_range(ctx, 3, 0x40000, 0x50000, "/r5"),
	      "raid5 data units");
	/* rows 0 and 1 hold data, row 2 nothing: its parity is not mapped */
	CHECK(!has_range(ctx, 3, 0x30000, 0x30001, "/r5") &&
		      has_range(ctx, 3, 0x30000, 0x40000, "btrfs raid parity") &&
		      has_range(ctx, 1, 0x20000, 0x30000, "btrfs raid parity") &&
		      !has_range(ctx, 2, 0x40000, 0x40001, "btrfs raid parity"),
	      "raid5 parity units");
	CHECK(has_range(ctx, 1, 0x181000, 0x182000, "dup") &&
		      has_range(ctx, 1, 0x1c1000, 0x1c2000, "dup"),
	      "dup copies");
	bm_ctx_free(ctx); /* frees FS with the logical volume */
	free(mem);
}

/* Chunks that run past the end of their device (2 MiB here): a crafted
 * RAID0 chunk of 2^62 bytes on one device, and a SINGLE chunk of 4 MiB
 * at 1 MiB (a truncated image), are mapped as far as the device goes;
 * mapping 2^61 bytes of the first ends at once (it used to walk every
 * 64 KiB stripe unit).  A chunk on a missing device maps nothing. */
static void test_past_device(void)
{
	struct bm_options quiet = { .verbose = -1 };
	struct bm_ctx *ctx = bm_ctx_new(&quiet);
	uint8_t *mem = calloc(1, 2 * MiB);
	struct bm_btrfs_fs *fs = calloc(1, sizeof *fs);
	uint8_t it[CHUNK_HDR + STRIPE_SIZE];
	const uint64_t id1 = 1, id9 = 9, off0 = 0x10000, off1 = 1 * MiB;
	struct bm_btrfs_loc l[BTRFS_MAX_LOCS];
	uint64_t piece;
	const char *why = NULL;
	size_t sz;

	fs->ctx = ctx;
	fs->dev = strdup("/dev/sda");
	fs->ndevs = 1;
	fs->devs = calloc(1, sizeof *fs->devs);
	fs->devs[0].devid = 1;
	fs->devs[0].vol = bm_volume_memory(ctx, mem, 2 * MiB, "/dev/sda", 1);

	sz = chunk_item(it, 1ull << 62, BTRFS_BG_DATA | BTRFS_BG_RAID0, 1, 1,
			&id1, &off0);
	CHECK(bm_btrfs_add_chunk(fs, 1ull << 40, it, sz, &why) == 0, "huge: %s",
	      why);
	CHECK(bm_btrfs_resolve(fs, (1ull << 40) + 2 * MiB - 128 * KiB, 1, l,
			       &piece) == 1 && l[0].phys == 2 * MiB - 64 * KiB,
	      "huge: last whole stripe unit on the device");
	CHECK(bm_btrfs_resolve(fs, (1ull << 40) + 2 * MiB - 64 * KiB, 1, l,
			       &piece) == 0, "huge: past the device");
	sz = chunk_item(it, 4 * MiB, BTRFS_BG_DATA, 1, 1, &id1, &off1);
	CHECK(bm_btrfs_add_chunk(fs, 1 * MiB, it, sz, &why) == 0, "cut: %s", why);
	CHECK(bm_btrfs_resolve(fs, 2 * MiB - 1, 2, l, &piece) == 1 &&
		      l[0].phys == 2 * MiB - 1 && piece == 1,
	      "cut: mapped up to the device's end");
	CHECK(bm_btrfs_resolve(fs, 2 * MiB, 1, l, &piece) == 0,
	      "cut: past the device");
	sz = chunk_item(it, 1 * MiB, BTRFS_BG_DATA, 1, 1, &id9, &off0);
	CHECK(bm_btrfs_add_chunk(fs, 8 * MiB, it, sz, &why) == 0, "missing: %s",
	      why);
	CHECK(bm_btrfs_resolve(fs, 8 * MiB, 1, l, &piece) == 0,
	      "missing device: nothing");

	struct bm_volume *lv = bm_btrfs_logical_volume(fs, fs->devs[0].vol);
	bm_emit(lv, 1ull << 40, 1ull << 61,
		bm_object(ctx, 'f', "/dev/sda", "/huge"));
	CHECK(has_range(ctx, 1, 0x10000, 2 * MiB, "/huge"),
	      "huge: mapped on the device");
	CHECK(bm_ctx_status(ctx) == BM_WARN, "past the device: not reported");
	bm_ctx_free(ctx);
	free(mem);
}

int main(void)
{
	test_xxh64();
	test_blake2b();
	test_super();
	test_raid();
	test_past_device();
	CHECK_DONE();
}
