/* Output-format dispatch: one table of names and writers, used by the
 * command line and by batch mode.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "../batch.h"
#include "../bmapgen.h"

static int write_json(struct bm_ctx *ctx, FILE *out)
{
	return bm_write_json(ctx, out, false);
}

static int write_jsonl(struct bm_ctx *ctx, FILE *out)
{
	return bm_write_json(ctx, out, true);
}

static const struct {
	const char *name;
	int (*write)(struct bm_ctx *ctx, FILE *out);
} writers[] = {
	{ "virt-bmap", bm_write_virtbmap },
	{ "json", write_json },
	{ "jsonl", write_jsonl },
	{ "bmaptool", bm_write_bmaptool },
};

bool bm_format_known(const char *format)
{
	for (size_t i = 0; i < sizeof writers / sizeof *writers; i++)
		if (strcmp(format, writers[i].name) == 0)
			return true;
	return false;
}

int bm_write_format(struct bm_ctx *ctx, const char *format, FILE *out)
{
	for (size_t i = 0; i < sizeof writers / sizeof *writers; i++)
		if (strcmp(format, writers[i].name) == 0)
			return writers[i].write(ctx, out);
	return -1;
}
