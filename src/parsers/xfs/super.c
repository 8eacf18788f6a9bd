/* XFS: superblock, probe and the top-level walk.
 *
 * Specification: xfsprogs' xfs_format.h (struct xfs_dsb) and the kernel's
 * Documentation/filesystems/xfs/ (XFS Algorithms & Data Structures).  The
 * primary superblock is sector 0 of AG 0; v5 (CRC-enabled) superblocks
 * carry a CRC32C at offset 224 over the whole sector.  Unknown
 * "incompatible" feature bits mean the layout may differ from what this
 * walker knows, so such a filesystem is refused rather than mis-mapped.
 *
 * The walk maps, in order: every AG's headers and btrees (ag.c), the
 * internal log, the realtime bitmap/summary and quota inodes' blocks, and
 * finally every directory and file reachable from the root (inode.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "xfs.h"

#define XFS_INCOMPAT_KNOWN                                              \
	(XFS_INCOMPAT_FTYPE | XFS_INCOMPAT_SPINODES | XFS_INCOMPAT_META_UUID | \
	 XFS_INCOMPAT_BIGTIME | XFS_INCOMPAT_NEEDSREPAIR |              \
	 XFS_INCOMPAT_NREXT64 | XFS_INCOMPAT_EXCHRANGE | XFS_INCOMPAT_PARENT)
#define XFS_RO_KNOWN \
	(XFS_RO_FINOBT | XFS_RO_RMAPBT | XFS_RO_REFLINK | XFS_RO_INOBTCNT)

static bool is_pow2_log(uint64_t v, unsigned log, uint64_t min, uint64_t max)
{
	return v >= min && v <= max && log < 32 && v == UINT64_C(1) << log;
}

/* Decode and check the superblock in SB (at least 512 bytes).  Returns
 * 1 if it is a usable XFS superblock, 0 if it is not XFS, -1 if it is
 * XFS but cannot be walked (after a warning). */
static int parse_sb(struct bm_xfs *fs, const uint8_t *sb)
{
	uint64_t agspan, last;
	unsigned v;

	if (bm_be32(sb) != XFS_SB_MAGIC)
		return 0;
	v = bm_be16(sb + 100) & XFS_SB_VERSION_NUMBITS;
	fs->blocksize = bm_be32(sb + 4);
	fs->dblocks = bm_be64(sb + 8);
	fs->rblocks = bm_be64(sb + 16);
	fs->logstart = bm_be64(sb + 48);
	fs->rootino = bm_be64(sb + 56);
	fs->rbmino = bm_be64(sb + 64);
	fs->rsumino = bm_be64(sb + 72);
	fs->agblocks = bm_be32(sb + 84);
	fs->agcount = bm_be32(sb + 88);
	fs->logblocks = bm_be32(sb + 96);
	fs->sectsize = bm_be16(sb + 102);
	fs->inodesize = bm_be16(sb + 104);
	fs->inopblock = bm_be16(sb + 106);
	fs->blocklog = sb[120];
	fs->sectlog = sb[121];
	fs->inodelog = sb[122];
	fs->inopblog = sb[123];
	fs->agblklog = sb[124];
	fs->uquotino = bm_be64(sb + 160);
	fs->gquotino = bm_be64(sb + 168);
	fs->dirblklog = sb[192];
	fs->features2 = bm_be32(sb + 200);

	/* Geometry: anything outside what mkfs.xfs can create is not (or
	 * no longer) XFS. */
	if ((v != 4 && v != 5) ||
	    !is_pow2_log(fs->blocksize, fs->blocklog, 512, 65536) ||
	    !is_pow2_log(fs->sectsize, fs->sectlog, 512, 32768) ||
	    fs->sectsize > fs->blocksize ||
	    !is_pow2_log(fs->inodesize, fs->inodelog, 256, 2048) ||
	    fs->inodesize > fs->blocksize ||
	    fs->inopblock != fs->blocksize / fs->inodesize ||
	    fs->inopblog != fs->blocklog - fs->inodelog ||
	    fs->agblocks < 5 || fs->agcount == 0 || fs->agblklog > 31 ||
	    fs->agblklog + fs->inopblog > 32 ||
	    (UINT64_C(1) << fs->agblklog) < fs->agblocks ||
	    (fs->agblklog && (UINT64_C(1) << (fs->agblklog - 1)) >=
				     fs->agblocks) ||
	    fs->blocklog + fs->dirblklog > 16)
		return 0;
	agspan = (uint64_t)fs->agcount * fs->agblocks;
	last = (uint64_t)(fs->agcount - 1) * fs->agblocks;
	/* The shape is XFS's; counts that disagree (an absurd agcount,
	 * a size near 2^64) are damage, reported. */
	if (fs->dblocks > agspan || fs->dblocks <= last ||
	    fs->dblocks > (UINT64_MAX >> fs->blocklog)) {
		bm_warn(fs->ctx, fs->dev, 0,
			"xfs: superblock geometry is inconsistent (%u AGs of "
			"%u blocks, %llu blocks in all): not mapped",
			fs->agcount, fs->agblocks,
			(unsigned long long)fs->dblocks);
		return -1;
	}
	fs->version = v;
	fs->dirblksize = fs->blocksize << fs->dirblklog;

	if (v == 5) {
		fs->crc = true;
		fs->ro_compat = bm_be32(sb + 212);
		fs->incompat = bm_be32(sb + 216);
		fs->pquotino = bm_be64(sb + 232);
		if (fs->inodesize < 512)
			return 0;
		if (fs->incompat & ~XFS_INCOMPAT_KNOWN) {
			bm_warn(fs->ctx, fs->dev, 0,
				"xfs: unsupported incompatible features 0x%x, "
				"filesystem not mapped",
				fs->incompat & ~XFS_INCOMPAT_KNOWN);
			return -1;
		}
		if (fs->ro_compat & ~XFS_RO_KNOWN)
			bm_warn(fs->ctx, fs->dev, 0,
				"xfs: unknown read-only-compatible features "
				"0x%x: their metadata is not mapped",
				fs->ro_compat & ~XFS_RO_KNOWN);
		if (fs->incompat & XFS_INCOMPAT_NEEDSREPAIR)
			bm_warn(fs->ctx, fs->dev, 0,
				"xfs: filesystem is marked as needing repair");
		fs->ftype = fs->incompat & XFS_INCOMPAT_FTYPE;
		fs->spinodes = fs->incompat & XFS_INCOMPAT_SPINODES;
		fs->nrext64 = fs->incompat & XFS_INCOMPAT_NREXT64;
		fs->finobt = fs->ro_compat & XFS_RO_FINOBT;
		fs->rmapbt = fs->ro_compat & XFS_RO_RMAPBT;
		fs->reflink = fs->ro_compat & XFS_RO_REFLINK;
	} else {
		uint16_t vn = bm_be16(sb + 100);

		if (!(vn & XFS_SB_VERSION_DIRV2BIT)) {
			bm_warn(fs->ctx, fs->dev, 0,
				"xfs: version 1 directories are not supported, "
				"filesystem not mapped");
			return -1;
		}
		if (vn & XFS_SB_VERSION_MOREBITSBIT) {
			if (fs->features2 & XFS_SB_VERSION2_CRCBIT)
				return 0; /* v4 with CRCs does not exist */
			fs->ftype = fs->features2 & XFS_SB_VERSION2_FTYPE;
		}
	}
	if (sb[126]) /* sb_inprogress: mkfs did not finish */
		bm_warn(fs->ctx, fs->dev, 0,
			"xfs: filesystem creation was not finished");
	return 1;
}

static int xfs_probe(struct bm_volume *v, void **state)
{
	struct bm_xfs *fs;
	uint8_t sb[512], *sect;
	int r;

	if (v->size < 4096 || bm_read(v, sb, sizeof(sb), 0) < 0 ||
	    bm_be32(sb) != XFS_SB_MAGIC)
		return 0;
	fs = bm_calloc(1, sizeof(*fs));
	fs->vol = v;
	fs->ctx = v->ctx;
	fs->dev = v->dev;
	r = parse_sb(fs, sb);
	if (r <= 0) {
		free(fs);
		return r;
	}
	if (fs->crc) {
		/* The CRC covers the whole sector. */
		sect = bm_malloc(fs->sectsize);
		if (bm_read(v, sect, fs->sectsize, 0) < 0) {
			free(sect);
			free(fs);
			return 0;
		}
		if (!bm_xfs_crc_ok(sect, fs->sectsize, 224))
			bm_warn(fs->ctx, fs->dev, 0,
				"xfs: superblock CRC mismatch");
		free(sect);
	}
	*state = fs;
	return 1;
}

static void make_objects(struct bm_xfs *fs)
{
	struct bm_ctx *c = fs->ctx;
	const char *d = fs->dev;

	fs->o_sb = bm_object(c, 'm', d, "xfs superblock");
	fs->o_agf = bm_object(c, 'm', d, "xfs agf");
	fs->o_agi = bm_object(c, 'm', d, "xfs agi");
	fs->o_agfl = bm_object(c, 'm', d, "xfs agfl");
	fs->o_freesp = bm_object(c, 'm', d, "xfs free space btree");
	fs->o_inobt = bm_object(c, 'm', d, "xfs inode btree");
	fs->o_finobt = bm_object(c, 'm', d, "xfs free inode btree");
	fs->o_rmap = bm_object(c, 'm', d, "xfs rmap btree");
	fs->o_refc = bm_object(c, 'm', d, "xfs refcount btree");
	fs->o_log = bm_object(c, 'm', d, "xfs log");
	fs->o_inodes = bm_object(c, 'm', d, "xfs inodes");
	fs->o_rtbm = bm_object(c, 'm', d, "xfs rt bitmap");
	fs->o_rtsum = bm_object(c, 'm', d, "xfs rt summary");
	fs->o_quota = bm_object(c, 'm', d, "xfs quota");
}

static int xfs_walk(struct bm_volume *v, void *state)
{
	struct bm_xfs *fs = state;
	uint32_t agno;

	make_objects(fs);
	v->fs_size = fs->dblocks << fs->blocklog; /* checked in probe */
	if (fs->dblocks > (v->size >> fs->blocklog))
		bm_finding(fs->ctx, "fs-larger-than-volume", BM_SEV_ERROR,
			   fs->dev, BM_NO_OFFSET,
			   "xfs: filesystem (%llu blocks) is larger than its "
			   "volume; the part beyond is not mapped",
			   (unsigned long long)fs->dblocks);
	bm_debug(fs->ctx,
		 "xfs v%u on %s: %u AGs of %u blocks of %u bytes, "
		 "ro_compat 0x%x incompat 0x%x",
		 fs->version, fs->dev, fs->agcount, fs->agblocks,
		 fs->blocksize, fs->ro_compat, fs->incompat);

	/* Terminates: AGCOUNT iterations; an AG whose header lies beyond
	 * the volume ends the loop. */
	for (agno = 0; agno < fs->agcount; agno++) {
		uint64_t off;

		if (!bm_xfs_agb_to_off(fs, agno, 0, 1, &off) ||
		    off >= v->size)
			break;
		bm_xfs_walk_ag(fs, agno);
	}

	if (fs->logstart) {
		bm_xfs_emit_fsb(fs, fs->logstart, fs->logblocks, fs->o_log, 0,
				"internal log");
		bm_xfs_check_log(fs);
	} else {
		bm_debug(fs->ctx, "xfs on %s: external log", fs->dev);
	}
	bm_xfs_map_meta_inode(fs, fs->rbmino, fs->o_rtbm, "rt bitmap");
	bm_xfs_map_meta_inode(fs, fs->rsumino, fs->o_rtsum, "rt summary");
	bm_xfs_map_meta_inode(fs, fs->uquotino, fs->o_quota, "user quota");
	bm_xfs_map_meta_inode(fs, fs->gquotino, fs->o_quota, "group quota");
	if (fs->version == 5)
		bm_xfs_map_meta_inode(fs, fs->pquotino, fs->o_quota,
				      "project quota");
	bm_xfs_walk_tree(fs);

	bm_xfs_cache_free(fs);
	bm_u64set_free(&fs->meta);
	bm_u64set_free(&fs->inodes);
	free(fs);
	return 0;
}

const struct bm_prober bm_xfs_prober = {
	.name = "xfs",
	.kind = BM_PROBE_FS,
	.probe = xfs_probe,
	.walk = xfs_walk,
};
