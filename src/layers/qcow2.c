/* qcow2 images (QEMU), read natively: versions 2 and 3, L1/L2 tables,
 * extended L2 entries (subclusters), zero clusters, compressed clusters
 * (deflate via zlib, zstd via libzstd), backing chains (relative names
 * are relative to the image's directory; raw or qcow2 backing files).
 * Written from QEMU's specification, docs/interop/qcow2.txt.
 *
 * The qcow2 disk is the guest's disk: map() reports guest offsets, so a
 * map of a qcow2 image equals the map of the same disk as a raw image.
 * Not supported (refused at open with a message): encryption, external
 * data files, unknown incompatible features, protocol backing files,
 * backing files that are neither regular files nor block devices, and
 * block devices named by an image that is not itself a block device.
 *
 * Every on-disk offset is checked before use; a corrupt table makes the
 * read fail with EIO (the caller warns, naming what it was reading).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "qcow2.h"

#define QCOW2_MAGIC 0x514649fbu
#define MAX_CHAIN 16                       /* backing files */
#define MAX_L1_BYTES (32u * 1024 * 1024)   /* QEMU's limit too */
#define L2_CACHE 8
#define OFFSET_MASK 0x00fffffffffffe00ull  /* bits 9-55 */
#define L2E_COMPRESSED (1ull << 62)
#define L2E_ZERO 1ull

enum {
	INCOMPAT_DIRTY = 1u << 0,
	INCOMPAT_CORRUPT = 1u << 1,
	INCOMPAT_DATA_FILE = 1u << 2,
	INCOMPAT_COMPRESSION = 1u << 3,
	INCOMPAT_EXTL2 = 1u << 4,
};

/* One layer of the chain: a qcow2 image or a raw backing file. */
struct layer {
	int fd;
	bool qcow2;
	uint64_t size;      /* guest size (raw: file size) */
	uint64_t file_size;
	uint64_t stored;    /* bytes the file takes (bm_stored_bytes) */
	/* qcow2 only */
	unsigned cluster_bits;
	uint64_t cluster_size;
	bool extl2;
	int compression;     /* 0 deflate, 1 zstd */
	uint64_t *l1;
	uint64_t l1_size;
	uint64_t l2_entries; /* per table */
	struct {
		uint64_t off; /* 0: empty */
		uint8_t *buf;
	} l2c[L2_CACHE];
	unsigned l2c_next;
	uint64_t zdesc;  /* L2 entry of the cached decompressed cluster */
	bool zvalid;     /* zdesc/zbuf hold one */
	uint8_t *zbuf, *cbuf;
	ZSTD_DCtx *zstd; /* kept: creating one per cluster is costly */
	struct layer *backing;
};

struct qcow2 {
	struct layer *top;
	unsigned disk;
};

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			/* Past the end of the file: zeroes, as QEMU reads
			 * a short image file. */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void layer_free(struct layer *l)
{
	/* The chain is at most MAX_CHAIN long. */
	while (l) {
		struct layer *b = l->backing;
		close(l->fd);
		free(l->l1);
		for (unsigned i = 0; i < L2_CACHE; i++)
			free(l->l2c[i].buf);
		free(l->zbuf);
		free(l->cbuf);
		ZSTD_freeDCtx(l->zstd);
		free(l);
		l = b;
	}
}

static int layer_read(struct layer *l, uint8_t *buf, size_t len,
		      uint64_t off);

/* The L2 table at file offset OFF (cached). */
static const uint8_t *l2_table(struct layer *l, uint64_t off)
{
	for (unsigned i = 0; i < L2_CACHE; i++)
		if (l->l2c[i].off == off)
			return l->l2c[i].buf;
	unsigned i = l->l2c_next++ % L2_CACHE;
	if (!l->l2c[i].buf)
		l->l2c[i].buf = bm_malloc(l->cluster_size);
	l->l2c[i].off = 0;
	if (pread_full(l->fd, l->l2c[i].buf, l->cluster_size, off) < 0)
		return NULL;
	l->l2c[i].off = off;
	return l->l2c[i].buf;
}

static int inflate_cluster(struct layer *l, const uint8_t *in, size_t n)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	/* Raw deflate (no zlib header), as QEMU writes it. */
	if (inflateInit2(&z, -15) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = l->zbuf;
	z.avail_out = (uInt)l->cluster_size;
	int r = inflate(&z, Z_FINISH);
	bool ok = (r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) &&
		  z.avail_out == 0;
	inflateEnd(&z);
	return ok ? 0 : -1;
}

static int unzstd_cluster(struct layer *l, const uint8_t *in, size_t n)
{
	if (!l->zstd && !(l->zstd = ZSTD_createDCtx()))
		return -1;
	ZSTD_DCtx *dc = l->zstd;
	ZSTD_DCtx_reset(dc, ZSTD_reset_session_only);
	ZSTD_inBuffer ib = { in, n, 0 };
	ZSTD_outBuffer ob = { l->zbuf, l->cluster_size, 0 };
	int ok = -1;
	/* The compressed bytes may be followed by others' data: stop once a
	 * cluster is produced.  Each round consumes input or produces
	 * output, or the loop ends. */
	while (ob.pos < ob.size) {
		size_t in0 = ib.pos, out0 = ob.pos;
		size_t r = ZSTD_decompressStream(dc, &ob, &ib);
		if (ZSTD_isError(r))
			break;
		if (ob.pos == ob.size) {
			ok = 0;
			break;
		}
		if (r == 0 || (ib.pos == in0 && ob.pos == out0))
			break; /* frame ended short, or no progress */
	}
	return ok;
}

/* Decompress the cluster described by L2 entry E into l->zbuf. */
static int compressed_cluster(struct layer *l, uint64_t e)
{
	if (l->zvalid && l->zdesc == e)
		return 0;
	unsigned shift = 62 - (l->cluster_bits - 8);
	uint64_t coff = e & ((1ull << shift) - 1);
	uint64_t nsect = ((e >> shift) & ((1ull << (l->cluster_bits - 8)) - 1))
			 + 1;
	uint64_t clen = nsect * 512 - (coff & 511);
	if (coff >= l->file_size)
		goto eio;
	if (clen > l->file_size - coff)
		clen = l->file_size - coff; /* the last one may end early */
	if (!l->zbuf) {
		l->zbuf = bm_malloc(l->cluster_size);
		l->cbuf = bm_malloc(2 * l->cluster_size);
	}
	/* nsect <= cluster_size/512, so clen <= 2 * cluster_size. */
	if (pread_full(l->fd, l->cbuf, clen, coff) < 0)
		return -1;
	l->zvalid = false;
	int r = l->compression ? unzstd_cluster(l, l->cbuf, clen)
			       : inflate_cluster(l, l->cbuf, clen);
	if (r < 0)
		goto eio;
	l->zdesc = e;
	l->zvalid = true;
	return 0;
eio:
	errno = EIO;
	return -1;
}

/* Read [OFF, OFF+N) from the layer below (or zeroes). */
static int below(struct layer *l, uint8_t *buf, size_t n, uint64_t off)
{
	if (!l->backing) {
		memset(buf, 0, n);
		return 0;
	}
	return layer_read(l->backing, buf, n, off);
}

/* Read N bytes at guest OFF, all within one cluster (and one subcluster
 * with extended L2 entries). */
static int qcow2_piece(struct layer *l, uint8_t *buf, size_t n,
		       uint64_t off)
{
	uint64_t cl = off >> l->cluster_bits;
	uint64_t in = off & (l->cluster_size - 1);
	uint64_t l1i = cl / l->l2_entries, l2i = cl % l->l2_entries;
	if (l1i >= l->l1_size)
		return below(l, buf, n, off);
	uint64_t l2off = l->l1[l1i] & OFFSET_MASK;
	if (l2off == 0)
		return below(l, buf, n, off);
	if (l2off & (l->cluster_size - 1) ||
	    !bm_in_range(l2off, l->cluster_size, l->file_size))
		goto eio;
	const uint8_t *t = l2_table(l, l2off);
	if (!t)
		return -1;
	uint64_t e = bm_be64(t + l2i * (l->extl2 ? 16 : 8));
	if (e & L2E_COMPRESSED) {
		if (compressed_cluster(l, e) < 0)
			return -1;
		memcpy(buf, l->zbuf + in, n);
		return 0;
	}
	uint64_t host = e & OFFSET_MASK;
	if (l->extl2) {
		uint64_t bm = bm_be64(t + l2i * 16 + 8);
		unsigned sc = (unsigned)(in / (l->cluster_size / 32));
		bool alloc = bm >> sc & 1, zero = bm >> (32 + sc) & 1;
		if (alloc && zero)
			goto eio;
		if (zero) {
			memset(buf, 0, n);
			return 0;
		}
		if (!alloc)
			return below(l, buf, n, off);
		if (host == 0)
			goto eio;
	} else {
		if (e & L2E_ZERO) {
			memset(buf, 0, n);
			return 0;
		}
		if (host == 0)
			return below(l, buf, n, off);
	}
	if (host & (l->cluster_size - 1) || host > l->file_size)
		goto eio;
	return pread_full(l->fd, buf, n, host + in);
eio:
	errno = EIO;
	return -1;
}

static int layer_read(struct layer *l, uint8_t *buf, size_t len,
		      uint64_t off)
{
	/* Past this layer's size (a shorter backing file): zeroes. */
	if (off >= l->size) {
		memset(buf, 0, len);
		return 0;
	}
	if (len > l->size - off) {
		size_t keep = (size_t)(l->size - off);
		memset(buf + keep, 0, len - keep);
		len = keep;
	}
	if (!l->qcow2)
		return pread_full(l->fd, buf, len, off);
	uint64_t unit = l->extl2 ? l->cluster_size / 32 : l->cluster_size;
	/* Terminates: each piece is at least one byte. */
	while (len) {
		uint64_t room = unit - (off & (unit - 1));
		size_t n = len < room ? len : (size_t)room;
		if (qcow2_piece(l, buf, n, off) < 0)
			return -1;
		buf += n;
		len -= n;
		off += n;
	}
	return 0;
}

static int qcow2_read(struct bm_volume *v, void *buf, size_t len,
		      uint64_t off)
{
	struct qcow2 *q = v->priv;
	return layer_read(q->top, buf, len, off);
}

static int qcow2_map(struct bm_volume *v, uint64_t off, uint64_t len,
		     unsigned flags, bm_range_cb cb, void *opaque)
{
	struct qcow2 *q = v->priv;
	return cb(opaque, q->disk, off, len, flags);
}

static void qcow2_destroy(struct bm_volume *v)
{
	struct qcow2 *q = v->priv;
	layer_free(q->top);
	free(q);
}

const struct bm_volume_ops bm_qcow2_ops = {
	.kind = "disk",
	.read = qcow2_read,
	.map = qcow2_map,
	.destroy = qcow2_destroy,
};

bool bm_qcow2_magic(const void *head, size_t len)
{
	return len >= 4 && bm_be32(head) == QCOW2_MAGIC;
}

struct opener {
	struct bm_ctx *ctx;
	const char *dev;
	struct bm_u64set seen; /* (dev, inode) hashes of the chain */
	bool top_is_device;    /* the image itself is a block device */
};

static struct layer *open_layer(struct opener *o, int fd, const char *path,
				const char *format, unsigned depth);

/* Header extensions: only the backing file format matters here. */
static bool read_extensions(struct opener *o, const char *path,
			    const uint8_t *c, uint64_t cs, uint64_t pos,
			    char *bfmt)
{
	/* Terminates: each round moves POS forward by at least 8. */
	while (pos + 8 <= cs) {
		uint32_t type = bm_be32(c + pos), len = bm_be32(c + pos + 4);
		pos += 8;
		if (type == 0)
			return true;
		if (len > cs - pos) {
			bm_fail(o->ctx, o->dev, pos, "%s: qcow2 header "
				"extension runs past the first cluster", path);
			return false;
		}
		if (type == 0xe2792acau && len > 0 && len < 32) {
			memcpy(bfmt, c + pos, len);
			bfmt[len] = '\0';
		}
		pos += (len + 7) / 8 * 8;
	}
	return true;
}

/* The backing file named by NAME (not NUL-terminated, N bytes) of the
 * image PATH: relative names are relative to PATH's directory. */
static char *backing_path(const char *path, const char *name)
{
	if (strncmp(name, "file:", 5) == 0)
		name += 5;
	if (name[0] == '/')
		return bm_strdup(name);
	const char *slash = strrchr(path, '/');
	if (!slash)
		return bm_strdup(name);
	return bm_asprintf("%.*s/%s", (int)(slash - path), path, name);
}

static struct layer *open_qcow2(struct opener *o, struct layer *l,
				const char *path, unsigned depth)
{
	uint8_t h[112];
	if (pread_full(l->fd, h, sizeof h, 0) < 0)
		goto io;
	uint32_t version = bm_be32(h + 4);
	l->cluster_bits = bm_be32(h + 20);
	if (version != 2 && version != 3) {
		bm_fail(o->ctx, o->dev, 4, "%s: qcow2 version %u is not "
			"supported", path, version);
		return NULL;
	}
	if (l->cluster_bits < 9 || l->cluster_bits > 21) {
		bm_fail(o->ctx, o->dev, 20, "%s: qcow2 cluster_bits %u out "
			"of range (9-21)", path, l->cluster_bits);
		return NULL;
	}
	l->cluster_size = 1ull << l->cluster_bits;
	l->size = bm_be64(h + 24);
	if (bm_be32(h + 32) != 0) {
		bm_fail(o->ctx, o->dev, 32, "%s: encrypted qcow2 images are "
			"not supported", path);
		return NULL;
	}
	uint64_t hdrlen = 72, incompat = 0;
	if (version == 3) {
		incompat = bm_be64(h + 72);
		hdrlen = bm_be32(h + 100);
		if (hdrlen < 104 || hdrlen > l->cluster_size) {
			bm_fail(o->ctx, o->dev, 100, "%s: bad qcow2 header "
				"length %llu", path, (unsigned long long)hdrlen);
			return NULL;
		}
	}
	uint64_t known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT |
			 INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
	if (incompat & ~known) {
		bm_fail(o->ctx, o->dev, 72, "%s: qcow2 incompatible features "
			"0x%llx are not supported%s", path,
			(unsigned long long)(incompat & ~known),
			incompat & INCOMPAT_DATA_FILE ? " (external data file)"
						      : "");
		return NULL;
	}
	if (incompat & INCOMPAT_CORRUPT)
		bm_warn(o->ctx, o->dev, 72, "%s: the qcow2 image is marked "
			"corrupt", path);
	if (incompat & INCOMPAT_COMPRESSION) {
		l->compression = hdrlen > 104 ? h[104] : -1;
		if (l->compression != 0 && l->compression != 1) {
			bm_fail(o->ctx, o->dev, 104, "%s: unknown qcow2 "
				"compression type %d", path, l->compression);
			return NULL;
		}
	}
	l->extl2 = incompat & INCOMPAT_EXTL2;
	if (l->extl2 && l->cluster_bits < 14) {
		bm_fail(o->ctx, o->dev, 20, "%s: extended L2 entries need "
			"clusters of 16 KiB or more", path);
		return NULL;
	}
	l->l2_entries = l->cluster_size / (l->extl2 ? 16 : 8);

	/* L1: it must cover the guest size (else the rest reads as
	 * unallocated, with a warning) and fit QEMU's limit. */
	l->l1_size = bm_be32(h + 36);
	uint64_t l1off = bm_be64(h + 40);
	uint64_t span = l->cluster_size * l->l2_entries;
	uint64_t need = l->size / span + (l->size % span != 0);
	if (l->l1_size * 8 > MAX_L1_BYTES ||
	    (l->l1_size && (l1off & (l->cluster_size - 1) ||
			    !bm_in_range(l1off, l->l1_size * 8,
					 l->file_size)))) {
		bm_fail(o->ctx, o->dev, 36, "%s: bad qcow2 L1 table (%llu "
			"entries at 0x%llx)", path,
			(unsigned long long)l->l1_size,
			(unsigned long long)l1off);
		return NULL;
	}
	if (l->l1_size < need)
		bm_warn(o->ctx, o->dev, 36, "%s: qcow2 L1 table too small for "
			"the disk size (QEMU refuses the image): the rest "
			"reads from the backing file, or as zeroes", path);
	l->l1 = bm_calloc(l->l1_size ? l->l1_size : 1, sizeof *l->l1);
	uint8_t *raw = bm_malloc(l->l1_size * 8 + 1);
	if (pread_full(l->fd, raw, l->l1_size * 8, l1off) < 0) {
		free(raw);
		goto io;
	}
	for (uint64_t i = 0; i < l->l1_size; i++)
		l->l1[i] = bm_be64(raw + 8 * i);
	free(raw);

	/* The first cluster: backing file name and header extensions. */
	uint64_t cs = l->cluster_size < l->file_size ? l->cluster_size
						      : l->file_size;
	uint8_t *c = bm_calloc(1, cs + 1);
	if (pread_full(l->fd, c, cs, 0) < 0) {
		free(c);
		goto io;
	}
	char bfmt[32] = "";
	bool ok = read_extensions(o, path, c, cs, hdrlen, bfmt);
	uint64_t boff = bm_be64(h + 8);
	uint32_t blen = bm_be32(h + 16);
	char *bname = NULL;
	if (ok && boff) {
		if (blen == 0 || blen > 1023 || !bm_in_range(boff, blen, cs)) {
			bm_fail(o->ctx, o->dev, 8, "%s: bad qcow2 backing file "
				"name (%u bytes at 0x%llx)", path, blen,
				(unsigned long long)boff);
			ok = false;
		} else {
			bname = bm_malloc(blen + 1);
			memcpy(bname, c + boff, blen);
			bname[blen] = '\0';
		}
	}
	free(c);
	if (!ok)
		return NULL;
	if (!bname)
		return l;
	if (strlen(bname) != blen || strstr(bname, "://") ||
	    strncmp(bname, "json:", 5) == 0 || strncmp(bname, "nbd:", 4) == 0) {
		bm_fail(o->ctx, o->dev, boff, "%s: backing file '%s' is not a "
			"local file: not supported", path, bname);
		free(bname);
		return NULL;
	}
	char *bpath = backing_path(path, bname);
	free(bname);
	/* The name comes from the image: look before opening.  Opening a
	 * FIFO would block, a character device runs its driver's open (a
	 * watchdog starts ticking).  A block device is taken only when the
	 * image itself is one (qcow2 chains on LVs, as oVirt keeps them):
	 * an image file must not pull in a disk of this host. */
	struct stat bst, fst;
	int bfd = -1;
	const char *why = NULL;
	if (stat(bpath, &bst) < 0)
		why = strerror(errno);
	else if (S_ISBLK(bst.st_mode) && !o->top_is_device)
		why = "a block device, named by an image file: not opened";
	else if (!S_ISREG(bst.st_mode) && !S_ISBLK(bst.st_mode))
		why = "not a regular file or block device: not opened";
	else if ((bfd = open(bpath, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
					    O_NOCTTY)) < 0)
		why = strerror(errno);
	else if (fstat(bfd, &fst) < 0 || fst.st_dev != bst.st_dev ||
		 fst.st_ino != bst.st_ino)
		why = "changed while being opened";
	if (why) {
		bm_fail(o->ctx, o->dev, BM_NO_OFFSET, "%s: backing file %s: %s",
			path, bpath, why);
		if (bfd >= 0)
			close(bfd);
		free(bpath);
		return NULL;
	}
	l->backing = open_layer(o, bfd, bpath, bfmt[0] ? bfmt : NULL,
				depth + 1);
	free(bpath);
	return l->backing ? l : NULL;
io:
	bm_fail(o->ctx, o->dev, BM_NO_OFFSET, "%s: cannot read: %s", path,
		strerror(errno));
	return NULL;
}

/* Open one layer on FD (taken over).  FORMAT "raw", "qcow2" or NULL
 * (probe). */
static struct layer *open_layer(struct opener *o, int fd, const char *path,
				const char *format, unsigned depth)
{
	struct stat st;
	if (depth > MAX_CHAIN) {
		bm_fail(o->ctx, o->dev, BM_NO_OFFSET, "%s: more than %d "
			"backing files", path, MAX_CHAIN);
		close(fd);
		return NULL;
	}
	uint64_t file_size = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		file_size = (uint64_t)st.st_size;
	else if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) &&
		 ioctl(fd, BLKGETSIZE64, &file_size) == 0)
		; /* an LV or device holding the image */
	else {
		bm_fail(o->ctx, o->dev, BM_NO_OFFSET, "%s: not a regular file "
			"or block device", path);
		close(fd);
		return NULL;
	}
	/* A file met twice in the chain is a loop. */
	if (!bm_u64set_add(&o->seen, (uint64_t)st.st_dev * 0x9e3779b97f4a7c15ull
					     ^ (uint64_t)st.st_ino)) {
		bm_fail(o->ctx, o->dev, BM_NO_OFFSET, "%s: backing file loop",
			path);
		close(fd);
		return NULL;
	}
	struct layer *l = bm_calloc(1, sizeof *l);
	l->fd = fd;
	l->file_size = file_size;
	l->stored = bm_stored_bytes(&st, file_size);
	uint8_t head[4] = { 0 };
	if (!format)
		format = pread_full(fd, head, 4, 0) == 0 &&
				 bm_qcow2_magic(head, 4) ? "qcow2" : "raw";
	if (strcmp(format, "raw") == 0) {
		l->size = l->file_size;
		return l;
	}
	if (strcmp(format, "qcow2") != 0) {
		bm_fail(o->ctx, o->dev, BM_NO_OFFSET, "%s: backing format "
			"'%s' is not supported", path, format);
		layer_free(l);
		return NULL;
	}
	if (pread_full(fd, head, 4, 0) < 0 || !bm_qcow2_magic(head, 4)) {
		bm_fail(o->ctx, o->dev, 0, "%s: not a qcow2 image", path);
		layer_free(l);
		return NULL;
	}
	l->qcow2 = true;
	if (!open_qcow2(o, l, path, depth)) {
		layer_free(l);
		return NULL;
	}
	return l;
}

uint64_t bm_qcow2_stored(const void *priv)
{
	const struct qcow2 *q = priv;
	uint64_t n = 0;
	for (const struct layer *l = q->top; l; l = l->backing)
		if (!bm_add(n, l->stored, &n))
			return UINT64_MAX;
	return n;
}

void *bm_qcow2_open(struct bm_ctx *ctx, const char *dev, int fd,
		    const char *path, unsigned disk, uint64_t *size)
{
	struct opener o = { .ctx = ctx, .dev = dev };
	struct stat st;
	o.top_is_device = fstat(fd, &st) == 0 && S_ISBLK(st.st_mode);
	struct layer *top = open_layer(&o, fd, path, "qcow2", 0);
	bm_u64set_free(&o.seen);
	if (!top)
		return NULL;
	struct qcow2 *q = bm_calloc(1, sizeof *q);
	q->top = top;
	q->disk = disk;
	*size = top->size;
	unsigned n = 0;
	for (struct layer *l = top->backing; l; l = l->backing)
		n++;
	bm_debug(ctx, "%s: %s: qcow2, guest size %llu, %u backing file(s)",
		 dev, path, (unsigned long long)top->size, n);
	return q;
}
