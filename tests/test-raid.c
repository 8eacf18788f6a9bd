/* Unit tests for the RAID geometry (src/layers/raid.c) and the md
 * superblock readers (src/layers/md.c).
 *
 * The expected tables are written out by hand from the layout pictures in
 * md(4) and the md driver's definitions of the layouts (raid5 "left
 * symmetric" etc., raid10 near/far/offset, raid0 strip zones), not
 * computed by the code under test.  Each table row is one stripe (raid5/6)
 * or one chunk row (raid10); entries are the array chunk numbers held by
 * members 0, 1, 2, ... in that row, P/Q for parity.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"
#include "layers/raid.h"

#define C 4096u /* chunk size used in the tables */
#define P -1
#define Q -2

/* Check a raid4/5/6 table: ROWS x N entries. */
static void check_table(const char *what, int level, int layout, unsigned n,
			unsigned rows, const int *tab)
{
	struct bm_raid_desc d = {
		.level = level,
		.layout = layout,
		.nmembers = n,
		.chunk_bytes = C,
		.member_bytes = (uint64_t)rows * C,
	};
	unsigned parity = level == BM_RAID6 ? 2 : 1;
	CHECK(bm_raid_check(&d) == NULL, "%s: %s", what, bm_raid_check(&d));
	CHECK(bm_raid_array_size(&d) == (uint64_t)rows * C * (n - parity),
	      "%s: size", what);
	for (unsigned r = 0; r < rows; r++) {
		for (unsigned m = 0; m < n; m++) {
			int want = tab[r * n + m];
			if (want < 0) {
				unsigned p, q;
				/* the stripe's first chunk tells its parity */
				uint64_t off = (uint64_t)r * (n - parity) * C;
				CHECK(bm_raid_parity(&d, off, &p, &q) == 0,
				      "%s", what);
				CHECK((want == P ? p : q) == m,
				      "%s: row %u: %c on %u, expected %u", what,
				      r, want == P ? 'P' : 'Q',
				      want == P ? p : q, m);
				continue;
			}
			/* The chunk's middle byte and last byte land at that
			 * member, row R, same offset in the chunk. */
			uint64_t offs[2] = { (uint64_t)want * C + 100,
					     (uint64_t)want * C + C - 1 };
			for (int k = 0; k < 2; k++) {
				unsigned mem = 99;
				uint64_t moff = 0;
				CHECK(bm_raid_locate(&d, offs[k], &mem, &moff) == 0,
				      "%s", what);
				CHECK(mem == m && moff == (uint64_t)r * C + offs[k] % C,
				      "%s: chunk %d at member %u 0x%llx, expected "
				      "member %u row %u",
				      what, want, mem, (unsigned long long)moff, m,
				      r);
			}
		}
	}
	uint64_t end = bm_raid_array_size(&d);
	unsigned mem;
	uint64_t moff;
	CHECK(bm_raid_locate(&d, end, &mem, &moff) < 0, "%s: past end", what);
}

static void test_raid5(void)
{
	/* md(4) / Linux RAID: 4 disks */
	static const int ls[] = { 0, 1, 2, P,  4, 5, P, 3,
				  8, P, 6, 7,  P, 9, 10, 11,
				  12, 13, 14, P };
	check_table("raid5 left-symmetric", BM_RAID5,
		    BM_RAID5_LEFT_SYMMETRIC, 4, 5, ls);
	static const int la[] = { 0, 1, 2, P,  3, 4, P, 5,
				  6, P, 7, 8,  P, 9, 10, 11 };
	check_table("raid5 left-asymmetric", BM_RAID5,
		    BM_RAID5_LEFT_ASYMMETRIC, 4, 4, la);
	static const int ra[] = { P, 0, 1, 2,  3, P, 4, 5,
				  6, 7, P, 8,  9, 10, 11, P };
	check_table("raid5 right-asymmetric", BM_RAID5,
		    BM_RAID5_RIGHT_ASYMMETRIC, 4, 4, ra);
	static const int rs[] = { P, 0, 1, 2,  5, P, 3, 4,
				  7, 8, P, 6,  9, 10, 11, P };
	check_table("raid5 right-symmetric", BM_RAID5,
		    BM_RAID5_RIGHT_SYMMETRIC, 4, 4, rs);
	static const int p0[] = { P, 0, 1, 2,  P, 3, 4, 5 };
	check_table("raid5 parity-first", BM_RAID5, BM_RAID5_PARITY_0, 4, 2,
		    p0);
	static const int pn[] = { 0, 1, 2, P,  3, 4, 5, P };
	check_table("raid5 parity-last", BM_RAID5, BM_RAID5_PARITY_N, 4, 2,
		    pn);
	check_table("raid4", BM_RAID4, 0, 4, 2, pn);
	/* 2-disk raid5 is a mirror in disguise */
	static const int two[] = { 0, P,  P, 1,  2, P };
	check_table("raid5 2 disks", BM_RAID5, BM_RAID5_LEFT_SYMMETRIC, 2, 3,
		    two);
}

static void test_raid6(void)
{
	/* 5 disks, md's raid6 layouts */
	static const int ls[] = { Q, 0, 1, 2, P,  3, 4, 5, P, Q,
				  7, 8, P, Q, 6,  11, P, Q, 9, 10,
				  P, Q, 12, 13, 14, Q, 15, 16, 17, P };
	check_table("raid6 left-symmetric", BM_RAID6,
		    BM_RAID5_LEFT_SYMMETRIC, 5, 6, ls);
	static const int la[] = { Q, 0, 1, 2, P,  3, 4, 5, P, Q,
				  6, 7, P, Q, 8 };
	check_table("raid6 left-asymmetric", BM_RAID6,
		    BM_RAID5_LEFT_ASYMMETRIC, 5, 3, la);
	static const int ra[] = { P, Q, 0, 1, 2,  3, P, Q, 4, 5,
				  6, 7, P, Q, 8,  9, 10, 11, P, Q,
				  Q, 12, 13, 14, P };
	check_table("raid6 right-asymmetric", BM_RAID6,
		    BM_RAID5_RIGHT_ASYMMETRIC, 5, 5, ra);
	static const int rs[] = { P, Q, 0, 1, 2,  5, P, Q, 3, 4,
				  7, 8, P, Q, 6 };
	check_table("raid6 right-symmetric", BM_RAID6,
		    BM_RAID5_RIGHT_SYMMETRIC, 5, 3, rs);
	static const int p0[] = { P, Q, 0, 1, 2 };
	check_table("raid6 parity-first", BM_RAID6, BM_RAID5_PARITY_0, 5, 1,
		    p0);
	static const int pn[] = { 0, 1, 2, P, Q,  3, 4, 5, P, Q };
	check_table("raid6 parity-last", BM_RAID6, BM_RAID5_PARITY_N, 5, 2,
		    pn);
	/* the _6 layouts: raid5 layout on the first n-1, Q on the last */
	static const int ls6[] = { 0, 1, 2, P, Q,  4, 5, P, 3, Q,
				   8, P, 6, 7, Q,  P, 9, 10, 11, Q };
	check_table("raid6 left-symmetric-6", BM_RAID6,
		    BM_RAID6_LEFT_SYMMETRIC_6, 5, 4, ls6);
	static const int la6[] = { 0, 1, 2, P, Q,  3, 4, P, 5, Q };
	check_table("raid6 left-asymmetric-6", BM_RAID6,
		    BM_RAID6_LEFT_ASYMMETRIC_6, 5, 2, la6);
	static const int ra6[] = { P, 0, 1, 2, Q,  3, P, 4, 5, Q };
	check_table("raid6 right-asymmetric-6", BM_RAID6,
		    BM_RAID6_RIGHT_ASYMMETRIC_6, 5, 2, ra6);
	static const int rs6[] = { P, 0, 1, 2, Q,  5, P, 3, 4, Q };
	check_table("raid6 right-symmetric-6", BM_RAID6,
		    BM_RAID6_RIGHT_SYMMETRIC_6, 5, 2, rs6);
	static const int p06[] = { P, 0, 1, 2, Q };
	check_table("raid6 parity-first-6", BM_RAID6, BM_RAID6_PARITY_0_6, 5,
		    1, p06);
	/* DDF: rotating parity zero restart = right-asymmetric placement;
	 * N restart: first stripe D D D P Q; N continue: Q before P. */
	check_table("raid6 ddf zero restart", BM_RAID6,
		    BM_RAID6_ROTATING_ZERO_RESTART, 5, 5, ra);
	static const int nr[] = { 0, 1, 2, P, Q,  3, 4, P, Q, 5,
				  6, P, Q, 7, 8,  P, Q, 9, 10, 11,
				  Q, 12, 13, 14, P };
	check_table("raid6 ddf N restart", BM_RAID6,
		    BM_RAID6_ROTATING_N_RESTART, 5, 5, nr);
	/* N continue: P on 4,3,..; Q just before P; data after P. */
	static const int nc2[] = { 0, 1, 2, Q, P,  4, 5, Q, P, 3,
				   8, Q, P, 6, 7 };
	check_table("raid6 ddf N continue", BM_RAID6,
		    BM_RAID6_ROTATING_N_CONTINUE, 5, 3, nc2);
}

/* raid10: ROWS x N table of chunk numbers (each copy listed). */
static void check_raid10(const char *what, int layout, unsigned n,
			 uint64_t member_chunks, uint64_t array_chunks,
			 unsigned rows, const int *tab, unsigned copies)
{
	struct bm_raid_desc d = {
		.level = BM_RAID10,
		.layout = layout,
		.nmembers = n,
		.chunk_bytes = C,
		.member_bytes = member_chunks * C,
	};
	CHECK(bm_raid_check(&d) == NULL, "%s: %s", what, bm_raid_check(&d));
	CHECK(bm_raid_array_size(&d) == array_chunks * C,
	      "%s: size 0x%llx", what,
	      (unsigned long long)bm_raid_array_size(&d));
	/* every table entry must be one of the chunk's copies */
	unsigned found = 0;
	for (unsigned r = 0; r < rows; r++)
		for (unsigned m = 0; m < n; m++) {
			int ch = tab[r * n + m];
			if (ch < 0)
				continue;
			unsigned mem[8];
			uint64_t moff[8];
			int k = bm_raid_locate_all(&d, (uint64_t)ch * C + 7, mem,
						   moff, 8);
			CHECK(k == (int)copies, "%s: %d copies", what, k);
			bool hit = false;
			for (int i = 0; i < k && i < 8; i++)
				hit |= mem[i] == m && moff[i] == (uint64_t)r * C + 7;
			CHECK(hit, "%s: chunk %d not on member %u row %u", what,
			      ch, m, r);
			found++;
		}
	CHECK(found > 0, "%s", what);
}

static void test_raid10(void)
{
	/* md(4): near 2 on 4 and 3 devices */
	static const int n2_4[] = { 0, 0, 1, 1,  2, 2, 3, 3 };
	check_raid10("raid10 n2 4 disks", 0x102, 4, 2, 4, 2, n2_4, 2);
	static const int n2_3[] = { 0, 0, 1,  1, 2, 2,  3, 3, -1 };
	check_raid10("raid10 n2 3 disks", 0x102, 3, 3, 4, 3, n2_3, 2);
	/* near 3 on 4 devices */
	static const int n3_4[] = { 0, 0, 0, 1,  1, 1, 2, 2 };
	check_raid10("raid10 n3 4 disks", 0x103, 4, 3, 4, 2, n3_4, 3);
	/* far 2 on 3 devices, 10 chunks each: stride 5 rows; array 15
	 * chunks.  Far copy of chunk c sits on the next device. */
	static const int f2_3[] = {
		0, 1, 2,  3, 4, 5,  6, 7, 8,  9, 10, 11,  12, 13, 14,
		2, 0, 1,  5, 3, 4,  8, 6, 7,  11, 9, 10,  14, 12, 13,
	};
	check_raid10("raid10 f2 3 disks", 0x201, 3, 10, 15, 10, f2_3, 2);
	/* far 2 with an odd member size: 11 chunks -> stride still 5 */
	check_raid10("raid10 f2 3 disks odd", 0x201, 3, 11, 15, 10, f2_3, 2);
	/* far 2 on 2 devices (the classic "f2" picture) */
	static const int f2_2[] = { 0, 1,  2, 3,  1, 0,  3, 2 };
	check_raid10("raid10 f2 2 disks", 0x201, 2, 4, 4, 4, f2_2, 2);
	/* offset 2 on 3 devices: copy in the next row, next device */
	static const int o2_3[] = { 0, 1, 2,  2, 0, 1,  3, 4, 5,  5, 3, 4 };
	check_raid10("raid10 o2 3 disks", 0x10201, 3, 4, 6, 4, o2_3, 2);
	struct bm_raid_desc bad = { .level = BM_RAID10, .layout = 0x103,
				    .nmembers = 2, .chunk_bytes = C,
				    .member_bytes = 8 * C };
	CHECK(bm_raid_check(&bad) != NULL, "3 copies on 2 disks accepted");
}

static void test_raid0_linear(void)
{
	/* raid0, members of 1, 2 and 3 chunks: zone 0 = chunks 0-2 on all,
	 * zone 1 = chunks 3-4 on members 1 and 2 from member offset 1,
	 * zone 2 = chunk 5 on member 2 at offset 2. */
	uint64_t sizes[3] = { 1 * C + 100, 2 * C, 3 * C + 511 };
	struct bm_raid_desc d = { .level = BM_RAID0, .layout = 2,
				  .nmembers = 3, .chunk_bytes = C,
				  .member_sizes = sizes };
	CHECK(bm_raid_array_size(&d) == 6 * C, "raid0 size");
	static const unsigned alt_m[6] = { 0, 1, 2, 1, 2, 2 };
	static const unsigned orig_m[6] = { 0, 1, 2, 2, 1, 2 };
	static const uint64_t row[6] = { 0, 0, 0, 1, 1, 2 };
	for (int lay = 1; lay <= 2; lay++) {
		d.layout = lay;
		for (unsigned ch = 0; ch < 6; ch++) {
			unsigned m;
			uint64_t o;
			CHECK(bm_raid_locate(&d, ch * C + 5, &m, &o) == 0, "raid0");
			unsigned want = lay == 1 ? orig_m[ch] : alt_m[ch];
			CHECK(m == want && o == row[ch] * C + 5,
			      "raid0 layout %d chunk %u: member %u 0x%llx", lay,
			      ch, m, (unsigned long long)o);
		}
	}
	d.layout = -1;
	CHECK(bm_raid_check(&d) != NULL, "multi-zone raid0 without layout");
	/* two zones where zone 1 has one member: layout irrelevant */
	uint64_t two[2] = { 3 * C, 5 * C };
	struct bm_raid_desc d2 = { .level = BM_RAID0, .layout = -1,
				   .nmembers = 2, .chunk_bytes = C,
				   .member_sizes = two };
	CHECK(bm_raid_check(&d2) == NULL, "raid0 2 zones: %s",
	      bm_raid_check(&d2));
	unsigned m;
	uint64_t o;
	CHECK(bm_raid_locate(&d2, 5 * C, &m, &o) == 0 && m == 1 && o == 2 * C,
	      "raid0 chunk 5");
	CHECK(bm_raid_locate(&d2, 7 * C + 1, &m, &o) == 0 && m == 1 &&
		      o == 4 * C + 1,
	      "raid0 chunk 7");
	CHECK(bm_raid_locate(&d2, 8 * C, &m, &o) < 0, "raid0 end");

	/* linear: 1000 and 3000 bytes, no chunk */
	uint64_t lin[2] = { 1000, 3000 };
	struct bm_raid_desc l = { .level = BM_RAID_LINEAR, .nmembers = 2,
				  .member_sizes = lin };
	CHECK(bm_raid_array_size(&l) == 4000, "linear size");
	CHECK(bm_raid_locate(&l, 999, &m, &o) == 0 && m == 0 && o == 999,
	      "linear 999");
	CHECK(bm_raid_locate(&l, 1000, &m, &o) == 0 && m == 1 && o == 0,
	      "linear 1000");
	/* with md's rounding to a 512-byte "chunk" */
	l.chunk_bytes = 512;
	CHECK(bm_raid_array_size(&l) == 512 + 2560, "linear rounded");
	CHECK(bm_raid_locate(&l, 512, &m, &o) == 0 && m == 1 && o == 0,
	      "linear rounded 512");
}

/* ------------------------------------------------------------------ */
/* Array volumes: mapping, copy flags, reconstruction                  */

struct seen {
	unsigned disk[64], flags[64];
	uint64_t off[64], len[64];
	int n;
};

static int record(void *opaque, unsigned disk, uint64_t off, uint64_t len,
		  unsigned flags)
{
	struct seen *s = opaque;
	if (s->n < 64) {
		s->disk[s->n] = disk;
		s->off[s->n] = off;
		s->len[s->n] = len;
		s->flags[s->n] = flags;
	}
	s->n++;
	return 0;
}

static void test_volumes(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	enum { N = 3, MB = 8 * C };
	uint8_t *buf[N];
	struct bm_volume *mv[N];
	for (int i = 0; i < N; i++) {
		buf[i] = calloc(1, MB);
		char name[16];
		snprintf(name, sizeof name, "/dev/sd%c", 'a' + i);
		mv[i] = bm_volume_memory(ctx, buf[i], MB, name, (unsigned)i + 1);
	}
	/* raid1: a range maps to all three, the 2nd and 3rd as copies */
	struct bm_raid_desc d1 = { .level = BM_RAID1, .nmembers = N,
				   .member_bytes = MB, .members = mv };
	struct bm_volume *r1 = bm_raid_volume_new(ctx, &d1, "/dev/md/r1");
	CHECK(r1 && r1->size == MB, "raid1 volume");
	struct seen s = { 0 };
	CHECK(bm_volume_map(r1, 100, 5000, 0, record, &s) == 0, "raid1 map");
	CHECK(s.n == 3, "raid1: %d ranges", s.n);
	for (int i = 0; i < 3 && i < s.n; i++)
		CHECK(s.disk[i] == (unsigned)i + 1 && s.off[i] == 100 &&
			      s.len[i] == 5000 &&
			      s.flags[i] == (i ? BM_RANGE_COPY : 0u),
		      "raid1 range %d", i);

	/* raid5 left-symmetric, 3 members: stripe 0 = D0 D1 P, stripe 1 =
	 * D3 P D2, stripe 2 = P D4 D5.  A range over chunks 0-5 gives one
	 * run per member piece; adjacent pieces on a member merge. */
	struct bm_raid_desc d5 = { .level = BM_RAID5,
				   .layout = BM_RAID5_LEFT_SYMMETRIC,
				   .nmembers = N, .chunk_bytes = C,
				   .member_bytes = MB, .members = mv };
	struct bm_volume *r5 = bm_raid_volume_new(ctx, &d5, "/dev/md/r5");
	CHECK(r5 && r5->size == 2 * MB, "raid5 volume");
	memset(&s, 0, sizeof s);
	CHECK(bm_volume_map(r5, 10, 6 * C - 20, 0, record, &s) == 0,
	      "raid5 map");
	/* member 0: chunk 0 (row 0) and chunk 3 (row 1): merged 0..2C;
	 * member 1: chunk 1 (row 0), chunk 4 (row 2); member 2: chunk 2
	 * (row 1) and chunk 5 (row 2): merged. */
	uint64_t tot = 0;
	for (int i = 0; i < s.n && i < 64; i++)
		tot += s.len[i];
	CHECK(tot == 6 * C - 20, "raid5 total 0x%llx",
	      (unsigned long long)tot);
	CHECK(s.n == 4, "raid5: %d ranges", s.n);
	bool m0 = false, m2 = false;
	for (int i = 0; i < s.n && i < 64; i++) {
		if (s.disk[i] == 1 && s.off[i] == 10 && s.len[i] == 2 * C - 10)
			m0 = true;
		if (s.disk[i] == 3 && s.off[i] == C && s.len[i] == 2 * C - 10)
			m2 = true;
	}
	CHECK(m0 && m2, "raid5 merged runs");

	/* reconstruction: member 1 missing, data of chunk 1 from P ^ D0 */
	for (int i = 0; i < MB; i++) {
		buf[0][i] = (uint8_t)(i * 7);
		buf[1][i] = (uint8_t)(i * 13 + 1);
	}
	/* parity rows: row 0 P on member 2, row 1 on member 1, row 2 on 0 */
	for (int i = 0; i < (int)C; i++)
		buf[2][i] = buf[0][i] ^ buf[1][i];
	struct bm_volume *deg[N] = { mv[0], NULL, mv[2] };
	d5.members = deg;
	struct bm_volume *r5d = bm_raid_volume_new(ctx, &d5, "/dev/md/r5d");
	CHECK(r5d != NULL, "degraded raid5 volume");
	uint8_t got[64];
	CHECK(r5d && bm_read(r5d, got, sizeof got, C + 100) == 0,
	      "degraded read");
	CHECK(memcmp(got, buf[1] + 100, sizeof got) == 0,
	      "reconstructed data");
	/* the missing member's chunk maps nowhere */
	memset(&s, 0, sizeof s);
	CHECK(r5d && bm_volume_map(r5d, C, C, 0, record, &s) == 0 && s.n == 0,
	      "missing chunk mapped %d", s.n);
	CHECK(bm_ctx_status(ctx) == BM_WARN, "degraded warns");

	/* raid10 near 2 on 3: chunk 1 on members 2 (row 0) and 0 (row 1) */
	struct bm_raid_desc d10 = { .level = BM_RAID10, .layout = 0x102,
				    .nmembers = N, .chunk_bytes = C,
				    .member_bytes = MB, .members = mv };
	struct bm_volume *r10 = bm_raid_volume_new(ctx, &d10, "/dev/md/r10");
	CHECK(r10 && r10->size == 12 * C, "raid10 size");
	memset(&s, 0, sizeof s);
	CHECK(r10 && bm_volume_map(r10, C, C, 0, record, &s) == 0 && s.n == 2,
	      "raid10 map");
	/* (order of the callbacks is not specified) */
	int i3 = s.disk[0] == 3 ? 0 : 1, i1 = 1 - i3;
	CHECK(s.disk[i3] == 3 && s.off[i3] == 0 && s.flags[i3] == 0 &&
		      s.disk[i1] == 1 && s.off[i1] == C &&
		      s.flags[i1] == BM_RANGE_COPY,
	      "raid10 copies");
	bm_ctx_free(ctx);
	for (int i = 0; i < N; i++)
		free(buf[i]);
}

/* Shapes Linux refuses to assemble (raid5.c setup_conf(), raid10.c
 * setup_geo()): refused here too, else files would be mapped into an
 * array no kernel reads.  The smallest accepted ones pass. */
static void test_refused(void)
{
	static const struct {
		int level, layout;
		unsigned n;
		uint64_t chunk;
		bool ok;
	} t[] = {
		{ BM_RAID6, 2, 3, 65536, false },   /* raid6: 4 members */
		{ BM_RAID6, 2, 4, 65536, true },
		{ BM_RAID5, 2, 3, 1536, false },    /* not a power of two */
		{ BM_RAID5, 2, 3, 2048, false },    /* below a page */
		{ BM_RAID5, 2, 3, 4096, true },
		{ BM_RAID4, 0, 3, 12288, false },
		{ BM_RAID10, 0x101, 2, 65536, false }, /* one copy */
		{ BM_RAID10, 0x102, 2, 2048, false },
		{ BM_RAID10, 0x102, 2, 4096, true },
		{ BM_RAID0, 0, 2, 1536, true },     /* raid0 takes any */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct bm_raid_desc d = { .level = t[i].level,
					  .layout = t[i].layout,
					  .nmembers = t[i].n,
					  .chunk_bytes = t[i].chunk,
					  .member_bytes = 1 << 20 };
		const char *why = bm_raid_check(&d);
		CHECK((why == NULL) == t[i].ok,
		      "level %d layout %#x, %u members, chunk %llu: %s",
		      t[i].level, t[i].layout, t[i].n,
		      (unsigned long long)t[i].chunk, why ? why : "accepted");
	}
}

/* A raid0 of 512-byte chunks over four members of 2^50 bytes, mapped
 * whole: one run per member, from whole rows at once (chunk by chunk
 * it was 2^44 passes, for every name of a file: no end in sight).  The
 * members are never read. */
static void test_raid0_rows(void)
{
	struct bm_ctx *ctx = bm_ctx_new(&(struct bm_options){ .verbose = -1 });
	static uint8_t none[1];
	const uint64_t big = 1ull << 50;
	struct bm_volume *mv[4];
	uint64_t sizes[4];
	for (int i = 0; i < 4; i++) {
		mv[i] = bm_volume_memory(ctx, none, big, "/dev/sdx",
					 (unsigned)i + 1);
		sizes[i] = big;
	}
	struct bm_raid_desc d = { .level = BM_RAID0, .layout = 2,
				  .nmembers = 4, .chunk_bytes = 512,
				  .member_bytes = big, .member_sizes = sizes,
				  .members = mv };
	struct bm_volume *a = bm_raid_volume_new(ctx, &d, "/dev/md/big");
	struct seen s = { 0 };
	CHECK(a && a->size == 4 * big, "4 x 2^50 array");
	/* from the middle of a chunk to the middle of one far on */
	CHECK(a && bm_volume_map(a, 100, 4 * big - 1000, 0, record, &s) == 0,
	      "mapped");
	CHECK(s.n == 4, "%d runs", s.n);
	for (int i = 0; i < s.n && i < 4; i++) {
		/* member 0 from byte 100 of its first chunk.  The last
		 * byte, array offset 4*2^50 - 901, is byte 123 of chunk
		 * 2^43 - 2: on member 2, row 2^41 - 1, member offset
		 * 2^50 - 389.  Member 3's chunk of that row is not
		 * reached: it ends a row earlier. */
		uint64_t want_off = s.disk[i] == 1 ? 100 : 0;
		uint64_t want_end = s.disk[i] == 3   ? big - 388
				    : s.disk[i] == 4 ? big - 512
						     : big;
		CHECK(s.off[i] == want_off && s.off[i] + s.len[i] == want_end &&
			      s.flags[i] == 0,
		      "disk %u: 0x%llx+0x%llx", s.disk[i],
		      (unsigned long long)s.off[i], (unsigned long long)s.len[i]);
	}
	bm_ctx_free(ctx);
}

/* Bytes and runs mapped, per member. */
struct sums {
	uint64_t bytes[8];
	unsigned runs[8], copies[8];
};

static int sum_cb(void *opaque, unsigned disk, uint64_t off, uint64_t len,
		  unsigned flags)
{
	struct sums *s = opaque;
	(void)off;
	if (disk >= 1 && disk <= 8) {
		s->bytes[disk - 1] += len;
		s->runs[disk - 1]++;
		s->copies[disk - 1] += (flags & BM_RANGE_COPY) != 0;
	}
	return 0;
}

/* The work budget (2^28 steps for memory volumes, which are not disks)
 * stops a map through an array that would spend more: a raid5 of three
 * 64 MiB members and 4 KiB chunks takes a step per chunk (parity cuts
 * every member's run: no shortcut).  With 2^28 - 8192 steps spent
 * before, the whole-array map stops with a warning, the map is full,
 * and the next map of it maps nothing. */
static void test_work_budget(void)
{
	struct bm_ctx *ctx = bm_ctx_new(&(struct bm_options){ .verbose = -1 });
	static uint8_t none[1];
	const uint64_t mb64 = 64u << 20;
	struct bm_volume *mv[3];
	for (int i = 0; i < 3; i++)
		mv[i] = bm_volume_memory(ctx, none, mb64, "/dev/sdx",
					 (unsigned)i + 1);
	struct bm_raid_desc d = { .level = BM_RAID5, .layout = 2,
				  .nmembers = 3, .chunk_bytes = 4096,
				  .member_bytes = mb64, .members = mv };
	struct bm_volume *a = bm_raid_volume_new(ctx, &d, "/dev/md/r5");
	CHECK(a && a->size == 2 * mb64, "raid5 of three members");
	CHECK(bm_ctx_spend(ctx, (1u << 28) - 8192) && !bm_ctx_full(ctx),
	      "budget left");
	struct sums s = { 0 };
	CHECK(a && bm_volume_map(a, 0, 2 * mb64, 0, sum_cb, &s) == 0,
	      "mapped");
	CHECK(bm_ctx_full(ctx) && bm_ctx_warnings(ctx) == 1,
	      "budget spent: full, one warning");
	/* one step per 4 KiB chunk: 8191 of them before it ran out */
	uint64_t got = s.bytes[0] + s.bytes[1] + s.bytes[2];
	CHECK(got == 8191 * 4096ull, "0x%llx bytes mapped",
	      (unsigned long long)got);
	memset(&s, 0, sizeof s);
	CHECK(a && bm_volume_map(a, 0, 2 * mb64, 0, sum_cb, &s) == 0 &&
		      s.bytes[0] + s.bytes[1] + s.bytes[2] == 0,
	      "then nothing");
	bm_ctx_free(ctx);
}

/* raid10 maps of many periods are added a period at once: near 2 over
 * four members and far 2 over three (every copy's run per member grows
 * as one), on members of 2^50 bytes, mapped whole: one run per member
 * and copy, the copies flagged (piece by piece it was 2^39 steps and
 * more: no end in sight).  The offset layout over three members has its
 * copies in alternate rows: its runs end each row, and it goes piece by
 * piece (bounded by the ranges it makes), as a smaller array shows. */
static void test_raid10_periods(void)
{
	static uint8_t none[1];
	const uint64_t big = 1ull << 50;
	static const struct {
		int layout;
		unsigned n;
		uint64_t member;
		unsigned runs; /* per member */
	} t[] = {
		{ 0x102, 4, 1ull << 50, 1 },
		{ 0x201, 3, 1ull << 50, 2 },
		{ 0x10201, 3, 1u << 20, 0 },
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		struct bm_ctx *ctx =
			bm_ctx_new(&(struct bm_options){ .verbose = -1 });
		struct bm_volume *mv[4];
		for (unsigned i = 0; i < t[k].n; i++)
			mv[i] = bm_volume_memory(ctx, none, t[k].member,
						 "/dev/sdx", i + 1);
		struct bm_raid_desc d = { .level = BM_RAID10,
					  .layout = t[k].layout,
					  .nmembers = t[k].n,
					  .chunk_bytes = 4096,
					  .member_bytes = t[k].member,
					  .members = mv };
		struct bm_volume *a = bm_raid_volume_new(ctx, &d, "/dev/md/x");
		struct sums s = { 0 };
		CHECK(a && bm_volume_map(a, 0, a->size, 0, sum_cb, &s) == 0,
		      "layout %#x mapped", t[k].layout);
		uint64_t all = 0, copies = 0;
		for (unsigned i = 0; i < t[k].n; i++) {
			all += s.bytes[i];
			copies += s.copies[i];
			if (t[k].runs)
				CHECK(s.runs[i] == t[k].runs,
				      "layout %#x member %u: %u runs",
				      t[k].layout, i, s.runs[i]);
		}
		/* two copies of every byte */
		CHECK(a && all == 2 * a->size && !bm_ctx_full(ctx),
		      "layout %#x: 0x%llx bytes for 0x%llx", t[k].layout,
		      (unsigned long long)all,
		      (unsigned long long)(a ? a->size : 0));
		/* near 2 on four: members 1 and 3 hold the second copies */
		if (k == 0)
			CHECK(s.copies[0] == 0 && s.copies[1] == 1 &&
				      s.copies[2] == 0 && s.copies[3] == 1 &&
				      s.bytes[0] == big,
			      "near 2: copies on members 1 and 3");
		/* far 2: each member's far run is the copy */
		if (k == 1)
			CHECK(copies == 3, "far 2: %llu copy runs",
			      (unsigned long long)copies);
		bm_ctx_free(ctx);
	}
}

int main(void)
{
	test_refused();
	test_work_budget();
	test_raid10_periods();
	test_raid0_rows();
	test_raid5();
	test_raid6();
	test_raid10();
	test_raid0_linear();
	test_volumes();
	CHECK_DONE();
}
