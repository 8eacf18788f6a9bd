/* Reading maps back: a virt-bmap text map (ours or virt-bmap's) or the
 * map store of a context, indexed for "which objects cover these image
 * bytes" (lookup, trace).
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_MAPREAD_H
#define BM_MAPREAD_H

#include <stdio.h>
#include <stdint.h>

#include "../bmapgen.h"

struct bm_maprec {
	uint64_t start, end; /* image bytes, end exclusive */
	uint64_t maxend;     /* index: max end in this record's subtree */
	uint32_t disk;
	uint32_t obj;
};

struct bm_map {
	/* Objects: their text as printed in a map ("f /dev/sda1 /etc"). */
	char **text;
	size_t nobj, capobj;
	uint32_t *hash; /* open addressing over text, UINT32_MAX empty */
	size_t hashcap;
	/* Extents of objects, sorted by (disk, start) once finished. */
	struct bm_maprec *rec;
	size_t nrec, caprec;
	bool finished;
	size_t bad_lines; /* lines of a text map that were not understood */
};

struct bm_map_hits {
	uint32_t *idx; /* indexes into rec */
	size_t n, cap;
};

void bm_map_init(struct bm_map *m);
void bm_map_free(struct bm_map *m);

/* Does BUF (the start of a file) look like a virt-bmap text map?  True
 * if its first line parses as a map line. */
bool bm_map_sniff(const char *buf, size_t len);

/* Add the lines of a virt-bmap map read from F.  Lines that do not parse
 * are counted in bad_lines and the first few reported on stderr (NAME,
 * line number).  Returns -1 on a read error, else 0. */
int bm_map_parse(struct bm_map *m, FILE *f, const char *name);

/* Add the ranges of CTX's map store. */
void bm_map_from_ctx(struct bm_map *m, struct bm_ctx *ctx);

/* Join touching extents of each object, sort, build the index.  Call
 * once, after the adds and before queries. */
void bm_map_finish(struct bm_map *m);

/* Set H to the records on DISK that overlap [A, B) (B > A), in index
 * order. */
void bm_map_query(const struct bm_map *m, uint32_t disk, uint64_t a,
		  uint64_t b, struct bm_map_hits *h);

/* Specificity of an object: f 5, d 4, m 3, l 2, p 1, v 0. */
int bm_map_rank(const struct bm_map *m, uint32_t obj);

#endif
