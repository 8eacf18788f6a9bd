/* Image input: a raw file or block device, opened read-only and read with
 * pread at 64-bit offsets.  This is the bottom of every volume stack: its
 * map() reports image ranges to the caller.  qcow2 images (qcow2.c) and
 * NBD URIs (nbd.c) are disks too, read through their own volume ops.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "nbd.h"
#include "qcow2.h"

struct image {
	int fd;
	char *path;
	unsigned disk;
	uint64_t nreads, nbytes; /* I/O accounting, reported with -v */
	uint64_t nprefetch, nprefetched; /* hints given, bytes hinted */
};

static int image_read(struct bm_volume *v, void *buf, size_t len,
		      uint64_t off)
{
	struct image *im = v->priv;
	uint8_t *p = buf;
	im->nreads++;
	im->nbytes += len;
	/* pread may return short counts; loop until done, EOF or error. */
	while (len) {
		ssize_t n = pread(im->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO; /* the file is shorter than it said */
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int image_map(struct bm_volume *v, uint64_t off, uint64_t len,
		     unsigned flags, bm_range_cb cb, void *opaque)
{
	struct image *im = v->priv;
	return cb(opaque, im->disk, off, len, flags);
}

static void image_prefetch(struct bm_volume *v, uint64_t off, uint64_t len)
{
	struct image *im = v->priv;
	/* The kernel reads the range ahead in large requests and returns
	 * without waiting; the preads that follow find it cached.  Counted
	 * apart: these bytes are read by the kernel, not by a pread. */
	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return;
	im->nprefetch++;
	im->nprefetched += len;
	(void)posix_fadvise(im->fd, (off_t)off, (off_t)len,
			    POSIX_FADV_WILLNEED);
}

static void image_destroy(struct bm_volume *v)
{
	struct image *im = v->priv;
	bm_debug(v->ctx, "%s: %llu reads, %llu bytes read from %s", v->dev,
		 (unsigned long long)im->nreads,
		 (unsigned long long)im->nbytes, im->path);
	if (im->nprefetch)
		bm_debug(v->ctx, "%s: %llu prefetch hints, %llu bytes",
			 v->dev, (unsigned long long)im->nprefetch,
			 (unsigned long long)im->nprefetched);
	close(im->fd);
	free(im->path);
	free(im);
}

static const struct bm_volume_ops image_ops = {
	.kind = "disk",
	.read = image_read,
	.map = image_map,
	.destroy = image_destroy,
	.prefetch = image_prefetch,
};

/* /dev/sda .. /dev/sdz, /dev/sdaa .. as the kernel and libguestfs name
 * them. */
static char *disk_name(unsigned index /* 0-based */)
{
	char letters[8];
	int n = 0;
	unsigned i = index + 1;
	while (i && n < 7) {
		i--;
		letters[n++] = (char)('a' + i % 26);
		i /= 26;
	}
	char rev[8];
	for (int k = 0; k < n; k++)
		rev[k] = letters[n - 1 - k];
	rev[n] = '\0';
	return bm_asprintf("/dev/sd%s", rev);
}

/* Link a new disk volume into CTX and emit its 'v' object. */
static struct bm_volume *add_disk(struct bm_ctx *ctx,
				  const struct bm_volume_ops *ops, void *priv,
				  uint64_t size, uint64_t stored,
				  const char *dev, const char *path,
				  const char *format)
{
	unsigned index = ctx->ndisks;
	struct bm_volume *v = bm_volume_new(ctx, ops, priv, size, dev, NULL);
	v->disk = index + 1;
	v->type = bm_strdup("disk");
	ctx->disks = bm_reallocarray(ctx->disks, ctx->ndisks + 1,
				     sizeof *ctx->disks);
	ctx->diskinfo = bm_reallocarray(ctx->diskinfo, ctx->ndisks + 1,
					sizeof *ctx->diskinfo);
	ctx->diskinfo[ctx->ndisks] = (struct bm_diskinfo){
		.source = bm_strdup(path), .format = format,
		.stored = stored < size ? stored : size,
	};
	ctx->disks[ctx->ndisks++] = v;
	if (size == 0)
		bm_warn(ctx, v->dev, BM_NO_OFFSET, "%s is empty", path);
	bm_store_add(ctx, v->disk, 0, size, bm_object(ctx, 'v', v->dev, NULL),
		     0);
	return v;
}

struct bm_volume *bm_open_disk(struct bm_ctx *ctx, const char *path)
{
	unsigned index = ctx->ndisks;
	char *dev = disk_name(index);
	const char *fmt = ctx->opts.input_format ? ctx->opts.input_format
						 : "auto";
	if (bm_nbd_uri(path)) {
		uint64_t size;
		void *priv = bm_nbd_open(ctx, dev, path, index + 1, &size);
		/* (what the server stores is not known: its size) */
		struct bm_volume *v = priv ? add_disk(ctx, &bm_nbd_ops, priv,
						      size, size, dev, path,
						      "nbd")
					   : NULL;
		free(dev);
		return v;
	}
	/* O_NONBLOCK: a FIFO would block open() until a writer came; it
	 * is refused below with other non-files, and the flag dropped.
	 * Not for block devices: a CD-ROM opened so skips its media
	 * check (an empty drive would read as an empty disk). */
	struct stat pre;
	int nb = stat(path, &pre) == 0 && S_ISBLK(pre.st_mode) ? 0 : O_NONBLOCK;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | nb);
	if (fd < 0) {
		bm_fail(ctx, dev, BM_NO_OFFSET, "cannot open %s: %s", path,
			strerror(errno));
		free(dev);
		return NULL;
	}
	struct stat st;
	uint64_t size = 0;
	int fl;
	if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		bm_fail(ctx, dev, BM_NO_OFFSET, "cannot stat %s: %s", path,
			strerror(errno));
		close(fd);
		free(dev);
		return NULL;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			size = 0;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		bm_fail(ctx, dev, BM_NO_OFFSET,
			"%s is not a regular file or block device", path);
		close(fd);
		free(dev);
		return NULL;
	}
	/* Input format: probed (a qcow2 header) unless forced. */
	uint8_t head[4];
	if (strcmp(fmt, "qcow2") == 0 ||
	    (strcmp(fmt, "auto") == 0 && size >= 4 &&
	     pread(fd, head, 4, 0) == 4 && bm_qcow2_magic(head, 4))) {
		void *q = bm_qcow2_open(ctx, dev, fd, path, index + 1, &size);
		struct bm_volume *v = q ? add_disk(ctx, &bm_qcow2_ops, q, size,
						   bm_qcow2_stored(q), dev,
						   path, "qcow2")
					: NULL;
		free(dev);
		return v;
	}
	struct image *im = bm_calloc(1, sizeof *im);
	im->fd = fd;
	im->path = bm_strdup(path);
	im->disk = index + 1;
	struct bm_volume *v = add_disk(ctx, &image_ops, im, size,
				       bm_stored_bytes(&st, size), dev, path,
				       "raw");
	free(dev);
	return v;
}
