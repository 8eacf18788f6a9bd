/* NBD input: an export named by an NBD URI (nbd://host/export,
 * nbd+unix:///export?socket=PATH, nbds:// with TLS ...) read through
 * libnbd.  bmapgen only ever reads: no write, trim or zero request is
 * sent.  The map keeps export offsets, like a raw image.
 *
 * Parsers read in small pieces (a block, an inode), each of which would
 * be a round trip: reads go through a small cache of aligned CHUNK-sized
 * pieces.  With -v the number of bytes and requests fetched is reported.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <libnbd.h>
#include <stdlib.h>
#include <string.h>

#include "nbd.h"

#define CHUNK (128u * 1024)
#define SLOTS 32

struct nbd {
	struct nbd_handle *h;
	unsigned disk;
	uint64_t size;
	uint64_t fetched, requests;
	struct {
		uint64_t off; /* UINT64_MAX: empty */
		uint64_t used;
		uint8_t *buf;
	} slot[SLOTS];
	uint64_t clock;
	char *uri;
};

bool bm_nbd_uri(const char *path)
{
	/* nbd:// and nbds://, or a transport: nbd+unix://, nbds+vsock://
	 * (a file named "nbd+x.img" is a file) */
	size_t n = strncmp(path, "nbds", 4) == 0 ? 4
		   : strncmp(path, "nbd", 3) == 0 ? 3 : 0;
	if (n == 0)
		return false;
	if (path[n] == '+') {
		n++;
		size_t t = strspn(path + n, "abcdefghijklmnopqrstuvwxyz");
		if (t == 0)
			return false;
		n += t;
	}
	return strncmp(path + n, "://", 3) == 0;
}

/* The cached chunk at OFF (CHUNK-aligned), fetched if needed. */
static const uint8_t *chunk(struct nbd *n, uint64_t off)
{
	unsigned victim = 0;
	for (unsigned i = 0; i < SLOTS; i++) {
		if (n->slot[i].off == off) {
			n->slot[i].used = ++n->clock;
			return n->slot[i].buf;
		}
		if (n->slot[i].used < n->slot[victim].used)
			victim = i;
	}
	uint64_t len = n->size - off < CHUNK ? n->size - off : CHUNK;
	if (!n->slot[victim].buf)
		n->slot[victim].buf = bm_malloc(CHUNK);
	n->slot[victim].off = UINT64_MAX;
	if (nbd_pread(n->h, n->slot[victim].buf, len, off, 0) < 0) {
		errno = nbd_get_errno() ? nbd_get_errno() : EIO;
		return NULL;
	}
	n->fetched += len;
	n->requests++;
	n->slot[victim].off = off;
	n->slot[victim].used = ++n->clock;
	return n->slot[victim].buf;
}

static int nbd_read(struct bm_volume *v, void *buf, size_t len, uint64_t off)
{
	struct nbd *n = v->priv;
	uint8_t *p = buf;
	/* Terminates: each round copies at least one byte (off < size). */
	while (len) {
		uint64_t base = off / CHUNK * CHUNK;
		const uint8_t *c = chunk(n, base);
		if (!c)
			return -1;
		size_t k = CHUNK - (size_t)(off - base);
		if (k > len)
			k = len;
		memcpy(p, c + (off - base), k);
		p += k;
		len -= k;
		off += k;
	}
	return 0;
}

static int nbd_map(struct bm_volume *v, uint64_t off, uint64_t len,
		   unsigned flags, bm_range_cb cb, void *opaque)
{
	struct nbd *n = v->priv;
	return cb(opaque, n->disk, off, len, flags);
}

static void nbd_destroy(struct bm_volume *v)
{
	struct nbd *n = v->priv;
	bm_debug(v->ctx, "%s: %s: fetched %llu bytes in %llu requests",
		 v->dev, n->uri, (unsigned long long)n->fetched,
		 (unsigned long long)n->requests);
	for (unsigned i = 0; i < SLOTS; i++)
		free(n->slot[i].buf);
	nbd_close(n->h);
	free(n->uri);
	free(n);
}

const struct bm_volume_ops bm_nbd_ops = {
	.kind = "disk",
	.read = nbd_read,
	.map = nbd_map,
	.destroy = nbd_destroy,
};

void *bm_nbd_open(struct bm_ctx *ctx, const char *dev, const char *uri,
		  unsigned disk, uint64_t *size)
{
	struct nbd_handle *h = nbd_create();
	if (!h) {
		bm_fail(ctx, dev, BM_NO_OFFSET, "%s: %s", uri,
			nbd_get_error());
		return NULL;
	}
	int64_t sz;
	if (nbd_connect_uri(h, uri) < 0 || (sz = nbd_get_size(h)) < 0) {
		bm_fail(ctx, dev, BM_NO_OFFSET, "%s: %s", uri,
			nbd_get_error());
		nbd_close(h);
		return NULL;
	}
	struct nbd *n = bm_calloc(1, sizeof *n);
	n->h = h;
	n->disk = disk;
	n->size = (uint64_t)sz;
	n->uri = bm_strdup(uri);
	for (unsigned i = 0; i < SLOTS; i++)
		n->slot[i].off = UINT64_MAX;
	*size = n->size;
	bm_debug(ctx, "%s: %s: NBD export of %lld bytes%s", dev, uri,
		 (long long)sz, nbd_is_read_only(h) == 1 ? " (read-only)" : "");
	return n;
}
