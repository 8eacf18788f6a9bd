/* Unit test for object interning with bm_object_release() (streaming):
 * thousands of random intern/release steps checked against a plain
 * array model (a live name always gives back its id, a released one a
 * new id; stale ids are recognised; the hash never loses an entry after
 * backward-shift deletions), ids are reused (memory stays bounded), a
 * range for a released id is refused, and the streamed records carry
 * the right names.  Without streaming, release is a no-op. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"

#define NAMES 3000

static char *name(unsigned i)
{
	return bm_asprintf("/dir%u/file-%u", i % 17, i);
}

int main(void)
{
	/* Normal mode: release changes nothing. */
	struct bm_ctx *ctx = bm_ctx_new(&(struct bm_options){ .verbose = -1 });
	bm_obj a = bm_object(ctx, 'f', "/dev/sda1", "/a");
	bm_object_release(ctx, a);
	CHECK(bm_object(ctx, 'f', "/dev/sda1", "/a") == a, "normal: same id");
	CHECK(bm_object_info(ctx, a) && strcmp(bm_object_info(ctx, a)->path,
					       "/a") == 0, "normal: info");
	bm_ctx_free(ctx);

	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	ctx = bm_ctx_new(&(struct bm_options){ .verbose = -1 });
	bm_ctx_stream(ctx, out);
	bm_obj *id = malloc(NAMES * sizeof *id);
	bool *live = calloc(NAMES, sizeof *live);
	bm_obj m = bm_object(ctx, 'm', "/dev/sda1", "superblock");
	uint32_t seed = 12345;
	size_t nlive = 0, maxlive = 0, bad = 0;
	for (unsigned step = 0; step < 200000; step++) {
		seed = seed * 1103515245u + 12345u;
		unsigned i = (seed >> 8) % NAMES;
		bool rel = (seed >> 4) & 1;
		char *n = name(i);
		if (rel && live[i]) {
			bm_object_release(ctx, id[i]);
			live[i] = false;
			nlive--;
			if (bm_object_info(ctx, id[i]))
				bad++; /* a stale id must not resolve */
		} else {
			bm_obj o = bm_object(ctx, 'f', "/dev/sda1", n);
			if (live[i] && o != id[i])
				bad++;
			if (!live[i]) {
				nlive++;
				live[i] = true;
			}
			id[i] = o;
			const struct bm_objinfo *oi = bm_object_info(ctx, o);
			if (!oi || oi->type != 'f' || strcmp(oi->path, n) != 0)
				bad++;
		}
		if (nlive > maxlive)
			maxlive = nlive;
		free(n);
	}
	CHECK(bad == 0, "%zu wrong answers from the object table", bad);
	/* Every live name still found (nothing lost by deletions). */
	for (unsigned i = 0; i < NAMES; i++) {
		if (!live[i])
			continue;
		char *n = name(i);
		if (bm_object(ctx, 'f', "/dev/sda1", n) != id[i])
			bad++;
		free(n);
	}
	CHECK(bad == 0, "%zu live names lost", bad);
	/* Slots are reused: the table never held more than the live set
	 * (plus the metadata object). */
	CHECK(bm_object_count(ctx) <= maxlive + 1, "%zu slots for %zu live",
	      bm_object_count(ctx), maxlive);
	/* Metadata objects are never released. */
	bm_object_release(ctx, m);
	CHECK(bm_object_info(ctx, m) != NULL, "m released");

	/* Ranges: joined while they continue, flushed on release, and a
	 * released id refused. */
	bm_obj x = bm_object(ctx, 'f', "/dev/sda1", "/x");
	bm_obj y = bm_object(ctx, 'd', "/dev/sda1", "/y");
	CHECK(bm_store_add(ctx, 1, 0x1000, 0x100, x, 0) == 0, "add");
	CHECK(bm_store_add(ctx, 1, 0x1100, 0x100, x, 0) == 0, "add");
	bm_object_release(ctx, x);
	CHECK(bm_store_add(ctx, 1, 0x2000, 0x10, y, BM_RANGE_METADATA) == 0,
	      "add");
	CHECK(bm_ctx_status(ctx) == BM_OK, "status before");
	/* X's slot is taken again: X stays stale all the same. */
	bm_obj z = bm_object(ctx, 'f', "/dev/sda1", "/z");
	CHECK(z != x && bm_object_info(ctx, x) == NULL, "stale after reuse");
	CHECK(bm_store_add(ctx, 1, 0x3000, 0x10, x, 0) < 0, "stale id taken");
	CHECK(bm_ctx_status(ctx) == BM_FAILED, "stale id not a failure");
	CHECK(bm_store_count(ctx) == 0, "streaming stored ranges");
	CHECK(bm_ctx_stream_end(ctx) == 0, "stream end");
	fclose(out);
	CHECK(strstr(text, "{\"record\":\"header\"") == text, "header: %s", text);
	CHECK(strstr(text, "{\"record\":\"object\",\"type\":\"f\",\"dev\":"
			   "\"/dev/sda1\",\"path\":\"/x\",\"ranges\":[{\"disk\":1,"
			   "\"start\":4096,\"end\":4608,\"roles\":[\"data\"]}]}\n"
			   "{\"record\":\"object\",\"type\":\"d\",\"dev\":"
			   "\"/dev/sda1\",\"path\":\"/y\",\"ranges\":[{\"disk\":1,"
			   "\"start\":8192,\"end\":8208,\"roles\":[\"metadata\"]}]}\n"),
	      "records: %s", text);
	CHECK(!strstr(text, "12288"), "stale range written");
	free(text);
	free(id);
	free(live);
	bm_ctx_free(ctx);
	CHECK_DONE();
}
