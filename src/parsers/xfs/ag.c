/* XFS walker: allocation group headers and the per-AG btrees.
 *
 * Each AG starts with four sectors (xfs_format.h): a superblock copy, the
 * AGF (free space: roots of the by-block and by-count free-space btrees,
 * the reverse-map btree and the refcount btree), the AGI (roots of the
 * inode and free-inode btrees) and the AGFL (free list).  The AG btrees
 * use "short" blocks: a 16-byte header (56 with CRCs: blkno, lsn, uuid,
 * owner AG, crc at 52), then records in leaves or keys followed by 32-bit
 * AG block pointers in interior nodes; a node's pointer array starts
 * after maxrecs keys, maxrecs being what fits in the block.
 *
 * Every btree block is mapped as metadata; the inode btree's leaf records
 * locate the inode chunks (64 inodes each; with sparse inode chunks a
 * 16-bit hole mask says which groups of 4 inodes exist).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "xfs.h"

struct sbt {
	const char *what;
	uint32_t magic;
	unsigned keylen; /* a node entry's key bytes (low+high for rmap) */
	unsigned reclen;
	bm_obj obj;
	bool inobt; /* leaf records are inode chunks */
};

/* Map the inodes of one inode btree record (an inode chunk). */
static void map_chunk(struct bm_xfs *fs, uint32_t agno, const uint8_t *rec)
{
	uint32_t startino = bm_be32(rec);
	uint16_t holemask = fs->spinodes ? bm_be16(rec + 4) : 0;
	unsigned i = 0;

	/* A chunk starts on a block boundary (or, with more than 64 inodes
	 * per block, on a 64-inode boundary); without inode alignment
	 * (sb_inoalignmt) that is all that is guaranteed. */
	if (startino % (fs->inopblock < 64 ? fs->inopblock : 64u)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: AG %u: misaligned inode chunk %u, not mapped",
			agno, startino);
		return;
	}
	/* 16 hole-mask bits of 4 inodes each; emit each run of present
	 * inodes (the chunk is physically contiguous). */
	while (i < 16) {
		unsigned j = i;
		uint64_t first, last, off, endoff;

		if (holemask & (1u << i)) {
			i++;
			continue;
		}
		while (j < 16 && !(holemask & (1u << j)))
			j++;
		first = (uint64_t)startino + i * 4;
		last = (uint64_t)startino + j * 4 - 1;
		if (!bm_xfs_agb_to_off(fs, agno, first >> fs->inopblog, 1,
				       &off) ||
		    !bm_xfs_agb_to_off(fs, agno, last >> fs->inopblog, 1,
				       &endoff)) {
			bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
				"xfs: AG %u: inode chunk %u outside the AG, "
				"not mapped",
				agno, startino);
			return;
		}
		off += (first & (fs->inopblock - 1u)) << fs->inodelog;
		endoff += ((last & (fs->inopblock - 1u)) + 1) << fs->inodelog;
		bm_emit(fs->vol, off, endoff - off, fs->o_inodes);
		i = j;
	}
}

/* Walk the subtree at AGBNO expected to be at LEVEL.  Recursion depth is
 * bounded by LEVEL (< XFS_MAX_BTREE_LEVELS, strictly decreasing); each
 * block is visited once (fs->meta), so cycles and shared subtrees end. */
static void walk_sbtree(struct bm_xfs *fs, uint32_t agno, uint32_t agbno,
			unsigned level, const struct sbt *t)
{
	unsigned hdr = fs->crc ? 56 : 16;
	uint64_t off;
	uint8_t *b;
	unsigned nrecs, maxrecs, i;

	if (!bm_xfs_agb_to_off(fs, agno, agbno, 1, &off) || agbno == 0) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: AG %u: %s block %u out of range, not mapped",
			agno, t->what, agbno);
		return;
	}
	if (!bm_u64set_add(&fs->meta, off >> fs->blocklog)) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: %s block referenced twice, skipped", t->what);
		return;
	}
	b = bm_malloc(fs->blocksize);
	if (bm_xfs_read(fs, b, fs->blocksize, off) < 0) {
		bm_warn(fs->ctx, fs->dev, off, "xfs: cannot read %s block",
			t->what);
		goto out;
	}
	if (bm_be32(b) != t->magic || bm_be16(b + 4) != level ||
	    (fs->crc && bm_be32(b + 48) != agno)) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: bad %s block (magic/level/owner), not mapped",
			t->what);
		goto out;
	}
	if (fs->crc && !bm_xfs_crc_ok(b, fs->blocksize, 52))
		bm_xfs_crc_warn(fs, off, t->what);
	bm_emit(fs->vol, off, fs->blocksize, t->obj);

	nrecs = bm_be16(b + 6);
	maxrecs = (fs->blocksize - hdr) / (level ? t->keylen + 4 : t->reclen);
	if (nrecs > maxrecs) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: %s block has %u records (max %u)", t->what, nrecs,
			maxrecs);
		nrecs = maxrecs;
	}
	for (i = 0; i < nrecs; i++) {
		if (level == 0) {
			if (t->inobt)
				map_chunk(fs, agno, b + hdr + i * t->reclen);
		} else {
			const uint8_t *ptr = b + hdr + maxrecs * t->keylen;
			walk_sbtree(fs, agno, bm_be32(ptr + 4 * i), level - 1,
				    t);
		}
	}
out:
	free(b);
}

static void walk_root(struct bm_xfs *fs, uint32_t agno, uint32_t root,
		      uint32_t levels, const struct sbt *t)
{
	if (levels == 0 || levels > XFS_MAX_BTREE_LEVELS) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: AG %u: %s has %u levels, not mapped", agno,
			t->what, levels);
		return;
	}
	walk_sbtree(fs, agno, root, levels - 1, t);
}

static void walk_agf(struct bm_xfs *fs, uint32_t agno, const uint8_t *agf,
		     uint64_t off)
{
	struct sbt bno = { "free space btree",
			   fs->crc ? 0x41423342u : 0x41425442u, 8, 8,
			   fs->o_freesp, false };
	struct sbt cnt = { "free space btree",
			   fs->crc ? 0x41423343u : 0x41425443u, 8, 8,
			   fs->o_freesp, false };
	struct sbt rmap = { "rmap btree", 0x524d4233u, 40, 24, fs->o_rmap,
			    false };
	struct sbt refc = { "refcount btree", 0x52334643u, 4, 12, fs->o_refc,
			    false };

	if (bm_be32(agf) != XFS_AGF_MAGIC || bm_be32(agf + 8) != agno ||
	    bm_be32(agf + 12) != bm_xfs_ag_length(fs, agno)) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: AG %u: bad AGF, free space btrees not mapped",
			agno);
		return;
	}
	if (fs->crc && !bm_xfs_crc_ok(agf, fs->sectsize, 216))
		bm_xfs_crc_warn(fs, off, "AGF");
	bm_emit(fs->vol, off, fs->sectsize, fs->o_agf);
	walk_root(fs, agno, bm_be32(agf + 16), bm_be32(agf + 28), &bno);
	walk_root(fs, agno, bm_be32(agf + 20), bm_be32(agf + 32), &cnt);
	if (fs->rmapbt)
		walk_root(fs, agno, bm_be32(agf + 24), bm_be32(agf + 36),
			  &rmap);
	if (fs->reflink)
		walk_root(fs, agno, bm_be32(agf + 88), bm_be32(agf + 92),
			  &refc);
}

static void walk_agi(struct bm_xfs *fs, uint32_t agno, const uint8_t *agi,
		     uint64_t off)
{
	struct sbt ino = { "inode btree", fs->crc ? 0x49414233u : 0x49414254u,
			   4, 16, fs->o_inobt, true };
	struct sbt fino = { "free inode btree",
			    fs->crc ? 0x46494233u : 0x46494254u, 4, 16,
			    fs->o_finobt, false };

	if (bm_be32(agi) != XFS_AGI_MAGIC || bm_be32(agi + 8) != agno ||
	    bm_be32(agi + 12) != bm_xfs_ag_length(fs, agno)) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: AG %u: bad AGI, inodes not mapped", agno);
		return;
	}
	if (fs->crc && !bm_xfs_crc_ok(agi, fs->sectsize, 312))
		bm_xfs_crc_warn(fs, off, "AGI");
	bm_emit(fs->vol, off, fs->sectsize, fs->o_agi);
	walk_root(fs, agno, bm_be32(agi + 20), bm_be32(agi + 24), &ino);
	if (fs->finobt)
		walk_root(fs, agno, bm_be32(agi + 328), bm_be32(agi + 332),
			  &fino);
}

/* Map AG AGNO: its header sectors and btrees. */
int bm_xfs_walk_ag(struct bm_xfs *fs, uint32_t agno)
{
	uint64_t off;
	uint8_t *h;
	size_t s = fs->sectsize;

	if (!bm_xfs_agb_to_off(fs, agno, 0, 1, &off))
		return -1;
	/* One read for the four header sectors (with small blocks they
	 * span several blocks; super.c made sure an AG has at least 5). */
	h = bm_malloc(4 * s);
	if (bm_xfs_read(fs, h, 4 * s, off) < 0) {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: AG %u: cannot read headers, not mapped", agno);
		free(h);
		return -1;
	}
	if (bm_be32(h) == XFS_SB_MAGIC) {
		/* Secondary copies are only updated by growfs/repair, so a
		 * CRC mismatch there is only worth checking on AG 0. */
		bm_emit(fs->vol, off, s, fs->o_sb);
	} else {
		bm_warn(fs->ctx, fs->dev, off,
			"xfs: AG %u: no superblock copy", agno);
	}
	walk_agf(fs, agno, h + s, off + s);
	walk_agi(fs, agno, h + 2 * s, off + 2 * s);
	if (!fs->crc || bm_be32(h + 3 * s) == XFS_AGFL_MAGIC) {
		if (fs->crc && !bm_xfs_crc_ok(h + 3 * s, s, 32))
			bm_xfs_crc_warn(fs, off + 3 * s, "AGFL");
		bm_emit(fs->vol, off + 3 * s, s, fs->o_agfl);
	} else {
		bm_warn(fs->ctx, fs->dev, off + 3 * s,
			"xfs: AG %u: bad AGFL magic, not mapped", agno);
	}
	free(h);
	return 0;
}
