/* persistent-data: the metadata format of thin pools and dm-cache.
 *
 * (linux drivers/md/persistent-data/dm-btree*.c, dm-array.c.)  The
 * metadata is an array of 4 KiB blocks, each with a checksum: crc32c of
 * bytes 4..4095 (seeded with ~0, not inverted) xor a constant per block
 * type.  Btree nodes: 0 csum (xor 121107), 4 flags (1 internal, 2 leaf),
 * 8 blocknr, 16 nr_entries, 20 max_entries, 24 value_size; le64 keys
 * from byte 32, then the values.  Internal values are child block
 * numbers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>

#include "layers/lvm/lvm.h"

#define NODE_CSUM_XOR 121107u
#define NODE_INTERNAL 1u
#define NODE_LEAF 2u
#define NODE_HEADER 32u
#define MAX_BTREE_DEPTH 16 /* 2^64 keys need fewer levels */

/* bm_crc32c() inverts at both ends: invert its result back. */
uint32_t bm_pd_csum(const uint8_t *b, uint32_t xor)
{
	return ~bm_crc32c(0, b + 4, BM_PD_BLOCK - 4) ^ xor;
}

int bm_pd_read(struct bm_pd *pd, uint64_t b, uint8_t *buf)
{
	uint64_t off;
	if (b >= pd->nblocks || !bm_muladd(b, BM_PD_BLOCK, pd->base, &off)) {
		bm_warn(pd->ctx, pd->dev, pd->base,
			"%s: block %llu is past its end (%llu blocks)",
			pd->what, (unsigned long long)b,
			(unsigned long long)pd->nblocks);
		return -1;
	}
	if (bm_read(pd->vol, buf, BM_PD_BLOCK, off) < 0) {
		bm_warn(pd->ctx, pd->dev, off, "%s block %llu unreadable",
			pd->what, (unsigned long long)b);
		return -1;
	}
	return 0;
}

/* Read btree node B and check its checksum, location and sizes. */
static int read_node(struct bm_pd *pd, uint64_t b, uint8_t *buf)
{
	if (bm_pd_read(pd, b, buf) < 0)
		return -1;
	uint32_t nr = bm_le32(buf + 16), max = bm_le32(buf + 20);
	uint32_t vs = bm_le32(buf + 24), flags = bm_le32(buf + 4);
	if (!bm_csum_ok(bm_le32(buf) == bm_pd_csum(buf, NODE_CSUM_XOR)) ||
	    bm_le64(buf + 8) != b || nr > max || vs == 0 || vs > 64 ||
	    (uint64_t)max * (8 + vs) > BM_PD_BLOCK - NODE_HEADER ||
	    !(flags & (NODE_INTERNAL | NODE_LEAF)) ||
	    ((flags & NODE_INTERNAL) && vs != 8)) {
		bm_warn(pd->ctx, pd->dev, pd->base + b * BM_PD_BLOCK,
			"%s btree node %llu is corrupt", pd->what,
			(unsigned long long)b);
		return -1;
	}
	return 0;
}

int bm_pd_lookup(struct bm_pd *pd, uint64_t root, uint64_t key, uint64_t *val)
{
	uint8_t buf[BM_PD_BLOCK];
	uint64_t b = root;
	for (int depth = 0; depth < MAX_BTREE_DEPTH; depth++) {
		if (read_node(pd, b, buf) < 0)
			return -1;
		uint32_t nr = bm_le32(buf + 16), max = bm_le32(buf + 20);
		const uint8_t *keys = buf + NODE_HEADER, *vals = keys + 8 * max;
		if (bm_le32(buf + 24) != 8) {
			bm_warn(pd->ctx, pd->dev, pd->base + b * BM_PD_BLOCK,
				"%s btree node %llu: values of %u bytes, not "
				"8", pd->what, (unsigned long long)b,
				bm_le32(buf + 24));
			return -1;
		}
		/* Last key <= KEY (keys are sorted). */
		int64_t i = -1;
		for (uint32_t k = 0; k < nr && bm_le64(keys + 8 * k) <= key; k++)
			i = k;
		if (i < 0)
			return -1;
		uint64_t v = bm_le64(vals + 8 * i);
		if (bm_le32(buf + 4) & NODE_LEAF) {
			if (bm_le64(keys + 8 * i) != key)
				return -1;
			*val = v;
			return 0;
		}
		b = v;
	}
	return -1;
}

struct walk {
	struct bm_pd *pd;
	struct bm_u64set seen;
	bm_pd_leaf_fn fn;
	void *o;
};

/* Each node is visited once (SEEN), and no deeper than MAX_BTREE_DEPTH,
 * so the walk is bounded by the metadata size. */
static void walk(struct walk *w, uint64_t b, int depth)
{
	uint8_t buf[BM_PD_BLOCK];
	if (depth >= MAX_BTREE_DEPTH || !bm_u64set_add(&w->seen, b) ||
	    read_node(w->pd, b, buf) < 0) {
		w->pd->bad = true;
		return;
	}
	uint32_t nr = bm_le32(buf + 16), max = bm_le32(buf + 20);
	uint32_t vs = bm_le32(buf + 24);
	const uint8_t *keys = buf + NODE_HEADER, *vals = keys + 8 * max;
	bool leaf = bm_le32(buf + 4) & NODE_LEAF;
	if (leaf && vs != 8) {
		w->pd->bad = true;
		return;
	}
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t v = bm_le64(vals + 8 * i);
		if (leaf)
			w->fn(w->o, bm_le64(keys + 8 * i), v);
		else
			walk(w, v, depth + 1);
	}
}

void bm_pd_walk(struct bm_pd *pd, uint64_t root, bm_pd_leaf_fn fn, void *o)
{
	struct walk w = { .pd = pd, .fn = fn, .o = o };
	walk(&w, root, 0);
	bm_u64set_free(&w.seen);
}

/* dm-array blocks: 0 csum (xor 595846735), 4 max_entries, 8 nr_entries,
 * 12 value_size, 16 blocknr, values from byte 24. */
#define ARRAY_CSUM_XOR 595846735u
#define ARRAY_HEADER 24u

struct array_walk {
	struct bm_pd *pd;
	uint32_t value_size;
	uint64_t n, nkeys;     /* entries, array blocks */
	bool any;
	uint64_t last;         /* the last key taken */
	struct bm_u64set blocks; /* array blocks taken */
	bm_pd_value_fn fn;
	void *o;
	uint8_t buf[BM_PD_BLOCK];
};

/* Read array block B into BUF and check it (checksum, location, sizes):
 * its number of values, or -1 after a warning. */
static int64_t array_block(struct bm_pd *pd, uint64_t b, uint32_t value_size,
			   uint8_t *buf)
{
	uint32_t max = (BM_PD_BLOCK - ARRAY_HEADER) / value_size;
	if (bm_pd_read(pd, b, buf) < 0)
		return -1;
	uint32_t nr = bm_le32(buf + 8);
	if (!bm_csum_ok(bm_le32(buf) == bm_pd_csum(buf, ARRAY_CSUM_XOR)) ||
	    bm_le64(buf + 16) != b || bm_le32(buf + 4) != max ||
	    bm_le32(buf + 12) != value_size || nr > max) {
		bm_warn(pd->ctx, pd->dev, pd->base + b * BM_PD_BLOCK,
			"%s array block %llu is corrupt", pd->what,
			(unsigned long long)b);
		return -1;
	}
	return nr;
}

static void array_leaf(void *o, uint64_t key, uint64_t b)
{
	struct array_walk *a = o;
	struct bm_pd *pd = a->pd;
	uint8_t *buf = a->buf;
	uint32_t max = (BM_PD_BLOCK - ARRAY_HEADER) / a->value_size;
	uint64_t at = pd->base + (b < pd->nblocks ? b * BM_PD_BLOCK : 0);
	/* Keys (array block indexes) rise and stay below the array's
	 * size, and every key has an array block of its own (dm-array
	 * never shares one within an array): every entry is taken once,
	 * and every metadata block gives at most one block of entries, so
	 * crafted trees cannot multiply them. */
	if ((a->any && key <= a->last) || key >= a->nkeys ||
	    !bm_u64set_add(&a->blocks, b)) {
		bm_warn(pd->ctx, pd->dev, at,
			"%s: array block %llu under key %llu, out of order, "
			"past the array's %llu entries or used twice: skipped",
			pd->what, (unsigned long long)b,
			(unsigned long long)key, (unsigned long long)a->n);
		pd->bad = true;
		return;
	}
	int64_t nr = array_block(pd, b, a->value_size, buf);
	if (nr < 0) {
		pd->bad = true;
		return;
	}
	a->any = true;
	a->last = key;
	pd->at = at;
	/* (key < nkeys: key * max + j <= n - 1 + max, no overflow) */
	for (uint32_t j = 0; j < (uint32_t)nr && key * max + j < a->n; j++)
		a->fn(a->o, key * max + j, buf + ARRAY_HEADER + j * a->value_size);
}

void bm_pd_array_walk(struct bm_pd *pd, uint64_t root, uint64_t n,
		      uint32_t value_size, bm_pd_value_fn fn, void *o)
{
	uint32_t max = (BM_PD_BLOCK - ARRAY_HEADER) / value_size;
	struct array_walk *a = bm_malloc(sizeof *a);
	*a = (struct array_walk){ .pd = pd, .value_size = value_size,
				  .n = n, .nkeys = n / max + (n % max != 0),
				  .fn = fn, .o = o };
	bm_pd_walk(pd, root, array_leaf, a);
	bm_u64set_free(&a->blocks);
	free(a);
}

const uint8_t *bm_pd_array_get(struct bm_pd_array *a, uint64_t index)
{
	uint32_t max = (BM_PD_BLOCK - ARRAY_HEADER) / a->value_size;
	uint64_t key = index / max, b;
	if (!a->have || a->key != key) {
		a->have = true;
		a->key = key;
		a->nr = -1;
		if (bm_pd_lookup(a->pd, a->root, key, &b) == 0)
			a->nr = array_block(a->pd, b, a->value_size, a->buf);
		if (a->nr < 0)
			a->pd->bad = true;
	}
	if (index % max >= (uint64_t)(a->nr < 0 ? 0 : a->nr))
		return NULL;
	return a->buf + ARRAY_HEADER + index % max * a->value_size;
}
