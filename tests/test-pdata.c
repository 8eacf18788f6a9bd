/* Unit tests for the LVM layer's shared helpers: the persistent-data
 * btree and array reader (src/layers/lvm/pdata.c) on metadata built here
 * (a two-level btree over three array blocks; then repeated and
 * out-of-range keys, a bad checksum and a cycle), and the block remap
 * (remap.c) against a per-byte computation over random tables, ranges
 * and copy runs.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"
#include "layers/lvm/lvm.h"

#define B BM_PD_BLOCK
#define NBLK 16
#define PER 509 /* 8-byte values per array block */

static uint8_t meta[NBLK * B];

/* A btree node at block N: leaf or internal, keys and 8-byte values. */
static void node(unsigned n, bool leaf, unsigned nr, const uint64_t *keys,
		 const uint64_t *vals)
{
	uint8_t *b = meta + n * B;
	memset(b, 0, B);
	unsigned max = (B - 32) / 16;
	bm_put_le32(b + 4, leaf ? 2 : 1);
	bm_put_le64(b + 8, n);
	bm_put_le32(b + 16, nr);
	bm_put_le32(b + 20, max);
	bm_put_le32(b + 24, 8);
	for (unsigned i = 0; i < nr; i++) {
		bm_put_le64(b + 32 + 8 * i, keys[i]);
		bm_put_le64(b + 32 + 8 * max + 8 * i, vals[i]);
	}
	bm_put_le32(b, bm_pd_csum(b, 121107));
}

/* An array block at block N holding values FIRST*3+1.. for NR entries. */
static void ablock(unsigned n, uint64_t first, unsigned nr)
{
	uint8_t *b = meta + n * B;
	memset(b, 0, B);
	bm_put_le32(b + 4, PER);
	bm_put_le32(b + 8, nr);
	bm_put_le32(b + 12, 8);
	bm_put_le64(b + 16, n);
	for (unsigned j = 0; j < nr; j++)
		bm_put_le64(b + 24 + 8 * j, (first + j) * 3 + 1);
	bm_put_le32(b, bm_pd_csum(b, 595846735));
}

struct seen {
	unsigned calls, wrong;
	uint8_t hit[1200];
};

static void value(void *o, uint64_t i, const uint8_t *v)
{
	struct seen *s = o;
	s->calls++;
	if (i >= 1200 || bm_le64(v) != i * 3 + 1 || s->hit[i]++)
		s->wrong++;
}

/* The array of 1200 values: root internal node 1 -> leaves 2 (keys 0,
 * 1: array blocks 4, 5) and 3 (key 2: block 6, 182 entries). */
static void build(void)
{
	memset(meta, 0, sizeof meta);
	uint64_t k1[] = { 0, 2 }, v1[] = { 2, 3 };
	uint64_t k2[] = { 0, 1 }, v2[] = { 4, 5 };
	uint64_t k3[] = { 2 }, v3[] = { 6 };
	node(1, false, 2, k1, v1);
	node(2, true, 2, k2, v2);
	node(3, true, 1, k3, v3);
	ablock(4, 0, PER);
	ablock(5, PER, PER);
	ablock(6, 2 * PER, 1200 - 2 * PER);
}

static struct seen walk(uint64_t n, bool *bad)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	struct bm_volume *v = bm_volume_memory(ctx, meta, sizeof meta,
					       "/dev/meta", 1);
	struct bm_pd pd = { .ctx = ctx, .dev = "/dev/meta", .what = "test",
			    .vol = v, .nblocks = NBLK };
	static struct seen s;
	memset(&s, 0, sizeof s);
	bm_pd_array_walk(&pd, 1, n, 8, value, &s);
	*bad = pd.bad;
	bm_ctx_free(ctx);
	return s;
}

static void test_array(void)
{
	bool bad;
	build();
	struct seen s = walk(1200, &bad);
	CHECK(s.calls == 1200 && s.wrong == 0 && !bad,
	      "array: %u values, %u wrong, bad %d", s.calls, s.wrong, bad);
	/* fewer entries than the blocks hold: the rest is not taken (and
	 * the third block, past the end, reported) */
	s = walk(1000, &bad);
	CHECK(s.calls == 1000 && s.wrong == 0 && bad, "array of 1000: %u",
	      s.calls);
	/* a leaf repeating key 1 (its array block again): skipped, so no
	 * value is given twice however often a tree repeats a key */
	uint64_t k3[] = { 1, 1, 1, 2 }, v3[] = { 5, 5, 4, 6 };
	node(3, true, 4, k3, v3);
	s = walk(1200, &bad);
	CHECK(s.calls == 1200 && s.wrong == 0 && bad,
	      "repeated key: %u values, %u wrong, bad %d", s.calls, s.wrong,
	      bad);
	/* one array block under several rising keys: taken once (a tree
	 * naming one block under every key multiplied the entries) */
	build();
	uint64_t k7[] = { 0, 1, 2 }, v7[] = { 4, 4, 4 };
	node(1, true, 3, k7, v7);
	s = walk(1200, &bad);
	CHECK(s.calls == PER && bad, "one block under three keys: %u values, "
	      "bad %d", s.calls, bad);
	/* a key past the array's end */
	build();
	uint64_t k4[] = { 2, 7 }, v4[] = { 6, 6 };
	node(3, true, 2, k4, v4);
	s = walk(1200, &bad);
	CHECK(s.calls == 1200 && s.wrong == 0 && bad,
	      "key past the end: %u values, bad %d", s.calls, bad);
	/* a damaged array block */
	build();
	meta[5 * B + 100] ^= 1;
	s = walk(1200, &bad);
	CHECK(s.calls == 1200 - PER && s.wrong == 0 && bad,
	      "bad checksum: %u values, bad %d", s.calls, bad);
	/* a cycle: the root lists itself as a child (ends: each node once) */
	build();
	uint64_t k5[] = { 0, 1 }, v5[] = { 2, 1 };
	node(1, false, 2, k5, v5);
	s = walk(1200, &bad);
	CHECK(s.calls == 2 * PER && s.wrong == 0 && bad,
	      "cycle: %u values, bad %d", s.calls, bad);
	/* a child past the metadata's end */
	build();
	uint64_t k6[] = { 0, 2 }, v6[] = { 2, NBLK + 5 };
	node(1, false, 2, k6, v6);
	s = walk(1200, &bad);
	CHECK(s.calls == 2 * PER && bad, "child past the end: %u, bad %d",
	      s.calls, bad);
}

/* --- remap: random tables against a per-byte answer --------------- */

#define VSZ (1u << 15)
/* (stored: room for 24 blocks of 4 KiB after a base of up to 2 KiB) */
static uint8_t stored[VSZ * 4], other[VSZ];

struct rec {
	unsigned disk;
	uint64_t off, len;
	unsigned flags;
};
static struct rec recs[4096];
static size_t nrec;

static int record(void *o, unsigned disk, uint64_t off, uint64_t len,
		  unsigned flags)
{
	if (nrec < 4096)
		recs[nrec++] = (struct rec){ disk, off, len, flags };
	return 0;
}

static void test_remap(void)
{
	for (size_t i = 0; i < sizeof stored; i++)
		stored[i] = (uint8_t)(i * 7 + i / 251);
	for (size_t i = 0; i < sizeof other; i++)
		other[i] = (uint8_t)(i * 13 + 5 + i / 241);
	srand(4);
	int bad_read = 0, bad_map = 0;
	for (int it = 0; it < 2000; it++) {
		struct bm_ctx *ctx = bm_ctx_new(NULL);
		struct bm_volume *vs = bm_volume_memory(ctx, stored,
							sizeof stored, "/s", 1);
		struct bm_volume *vo = bm_volume_memory(ctx, other, VSZ, "/o",
							2);
		uint64_t unit = 512u << (rand() % 4), base = 512u * (rand() % 5);
		uint64_t nv = VSZ / unit;
		/* the winner per block: the highest (order, p) */
		int64_t win[64];
		bool copy[64];
		uint64_t order[64];
		for (uint64_t v = 0; v < nv; v++)
			win[v] = -1;
		struct lvm_single s[24];
		int n = rand() % 24;
		for (int i = 0; i < n; i++) {
			s[i] = (struct lvm_single){ rand() % nv, i, rand() % 3,
						    rand() % 2 };
			uint64_t v = s[i].v;
			if (win[v] < 0 || s[i].order > order[v] ||
			    (s[i].order == order[v] && s[i].p > (uint64_t)win[v])) {
				win[v] = (int64_t)s[i].p;
				order[v] = s[i].order;
				copy[v] = s[i].copy;
			}
		}
		struct lvm_remap *m = bm_calloc(1, sizeof *m);
		bm_lvm_remap_from_singles(m, s, n);
		m->unit = unit;
		m->base = base;
		m->stored = vs;
		m->other = rand() % 4 ? vo : NULL;
		uint64_t off = rand() % VSZ, len = 1 + rand() % (VSZ - off);
		uint8_t *buf = malloc(len);
		if (bm_lvm_remap_read(m, buf, len, off) < 0)
			bad_read++;
		for (uint64_t k = 0; k < len; k++) {
			uint64_t x = off + k, v = x / unit;
			uint8_t want = win[v] >= 0
				? stored[base + win[v] * unit + x % unit]
				: m->other ? other[x] : 0;
			if (buf[k] != want) {
				bad_read++;
				break;
			}
		}
		nrec = 0;
		if (bm_lvm_remap_map(m, off, len, 0, record, NULL) < 0)
			bad_map++;
		/* every byte: in the stored volume when the table has its
		 * block (as a copy when the run is one and there is an
		 * other volume), in the other volume when it has not or the
		 * run is a copy */
		for (uint64_t k = 0; k < len; k += 97) {
			uint64_t x = off + k, v = x / unit;
			uint64_t p = win[v] >= 0 ? base + win[v] * unit + x % unit : 0;
			int got_s = 0, got_o = 0, got_copy = 0;
			for (size_t r = 0; r < nrec; r++) {
				if (recs[r].disk == 1 && win[v] >= 0 &&
				    p >= recs[r].off && p < recs[r].off + recs[r].len) {
					got_s++;
					got_copy = !!(recs[r].flags & BM_RANGE_COPY);
				}
				if (recs[r].disk == 2 && x >= recs[r].off &&
				    x < recs[r].off + recs[r].len)
					got_o++;
			}
			bool want_s = win[v] >= 0;
			bool want_o = m->other && (win[v] < 0 || copy[v]);
			bool want_copy = want_s && copy[v] && m->other;
			if (got_s != want_s || got_o != want_o ||
			    got_copy != want_copy) {
				bad_map++;
				break;
			}
		}
		free(buf);
		bm_lvm_remap_free(m);
		bm_ctx_free(ctx);
	}
	CHECK(bad_read == 0, "remap: %d reads differ", bad_read);
	CHECK(bad_map == 0, "remap: %d maps differ", bad_map);
}

int main(void)
{
	test_array();
	test_remap();
	CHECK_DONE();
}
