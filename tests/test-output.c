/* Unit test for the virt-bmap writer: splitting at every boundary, one
 * line per covering object in string order, joining equal neighbours,
 * duplicate coverage, escaping, and disk order.  The expected text is
 * written out by hand. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"

int main(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	bm_obj v = bm_object(ctx, 'v', "/dev/sda", NULL);
	bm_obj v2 = bm_object(ctx, 'v', "/dev/sdb", NULL);
	bm_obj p = bm_object(ctx, 'p', "/dev/sda1", NULL);
	bm_obj a = bm_object(ctx, 'f', "/dev/sda1", "/a");
	bm_obj b = bm_object(ctx, 'f', "/dev/sda1", "/b");
	bm_obj d = bm_object(ctx, 'd', "/dev/sda1", "/");
	bm_obj m = bm_object(ctx, 'm', "/dev/sda1", "sb");
	bm_obj nl = bm_object(ctx, 'f', "/dev/sda1", "/new\nline");
	CHECK(bm_object(ctx, 'f', "/dev/sda1", "/a") == a, "interning");

	/* Added out of order, on purpose. */
	bm_store_add(ctx, 2, 0, 0x100, v2, 0);
	bm_store_add(ctx, 1, 0x300, 0x100, a, 0);
	bm_store_add(ctx, 1, 0, 0x1000, v, 0);
	bm_store_add(ctx, 1, 0x100, 0x700, p, 0);
	bm_store_add(ctx, 1, 0x200, 0x100, b, 0);
	bm_store_add(ctx, 1, 0x400, 0x100, a, BM_RANGE_COPY); /* not merged */
	bm_store_add(ctx, 1, 0x300, 0x80, a, 0);   /* duplicate cover */
	bm_store_add(ctx, 1, 0x280, 0x80, d, 0);
	bm_store_add(ctx, 1, 0x100, 0x100, m, 0);
	bm_store_add(ctx, 1, 0x900, 0x10, nl, 0);

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(bm_write_virtbmap(ctx, f) == 0, "write");
	fclose(f);
	const char *want =
		"1 0 100 v /dev/sda\n"
		"1 100 200 m /dev/sda1 <sb>\n"
		"1 100 200 p /dev/sda1\n"
		"1 100 200 v /dev/sda\n"
		"1 200 280 f /dev/sda1 /b\n"
		"1 200 280 p /dev/sda1\n"
		"1 200 280 v /dev/sda\n"
		"1 280 300 d /dev/sda1 /\n"
		"1 280 300 f /dev/sda1 /b\n"
		"1 280 300 p /dev/sda1\n"
		"1 280 300 v /dev/sda\n"
		"1 300 500 f /dev/sda1 /a\n"
		"1 300 500 p /dev/sda1\n"
		"1 300 500 v /dev/sda\n"
		"1 500 800 p /dev/sda1\n"
		"1 500 800 v /dev/sda\n"
		"1 800 900 v /dev/sda\n"
		"1 900 910 f /dev/sda1 /new\\nline\n"
		"1 900 910 v /dev/sda\n"
		"1 910 1000 v /dev/sda\n"
		"2 0 100 v /dev/sdb\n";
	CHECK(strcmp(text, want) == 0, "output:\n%s\nwanted:\n%s", text, want);
	free(text);
	bm_ctx_free(ctx);
	CHECK_DONE();
}
