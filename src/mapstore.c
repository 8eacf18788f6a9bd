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

/* Object ids.  Normally an id is the object's slot in ctx->objs.  While
 * streaming, slots of released objects are reused, so an id also carries
 * the slot's generation in its top 8 bits: an id used after its release
 * is refused (bm_fail) instead of naming whatever took its slot -- as
 * long as the slot was not reused 256 times since, so this catches
 * walker bugs; it does not make a late use safe. */
#define SLOT_BITS 24
#define SLOT_MASK ((UINT32_C(1) << SLOT_BITS) - 1)

static bm_obj make_id(const struct bm_ctx *ctx, size_t slot)
{
	if (!ctx->stream)
		return (bm_obj)slot;
	return (bm_obj)slot | (bm_obj)ctx->gens[slot] << SLOT_BITS;
}

/* The live slot of id O, or false. */
static bool id_slot(const struct bm_ctx *ctx, bm_obj o, size_t *slot)
{
	size_t s = ctx->stream ? (o & SLOT_MASK) : o;
	if (s >= ctx->nobjs || !ctx->objs[s].dev)
		return false;
	if (ctx->stream && ctx->gens[s] != o >> SLOT_BITS)
		return false;
	*slot = s;
	return true;
}

static size_t obj_home(const struct bm_ctx *ctx, size_t slot)
{
	const struct bm_objinfo *o = &ctx->objs[slot];
	return obj_hash(o->type, o->dev, o->path) & (ctx->hashcap - 1);
}

static void hash_grow(struct bm_ctx *ctx)
{
	size_t cap = ctx->hashcap ? ctx->hashcap * 2 : 1024;
	uint32_t *h = bm_malloc(cap * sizeof *h);
	memset(h, 0xff, cap * sizeof *h);
	free(ctx->objhash);
	ctx->objhash = h;
	ctx->hashcap = cap;
	for (size_t i = 0; i < ctx->nobjs; i++) {
		if (!ctx->objs[i].dev)
			continue; /* a released slot */
		size_t j = obj_home(ctx, i);
		while (h[j] != BM_OBJ_NONE)
			j = (j + 1) & (cap - 1);
		h[j] = (uint32_t)i;
	}
}

/* Memory an object's names take, with its record. */
static uint64_t name_cost(const char *dev, const char *path)
{
	return sizeof(struct bm_objinfo) + strlen(dev) + 1 +
	       (path ? strlen(path) + 1 : 0);
}

/* What the budgets below grow with: the bytes the disks' files take
 * where they are stored, not their sizes (a qcow2 of a few KiB can claim
 * 16 TiB; NBD disks count their size).  Asked for each new object and
 * each RAID map: summed again only when a disk came (disks are opened
 * before the rest is mapped). */
static uint64_t disk_bytes(struct bm_ctx *ctx)
{
	if (ctx->budget_disks == ctx->ndisks)
		return ctx->budget_bytes;
	uint64_t bytes = 0;
	for (unsigned i = 0; i < ctx->ndisks; i++)
		if (!bm_add(bytes, ctx->diskinfo[i].stored, &bytes))
			bytes = UINT64_MAX;
	ctx->budget_disks = ctx->ndisks;
	return ctx->budget_bytes = bytes;
}

/* Bytes of object names kept at most: 2^27 plus half the bytes of the
 * disks (disk_bytes), never more than 2^33.  A real filesystem's paths take a
 * fraction of its metadata, but a directory entry of a few bytes can
 * name a path of 4 KiB: 180 000 hard links below a deep directory of
 * a 24 MiB ext4 made 1.4 GB of names.  Once the budget is spent the
 * walkers stop mapping files (bm_ctx_full), as for ranges. */
#define NAME_CEILING (1ull << 33)
static void name_budget(struct bm_ctx *ctx, uint64_t cost)
{
	ctx->name_bytes += cost;
	if (ctx->names_full)
		return;
	uint64_t max = (1ull << 27) + disk_bytes(ctx) / 2;
	if (max > NAME_CEILING)
		max = NAME_CEILING;
	if (ctx->name_bytes <= max)
		return;
	bm_warn(ctx, NULL, BM_NO_OFFSET,
		"more than %llu bytes of names for %u disk(s): the rest is "
		"not mapped (deep paths named again and again: hard links?)",
		(unsigned long long)max, ctx->ndisks);
	ctx->names_full = ctx->store_full = true;
}

bm_obj bm_object(struct bm_ctx *ctx, char type, const char *dev,
		 const char *path)
{
	if (!dev)
		dev = "?";
	if ((ctx->nobjs - ctx->nfree + 1) * 2 > ctx->hashcap)
		hash_grow(ctx);
	size_t j = obj_hash(type, dev, path) & (ctx->hashcap - 1);
	/* Terminates: the table is kept at most half full. */
	while (ctx->objhash[j] != BM_OBJ_NONE) {
		if (obj_eq(&ctx->objs[ctx->objhash[j]], type, dev, path))
			return make_id(ctx, ctx->objhash[j]);
		j = (j + 1) & (ctx->hashcap - 1);
	}
	size_t slot;
	if (ctx->nfree) {
		slot = ctx->freeslots[--ctx->nfree];
	} else {
		/* Streaming ids keep 24 bits for the slot; ids never equal
		 * BM_OBJ_NONE. */
		if (ctx->nobjs >= (ctx->stream ? SLOT_MASK : BM_OBJ_NONE - 1)) {
			fputs("bmapgen: too many objects\n", stderr);
			exit(2);
		}
		if (ctx->nobjs == ctx->capobjs) {
			ctx->capobjs = ctx->capobjs ? ctx->capobjs * 2 : 256;
			ctx->objs = bm_reallocarray(ctx->objs, ctx->capobjs,
						    sizeof *ctx->objs);
			if (ctx->stream) {
				ctx->gens = bm_reallocarray(ctx->gens,
							    ctx->capobjs, 1);
				memset(ctx->gens + ctx->nobjs, 0,
				       ctx->capobjs - ctx->nobjs);
			}
		}
		slot = ctx->nobjs++;
	}
	struct bm_objinfo *o = &ctx->objs[slot];
	o->type = type;
	o->dev = bm_strdup(dev);
	o->path = path ? bm_strdup(path) : NULL;
	ctx->objhash[j] = (uint32_t)slot;
	name_budget(ctx, name_cost(dev, path));
	return make_id(ctx, slot);
}

/* Remove SLOT from the hash table.  Linear probing without tombstones:
 * the entries after the hole that could not have been placed at or
 * before it move back into it (backward-shift deletion), so every entry
 * stays reachable from its home position. */
static void hash_remove(struct bm_ctx *ctx, size_t slot)
{
	size_t mask = ctx->hashcap - 1;
	size_t i = obj_home(ctx, slot);
	/* Terminates: SLOT is in the table and the table is not full. */
	while (ctx->objhash[i] != slot)
		i = (i + 1) & mask;
	for (size_t j = (i + 1) & mask; ctx->objhash[j] != BM_OBJ_NONE;
	     j = (j + 1) & mask) {
		size_t k = obj_home(ctx, ctx->objhash[j]);
		/* Entry J may move to the hole I unless its home K lies
		 * cyclically in (I, J]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays)
			continue;
		ctx->objhash[i] = ctx->objhash[j];
		i = j;
	}
	ctx->objhash[i] = BM_OBJ_NONE;
}

static void stream_flush(struct bm_ctx *ctx)
{
	if (ctx->have_pend)
		bm_json_stream_range(ctx, &ctx->pend);
	ctx->have_pend = false;
}

void bm_object_release(struct bm_ctx *ctx, bm_obj o)
{
	size_t slot;
	if (!ctx->stream || !id_slot(ctx, o, &slot))
		return;
	struct bm_objinfo *oi = &ctx->objs[slot];
	/* Metadata and volume objects are few, and several walkers or
	 * layers may add to them: they stay. */
	if (oi->type != 'f' && oi->type != 'd')
		return;
	if (ctx->have_pend && ctx->pend.obj == o)
		stream_flush(ctx);
	hash_remove(ctx, slot);
	ctx->name_bytes -= name_cost(oi->dev, oi->path);
	free((char *)oi->dev);
	free((char *)oi->path);
	oi->dev = oi->path = NULL;
	oi->type = 0;
	ctx->gens[slot]++;
	if (ctx->nfree == ctx->capfree) {
		ctx->capfree = ctx->capfree ? ctx->capfree * 2 : 64;
		ctx->freeslots = bm_reallocarray(ctx->freeslots, ctx->capfree,
						 sizeof *ctx->freeslots);
	}
	ctx->freeslots[ctx->nfree++] = (uint32_t)slot;
}

void bm_ctx_stream(struct bm_ctx *ctx, FILE *out)
{
	/* Ids change meaning with streaming: only before the first. */
	if (ctx->nobjs)
		abort();
	ctx->stream = out;
	bm_json_stream_begin(ctx);
}

int bm_ctx_stream_end(struct bm_ctx *ctx)
{
	if (!ctx->stream)
		return 0;
	stream_flush(ctx);
	bm_json_stream_end(ctx);
	return ctx->stream_err;
}

/* Streaming: write the pending range unless RANGE continues it. */
static int stream_add(struct bm_ctx *ctx, const struct bm_range *range)
{
	size_t slot;
	if (!id_slot(ctx, range->obj, &slot)) {
		/* A walker emitted with an id it had released: a bug, and
		 * the name it would print could be another object's. */
		bm_fail(ctx, NULL, range->start,
			"internal error: range for a released object "
			"(id 0x%x): not mapped", (unsigned)range->obj);
		return -1;
	}
	struct bm_range *p = &ctx->pend;
	if (ctx->have_pend && p->obj == range->obj &&
	    p->disk == range->disk && p->flags == range->flags &&
	    p->end == range->start) {
		p->end = range->end;
		return 0;
	}
	stream_flush(ctx);
	*p = *range;
	ctx->have_pend = true;
	return 0;
}

/* Ranges kept at most: 2^20 plus one per 512 bytes of the disks
 * (disk_bytes), and never more than 2^25 (1 GiB of ranges).  A real
 * filesystem needs fewer (a range is at least a sector); names that map
 * one inode again and again (hard links, snapshots, shared extent trees
 * of a crafted image) can multiply its ranges without bound: a 32 MiB
 * ext4 with 2869 links to a file of 1001 extents made 2.9 million.  Once
 * the budget is spent the walkers stop mapping files (bm_ctx_full), so
 * time is bounded too. */
#define STORE_CEILING (1u << 25)
static size_t store_limit(struct bm_ctx *ctx)
{
	uint64_t n = (1u << 20) + disk_bytes(ctx) / 512;
	return n < STORE_CEILING ? (size_t)n : STORE_CEILING;
}

bool bm_ctx_full(const struct bm_ctx *ctx)
{
	return ctx->store_full;
}

/* Steps of work at most: 2^28 plus one per 64 bytes of the disks
 * (disk_bytes), never more than 2^33 (minutes).  A real map takes far
 * fewer (mapping a disk whole through a raid5 of 4 KiB chunks is a step
 * per chunk; raid0 and raid10 go a row or a period at once); a crafted
 * one can ask to map the same large file through an array again and
 * again (hard links) with no new range to show for it: 650 000 links to
 * a 48 MiB file took 6 * 10^10 steps. */
#define STEP_CEILING (1ull << 33)
bool bm_ctx_spend(struct bm_ctx *ctx, uint64_t n)
{
	if (ctx->steps_full)
		return false;
	uint64_t max = (1ull << 28) + disk_bytes(ctx) / 64;
	if (max > STEP_CEILING)
		max = STEP_CEILING;
	if (!bm_add(ctx->steps, n, &ctx->steps) || ctx->steps > max) {
		bm_warn(ctx, NULL, BM_NO_OFFSET,
			"more than %llu steps of mapping work for %u disk(s): "
			"the rest is not mapped (the same large files mapped "
			"again and again through an array: hard links?)",
			(unsigned long long)max, ctx->ndisks);
		ctx->steps_full = ctx->store_full = true;
		return false;
	}
	return true;
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
	if (ctx->stream)
		return stream_add(ctx, &(struct bm_range){
			.start = off, .end = end, .disk = disk, .obj = obj,
			.flags = flags,
		});
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
	if (ctx->nranges >= store_limit(ctx)) {
		/* dropped (not an error for the caller: one warning) */
		if (!ctx->store_full)
			bm_warn(ctx, NULL, BM_NO_OFFSET,
				"more than %zu ranges for %u disk(s): the rest "
				"is not mapped (names mapping the same blocks "
				"again and again: hard links, snapshots?)",
				ctx->nranges, ctx->ndisks);
		ctx->store_full = true;
		return 0;
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
			o ? o->type : '?',
			!o ? "?" : o->path ? o->path : o->dev,
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
	size_t slot;
	return id_slot(ctx, o, &slot) ? &ctx->objs[slot] : NULL;
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
	free(ctx->gens);
	free(ctx->freeslots);
}
