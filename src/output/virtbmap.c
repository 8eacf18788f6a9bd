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

struct event {
	uint64_t pos;
	uint32_t disk;
	uint32_t rank;  /* object rank in string order */
	int delta;      /* +1 start, -1 end */
};

static int event_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return 0;
}

char *bm_object_text(const struct bm_objinfo *o)
{
	struct bm_str b = { 0 };
	bm_str_putn(&b, &o->type, 1);
	bm_str_puts(&b, " ");
	bm_escape_path(&b, o->dev);
	if (o->path) {
		bm_str_puts(&b, o->type == 'm' ? " <" : " ");
		bm_escape_path(&b, o->path);
		if (o->type == 'm')
			bm_str_puts(&b, ">");
	}
	return b.s;
}

static char **object_strings(struct bm_ctx *ctx, size_t n)
{
	char **s = bm_calloc(n, sizeof *s);
	for (size_t i = 0; i < n; i++)
		s[i] = bm_object_text(bm_object_info(ctx, (bm_obj)i));
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

int bm_write_virtbmap(struct bm_ctx *ctx, FILE *out)
{
	size_t nobj = bm_object_count(ctx);
	size_t nr = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	char **str = object_strings(ctx, nobj);

	struct keyed *k = bm_calloc(nobj, sizeof *k);
	for (size_t i = 0; i < nobj; i++)
		k[i] = (struct keyed){ str[i], (uint32_t)i };
	bm_qsort(k, nobj, sizeof *k, keyed_cmp);
	uint32_t *rank = bm_calloc(nobj, sizeof *rank);
	const char **byrank = bm_calloc(nobj, sizeof *byrank);
	for (size_t i = 0; i < nobj; i++) {
		rank[k[i].i] = (uint32_t)i;
		byrank[i] = k[i].s;
	}
	free(k);

	struct event *ev = bm_calloc(nr * 2, sizeof *ev);
	size_t ne = 0;
	for (size_t i = 0; i < nr; i++) {
		if (r[i].start >= r[i].end)
			continue;
		ev[ne++] = (struct event){ r[i].start, r[i].disk,
					   rank[r[i].obj], +1 };
		ev[ne++] = (struct event){ r[i].end, r[i].disk,
					   rank[r[i].obj], -1 };
	}
	bm_qsort(ev, ne, sizeof *ev, event_cmp);

	struct active cur = { 0 }, prev = { 0 };
	uint64_t pend_start = 0, pend_end = 0;
	uint32_t pend_disk = 0;
	bool pending = false;
	int err = 0;

	for (size_t i = 0; i < ne;) {
		uint32_t disk = ev[i].disk;
		uint64_t pos = ev[i].pos;
		/* Apply every event at this position. */
		for (; i < ne && ev[i].disk == disk && ev[i].pos == pos; i++)
			active_change(&cur, ev[i].rank, ev[i].delta);
		uint64_t next = (i < ne && ev[i].disk == disk) ? ev[i].pos
							       : pos;
		bool same = pending && pend_disk == disk &&
			    pend_end == pos && prev.n == cur.n &&
			    memcmp(prev.rank, cur.rank,
				   cur.n * sizeof *cur.rank) == 0;
		if (same) {
			pend_end = next;
			continue;
		}
		if (pending) {
			for (size_t j = 0; j < prev.n; j++)
				if (fprintf(out, "%u %llx %llx %s\n",
					    pend_disk,
					    (unsigned long long)pend_start,
					    (unsigned long long)pend_end,
					    byrank[prev.rank[j]]) < 0)
					err = -1;
		}
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
			if (fprintf(out, "%u %llx %llx %s\n", pend_disk,
				    (unsigned long long)pend_start,
				    (unsigned long long)pend_end,
				    byrank[prev.rank[j]]) < 0)
				err = -1;

	free(cur.rank);
	free(cur.count);
	free(prev.rank);
	free(ev);
	free(rank);
	free(byrank);
	for (size_t i = 0; i < nobj; i++)
		free(str[i]);
	free(str);
	return err;
}
