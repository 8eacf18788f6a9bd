/* btrfs tree blocks: reading, verification and the generic B-tree walk.
 *
 * A tree block (nodesize bytes at a logical address) starts with struct
 * btrfs_header (checksum, fsid, bytenr, flags, chunk tree uuid,
 * generation, owner, nritems, level).  Leaves (level 0) hold an array of
 * struct btrfs_item (key, data offset relative to the end of the header,
 * data size); nodes hold struct btrfs_key_ptr (key, child block pointer,
 * generation).  Spec: btrfs-progs ctree.h, kernel fs/btrfs/tree-checker.c.
 *
 * A block that fails verification is retried from the other copies
 * (DUP/RAID1...), as the kernel does on a checksum error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "btrfs.h"

const char *bm_btrfs_tree_name(uint64_t id)
{
	switch (id) {
	case BTRFS_ROOT_TREE_OBJECTID: return "btrfs root tree";
	case BTRFS_EXTENT_TREE_OBJECTID: return "btrfs extent tree";
	case BTRFS_CHUNK_TREE_OBJECTID: return "btrfs chunk tree";
	case BTRFS_DEV_TREE_OBJECTID: return "btrfs dev tree";
	case BTRFS_FS_TREE_OBJECTID: return "btrfs fs tree";
	case BTRFS_CSUM_TREE_OBJECTID: return "btrfs csum tree";
	case BTRFS_QUOTA_TREE_OBJECTID: return "btrfs quota tree";
	case BTRFS_UUID_TREE_OBJECTID: return "btrfs uuid tree";
	case BTRFS_FREE_SPACE_TREE_OBJECTID: return "btrfs free space tree";
	case BTRFS_BLOCK_GROUP_TREE_OBJECTID: return "btrfs block group tree";
	case BTRFS_RAID_STRIPE_TREE_OBJECTID: return "btrfs raid stripe tree";
	case BTRFS_TREE_LOG_OBJECTID: return "btrfs log tree";
	case BTRFS_TREE_RELOC_OBJECTID: return "btrfs reloc tree";
	case BTRFS_DATA_RELOC_TREE_OBJECTID: return "btrfs data reloc tree";
	default:
		if (id >= BTRFS_FIRST_FREE_OBJECTID &&
		    id <= BTRFS_LAST_FREE_OBJECTID)
			return "btrfs fs tree";
		return "btrfs tree";
	}
}

/* Verify the block in BUF as the tree block at BYTENR of level LEVEL.
 * Returns NULL if good, else the reason. */
static const char *verify_block(struct bm_btrfs_fs *fs, const uint8_t *buf,
				uint64_t bytenr, unsigned level, bool known_good)
{
	uint32_t ns = fs->sb.nodesize, nritems;
	int c = known_good ? 1 : bm_btrfs_csum_check(fs->sb.csum_type, buf, ns);

	if (c == 0)
		return "checksum mismatch";
	if (c < 0 && !fs->warned_csum) {
		fs->warned_csum = true;
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: unknown checksum type %u: tree blocks are "
			"not verified",
			fs->sb.csum_type);
	}
	if (bm_le64(buf + HDR_BYTENR) != bytenr)
		return "header bytenr does not match its address";
	if (memcmp(buf + HDR_FSID, fs->sb.metadata_uuid, 16) != 0)
		return "header fsid does not match";
	if (buf[HDR_LEVEL] != level)
		return "unexpected tree level";
	nritems = bm_le32(buf + HDR_NRITEMS);
	if (level == 0 ? nritems > (ns - HDR_SIZE) / ITEM_SIZE
		       : nritems == 0 || nritems > (ns - HDR_SIZE) / KEYPTR_SIZE)
		return "bad item count";
	return NULL;
}

/* Read the tree block at BYTENR into BUF (nodesize bytes), trying every
 * copy until one verifies. */
static int read_block(struct bm_btrfs_fs *fs, uint64_t bytenr, unsigned level,
		      uint8_t *buf)
{
	uint32_t ns = fs->sb.nodesize;
	unsigned copies;
	const char *why = "not mapped by any chunk";

	if (bytenr == 0 || bytenr % fs->sb.sectorsize) {
		bm_warn(fs->ctx, fs->dev, bytenr,
			"btrfs: unaligned tree block pointer, subtree not mapped");
		return -1;
	}
	copies = bm_btrfs_num_copies(fs, bytenr);
	for (unsigned m = 0; m < copies; m++) {
		if (bm_btrfs_read_mirror(fs, bytenr, buf, ns, m) < 0) {
			why = errno == ENODATA ? "device missing"
					       : "read error";
			continue;
		}
		why = verify_block(fs, buf, bytenr, level,
				   m == 0 && bm_u64set_has(&fs->verified0, bytenr));
		if (!why) {
			if (m == 0)
				bm_u64set_add(&fs->verified0, bytenr);
			if (m > 0)
				bm_debug(fs->ctx, "btrfs: tree block 0x%llx: "
					 "used copy %u", (unsigned long long)bytenr,
					 m + 1);
			return 0;
		}
	}
	bm_warn(fs->ctx, fs->dev, bytenr,
		"btrfs: tree block (level %u): %s; subtree not mapped", level,
		why);
	return -1;
}

struct pf {
	struct bm_volume *vol;
	uint64_t phys, len;
};

struct walk {
	struct bm_btrfs_fs *fs;
	bm_btrfs_item_cb cb;
	void *opaque;
	bm_obj obj;
	bool once; /* skip blocks emitted before, with their subtrees */
	struct bm_u64set visited;
	uint8_t *bufs[BTRFS_MAX_LEVEL];
	struct pf *pf; /* prefetch ranges, one per child pointer */
	size_t pfcap;
};

static int pf_cmp(const void *a, const void *b)
{
	const struct pf *x = a, *y = b;
	if (x->vol != y->vol)
		return (uintptr_t)x->vol < (uintptr_t)y->vol ? -1 : 1;
	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

/* Gaps up to this size between children are fetched with them: one
 * larger read beats two small ones. */
#define PF_GAP (64u << 10)

/* The children of node BUF are read next, one block at a time in key
 * order, which is not disk order: hint their first copies to the kernel
 * at once, sorted and joined, so it fetches them in few large reads
 * while the walk goes on.  A hint only: a bad pointer is reported when
 * it is read. */
static void prefetch_children(struct walk *w, const uint8_t *buf,
			      uint32_t nritems)
{
	struct bm_btrfs_fs *fs = w->fs;
	uint32_t ns = fs->sb.nodesize;
	size_t n = 0;

	if (w->pfcap < nritems) {
		w->pfcap = nritems;
		w->pf = bm_reallocarray(w->pf, w->pfcap, sizeof *w->pf);
	}
	for (uint32_t i = 0; i < nritems; i++) {
		const uint8_t *kp = buf + HDR_SIZE + (size_t)i * KEYPTR_SIZE;
		uint64_t bytenr = bm_le64(kp + KEY_SIZE), piece;
		struct bm_btrfs_loc locs[BTRFS_MAX_LOCS];

		/* Already read in this tree (or shared and verified): the
		 * walk will not read it from disk again. */
		if (bm_u64set_has(&w->visited, bytenr) ||
		    bm_u64set_has(&fs->verified0, bytenr))
			continue;
		if (bm_btrfs_resolve(fs, bytenr, ns, locs, &piece) == 0 ||
		    !locs[0].vol || (locs[0].flags & BM_RANGE_PARITY))
			continue;
		w->pf[n++] = (struct pf){ locs[0].vol, locs[0].phys, piece };
	}
	bm_qsort(w->pf, n, sizeof *w->pf, pf_cmp);
	for (size_t i = 0; i < n;) {
		struct pf r = w->pf[i++];
		/* Each pass takes at least one entry: ends. */
		while (i < n && w->pf[i].vol == r.vol &&
		       w->pf[i].phys >= r.phys &&
		       w->pf[i].phys - (r.phys + r.len) <= PF_GAP) {
			uint64_t end = w->pf[i].phys + w->pf[i].len;
			if (end > r.phys + r.len)
				r.len = end - r.phys;
			i++;
		}
		bm_volume_prefetch(r.vol, r.phys, r.len);
	}
}

/* Recursion depth is bounded by BTRFS_MAX_LEVEL: levels strictly
 * decrease.  The visited set bounds the work on hostile trees that
 * reference a block many times. */
static int walk_block(struct walk *w, uint64_t bytenr, unsigned level)
{
	struct bm_btrfs_fs *fs = w->fs;
	uint32_t ns = fs->sb.nodesize, nritems;
	uint8_t *buf;
	int rc = 0;

	if (bm_u64set_has(&w->visited, bytenr)) {
		bm_warn(fs->ctx, fs->dev, bytenr,
			"btrfs: tree block referenced twice in one tree");
		return -1;
	}
	/* A block emitted before (by another walk) had its whole subtree
	 * walked then: a walk descends into every child of a block it
	 * emits. */
	if (w->once && bm_u64set_has(&fs->emitted, bytenr))
		return 0;
	bm_u64set_add(&w->visited, bytenr);
	if (!w->bufs[level])
		w->bufs[level] = bm_malloc(ns);
	buf = w->bufs[level];
	if (read_block(fs, bytenr, level, buf) < 0)
		return -1;
	if (bm_u64set_add(&fs->emitted, bytenr))
		bm_emit(fs->lvol, bytenr, ns, w->obj);

	nritems = bm_le32(buf + HDR_NRITEMS);
	if (level == 0) {
		for (uint32_t i = 0; i < nritems && w->cb; i++) {
			const uint8_t *ip = buf + HDR_SIZE + (size_t)i * ITEM_SIZE;
			struct bm_btrfs_item it;
			uint32_t off = bm_le32(ip + KEY_SIZE);
			int r;

			it.size = bm_le32(ip + KEY_SIZE + 4);
			if (!bm_in_range(off, it.size, ns - HDR_SIZE)) {
				bm_warn(fs->ctx, fs->dev, bytenr,
					"btrfs: leaf item %u out of bounds", i);
				rc = -1;
				continue;
			}
			it.objectid = bm_le64(ip);
			it.type = ip[8];
			it.offset = bm_le64(ip + 9);
			it.data = buf + HDR_SIZE + off;
			it.data_logical = bytenr + HDR_SIZE + off;
			it.owner = bm_le64(buf + HDR_OWNER);
			r = w->cb(fs, &it, w->opaque);
			if (r > 0)
				return 1;
			if (r < 0)
				rc = -1;
		}
		return rc;
	}
	prefetch_children(w, buf, nritems);
	for (uint32_t i = 0; i < nritems; i++) {
		const uint8_t *kp = buf + HDR_SIZE + (size_t)i * KEYPTR_SIZE;
		int r = walk_block(w, bm_le64(kp + KEY_SIZE), level - 1);

		/* The child overwrote bufs[level-1] only; BUF is intact. */
		if (r > 0)
			return 1;
		if (r < 0)
			rc = -1;
	}
	return rc;
}

static int walk_tree(struct bm_btrfs_fs *fs, uint64_t root, unsigned level,
		     const char *mname, bm_btrfs_item_cb cb, void *opaque,
		     bool once)
{
	struct walk w = {
		.fs = fs,
		.cb = cb,
		.opaque = opaque,
		.obj = bm_object(fs->ctx, 'm', fs->dev, mname),
		.once = once,
	};
	int rc;

	if (level >= BTRFS_MAX_LEVEL) {
		bm_warn(fs->ctx, fs->dev, root, "btrfs: %s: bad root level %u",
			mname, level);
		return -1;
	}
	rc = walk_block(&w, root, level);
	for (unsigned i = 0; i < BTRFS_MAX_LEVEL; i++)
		free(w.bufs[i]);
	free(w.pf);
	bm_u64set_free(&w.visited);
	return rc < 0 ? -1 : 0;
}

int bm_btrfs_walk_tree(struct bm_btrfs_fs *fs, uint64_t root, unsigned level,
		       const char *mname, bm_btrfs_item_cb cb, void *opaque)
{
	/* Without a callback only the blocks matter: those emitted before
	 * (trees sharing them, K roots naming one tree) are not walked
	 * again. */
	return walk_tree(fs, root, level, mname, cb, opaque, cb == NULL);
}

int bm_btrfs_walk_new_blocks(struct bm_btrfs_fs *fs, uint64_t root,
			     unsigned level, const char *mname,
			     bm_btrfs_item_cb cb, void *opaque)
{
	return walk_tree(fs, root, level, mname, cb, opaque, true);
}
