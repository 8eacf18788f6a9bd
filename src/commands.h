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

/* ARGV[0] is the subcommand name. */
int bm_cmd_lookup(int argc, char **argv);
int bm_cmd_trace(int argc, char **argv);

#endif
