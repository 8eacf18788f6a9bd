/* The map store: interned objects and the image ranges that belong to
 * them.  Walkers emit (volume, range, object); bm_emit maps the range down
 * through the volume stack here, in one place.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* FNV-1a over type, dev and path (NUL-separated). */
static uint64_t obj_hash(char type, const char *dev, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = (h ^ (unsigned char)type) * 0x100000001b3ull;
	for (const char *p = dev; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	if (path)
		for (const char *p = path; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

static bool obj_eq(const struct bm_objinfo *o, char type, const char *dev,
		   const char *path)
{
	if (o->type != type || strcmp(o->dev, dev) != 0)
		return false;
	if (!o->path || !path)
		return o->path == path;
	return strcmp(o->path, path) == 0;
}

static void hash_grow(struct bm_ctx *ctx)
{
	size_t cap = ctx->hashcap ? ctx->hashcap * 2 : 1024;
	uint32_t *h = bm_malloc(cap * sizeof *h);
	memset(h, 0xff, cap * sizeof *h);
	for (size_t i = 0; i < ctx->nobjs; i++) {
		const struct bm_objinfo *o = &ctx->objs[i];
		size_t j = obj_hash(o->type, o->dev, o->path) & (cap - 1);
		while (h[j] != BM_OBJ_NONE)
			j = (j + 1) & (cap - 1);
		h[j] = (uint32_t)i;
	}
	free(ctx->objhash);
	ctx->objhash = h;
	ctx->hashcap = cap;
}

bm_obj bm_object(struct bm_ctx *ctx, char type, const char *dev,
		 const char *path)
{
	if (!dev)
		dev = "?";
	if ((ctx->nobjs + 1) * 2 > ctx->hashcap)
		hash_grow(ctx);
	size_t j = obj_hash(type, dev, path) & (ctx->hashcap - 1);
	/* Terminates: the table is kept at most half full. */
	while (ctx->objhash[j] != BM_OBJ_NONE) {
		if (obj_eq(&ctx->objs[ctx->objhash[j]], type, dev, path))
			return ctx->objhash[j];
		j = (j + 1) & (ctx->hashcap - 1);
	}
	if (ctx->nobjs >= BM_OBJ_NONE - 1) {
		fputs("bmapgen: too many objects\n", stderr);
		exit(2);
	}
	if (ctx->nobjs == ctx->capobjs) {
		ctx->capobjs = ctx->capobjs ? ctx->capobjs * 2 : 256;
		ctx->objs = bm_reallocarray(ctx->objs, ctx->capobjs,
					    sizeof *ctx->objs);
	}
	struct bm_objinfo *o = &ctx->objs[ctx->nobjs];
	o->type = type;
	o->dev = bm_strdup(dev);
	o->path = path ? bm_strdup(path) : NULL;
	ctx->objhash[j] = (uint32_t)ctx->nobjs;
	return (bm_obj)ctx->nobjs++;
}

int bm_store_add(struct bm_ctx *ctx, unsigned disk, uint64_t off,
		 uint64_t len, bm_obj obj, unsigned flags)
{
	if (len == 0)
		return 0;
	uint64_t end;
	if (!bm_add(off, len, &end)) {
		errno = ERANGE;
		return -1;
	}
	/* Walkers mostly emit a file's blocks in order: join a range that
	 * continues the previous one instead of storing another. */
	if (ctx->nranges) {
		struct bm_range *last = &ctx->ranges[ctx->nranges - 1];
		if (last->obj == obj && last->disk == disk &&
		    last->flags == flags && last->end == off) {
			last->end = end;
			return 0;
		}
	}
	if (ctx->nranges == ctx->capranges) {
		ctx->capranges = ctx->capranges ? ctx->capranges * 2 : 4096;
		ctx->ranges = bm_reallocarray(ctx->ranges, ctx->capranges,
					      sizeof *ctx->ranges);
	}
	ctx->ranges[ctx->nranges++] = (struct bm_range){
		.start = off, .end = end, .disk = disk, .obj = obj,
		.flags = flags,
	};
	ctx->sorted = false;
	return 0;
}

struct emit_arg {
	struct bm_ctx *ctx;
	bm_obj obj;
};

static int emit_cb(void *opaque, unsigned disk, uint64_t off, uint64_t len,
		   unsigned flags)
{
	struct emit_arg *a = opaque;
	return bm_store_add(a->ctx, disk, off, len, a->obj, flags);
}

int bm_emit_flags(struct bm_volume *v, uint64_t off, uint64_t len, bm_obj obj,
		  unsigned flags)
{
	struct bm_ctx *ctx = v->ctx;
	if (len == 0)
		return 0;
	if (!bm_in_range(off, len, v->size)) {
		const struct bm_objinfo *o = bm_object_info(ctx, obj);
		bm_warn(ctx, v->dev, off,
			"%c %s: range of 0x%llx bytes runs past the end of the "
			"volume (size 0x%llx): clipped",
			o->type, o->path ? o->path : o->dev,
			(unsigned long long)len, (unsigned long long)v->size);
		if (off >= v->size)
			return -1;
		len = v->size - off;
	}
	struct emit_arg a = { ctx, obj };
	return bm_volume_map(v, off, len, flags, emit_cb, &a);
}

int bm_emit(struct bm_volume *v, uint64_t off, uint64_t len, bm_obj obj)
{
	return bm_emit_flags(v, off, len, obj, 0);
}

static int range_cmp(const void *a, const void *b)
{
	const struct bm_range *x = a, *y = b;
	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	if (x->obj != y->obj)
		return x->obj < y->obj ? -1 : 1;
	return x->flags < y->flags ? -1 : x->flags > y->flags;
}

size_t bm_store_count(const struct bm_ctx *ctx)
{
	return ctx->nranges;
}

const struct bm_range *bm_store_ranges(struct bm_ctx *ctx)
{
	if (!ctx->sorted && ctx->nranges > 1) {
		bm_qsort(ctx->ranges, ctx->nranges, sizeof *ctx->ranges,
		      range_cmp);
		ctx->sorted = true;
	}
	return ctx->ranges;
}

size_t bm_object_count(const struct bm_ctx *ctx)
{
	return ctx->nobjs;
}

const struct bm_objinfo *bm_object_info(const struct bm_ctx *ctx, bm_obj o)
{
	return o < ctx->nobjs ? &ctx->objs[o] : NULL;
}

void bm_store_free(struct bm_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nobjs; i++) {
		free((char *)ctx->objs[i].dev);
		free((char *)ctx->objs[i].path);
	}
	free(ctx->objs);
	free(ctx->objhash);
	free(ctx->ranges);
}
