/* XFS walker: attribute (xattr) forks (xfs_da_format.h).
 *
 * A small attribute set is "shortform" inside the inode (struct
 * xfs_attr_sf_hdr: 2-byte total size, count, then entries).  Larger sets
 * live in blocks of the attribute fork's own logical address space: a
 * single leaf block, or a dabtree of node and leaf blocks, plus "remote"
 * value blocks for values too big for a leaf (with CRCs each carries an
 * XARM header).  All of these are blocks of the attribute fork, so
 * mapping every extent of the fork (and its bmbt blocks, when the fork
 * is in btree format) maps all of them to the owning file; their
 * contents need not be parsed to know whose they are.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "xfs.h"

int bm_xfs_map_attr(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		    bm_obj owner)
{
	if (ip->afork_size == 0)
		return 0;
	switch (ip->aformat) {
	case XFS_DINODE_FMT_LOCAL: {
		uint64_t len = bm_be16(ip->raw + ip->afork_off);

		if (len < 4 || len > ip->afork_size) {
			bm_warn(fs->ctx, fs->dev, ip->off,
				"xfs: inode %llu: bad shortform attributes",
				(unsigned long long)ip->ino);
			len = ip->afork_size;
		}
		return bm_emit_flags(fs->vol, ip->off + ip->afork_off, len,
				     owner, BM_RANGE_INLINE);
	}
	case XFS_DINODE_FMT_EXTENTS:
	case XFS_DINODE_FMT_BTREE:
		return bm_xfs_map_fork(fs, ip, XFS_ATTR_FORK, owner);
	default:
		bm_warn(fs->ctx, fs->dev, ip->off,
			"xfs: inode %llu: unknown attribute fork format %u, "
			"not mapped",
			(unsigned long long)ip->ino, ip->aformat);
		return 0;
	}
}
