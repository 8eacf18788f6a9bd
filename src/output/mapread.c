/* Reading maps back for lookup and trace.
 *
 * A virt-bmap text map is untrusted input: lines are at most
 * MAX_LINE bytes (longer ones are skipped), numbers are checked for
 * overflow, start < end is required, and the object text is re-escaped
 * (control characters, C1 controls and invalid UTF-8 as \xHH) so that
 * printing it cannot drive a terminal.  Memory grows with the input,
 * never faster.
 *
 * Pieces of one object that touch or overlap are joined into extents:
 * the text format splits objects at every boundary, lookup reports whole
 * extents.  The extents of each disk are kept sorted by start and
 * indexed as an implicit interval tree (each record is the root of the
 * subarray around it, augmented with the maximum end below it), so a
 * query costs O(log n + hits).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapread.h"

#define MAX_LINE (64 * 1024)
#define MAX_REPORTED 5 /* bad lines named on stderr */

void bm_map_init(struct bm_map *m)
{
	memset(m, 0, sizeof *m);
}

void bm_map_free(struct bm_map *m)
{
	for (size_t i = 0; i < m->nobj; i++)
		free(m->text[i]);
	free(m->text);
	free(m->hash);
	free(m->rec);
	memset(m, 0, sizeof *m);
}

static uint64_t text_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static void hash_grow(struct bm_map *m)
{
	size_t cap = m->hashcap ? m->hashcap * 2 : 1024;
	uint32_t *h = bm_malloc(cap * sizeof *h);
	memset(h, 0xff, cap * sizeof *h);
	for (size_t i = 0; i < m->nobj; i++) {
		size_t j = text_hash(m->text[i]) & (cap - 1);
		while (h[j] != UINT32_MAX)
			j = (j + 1) & (cap - 1);
		h[j] = (uint32_t)i;
	}
	free(m->hash);
	m->hash = h;
	m->hashcap = cap;
}

/* Intern TEXT (taking ownership). */
static uint32_t intern(struct bm_map *m, char *text)
{
	if ((m->nobj + 1) * 2 > m->hashcap)
		hash_grow(m);
	size_t j = text_hash(text) & (m->hashcap - 1);
	/* Terminates: the table is kept at most half full. */
	while (m->hash[j] != UINT32_MAX) {
		if (strcmp(m->text[m->hash[j]], text) == 0) {
			free(text);
			return m->hash[j];
		}
		j = (j + 1) & (m->hashcap - 1);
	}
	if (m->nobj >= UINT32_MAX - 1) {
		fputs("bmapgen: too many objects in the map\n", stderr);
		exit(2);
	}
	if (m->nobj == m->capobj) {
		m->capobj = m->capobj ? m->capobj * 2 : 256;
		m->text = bm_reallocarray(m->text, m->capobj, sizeof *m->text);
	}
	m->text[m->nobj] = text;
	m->hash[j] = (uint32_t)m->nobj;
	return (uint32_t)m->nobj++;
}

static void add_rec(struct bm_map *m, uint32_t disk, uint64_t start,
		    uint64_t end, uint32_t obj)
{
	if (m->nrec == m->caprec) {
		m->caprec = m->caprec ? m->caprec * 2 : 4096;
		m->rec = bm_reallocarray(m->rec, m->caprec, sizeof *m->rec);
	}
	m->rec[m->nrec++] = (struct bm_maprec){
		.start = start, .end = end, .disk = disk, .obj = obj,
	};
	m->finished = false;
}

/* Parse an unsigned number in BASE (10 or 16) of at most 20/16 digits
 * ending at a space.  Advances *P.  False on junk or overflow. */
static bool parse_num(const char **p, int base, uint64_t *out)
{
	const char *s = *p;
	uint64_t v;
	if (!bm_parse_u64(&s, base, &v) || *s != ' ')
		return false;
	*p = s + 1;
	*out = v;
	return true;
}

/* Copy S re-escaping what must not reach a terminal raw. */
static char *sanitize(const char *type_and_space, const char *s)
{
	struct bm_str b = { 0 };
	bm_str_puts(&b, type_and_space);
	while (*s) {
		uint32_t cp;
		size_t n = bm_utf8_seq(s, &cp);
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			bm_str_printf(&b, "\\x%02x", (unsigned char)*s);
			s++;
		} else {
			bm_str_putn(&b, s, n);
			s += n;
		}
	}
	return b.s;
}

/* Parse one line (NUL-terminated, no newline).  Returns false if it is
 * not a map line. */
static bool parse_line(const char *line, uint64_t *disk, uint64_t *start,
		       uint64_t *end, char *type, const char **rest)
{
	const char *p = line;
	if (!parse_num(&p, 10, disk) || *disk == 0 || *disk >= UINT32_MAX ||
	    !parse_num(&p, 16, start) || !parse_num(&p, 16, end) ||
	    *start >= *end)
		return false;
	if (!strchr("vpldfm", *p) || *p == '\0' || p[1] != ' ' || !p[2])
		return false;
	*type = *p;
	*rest = p + 2;
	return true;
}

bool bm_map_sniff(const char *buf, size_t len)
{
	/* The first line that is not blank or a comment (bm_map_parse
	 * skips those too), within the first 4 KiB. */
	size_t at = 0;
	while (at < len && at < 4096) {
		size_t n = 0;
		while (at + n < len && n < 4096 && buf[at + n] != '\n' &&
		       buf[at + n] != '\0')
			n++;
		if (at + n == len || n == 4096 || buf[at + n] != '\n')
			return false; /* no complete line */
		if (n > 0 && buf[at] != '#') {
			char line[4097];
			memcpy(line, buf + at, n);
			line[n] = '\0';
			uint64_t d, s, e;
			char t;
			const char *rest;
			return parse_line(line, &d, &s, &e, &t, &rest);
		}
		at += n + 1;
	}
	return false;
}

int bm_map_parse(struct bm_map *m, FILE *f, const char *name)
{
	char *line = bm_malloc(MAX_LINE + 1);
	size_t len = 0, lineno = 0;
	bool toolong = false;
	int c, err = 0;
	/* Terminates: every round consumes a byte or ends at EOF. */
	do {
		c = getc(f);
		if (c != '\n' && c != EOF) {
			if (len < MAX_LINE)
				line[len++] = (char)c;
			else
				toolong = true;
			continue;
		}
		if (c == EOF && len == 0 && !toolong)
			break;
		lineno++;
		line[len] = '\0';
		uint64_t disk, start, end;
		char type;
		const char *rest;
		bool blank = len == 0 || line[0] == '#';
		if (!blank && (toolong || memchr(line, '\0', len) ||
			       !parse_line(line, &disk, &start, &end, &type,
					    &rest))) {
			if (m->bad_lines++ < MAX_REPORTED)
				fprintf(stderr, "bmapgen: %s: line %zu is not "
					"a map line%s: ignored\n", name,
					lineno, toolong ? " (too long)" : "");
		} else if (!blank) {
			char ts[3] = { type, ' ', '\0' };
			uint32_t o = intern(m, sanitize(ts, rest));
			add_rec(m, (uint32_t)disk, start, end, o);
		}
		len = 0;
		toolong = false;
	} while (c != EOF);
	if (ferror(f))
		err = -1;
	if (m->bad_lines > MAX_REPORTED)
		fprintf(stderr, "bmapgen: %s: %zu lines ignored in all\n", name,
			m->bad_lines);
	free(line);
	return err;
}

void bm_map_from_ctx(struct bm_map *m, struct bm_ctx *ctx)
{
	size_t nobj = bm_object_count(ctx), nr = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	/* Only objects that a range names have a text (a file with no
	 * blocks prints nothing): marked first, interned in object order. */
	uint32_t *ids = bm_calloc(nobj ? nobj : 1, sizeof *ids);
	for (size_t i = 0; i < nr; i++)
		if (r[i].start < r[i].end)
			ids[r[i].obj] = 1;
	for (size_t i = 0; i < nobj; i++)
		if (ids[i]) /* the same text as the virt-bmap writer prints */
			ids[i] = intern(m, bm_object_text(
					       bm_object_info(ctx, (bm_obj)i)));
	for (size_t i = 0; i < nr; i++)
		if (r[i].start < r[i].end)
			add_rec(m, r[i].disk, r[i].start, r[i].end,
				ids[r[i].obj]);
	free(ids);
}

static int by_obj(const void *a, const void *b)
{
	const struct bm_maprec *x = a, *y = b;
	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	if (x->obj != y->obj)
		return x->obj < y->obj ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct bm_maprec *x = a, *y = b;
	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->obj < y->obj ? -1 : x->obj > y->obj;
}

/* Fill maxend over rec[l, r): the root is the middle record.  Depth is
 * log2(n). */
static uint64_t build(struct bm_maprec *rec, size_t l, size_t r)
{
	if (l >= r)
		return 0;
	size_t mid = l + (r - l) / 2;
	uint64_t a = build(rec, l, mid), b = build(rec, mid + 1, r);
	uint64_t mx = rec[mid].end;
	if (a > mx)
		mx = a;
	if (b > mx)
		mx = b;
	rec[mid].maxend = mx;
	return mx;
}

void bm_map_finish(struct bm_map *m)
{
	if (m->finished)
		return;
	if (m->nrec) {
		bm_qsort(m->rec, m->nrec, sizeof *m->rec, by_obj);
		size_t o = 0;
		for (size_t i = 1; i < m->nrec; i++) {
			struct bm_maprec *a = &m->rec[o], *c = &m->rec[i];
			if (c->disk == a->disk && c->obj == a->obj &&
			    c->start <= a->end) {
				if (c->end > a->end)
					a->end = c->end;
			} else {
				m->rec[++o] = *c;
			}
		}
		m->nrec = o + 1;
		bm_qsort(m->rec, m->nrec, sizeof *m->rec, by_start);
	}
	/* One tree per disk: each disk's records are contiguous. */
	for (size_t i = 0; i < m->nrec;) {
		size_t j = i;
		while (j < m->nrec && m->rec[j].disk == m->rec[i].disk)
			j++;
		build(m->rec, i, j);
		i = j;
	}
	m->finished = true;
}

static void hit(struct bm_map_hits *h, size_t i)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->idx = bm_reallocarray(h->idx, h->cap, sizeof *h->idx);
	}
	h->idx[h->n++] = (uint32_t)i;
}

static void query(const struct bm_maprec *rec, size_t l, size_t r,
		  uint64_t a, uint64_t b, struct bm_map_hits *h)
{
	/* Recursion depth is the tree height, log2(n); the right-hand
	 * recursion is a loop. */
	while (l < r) {
		size_t mid = l + (r - l) / 2;
		if (rec[mid].maxend <= a)
			return; /* nothing below ends after A */
		query(rec, l, mid, a, b, h);
		if (rec[mid].start >= b)
			return; /* this and everything right start too late */
		if (rec[mid].end > a)
			hit(h, mid);
		l = mid + 1;
	}
}

void bm_map_query(const struct bm_map *m, uint32_t disk, uint64_t a,
		  uint64_t b, struct bm_map_hits *h)
{
	h->n = 0;
	/* The records of DISK: binary search for the first and last. */
	size_t lo = 0, hi = m->nrec;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->rec[mid].disk < disk)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t first = lo;
	hi = m->nrec;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->rec[mid].disk <= disk)
			lo = mid + 1;
		else
			hi = mid;
	}
	query(m->rec, first, lo, a, b, h);
}

int bm_map_rank(const struct bm_map *m, uint32_t obj)
{
	switch (m->text[obj][0]) {
	case 'f': return 5;
	case 'd': return 4;
	case 'm': return 3;
	case 'l': return 2;
	case 'p': return 1;
	default: return 0;
	}
}
