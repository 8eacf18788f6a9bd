/* XFS walker: fork extent lists and bmap btrees.
 *
 * A data or attribute fork in "extents" format holds packed 128-bit
 * records in the inode (xfs_format.h, struct xfs_bmbt_rec): bit 127 the
 * unwritten flag, 54 bits of file offset, 52 bits of start fs block and
 * 21 bits of length, all in fs blocks.  In "btree" format the inode holds
 * a root (struct xfs_bmdr_block: level, numrecs, then maxrecs 64-bit keys
 * and maxrecs 64-bit fs-block pointers, maxrecs being what fits the fork)
 * and the tree's blocks are "long" btree blocks: a 24-byte header (72
 * with CRCs: blkno, lsn, uuid, owner inode, crc at 64) then records in
 * leaves, or keys then pointers in nodes.  A fork's btree blocks belong to
 * the file, so they are mapped to it (flagged BM_RANGE_METADATA).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "xfs.h"

struct fork_walk {
	const struct bm_xfs_inode *ip;
	bm_obj owner;
	bm_xfs_ext_cb cb;
	void *opaque;
	const char *what;
	struct bm_u64set seen; /* this walk's btree blocks */
};

static void decode_rec(const uint8_t *r, struct bm_xfs_ext *e)
{
	uint64_t l0 = bm_be64(r), l1 = bm_be64(r + 8);

	e->unwritten = l0 >> 63;
	e->off = (l0 & (UINT64_MAX >> 1)) >> 9;
	e->fsb = (l0 & 0x1ff) << 43 | l1 >> 21;
	e->len = l1 & 0x1fffff;
}

static int emit_recs(struct bm_xfs *fs, struct fork_walk *w,
		     const uint8_t *recs, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		struct bm_xfs_ext e;

		decode_rec(recs + 16 * i, &e);
		if (e.len == 0)
			continue;
		if (w->cb(fs, &e, w->opaque) < 0)
			return -1;
	}
	return 0;
}

/* Walk the bmbt subtree at FSB, expected at LEVEL.  Recursion is bounded
 * by LEVEL (strictly decreasing, < XFS_MAX_BTREE_LEVELS); w->seen stops
 * cycles and blocks referenced twice in the tree.  (The set is the
 * walk's own: a file with several names is walked once per name.) */
static int walk_lbtree(struct bm_xfs *fs, struct fork_walk *w, uint64_t fsb,
		       unsigned level)
{
	unsigned hdr = fs->crc ? 72 : 24;
	unsigned nrecs, maxrecs, i;
	uint64_t off;
	uint8_t *b;
	int ret = 0;

	if (!bm_xfs_fsb_to_off(fs, fsb, 1, &off)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: inode %llu: %s btree block %llu out of range",
			(unsigned long long)w->ip->ino, w->what,
			(unsigned long long)fsb);
		return 0;
	}
	if (!bm_u64set_add(&w->seen, off >> fs->blocklog)) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: inode %llu: %s btree block referenced twice",
			(unsigned long long)w->ip->ino, w->what);
		return 0;
	}
	b = bm_malloc(fs->blocksize);
	if (bm_xfs_read(fs, b, fs->blocksize, off) < 0) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: inode %llu: cannot read %s btree block",
			(unsigned long long)w->ip->ino, w->what);
		goto out;
	}
	if (bm_be32(b) != (fs->crc ? XFS_BMAP_CRC_MAGIC : XFS_BMAP_MAGIC) ||
	    bm_be16(b + 4) != level ||
	    (fs->crc && bm_be64(b + 56) != w->ip->ino)) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: inode %llu: bad %s btree block, not mapped",
			(unsigned long long)w->ip->ino, w->what);
		goto out;
	}
	if (fs->crc && !bm_xfs_crc_ok(b, fs->blocksize, 64))
		bm_xfs_crc_warn(fs, off, "bmap btree block");
	bm_emit_flags(fs->vol, off, fs->blocksize, w->owner,
		      BM_RANGE_METADATA);
	nrecs = bm_be16(b + 6);
	maxrecs = (fs->blocksize - hdr) / 16;
	if (nrecs > maxrecs) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: bmap btree block has %u records (max %u)", nrecs,
			maxrecs);
		nrecs = maxrecs;
	}
	if (level == 0) {
		ret = emit_recs(fs, w, b + hdr, nrecs);
	} else {
		const uint8_t *ptrs = b + hdr + 8 * maxrecs;

		for (i = 0; i < nrecs && ret == 0; i++)
			ret = walk_lbtree(fs, w, bm_be64(ptrs + 8 * i),
					  level - 1);
	}
out:
	free(b);
	return ret;
}

/* Call CB for every extent of fork WHICHFORK of IP, in file order.  The
 * fork's btree blocks are mapped to OWNER.  Returns -1 if CB did. */
int bm_xfs_fork_extents(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
			int whichfork, bm_obj owner, bm_xfs_ext_cb cb,
			void *opaque)
{
	struct fork_walk w = { ip, owner, cb, opaque,
			       whichfork == XFS_DATA_FORK ? "data" : "attr",
			       { 0 } };
	bool data = whichfork == XFS_DATA_FORK;
	unsigned format = data ? ip->format : ip->aformat;
	const uint8_t *fork = ip->raw + (data ? ip->dfork_off : ip->afork_off);
	uint32_t size = data ? ip->dfork_size : ip->afork_size;
	uint64_t n = data ? ip->nextents : ip->anextents;

	if (format == XFS_DINODE_FMT_EXTENTS) {
		if (n > size / 16) {
			bm_warn(fs->ctx, fs->dev, ip->off,
				"xfs: inode %llu: %llu %s extents do not fit "
				"the fork",
				(unsigned long long)ip->ino,
				(unsigned long long)n, w.what);
			n = size / 16;
		}
		return emit_recs(fs, &w, fork, n);
	}
	if (format == XFS_DINODE_FMT_BTREE) {
		unsigned level, nrecs, maxrecs, i;
		int ret = 0;

		if (size < 4 + 16)
			goto bad;
		level = bm_be16(fork);
		nrecs = bm_be16(fork + 2);
		maxrecs = (size - 4) / 16;
		if (level == 0 || level >= XFS_MAX_BTREE_LEVELS ||
		    nrecs > maxrecs)
			goto bad;
		for (i = 0; i < nrecs && ret == 0; i++)
			ret = walk_lbtree(fs, &w,
					  bm_be64(fork + 4 + 8 * maxrecs +
						  8 * i),
					  level - 1);
		bm_u64set_free(&w.seen);
		return ret;
	}
bad:
	bm_warn(fs->ctx, fs->dev, ip->off,
		"xfs: inode %llu (%s): bad %s fork (format %u), not mapped",
		(unsigned long long)ip->ino, ip->path ? ip->path : "?", w.what,
		format);
	return 0;
}

struct map_ctx {
	const struct bm_xfs_inode *ip;
	bm_obj owner;
	bool rt;
	uint64_t rt_blocks;
};

static int map_ext(struct bm_xfs *fs, const struct bm_xfs_ext *e,
		   void *opaque)
{
	struct map_ctx *m = opaque;

	if (m->rt) {
		/* Realtime extents are on the rt device, which is not part
		 * of this volume. */
		m->rt_blocks += e->len;
		return 0;
	}
	bm_xfs_emit_fsb(fs, e->fsb, e->len, m->owner,
			e->unwritten ? BM_RANGE_UNWRITTEN : 0, "file extent");
	return 0;
}

/* Map every block of a fork (data and its btree blocks) to OWNER. */
int bm_xfs_map_fork(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		    int whichfork, bm_obj owner)
{
	struct map_ctx m = { ip, owner, false, 0 };
	int ret;

	m.rt = whichfork == XFS_DATA_FORK && (ip->flags & XFS_DIFLAG_REALTIME);
	ret = bm_xfs_fork_extents(fs, ip, whichfork, owner, map_ext, &m);
	if (m.rt_blocks)
		bm_warn(fs->ctx, fs->dev, ip->off,
			"xfs: inode %llu (%s): %llu realtime blocks are on the "
			"realtime device, not mapped",
			(unsigned long long)ip->ino,
			ip->path ? ip->path : "?",
			(unsigned long long)m.rt_blocks);
	return ret;
}
