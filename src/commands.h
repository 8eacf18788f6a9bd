/* Subcommands (lookup, trace) and what they share.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_COMMANDS_H
#define BM_COMMANDS_H

#include "output/mapread.h"

/* Load M from PATH: a virt-bmap map, or else an image (or NBD URI) that
 * is mapped first.  M is initialised and finished.  Returns the exit
 * status so far: 0, 1 (warnings, ignored map lines) or 2 (failed). */
int bm_map_load(struct bm_map *m, const char *path, int verbose);

/* The trace engine, for `bmapgen trace` and the nbdkit filter: each
 * request [OFF, OFF+LEN) of direction DIR ("read", "write", "zero",
 * "trim") on disk DISK of M is printed to OUT as virt-bmap's logger
 * does: a new line when the most specific object or the direction
 * changes, then the ranges. */
struct bm_tracer;
struct bm_tracer *bm_tracer_new(struct bm_map *m, uint32_t disk, FILE *out);
void bm_tracer_request(struct bm_tracer *t, const char *dir, uint64_t off,
		       uint64_t len);
void bm_tracer_free(struct bm_tracer *t); /* ends the open line */
/* Trace the request lines of an nbdkit log filter log read from IN
 * (Read, Write, Zero, Trim; everything else skipped).  Returns -1 on a
 * read error, else 0. */
int bm_tracer_log(struct bm_tracer *t, FILE *in);

/* ARGV[0] is the subcommand name. */
int bm_cmd_lookup(int argc, char **argv);
int bm_cmd_trace(int argc, char **argv);

#endif
