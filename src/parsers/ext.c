/* ext2/3/4 through libext2fs (read-only, no journal replay).
 *
 * Metadata (superblock and backups, group descriptors, reserved GDT
 * blocks, bitmaps, inode tables, journal, special inodes, MMP) is emitted
 * as named 'm' objects.  Files and directories are found by walking the
 * directory tree from the root; each gets every block it owns: data
 * blocks (whole blocks, uninitialised extents too), extent-tree index
 * blocks, indirect/double/triple-indirect blocks, its xattr block, and
 * for inline data and fast symlinks the bytes of its inode in the inode
 * table.  Hard links are mapped under every path.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <et/com_err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ext.h"

#define EXT_MAX_WARNINGS 50 /* per filesystem, then one summary */

struct ext_walk {
	struct bm_volume *v;
	ext2_filsys fs;
	uint64_t bs;
	uint64_t nblocks;
	unsigned warnings, suppressed;
	struct bm_u64set dirs_seen;
	/* pending run of blocks for one object (coalescing) */
	bm_obj run_obj;
	uint64_t run_start, run_len;
	unsigned run_flags;
	unsigned or_flags; /* added to every range (an EA inode's blocks) */
};

static void ext_warn(struct ext_walk *w, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ext_warn(struct ext_walk *w, uint64_t off, const char *fmt, ...)
{
	/* A libext2fs error usually comes from a failed read: name it. */
	if (off == BM_NO_OFFSET) {
		off = bm_ext_io_last_error(w->fs->io);
		bm_ext_io_clear_error(w->fs->io);
	}
	if (w->warnings >= EXT_MAX_WARNINGS) {
		w->suppressed++;
		return;
	}
	w->warnings++;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bm_warn(w->v->ctx, w->v->dev, off, "%s", msg);
}

static void run_flush(struct ext_walk *w)
{
	if (w->run_len)
		bm_emit_flags(w->v, w->run_start * w->bs, w->run_len * w->bs,
			      w->run_obj, w->run_flags);
	w->run_len = 0;
}

/* Add COUNT blocks at BLK to OBJ, joining contiguous runs.  Block
 * numbers outside the filesystem are reported (once per call) and
 * skipped. */
static void add_blocks(struct ext_walk *w, bm_obj obj, uint64_t blk,
		       uint64_t count, unsigned flags, const char *what)
{
	if (count == 0)
		return;
	if (blk >= w->nblocks || count > w->nblocks - blk) {
		const struct bm_objinfo *o = bm_object_info(w->v->ctx, obj);
		ext_warn(w, BM_NO_OFFSET,
			 "%s of %s: blocks %llu+%llu lie outside the "
			 "filesystem (%llu blocks): not mapped",
			 what, o->path ? o->path : "?",
			 (unsigned long long)blk, (unsigned long long)count,
			 (unsigned long long)w->nblocks);
		return;
	}
	flags |= w->or_flags;
	if (w->run_len && w->run_obj == obj && w->run_flags == flags &&
	    w->run_start + w->run_len == blk) {
		w->run_len += count;
		return;
	}
	run_flush(w);
	w->run_obj = obj;
	w->run_start = blk;
	w->run_len = count;
	w->run_flags = flags;
}

/* Byte offset of inode INO in the inode table. */
static bool inode_offset(struct ext_walk *w, ext2_ino_t ino, uint64_t *off)
{
	ext2_filsys fs = w->fs;
	uint32_t ipg = fs->super->s_inodes_per_group;
	if (ino == 0 || ipg == 0)
		return false;
	dgrp_t g = (ino - 1) / ipg;
	uint64_t idx = (ino - 1) % ipg;
	if (g >= fs->group_desc_count)
		return false;
	uint64_t table = ext2fs_inode_table_loc(fs, g);
	return table && table < w->nblocks &&
	       bm_muladd(table, w->bs, idx * (uint64_t)EXT2_INODE_SIZE(fs->super),
			 off);
}

/* Where a problem with inode INO is: the failed read if there was one
 * (ext_warn's default), else the inode itself. */
static uint64_t ino_where(struct ext_walk *w, ext2_ino_t ino)
{
	uint64_t off = bm_ext_io_last_error(w->fs->io);
	bm_ext_io_clear_error(w->fs->io);
	if (off == BM_NO_OFFSET && !inode_offset(w, ino, &off))
		off = BM_NO_OFFSET;
	return off;
}

/* --- prefetch hints ------------------------------------------------ */

/* Hints only (bm_volume_prefetch): they change no result, so the
 * on-disk values they use need no validation beyond overflow. */
#define EXT_PREFETCH_ITABLES (256ull << 20) /* up front, at most */
#define EXT_PREFETCH_DIR (8ull << 20)      /* per directory extent */

static void prefetch_blocks(struct ext_walk *w, uint64_t blk, uint64_t n)
{
	uint64_t off, len;
	if (n > EXT_PREFETCH_DIR / w->bs)
		n = EXT_PREFETCH_DIR / w->bs;
	if (bm_mul(blk, w->bs, &off) && bm_mul(n, w->bs, &len))
		bm_volume_prefetch(w->v, off, len);
}

/* One run of inode table blocks: read in chunks by the I/O manager,
 * and hinted while the up-front budget lasts. */
static void itable_run(struct ext_walk *w, uint64_t blk, uint64_t n,
		       uint64_t *hinted)
{
	bm_ext_io_add_seq(w->fs->io, blk, n);
	if (*hinted + n > EXT_PREFETCH_ITABLES / w->bs)
		return;
	*hinted += n;
	uint64_t off, len;
	if (bm_mul(blk, w->bs, &off) && bm_mul(n, w->bs, &len))
		bm_volume_prefetch(w->v, off, len);
}

/* The walk reads inodes in directory order, a block at a time, all over
 * the inode tables; have their used parts (the groups' itable_unused
 * tells where they end) fetched first in large sequential reads.
 * Adjacent tables (flex_bg packs them) make one run. */
static void prefetch_inode_tables(struct ext_walk *w)
{
	ext2_filsys fs = w->fs;
	uint64_t ipg = fs->super->s_inodes_per_group;
	uint64_t isz = EXT2_INODE_SIZE(fs->super), total = 0;
	uint64_t run_blk = 0, run_n = 0;
	bool csum = ext2fs_has_group_desc_csum(fs);
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		uint64_t used = ipg, blk = ext2fs_inode_table_loc(fs, g);
		if (csum && ext2fs_bg_flags_test(fs, g, EXT2_BG_INODE_UNINIT))
			used = 0;
		else if (csum && ext2fs_bg_itable_unused(fs, g) <= ipg)
			used = ipg - ext2fs_bg_itable_unused(fs, g);
		/* bytes rounded up to blocks; ipg * isz fits (32 x 16 bits) */
		uint64_t n = (used * isz + w->bs - 1) / w->bs;
		if (!blk || !n || blk >= w->nblocks || n > w->nblocks - blk)
			continue;
		if (run_n && run_blk + run_n == blk) {
			run_n += n;
			continue;
		}
		if (run_n)
			itable_run(w, run_blk, run_n, &total);
		run_blk = blk;
		run_n = n;
	}
	if (run_n)
		itable_run(w, run_blk, run_n, &total);
}

/* A directory about to be walked: hint its blocks (or its extent leaf)
 * as far as the inode's i_block names them. */
static void prefetch_dir(struct ext_walk *w, const struct ext2_inode *in)
{
	const uint8_t *ib = (const uint8_t *)in->i_block;
	if (in->i_flags & EXT4_INLINE_DATA_FL)
		return;
	if (!(in->i_flags & EXT4_EXTENTS_FL)) {
		/* Block map: the direct blocks and the indirect block. */
		for (unsigned i = 0; i <= EXT2_IND_BLOCK; i++)
			if (bm_le32(ib + 4 * i))
				prefetch_blocks(w, bm_le32(ib + 4 * i), 1);
		return;
	}
	/* Extent header: magic, entries, max, depth; 12-byte entries. */
	unsigned n = bm_le16(ib + 2), depth = bm_le16(ib + 6);
	if (bm_le16(ib) != EXT3_EXT_MAGIC || n > 4)
		return;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = ib + 12 + 12 * i;
		if (depth) /* index: the child node */
			prefetch_blocks(w, bm_le32(e + 4) |
					   (uint64_t)bm_le16(e + 8) << 32, 1);
		else /* leaf: length (uninitialised above 32768), start */
			prefetch_blocks(w, bm_le32(e + 8) |
					   (uint64_t)bm_le16(e + 6) << 32,
					bm_le16(e + 4) > 32768
						? bm_le16(e + 4) - 32768u
						: bm_le16(e + 4));
	}
}

/* --- per-inode block walks --------------------------------------- */

struct blk_arg {
	struct ext_walk *w;
	bm_obj obj;
};

static int block_cb(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
		    blk64_t ref_blk, int ref_offset, void *priv)
{
	struct blk_arg *a = priv;
	/* blockcnt < 0: an indirect block, which belongs to the file too. */
	add_blocks(a->w, a->obj, *blocknr, 1,
		   blockcnt < 0 ? BM_RANGE_METADATA : 0,
		   blockcnt < 0 ? "indirect block" : "data block");
	return 0;
}

static void map_extents(struct ext_walk *w, ext2_ino_t ino,
			struct ext2_inode *inode, bm_obj obj)
{
	ext2_extent_handle_t h;
	errcode_t err = ext2fs_extent_open2(w->fs, ino, inode, &h);
	if (err) {
		ext_warn(w, ino_where(w, ino), "inode %u: extent tree: %s",
			 ino, error_message(err));
		return;
	}
	struct ext2fs_extent e;
	int op = EXT2_EXTENT_ROOT;
	/* Each call moves forward in the tree; the count cap guards
	 * against corrupt trees that libext2fs walks in circles. */
	for (uint64_t steps = 0; steps < (1u << 26); steps++) {
		err = ext2fs_extent_get(h, op, &e);
		op = EXT2_EXTENT_NEXT;
		if (err == EXT2_ET_EXTENT_NO_NEXT)
			break;
		if (err) {
			ext_warn(w, ino_where(w, ino),
				 "inode %u: extent tree: %s", ino,
				 error_message(err));
			break;
		}
		if (!(e.e_flags & EXT2_EXTENT_FLAGS_LEAF)) {
			/* An index entry: e_pblk is the child node. */
			if (!(e.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT))
				add_blocks(w, obj, e.e_pblk, 1,
					   BM_RANGE_METADATA,
					   "extent tree block");
			continue;
		}
		add_blocks(w, obj, e.e_pblk, e.e_len,
			   (e.e_flags & EXT2_EXTENT_FLAGS_UNINIT)
				   ? BM_RANGE_UNWRITTEN
				   : 0,
			   "extent");
	}
	ext2fs_extent_free(h);
}

static void map_inode(struct ext_walk *w, ext2_ino_t ino,
		      struct ext2_inode *inode, bm_obj obj);

/* ext4 ea_inode: an xattr value too large for the inode or the xattr
 * block lives in an inode of its own (EXT4_EA_INODE_FL) that no
 * directory names; the xattr entry's e_value_inum points at it.  Entries
 * (linux fs/ext4/xattr.h, struct ext4_xattr_entry): e_name_len (u8),
 * e_name_index (u8), e_value_offs (le16), e_value_inum (le32),
 * e_value_size (le32), e_hash (le32), the name, padded to 4 bytes; four
 * zero bytes end the list.  They follow the 0xEA020000 magic in the
 * inode's extra space and the 32-byte header of the xattr block. */
#define XATTR_MAGIC 0xEA020000u
#define EA_INODE_FL 0x200000u

static void map_ea_entries(struct ext_walk *w, const uint8_t *p,
			   const uint8_t *end, bm_obj obj, const char *where,
			   struct bm_u64set *done)
{
	ext2_filsys fs = w->fs;
	/* Each entry is at least 16 bytes and moves P forward: ends. */
	while (end - p >= 16 && bm_le32(p) != 0) {
		uint32_t inum = bm_le32(p + 4);
		size_t len = (16u + p[0] + 3) & ~3u;
		/* each EA inode once per file (a crafted block may name
		 * one inode in every entry) */
		if (inum && bm_u64set_add(done, inum)) {
			struct ext2_inode ea;
			if (inum > fs->super->s_inodes_count ||
			    ext2fs_read_inode(fs, inum, &ea) != 0 ||
			    !(ea.i_flags & EA_INODE_FL)) {
				ext_warn(w, ino_where(w, inum),
					 "%s: xattr value in inode %u, which "
					 "is no EA inode: not mapped", where,
					 inum);
			} else {
				/* or_flags also stops EA inodes of EA
				 * inodes (a crafted loop) */
				w->or_flags = BM_RANGE_METADATA |
					      BM_RANGE_SHARED;
				map_inode(w, inum, &ea, obj);
				w->or_flags = 0;
			}
		}
		if ((size_t)(end - p) < len)
			break;
		p += len;
	}
}

static void map_ea_inodes(struct ext_walk *w, ext2_ino_t ino, blk64_t acl,
			  bm_obj obj)
{
	ext2_filsys fs = w->fs;
	const struct bm_objinfo *o = bm_object_info(w->v->ctx, obj);
	const char *where = o->path ? o->path : "?";
	struct bm_u64set done = { 0 };
	size_t isz = EXT2_INODE_SIZE(fs->super);
	if (isz > EXT2_GOOD_OLD_INODE_SIZE + 4) {
		uint8_t *b = bm_malloc(isz);
		if (ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)b,
					   (int)isz) == 0) {
			size_t start = EXT2_GOOD_OLD_INODE_SIZE +
				       bm_le16(b + EXT2_GOOD_OLD_INODE_SIZE);
			if (start + 4 <= isz && bm_le32(b + start) == XATTR_MAGIC)
				map_ea_entries(w, b + start + 4, b + isz, obj,
					       where, &done);
		}
		free(b);
	}
	if (acl && acl < w->nblocks) {
		uint8_t *b = bm_malloc(fs->blocksize);
		if (io_channel_read_blk64(fs->io, acl, 1, b) == 0 &&
		    bm_le32(b) == XATTR_MAGIC)
			map_ea_entries(w, b + 32, b + fs->blocksize, obj, where,
				       &done);
		free(b);
	}
	bm_u64set_free(&done);
}

/* Emit every block inode INO owns as OBJ. */
static void map_inode(struct ext_walk *w, ext2_ino_t ino,
		      struct ext2_inode *inode, bm_obj obj)
{
	ext2_filsys fs = w->fs;
	uint64_t ioff;
	if ((inode->i_flags & EXT4_INLINE_DATA_FL) ||
	    (LINUX_S_ISLNK(inode->i_mode) && ext2fs_is_fast_symlink(inode))) {
		/* Data lives in the inode itself (i_block and, for inline
		 * data, the system.data xattr in the inode's extra space). */
		if (inode_offset(w, ino, &ioff)) {
			run_flush(w);
			bm_emit_flags(w->v, ioff, EXT2_INODE_SIZE(fs->super),
				      obj, BM_RANGE_INLINE);
		}
	} else if (inode->i_flags & EXT4_EXTENTS_FL) {
		map_extents(w, ino, inode, obj);
	} else if (ext2fs_inode_has_valid_blocks2(fs, inode)) {
		struct blk_arg a = { w, obj };
		errcode_t err = ext2fs_block_iterate3(fs, ino,
						      BLOCK_FLAG_READ_ONLY,
						      NULL, block_cb, &a);
		if (err)
			ext_warn(w, BM_NO_OFFSET, "inode %u: block map: %s",
				 ino, error_message(err));
	}
	blk64_t acl = ext2fs_file_acl_block(fs, inode);
	/* An xattr block is shared by every inode with the same xattrs
	 * (its header counts them). */
	if (acl)
		add_blocks(w, obj, acl, 1, BM_RANGE_METADATA | BM_RANGE_SHARED,
			   "xattr block");
	run_flush(w);
	if (ext2fs_has_feature_ea_inode(fs->super) && !w->or_flags)
		map_ea_inodes(w, ino, acl, obj);
}

/* --- directory tree ------------------------------------------------ */

struct dirent_list {
	struct child {
		ext2_ino_t ino;
		char *name;
		bool bad; /* '/' or NUL in the name (NULs shown as '?') */
	} *v;
	size_t n, cap;
};

static int dir_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *d,
		  int offset, int blocksize, char *buf, void *priv)
{
	struct dirent_list *l = priv;
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	int len = ext2fs_dirent_name_len(d);
	if (d->inode == 0 || len == 0)
		return 0;
	/* Inline-data directories get "." and ".." synthesised by
	 * libext2fs without the DOT entry codes: skip them by name. */
	if ((len == 1 && d->name[0] == '.') ||
	    (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = bm_reallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n].ino = d->inode;
	l->v[l->n].name = bm_malloc((size_t)len + 1);
	memcpy(l->v[l->n].name, d->name, (size_t)len);
	l->v[l->n].name[len] = '\0';
	l->v[l->n].bad = !bm_name_usable(d->name, (size_t)len);
	for (int i = 0; i < len; i++)
		if (l->v[l->n].name[i] == '\0')
			l->v[l->n].name[i] = '?';
	l->n++;
	return 0;
}

struct dir_todo {
	ext2_ino_t ino;
	char *path;
};

static void walk_tree(struct ext_walk *w)
{
	ext2_filsys fs = w->fs;
	struct bm_ctx *ctx = w->v->ctx;
	struct dir_todo *stack = bm_malloc(sizeof *stack);
	size_t sp = 0, scap = 1;
	stack[sp++] = (struct dir_todo){ EXT2_ROOT_INO, bm_strdup("/") };
	bm_u64set_add(&w->dirs_seen, EXT2_ROOT_INO);

	/* Every directory is pushed at most once (dirs_seen), so the loop
	 * ends after at most s_inodes_count iterations. */
	while (sp) {
		struct dir_todo d = stack[--sp];
		struct ext2_inode inode;
		errcode_t err = ext2fs_read_inode(fs, d.ino, &inode);
		if (err && err != EXT2_ET_INODE_CSUM_INVALID) {
			ext_warn(w, BM_NO_OFFSET, "directory %s (inode %u): %s",
				 d.path, d.ino, error_message(err));
			free(d.path);
			continue;
		}
		if (err)
			ext_warn(w, BM_NO_OFFSET,
				 "directory %s (inode %u): inode checksum "
				 "mismatch; mapped anyway",
				 d.path, d.ino);
		/* Each path has its own object, mapped once and at once:
		 * done with it (streaming frees it). */
		bm_obj dobj = bm_object(ctx, 'd', w->v->dev, d.path);
		map_inode(w, d.ino, &inode, dobj);
		bm_object_release(ctx, dobj);
		if (bm_dir_too_deep(ctx, w->v->dev, ino_where(w, d.ino),
				    d.path)) {
			free(d.path);
			continue;
		}

		struct dirent_list l = { 0 };
		err = ext2fs_dir_iterate2(fs, d.ino,
					  0, NULL,
					  dir_cb, &l);
		if (err == EXT2_ET_DIR_CSUM_INVALID) {
			ext_warn(w, BM_NO_OFFSET,
				 "directory %s: block checksum mismatch; "
				 "read anyway",
				 d.path);
			for (size_t i = 0; i < l.n; i++)
				free(l.v[i].name);
			l.n = 0;
			fs->flags |= EXT2_FLAG_IGNORE_CSUM_ERRORS;
			err = ext2fs_dir_iterate2(
				fs, d.ino, 0,
				NULL, dir_cb, &l);
			fs->flags &= ~EXT2_FLAG_IGNORE_CSUM_ERRORS;
		}
		if (err)
			ext_warn(w, BM_NO_OFFSET,
				 "directory %s (inode %u): %s; its entries "
				 "may be incomplete",
				 d.path, d.ino, error_message(err));

		for (size_t i = 0; i < l.n; i++) {
			struct child *c = &l.v[i];
			if (bm_ctx_full(ctx)) { /* the map holds all it may */
				free(c->name);
				continue;
			}
			if (c->bad) {
				/* "etc/passwd" in / would print as the real
				 * /etc/passwd */
				ext_warn(w, ino_where(w, d.ino),
					 "directory %s: entry \"%s\" (inode %u) "
					 "has '/' or NUL in its name: not mapped",
					 d.path, c->name, c->ino);
				free(c->name);
				continue;
			}
			char *path = bm_path_join(d.path, c->name,
						  strlen(c->name));
			free(c->name);
			struct ext2_inode ci;
			if (c->ino > fs->super->s_inodes_count) {
				ext_warn(w, BM_NO_OFFSET,
					 "%s: inode number %u is out of range",
					 path, c->ino);
				free(path);
				continue;
			}
			err = ext2fs_read_inode(fs, c->ino, &ci);
			if (err && err != EXT2_ET_INODE_CSUM_INVALID) {
				ext_warn(w, BM_NO_OFFSET, "%s (inode %u): %s",
					 path, c->ino, error_message(err));
				free(path);
				continue;
			}
			if (err)
				ext_warn(w, BM_NO_OFFSET,
					 "%s (inode %u): inode checksum "
					 "mismatch; mapped anyway",
					 path, c->ino);
			if (LINUX_S_ISDIR(ci.i_mode)) {
				if (!bm_u64set_add(&w->dirs_seen, c->ino)) {
					ext_warn(w, ino_where(w, c->ino),
						 "%s: directory inode %u "
						 "already seen (a loop or a "
						 "hard-linked directory): not "
						 "walked again",
						 path, c->ino);
					free(path);
					continue;
				}
				if (sp == scap) {
					scap *= 2;
					stack = bm_reallocarray(stack, scap,
								sizeof *stack);
				}
				stack[sp++] = (struct dir_todo){ c->ino, path };
				prefetch_dir(w, &ci);
				continue;
			}
			if (LINUX_S_ISREG(ci.i_mode) || LINUX_S_ISLNK(ci.i_mode)) {
				/* A hard link's other names are other objects. */
				bm_obj fobj = bm_object(ctx, 'f', w->v->dev, path);
				map_inode(w, c->ino, &ci, fobj);
				bm_object_release(ctx, fobj);
			}
			/* devices, fifos, sockets own no blocks */
			free(path);
		}
		free(l.v);
		free(d.path);
	}
	free(stack);
}

/* --- filesystem metadata ------------------------------------------- */

static void map_special_inode(struct ext_walk *w, ext2_ino_t ino,
			      const char *name)
{
	struct ext2_inode inode;
	if (ino == 0 || ino > w->fs->super->s_inodes_count)
		return;
	if (ext2fs_read_inode(w->fs, ino, &inode) != 0)
		return;
	if (inode.i_links_count == 0 && inode.i_blocks == 0)
		return;
	map_inode(w, ino, &inode, bm_object(w->v->ctx, 'm', w->v->dev, name));
}

static void map_metadata(struct ext_walk *w)
{
	ext2_filsys fs = w->fs;
	struct ext2_super_block *sb = fs->super;
	struct bm_ctx *ctx = w->v->ctx;
	const char *dev = w->v->dev;
	bm_obj o_sb = bm_object(ctx, 'm', dev, "superblock");
	bm_obj o_sbb = bm_object(ctx, 'm', dev, "superblock backup");
	bm_obj o_gd = bm_object(ctx, 'm', dev, "group descriptors");
	bm_obj o_gdb = bm_object(ctx, 'm', dev, "group descriptors backup");
	bm_obj o_rgdt = bm_object(ctx, 'm', dev, "reserved gdt blocks");
	bm_obj o_bb = bm_object(ctx, 'm', dev, "block bitmap");
	bm_obj o_ib = bm_object(ctx, 'm', dev, "inode bitmap");
	bm_obj o_it = bm_object(ctx, 'm', dev, "inode table");
	bool meta_bg = ext2fs_has_feature_meta_bg(sb);
	uint64_t old_desc = meta_bg ? sb->s_first_meta_bg : fs->desc_blocks;
	if (old_desc > fs->desc_blocks)
		old_desc = fs->desc_blocks;

	/* The primary superblock: 1024 bytes at byte 1024. */
	bm_emit(w->v, 1024, 1024, o_sb);
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		blk64_t super = 0, old_blk = 0, new_blk = 0;
		blk_t used = 0;
		ext2fs_super_and_bgd_loc2(fs, g, &super, &old_blk, &new_blk,
					  &used);
		if (g > 0 && super)
			add_blocks(w, o_sbb, super, 1, 0, "superblock backup");
		if (old_blk) {
			add_blocks(w, g == 0 ? o_gd : o_gdb, old_blk, old_desc,
				   0, "group descriptors");
			if (sb->s_reserved_gdt_blocks)
				add_blocks(w, o_rgdt, old_blk + old_desc,
					   sb->s_reserved_gdt_blocks, 0,
					   "reserved gdt blocks");
		}
		if (new_blk)
			add_blocks(w, o_gd, new_blk, 1, 0,
				   "group descriptors");
		blk64_t b = ext2fs_block_bitmap_loc(fs, g);
		if (b)
			add_blocks(w, o_bb, b, 1, 0, "block bitmap");
		b = ext2fs_inode_bitmap_loc(fs, g);
		if (b)
			add_blocks(w, o_ib, b, 1, 0, "inode bitmap");
		b = ext2fs_inode_table_loc(fs, g);
		if (b)
			add_blocks(w, o_it, b, fs->inode_blocks_per_group, 0,
				   "inode table");
	}
	run_flush(w);

	if (ext2fs_has_feature_journal(sb) && sb->s_journal_inum)
		map_special_inode(w, sb->s_journal_inum, "journal");
	/* The resize inode's data blocks are the reserved GDT blocks
	 * (mapped above); only its double-indirect block is its own. */
	if (ext2fs_has_feature_resize_inode(sb)) {
		struct ext2_inode ri;
		if (ext2fs_read_inode(fs, EXT2_RESIZE_INO, &ri) == 0 &&
		    ri.i_block[EXT2_DIND_BLOCK])
			add_blocks(w, bm_object(ctx, 'm', dev, "resize inode"),
				   ri.i_block[EXT2_DIND_BLOCK], 1, 0,
				   "resize inode");
		run_flush(w);
	}
	map_special_inode(w, EXT2_BAD_INO, "bad blocks inode");
	map_special_inode(w, EXT2_BOOT_LOADER_INO, "boot loader inode");
	map_special_inode(w, EXT2_UNDEL_DIR_INO, "undelete inode");
	if (ext2fs_has_feature_quota(sb)) {
		map_special_inode(w, sb->s_usr_quota_inum, "quota");
		map_special_inode(w, sb->s_grp_quota_inum, "quota");
		map_special_inode(w, sb->s_prj_quota_inum, "quota");
	}
	if (ext2fs_has_feature_orphan_file(sb))
		map_special_inode(w, sb->s_orphan_file_inum, "orphan file");
	if (ext2fs_has_feature_mmp(sb) && sb->s_mmp_block) {
		add_blocks(w, bm_object(ctx, 'm', dev, "mmp block"),
			   sb->s_mmp_block, 1, 0, "mmp block");
		run_flush(w);
	}
}

/* --- probe and walk ------------------------------------------------ */

static int ext_probe(struct bm_volume *v, void **state)
{
	uint8_t sb[1024];
	if (v->size < 2048 || bm_read(v, sb, sizeof sb, 1024) < 0)
		return 0;
	if (bm_le16(sb + 56) != EXT2_SUPER_MAGIC)
		return 0;
	uint32_t log_bs = bm_le32(sb + 24);
	uint32_t inodes = bm_le32(sb + 0);
	uint32_t bpg = bm_le32(sb + 32), ipg = bm_le32(sb + 40);
	uint32_t incompat = bm_le32(sb + 96);
	if (log_bs > 6 || inodes == 0 || bpg == 0 || ipg == 0)
		return 0;
	/* An external journal device carries an ext superblock too, but
	 * holds no files: let libblkid name it. */
	if (incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV)
		return 0;
	return 1;
}

static const char *ext_kind(const struct ext2_super_block *sb)
{
	if (sb->s_feature_incompat &
		    ~(EXT3_FEATURE_INCOMPAT_RECOVER |
		      EXT2_FEATURE_INCOMPAT_FILETYPE |
		      EXT2_FEATURE_INCOMPAT_META_BG) ||
	    sb->s_feature_ro_compat &
		    ~(EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
		      EXT2_FEATURE_RO_COMPAT_LARGE_FILE))
		return "ext4";
	return (sb->s_feature_compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL)
		       ? "ext3"
		       : "ext2";
}

static errcode_t open_fs(struct bm_volume *v, ext2_filsys *fs)
{
	char *name = bm_ext_io_name(v);
	int flags = EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP;
	errcode_t err = ext2fs_open2(name, NULL, flags, 0, 0,
				     bm_ext_io_manager(v), fs);
	if (err == EXT2_ET_SB_CSUM_INVALID ||
	    err == EXT2_ET_GDESC_BAD_BLOCK_MAP ||
	    err == EXT2_ET_GDESC_BAD_INODE_MAP ||
	    err == EXT2_ET_GDESC_BAD_INODE_TABLE) {
		bm_warn(v->ctx, v->dev, 1024,
			"ext superblock: %s; mapping anyway",
			error_message(err));
		/* Only checksums are ignored: EXT2_FLAG_IGNORE_SB_ERRORS would
		 * also skip libext2fs' sanity checks of the superblock's
		 * fields, and it divides by them (a fuzzer found desc_size 0
		 * with 64bit: tests/fuzz/regress/ext-sb-desc-size-zero.img). */
		err = ext2fs_open2(name, NULL,
				   flags | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0,
				   bm_ext_io_manager(v), fs);
	}
	if (err) {
		/* A damaged primary superblock: try the usual backups. */
		static const struct {
			blk64_t sb;
			unsigned bs;
		} backups[] = { { 8193, 1024 }, { 16384, 2048 }, { 32768, 4096 } };
		for (size_t i = 0; i < 3; i++) {
			errcode_t e2 = ext2fs_open2(
				name, NULL,
				flags | EXT2_FLAG_IGNORE_CSUM_ERRORS,
				(int)backups[i].sb, (int)backups[i].bs,
				bm_ext_io_manager(v), fs);
			if (e2 == 0) {
				bm_warn(v->ctx, v->dev, 1024,
					"ext primary superblock unusable (%s); "
					"using the backup at block %llu",
					error_message(err),
					(unsigned long long)backups[i].sb);
				err = 0;
				break;
			}
		}
	}
	if (!err)
		(*fs)->flags &= ~EXT2_FLAG_IGNORE_CSUM_ERRORS;
	free(name);
	return err;
}

static int ext_walk(struct bm_volume *v, void *state)
{
	(void)state;
	ext2_filsys fs = NULL;
	/* Registers libext2fs' message table for error_message(); it guards
	 * against registering twice. */
	initialize_ext2_error_table();
	errcode_t err = open_fs(v, &fs);
	if (err) {
		bm_warn(v->ctx, v->dev, 1024,
			"ext filesystem cannot be opened: %s: not mapped",
			error_message(err));
		return -1;
	}
	struct ext_walk w = {
		.v = v,
		.fs = fs,
		.bs = fs->blocksize,
		.nblocks = ext2fs_blocks_count(fs->super),
	};
	free(v->type);
	v->type = bm_strdup(ext_kind(fs->super));
	uint64_t fsbytes;
	if (!bm_mul(w.nblocks, w.bs, &fsbytes))
		fsbytes = UINT64_MAX;
	if (fsbytes > v->size)
		bm_finding(v->ctx, "fs-larger-than-volume", BM_SEV_ERROR,
			   v->dev, 1024,
			"%s is larger than its volume (%llu blocks of %llu "
			"bytes, volume 0x%llx bytes): the part past the end "
			"is not mapped",
			v->type, (unsigned long long)w.nblocks,
			(unsigned long long)w.bs, (unsigned long long)v->size);
	v->fs_size = fsbytes;
	if (ext2fs_has_feature_journal_needs_recovery(fs->super))
		bm_finding(v->ctx, "fs-needs-recovery", BM_SEV_WARNING, v->dev,
			   1024,
			   "%s journal needs recovery (not replayed): files "
			   "changed by the journal are mapped as before it",
			   v->type);
	prefetch_inode_tables(&w);
	map_metadata(&w);
	walk_tree(&w);
	if (w.suppressed)
		bm_warn(v->ctx, v->dev, BM_NO_OFFSET,
			"%u more problems in this filesystem not shown",
			w.suppressed);
	bm_u64set_free(&w.dirs_seen);
	ext2fs_free(fs);
	return 0;
}

const struct bm_prober bm_ext_prober = {
	.name = "ext",
	.kind = BM_PROBE_FS,
	.probe = ext_probe,
	.walk = ext_walk,
};
