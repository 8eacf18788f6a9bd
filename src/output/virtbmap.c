/* virt-bmap text output.
 *
 * "DISK START END TYPE DEVICE [PATH]": start/end lowercase hex, end
 * exclusive.  As virt-bmap does it: overlapping objects are split into
 * pieces at every boundary, each piece is printed once per object covering
 * it, pieces in ascending order, the objects of a piece in string order,
 * and adjacent pieces covered by the same set of objects are joined.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* Ends of the ranges covering the sweep position: a binary min-heap
 * on END (its size is the overlap depth, a few entries). */
struct ends {
	struct end {
		uint64_t end;
		uint32_t rank; /* object rank in string order */
	} *v;
	size_t n, cap;
};

static void ends_push(struct ends *h, uint64_t end, uint32_t rank)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = bm_reallocarray(h->v, h->cap, sizeof *h->v);
	}
	size_t i = h->n++;
	/* Sift up: I halves each step. */
	while (i > 0 && h->v[(i - 1) / 2].end > end) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = (struct end){ end, rank };
}

static struct end ends_pop(struct ends *h)
{
	struct end top = h->v[0], last = h->v[--h->n];
	size_t i = 0;
	/* Sift down: I at least doubles each step. */
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1].end < h->v[c].end)
			c++;
		if (h->v[c].end >= last.end)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

/* Lines are built in a buffer and written in large pieces: fprintf per
 * line was a fifth of a run. */
struct obuf {
	FILE *out;
	size_t n;
	int err;
	char b[1 << 16];
};

static void ob_flush(struct obuf *o)
{
	if (o->n && fwrite(o->b, 1, o->n, o->out) != o->n)
		o->err = -1;
	o->n = 0;
}

static void ob_dec(struct obuf *o, uint32_t x)
{
	char t[10];
	int k = 0;
	do {
		t[k++] = (char)('0' + x % 10);
		x /= 10;
	} while (x);
	while (k)
		o->b[o->n++] = t[--k];
}

/* Lowercase hex without leading zeroes, written from the top digit. */
static void ob_hex(struct obuf *o, uint64_t x)
{
	int shift = x ? (63 - __builtin_clzll(x)) / 4 * 4 : 0;
	for (; shift >= 0; shift -= 4)
		o->b[o->n++] = "0123456789abcdef"[(x >> shift) & 15];
}

/* "DISK START END OBJECT\n", as "%u %llx %llx %s\n". */
static void ob_line(struct obuf *o, uint32_t disk, uint64_t start,
		    uint64_t end, const char *obj)
{
	size_t len = strlen(obj);
	if (sizeof o->b - o->n < 64 + len)
		ob_flush(o);
	ob_dec(o, disk);
	o->b[o->n++] = ' ';
	ob_hex(o, start);
	o->b[o->n++] = ' ';
	ob_hex(o, end);
	o->b[o->n++] = ' ';
	if (len + 1 > sizeof o->b - o->n) { /* a name longer than the buffer */
		ob_flush(o);
		if (fwrite(obj, 1, len, o->out) != len)
			o->err = -1;
	} else {
		memcpy(o->b + o->n, obj, len);
		o->n += len;
	}
	o->b[o->n++] = '\n';
}

char *bm_object_text(const struct bm_objinfo *o)
{
	struct bm_str b = { 0 };
	bm_str_putn(&b, &o->type, 1);
	bm_str_puts(&b, " ");
	bm_escape_field(&b, o->dev);
	if (o->path) {
		bm_str_puts(&b, o->type == 'm' ? " <" : " ");
		bm_escape_path(&b, o->path);
		if (o->type == 'm')
			bm_str_puts(&b, ">");
	}
	return b.s;
}

/* The text of every object that a range names, NULL for the others (a
 * file with no blocks prints nothing): those can be many more. */
static char **object_strings(struct bm_ctx *ctx, size_t n,
			     const struct bm_range *r, size_t nr, size_t *used)
{
	char **s = bm_calloc(n, sizeof *s);
	*used = 0;
	for (size_t i = 0; i < nr; i++)
		if (r[i].start < r[i].end && !s[r[i].obj]) {
			s[r[i].obj] = bm_object_text(bm_object_info(ctx, r[i].obj));
			++*used;
		}
	return s;
}

/* qsort has no context argument in C11: sort (string, index) pairs. */
struct keyed {
	const char *s;
	uint32_t i;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->s, y->s);
	if (c)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The active set: object ranks with their cover counts, kept sorted. */
struct active {
	uint32_t *rank;
	uint32_t *count;
	size_t n, cap;
};

static void active_change(struct active *a, uint32_t rank, int delta)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a->rank[mid] < rank)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < a->n && a->rank[lo] == rank) {
		if (delta > 0) {
			a->count[lo]++;
		} else if (--a->count[lo] == 0) {
			memmove(a->rank + lo, a->rank + lo + 1,
				(a->n - lo - 1) * sizeof *a->rank);
			memmove(a->count + lo, a->count + lo + 1,
				(a->n - lo - 1) * sizeof *a->count);
			a->n--;
		}
		return;
	}
	if (delta < 0)
		return; /* cannot happen: ends follow starts */
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->rank = bm_reallocarray(a->rank, a->cap, sizeof *a->rank);
		a->count = bm_reallocarray(a->count, a->cap, sizeof *a->count);
	}
	memmove(a->rank + lo + 1, a->rank + lo, (a->n - lo) * sizeof *a->rank);
	memmove(a->count + lo + 1, a->count + lo,
		(a->n - lo) * sizeof *a->count);
	a->rank[lo] = rank;
	a->count[lo] = 1;
	a->n++;
}

/* Skip empty ranges: they cover nothing. */
static size_t skip_empty(const struct bm_range *r, size_t i, size_t nr)
{
	while (i < nr && r[i].start >= r[i].end)
		i++;
	return i;
}

int bm_write_virtbmap(struct bm_ctx *ctx, FILE *out)
{
	size_t nobj = bm_object_count(ctx);
	size_t nr = bm_store_count(ctx);
	/* sorted by (disk, start) */
	const struct bm_range *r = bm_store_ranges(ctx);
	size_t nused;
	char **str = object_strings(ctx, nobj, r, nr, &nused);

	/* ranks in string order, for the objects ranges name */
	struct keyed *k = bm_calloc(nused, sizeof *k);
	for (size_t i = 0, j = 0; i < nobj; i++)
		if (str[i])
			k[j++] = (struct keyed){ str[i], (uint32_t)i };
	bm_qsort(k, nused, sizeof *k, keyed_cmp);
	uint32_t *rank = bm_calloc(nobj, sizeof *rank);
	const char **byrank = bm_calloc(nused, sizeof *byrank);
	for (size_t i = 0; i < nused; i++) {
		rank[k[i].i] = (uint32_t)i;
		byrank[i] = k[i].s;
	}
	free(k);

	struct active cur = { 0 }, prev = { 0 };
	struct ends heap = { 0 };
	struct obuf *ob = bm_malloc(sizeof *ob);
	ob->out = out;
	ob->n = 0;
	ob->err = 0;
	uint64_t pend_start = 0, pend_end = 0;
	uint32_t pend_disk = 0, disk = 0;
	bool pending = false;

	/* A sweep over the boundaries of one disk at a time: starts come
	 * in order from the sorted ranges, ends from the heap of the
	 * ranges covering the position.  Each pass consumes a start or
	 * pops an end, so it ends after 2 * NR passes. */
	size_t i = skip_empty(r, 0, nr);
	while (i < nr || heap.n) {
		uint64_t pos;
		if (heap.n) {
			pos = heap.v[0].end;
			if (i < nr && r[i].disk == disk && r[i].start < pos)
				pos = r[i].start;
		} else {
			disk = r[i].disk;
			pos = r[i].start;
		}
		/* Apply every boundary at this position. */
		while (heap.n && heap.v[0].end == pos)
			active_change(&cur, ends_pop(&heap).rank, -1);
		for (; i < nr && r[i].disk == disk && r[i].start == pos;
		     i = skip_empty(r, i + 1, nr)) {
			active_change(&cur, rank[r[i].obj], +1);
			ends_push(&heap, r[i].end, rank[r[i].obj]);
		}
		uint64_t next = pos;
		if (heap.n) {
			next = heap.v[0].end;
			if (i < nr && r[i].disk == disk && r[i].start < next)
				next = r[i].start;
		}
		bool same = pending && pend_disk == disk &&
			    pend_end == pos && prev.n == cur.n &&
			    memcmp(prev.rank, cur.rank,
				   cur.n * sizeof *cur.rank) == 0;
		if (same) {
			pend_end = next;
			continue;
		}
		if (pending)
			for (size_t j = 0; j < prev.n; j++)
				ob_line(ob, pend_disk, pend_start, pend_end,
					byrank[prev.rank[j]]);
		pending = cur.n > 0 && next > pos;
		if (pending) {
			pend_disk = disk;
			pend_start = pos;
			pend_end = next;
			if (prev.cap < cur.n) {
				prev.cap = cur.cap;
				prev.rank = bm_reallocarray(prev.rank, prev.cap,
							    sizeof *prev.rank);
			}
			memcpy(prev.rank, cur.rank, cur.n * sizeof *cur.rank);
			prev.n = cur.n;
		}
	}
	if (pending)
		for (size_t j = 0; j < prev.n; j++)
			ob_line(ob, pend_disk, pend_start, pend_end,
				byrank[prev.rank[j]]);
	ob_flush(ob);
	int err = ob->err;

	free(ob);
	free(heap.v);
	free(cur.rank);
	free(cur.count);
	free(prev.rank);
	free(rank);
	free(byrank);
	for (size_t j = 0; j < nobj; j++)
		free(str[j]);
	free(str);
	return err;
}
