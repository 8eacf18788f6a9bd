/* Batch mode (batch.c) and the output-format dispatch it shares with the
 * command line (output/output.c).
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_BATCH_H
#define BM_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bm_ctx;

int bm_batch_main(int argc, char **argv);
/* `bmapgen check` (check.c). */
int bm_check_main(int argc, char **argv);
struct bm_check_opts {
	const char **require; /* paths that must be on some filesystem */
	size_t nrequire;
	uint64_t boot_below;  /* files under BOOT_PREFIX must end below */
	const char *boot_prefix;
	bool uefi;
	bool werror;
	bool json;
};
/* The checks that need the whole map, on a mapped CTX: they add
 * findings (bm_finding). */
void bm_check_ctx(struct bm_ctx *ctx, const struct bm_check_opts *o);

/* Is FORMAT an output format name?  Write CTX's map in FORMAT. */
bool bm_format_known(const char *format);
int bm_write_format(struct bm_ctx *ctx, const char *format, FILE *out);

#endif
