/* NTFS: libntfs-3g device operations over a bmapgen volume.
 *
 * libntfs-3g reaches its device only through struct ntfs_device_operations
 * (ntfs-3g/device.h).  These read through bm_read(), so an NTFS volume
 * inside a partition, LV or RAID is read through bmapgen's own volume
 * stack, and they refuse every write: the volume is mounted read-only
 * (NTFS_MNT_RDONLY, which also skips the $LogFile/hibernation checks and
 * never resets the journal), and if libntfs-3g ever tried to write
 * anyway it would get EROFS instead of touching the image.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include "ntfs.h"

struct ntfs_dev_priv {
	struct bm_volume *vol;
	s64 pos; /* file position for read()/seek() */
	/* Reads of [from, from+len) are served from [to, to+len): see
	 * bm_ntfs_device_redirect(). */
	uint64_t from, to, len;
};

static struct ntfs_dev_priv *priv_of(struct ntfs_device *dev)
{
	return dev->d_private;
}

static int nd_open(struct ntfs_device *dev, int flags)
{
	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EROFS;
		return -1;
	}
	if (NDevOpen(dev)) {
		errno = EBUSY;
		return -1;
	}
	priv_of(dev)->pos = 0;
	NDevSetOpen(dev);
	NDevSetReadOnly(dev);
	return 0;
}

static int nd_close(struct ntfs_device *dev)
{
	if (!NDevOpen(dev)) {
		errno = EBADF;
		return -1;
	}
	NDevClearOpen(dev);
	return 0;
}

static s64 nd_seek(struct ntfs_device *dev, s64 offset, int whence)
{
	struct ntfs_dev_priv *p = priv_of(dev);
	s64 base;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = p->pos;
		break;
	case SEEK_END:
		base = (s64)p->vol->size;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	s64 pos;
	if (__builtin_add_overflow(base, offset, &pos) || pos < 0) {
		errno = EINVAL;
		return -1;
	}
	p->pos = pos;
	return pos;
}

/* Reads stop short at the end of the volume (like pread on a file);
 * anything unreadable is EIO. */
static s64 nd_pread(struct ntfs_device *dev, void *buf, s64 count,
		    s64 offset)
{
	struct bm_volume *v = priv_of(dev)->vol;

	if (count < 0 || offset < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)offset >= v->size || count == 0)
		return 0;
	uint64_t n = (uint64_t)count;
	if (n > v->size - (uint64_t)offset)
		n = v->size - (uint64_t)offset;
	if (n > SIZE_MAX)
		n = SIZE_MAX;
	/* Pieces before, inside and after the redirected range; each step
	 * moves OFF forward, so this ends. */
	struct ntfs_dev_priv *p = priv_of(dev);
	uint64_t off = (uint64_t)offset, end = off + n;
	uint8_t *b = buf;
	while (off < end) {
		uint64_t src = off, k = end - off;
		if (p->len && off >= p->from && off - p->from < p->len) {
			src = p->to + (off - p->from);
			if (k > p->len - (off - p->from))
				k = p->len - (off - p->from);
		} else if (p->len && off < p->from && p->from < end) {
			k = p->from - off;
		}
		if (bm_read(v, b, (size_t)k, src) < 0) {
			errno = EIO;
			return -1;
		}
		b += k;
		off += k;
	}
	return (s64)n;
}

static s64 nd_read(struct ntfs_device *dev, void *buf, s64 count)
{
	struct ntfs_dev_priv *p = priv_of(dev);
	s64 n = nd_pread(dev, buf, count, p->pos);

	if (n > 0)
		p->pos += n;
	return n;
}

static s64 nd_pwrite(struct ntfs_device *dev, const void *buf, s64 count,
		     s64 offset)
{
	struct bm_volume *v = priv_of(dev)->vol;

	(void)buf;
	bm_debug(v->ctx, "%s: libntfs-3g tried to write %lld bytes at %lld: "
		 "refused", v->dev, (long long)count, (long long)offset);
	errno = EROFS;
	return -1;
}

static s64 nd_write(struct ntfs_device *dev, const void *buf, s64 count)
{
	return nd_pwrite(dev, buf, count, priv_of(dev)->pos);
}

/* Nothing is ever dirty. */
static int nd_sync(struct ntfs_device *dev)
{
	(void)dev;
	return 0;
}

static int nd_stat(struct ntfs_device *dev, struct stat *st)
{
	struct bm_volume *v = priv_of(dev)->vol;

	memset(st, 0, sizeof *st);
	st->st_mode = S_IFREG | 0444;
	st->st_size = (off_t)v->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)(v->size / 512);
	return 0;
}

/* libntfs-3g asks block devices for their size and sector size; answer
 * those, nothing else. */
static int nd_ioctl(struct ntfs_device *dev, unsigned long request,
		    void *argp)
{
	struct bm_volume *v = priv_of(dev)->vol;

	switch (request) {
	case BLKGETSIZE64:
		memcpy(argp, &(uint64_t){ v->size }, sizeof(uint64_t));
		return 0;
	case BLKGETSIZE:
		memcpy(argp, &(unsigned long){ (unsigned long)(v->size / 512) },
		       sizeof(unsigned long));
		return 0;
	case BLKSSZGET:
		memcpy(argp, &(int){ (int)(v->sector_size ? v->sector_size : 512) },
		       sizeof(int));
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

/* libntfs-3g takes a non-const pointer but never writes the table. */
static const struct ntfs_device_operations bm_ntfs_dev_ops = {
	.open = nd_open,
	.close = nd_close,
	.seek = nd_seek,
	.read = nd_read,
	.write = nd_write,
	.pread = nd_pread,
	.pwrite = nd_pwrite,
	.sync = nd_sync,
	.stat = nd_stat,
	.ioctl = nd_ioctl,
};

struct ntfs_device *bm_ntfs_device_new(struct bm_volume *v)
{
	struct ntfs_dev_priv *p = bm_calloc(1, sizeof *p);

	p->vol = v;
	struct ntfs_device *dev =
		ntfs_device_alloc(v->dev, 0,
				  (struct ntfs_device_operations *)&bm_ntfs_dev_ops,
				  p);
	if (!dev) {
		int e = errno;
		free(p);
		errno = e;
		return NULL;
	}
	return dev;
}

void bm_ntfs_device_free(struct ntfs_device *dev)
{
	void *p = dev->d_private;

	if (NDevOpen(dev))
		NDevClearOpen(dev);
	ntfs_device_free(dev);
	free(p);
}

void bm_ntfs_device_redirect(struct ntfs_device *dev, uint64_t from,
			     uint64_t to, uint64_t len)
{
	struct ntfs_dev_priv *p = priv_of(dev);
	uint64_t size = p->vol->size;

	if (!bm_in_range(from, len, size) || !bm_in_range(to, len, size))
		return;
	p->from = from;
	p->to = to;
	p->len = len;
}
