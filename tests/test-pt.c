/* Unit tests for the MBR and GPT layers on images built in memory:
 * logical partitions, EBR chains going back on disk, EBR loops, type-0
 * entries, CRC failures with backup fallback, 4096-byte logical sectors,
 * and a stale GPT (no protective MBR).  Expected offsets are computed by hand from
 * the LBAs written here. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"

#define MiB (1024u * 1024u)

/* Ranges of object (TYPE, DEV, PATH), joined; returns how many pieces
 * and the first piece in *S, *E. */
static int find(struct bm_ctx *ctx, char type, const char *dev,
		const char *path, uint64_t *s, uint64_t *e)
{
	size_t n = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	int pieces = 0;
	uint64_t ps = 0, pe = 0;
	for (size_t i = 0; i < n; i++) {
		const struct bm_objinfo *o = bm_object_info(ctx, r[i].obj);
		if (o->type != type || strcmp(o->dev, dev) != 0)
			continue;
		if ((path == NULL) != (o->path == NULL))
			continue;
		if (path && strcmp(path, o->path) != 0)
			continue;
		if (pieces && r[i].start == pe) {
			pe = r[i].end;
			continue;
		}
		if (!pieces) {
			ps = r[i].start;
			pe = r[i].end;
		}
		pieces++;
	}
	*s = ps;
	*e = pe;
	return pieces;
}

static void mbr_entry(uint8_t *sec, int i, uint8_t type, uint32_t start,
		      uint32_t count)
{
	uint8_t *p = sec + 446 + 16 * i;
	memset(p, 0, 16);
	p[4] = type;
	bm_put_le32(p + 8, start);
	bm_put_le32(p + 12, count);
	sec[510] = 0x55;
	sec[511] = 0xaa;
}

static struct bm_ctx *map_mem(uint8_t *img, size_t size)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	struct bm_volume *v = bm_volume_memory(ctx, img, size, "/dev/sda", 1);
	bm_probe_volume(v);
	return ctx;
}

/* An extended partition at 8192 (16384 sectors) whose EBRs are at
 * 8192, 14336 and (BACKWARD, CYCLE) 10240: each holds a logical
 * partition 1024 sectors after it.  LOOP links the second EBR to
 * itself, CYCLE the third back to the first: the chain stops there.
 * BACKWARD is a valid chain that goes back on disk, as fdisk writes when
 * it adds a logical partition in a gap: Linux follows it. */
enum ebr_chain { EBR_END, EBR_LOOP, EBR_BACKWARD, EBR_CYCLE };

static void test_mbr_logicals(enum ebr_chain how)
{
	size_t size = 16 * MiB;
	uint8_t *img = calloc(1, size);
	mbr_entry(img, 0, 0x83, 2048, 4096);
	mbr_entry(img, 1, 0x05, 8192, 16384);
	/* EBR 1 at 8192: logical at +1024, link to EBR 2 at ext+6144. */
	uint8_t *ebr1 = img + 8192 * 512;
	mbr_entry(ebr1, 0, 0x83, 1024, 1024);
	mbr_entry(ebr1, 1, 0x05, 6144, 4096);
	/* EBR 2 at 14336: logical at +1024; link: none, to itself, or
	 * back to EBR 3 at ext+2048 (its entries in slots 1 and 0, as
	 * DR-DOS writes them). */
	uint8_t *ebr2 = img + 14336 * 512;
	mbr_entry(ebr2, 0, 0x83, 1024, 1024);
	if (how == EBR_LOOP)
		mbr_entry(ebr2, 1, 0x05, 6144, 4096); /* itself */
	if (how == EBR_BACKWARD || how == EBR_CYCLE) {
		mbr_entry(ebr2, 1, 0x05, 2048, 4096);
		uint8_t *ebr3 = img + 10240 * 512;
		mbr_entry(ebr3, 1, 0x83, 1024, 1024);
		if (how == EBR_CYCLE)
			mbr_entry(ebr3, 0, 0x0f, 0, 2048); /* EBR 1 */
	}
	struct bm_ctx *ctx = map_mem(img, size);
	uint64_t s, e;
	CHECK(find(ctx, 'p', "/dev/sda1", NULL, &s, &e) == 1 &&
		      s == 2048 * 512 && e == 6144 * 512,
	      "p1 %llx-%llx", (unsigned long long)s, (unsigned long long)e);
	CHECK(find(ctx, 'p', "/dev/sda5", NULL, &s, &e) == 1 &&
		      s == 9216 * 512 && e == 10240 * 512,
	      "chain %d: p5 %llx-%llx", how, (unsigned long long)s,
	      (unsigned long long)e);
	CHECK(find(ctx, 'p', "/dev/sda6", NULL, &s, &e) == 1 &&
		      s == 15360 * 512 && e == 16384 * 512,
	      "chain %d: p6 %llx-%llx", how, (unsigned long long)s,
	      (unsigned long long)e);
	bool third = how == EBR_BACKWARD || how == EBR_CYCLE;
	int p7 = find(ctx, 'p', "/dev/sda7", NULL, &s, &e);
	CHECK(third ? p7 == 1 && s == 11264 * 512 && e == 12288 * 512
		    : p7 == 0,
	      "chain %d: p7 (%d pieces) %llx-%llx", how, p7,
	      (unsigned long long)s, (unsigned long long)e);
	CHECK(find(ctx, 'p', "/dev/sda8", NULL, &s, &e) == 0,
	      "chain %d: no p8", how);
	/* the EBRs: 8192, then 10240 and 14336 (one piece each) */
	CHECK(find(ctx, 'm', "/dev/sda", "ebr", &s, &e) == (third ? 3 : 2) &&
		      s == 8192 * 512 && e == 8193 * 512,
	      "chain %d: ebr %llx-%llx", how, (unsigned long long)s,
	      (unsigned long long)e);
	bool warned = how == EBR_LOOP || how == EBR_CYCLE;
	CHECK(bm_ctx_status(ctx) == (warned ? BM_WARN : BM_OK),
	      "chain %d: status %d", how, bm_ctx_status(ctx));
	bm_ctx_free(ctx);
	free(img);
}

/* Primary entries of type 0 that have sectors are partitions (Linux
 * msdos.c skips only empty entries). */
static void test_mbr_type0(void)
{
	size_t size = 4 * MiB;
	uint8_t *img = calloc(1, size);
	mbr_entry(img, 0, 0x00, 2048, 1024);
	mbr_entry(img, 1, 0x83, 4096, 1024);
	struct bm_ctx *ctx = map_mem(img, size);
	uint64_t s, e;
	CHECK(find(ctx, 'p', "/dev/sda1", NULL, &s, &e) == 1 &&
		      s == 2048 * 512 && e == 3072 * 512,
	      "type 0: p1 %llx-%llx", (unsigned long long)s,
	      (unsigned long long)e);
	CHECK(find(ctx, 'p', "/dev/sda2", NULL, &s, &e) == 1 &&
		      s == 4096 * 512,
	      "type 0: p2 %llx", (unsigned long long)s);
	bm_ctx_free(ctx);
	free(img);
}

/* Write a GPT with the given entries (first, last LBA) to IMG. */
static void gpt_write(uint8_t *img, size_t size, uint32_t ss,
		      const uint64_t (*parts)[2], int nparts)
{
	uint64_t last = size / ss - 1;
	uint32_t nent = 128, esz = 128;
	uint64_t asec = (nent * esz + ss - 1) / ss;
	uint8_t *arr = calloc(1, nent * esz);
	for (int i = 0; i < nparts; i++) {
		if (!parts[i][0])
			continue;
		uint8_t *e = arr + i * esz;
		memset(e, 0xaf, 16); /* any non-zero type GUID */
		memset(e + 16, i + 1, 16);
		bm_put_le64(e + 32, parts[i][0]);
		bm_put_le64(e + 40, parts[i][1]);
	}
	uint32_t acrc = bm_crc32(0, arr, nent * esz);
	for (int copy = 0; copy < 2; copy++) {
		uint64_t my = copy ? last : 1, alt = copy ? 1 : last;
		uint64_t alba = copy ? last - asec : 2;
		uint8_t *h = img + my * ss;
		memset(h, 0, ss);
		memcpy(h, "EFI PART", 8);
		bm_put_le32(h + 8, 0x10000);
		bm_put_le32(h + 12, 92);
		bm_put_le64(h + 24, my);
		bm_put_le64(h + 32, alt);
		bm_put_le64(h + 40, 2 + asec);
		bm_put_le64(h + 48, last - asec - 1);
		bm_put_le64(h + 72, alba);
		bm_put_le32(h + 80, nent);
		bm_put_le32(h + 84, esz);
		bm_put_le32(h + 88, acrc);
		bm_put_le32(h + 16, bm_crc32(0, h, 92));
		memcpy(img + alba * ss, arr, nent * esz);
	}
	/* The protective entry counts logical blocks (UEFI 5.2.3). */
	mbr_entry(img, 0, 0xee, 1, (uint32_t)(size / ss - 1));
	free(arr);
}

enum { GOOD, BAD_HEADER, BAD_ARRAY, BOTH_BAD };

static void test_gpt(uint32_t ss, int damage)
{
	size_t size = 8 * MiB;
	uint8_t *img = calloc(1, size);
	uint64_t parts[3][2] = { { 256 * 4096 / ss, 512 * 4096 / ss - 1 },
				 { 0, 0 },
				 { 1024 * 4096 / ss, 1536 * 4096 / ss - 1 } };
	gpt_write(img, size, ss, (const uint64_t(*)[2])parts, 3);
	if (damage == BAD_HEADER || damage == BOTH_BAD)
		img[ss + 40] ^= 1; /* primary header: CRC no longer matches */
	if (damage == BAD_ARRAY)
		img[2 * ss + 100] ^= 1; /* primary array */
	if (damage == BOTH_BAD)
		img[size - ss + 40] ^= 1;
	struct bm_ctx *ctx = map_mem(img, size);
	uint64_t s, e;
	if (damage == BOTH_BAD) {
		CHECK(find(ctx, 'p', "/dev/sda1", NULL, &s, &e) == 0,
		      "both bad: no partitions");
		CHECK(bm_ctx_status(ctx) == BM_WARN, "both bad: status");
		bm_ctx_free(ctx);
		free(img);
		return;
	}
	CHECK(find(ctx, 'p', "/dev/sda1", NULL, &s, &e) == 1 &&
		      s == 1 * MiB && e == 2 * MiB,
	      "ss %u damage %d: p1 %llx-%llx", ss, damage,
	      (unsigned long long)s, (unsigned long long)e);
	CHECK(find(ctx, 'p', "/dev/sda2", NULL, &s, &e) == 0, "no p2");
	CHECK(find(ctx, 'p', "/dev/sda3", NULL, &s, &e) == 1 &&
		      s == 4 * MiB && e == 6 * MiB,
	      "ss %u damage %d: p3 %llx-%llx", ss, damage,
	      (unsigned long long)s, (unsigned long long)e);
	CHECK(find(ctx, 'm', "/dev/sda", "gpt backup header", &s, &e) == 1 &&
		      s == size - ss && e == size,
	      "backup header %llx", (unsigned long long)s);
	CHECK(find(ctx, 'm', "/dev/sda", "gpt header", &s, &e) ==
		      (damage == GOOD ? 1 : 0),
	      "primary header mapped only when valid");
	CHECK(bm_ctx_status(ctx) == (damage == GOOD ? BM_OK : BM_WARN),
	      "ss %u damage %d: status %d", ss, damage, bm_ctx_status(ctx));
	bm_ctx_free(ctx);
	free(img);
}

/* A GPT whose sector 0 was later overwritten by a DOS table (no 0xEE
 * entry), or whose 0xEE entry does not start at LBA 1: Linux and UEFI
 * firmware ignore the GPT, so the DOS table counts (or nothing). */
static void test_stale_gpt(bool dos)
{
	size_t size = 8 * MiB;
	uint8_t *img = calloc(1, size);
	uint64_t parts[1][2] = { { 2048, 4095 } };
	gpt_write(img, size, 512, (const uint64_t(*)[2])parts, 1);
	if (dos)
		mbr_entry(img, 0, 0x0c, 8192, 4096);
	else
		mbr_entry(img, 0, 0xee, 2, (uint32_t)(size / 512 - 2));
	struct bm_ctx *ctx = map_mem(img, size);
	uint64_t s, e;
	int p1 = find(ctx, 'p', "/dev/sda1", NULL, &s, &e);
	CHECK(dos ? p1 == 1 && s == 8192 * 512 && e == 12288 * 512 : p1 == 0,
	      "stale GPT (dos %d): p1 (%d pieces) %llx-%llx", dos, p1,
	      (unsigned long long)s, (unsigned long long)e);
	CHECK(find(ctx, 'm', "/dev/sda", "gpt header", &s, &e) == 0,
	      "stale GPT (dos %d): its header mapped", dos);
	/* (a leftover under a DOS table in use is only noted; under an
	 * 0xEE entry that does not start at LBA 1 nothing is mapped) */
	CHECK(bm_ctx_status(ctx) == (dos ? BM_OK : BM_WARN),
	      "stale GPT (dos %d): status %d", dos, bm_ctx_status(ctx));
	bm_ctx_free(ctx);
	free(img);
}

static void test_fat_not_mbr(void)
{
	size_t size = 1 * MiB;
	uint8_t *img = calloc(1, size);
	/* A FAT16 boot sector: jump, OEM, BPB, "FAT16", 55 AA.  Its
	 * "partition entries" are boot code bytes. */
	img[0] = 0xeb, img[1] = 0x3c, img[2] = 0x90;
	memcpy(img + 3, "MSWIN4.1", 8);
	bm_put_le16(img + 11, 512);
	img[13] = 4;
	bm_put_le16(img + 14, 1);
	img[16] = 2;
	img[21] = 0xf8;
	memcpy(img + 54, "FAT16   ", 8);
	img[446] = 0x12; /* code, not a status byte */
	img[510] = 0x55, img[511] = 0xaa;
	struct bm_ctx *ctx = map_mem(img, size);
	uint64_t s, e;
	CHECK(find(ctx, 'm', "/dev/sda", "mbr", &s, &e) == 0,
	      "FAT boot sector taken for an MBR");
	bm_ctx_free(ctx);
	free(img);
}

int main(void)
{
	for (int how = EBR_END; how <= EBR_CYCLE; how++)
		test_mbr_logicals(how);
	test_mbr_type0();
	test_stale_gpt(true);
	test_stale_gpt(false);
	for (int d = GOOD; d <= BOTH_BAD; d++) {
		test_gpt(512, d);
		test_gpt(4096, d);
	}
	test_fat_not_mbr();
	CHECK_DONE();
}
