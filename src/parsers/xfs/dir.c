/* XFS walker: directories (xfs_da_format.h).
 *
 * A small directory is "shortform", inside the inode's data fork: a
 * header (entry count, count of 8-byte inode numbers, parent inode) and
 * packed entries (namelen, 2-byte offset, name, file type byte if the
 * ftype feature is on, 4- or 8-byte inode number).
 *
 * Larger directories keep their entries in "data" blocks of
 * blocksize << sb_dirblklog bytes in the first 32 GiB of the directory's
 * logical address space; hash-index "leaf" blocks start at 32 GiB and
 * "free" index blocks at 64 GiB.  The block, leaf, node and btree forms
 * differ only in those index blocks and in the fork format (extents or
 * bmbt), so the walker maps every block of the fork to the directory and
 * reads the entries from the data blocks alone.  A data block has a
 * 16-byte header (64 with CRCs: crc at 4, owner at 40), then entries
 * (8-byte inode number, namelen, name, ftype, padding, 2-byte tag; 8-byte
 * aligned) and unused regions (0xffff, length, ..., tag).  The
 * single-block form (XD2B/XDB3) ends with its leaf entries and a tail.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "xfs.h"

#define DIR2_LEAF_OFFSET (UINT64_C(1) << 35) /* bytes */
#define MAX_DIR_EXTENTS (1u << 22)

static int shortform(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		     bm_obj owner, bm_xfs_dirent_cb cb, void *opaque)
{
	const uint8_t *p = ip->raw + ip->dfork_off;
	uint64_t size = ip->size < ip->dfork_size ? ip->size : ip->dfork_size;
	unsigned count, inosz, i;
	uint64_t pos;

	if (size)
		bm_emit_flags(fs->vol, ip->off + ip->dfork_off, size, owner,
			      BM_RANGE_INLINE);
	if (size < 6)
		goto bad;
	count = p[0];
	inosz = p[1] ? 8 : 4;
	pos = 2 + inosz;
	/* Terminates: at most 255 entries, each inside SIZE. */
	for (i = 0; i < count; i++) {
		unsigned namelen;
		uint64_t ino;

		if (pos + 3 > size)
			goto bad;
		namelen = p[pos];
		if (namelen == 0 ||
		    pos + 3 + namelen + fs->ftype + inosz > size)
			goto bad;
		ino = inosz == 8 ? bm_be64(p + pos + 3 + namelen + fs->ftype) :
				   bm_be32(p + pos + 3 + namelen + fs->ftype);
		if (cb(fs, (const char *)p + pos + 3, namelen, ino, opaque) < 0)
			return -1;
		pos += 3 + namelen + fs->ftype + inosz;
	}
	return 0;
bad:
	bm_warn(fs->ctx, fs->dev, ip->off,
		"xfs: directory inode %llu: bad shortform data, entries lost",
		(unsigned long long)ip->ino);
	return 0;
}

struct extlist {
	struct bm_xfs_ext *e;
	size_t n, cap;
	bm_obj owner;
	uint64_t leafblk; /* first fs block of the leaf section */
	bool full;
};

static int collect(struct bm_xfs *fs, const struct bm_xfs_ext *e,
		   void *opaque)
{
	struct extlist *l = opaque;

	bm_xfs_emit_fsb(fs, e->fsb, e->len, l->owner, 0, "directory block");
	if (e->off >= l->leafblk)
		return 0;
	if (l->n == MAX_DIR_EXTENTS) {
		l->full = true;
		return 0;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->e = bm_reallocarray(l->e, l->cap, sizeof(*l->e));
	}
	l->e[l->n++] = *e;
	return 0;
}

static int cmp_ext(const void *a, const void *b)
{
	const struct bm_xfs_ext *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* The extent holding file block FO, or NULL (a hole). */
static const struct bm_xfs_ext *lookup(const struct extlist *l, uint64_t fo)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bm_xfs_ext *e = &l->e[mid];

		if (fo < e->off)
			hi = mid;
		else if (fo - e->off >= e->len)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

/* Read directory block DBLK (file block number) into BUF. */
static int read_dirblock(struct bm_xfs *fs, const struct extlist *l,
			 uint64_t dblk, uint8_t *buf, uint64_t *first)
{
	uint64_t k = 0, nblk = UINT64_C(1) << fs->dirblklog;

	/* Terminates: each pass reads at least one block. */
	while (k < nblk) {
		const struct bm_xfs_ext *e = lookup(l, dblk + k);
		uint64_t run, off;

		if (!e)
			return -1;
		run = e->len - (dblk + k - e->off);
		if (run > nblk - k)
			run = nblk - k;
		if (!bm_xfs_fsb_to_off(fs, e->fsb + (dblk + k - e->off), run,
				       &off) ||
		    bm_xfs_read(fs, buf + (k << fs->blocklog),
				(size_t)(run << fs->blocklog), off) < 0)
			return -1;
		if (k == 0)
			*first = off;
		k += run;
	}
	return 0;
}

/* Report the entries of data block B (directory block DBLK, starting at
 * volume offset OFF).  Returns 0, 1 if the block is damaged (after a
 * warning), -1 if CB stopped. */
static int data_block(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		      const uint8_t *b, uint64_t dblk, uint64_t off,
		      bm_xfs_dirent_cb cb, void *opaque)
{
	uint32_t dbs = fs->dirblksize, magic = bm_be32(b);
	unsigned hdr = fs->crc ? 64 : 16;
	uint64_t pos, end = dbs;
	bool block;

	if (fs->crc)
		block = magic == XFS_DIR3_BLOCK_MAGIC;
	else
		block = magic == XFS_DIR2_BLOCK_MAGIC;
	if (!block && magic != (fs->crc ? XFS_DIR3_DATA_MAGIC :
					  XFS_DIR2_DATA_MAGIC)) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: directory inode %llu: block %llu is not a data "
			"block, entries lost",
			(unsigned long long)ip->ino, (unsigned long long)dblk);
		return 1;
	}
	if (fs->crc) {
		if (!bm_xfs_crc_ok(b, dbs, 4))
			bm_xfs_crc_warn(fs, off, "directory block");
		if (bm_be64(b + 40) != ip->ino) {
			bm_warn(fs->ctx, fs->dev, off,
				"xfs: directory inode %llu: block %llu has "
				"another owner, entries lost",
				(unsigned long long)ip->ino,
				(unsigned long long)dblk);
			return 1;
		}
	}
	if (block) {
		uint64_t count = bm_be32(b + dbs - 8);

		if (count * 8 > dbs - 8 - hdr)
			goto bad;
		end = dbs - 8 - count * 8;
	}
	/* Terminates: every step advances POS by at least 8. */
	for (pos = hdr; pos < end;) {
		unsigned namelen, entlen;

		if (pos + 4 > end)
			goto bad;
		if (bm_be16(b + pos) == 0xffff) {
			unsigned len = bm_be16(b + pos + 2);

			if (len < 8 || len % 8 || pos + len > end)
				goto bad;
			pos += len;
			continue;
		}
		if (pos + 11 > end)
			goto bad;
		namelen = b[pos + 8];
		entlen = (8 + 1 + namelen + fs->ftype + 2 + 7) & ~7u;
		if (namelen == 0 || pos + entlen > end)
			goto bad;
		if (cb(fs, (const char *)b + pos + 9, namelen,
		       bm_be64(b + pos), opaque) < 0)
			return -1;
		pos += entlen;
	}
	return 0;
bad:
	bm_warn(fs->ctx, fs->dev, off,
		"xfs: directory inode %llu: block %llu is corrupt, some "
		"entries lost",
		(unsigned long long)ip->ino, (unsigned long long)dblk);
	return 1;
}

/* Map directory IP's blocks (or inline bytes) to OWNER and call CB for
 * every entry (including "." and ".." where stored). */
int bm_xfs_dir_walk(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		    bm_obj owner, bm_xfs_dirent_cb cb, void *opaque)
{
	struct extlist l = { NULL, 0, 0, owner, 0, false };
	uint64_t fsbpdb = UINT64_C(1) << fs->dirblklog;
	uint64_t next = 0; /* first dir block not yet read */
	uint64_t limit;    /* end of the data section (di_size) */
	unsigned bad = 0;
	uint8_t *buf;
	size_t i;
	int ret = 0;

	if (ip->format == XFS_DINODE_FMT_LOCAL)
		return shortform(fs, ip, owner, cb, opaque);
	l.leafblk = DIR2_LEAF_OFFSET >> fs->blocklog;
	bm_xfs_fork_extents(fs, ip, XFS_DATA_FORK, owner, collect, &l);
	if (l.full)
		bm_warn(fs->ctx, fs->dev, ip->off,
			"xfs: directory inode %llu has too many extents, "
			"some entries lost",
			(unsigned long long)ip->ino);
	if (l.n > 1)
		bm_qsort(l.e, l.n, sizeof(*l.e), cmp_ext);
	/* A block-form directory's di_size is the end of its data blocks
	 * (xfs_dir2_grow_inode); blocks past it hold no entries. */
	limit = (ip->size + fs->blocksize - 1) >> fs->blocklog;
	if (limit > l.leafblk)
		limit = l.leafblk;
	buf = bm_malloc(fs->dirblksize);
	/* Terminates: NEXT only grows, and stays below the leaf section
	 * (extents there were not collected). */
	for (i = 0; i < l.n && ret >= 0; i++) {
		const struct bm_xfs_ext *e = &l.e[i];
		uint64_t d = e->off & ~(fsbpdb - 1), end = e->off + e->len;

		if (d < next)
			d = next;
		if (end > limit)
			end = limit;
		for (; d < end && ret >= 0; d += fsbpdb) {
			uint64_t off = 0;

			if (read_dirblock(fs, &l, d, buf, &off) < 0) {
				bm_warn(fs->ctx, fs->dev, ip->off,
					"xfs: directory inode %llu: cannot "
					"read block %llu, entries lost",
					(unsigned long long)ip->ino,
					(unsigned long long)d);
				ret = 1;
			} else {
				ret = data_block(fs, ip, buf, d, off, cb,
						 opaque);
			}
			/* A directory of garbage must not flood the
			 * output with warnings (or take long). */
			if (ret > 0 && ++bad == 16) {
				bm_warn(fs->ctx, fs->dev, ip->off,
					"xfs: directory inode %llu (%s): too "
					"many bad blocks, the rest is not read",
					(unsigned long long)ip->ino,
					ip->path ? ip->path : "?");
				ret = -1;
			}
		}
		if (d > next)
			next = d;
	}
	free(buf);
	free(l.e);
	return ret < 0 ? -1 : 0;
}
