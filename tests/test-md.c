/* Unit tests for md superblocks and assembly (src/layers/md.c) on
 * members built in memory: 1.x and 0.90 (both byte orders) superblocks
 * written here field by field from md_p.h, checksums included; naming;
 * degraded assembly; a 0.90 superblock seen through the whole disk as
 * well as through its last partition. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static const uint8_t UUID[16] = { 1, 2, 3, 4, 5, 6, 7, 8,
				  9, 10, 11, 12, 13, 14, 15, 16 };

struct sb1 {
	int minor, level, layout;
	unsigned raid_disks, dev_number, max_dev;
	uint32_t chunk_sectors;
	uint64_t size, data_offset, data_size, events; /* sectors */
	uint32_t features, bitmap_offset; /* bitmap_offset: signed sectors */
	uint16_t ppl_offset, ppl_size;    /* ppl_offset: signed sectors */
	uint64_t super_offset_add; /* added to the right super_offset */
	const char *name;
	uint16_t roles[16];
};

/* Write a 1.MINOR superblock onto DEV (DEVSIZE bytes). */
static void put_sb1(uint8_t *dev, uint64_t devsize, const struct sb1 *s)
{
	uint64_t off = s->minor == 1 ? 0 : s->minor == 2 ? 4096
				       : ((devsize - 8192) & ~4095ull);
	uint8_t *b = dev + off;
	memset(b, 0, 1024);
	bm_put_le32(b, 0xa92b4efc);
	bm_put_le32(b + 4, 1);
	memcpy(b + 16, UUID, 16);
	strncpy((char *)b + 32, s->name, 32);
	bm_put_le64(b + 64, 1700000000);
	bm_put_le32(b + 72, (uint32_t)s->level);
	bm_put_le32(b + 76, (uint32_t)s->layout);
	bm_put_le64(b + 80, s->size);
	bm_put_le32(b + 88, s->chunk_sectors);
	bm_put_le32(b + 92, s->raid_disks);
	bm_put_le32(b + 8, s->features);
	if (s->features & 1)
		bm_put_le32(b + 96, s->bitmap_offset);
	if (s->features & 1024) {
		bm_put_le16(b + 96, s->ppl_offset);
		bm_put_le16(b + 98, s->ppl_size);
	}
	bm_put_le64(b + 128, s->data_offset);
	bm_put_le64(b + 136, s->data_size);
	bm_put_le64(b + 144, off / 512 + s->super_offset_add);
	bm_put_le32(b + 160, s->dev_number);
	bm_put_le64(b + 200, s->events);
	bm_put_le32(b + 220, s->max_dev);
	for (unsigned i = 0; i < s->max_dev; i++)
		bm_put_le16(b + 256 + 2 * i, s->roles[i]);
	uint64_t sum = 0;
	size_t size = 256 + 2 * s->max_dev, i;
	for (i = 0; i + 4 <= size; i += 4)
		sum += bm_le32(b + i);
	if (size - i == 2)
		sum += bm_le16(b + i);
	bm_put_le32(b + 216, (uint32_t)((sum & 0xffffffff) + (sum >> 32)));
}

static void put32(uint8_t *b, unsigned word, uint32_t v, bool be)
{
	uint8_t *p = b + 4 * word;
	if (be) {
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
	} else {
		bm_put_le32(p, v);
	}
}

/* A 0.90 superblock at the end of DEV: LEVEL, RAID_DISKS members, this
 * one number NR (raid_disk NR), SIZE_KB per member. */
static void put_sb090(uint8_t *dev, uint64_t devsize, bool be, int level,
		      unsigned raid_disks, unsigned nr, uint32_t size_kb,
		      uint32_t chunk, uint64_t events)
{
	uint64_t off = (devsize & ~(uint64_t)(64 * KiB - 1)) - 64 * KiB;
	uint8_t *b = dev + off;
	memset(b, 0, 4096);
	put32(b, 0, 0xa92b4efc, be);
	put32(b, 2, 90, be);
	put32(b, 5, 0x11111111, be);
	put32(b, 6, 1700000000, be);
	put32(b, 7, (uint32_t)level, be);
	put32(b, 8, size_kb, be);
	put32(b, 9, raid_disks, be);
	put32(b, 10, raid_disks, be);
	put32(b, 13, 0x22222222, be);
	put32(b, 14, 0x33333333, be);
	put32(b, 15, 0x44444444, be);
	/* events in the writer's u64 order: lo word first on LE */
	put32(b, 39, be ? (uint32_t)(events >> 32) : (uint32_t)events, be);
	put32(b, 40, be ? (uint32_t)events : (uint32_t)(events >> 32), be);
	put32(b, 64, 2, be); /* left-symmetric */
	put32(b, 65, chunk, be);
	for (unsigned i = 0; i < raid_disks; i++) {
		put32(b, 128 + 32 * i, i, be);
		put32(b, 128 + 32 * i + 3, i, be);
		put32(b, 128 + 32 * i + 4, 6, be); /* active, sync */
	}
	put32(b, 992, nr, be); /* this_disk */
	put32(b, 992 + 3, nr, be);
	put32(b, 992 + 4, 6, be);
	uint64_t sum = 0;
	for (unsigned i = 0; i < 1024; i++)
		sum += be ? bm_be32(b + 4 * i) : bm_le32(b + 4 * i);
	put32(b, 38, (uint32_t)((sum & 0xffffffff) + (sum >> 32)), be);
}

/* First and last byte (exclusive) and piece count of object TYPE/DEV/PATH
 * on DISK. */
static int find(struct bm_ctx *ctx, char type, const char *dev,
		const char *path, unsigned disk, uint64_t *s, uint64_t *e)
{
	size_t n = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	int pieces = 0;
	for (size_t i = 0; i < n; i++) {
		const struct bm_objinfo *o = bm_object_info(ctx, r[i].obj);
		if (r[i].disk != disk || o->type != type ||
		    strcmp(o->dev, dev) != 0 ||
		    (path == NULL) != (o->path == NULL) ||
		    (path && strcmp(path, o->path) != 0))
			continue;
		if (!pieces)
			*s = r[i].start;
		*e = r[i].end;
		pieces++;
	}
	return pieces;
}

/* Ranges of DEV's 'l' object on DISK with the parity flag: count, and
 * the first one. */
static int parity(struct bm_ctx *ctx, const char *dev, unsigned disk,
		  uint64_t *s, uint64_t *e)
{
	size_t n = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct bm_objinfo *o = bm_object_info(ctx, r[i].obj);
		if (r[i].disk != disk || o->type != 'l' ||
		    strcmp(o->dev, dev) != 0 || !(r[i].flags & BM_RANGE_PARITY))
			continue;
		if (!k++) {
			*s = r[i].start;
			*e = r[i].end;
		}
	}
	return k;
}

static void test_sb1_raid1(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	uint8_t *d[2];
	struct bm_volume *v[2];
	for (int i = 0; i < 2; i++) {
		d[i] = calloc(1, MiB);
		struct sb1 s = { .minor = 2, .level = 1, .raid_disks = 2,
				 .dev_number = (unsigned)i, .max_dev = 2,
				 .size = 1000, .data_offset = 16,
				 .data_size = 2048 - 16, .events = 5,
				 .name = "host:root", .roles = { 0, 1 } };
		put_sb1(d[i], MiB, &s);
		/* the array holds a DOS partition table: sectors 1-100 */
		uint8_t *mbr = d[i] + 8192;
		mbr[446 + 4] = 0x83;
		bm_put_le32(mbr + 446 + 8, 1);
		bm_put_le32(mbr + 446 + 12, 100);
		mbr[510] = 0x55;
		mbr[511] = 0xaa;
		v[i] = bm_volume_memory(ctx, d[i], MiB, i ? "/dev/sdb" : "/dev/sda",
					(unsigned)i + 1);
		bm_probe_volume(v[i]);
	}
	bm_map_all(ctx);
	uint64_t s, e;
	for (unsigned disk = 1; disk <= 2; disk++) {
		CHECK(find(ctx, 'l', "/dev/md/root", NULL, disk, &s, &e) == 1 &&
			      s == 8192 && e == 8192 + 1000 * 512,
		      "raid1 1.2 footprint on disk %u: 0x%llx-0x%llx", disk,
		      (unsigned long long)s, (unsigned long long)e);
		CHECK(find(ctx, 'm', disk == 1 ? "/dev/sda" : "/dev/sdb",
			   "md superblock", disk, &s, &e) == 1 &&
			      s == 4096 && e == 4096 + 512,
		      "1.2 superblock");
	}
	CHECK(find(ctx, 'p', "/dev/md/root1", NULL, 2, &s, &e) == 1 &&
		      s == 8192 + 512 && e == s + 100 * 512,
	      "partition of the array on the second member");
	CHECK(bm_ctx_status(ctx) == BM_OK, "clean raid1");
	bm_ctx_free(ctx);

	/* a bad checksum is not a member; the wrong super_offset (the
	 * superblock seen through another device) neither */
	ctx = bm_ctx_new(NULL);
	d[0][4096 + 216] ^= 1;
	v[0] = bm_volume_memory(ctx, d[0], MiB, "/dev/sda", 1);
	bm_probe_volume(v[0]);
	CHECK(!v[0]->type || strcmp(v[0]->type, "linux_raid_member") != 0,
	      "bad checksum accepted");
	/* d[1] from its superblock on: a 1.1 position, super_offset 8 */
	struct bm_volume *shift = bm_volume_memory(ctx, d[1] + 4096,
						   MiB - 4096, "/dev/sdc", 3);
	bm_probe_volume(shift);
	CHECK(!shift->type || strcmp(shift->type, "linux_raid_member") != 0,
	      "moved superblock accepted");
	bm_ctx_free(ctx);
	free(d[0]);
	free(d[1]);
}

/* raid5 over three 0.90 members, the middle one missing: degraded, named
 * /dev/md0, parity of present members mapped. */
static void test_090_degraded(bool be)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	uint8_t *d[3];
	uint64_t sz = 512 * KiB;
	for (unsigned i = 0; i < 3; i += 2) {
		d[i] = calloc(1, sz);
		put_sb090(d[i], sz, be, 5, 3, i, 256, 64 * KiB, 7);
		struct bm_volume *v = bm_volume_memory(
			ctx, d[i], sz, i ? "/dev/sdc" : "/dev/sda", i + 1);
		bm_probe_volume(v);
		CHECK(v->type && strcmp(v->type, "linux_raid_member") == 0,
		      "0.90 %s member", be ? "big-endian" : "little-endian");
	}
	bm_map_all(ctx);
	uint64_t s, e;
	/* 256 KiB used per member: 4 chunks, footprint [0, 256K) on each
	 * present member (data and parity) */
	CHECK(find(ctx, 'l', "/dev/md0", NULL, 1, &s, &e) >= 1 && s == 0 &&
		      e == 256 * KiB,
	      "0.90 raid5 footprint 0x%llx-0x%llx", (unsigned long long)s,
	      (unsigned long long)e);
	CHECK(find(ctx, 'l', "/dev/md0", NULL, 3, &s, &e) >= 1 && s == 0 &&
		      e == 256 * KiB,
	      "0.90 raid5 footprint member 3");
	CHECK(find(ctx, 'm', "/dev/sda", "md superblock", 1, &s, &e) == 1 &&
		      s == sz - 64 * KiB && e == s + 4096,
	      "0.90 superblock");
	/* left-symmetric: P of stripes 0..3 on members 2, 1, 0, 2 */
	CHECK(parity(ctx, "/dev/md0", 1, &s, &e) == 1 && s == 128 * KiB &&
		      e == 192 * KiB,
	      "parity on member 0");
	CHECK(parity(ctx, "/dev/md0", 3, &s, &e) == 2 && s == 0 &&
		      e == 64 * KiB,
	      "parity on member 2");
	CHECK(bm_ctx_status(ctx) == BM_WARN, "degraded array warns");
	bm_ctx_free(ctx);
	free(d[0]);
	free(d[2]);
}

/* A GPT disk of SZ bytes with one partition from LBA 2048 to the last
 * usable LBA (primary table only: the backup header is not needed). */
static uint64_t put_gpt(uint8_t *d, uint64_t sz)
{
	uint64_t last = sz / 512 - 1, last_usable = last - 33;
	uint8_t *p = d + 446;
	p[4] = 0xee;
	bm_put_le32(p + 8, 1);
	bm_put_le32(p + 12, (uint32_t)last);
	d[510] = 0x55;
	d[511] = 0xaa;
	uint8_t *e = d + 1024; /* entry array at LBA 2, 128 entries */
	memset(e, 0xaf, 16);
	memset(e + 16, 1, 16);
	bm_put_le64(e + 32, 2048);
	bm_put_le64(e + 40, last_usable);
	uint8_t *h = d + 512;
	memcpy(h, "EFI PART", 8);
	bm_put_le32(h + 8, 0x10000);
	bm_put_le32(h + 12, 92);
	bm_put_le64(h + 24, 1);
	bm_put_le64(h + 32, last);
	bm_put_le64(h + 40, 34);
	bm_put_le64(h + 48, last_usable);
	bm_put_le64(h + 72, 2);
	bm_put_le32(h + 80, 128);
	bm_put_le32(h + 84, 128);
	bm_put_le32(h + 88, bm_crc32(0, e, 128 * 128));
	bm_put_le32(h + 16, bm_crc32(0, h, 92));
	return (last_usable + 1 - 2048) * 512;
}

/* A disk whose last partition runs to its end (DOS), or to the last
 * usable LBA of a GPT disk whose size is 24 KiB past a 64 KiB multiple
 * (as every common drive size): the partition's 0.90 superblock is also
 * where the disk's would be. */
static void test_090_partition(bool gpt)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	uint64_t sz = 2 * MiB + (gpt ? 24 * KiB : 0), psz = MiB;
	uint8_t *d = calloc(1, sz);
	if (gpt) {
		psz = put_gpt(d, sz);
	} else {
		uint8_t *p = d + 446;
		p[4] = 0xfd;
		bm_put_le32(p + 8, 2048);
		bm_put_le32(p + 12, (uint32_t)(sz / 512 - 2048));
		d[510] = 0x55;
		d[511] = 0xaa;
	}
	put_sb090(d + MiB, psz, false, 1, 1, 0, 900, 0, 1);
	/* (the test's premise: the disk's 0.90 place is the partition's) */
	CHECK(((sz & ~(64 * KiB - 1)) - 64 * KiB) ==
		      MiB + (psz & ~(64 * KiB - 1)) - 64 * KiB,
	      "gpt %d: the superblock places differ", gpt);
	struct bm_volume *v = bm_volume_memory(ctx, d, sz, "/dev/sda", 1);
	bm_probe_volume(v);
	bm_map_all(ctx);
	uint64_t s, e;
	CHECK(find(ctx, 'm', "/dev/sda1", "md superblock", 1, &s, &e) == 1 &&
		      s == MiB + (psz & ~(64 * KiB - 1)) - 64 * KiB,
	      "gpt %d: superblock on the partition", gpt);
	CHECK(find(ctx, 'm', "/dev/sda", "md superblock", 1, &s, &e) == 0,
	      "gpt %d: superblock on the disk", gpt);
	CHECK(find(ctx, 'l', "/dev/md0", NULL, 1, &s, &e) == 1 && s == MiB &&
		      e == MiB + 900 * KiB,
	      "gpt %d: raid1 on the partition: 0x%llx-0x%llx", gpt,
	      (unsigned long long)s, (unsigned long long)e);
	bm_ctx_free(ctx);
	free(d);
}

/* 1.1 and 1.0 members: a raid1 of three, one stale (events two behind:
 * md and mdadm accept one behind), another with a 1.0 superblock at the
 * end and data from offset 0. */
static void test_sb1_stale(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	uint8_t *d[3];
	static const int minor[3] = { 1, 0, 1 };
	static const uint64_t ev[3] = { 9, 8, 7 };
	for (unsigned i = 0; i < 3; i++) {
		d[i] = calloc(1, MiB);
		struct sb1 s = { .minor = minor[i], .level = 1,
				 .raid_disks = 3, .dev_number = i,
				 .max_dev = 3, .size = 1024,
				 .data_offset = minor[i] ? 8 : 0,
				 .data_size = 1100, .events = ev[i],
				 .name = "mirror", .roles = { 0, 1, 2 } };
		put_sb1(d[i], MiB, &s);
		char name[16];
		snprintf(name, sizeof name, "/dev/sd%c", 'a' + i);
		bm_probe_volume(bm_volume_memory(ctx, d[i], MiB, name, i + 1));
	}
	bm_map_all(ctx);
	uint64_t s, e;
	CHECK(find(ctx, 'l', "/dev/md/mirror", NULL, 1, &s, &e) == 1 &&
		      s == 4096 && e == 4096 + 1024 * 512,
	      "1.1 member footprint");
	CHECK(find(ctx, 'l', "/dev/md/mirror", NULL, 2, &s, &e) == 1 &&
		      s == 0 && e == 1024 * 512,
	      "1.0 member footprint");
	CHECK(find(ctx, 'l', "/dev/md/mirror", NULL, 3, &s, &e) == 0,
	      "stale member used");
	CHECK(find(ctx, 'm', "/dev/sdb", "md superblock", 2, &s, &e) == 1 &&
		      s == MiB - 8192,
	      "1.0 superblock at 0x%llx", (unsigned long long)s);
	CHECK(find(ctx, 'm', "/dev/sdc", "md superblock", 3, &s, &e) == 1 &&
		      s == 0,
	      "stale member's superblock still mapped");
	CHECK(bm_ctx_status(ctx) == BM_WARN, "stale member warned");
	bm_ctx_free(ctx);
	for (int i = 0; i < 3; i++)
		free(d[i]);
}

/* Internal bitmap before a 1.0 superblock (negative offset), PPL after
 * a 1.2 one: both mapped as metadata of the member. */
static void test_areas(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	uint8_t *d = calloc(1, MiB), *e = calloc(1, MiB);
	struct sb1 s = { .minor = 0, .level = 1, .raid_disks = 1,
			 .max_dev = 1, .size = 1024, .data_size = 1100,
			 .events = 1, .name = "bm", .features = 1,
			 .bitmap_offset = (uint32_t)-16 };
	put_sb1(d, MiB, &s);
	/* bitmap header 8 KiB before the superblock: 64 KiB chunks over
	 * 512 KiB = 8 bits, one byte after the 256-byte header */
	uint8_t *h = d + MiB - 8192 - 8192;
	bm_put_le32(h, 0x6d746962);
	bm_put_le32(h + 4, 4);
	memcpy(h + 8, UUID, 16);
	bm_put_le64(h + 40, 1024);
	bm_put_le32(h + 52, 65536);
	bm_probe_volume(bm_volume_memory(ctx, d, MiB, "/dev/sda", 1));
	struct sb1 t = { .minor = 2, .level = 5, .layout = 2,
			 .raid_disks = 3, .max_dev = 3, .chunk_sectors = 128,
			 .size = 1024, .data_offset = 2048, .data_size = 0,
			 .events = 1, .name = "ppl", .features = 1024,
			 .ppl_offset = 8, .ppl_size = 496,
			 .roles = { 0, 1, 2 } };
	t.data_offset = 512; /* after the PPL */
	t.data_size = MiB / 512 - 512;
	put_sb1(e, MiB, &t);
	bm_probe_volume(bm_volume_memory(ctx, e, MiB, "/dev/sdb", 2));
	bm_map_all(ctx);
	uint64_t a, z;
	CHECK(find(ctx, 'm', "/dev/sda", "md bitmap", 1, &a, &z) == 1 &&
		      a == MiB - 16384 && z == a + 512,
	      "bitmap 0x%llx-0x%llx", (unsigned long long)a,
	      (unsigned long long)z);
	CHECK(find(ctx, 'l', "/dev/md/bm", NULL, 1, &a, &z) == 1 && a == 0 &&
		      z == 1024 * 512,
	      "raid1 of one");
	CHECK(find(ctx, 'm', "/dev/sdb", "md ppl", 2, &a, &z) == 1 &&
		      a == 8192 && z == 8192 + 496 * 512,
	      "ppl 0x%llx-0x%llx", (unsigned long long)a,
	      (unsigned long long)z);
	bm_ctx_free(ctx);
	free(d);
	free(e);
}

/* Values chosen to wrap 64-bit arithmetic: events at 2^64-1 on every
 * member (events + 1 wrapped to 0, and every member, the freshest
 * included, was dropped as stale); a super_offset that is right only
 * modulo 2^64 once multiplied by 512; a bitmap of 2^31-byte chunks over
 * an array of 2^64-512 bytes (rounding up wrapped to a 512-byte
 * bitmap). */
static void test_overflow(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	uint8_t *d[3];
	static const uint64_t ev[3] = { UINT64_MAX, UINT64_MAX, UINT64_MAX - 2 };
	for (unsigned i = 0; i < 3; i++) {
		d[i] = calloc(1, MiB);
		struct sb1 s = { .minor = 2, .level = 1, .raid_disks = 3,
				 .dev_number = i, .max_dev = 3, .size = 1000,
				 .data_offset = 16, .data_size = 2048 - 16,
				 .events = ev[i], .name = "wrap",
				 .roles = { 0, 1, 2 } };
		put_sb1(d[i], MiB, &s);
		char name[16];
		snprintf(name, sizeof name, "/dev/sd%c", 'a' + i);
		bm_probe_volume(bm_volume_memory(ctx, d[i], MiB, name, i + 1));
	}
	bm_map_all(ctx);
	uint64_t s, e;
	for (unsigned disk = 1; disk <= 2; disk++)
		CHECK(find(ctx, 'l', "/dev/md/wrap", NULL, disk, &s, &e) == 1 &&
			      s == 8192 && e == 8192 + 1000 * 512,
		      "member %u with events 2^64-1 used", disk);
	CHECK(find(ctx, 'l', "/dev/md/wrap", NULL, 3, &s, &e) == 0,
	      "member two events behind 2^64-1 used");
	bm_ctx_free(ctx);

	ctx = bm_ctx_new(NULL);
	struct sb1 w = { .minor = 2, .level = 1, .raid_disks = 1,
			 .max_dev = 1, .size = 1000, .data_offset = 16,
			 .data_size = 2048 - 16, .events = 1, .name = "so",
			 .super_offset_add = 1ull << 55 };
	put_sb1(d[0], MiB, &w);
	struct bm_volume *v = bm_volume_memory(ctx, d[0], MiB, "/dev/sda", 1);
	bm_probe_volume(v);
	CHECK(!v->type || strcmp(v->type, "linux_raid_member") != 0,
	      "super_offset 2^55+8 taken for 8 (x512 wrapped)");
	bm_ctx_free(ctx);

	ctx = bm_ctx_new(NULL);
	struct sb1 b = { .minor = 0, .level = 1, .raid_disks = 1,
			 .max_dev = 1, .size = 1024, .data_size = 1100,
			 .events = 1, .name = "bm", .features = 1,
			 .bitmap_offset = (uint32_t)-16 };
	memset(d[0], 0, MiB);
	put_sb1(d[0], MiB, &b);
	uint8_t *h = d[0] + MiB - 8192 - 8192;
	bm_put_le32(h, 0x6d746962);
	bm_put_le32(h + 4, 4);
	memcpy(h + 8, UUID, 16);
	bm_put_le64(h + 40, UINT64_MAX / 512);
	bm_put_le32(h + 52, 1u << 31);
	bm_probe_volume(bm_volume_memory(ctx, d[0], MiB, "/dev/sda", 1));
	bm_map_all(ctx);
	CHECK(find(ctx, 'm', "/dev/sda", "md bitmap", 1, &s, &e) != 1 ||
		      e - s > 512,
	      "bitmap of 2^33 chunks mapped as 512 bytes");
	bm_ctx_free(ctx);
	for (int i = 0; i < 3; i++)
		free(d[i]);
}

int main(void)
{
	test_overflow();
	test_areas();
	test_sb1_stale();
	test_sb1_raid1();
	test_090_degraded(false);
	test_090_degraded(true);
	test_090_partition(false);
	test_090_partition(true);
	CHECK_DONE();
}
