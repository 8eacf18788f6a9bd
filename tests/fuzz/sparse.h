/* Fuzz inputs that describe sparse, possibly multi-disk images.
 *
 * A real XFS, btrfs or NTFS filesystem, an LVM volume group over three
 * PVs or an md array spans hundreds of MiB that are mostly zeros; as a
 * raw fuzz input it exceeds any sensible -max_len, so the fuzzer would
 * only ever see a truncated superblock.  The container below holds just
 * the non-zero parts:
 *
 *   "BMSPARSE"                        8-byte magic
 *   then records, to the end of the input (all integers little-endian):
 *   'D' u64 size                      start a new disk of SIZE bytes
 *   'C' u64 off, u32 len, len bytes   data at OFF of the current disk
 *
 * Rules, chosen so that every byte string is a valid input (mutations
 * must not be wasted) and so that tests/fuzz/sparse.py reads it the same:
 * - an unknown tag or a record cut short ends the input; a chunk cut
 *   short keeps the bytes that are there;
 * - at most BM_FUZZ_MAX_DISKS disks, each at most BM_FUZZ_MAX_DISK
 *   bytes (larger sizes are clipped); later 'D' records are ignored;
 * - a chunk before any 'D', one that starts before the end of the
 *   previous chunk of its disk, or at/after the disk's end, is dropped;
 *   one that runs past the end is clipped;
 * - everything not in a chunk reads as zeros.
 * Input without the magic is one raw disk (the old seeds stay valid). */
#ifndef BM_FUZZ_SPARSE_H
#define BM_FUZZ_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "bmapgen.h"

#define BM_FUZZ_MAX_DISKS 8
#define BM_FUZZ_MAX_DISK (UINT64_C(1) << 40)

/* Create the input's disks in CTX as volumes /dev/sda, /dev/sdb, ...
 * (disk indexes 1, 2, ...), each owning a copy of its chunks.  Store
 * them in VOLS and return how many (0 for a container with no disk). */
unsigned bm_fuzz_disks(struct bm_ctx *ctx, const uint8_t *data, size_t size,
		       struct bm_volume *vols[BM_FUZZ_MAX_DISKS]);

#endif
