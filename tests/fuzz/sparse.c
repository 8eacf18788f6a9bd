/* Sparse multi-disk fuzz inputs: the container reader and a volume that
 * reads zeros between the chunks.  Format and rules: sparse.h. */
#include <stdlib.h>
#include <string.h>

#include "sparse.h"
#include "util.h"

struct chunk {
	uint64_t off;
	size_t len;
	const uint8_t *data; /* into the disk's own copy */
};

struct sparse_disk {
	unsigned disk;
	size_t n;
	struct chunk *chunks; /* increasing OFF, not overlapping */
	uint8_t *bytes;       /* all chunk data, one exact-size block */
};

static int sparse_read(struct bm_volume *v, void *buf, size_t len,
		       uint64_t off)
{
	struct sparse_disk *d = v->priv;
	uint64_t end = off + len; /* bm_read checked OFF+LEN <= size */
	memset(buf, 0, len);
	/* First chunk that ends after OFF: chunks are sorted and disjoint,
	 * so their ends are sorted too. */
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->chunks[mid].off + d->chunks[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < d->n && d->chunks[i].off < end; i++) {
		const struct chunk *c = &d->chunks[i];
		uint64_t s = c->off > off ? c->off : off;
		uint64_t e = c->off + c->len < end ? c->off + c->len : end;
		memcpy((uint8_t *)buf + (s - off), c->data + (s - c->off),
		       e - s);
	}
	return 0;
}

static int sparse_map(struct bm_volume *v, uint64_t off, uint64_t len,
		      unsigned flags, bm_range_cb cb, void *opaque)
{
	struct sparse_disk *d = v->priv;
	return cb(opaque, d->disk, off, len, flags);
}

static void sparse_destroy(struct bm_volume *v)
{
	struct sparse_disk *d = v->priv;
	free(d->chunks);
	free(d->bytes);
	free(d);
}

static const struct bm_volume_ops sparse_ops = {
	.kind = "memory",
	.read = sparse_read,
	.map = sparse_map,
	.destroy = sparse_destroy,
};

/* What the parse collects for one disk before its volume is made. */
struct pending {
	uint64_t size;
	size_t n, cap, bytes;
	struct { uint64_t off; size_t len; const uint8_t *src; } *c;
};

static void add_chunk(struct pending *p, uint64_t off, size_t len,
		      const uint8_t *src)
{
	if (off >= p->size || len == 0)
		return;
	if (p->n && off < p->c[p->n - 1].off + p->c[p->n - 1].len)
		return; /* overlaps or precedes the previous chunk */
	if (len > p->size - off)
		len = p->size - off;
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->c = bm_reallocarray(p->c, p->cap, sizeof *p->c);
	}
	p->c[p->n].off = off;
	p->c[p->n].len = len;
	p->c[p->n].src = src;
	p->n++;
	p->bytes += len; /* <= the input size: no overflow */
}

static struct bm_volume *make_disk(struct bm_ctx *ctx, struct pending *p,
				   unsigned disk)
{
	struct sparse_disk *d = bm_calloc(1, sizeof *d);
	d->disk = disk;
	d->n = p->n;
	d->chunks = bm_calloc(p->n ? p->n : 1, sizeof *d->chunks);
	/* One exact-size copy: ASan then catches any read past a chunk. */
	d->bytes = bm_malloc(p->bytes ? p->bytes : 1);
	size_t at = 0;
	for (size_t i = 0; i < p->n; i++) {
		memcpy(d->bytes + at, p->c[i].src, p->c[i].len);
		d->chunks[i].off = p->c[i].off;
		d->chunks[i].len = p->c[i].len;
		d->chunks[i].data = d->bytes + at;
		at += p->c[i].len;
	}
	char dev[16];
	snprintf(dev, sizeof dev, "/dev/sd%c", 'a' + (int)disk - 1);
	struct bm_volume *v = bm_volume_new(ctx, &sparse_ops, d, p->size, dev,
					    NULL);
	v->disk = disk;
	return v;
}

unsigned bm_fuzz_disks(struct bm_ctx *ctx, const uint8_t *data, size_t size,
		       struct bm_volume *vols[BM_FUZZ_MAX_DISKS])
{
	struct pending p[BM_FUZZ_MAX_DISKS];
	unsigned nd = 0;
	memset(p, 0, sizeof p);
	if (size < 8 || memcmp(data, "BMSPARSE", 8) != 0) {
		nd = 1;
		p[0].size = size;
		add_chunk(&p[0], 0, size, data);
	} else {
		size_t at = 8;
		/* Every record consumes at least 9 bytes, so this ends. */
		while (at < size) {
			uint8_t tag = data[at];
			if (tag == 'D' && size - at >= 9) {
				uint64_t s = bm_le64(data + at + 1);
				at += 9;
				if (nd == BM_FUZZ_MAX_DISKS)
					continue;
				p[nd++].size = s < BM_FUZZ_MAX_DISK
						       ? s
						       : BM_FUZZ_MAX_DISK;
			} else if (tag == 'C' && size - at >= 13) {
				uint64_t off = bm_le64(data + at + 1);
				size_t len = bm_le32(data + at + 9);
				at += 13;
				if (len > size - at)
					len = size - at;
				if (nd)
					add_chunk(&p[nd - 1], off, len,
						  data + at);
				at += len;
			} else {
				break;
			}
		}
	}
	for (unsigned i = 0; i < nd; i++) {
		vols[i] = make_disk(ctx, &p[i], i + 1);
		free(p[i].c);
	}
	return nd;
}
