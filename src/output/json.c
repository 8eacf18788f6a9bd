/* JSON and JSON Lines output.
 *
 * The schema (documented in bmapgen.1 and src/output/json-schema.md):
 *
 *   { "format": "bmapgen-map", "version": 1, "generator": "bmapgen X",
 *     "disks":   [ { "disk", "dev", "source", "input_format", "size" } ],
 *     "volumes": [ { "id", "dev", "kind", "type", "content", "size",
 *                    "disk", "parent" } ],
 *     "objects": [ { "id", "type", "dev", "path" | "name",
 *                    "ranges": [ { "disk", "start", "end", "roles" } ] } ] }
 *
 * JSON Lines writes the same records one per line, each with a "record"
 * member ("header", "disk", "volume", "object"), so a huge map can be
 * streamed (jq -c, grep) without holding the document.
 *
 * With --stream (bm_ctx_stream), JSON Lines are written while mapping:
 * the header (with "stream":true), then one "object" record per mapped
 * range as it comes (no "id"; unsorted; an object may appear many
 * times), then the "disk" and "volume" records.
 *
 * Strings are always valid UTF-8: names from the image that are not
 * valid UTF-8 have each bad byte replaced by U+FFFD, and the exact bytes
 * are given as lowercase hex in an extra member with the suffix "_hex"
 * ("path_hex", "dev_hex").  Control characters (C0, DEL, C1) are written
 * as \uXXXX escapes.  Offsets are byte offsets in the image, integers,
 * end exclusive.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

bool bm_json_string(struct bm_str *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool bad = false;
	bm_str_putn(b, "\"", 1);
	while (*p) {
		uint32_t cp;
		size_t n = bm_utf8_seq((const char *)p, &cp);
		if (n == 0) {
			bm_str_puts(b, "\xef\xbf\xbd"); /* U+FFFD */
			bad = true;
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			bm_str_putn(b, "\\", 1);
			bm_str_putn(b, (const char *)p, 1);
		} else if (cp == '\n') {
			bm_str_puts(b, "\\n");
		} else if (cp == '\t') {
			bm_str_puts(b, "\\t");
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
			   bm_display_control(cp)) {
			bm_str_printf(b, "\\u%04x", (unsigned)cp);
		} else {
			bm_str_putn(b, (const char *)p, n);
		}
		p += n;
	}
	bm_str_putn(b, "\"", 1);
	return bad;
}

/* "key":"value" and, for names that are not valid UTF-8, "key_hex". */
static void json_member(struct bm_str *b, const char *key, const char *s)
{
	bm_str_printf(b, ",\"%s\":", key);
	if (!s) {
		bm_str_puts(b, "null");
		return;
	}
	if (bm_json_string(b, s)) {
		bm_str_printf(b, ",\"%s_hex\":\"", key);
		for (const unsigned char *p = (const unsigned char *)s; *p; p++)
			bm_str_printf(b, "%02x", *p);
		bm_str_puts(b, "\"");
	}
}

static void json_roles(struct bm_str *b, unsigned flags)
{
	static const struct {
		unsigned flag;
		const char *name;
	} roles[] = {
		{ BM_RANGE_COPY, "copy" },
		{ BM_RANGE_PARITY, "parity" },
		{ BM_RANGE_METADATA, "metadata" },
		{ BM_RANGE_INLINE, "inline" },
		{ BM_RANGE_COMPRESSED, "compressed" },
		{ BM_RANGE_UNWRITTEN, "unwritten" },
		{ BM_RANGE_SHARED, "shared" },
	};
	bm_str_puts(b, "[");
	/* A range is "data" unless it is parity or a file's mapping
	 * metadata; the other roles qualify it. */
	bool first = true;
	if (!(flags & (BM_RANGE_PARITY | BM_RANGE_METADATA))) {
		bm_str_puts(b, "\"data\"");
		first = false;
	}
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (flags & roles[i].flag) {
			bm_str_printf(b, "%s\"%s\"", first ? "" : ",",
				      roles[i].name);
			first = false;
		}
	bm_str_puts(b, "]");
}

struct writer {
	FILE *out;
	bool lines;
	bool first; /* first element of the current array */
	int err;
};

/* Emit one record (B holds its members after a leading comma). */
static void put_record(struct writer *w, const char *record,
		       struct bm_str *b)
{
	const char *members = b->s ? b->s + 1 : "";
	int r;
	if (w->lines)
		r = fprintf(w->out, "{\"record\":\"%s\",%s}\n", record, members);
	else
		r = fprintf(w->out, "%s\n    {%s}", w->first ? "" : ",",
			    members);
	if (r < 0)
		w->err = -1;
	w->first = false;
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

static void open_array(struct writer *w, const char *name, bool last_closed)
{
	if (!w->lines && fprintf(w->out, "%s  \"%s\": [",
				 last_closed ? ",\n" : "", name) < 0)
		w->err = -1;
	w->first = true;
}

static void close_array(struct writer *w)
{
	if (!w->lines && fputs(w->first ? "]" : "\n  ]", w->out) < 0)
		w->err = -1;
}

static void write_disks(struct bm_ctx *ctx, struct writer *w,
			struct bm_str *b)
{
	for (unsigned i = 1; i <= bm_disk_count(ctx); i++) {
		struct bm_volume *d = bm_disk(ctx, i);
		bm_str_printf(b, ",\"disk\":%u", i);
		json_member(b, "dev", d->dev);
		json_member(b, "source", bm_disk_source(ctx, i));
		json_member(b, "input_format", bm_disk_format(ctx, i));
		bm_str_printf(b, ",\"size\":%llu", (unsigned long long)d->size);
		put_record(w, "disk", b);
	}
}

static void write_volumes(struct bm_ctx *ctx, struct writer *w,
			  struct bm_str *b)
{
	size_t n = 0;
	for (struct bm_volume *v = bm_volumes(ctx); v; v = v->next)
		n++;
	struct bm_volume **all = bm_calloc(n ? n : 1, sizeof *all);
	n = 0;
	for (struct bm_volume *v = bm_volumes(ctx); v; v = v->next)
		all[n++] = v;
	for (size_t i = 0; i < n; i++) {
		struct bm_volume *v = all[i];
		bm_str_printf(b, ",\"id\":%zu", i);
		json_member(b, "dev", v->dev);
		json_member(b, "kind", v->ops->kind);
		json_member(b, "type", v->type);
		json_member(b, "content", v->prober ? v->prober->name : NULL);
		bm_str_printf(b, ",\"size\":%llu", (unsigned long long)v->size);
		bm_str_printf(b, ",\"disk\":%u", v->disk);
		/* Parents are created before their children: search the
		 * earlier volumes only. */
		size_t p = i;
		if (v->parent)
			for (p = 0; p < i && all[p] != v->parent; p++)
				;
		if (p < i)
			bm_str_printf(b, ",\"parent\":%zu", p);
		else
			bm_str_puts(b, ",\"parent\":null");
		put_record(w, "volume", b);
	}
	free(all);
}

/* The members naming object OI: type, dev, path or name. */
static void json_object_name(struct bm_str *b, const struct bm_objinfo *oi)
{
	bm_str_printf(b, ",\"type\":\"%c\"", oi->type);
	json_member(b, "dev", oi->dev);
	if (oi->path)
		json_member(b, oi->type == 'm' ? "name" : "path", oi->path);
}

static void json_range(struct bm_str *b, unsigned disk, uint64_t start,
		       uint64_t end, unsigned flags)
{
	bm_str_printf(b,
		      "{\"disk\":%u,\"start\":%llu,\"end\":%llu,\"roles\":",
		      disk, (unsigned long long)start,
		      (unsigned long long)end);
	json_roles(b, flags);
	bm_str_puts(b, "}");
}

static void write_objects(struct bm_ctx *ctx, struct writer *w,
			  struct bm_str *b)
{
	size_t nobj = bm_object_count(ctx), nr = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	/* Bucket the (sorted) ranges by object, keeping their order. */
	size_t *first = bm_calloc(nobj + 1, sizeof *first);
	uint32_t *idx = bm_calloc(nr ? nr : 1, sizeof *idx);
	for (size_t i = 0; i < nr; i++)
		first[r[i].obj + 1]++;
	for (size_t o = 0; o < nobj; o++)
		first[o + 1] += first[o];
	size_t *fill = bm_calloc(nobj ? nobj : 1, sizeof *fill);
	for (size_t i = 0; i < nr; i++)
		idx[first[r[i].obj] + fill[r[i].obj]++] = (uint32_t)i;
	free(fill);

	for (size_t o = 0; o < nobj; o++) {
		if (first[o] == first[o + 1])
			continue; /* interned but never mapped */
		const struct bm_objinfo *oi = bm_object_info(ctx, (bm_obj)o);
		bm_str_printf(b, ",\"id\":%zu", o);
		json_object_name(b, oi);
		bm_str_puts(b, ",\"ranges\":[");
		bool any = false;
		/* Join ranges that overlap or touch with the same roles. */
		for (size_t k = first[o]; k < first[o + 1];) {
			const struct bm_range *a = &r[idx[k]];
			uint64_t end = a->end;
			size_t j = k + 1;
			for (; j < first[o + 1]; j++) {
				const struct bm_range *c = &r[idx[j]];
				if (c->disk != a->disk || c->flags != a->flags ||
				    c->start > end)
					break;
				if (c->end > end)
					end = c->end;
			}
			if (any)
				bm_str_puts(b, ",");
			json_range(b, a->disk, a->start, end, a->flags);
			any = true;
			k = j;
		}
		bm_str_puts(b, "]");
		put_record(w, "object", b);
	}
	free(first);
	free(idx);
}

#define JSON_HEAD "\"format\":\"bmapgen-map\",\"version\":1," \
		  "\"generator\":\"bmapgen " BM_VERSION "\""

/* --- streaming (bm_ctx_stream) --------------------------------------- */

void bm_json_stream_begin(struct bm_ctx *ctx)
{
	if (fputs("{\"record\":\"header\"," JSON_HEAD ",\"stream\":true}\n",
		  ctx->stream) < 0)
		ctx->stream_err = -1;
}

/* One object record with the one range R (no "id": ids are reused once
 * objects are released; the name identifies the object). */
void bm_json_stream_range(struct bm_ctx *ctx, const struct bm_range *r)
{
	struct bm_str b = { 0 };
	const struct bm_objinfo *oi = bm_object_info(ctx, r->obj);
	if (!oi)
		abort(); /* mapstore.c flushes before releasing */
	bm_str_puts(&b, "{\"record\":\"object\"");
	json_object_name(&b, oi);
	bm_str_puts(&b, ",\"ranges\":[");
	json_range(&b, r->disk, r->start, r->end, r->flags);
	bm_str_puts(&b, "]}\n");
	if (fputs(b.s, ctx->stream) < 0)
		ctx->stream_err = -1;
	bm_str_free(&b);
}

void bm_json_stream_end(struct bm_ctx *ctx)
{
	struct writer w = { .out = ctx->stream, .lines = true };
	struct bm_str b = { 0 };
	write_disks(ctx, &w, &b);
	write_volumes(ctx, &w, &b);
	bm_str_free(&b);
	if (w.err)
		ctx->stream_err = -1;
}

int bm_write_json(struct bm_ctx *ctx, FILE *out, bool lines)
{
	struct writer w = { .out = out, .lines = lines };
	struct bm_str b = { 0 };
	const char *head = JSON_HEAD;
	if (lines) {
		if (fprintf(out, "{\"record\":\"header\",%s}\n", head) < 0)
			w.err = -1;
	} else if (fprintf(out, "{\n  %s,\n", head) < 0) {
		w.err = -1;
	}
	open_array(&w, "disks", false);
	write_disks(ctx, &w, &b);
	close_array(&w);
	open_array(&w, "volumes", true);
	write_volumes(ctx, &w, &b);
	close_array(&w);
	open_array(&w, "objects", true);
	write_objects(ctx, &w, &b);
	close_array(&w);
	if (!lines && fputs("\n}\n", out) < 0)
		w.err = -1;
	bm_str_free(&b);
	return w.err;
}
