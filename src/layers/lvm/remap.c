/* Block remaps: an LV whose blocks are stored elsewhere, block by block.
 *
 * Thin LVs (blocks in the pool's data LV), snapshots (exceptions in the
 * COW store, the rest from the origin), writecache and dm-cache LVs
 * (blocks in the cache, the rest from the origin) all read virtual block
 * V of UNIT bytes from a table of runs, and from an "other" volume (or
 * nowhere) where the table has none.  A run may be a copy of the other
 * volume's blocks (a clean dm-cache block): then both are mapped.  This
 * file keeps the table and walks ranges over it; the callers fill it
 * from their on-disk formats.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layers/lvm/lvm.h"

void bm_lvm_run_add(struct lvm_remap *m, size_t *cap, uint64_t v, uint64_t p,
		    bool copy)
{
	struct lvm_run *last = m->n ? &m->r[m->n - 1] : NULL;
	if (last && last->vstart + last->count == v &&
	    last->pstart + last->count == p && last->copy == copy) {
		last->count++;
		return;
	}
	if (m->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		m->r = bm_reallocarray(m->r, *cap, sizeof *m->r);
	}
	m->r[m->n++] = (struct lvm_run){ v, p, 1, copy };
}

static int cmp_single(const void *a, const void *b)
{
	const struct lvm_single *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->p < y->p ? -1 : x->p > y->p;
}

size_t bm_lvm_singles_compact(struct lvm_single *s, size_t n)
{
	size_t k = 0;
	if (n)
		bm_qsort(s, n, sizeof *s, cmp_single);
	for (size_t i = 0; i < n; i++)
		if (i + 1 == n || s[i + 1].v != s[i].v)
			s[k++] = s[i];
	return k;
}

size_t bm_lvm_remap_from_singles(struct lvm_remap *m, struct lvm_single *s,
				 size_t n)
{
	size_t cap = 0, lost = 0;
	if (n)
		bm_qsort(s, n, sizeof *s, cmp_single);
	/* Sorted by block, then order, then stored block: the last of
	 * each block's group is the one that counts. */
	for (size_t i = 0; i < n; i++) {
		if (i + 1 == n || s[i + 1].v != s[i].v)
			bm_lvm_run_add(m, &cap, s[i].v, s[i].p, s[i].copy);
		else
			lost++;
	}
	return lost;
}

void bm_lvm_remap_free(struct lvm_remap *m)
{
	if (!m)
		return;
	free(m->r);
	free(m);
}

/* First run ending after virtual unit U. */
static size_t run_find(const struct lvm_run *r, size_t n, uint64_t u)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].vstart + r[mid].count <= u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* What to do with the pieces of a range: stored ones (at byte POFF of
 * m->stored; COPY: OFF of m->other holds the same) and the gaps between
 * runs. */
struct piece_ops {
	int (*stored)(void *o, uint64_t off, uint64_t poff, uint64_t len,
		      uint64_t done, bool copy);
	int (*gap)(void *o, uint64_t off, uint64_t len, uint64_t done);
};

/* Walk [OFF, OFF+LEN) over M's runs.  Each pass consumes at least one
 * byte (a run or gap containing the current offset), so it ends. */
static int walk(const struct lvm_remap *m, uint64_t off, uint64_t len,
		const struct piece_ops *ops, void *o)
{
	uint64_t unit = m->unit, done = 0;
	size_t i = run_find(m->r, m->n, off / unit);
	while (done < len) {
		uint64_t cur = off + done, u = cur / unit;
		uint64_t left = len - done, piece;
		if (i < m->n && m->r[i].vstart <= u) {
			uint64_t end = (m->r[i].vstart + m->r[i].count) * unit;
			piece = end - cur < left ? end - cur : left;
			uint64_t p = m->base +
				     (m->r[i].pstart + (u - m->r[i].vstart)) *
					     unit +
				     cur % unit;
			if (ops->stored(o, cur, p, piece, done, m->r[i].copy) < 0)
				return -1;
			i++;
		} else {
			uint64_t end = i < m->n ? m->r[i].vstart * unit
						: UINT64_MAX;
			piece = end - cur < left ? end - cur : left;
			if (ops->gap(o, cur, piece, done) < 0)
				return -1;
		}
		done += piece;
	}
	return 0;
}

struct mapctx {
	const struct lvm_remap *m;
	unsigned flags;
	bm_range_cb cb;
	void *opaque;
	uint8_t *buf;
};

static int m_stored(void *o, uint64_t off, uint64_t poff, uint64_t len,
		    uint64_t done, bool copy)
{
	struct mapctx *c = o;
	/* a copy: the other volume's blocks first (they are as current),
	 * then the stored ones as a copy */
	if (copy && c->m->other &&
	    bm_volume_map(c->m->other, off, len, c->flags, c->cb,
			  c->opaque) < 0)
		return -1;
	return bm_volume_map(c->m->stored, poff, len,
			     c->flags | (copy && c->m->other ? BM_RANGE_COPY : 0),
			     c->cb, c->opaque);
}

static int m_gap(void *o, uint64_t off, uint64_t len, uint64_t done)
{
	struct mapctx *c = o;
	if (!c->m->other)
		return 0; /* unprovisioned thin blocks are not stored */
	return bm_volume_map(c->m->other, off, len, c->flags, c->cb,
			     c->opaque);
}

static int r_stored(void *o, uint64_t off, uint64_t poff, uint64_t len,
		    uint64_t done, bool copy)
{
	struct mapctx *c = o;
	return bm_read(c->m->stored, c->buf + done, len, poff);
}

static int r_gap(void *o, uint64_t off, uint64_t len, uint64_t done)
{
	struct mapctx *c = o;
	if (!c->m->other) {
		memset(c->buf + done, 0, len);
		return 0;
	}
	return bm_read(c->m->other, c->buf + done, len, off);
}

static const struct piece_ops map_ops = { .stored = m_stored, .gap = m_gap };
static const struct piece_ops read_ops = { .stored = r_stored, .gap = r_gap };

int bm_lvm_remap_map(const struct lvm_remap *m, uint64_t off, uint64_t len,
		     unsigned flags, bm_range_cb cb, void *opaque)
{
	if (!m)
		return 0;
	struct mapctx c = { .m = m, .flags = flags, .cb = cb, .opaque = opaque };
	return walk(m, off, len, &map_ops, &c);
}

int bm_lvm_remap_read(const struct lvm_remap *m, uint8_t *buf, uint64_t len,
		      uint64_t off)
{
	if (!m) {
		errno = ENODATA;
		return -1;
	}
	struct mapctx c = { .m = m, .buf = buf };
	return walk(m, off, len, &read_ops, &c);
}
