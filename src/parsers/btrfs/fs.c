/* btrfs filesystem walk: trees, subvolumes, directories, files.
 *
 * The root tree holds a ROOT_ITEM per tree (extent, dev, csum, uuid,
 * free-space, quota, block-group trees; one fs tree per subvolume and
 * snapshot).  An fs tree holds, keyed by inode number: INODE_ITEM,
 * INODE_REF, XATTR_ITEM, DIR_ITEM/DIR_INDEX (directory entries; a
 * location key of type ROOT_ITEM links a subvolume) and EXTENT_DATA
 * (inline data inside the leaf, or a reference to [disk_bytenr,
 * disk_bytenr+disk_num_bytes) of which [offset, offset+num_bytes) is used
 * unless the extent is compressed).  Spec: btrfs-progs ctree.h, the
 * btrfs on-disk format documentation (btrfs.readthedocs.io, "On-disk
 * format"), kernel fs/btrfs/tree-checker.c.
 *
 * Paths are relative to the top-level subvolume (id 5); a subvolume
 * appears as a directory where its DIR_INDEX entry links it (its
 * ROOT_BACKREF confirms the parent: a snapshot's copies of links to
 * nested subvolumes are empty placeholders).  A file with several hard
 * links is mapped under every name.  Shared extents (reflinks,
 * snapshots) are emitted by every owner.  Each subvolume is scanned into
 * per-inode lists first (items come in inode order), then named by a
 * walk from its root directory, then emitted; inodes no directory
 * reaches are mapped as metadata.  See src/parsers/btrfs/README.md for the objects.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "btrfs.h"


/* ---- chunk tree ----------------------------------------------------- */

static int chunk_cb(struct bm_btrfs_fs *fs, const struct bm_btrfs_item *it,
		    void *opaque)
{
	const char *why;

	(void)opaque;
	if (it->type == BTRFS_DEV_ITEM_KEY && it->objectid == 1) {
		/* Name the devices the filesystem has but we were not
		 * given (assembly only knew how many). */
		uint64_t devid = it->offset;
		size_t i;

		for (i = 0; i < fs->ndevs; i++)
			if (fs->devs[i].devid == devid)
				break;
		if (i == fs->ndevs)
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"btrfs: devid %llu is missing: what only it "
				"holds is not mapped", (unsigned long long)devid);
		return 0;
	}
	if (it->type != BTRFS_CHUNK_ITEM_KEY)
		return 0;
	if (bm_btrfs_add_chunk(fs, it->offset, it->data, it->size, &why) < 0) {
		bm_warn(fs->ctx, fs->dev, it->data_logical,
			"btrfs: chunk at logical 0x%llx: %s: not mapped",
			(unsigned long long)it->offset, why);
		return -1;
	}
	return 0;
}

int bm_btrfs_load_chunk_tree(struct bm_btrfs_fs *fs)
{
	int rc = bm_btrfs_walk_tree(fs, fs->sb.chunk_root,
				    fs->sb.chunk_root_level,
				    "btrfs chunk tree", chunk_cb, NULL);
	fs->lvol->size = fs->logical_end;
	return rc;
}

/* ---- root tree ------------------------------------------------------ */

struct root_rec {
	uint64_t objectid, offset, bytenr, dirid;
	uint32_t refs;
	uint8_t level;
	bool visited;
};

/* ROOT_BACKREF (child subvolume, parent subvolume): where a subvolume
 * is really linked.  A snapshot copies its source's directory entries,
 * including links to nested subvolumes, but those show as empty
 * directories in the snapshot: the backref names the one true parent. */
struct backref {
	uint64_t child, parent;
};

struct roots {
	struct root_rec *r;
	size_t n, cap;
	struct backref *br;
	size_t nbr, capbr;
	bm_obj cache_obj;
};

static void add_root(struct roots *rs, const struct bm_btrfs_item *it)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 32;
		rs->r = bm_reallocarray(rs->r, rs->cap, sizeof *rs->r);
	}
	rs->r[rs->n++] = (struct root_rec){
		.objectid = it->objectid,
		.offset = it->offset,
		.bytenr = bm_le64(it->data + RI_BYTENR),
		.dirid = bm_le64(it->data + RI_ROOT_DIRID),
		.refs = bm_le32(it->data + RI_REFS),
		.level = it->data[RI_LEVEL],
	};
}

static int root_cb(struct bm_btrfs_fs *fs, const struct bm_btrfs_item *it,
		   void *opaque)
{
	struct roots *rs = opaque;

	if (it->type == BTRFS_ROOT_ITEM_KEY) {
		if (it->size < ROOT_ITEM_MIN) {
			bm_warn(fs->ctx, fs->dev, it->data_logical,
				"btrfs: root item %llu too small: tree not mapped",
				(unsigned long long)it->objectid);
			return -1;
		}
		add_root(rs, it);
	} else if (it->type == BTRFS_ROOT_BACKREF_KEY) {
		if (rs->nbr == rs->capbr) {
			rs->capbr = rs->capbr ? 2 * rs->capbr : 32;
			rs->br = bm_reallocarray(rs->br, rs->capbr,
						 sizeof *rs->br);
		}
		rs->br[rs->nbr++] = (struct backref){ it->objectid, it->offset };
	} else if (it->type == BTRFS_EXTENT_DATA_KEY &&
		   it->size >= FE_SIZE &&
		   it->data[FE_TYPE] != BTRFS_FE_INLINE) {
		/* Inodes in the root tree are the v1 free space cache. */
		uint64_t b = bm_le64(it->data + FE_DISK_BYTENR);
		uint64_t n = bm_le64(it->data + FE_DISK_NUM_BYTES);
		if (b && n)
			bm_emit(fs->lvol, b, n, rs->cache_obj);
	}
	return 0;
}

static bool is_fs_tree(uint64_t id)
{
	return id == BTRFS_FS_TREE_OBJECTID ||
	       (id >= BTRFS_FIRST_FREE_OBJECTID && id <= BTRFS_LAST_FREE_OBJECTID);
}

/* ---- one subvolume -------------------------------------------------- */

struct range_rec {
	uint64_t logical, len;
	unsigned flags;
};

struct dirent_rec {
	size_t name_off;
	uint16_t name_len;
	uint8_t child_type;
	uint64_t child;
};

struct inode_rec {
	uint64_t ino;
	uint32_t mode;
	bool have_item, done;
	size_t r0, r1; /* ranges [r0, r1) */
	size_t d0, d1; /* dirents [d0, d1) */
};

struct scan {
	uint64_t subvol;
	struct inode_rec *in;
	size_t nin, capin;
	struct range_rec *rg;
	size_t nrg, caprg;
	struct dirent_rec *de;
	size_t nde, capde;
	struct bm_str names;
	bool warned_order, warned_enc;
};

static void scan_free(struct scan *s)
{
	free(s->in);
	free(s->rg);
	free(s->de);
	bm_str_free(&s->names);
}

/* Append a range to the current (last) inode, joining it to the
 * previous range when they touch (leaf item data is packed backwards,
 * so try both ends). */
static void add_range(struct scan *s, uint64_t logical, uint64_t len,
		      unsigned flags)
{
	struct inode_rec *ir = &s->in[s->nin - 1];

	if (len == 0)
		return;
	if (ir->r1 > ir->r0) {
		struct range_rec *l = &s->rg[s->nrg - 1];
		if (l->flags == flags && l->logical + l->len == logical) {
			l->len += len;
			return;
		}
		if (l->flags == flags && logical + len == l->logical) {
			l->logical = logical;
			l->len += len;
			return;
		}
	}
	if (s->nrg == s->caprg) {
		s->caprg = s->caprg ? 2 * s->caprg : 256;
		s->rg = bm_reallocarray(s->rg, s->caprg, sizeof *s->rg);
	}
	s->rg[s->nrg++] = (struct range_rec){ logical, len, flags };
	ir->r1 = s->nrg;
}

static void add_dirents(struct bm_btrfs_fs *fs, struct scan *s,
			const struct bm_btrfs_item *it)
{
	size_t pos = 0;

	/* Each iteration consumes at least DIR_ITEM_HDR bytes. */
	while (it->size - pos >= DIR_ITEM_HDR) {
		const uint8_t *d = it->data + pos;
		uint16_t nl = bm_le16(d + DIR_NAME_LEN);
		uint16_t dl = bm_le16(d + DIR_DATA_LEN);
		size_t total = DIR_ITEM_HDR + (size_t)nl + dl;

		if (total > it->size - pos || nl == 0) {
			bm_warn(fs->ctx, fs->dev, it->data_logical + pos,
				"btrfs: subvolume %llu: malformed directory "
				"entry in inode %llu",
				(unsigned long long)s->subvol,
				(unsigned long long)it->objectid);
			return;
		}
		if (s->nde == s->capde) {
			s->capde = s->capde ? 2 * s->capde : 256;
			s->de = bm_reallocarray(s->de, s->capde, sizeof *s->de);
		}
		s->de[s->nde++] = (struct dirent_rec){
			.name_off = s->names.len,
			.name_len = nl,
			.child_type = d[8],
			.child = bm_le64(d),
		};
		bm_str_putn(&s->names, (const char *)d + DIR_ITEM_HDR, nl);
		s->in[s->nin - 1].d1 = s->nde;
		pos += total;
	}
}

static void add_extent(struct bm_btrfs_fs *fs, struct scan *s,
		       const struct bm_btrfs_item *it)
{
	const uint8_t *d = it->data;
	uint8_t type, comp;
	uint64_t bytenr, disk_len, off, num;

	if (it->size < FE_INLINE_DATA) {
		bm_warn(fs->ctx, fs->dev, it->data_logical,
			"btrfs: subvolume %llu inode %llu: short extent item",
			(unsigned long long)s->subvol,
			(unsigned long long)it->objectid);
		return;
	}
	type = d[FE_TYPE];
	comp = d[FE_COMPRESSION];
	if ((d[FE_ENCRYPTION] || bm_le16(d + FE_OTHER_ENC)) && !s->warned_enc) {
		s->warned_enc = true;
		bm_warn(fs->ctx, fs->dev, it->data_logical,
			"btrfs: subvolume %llu: encrypted/encoded extents are "
			"mapped as stored", (unsigned long long)s->subvol);
	}
	if (type == BTRFS_FE_INLINE) {
		/* The data lives in the leaf, right after the header. */
		add_range(s, it->data_logical + FE_INLINE_DATA,
			  it->size - FE_INLINE_DATA,
			  BM_RANGE_INLINE | (comp ? BM_RANGE_COMPRESSED : 0));
		return;
	}
	if ((type != BTRFS_FE_REG && type != BTRFS_FE_PREALLOC) ||
	    it->size < FE_SIZE) {
		bm_warn(fs->ctx, fs->dev, it->data_logical,
			"btrfs: subvolume %llu inode %llu: bad extent item "
			"(type %u): not mapped", (unsigned long long)s->subvol,
			(unsigned long long)it->objectid, type);
		return;
	}
	bytenr = bm_le64(d + FE_DISK_BYTENR);
	disk_len = bm_le64(d + FE_DISK_NUM_BYTES);
	off = bm_le64(d + FE_OFFSET);
	num = bm_le64(d + FE_NUM_BYTES);
	if (bytenr == 0)
		return; /* a hole */
	if (comp) {
		/* Any reference to a compressed extent needs all of it. */
		add_range(s, bytenr, disk_len, BM_RANGE_COMPRESSED);
		return;
	}
	if (off >= disk_len || !bm_add(bytenr, off, &bytenr)) {
		bm_warn(fs->ctx, fs->dev, it->data_logical,
			"btrfs: subvolume %llu inode %llu: extent offset "
			"outside the extent: not mapped",
			(unsigned long long)s->subvol,
			(unsigned long long)it->objectid);
		return;
	}
	if (num > disk_len - off)
		num = disk_len - off;
	add_range(s, bytenr, num,
		  type == BTRFS_FE_PREALLOC ? BM_RANGE_UNWRITTEN : 0);
}

static int fs_cb(struct bm_btrfs_fs *fs, const struct bm_btrfs_item *it,
		 void *opaque)
{
	struct scan *s = opaque;

	if (s->nin == 0 || s->in[s->nin - 1].ino != it->objectid) {
		if (s->nin && it->objectid < s->in[s->nin - 1].ino) {
			if (!s->warned_order) {
				s->warned_order = true;
				bm_warn(fs->ctx, fs->dev, it->data_logical,
					"btrfs: subvolume %llu: keys out of "
					"order; some items not mapped",
					(unsigned long long)s->subvol);
			}
			return 0;
		}
		if (s->nin == s->capin) {
			s->capin = s->capin ? 2 * s->capin : 256;
			s->in = bm_reallocarray(s->in, s->capin, sizeof *s->in);
		}
		s->in[s->nin++] = (struct inode_rec){
			.ino = it->objectid,
			.r0 = s->nrg, .r1 = s->nrg,
			.d0 = s->nde, .d1 = s->nde,
		};
	}
	switch (it->type) {
	case BTRFS_INODE_ITEM_KEY:
		if (it->size >= INODE_ITEM_SIZE) {
			s->in[s->nin - 1].mode = bm_le32(it->data + II_MODE);
			s->in[s->nin - 1].have_item = true;
		}
		break;
	case BTRFS_DIR_ITEM_KEY:
		add_range(s, it->data_logical, it->size, BM_RANGE_METADATA);
		break;
	case BTRFS_DIR_INDEX_KEY:
		add_range(s, it->data_logical, it->size, BM_RANGE_METADATA);
		add_dirents(fs, s, it);
		break;
	case BTRFS_XATTR_ITEM_KEY:
	case BTRFS_VERITY_DESC_ITEM_KEY:
	case BTRFS_VERITY_MERKLE_ITEM_KEY:
		/* the file's attributes and fs-verity Merkle tree, stored
		 * in the leaves */
		add_range(s, it->data_logical, it->size, BM_RANGE_METADATA);
		break;
	case BTRFS_EXTENT_DATA_KEY:
		add_extent(fs, s, it);
		break;
	default:
		break;
	}
	return 0;
}

static bool linked_from(const struct roots *rs, uint64_t child,
			uint64_t parent)
{
	for (size_t i = 0; i < rs->nbr; i++)
		if (rs->br[i].child == child)
			return rs->br[i].parent == parent;
	/* No backref at all (older or damaged filesystem): trust the
	 * directory entry. */
	return true;
}

static struct inode_rec *find_inode(struct scan *s, uint64_t ino)
{
	size_t lo = 0, hi = s->nin;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->in[mid].ino < ino)
			lo = mid + 1;
		else if (s->in[mid].ino > ino)
			hi = mid;
		else
			return &s->in[mid];
	}
	return NULL;
}

/* Subvolumes still to walk, with the path where each is linked. */
struct subq {
	struct {
		uint64_t id;
		char *path;
	} *q;
	size_t n, cap, head;
};

static void subq_push(struct subq *q, uint64_t id, char *path)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 16;
		q->q = bm_reallocarray(q->q, q->cap, sizeof *q->q);
	}
	q->q[q->n].id = id;
	q->q[q->n].path = path;
	q->n++;
}

struct stack_ent {
	struct inode_rec *ir;
	char *path;
};

static void emit_inode(struct bm_btrfs_fs *fs, struct scan *s,
		       struct inode_rec *ir, const char *path)
{
	bm_obj o = bm_object(fs->ctx, S_ISDIR(ir->mode) ? 'd' : 'f', fs->dev,
			     path);

	for (size_t i = ir->r0; i < ir->r1; i++)
		if (bm_emit_flags(fs->lvol, s->rg[i].logical, s->rg[i].len, o,
				  s->rg[i].flags) < 0)
			bm_warn(fs->ctx, fs->dev, s->rg[i].logical,
				"btrfs: %s: 0x%llx bytes at this logical "
				"address are (partly) outside every chunk or "
				"device: not mapped", path,
				(unsigned long long)s->rg[i].len);
	/* Each (inode, path) pair is emitted once with all the inode's
	 * ranges; a hard link's other names and a shared extent's other
	 * owners have objects of their own: done with O. */
	bm_object_release(fs->ctx, o);
}

/* Give every inode reachable from the subvolume's root directory its
 * path and emit it; queue linked subvolumes. */
static void name_and_emit(struct bm_btrfs_fs *fs, struct scan *s,
			  uint64_t root_dirid, const char *prefix,
			  struct subq *q, const struct roots *rs)
{
	struct stack_ent *st = NULL;
	size_t nst = 0, capst = 0, unreached = 0;
	struct inode_rec *root = find_inode(s, root_dirid);
	bm_obj orphan;
	bool cut = false; /* a directory was not walked (too deep) */

	if (!root) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: subvolume %llu has no root directory inode: "
			"its files are not mapped",
			(unsigned long long)s->subvol);
		return;
	}
	st = bm_malloc(sizeof *st);
	capst = 1;
	st[nst++] = (struct stack_ent){ root, bm_strdup(prefix) };
	/* Terminates: a directory is expanded at most once (done flag),
	 * each expansion pushes at most its own dirents, and other inodes
	 * push nothing. */
	while (nst > 0) {
		struct stack_ent e = st[--nst];
		struct inode_rec *ir = e.ir;

		/* A directory reached again (a damaged tree: directories
		 * have one name) is not walked twice; a file reached again
		 * is a hard link, mapped under this name too. */
		if (ir->done && S_ISDIR(ir->mode)) {
			free(e.path);
			continue;
		}
		ir->done = true;
		emit_inode(fs, s, ir, e.path);
		bool deep = S_ISDIR(ir->mode) &&
			    bm_dir_too_deep(fs->ctx, fs->dev, BM_NO_OFFSET,
					    e.path);
		cut = cut || deep;
		if (!S_ISDIR(ir->mode) || deep) {
			free(e.path);
			continue;
		}
		for (size_t i = ir->d0; i < ir->d1 && !bm_ctx_full(fs->ctx);
		     i++) {
			const struct dirent_rec *d = &s->de[i];
			const char *name = s->names.s + d->name_off;
			struct inode_rec *c;
			char *p;

			if (!bm_name_usable(name, d->name_len)) {
				bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
					"btrfs: subvolume %llu: bad name in "
					"%s: entry not mapped",
					(unsigned long long)s->subvol, e.path);
				continue;
			}
			if (d->child_type == BTRFS_ROOT_ITEM_KEY) {
				/* else an empty placeholder directory */
				if (linked_from(rs, d->child, s->subvol))
					subq_push(q, d->child,
						  bm_path_join(e.path, name,
							       d->name_len));
				continue;
			}
			if (d->child_type != BTRFS_INODE_ITEM_KEY)
				continue;
			c = find_inode(s, d->child);
			if (!c || (c->done && S_ISDIR(c->mode)))
				continue;
			p = bm_path_join(e.path, name, d->name_len);
			if (nst == capst) {
				capst *= 2;
				st = bm_reallocarray(st, capst, sizeof *st);
			}
			st[nst++] = (struct stack_ent){ c, p };
		}
		free(e.path);
	}
	free(st);

	/* Inodes with data but no name: unlinked-but-open files waiting
	 * for orphan cleanup.  Their bytes are still in use. */
	orphan = bm_object(fs->ctx, 'm', fs->dev, "btrfs orphan inode");
	for (size_t i = 0; i < s->nin; i++) {
		struct inode_rec *ir = &s->in[i];
		bm_obj o = orphan;

		if (ir->done || ir->r1 == ir->r0)
			continue;
		if (ir->ino > BTRFS_LAST_FREE_OBJECTID)
			/* Internal inodes above the user range: the old
			 * free inode number cache (objectid -12). */
			o = bm_object(fs->ctx, 'm', fs->dev,
				      "btrfs free inode cache");
		else
			unreached++;
		for (size_t k = ir->r0; k < ir->r1; k++)
			bm_emit_flags(fs->lvol, s->rg[k].logical, s->rg[k].len,
				      o, s->rg[k].flags);
	}
	if (unreached)
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: subvolume %llu: %zu inodes are not reachable "
			"from its root directory%s: mapped as <btrfs orphan "
			"inode>", (unsigned long long)s->subvol, unreached,
			cut ? ", or lie below a directory too deep to walk"
			    : "");
}

static struct root_rec *find_root(struct roots *rs, uint64_t id)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].objectid == id)
			return &rs->r[i];
	return NULL;
}

static void walk_subvol(struct bm_btrfs_fs *fs, struct root_rec *r,
			const char *path, struct subq *q,
			const struct roots *rs)
{
	struct scan s = { .subvol = r->objectid };

	r->visited = true;
	bm_btrfs_walk_tree(fs, r->bytenr, r->level, "btrfs fs tree", fs_cb, &s);
	name_and_emit(fs, &s, r->dirid, path, q, rs);
	scan_free(&s);
}

static void walk_subvolumes(struct bm_btrfs_fs *fs, struct roots *rs)
{
	struct subq q = { 0 };

	subq_push(&q, BTRFS_FS_TREE_OBJECTID, bm_strdup("/"));
	/* Terminates: each subvolume is walked at most once (visited). */
	for (q.head = 0; q.head < q.n; q.head++) {
		uint64_t id = q.q[q.head].id;
		char *path = q.q[q.head].path;
		struct root_rec *r = find_root(rs, id);

		if (!r || !is_fs_tree(id)) {
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"btrfs: %s links subvolume %llu, which has no "
				"root item: not mapped", path,
				(unsigned long long)id);
		} else if (r->visited) {
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"btrfs: subvolume %llu linked again at %s: "
				"mapped once", (unsigned long long)id, path);
		} else {
			walk_subvol(fs, r, path, &q, rs);
		}
		free(path);
	}
	free(q.q);

	/* Subvolumes that no directory links: deleted ones waiting for
	 * cleanup (refs == 0) keep their blocks until the cleaner runs. */
	for (size_t i = 0; i < rs->n; i++) {
		struct root_rec *r = &rs->r[i];
		if (r->visited || !is_fs_tree(r->objectid))
			continue;
		r->visited = true;
		if (r->refs)
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"btrfs: subvolume %llu is not linked in any "
				"directory: its tree is mapped, its files are "
				"not", (unsigned long long)r->objectid);
		bm_btrfs_walk_tree(fs, r->bytenr, r->level, "btrfs fs tree",
				   NULL, NULL);
	}
}

/* ---- log trees ------------------------------------------------------ */

/* Log trees hold what was fsync'ed since the last commit, replayed at the
 * next mount: their data extents are in use but belong to files only
 * after replay, so they are mapped as metadata. */
static int log_item_cb(struct bm_btrfs_fs *fs, const struct bm_btrfs_item *it,
		       void *opaque)
{
	bm_obj *o = opaque;

	if (it->type == BTRFS_EXTENT_DATA_KEY && it->size >= FE_SIZE &&
	    it->data[FE_TYPE] != BTRFS_FE_INLINE) {
		uint64_t b = bm_le64(it->data + FE_DISK_BYTENR);
		uint64_t n = bm_le64(it->data + FE_DISK_NUM_BYTES);
		if (b && n)
			bm_emit(fs->lvol, b, n, *o);
	}
	return 0;
}

static int log_cb(struct bm_btrfs_fs *fs, const struct bm_btrfs_item *it,
		  void *opaque)
{
	bm_obj o = bm_object(fs->ctx, 'm', fs->dev, "btrfs log data");

	(void)opaque;
	if (it->type == BTRFS_ROOT_ITEM_KEY && it->size >= ROOT_ITEM_MIN)
		bm_btrfs_walk_new_blocks(fs, bm_le64(it->data + RI_BYTENR),
					 it->data[RI_LEVEL], "btrfs log tree",
					 log_item_cb, &o);
	return 0;
}

/* ---- superblocks ---------------------------------------------------- */

void bm_btrfs_emit_supers(struct bm_btrfs_fs *fs)
{
	bm_obj o = bm_object(fs->ctx, 'm', fs->dev, "btrfs superblock");

	for (size_t d = 0; d < fs->ndevs; d++) {
		struct bm_volume *v = fs->devs[d].vol;
		uint64_t size = v->size;

		/* The kernel writes a mirror only if it fits in the device
		 * as the filesystem knows it. */
		if (fs->devs[d].total_bytes && fs->devs[d].total_bytes < size)
			size = fs->devs[d].total_bytes;
		for (int i = 0; i < BTRFS_SUPER_MIRRORS; i++) {
			uint64_t off = bm_btrfs_mirror_offset(i);
			if (bm_in_range(off, BTRFS_SUPER_SIZE, size))
				bm_emit(v, off, BTRFS_SUPER_SIZE, o);
		}
	}
}

int bm_btrfs_walk_fs(struct bm_btrfs_fs *fs)
{
	struct roots rs = { 0 };

	rs.cache_obj = bm_object(fs->ctx, 'm', fs->dev, "btrfs free space cache");
	if (bm_btrfs_walk_tree(fs, fs->sb.root, fs->sb.root_level,
			       "btrfs root tree", root_cb, &rs) < 0 &&
	    rs.n == 0) {
		free(rs.r);
		free(rs.br);
		return -1;
	}
	for (size_t i = 0; i < rs.n; i++) {
		struct root_rec *r = &rs.r[i];
		if (is_fs_tree(r->objectid))
			continue;
		/* The data reloc tree is an fs tree for relocation's data
		 * inode; its contents belong to no user-visible file. */
		bm_btrfs_walk_tree(fs, r->bytenr, r->level,
				   bm_btrfs_tree_name(r->objectid), NULL, NULL);
	}
	walk_subvolumes(fs, &rs);
	free(rs.r);
	free(rs.br);

	if (fs->sb.log_root) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: the log tree is not empty (not cleanly "
			"unmounted): data fsync'ed since the last commit is "
			"mapped as <btrfs log data>, not to its files");
		bm_btrfs_walk_tree(fs, fs->sb.log_root, fs->sb.log_root_level,
				   "btrfs log tree", log_cb, NULL);
	}
	return 0;
}
