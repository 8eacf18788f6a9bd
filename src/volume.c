/* Volumes: the one interface every layer implements (read a range, map a
 * range down to the image), plus the two generic kinds: a contiguous
 * slice of a parent (partitions) and a memory buffer (tests, fuzzers).
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sha256.h"

struct bm_volume *bm_volume_new(struct bm_ctx *ctx,
				const struct bm_volume_ops *ops, void *priv,
				uint64_t size, const char *dev,
				struct bm_volume *parent)
{
	struct bm_volume *v = bm_calloc(1, sizeof *v);
	v->ops = ops;
	v->priv = priv;
	v->ctx = ctx;
	v->size = size;
	v->dev = bm_strdup(dev ? dev : "?");
	v->parent = parent;
	v->depth = parent ? parent->depth + 1 : 0;
	v->disk = parent ? parent->disk : 0;
	v->sector_size = parent ? parent->sector_size : 512;
	*ctx->vol_tail = v;
	ctx->vol_tail = &v->next;
	return v;
}

int bm_read(struct bm_volume *v, void *buf, size_t len, uint64_t off)
{
	if (!bm_in_range(off, len, v->size)) {
		errno = ERANGE;
		return -1;
	}
	if (len == 0)
		return 0;
	return v->ops->read(v, buf, len, off);
}

int bm_volume_map(struct bm_volume *v, uint64_t off, uint64_t len,
		  unsigned flags, bm_range_cb cb, void *opaque)
{
	if (!bm_in_range(off, len, v->size)) {
		errno = ERANGE;
		return -1;
	}
	if (len == 0)
		return 0;
	return v->ops->map(v, off, len, flags, cb, opaque);
}

/* Called per image range of a prefetched range: only first copies are
 * read by the walkers (copies and parity only when the first fails). */
static int prefetch_cb(void *opaque, unsigned disk, uint64_t off,
		       uint64_t len, unsigned flags)
{
	struct bm_ctx *ctx = opaque;
	if (flags & (BM_RANGE_COPY | BM_RANGE_PARITY))
		return 0;
	/* Memory volumes (tests, fuzzers) name disks that are not open. */
	if (disk == 0 || disk > ctx->ndisks)
		return 0;
	struct bm_volume *d = ctx->disks[disk - 1];
	if (d->ops->prefetch && bm_in_range(off, len, d->size))
		d->ops->prefetch(d, off, len);
	return 0;
}

void bm_volume_prefetch(struct bm_volume *v, uint64_t off, uint64_t len)
{
	if (off >= v->size || len == 0)
		return;
	if (len > v->size - off)
		len = v->size - off;
	/* A failed map is reported by whoever reads or emits the range. */
	(void)v->ops->map(v, off, len, 0, prefetch_cb, v->ctx);
}

/* --- slices ------------------------------------------------------- */

struct slice {
	uint64_t start;
};

static int slice_read(struct bm_volume *v, void *buf, size_t len,
		      uint64_t off)
{
	struct slice *s = v->priv;
	return bm_read(v->parent, buf, len, s->start + off);
}

static int slice_map(struct bm_volume *v, uint64_t off, uint64_t len,
		     unsigned flags, bm_range_cb cb, void *opaque)
{
	struct slice *s = v->priv;
	return bm_volume_map(v->parent, s->start + off, len, flags, cb,
			     opaque);
}

static void slice_destroy(struct bm_volume *v)
{
	free(v->priv);
}

static const struct bm_volume_ops slice_ops = {
	.kind = "slice",
	.read = slice_read,
	.map = slice_map,
	.destroy = slice_destroy,
};

struct bm_volume *bm_volume_slice(struct bm_volume *parent, uint64_t start,
				  uint64_t size, const char *dev)
{
	if (start > parent->size) {
		bm_finding(parent->ctx, "past-end", BM_SEV_ERROR, dev, start,
			"starts past the end of %s (size 0x%llx): not mapped",
			parent->dev, (unsigned long long)parent->size);
		return NULL;
	}
	if (size > parent->size - start) {
		bm_finding(parent->ctx, "past-end", BM_SEV_ERROR, dev, start,
			"size 0x%llx runs past the end of %s (size 0x%llx): "
			"clipped to 0x%llx",
			(unsigned long long)size, parent->dev,
			(unsigned long long)parent->size,
			(unsigned long long)(parent->size - start));
		size = parent->size - start;
	}
	struct slice *s = bm_malloc(sizeof *s);
	s->start = start;
	return bm_volume_new(parent->ctx, &slice_ops, s, size, dev, parent);
}

int bm_volume_sha256(struct bm_volume *v, uint64_t off, uint64_t end,
		     uint8_t *buf, size_t buflen, char hex[65], uint64_t *bad)
{
	struct bm_sha256 s;
	bm_sha256_init(&s);
	/* Terminates: OFF grows by at least one byte per round. */
	while (off < end) {
		size_t n = end - off < buflen ? (size_t)(end - off) : buflen;
		if (bm_read(v, buf, n, off) < 0) {
			*bad = off;
			return -1;
		}
		bm_sha256_update(&s, buf, n);
		off += n;
	}
	uint8_t dg[32];
	bm_sha256_final(&s, dg);
	bm_sha256_hex(dg, hex);
	return 0;
}

/* --- memory volumes ----------------------------------------------- */

struct memvol {
	const uint8_t *buf;
	unsigned disk;
};

static int mem_read(struct bm_volume *v, void *buf, size_t len, uint64_t off)
{
	struct memvol *m = v->priv;
	memcpy(buf, m->buf + off, len);
	return 0;
}

static int mem_map(struct bm_volume *v, uint64_t off, uint64_t len,
		   unsigned flags, bm_range_cb cb, void *opaque)
{
	struct memvol *m = v->priv;
	return cb(opaque, m->disk, off, len, flags);
}

static void mem_destroy(struct bm_volume *v)
{
	free(v->priv);
}

static const struct bm_volume_ops mem_ops = {
	.kind = "memory",
	.read = mem_read,
	.map = mem_map,
	.destroy = mem_destroy,
};

struct bm_volume *bm_volume_memory(struct bm_ctx *ctx, const void *buf,
				   size_t size, const char *dev, unsigned disk)
{
	struct memvol *m = bm_malloc(sizeof *m);
	m->buf = buf;
	m->disk = disk;
	struct bm_volume *v = bm_volume_new(ctx, &mem_ops, m, size, dev, NULL);
	v->disk = disk;
	return v;
}

/* --- names -------------------------------------------------------- */

char *bm_partition_name(const char *dev, unsigned n)
{
	size_t l = strlen(dev);
	/* Like the kernel: a name ending in a digit gets a 'p' separator. */
	if (l && dev[l - 1] >= '0' && dev[l - 1] <= '9')
		return bm_asprintf("%sp%u", dev, n);
	return bm_asprintf("%s%u", dev, n);
}
