/* Batch mode (batch.c) and the output-format dispatch it shares with the
 * command line (output/output.c).
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_BATCH_H
#define BM_BATCH_H

#include <stdbool.h>
#include <stdio.h>

struct bm_ctx;

int bm_batch_main(int argc, char **argv);
/* `bmapgen check` (check.c). */
int bm_check_main(int argc, char **argv);

/* Is FORMAT an output format name?  Write CTX's map in FORMAT. */
bool bm_format_known(const char *format);
int bm_write_format(struct bm_ctx *ctx, const char *format, FILE *out);

#endif
