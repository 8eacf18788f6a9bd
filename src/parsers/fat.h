/* FAT12/16/32 and exFAT: declarations shared by fat.c, fat_dir.c and
 * exfat.c, plus the boot-sector check other probers use (mbr.c must not
 * take a FAT or exFAT boot sector, which also ends in 55 AA, for a
 * partition table).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_FAT_H
#define BM_FAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bm_volume;
struct bm_ctx;

/* Does SEC (at least 512 bytes: the first sector of a volume) hold a
 * plausible FAT12/16/32 BIOS parameter block?  Checks the jump
 * instruction, sector and cluster sizes, FAT count, media byte and
 * sizes; does not read anything else. */
bool bm_fat_bpb_valid(const uint8_t *sec);

/* Is SEC an exFAT main boot sector (name, must-be-zero area, shifts)? */
bool bm_exfat_boot_valid(const uint8_t *sec);

/* Either of the above, or a BitLocker boot sector (OEM "-FVE-FS-"): the
 * sector is a FAT-family boot sector, not a partition table. */
bool bm_fat_is_boot_sector(const uint8_t *sec);

/* ---- internal to the FAT/exFAT walkers ---- */

#define BM_FAT_CACHE_SLOTS 8
#define BM_FAT_CACHE_BLOCK 65536u

/* A FAT-family volume: where the (active) FAT and the cluster heap are,
 * plus the state every walk shares (FAT block cache, the bitmap of
 * clusters already given to an object). */
struct bm_fatfs {
	struct bm_volume *vol;
	struct bm_ctx *ctx;
	const char *dev;
	unsigned bits;        /* FAT entry width: 12, 16 or 32 */
	bool exfat;
	uint64_t fat_off;     /* byte offset of the FAT we follow */
	uint64_t fat_bytes;   /* its size */
	uint64_t data_off;    /* byte offset of cluster 2 */
	uint32_t cluster_size;
	uint32_t nclusters;   /* valid cluster numbers: 2 .. nclusters+1 */
	uint32_t bad;         /* the bad-cluster marker */
	uint32_t eoc;         /* values >= eoc end a chain */
	uint8_t *used;        /* bitmap: cluster already owned by an object */
	uint8_t *cache;       /* BM_FAT_CACHE_SLOTS blocks of the FAT */
	uint64_t cache_blk[BM_FAT_CACHE_SLOTS]; /* block index + 1; 0 empty */
	unsigned warned_fat_read;
};

/* A run of contiguous clusters. */
struct bm_fat_run {
	uint32_t first;
	uint32_t count;
};
struct bm_fat_runs {
	struct bm_fat_run *r;
	size_t n, cap;
	uint64_t clusters; /* total */
};

/* Set up the cache and the used-bitmap once the geometry fields are
 * filled in. */
void bm_fatfs_init(struct bm_fatfs *fs);
void bm_fatfs_free(struct bm_fatfs *fs);

/* Follow the chain from START for at most MAX clusters (0: up to the
 * end-of-chain mark), appending runs to RUNS.  Stops with a warning that
 * names PATH on a loop, a cross-link, a free or bad cluster or a value
 * outside the data area; RUNS then holds the valid prefix.  Returns 0
 * for a clean chain, -1 otherwise. */
int bm_fatfs_chain(struct bm_fatfs *fs, uint32_t start, uint64_t max,
		   const char *path, struct bm_fat_runs *runs);

/* Claim COUNT contiguous clusters from FIRST (exFAT NoFatChain files)
 * into RUNS; same checks and return value as bm_fatfs_chain. */
int bm_fatfs_contig(struct bm_fatfs *fs, uint32_t first, uint64_t count,
		    const char *path, struct bm_fat_runs *runs);

/* Byte offset of cluster C (valid C only). */
static inline uint64_t bm_fatfs_cluster_off(const struct bm_fatfs *fs,
					    uint32_t c)
{
	return fs->data_off + (uint64_t)(c - 2) * fs->cluster_size;
}

/* Emit RUNS as OBJ.  The first FULL_CLUSTERS clusters get FLAGS, the
 * rest TAIL_FLAGS (exFAT: clusters past ValidDataLength are unwritten). */
void bm_fatfs_emit(struct bm_fatfs *fs, const struct bm_fat_runs *runs,
		   uint32_t obj, unsigned flags, uint64_t full_clusters,
		   unsigned tail_flags);

void bm_fat_runs_free(struct bm_fat_runs *runs);

/* Read the clusters of RUNS (at most MAX bytes) into a malloc'd buffer;
 * *LEN gets the size.  NULL (after a warning naming PATH) on read error. */
uint8_t *bm_fatfs_read_runs(struct bm_fatfs *fs, const struct bm_fat_runs *runs,
			    uint64_t max, const char *path, size_t *len);

/* FAT12/16/32 directory tree walk (fat_dir.c).  ROOT_CLUSTER is 0 for
 * FAT12/16 (the fixed root region at ROOT_OFF, ROOT_LEN bytes, already
 * emitted). */
void bm_fat_walk_tree(struct bm_fatfs *fs, uint32_t root_cluster,
		      uint64_t root_off, uint64_t root_len);

#endif
