/* Unit test for the JSON writers: the exact document for a small store
 * (hand-written expected text), string escaping (quotes, backslashes,
 * control and C1 characters, invalid UTF-8 replaced by U+FFFD with the
 * exact bytes in "path_hex"), roles from range flags, joining of touching
 * ranges, and JSON Lines records. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"

static char *render(struct bm_ctx *ctx, bool lines)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(bm_write_json(ctx, f, lines) == 0, "write");
	fclose(f);
	return text;
}

int main(void)
{
	struct bm_ctx *ctx = bm_ctx_new(NULL);
	bm_obj v = bm_object(ctx, 'v', "/dev/sda", NULL);
	bm_obj m = bm_object(ctx, 'm', "/dev/sda1", "superblock");
	bm_obj q = bm_object(ctx, 'f', "/dev/sda1", "/q\"b\\s\n\x01\x7f\xc2\x85");
	bm_obj bad = bm_object(ctx, 'f', "/dev/sda1", "/caf\xe9\xc3\xa9");
	bm_object(ctx, 'f', "/dev/sda1", "/unmapped");
	bm_store_add(ctx, 1, 0, 0x10000, v, 0);
	bm_store_add(ctx, 1, 0x400, 0x400, m, 0);
	bm_store_add(ctx, 1, 0x2000, 0x1000, q, 0);
	bm_store_add(ctx, 1, 0x1000, 0x1000, q, 0);   /* touches: joined */
	bm_store_add(ctx, 1, 0x4000, 0x1000, q, BM_RANGE_METADATA);
	bm_store_add(ctx, 1, 0x5000, 0x1000, bad,
		     BM_RANGE_COPY | BM_RANGE_COMPRESSED);

	char *text = render(ctx, false);
	const char *want =
		"{\n"
		"  \"format\":\"bmapgen-map\",\"version\":1,"
		"\"generator\":\"bmapgen " BM_VERSION "\",\n"
		"  \"disks\": [],\n"
		"  \"volumes\": [],\n"
		"  \"objects\": [\n"
		"    {\"id\":0,\"type\":\"v\",\"dev\":\"/dev/sda\",\"ranges\":"
		"[{\"disk\":1,\"start\":0,\"end\":65536,\"roles\":[\"data\"]}]},\n"
		"    {\"id\":1,\"type\":\"m\",\"dev\":\"/dev/sda1\","
		"\"name\":\"superblock\",\"ranges\":[{\"disk\":1,\"start\":1024,"
		"\"end\":2048,\"roles\":[\"data\"]}]},\n"
		"    {\"id\":2,\"type\":\"f\",\"dev\":\"/dev/sda1\","
		"\"path\":\"/q\\\"b\\\\s\\n\\u0001\\u007f\\u0085\",\"ranges\":["
		"{\"disk\":1,\"start\":4096,\"end\":12288,\"roles\":[\"data\"]},"
		"{\"disk\":1,\"start\":16384,\"end\":20480,\"roles\":"
		"[\"metadata\"]}]},\n"
		"    {\"id\":3,\"type\":\"f\",\"dev\":\"/dev/sda1\","
		"\"path\":\"/caf\xef\xbf\xbd\xc3\xa9\",\"path_hex\":"
		"\"2f636166e9c3a9\",\"ranges\":[{\"disk\":1,\"start\":20480,"
		"\"end\":24576,\"roles\":[\"data\",\"copy\",\"compressed\"]}]}\n"
		"  ]\n"
		"}\n";
	CHECK(strcmp(text, want) == 0, "json:\n%s\nwanted:\n%s", text, want);
	free(text);

	text = render(ctx, true);
	const char *wantl =
		"{\"record\":\"header\",\"format\":\"bmapgen-map\",\"version\":1,"
		"\"generator\":\"bmapgen " BM_VERSION "\"}\n"
		"{\"record\":\"object\",\"id\":0,\"type\":\"v\",\"dev\":"
		"\"/dev/sda\",\"ranges\":[{\"disk\":1,\"start\":0,\"end\":65536,"
		"\"roles\":[\"data\"]}]}\n";
	CHECK(strncmp(text, wantl, strlen(wantl)) == 0, "jsonl:\n%s", text);
	size_t nl = 0;
	for (char *p = text; *p; p++)
		nl += *p == '\n';
	CHECK(nl == 5, "jsonl: %zu lines", nl);
	free(text);
	bm_ctx_free(ctx);
	CHECK_DONE();
}
