/* XFS walker: inodes and the directory-tree walk.
 *
 * Inode numbers encode AG, block within the AG and slot within the block
 * (xfs_format.h, XFS_INO_TO_AGNO etc.): ino = agno << (agblklog +
 * inopblog) | agbno << inopblog | slot.  The on-disk inode (struct
 * xfs_dinode) has a 100-byte core (v1/v2) or 176-byte core (v3, with a
 * CRC at offset 100 and its own number at 152), then the data fork and,
 * from di_forkoff * 8 bytes into the literal area, the attribute fork.
 *
 * Files are found by walking the directory tree breadth first from the
 * root inode; every inode is visited once (a second name of a hard link,
 * or a directory cycle in a damaged image, is not followed again).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "xfs.h"

#define XFS_S_IFMT 0170000
#define XFS_S_IFDIR 0040000
#define XFS_S_IFREG 0100000
#define XFS_S_IFLNK 0120000

bool bm_xfs_ino_to_off(const struct bm_xfs *fs, uint64_t ino, uint64_t *off)
{
	unsigned agshift = fs->agblklog + fs->inopblog;
	uint64_t agno = ino >> agshift;
	uint64_t agino = ino & ((UINT64_C(1) << agshift) - 1);

	if (agno >= fs->agcount ||
	    !bm_xfs_agb_to_off(fs, (uint32_t)agno, agino >> fs->inopblog, 1,
			       off))
		return false;
	*off += (agino & (fs->inopblock - 1u)) << fs->inodelog;
	return true;
}

void bm_xfs_inode_free(struct bm_xfs_inode *ip)
{
	free(ip->raw);
	ip->raw = NULL;
}

/* Read and decode inode INO; on failure warn and return -1. */
int bm_xfs_inode_read(struct bm_xfs *fs, uint64_t ino,
		      struct bm_xfs_inode *ip)
{
	const uint8_t *r;
	unsigned core, lit, forkoff;

	memset(ip, 0, sizeof(*ip));
	ip->ino = ino;
	if (!bm_xfs_ino_to_off(fs, ino, &ip->off)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: inode %llu out of range, not mapped",
			(unsigned long long)ino);
		return -1;
	}
	ip->raw = bm_malloc(fs->inodesize);
	r = ip->raw;
	if (bm_xfs_read(fs, ip->raw, fs->inodesize, ip->off) < 0) {
		bm_warn(fs->ctx, fs->dev, ip->off,
			"xfs: cannot read inode %llu, not mapped",
			(unsigned long long)ino);
		goto bad;
	}
	ip->version = r[4];
	if (bm_be16(r) != XFS_DINODE_MAGIC || ip->version < 1 ||
	    ip->version > 3 || (fs->crc != (ip->version == 3))) {
		bm_warn(fs->ctx, fs->dev, ip->off,
			"xfs: inode %llu: bad magic/version, not mapped",
			(unsigned long long)ino);
		goto bad;
	}
	if (ip->version == 3) {
		if (!bm_xfs_crc_ok(r, fs->inodesize, 100))
			bm_xfs_crc_warn(fs, ip->off, "inode");
		if (bm_be64(r + 152) != ino) {
			bm_warn(fs->ctx, fs->dev, ip->off,
				"xfs: inode %llu: records number %llu, not "
				"mapped",
				(unsigned long long)ino,
				(unsigned long long)bm_be64(r + 152));
			goto bad;
		}
		ip->flags2 = bm_be64(r + 120);
	}
	ip->mode = bm_be16(r + 2);
	ip->format = r[5];
	ip->aformat = r[83];
	ip->flags = bm_be16(r + 90);
	ip->size = bm_be64(r + 56);
	if (fs->nrext64 && (ip->flags2 & XFS_DIFLAG2_NREXT64)) {
		ip->nextents = bm_be64(r + 24);
		ip->anextents = bm_be32(r + 76);
	} else {
		ip->nextents = bm_be32(r + 76);
		ip->anextents = bm_be16(r + 80);
	}
	core = ip->version == 3 ? 176 : 100;
	lit = fs->inodesize - core; /* super.c: inodesize >= 256 */
	forkoff = r[82] * 8u;
	if (forkoff >= lit) {
		bm_warn(fs->ctx, fs->dev, ip->off,
			"xfs: inode %llu: bad fork offset, not mapped",
			(unsigned long long)ino);
		goto bad;
	}
	ip->dfork_off = core;
	ip->dfork_size = forkoff ? forkoff : lit;
	ip->afork_off = core + forkoff;
	ip->afork_size = forkoff ? lit - forkoff : 0;
	return 0;
bad:
	bm_xfs_inode_free(ip);
	return -1;
}

/* Map the data of a metadata inode (rt bitmap/summary, quota). */
int bm_xfs_map_meta_inode(struct bm_xfs *fs, uint64_t ino, bm_obj obj,
			  const char *what)
{
	struct bm_xfs_inode ip;

	if (ino == 0 || ino == XFS_NULLFSINO)
		return 0;
	if (bm_xfs_inode_read(fs, ino, &ip) < 0) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: %s inode unreadable, not mapped", what);
		return -1;
	}
	if (ip.format == XFS_DINODE_FMT_EXTENTS ||
	    ip.format == XFS_DINODE_FMT_BTREE)
		bm_xfs_map_fork(fs, &ip, XFS_DATA_FORK, obj);
	bm_xfs_inode_free(&ip);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Directory-tree walk                                                 */

struct dirq {
	uint64_t ino, parent;
	char *path;
};

struct tree_walk {
	struct dirq *q;
	size_t n, cap;
	const char *dirpath;
	uint64_t dirino, parent; /* the directory walked, and its parent */
	bool too_deep; /* the directory's entries are not walked */
};

/* Map a non-directory file's data and attributes. */
static void map_file(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		     const char *path)
{
	unsigned type = ip->mode & XFS_S_IFMT;
	bm_obj obj = bm_object(fs->ctx, 'f', fs->dev, path);

	if (type == XFS_S_IFREG || type == XFS_S_IFLNK) {
		if (ip->format == XFS_DINODE_FMT_LOCAL) {
			/* Inline data (short symlinks): the inode's bytes. */
			uint64_t len = ip->size < ip->dfork_size ?
					       ip->size :
					       ip->dfork_size;

			if (len)
				bm_emit_flags(fs->vol, ip->off + ip->dfork_off,
					      len, obj, BM_RANGE_INLINE);
		} else {
			bm_xfs_map_fork(fs, ip, XFS_DATA_FORK, obj);
		}
	}
	/* Device nodes, fifos and sockets have no data blocks. */
	bm_xfs_map_attr(fs, ip, obj);
	/* Each (inode, path) pair is mapped once: done with OBJ. */
	bm_object_release(fs->ctx, obj);
}

static int on_entry(struct bm_xfs *fs, const char *name, size_t namelen,
		    uint64_t ino, void *opaque)
{
	struct tree_walk *w = opaque;
	struct bm_xfs_inode ip;
	char *path;

	if (w->too_deep || bm_ctx_full(fs->ctx)) /* the map holds all it may */
		return 0;
	/* "." and ".." (stored in block and larger directories) name the
	 * directory and its parent; one naming another inode is damage,
	 * and that inode's data is not mapped through it */
	bool dot = namelen == 1 && name[0] == '.';
	bool dotdot = namelen == 2 && name[0] == '.' && name[1] == '.';
	if (dot || dotdot) {
		if (ino != (dot ? w->dirino : w->parent))
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"xfs: %s: entry \"%s\" names inode %llu, not "
				"the directory%s: not followed", w->dirpath,
				dot ? "." : "..", (unsigned long long)ino,
				dot ? "" : "'s parent");
		return 0;
	}
	/* '/' or NUL in a name: "etc/passwd" in / would print as the real
	 * /etc/passwd */
	if (!bm_name_usable(name, namelen)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: %s: entry (inode %llu) with '/' or NUL in its "
			"name: not mapped", w->dirpath,
			(unsigned long long)ino);
		return 0;
	}
	path = bm_path_join(w->dirpath, name, namelen);
	if (bm_xfs_inode_read(fs, ino, &ip) < 0) {
		free(path);
		return 0;
	}
	ip.path = path;
	if ((ip.mode & XFS_S_IFMT) == XFS_S_IFDIR) {
		/* Directories have one name: a second one is a cycle (or
		 * damage), not walked again.  Files are mapped under every
		 * name (hard links), each an object of its own. */
		if (!bm_u64set_add(&fs->inodes, ino)) {
			free(path);
			bm_xfs_inode_free(&ip);
			return 0;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 64;
			w->q = bm_reallocarray(w->q, w->cap, sizeof(*w->q));
		}
		w->q[w->n].ino = ino;
		w->q[w->n].parent = w->dirino;
		w->q[w->n].path = path;
		w->n++;
	} else {
		map_file(fs, &ip, path);
		free(path);
	}
	bm_xfs_inode_free(&ip);
	return 0;
}

/* Walk the tree from the root directory, mapping every file and
 * directory reached. */
int bm_xfs_walk_tree(struct bm_xfs *fs)
{
	struct tree_walk w = { NULL, 0, 0, NULL };
	size_t head;

	if (fs->rootino == 0 || fs->rootino == XFS_NULLFSINO) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: no root directory, files not mapped");
		return -1;
	}
	bm_u64set_add(&fs->inodes, fs->rootino);
	w.q = bm_malloc(sizeof(*w.q));
	w.cap = 1;
	w.q[0].ino = fs->rootino;
	w.q[0].parent = fs->rootino; /* the root is its own parent */
	w.q[0].path = bm_strdup("/");
	w.n = 1;
	/* Terminates: each directory is queued once (fs->inodes). */
	for (head = 0; head < w.n; head++) {
		struct bm_xfs_inode ip;
		bm_obj obj;

		w.dirpath = w.q[head].path;
		w.dirino = w.q[head].ino;
		w.parent = w.q[head].parent;
		if (bm_xfs_inode_read(fs, w.q[head].ino, &ip) == 0) {
			ip.path = w.dirpath;
			if ((ip.mode & XFS_S_IFMT) != XFS_S_IFDIR) {
				bm_warn(fs->ctx, fs->dev, ip.off,
					"xfs: root inode %llu is not a "
					"directory",
					(unsigned long long)ip.ino);
			} else {
				obj = bm_object(fs->ctx, 'd', fs->dev,
						w.dirpath);
				w.too_deep = bm_dir_too_deep(fs->ctx, fs->dev,
							     ip.off, w.dirpath);
				bm_xfs_dir_walk(fs, &ip, obj, on_entry, &w);
				bm_xfs_map_attr(fs, &ip, obj);
				bm_object_release(fs->ctx, obj);
			}
			bm_xfs_inode_free(&ip);
		}
		free(w.q[head].path);
		w.q[head].path = NULL;
	}
	free(w.q);
	return 0;
}
