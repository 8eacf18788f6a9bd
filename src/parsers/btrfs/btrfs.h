/* btrfs walker: shared definitions.
 *
 * Specification: the kernel's Documentation/filesystems/btrfs.rst and the
 * btrfs on-disk format as published in btrfs-progs' headers (ctree.h,
 * volumes.h) and https://btrfs.readthedocs.io/en/latest/dev/On-disk-format.html.
 * Field offsets below are byte offsets into the packed on-disk structures;
 * every field is read with bm_le*() from a byte buffer.
 *
 * Layout of the walker:
 *   super.c  superblock parsing and checksums (crc32c, xxhash64, sha256)
 *   blake2b.c BLAKE2b-256 for the blake2b checksum type
 *   chunk.c  chunk map and the logical address space volume (RAID math)
 *   tree.c   tree block reading/verification and the generic tree walk
 *   fs.c     subvolumes, directories, inodes and file extents
 *   btrfs.c  probe, multi-device registration/assembly, prober descriptor
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_BTRFS_H
#define BM_BTRFS_H

#include "bmapgen.h"

/* ---- superblock ---------------------------------------------------- */
#define BTRFS_SUPER_OFF 0x10000ull
#define BTRFS_SUPER_SIZE 4096u
#define BTRFS_SUPER_MIRRORS 3
#define BTRFS_CSUM_SIZE 32u
#define BTRFS_SYS_ARRAY_MAX 2048u

#define SB_CSUM 0x00
#define SB_FSID 0x20
#define SB_BYTENR 0x30
#define SB_FLAGS 0x38
#define SB_MAGIC 0x40
#define SB_GENERATION 0x48
#define SB_ROOT 0x50
#define SB_CHUNK_ROOT 0x58
#define SB_LOG_ROOT 0x60
#define SB_TOTAL_BYTES 0x70
#define SB_NUM_DEVICES 0x88
#define SB_SECTORSIZE 0x90
#define SB_NODESIZE 0x94
#define SB_STRIPESIZE 0x9c
#define SB_SYS_ARRAY_SIZE 0xa0
#define SB_COMPAT_RO 0xb4
#define SB_INCOMPAT 0xbc
#define SB_CSUM_TYPE 0xc4
#define SB_ROOT_LEVEL 0xc6
#define SB_CHUNK_ROOT_LEVEL 0xc7
#define SB_LOG_ROOT_LEVEL 0xc8
#define SB_DEV_ITEM 0xc9
#define SB_METADATA_UUID 0x23b
#define SB_SYS_ARRAY 0x32b

/* struct btrfs_dev_item (98 bytes) */
#define DEV_ITEM_SIZE 98u
#define DI_DEVID 0
#define DI_TOTAL_BYTES 8
#define DI_UUID 66
#define DI_FSID 82

#define BTRFS_SUPER_FLAG_SEEDING (1ull << 32)
#define BTRFS_INCOMPAT_METADATA_UUID (1ull << 10)
#define BTRFS_INCOMPAT_ZONED (1ull << 12)
#define BTRFS_INCOMPAT_EXTENT_TREE_V2 (1ull << 13)
#define BTRFS_INCOMPAT_RAID_STRIPE_TREE (1ull << 14)

enum {
	BTRFS_CSUM_CRC32C = 0,
	BTRFS_CSUM_XXHASH = 1,
	BTRFS_CSUM_SHA256 = 2,
	BTRFS_CSUM_BLAKE2 = 3,
};

/* ---- tree blocks ---------------------------------------------------- */
#define HDR_SIZE 101u /* struct btrfs_header */
#define HDR_FSID 0x20
#define HDR_BYTENR 0x30
#define HDR_GENERATION 0x50
#define HDR_OWNER 0x58
#define HDR_NRITEMS 0x60
#define HDR_LEVEL 0x64
#define KEY_SIZE 17u
#define ITEM_SIZE 25u    /* key, u32 data offset (from header end), u32 size */
#define KEYPTR_SIZE 33u  /* key, u64 blockptr, u64 generation */
#define BTRFS_MAX_LEVEL 8

/* object ids */
#define BTRFS_ROOT_TREE_OBJECTID 1ull
#define BTRFS_EXTENT_TREE_OBJECTID 2ull
#define BTRFS_CHUNK_TREE_OBJECTID 3ull
#define BTRFS_DEV_TREE_OBJECTID 4ull
#define BTRFS_FS_TREE_OBJECTID 5ull
#define BTRFS_CSUM_TREE_OBJECTID 7ull
#define BTRFS_QUOTA_TREE_OBJECTID 8ull
#define BTRFS_UUID_TREE_OBJECTID 9ull
#define BTRFS_FREE_SPACE_TREE_OBJECTID 10ull
#define BTRFS_BLOCK_GROUP_TREE_OBJECTID 11ull
#define BTRFS_RAID_STRIPE_TREE_OBJECTID 12ull
#define BTRFS_TREE_LOG_OBJECTID ((uint64_t)-6)
#define BTRFS_TREE_RELOC_OBJECTID ((uint64_t)-8)
#define BTRFS_DATA_RELOC_TREE_OBJECTID ((uint64_t)-9)
#define BTRFS_FIRST_FREE_OBJECTID 256ull
#define BTRFS_LAST_FREE_OBJECTID ((uint64_t)-256)
#define BTRFS_FIRST_CHUNK_TREE_OBJECTID 256ull

/* key types */
#define BTRFS_INODE_ITEM_KEY 1
#define BTRFS_INODE_REF_KEY 12
#define BTRFS_XATTR_ITEM_KEY 24
#define BTRFS_VERITY_DESC_ITEM_KEY 36
#define BTRFS_VERITY_MERKLE_ITEM_KEY 37
#define BTRFS_DIR_ITEM_KEY 84
#define BTRFS_DIR_INDEX_KEY 96
#define BTRFS_EXTENT_DATA_KEY 108
#define BTRFS_ROOT_ITEM_KEY 132
#define BTRFS_ROOT_BACKREF_KEY 144
#define BTRFS_DEV_ITEM_KEY 216
#define BTRFS_CHUNK_ITEM_KEY 228

/* struct btrfs_root_item */
#define ROOT_ITEM_MIN 239u
#define RI_ROOT_DIRID 168
#define RI_BYTENR 176
#define RI_REFS 216
#define RI_LEVEL 238

/* struct btrfs_inode_item */
#define INODE_ITEM_SIZE 160u
#define II_SIZE 16
#define II_MODE 52

/* struct btrfs_dir_item: location key, transid, data_len, name_len, type */
#define DIR_ITEM_HDR 30u
#define DIR_DATA_LEN 25
#define DIR_NAME_LEN 27

/* struct btrfs_file_extent_item */
#define FE_INLINE_DATA 21u
#define FE_SIZE 53u
#define FE_COMPRESSION 16
#define FE_ENCRYPTION 17
#define FE_OTHER_ENC 18
#define FE_TYPE 20
#define FE_DISK_BYTENR 21
#define FE_DISK_NUM_BYTES 29
#define FE_OFFSET 37
#define FE_NUM_BYTES 45
enum { BTRFS_FE_INLINE = 0, BTRFS_FE_REG = 1, BTRFS_FE_PREALLOC = 2 };

/* struct btrfs_chunk, followed by num_stripes struct btrfs_stripe */
#define CHUNK_HDR 48u
#define CH_LENGTH 0
#define CH_STRIPE_LEN 16
#define CH_TYPE 24
#define CH_NUM_STRIPES 44
#define CH_SUB_STRIPES 46
#define STRIPE_SIZE 32u

#define BTRFS_BG_DATA (1ull << 0)
#define BTRFS_BG_SYSTEM (1ull << 1)
#define BTRFS_BG_METADATA (1ull << 2)
#define BTRFS_BG_RAID0 (1ull << 3)
#define BTRFS_BG_RAID1 (1ull << 4)
#define BTRFS_BG_DUP (1ull << 5)
#define BTRFS_BG_RAID10 (1ull << 6)
#define BTRFS_BG_RAID5 (1ull << 7)
#define BTRFS_BG_RAID6 (1ull << 8)
#define BTRFS_BG_RAID1C3 (1ull << 9)
#define BTRFS_BG_RAID1C4 (1ull << 10)
#define BTRFS_BG_PROFILE_MASK (0x7f8ull)

/* ---- in-memory structures ------------------------------------------- */

/* A parsed, verified superblock (what the walker needs of it). */
struct bm_btrfs_super {
	uint8_t fsid[16];
	uint8_t metadata_uuid[16]; /* = fsid unless METADATA_UUID */
	uint64_t flags, generation, root, chunk_root, log_root;
	uint64_t total_bytes, num_devices, compat_ro, incompat;
	uint32_t sectorsize, nodesize, sys_array_size;
	uint16_t csum_type;
	uint8_t root_level, chunk_root_level, log_root_level;
	uint64_t devid, dev_total_bytes;
	uint8_t dev_uuid[16];
	uint8_t sys_array[BTRFS_SYS_ARRAY_MAX];
	bool csum_verified; /* false: sha256/blake2b, not checked */
};

struct bm_btrfs_stripe {
	uint64_t devid, offset;
};

struct bm_btrfs_chunk {
	uint64_t logical, length, stripe_len, type;
	uint64_t usable; /* its first bytes that lie on the devices we have */
	unsigned num_stripes, sub_stripes;
	struct bm_btrfs_stripe *stripes;
};

struct bm_btrfs_dev {
	uint64_t devid;
	uint64_t total_bytes; /* from its superblock's dev_item */
	struct bm_volume *vol;
};

/* One mounted-equivalent filesystem: the logical volume's private data. */
struct bm_btrfs_fs {
	struct bm_ctx *ctx;
	struct bm_btrfs_super sb;
	char *dev;                   /* device column of every object */
	struct bm_btrfs_dev *devs;   /* present devices */
	size_t ndevs;
	struct bm_btrfs_chunk *chunks; /* sorted by logical, disjoint */
	size_t nchunks, chunks_cap;
	uint64_t logical_end;        /* end of the highest chunk */
	struct bm_volume *lvol;      /* the logical address space */
	struct bm_u64set emitted;    /* tree blocks already emitted as 'm' */
	/* Tree blocks whose first copy verified: snapshots share subtrees
	 * that every subvolume walk reads again; the checksum of the same
	 * bytes need not be computed again. */
	struct bm_u64set verified0;
	/* RAID5/6 rows (logical start) that hold mapped data or metadata:
	 * their parity is emitted at the end of the walk. */
	struct bm_u64set prow_set;
	uint64_t *prow;
	size_t nprow, capprow;
	uint8_t *scratch;            /* nodesize bytes for copy retries */
	bool warned_csum, warned_log;
	bm_obj fs_tree_obj;
};

/* One physical location of a piece of a logical range. */
struct bm_btrfs_loc {
	struct bm_volume *vol; /* NULL: device missing */
	uint64_t devid, phys;
	unsigned flags;        /* BM_RANGE_COPY / BM_RANGE_PARITY */
};
#define BTRFS_MAX_LOCS 6 /* RAID1C4 copies, or RAID6 data + P + Q */

/* super.c */
uint64_t bm_btrfs_xxh64(const void *buf, size_t len, uint64_t seed);
/* blake2b.c: unkeyed BLAKE2b with a 32-byte digest (RFC 7693). */
void bm_btrfs_blake2b256(const void *buf, size_t len, uint8_t out[32]);
/* Check a superblock or tree block checksum (over BUF[32..LEN)).  Returns
 * 1 verified, 0 mismatch, -1 unverifiable (sha256/blake2b/unknown). */
int bm_btrfs_csum_check(unsigned type, const uint8_t *buf, size_t len);
/* Parse and verify the superblock copy in BUF (read from byte offset
 * BYTENR).  Returns 0 or -1 with *WHY set to a reason. */
int bm_btrfs_parse_super(const uint8_t *buf, uint64_t bytenr,
			 struct bm_btrfs_super *sb, const char **why);
uint64_t bm_btrfs_mirror_offset(int i);

/* chunk.c */
int bm_btrfs_add_chunk(struct bm_btrfs_fs *fs, uint64_t logical,
		       const uint8_t *item, size_t size, const char **why);
int bm_btrfs_load_sys_array(struct bm_btrfs_fs *fs);
const struct bm_btrfs_chunk *bm_btrfs_find_chunk(const struct bm_btrfs_fs *fs,
						 uint64_t logical);
/* Physical locations of LOGICAL: fills LOCS (data copies first, then
 * parity), sets *PIECE to the bytes (<= MAXLEN) that are contiguous in
 * every location.  Returns the number of locations, 0 if unmapped. */
unsigned bm_btrfs_resolve(const struct bm_btrfs_fs *fs, uint64_t logical,
			  uint64_t maxlen, struct bm_btrfs_loc *locs,
			  uint64_t *piece);
/* Read LEN bytes at LOGICAL from data copy MIRROR (0-based).  -1 if
 * that copy does not exist or cannot be read. */
int bm_btrfs_read_mirror(struct bm_btrfs_fs *fs, uint64_t logical, void *buf,
			 size_t len, unsigned mirror);
unsigned bm_btrfs_num_copies(const struct bm_btrfs_fs *fs, uint64_t logical);
struct bm_volume *bm_btrfs_logical_volume(struct bm_btrfs_fs *fs,
					  struct bm_volume *parent);
void bm_btrfs_fs_free(struct bm_btrfs_fs *fs);
/* Map the parity units of the RAID5/6 rows that hold anything mapped
 * as <btrfs raid parity>. */
void bm_btrfs_emit_parity(struct bm_btrfs_fs *fs);

/* tree.c */
struct bm_btrfs_item {
	uint64_t objectid, offset;
	uint8_t type;
	const uint8_t *data;
	uint32_t size;
	uint64_t data_logical; /* logical address of DATA */
	uint64_t owner;        /* header owner of the leaf */
};
/* Return 0 to continue, 1 to stop the walk early, -1 on error. */
typedef int (*bm_btrfs_item_cb)(struct bm_btrfs_fs *fs,
				const struct bm_btrfs_item *it, void *opaque);
/* Walk the tree rooted at ROOT (level LEVEL): every block is verified and
 * emitted once as metadata MNAME; CB (may be NULL) sees every leaf item
 * in key order.  Returns 0, or -1 if something was not readable (warned). */
int bm_btrfs_walk_tree(struct bm_btrfs_fs *fs, uint64_t root, unsigned level,
		       const char *mname, bm_btrfs_item_cb cb, void *opaque);
/* The same, but blocks emitted before (by any walk) are skipped with
 * their subtrees: for trees whose items matter once, however many roots
 * name them (a walk without CB does this too). */
int bm_btrfs_walk_new_blocks(struct bm_btrfs_fs *fs, uint64_t root,
			     unsigned level, const char *mname,
			     bm_btrfs_item_cb cb, void *opaque);
const char *bm_btrfs_tree_name(uint64_t root_objectid);

/* fs.c */
/* Walk everything reachable from the superblock: chunk tree (loaded
 * already), root tree, every tree it references, subvolumes and files. */
int bm_btrfs_walk_fs(struct bm_btrfs_fs *fs);
int bm_btrfs_load_chunk_tree(struct bm_btrfs_fs *fs);
/* Emit every device's superblock copies. */
void bm_btrfs_emit_supers(struct bm_btrfs_fs *fs);

#endif
