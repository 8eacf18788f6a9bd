/* XFS walker: shared definitions.
 *
 * The on-disk format is specified by xfsprogs' headers (xfslibs-dev:
 * /usr/include/xfs/xfs_format.h, xfs_da_format.h, xfs_log_format.h) and
 * the kernel's fs/xfs/libxfs and Documentation/filesystems/xfs/.  All
 * metadata is big-endian; CRCs (v5) are CRC32C stored little-endian,
 * computed over the structure with the CRC field taken as zero.
 *
 * Layout of the walker:
 *   super.c  superblock, probe, top-level walk, the prober descriptor
 *   io.c     cached reads, CRC checks, block-number conversions
 *   ag.c     per-AG headers and the short-form (AG) btrees
 *   inode.c  inode decoding and the directory-tree walk
 *   bmap.c   extent lists and bmap btrees (data/attr forks)
 *   dir.c    directory formats (shortform, block, leaf, node, btree)
 *   attr.c   attribute forks
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_XFS_H
#define BM_XFS_H

#include <stdlib.h>

#include "bmapgen.h"

/* Magic numbers (xfs_format.h, xfs_da_format.h). */
#define XFS_SB_MAGIC 0x58465342u        /* XFSB */
#define XFS_AGF_MAGIC 0x58414746u       /* XAGF */
#define XFS_AGI_MAGIC 0x58414749u       /* XAGI */
#define XFS_AGFL_MAGIC 0x5841464cu      /* XAFL */
#define XFS_DINODE_MAGIC 0x494eu        /* IN */
#define XFS_BMAP_MAGIC 0x424d4150u      /* BMAP */
#define XFS_BMAP_CRC_MAGIC 0x424d4133u  /* BMA3 */
#define XFS_DIR2_BLOCK_MAGIC 0x58443242u /* XD2B */
#define XFS_DIR2_DATA_MAGIC 0x58443244u  /* XD2D */
#define XFS_DIR3_BLOCK_MAGIC 0x58444233u /* XDB3 */
#define XFS_DIR3_DATA_MAGIC 0x58444433u  /* XDD3 */

/* Superblock feature bits. */
#define XFS_SB_VERSION_NUMBITS 0x000f
#define XFS_SB_VERSION_DIRV2BIT 0x2000
#define XFS_SB_VERSION_MOREBITSBIT 0x8000
#define XFS_SB_VERSION2_FTYPE 0x00000200u
#define XFS_SB_VERSION2_CRCBIT 0x00000100u
#define XFS_RO_FINOBT (1u << 0)
#define XFS_RO_RMAPBT (1u << 1)
#define XFS_RO_REFLINK (1u << 2)
#define XFS_RO_INOBTCNT (1u << 3)
#define XFS_INCOMPAT_FTYPE (1u << 0)
#define XFS_INCOMPAT_SPINODES (1u << 1)
#define XFS_INCOMPAT_META_UUID (1u << 2)
#define XFS_INCOMPAT_BIGTIME (1u << 3)
#define XFS_INCOMPAT_NEEDSREPAIR (1u << 4)
#define XFS_INCOMPAT_NREXT64 (1u << 5)
#define XFS_INCOMPAT_EXCHRANGE (1u << 6) /* newer kernels: no layout change */
#define XFS_INCOMPAT_PARENT (1u << 7)    /* parent pointers live in xattrs */

/* Inode fields. */
#define XFS_DINODE_FMT_DEV 0
#define XFS_DINODE_FMT_LOCAL 1
#define XFS_DINODE_FMT_EXTENTS 2
#define XFS_DINODE_FMT_BTREE 3
#define XFS_DIFLAG_REALTIME 0x0001u
#define XFS_DIFLAG2_NREXT64 (1u << 4)
#define XFS_NULLFSINO UINT64_MAX
#define XFS_NULLAGBLOCK UINT32_MAX

#define XFS_DATA_FORK 0
#define XFS_ATTR_FORK 1

/* Bounds that keep hostile images finite. */
#define XFS_MAX_BTREE_LEVELS 16 /* real trees are < 10 levels deep */

struct bm_xfs_cache;

/* One mounted-for-reading filesystem (the walker's handle). */
struct bm_xfs {
	struct bm_volume *vol;
	struct bm_ctx *ctx;
	const char *dev;

	/* Superblock geometry. */
	uint32_t blocksize, sectsize, agblocks, agcount, logblocks;
	unsigned blocklog, sectlog, agblklog, inodelog, inopblog, dirblklog;
	uint16_t inodesize, inopblock;
	uint32_t dirblksize;
	uint64_t dblocks, rblocks, logstart;
	uint64_t rootino, rbmino, rsumino, uquotino, gquotino, pquotino;
	unsigned version; /* 4 or 5 */
	uint32_t features2, ro_compat, incompat;
	bool crc, ftype, spinodes, finobt, rmapbt, reflink, nrext64;

	/* Metadata objects (interned once; a small stable set). */
	bm_obj o_sb, o_agf, o_agi, o_agfl, o_freesp, o_inobt, o_finobt;
	bm_obj o_rmap, o_refc, o_log, o_inodes, o_rtbm, o_rtsum, o_quota;

	struct bm_xfs_cache *cache;
	struct bm_u64set meta;   /* fs blocks claimed by metadata btrees */
	struct bm_u64set inodes; /* directories reached by the tree walk */
	unsigned crc_errors;     /* to cap the number of CRC warnings */
	bool rt_warned;
};

/* One decoded inode. */
struct bm_xfs_inode {
	uint64_t ino;
	const char *path; /* for messages: set by the tree walk, or NULL */
	uint64_t off; /* volume byte offset of the inode */
	uint8_t *raw; /* inodesize bytes (owned) */
	uint16_t mode;
	uint8_t version, format, aformat;
	uint16_t flags;
	uint64_t flags2;
	uint64_t size, nextents, anextents;
	uint32_t dfork_off, dfork_size; /* within the inode */
	uint32_t afork_off, afork_size; /* afork_size 0: no attr fork */
};

/* An extent of a fork: file block OFF.. maps to fs block FSB.. */
struct bm_xfs_ext {
	uint64_t off, fsb, len;
	bool unwritten;
};
typedef int (*bm_xfs_ext_cb)(struct bm_xfs *fs, const struct bm_xfs_ext *e,
			     void *opaque);

/* log.c: report a dirty internal log (finding fs-needs-recovery). */
void bm_xfs_check_log(struct bm_xfs *fs);

/* io.c */
int bm_xfs_read(struct bm_xfs *fs, void *buf, size_t len, uint64_t off);
void bm_xfs_cache_free(struct bm_xfs *fs);
bool bm_xfs_crc_ok(const uint8_t *buf, size_t len, size_t crcoff);
void bm_xfs_crc_warn(struct bm_xfs *fs, uint64_t off, const char *what);
bool bm_xfs_fsb_to_off(const struct bm_xfs *fs, uint64_t fsb, uint64_t count,
		       uint64_t *off);
bool bm_xfs_agb_to_off(const struct bm_xfs *fs, uint32_t agno, uint64_t agbno,
		       uint64_t count, uint64_t *off);
uint64_t bm_xfs_ag_length(const struct bm_xfs *fs, uint32_t agno);
int bm_xfs_emit_fsb(struct bm_xfs *fs, uint64_t fsb, uint64_t count,
		    bm_obj obj, unsigned flags, const char *what);

/* ag.c */
int bm_xfs_walk_ag(struct bm_xfs *fs, uint32_t agno);

/* inode.c */
bool bm_xfs_ino_to_off(const struct bm_xfs *fs, uint64_t ino, uint64_t *off);
int bm_xfs_inode_read(struct bm_xfs *fs, uint64_t ino,
		      struct bm_xfs_inode *ip);
void bm_xfs_inode_free(struct bm_xfs_inode *ip);
int bm_xfs_map_meta_inode(struct bm_xfs *fs, uint64_t ino, bm_obj obj,
			  const char *what);
int bm_xfs_walk_tree(struct bm_xfs *fs);

/* bmap.c */
int bm_xfs_fork_extents(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
			int whichfork, bm_obj owner, bm_xfs_ext_cb cb,
			void *opaque);
int bm_xfs_map_fork(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		    int whichfork, bm_obj owner);

/* dir.c */
typedef int (*bm_xfs_dirent_cb)(struct bm_xfs *fs, const char *name,
				size_t namelen, uint64_t ino, void *opaque);
int bm_xfs_dir_walk(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		    bm_obj owner, bm_xfs_dirent_cb cb, void *opaque);

/* attr.c */
int bm_xfs_map_attr(struct bm_xfs *fs, const struct bm_xfs_inode *ip,
		    bm_obj owner);

#endif
