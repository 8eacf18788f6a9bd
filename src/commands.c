/* The lookup and trace subcommands: questions asked of a map.
 *
 *   bmapgen lookup MAP|IMAGE [DISK:]OFFSET[+LEN]...
 *       the objects covering those image bytes, most specific first
 *       (f > d > m > l > p > v), each with its whole extent;
 *   bmapgen trace --map MAP|IMAGE [LOG]   (in trace.c)
 *
 * MAP is a virt-bmap text map; anything whose first line is not a map
 * line is mapped as a disk image (or an nbd:// URI) first.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "commands.h"
#include "layers/nbd.h"
#include "output/mapread.h"

int bm_map_load(struct bm_map *m, const char *path, int verbose)
{
	bm_map_init(m);
	bool is_uri = bm_nbd_uri(path);
	FILE *f = is_uri ? NULL : fopen(path, "r");
	if (!is_uri && !f) {
		fprintf(stderr, "bmapgen: cannot open %s: %s\n", path,
			strerror(errno));
		return 2;
	}
	if (f) {
		char head[4096];
		size_t n = fread(head, 1, sizeof head, f);
		if (bm_map_sniff(head, n)) {
			rewind(f);
			int r = bm_map_parse(m, f, path);
			fclose(f);
			if (r < 0) {
				fprintf(stderr, "bmapgen: cannot read %s: %s\n",
					path, strerror(errno));
				return 2;
			}
			if (verbose)
				fprintf(stderr, "bmapgen: %s: a map of %zu "
					"objects\n", path, m->nobj);
			bm_map_finish(m);
			return m->bad_lines ? 1 : 0;
		}
		fclose(f);
	}
	struct bm_options opts = { .verbose = verbose,
				   .output_format = "virt-bmap" };
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	if (!bm_open_disk(ctx, path)) {
		bm_ctx_free(ctx);
		return 2;
	}
	bm_map_all(ctx);
	bm_map_from_ctx(m, ctx);
	int status = bm_ctx_status(ctx);
	bm_ctx_free(ctx);
	bm_map_finish(m);
	return status;
}

/* A number: decimal or 0x hex, with an optional binary suffix k, M, G,
 * T, P, E (KiB..EiB) or s (512-byte sectors). */
static bool parse_size(const char **p, uint64_t *out)
{
	const char *s = *p;
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	uint64_t v;
	if (!bm_parse_u64(&s, base, &v))
		return false;
	static const char suffix[] = "kMGTPE";
	const char *sp = *s ? strchr(suffix, *s) : NULL;
	if (sp) {
		for (long i = 0; i <= sp - suffix; i++)
			if (!bm_mul(v, 1024, &v))
				return false;
		s++;
	} else if (*s == 'K') {
		if (!bm_mul(v, 1024, &v))
			return false;
		s++;
	} else if (*s == 's') {
		if (!bm_mul(v, 512, &v))
			return false;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

/* [DISK:]OFFSET[+LEN] */
static bool parse_query(const char *arg, uint64_t *disk, uint64_t *off,
			uint64_t *len)
{
	const char *p = arg;
	*disk = 1;
	*len = 1;
	const char *colon = strchr(arg, ':');
	if (colon) {
		char *end;
		errno = 0;
		unsigned long long d = strtoull(arg, &end, 10);
		if (end != colon || errno || d == 0 || d >= UINT32_MAX ||
		    arg[0] < '0' || arg[0] > '9')
			return false;
		*disk = d;
		p = colon + 1;
	}
	if (!parse_size(&p, off))
		return false;
	if (*p == '+') {
		p++;
		if (!parse_size(&p, len) || *len == 0)
			return false;
	}
	uint64_t end;
	return *p == '\0' && bm_add(*off, *len, &end);
}

struct hitkey {
	int rank;
	uint64_t start;
	const char *text;
	uint32_t idx;
};

static int hitkey_cmp(const void *a, const void *b)
{
	const struct hitkey *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank > y->rank ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	int c = strcmp(x->text, y->text);
	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void lookup_usage(FILE *f)
{
	fputs("Usage: bmapgen lookup [-v] MAP|IMAGE [DISK:]OFFSET[+LEN]...\n"
	      "Print the objects covering those image bytes, most specific\n"
	      "first (file, directory, metadata, LV, partition, disk).\n"
	      "OFFSET and LEN: decimal or 0x hex, suffix k M G T (binary) or\n"
	      "s (512-byte sectors).  DISK defaults to 1.\n",
	      f);
}

int bm_cmd_lookup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int verbose = 0, c;
	while ((c = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose++;
			break;
		case 'h':
			lookup_usage(stdout);
			return 0;
		default:
			lookup_usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2) {
		lookup_usage(stderr);
		return 2;
	}
	/* Check every query before the (possibly slow) mapping. */
	for (int i = optind + 1; i < argc; i++) {
		uint64_t d, o, l;
		if (!parse_query(argv[i], &d, &o, &l)) {
			fprintf(stderr, "bmapgen: lookup: bad offset '%s'\n",
				argv[i]);
			return 2;
		}
	}
	struct bm_map m;
	int status = bm_map_load(&m, argv[optind], verbose);
	if (status >= 2) {
		bm_map_free(&m);
		return status;
	}
	struct bm_map_hits h = { 0 };
	struct hitkey *keys = NULL;
	for (int i = optind + 1; i < argc; i++) {
		uint64_t disk, off, len;
		parse_query(argv[i], &disk, &off, &len);
		printf("# %llu:0x%llx+0x%llx\n", (unsigned long long)disk,
		       (unsigned long long)off, (unsigned long long)len);
		bm_map_query(&m, (uint32_t)disk, off, off + len, &h);
		if (h.n == 0) {
			fprintf(stderr, "bmapgen: lookup: %s: nothing mapped "
				"there\n", argv[i]);
			if (status < 1)
				status = 1;
			continue;
		}
		keys = bm_reallocarray(keys, h.n, sizeof *keys);
		for (size_t k = 0; k < h.n; k++) {
			const struct bm_maprec *r = &m.rec[h.idx[k]];
			keys[k] = (struct hitkey){ bm_map_rank(&m, r->obj),
						   r->start, m.text[r->obj],
						   h.idx[k] };
		}
		bm_qsort(keys, h.n, sizeof *keys, hitkey_cmp);
		for (size_t k = 0; k < h.n; k++) {
			const struct bm_maprec *r = &m.rec[keys[k].idx];
			printf("%u %llx %llx %s\n", r->disk,
			       (unsigned long long)r->start,
			       (unsigned long long)r->end, keys[k].text);
		}
	}
	free(keys);
	free(h.idx);
	bm_map_free(&m);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "bmapgen: error writing: %s\n",
			strerror(errno));
		return 2;
	}
	return status;
}
