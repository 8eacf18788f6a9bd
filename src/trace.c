/* bmapgen trace --map MAP|IMAGE [LOG]: what a guest (or any NBD client)
 * touched, from the log of nbdkit's log filter.
 *
 * Input: nbdkit-filter-log(1) lines (nbdkit 1.32 format), e.g.
 *
 *   2024-01-01 12:00:00.000000 connection=1 Read id=2 offset=0x0 count=0x2000 ...
 *
 * Request lines ("Read", "Write", "Zero", "Trim") are used; replies
 * ("...Read ... return=0"), other commands and anything unparseable are
 * skipped.  Output is virt-bmap's logger format: a line "DIR OBJECT"
 * (DIR read, write, zero or trim; OBJECT as printed in a map) whenever
 * the most specific object touched (f > d > m > l > p > v; ties broken
 * by the object text) or the direction changes, followed by a line of
 * the touched byte ranges " start-end" (hex, end exclusive).  A request
 * that covers several objects is split at their boundaries; bytes that
 * no object covers are not printed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "commands.h"

#define MAX_LOG_LINE 8192

struct tracer {
	struct bm_map *m;
	uint32_t disk;
	struct bm_map_hits h;
	/* scratch for splitting one request */
	uint64_t *pts;
	size_t cap_pts;
	uint32_t *heap;
	size_t cap_heap;
	/* what was printed last */
	const char *last_dir;
	uint32_t last_obj;
	bool line_open;
	FILE *out;
};

/* Is object X more specific than Y (a max-heap on this order)? */
static bool better(const struct bm_map *m, uint32_t x, uint32_t y)
{
	int rx = bm_map_rank(m, x), ry = bm_map_rank(m, y);
	if (rx != ry)
		return rx > ry;
	return strcmp(m->text[x], m->text[y]) < 0;
}

/* The heap holds record indexes, ordered by their objects. */
static void heap_push(struct tracer *t, size_t *n, uint32_t rec)
{
	const struct bm_map *m = t->m;
	if (*n == t->cap_heap) {
		t->cap_heap = t->cap_heap ? t->cap_heap * 2 : 64;
		t->heap = bm_reallocarray(t->heap, t->cap_heap,
					  sizeof *t->heap);
	}
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!better(m, m->rec[rec].obj, m->rec[t->heap[p]].obj))
			break;
		t->heap[i] = t->heap[p];
		i = p;
	}
	t->heap[i] = rec;
}

static void heap_pop(struct tracer *t, size_t *n)
{
	const struct bm_map *m = t->m;
	uint32_t last = t->heap[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && better(m, m->rec[t->heap[c + 1]].obj,
					 m->rec[t->heap[c]].obj))
			c++;
		if (!better(m, m->rec[t->heap[c]].obj, m->rec[last].obj))
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	if (*n)
		t->heap[i] = last;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_start(const void *a, const void *b, void *m)
{
	const struct bm_maprec *r = ((const struct bm_map *)m)->rec;
	uint64_t x = r[*(const uint32_t *)a].start;
	uint64_t y = r[*(const uint32_t *)b].start;
	return x < y ? -1 : x > y;
}

static void print_piece(struct tracer *t, const char *dir, uint32_t obj,
			uint64_t a, uint64_t b)
{
	if (!t->last_dir || strcmp(dir, t->last_dir) != 0 ||
	    obj != t->last_obj) {
		fprintf(t->out, "%s%s %s\n", t->line_open ? "\n" : "", dir,
			t->m->text[obj]);
		t->last_dir = dir;
		t->last_obj = obj;
	}
	fprintf(t->out, " %llx-%llx", (unsigned long long)a,
		(unsigned long long)b);
	t->line_open = true;
}

/* One request [A, B): split it where the most specific object changes. */
static void trace_request(struct tracer *t, const char *dir, uint64_t a,
			  uint64_t b)
{
	const struct bm_map *m = t->m;
	bm_map_query(m, t->disk, a, b, &t->h);
	if (t->h.n == 0)
		return;
	size_t np = 0, need = 2 * t->h.n + 2;
	if (need > t->cap_pts) {
		t->cap_pts = need;
		t->pts = bm_reallocarray(t->pts, need, sizeof *t->pts);
	}
	t->pts[np++] = a;
	t->pts[np++] = b;
	for (size_t i = 0; i < t->h.n; i++) {
		const struct bm_maprec *r = &m->rec[t->h.idx[i]];
		if (r->start > a)
			t->pts[np++] = r->start;
		if (r->end < b)
			t->pts[np++] = r->end;
	}
	bm_qsort(t->pts, np, sizeof *t->pts, cmp_u64);
	qsort_r(t->h.idx, t->h.n, sizeof *t->h.idx, cmp_start, (void *)m);
	size_t next = 0, nheap = 0;
	uint64_t piece_start = a;
	uint32_t piece_obj = UINT32_MAX;
	for (size_t i = 0; i + 1 < np; i++) {
		uint64_t p = t->pts[i];
		if (p == t->pts[i + 1])
			continue;
		while (next < t->h.n && m->rec[t->h.idx[next]].start <= p)
			heap_push(t, &nheap, t->h.idx[next++]);
		/* Lazy deletion: drop what ended at or before P. */
		while (nheap && m->rec[t->heap[0]].end <= p)
			heap_pop(t, &nheap);
		uint32_t obj = nheap ? m->rec[t->heap[0]].obj : UINT32_MAX;
		if (obj != piece_obj) {
			if (piece_obj != UINT32_MAX)
				print_piece(t, dir, piece_obj, piece_start, p);
			piece_start = p;
			piece_obj = obj;
		}
	}
	if (piece_obj != UINT32_MAX)
		print_piece(t, dir, piece_obj, piece_start, b);
}

struct bm_tracer *bm_tracer_new(struct bm_map *m, uint32_t disk, FILE *out)
{
	struct tracer *t = bm_calloc(1, sizeof *t);
	t->m = m;
	t->disk = disk;
	t->out = out;
	return (struct bm_tracer *)t;
}

void bm_tracer_request(struct bm_tracer *bt, const char *dir, uint64_t off,
		       uint64_t len)
{
	uint64_t end;
	if (len && bm_add(off, len, &end))
		trace_request((struct tracer *)bt, dir, off, end);
}

void bm_tracer_free(struct bm_tracer *bt)
{
	struct tracer *t = (struct tracer *)bt;
	if (!t)
		return;
	if (t->line_open)
		fputc('\n', t->out);
	free(t->pts);
	free(t->heap);
	free(t->h.idx);
	free(t);
}

/* Value of " KEY=NUMBER" in LINE (decimal or 0x hex). */
static bool field(const char *line, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);
	for (const char *p = strstr(line, key); p; p = strstr(p + 1, key)) {
		if (p == line || p[-1] != ' ' || p[kl] != '=')
			continue;
		const char *s = p + kl + 1;
		int base = 10;
		if (s[0] == '0' && s[1] == 'x') {
			base = 16;
			s += 2;
		}
		uint64_t v;
		if (!bm_parse_u64(&s, base, &v) || (*s != ' ' && *s != '\0'))
			return false;
		*out = v;
		return true;
	}
	return false;
}

static void trace_line(struct tracer *t, const char *line)
{
	static const struct {
		const char *cmd, *dir;
	} cmds[] = {
		{ " Read ", "read" },
		{ " Write ", "write" },
		{ " Zero ", "zero" },
		{ " Trim ", "trim" },
	};
	/* The command follows "connection=N". */
	const char *c = strstr(line, "connection=");
	if (!c)
		return;
	c = strchr(c, ' ');
	if (!c)
		return;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		size_t n = strlen(cmds[i].cmd);
		if (strncmp(c, cmds[i].cmd, n) != 0)
			continue;
		uint64_t off, count, end;
		if (field(c, "offset", &off) && field(c, "count", &count) &&
		    count && bm_add(off, count, &end))
			trace_request(t, cmds[i].dir, off, end);
		return;
	}
}

int bm_tracer_log(struct bm_tracer *bt, FILE *in)
{
	struct tracer *t = (struct tracer *)bt;
	char *line = bm_malloc(MAX_LOG_LINE + 1);
	size_t len = 0;
	bool toolong = false;
	int ch;
	/* Terminates: each round consumes a byte or ends at EOF.  Lines
	 * longer than MAX_LOG_LINE (not nbdkit's) are skipped whole. */
	do {
		ch = getc(in);
		if (ch != '\n' && ch != EOF) {
			if (len < MAX_LOG_LINE && ch != '\0')
				line[len++] = (char)ch;
			else
				toolong = true;
			continue;
		}
		line[len] = '\0';
		if (!toolong && len)
			trace_line(t, line);
		len = 0;
		toolong = false;
	} while (ch != EOF);
	free(line);
	return ferror(in) ? -1 : 0;
}

static void trace_usage(FILE *f)
{
	fputs("Usage: bmapgen trace --map MAP|IMAGE [--disk N] [LOG]\n"
	      "Read an nbdkit log filter log (default stdin) and print what\n"
	      "was read and written, as virt-bmap's logger does.\n",
	      f);
}

int bm_cmd_trace(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "map", required_argument, NULL, 'm' },
		{ "disk", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mapfile = NULL;
	unsigned long disk = 1;
	int verbose = 0, c;
	char *end;
	while ((c = getopt_long(argc, argv, "+m:d:vh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'm':
			mapfile = optarg;
			break;
		case 'd':
			errno = 0;
			disk = strtoul(optarg, &end, 10);
			if (errno || *end || disk == 0 || disk >= UINT32_MAX) {
				fprintf(stderr, "bmapgen: trace: bad disk "
					"'%s'\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			trace_usage(stdout);
			return 0;
		default:
			trace_usage(stderr);
			return 2;
		}
	}
	if (!mapfile || argc - optind > 1) {
		trace_usage(stderr);
		return 2;
	}
	FILE *in = stdin;
	const char *logname = "-";
	if (optind < argc && strcmp(argv[optind], "-") != 0) {
		logname = argv[optind];
		in = fopen(logname, "r");
		if (!in) {
			fprintf(stderr, "bmapgen: cannot open %s: %s\n",
				logname, strerror(errno));
			return 2;
		}
	}
	struct bm_map m;
	int status = bm_map_load(&m, mapfile, verbose);
	if (status >= 2) {
		bm_map_free(&m);
		if (in != stdin)
			fclose(in);
		return status;
	}
	struct bm_tracer *t = bm_tracer_new(&m, (uint32_t)disk, stdout);
	if (bm_tracer_log(t, in) < 0) {
		fprintf(stderr, "bmapgen: cannot read %s: %s\n", logname,
			strerror(errno));
		status = 2;
	}
	bm_tracer_free(t);
	if (in != stdin)
		fclose(in);
	bm_map_free(&m);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "bmapgen: error writing: %s\n",
			strerror(errno));
		return 2;
	}
	return status;
}
