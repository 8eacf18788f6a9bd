/* RAID geometry shared by md-RAID (md.c) and LVM raid segments (lvm*.c).
 *
 * An array is described by its md level/layout numbers (as in the
 * kernel's include/uapi/linux/raid/md_p.h and drivers/md/raid5.h,
 * raid10.c) and one data-area volume per member; bm_raid_volume_new()
 * builds the array volume whose map() sends a range to every place
 * holding its bytes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_RAID_H
#define BM_RAID_H

#include <stdint.h>

#include "bmapgen.h"

enum {
	BM_RAID_LINEAR = -1,
	BM_RAID0 = 0,
	BM_RAID1 = 1,
	BM_RAID4 = 4,
	BM_RAID5 = 5,
	BM_RAID6 = 6,
	BM_RAID10 = 10,
};

/* raid5/raid6 layouts (md's ALGORITHM_* numbers, drivers/md/raid5.h). */
enum {
	BM_RAID5_LEFT_ASYMMETRIC = 0,
	BM_RAID5_RIGHT_ASYMMETRIC = 1,
	BM_RAID5_LEFT_SYMMETRIC = 2,
	BM_RAID5_RIGHT_SYMMETRIC = 3,
	BM_RAID5_PARITY_0 = 4, /* P (then Q) on the first device(s) */
	BM_RAID5_PARITY_N = 5, /* P (then Q) on the last device(s) */
	BM_RAID6_ROTATING_ZERO_RESTART = 8,  /* DDF */
	BM_RAID6_ROTATING_N_RESTART = 9,     /* DDF */
	BM_RAID6_ROTATING_N_CONTINUE = 10,   /* DDF */
	BM_RAID6_LEFT_ASYMMETRIC_6 = 16,     /* raid5 layout + Q on last */
	BM_RAID6_RIGHT_ASYMMETRIC_6 = 17,
	BM_RAID6_LEFT_SYMMETRIC_6 = 18,
	BM_RAID6_RIGHT_SYMMETRIC_6 = 19,
	BM_RAID6_PARITY_0_6 = 20,
};

struct bm_raid_desc {
	int level;               /* BM_RAID_* */
	/* md's layout number: raid5/6 ALGORITHM_* as in md_p.h/raid5.h
	 * (0..5, 8..10 DDF, and 16..20 for the _6 variants), raid10
	 * near/far/offset encoding as md's (near = layout & 0xff, far =
	 * (layout >> 8) & 0xff, offset bit 0x10000). */
	int layout;
	unsigned nmembers;       /* raid_disks */
	uint64_t chunk_bytes;    /* chunk (stripe unit) size in bytes */
	uint64_t member_bytes;   /* data bytes used on each member */
	/* linear/raid0 with unequal members: per-member data bytes, else
	 * NULL */
	const uint64_t *member_sizes;
	/* each member's data area (a volume starting at data_offset),
	 * NULL = missing */
	struct bm_volume **members;
};

/* Build the array volume; copies DESC and its arrays.  Its map() sends
 * a range to every copy (extra copies OR BM_RANGE_COPY), and for
 * raid4/5/6 only to the data chunks; read() reads any present copy, and
 * for a missing raid4/5/6 member reconstructs from P parity (XOR);
 * Q-only reconstruction is refused with ENODATA.  It warns (on DEV)
 * about each missing member, so callers need not.  Returns NULL (after
 * bm_warn on DEV) when DESC is invalid (see bm_raid_check) or no member
 * is present.
 *
 * Level notes: BM_RAID4 is md's raid4 (parity on the last member, layout
 * ignored); dm-raid's "raid4"/"raid5_n" etc. are level 5 or 6 with the
 * matching ALGORITHM_PARITY_* layout.  Linear and raid0 member sizes are
 * rounded down to the chunk size when one is set (md's rounding); for
 * multi-zone raid0 the layout must be 1 (original) or 2 (alternate; md's
 * RAID0_ORIG_LAYOUT / RAID0_ALT_MULTIZONE_LAYOUT), single-zone raid0
 * ignores it. */
struct bm_volume *bm_raid_volume_new(struct bm_ctx *ctx,
				     const struct bm_raid_desc *desc,
				     const char *dev);

/* Array size in bytes (0 if DESC is invalid). */
uint64_t bm_raid_array_size(const struct bm_raid_desc *desc);

/* Is DESC usable?  NULL if so, else a static message saying why. */
const char *bm_raid_check(const struct bm_raid_desc *desc);

/* Where is array byte OFF: member index and member offset of the data
 * (for raid1/raid10 the first copy), for unit tests and for the
 * parity listing.  Returns 0, or -1 when OFF is past the end or DESC is
 * invalid. */
int bm_raid_locate(const struct bm_raid_desc *desc, uint64_t off,
		   unsigned *member, uint64_t *member_off);

/* Every copy of array byte OFF: up to MAX (member, member offset)
 * pairs, first the primary copy.  Returns the number of copies (which
 * may exceed MAX), or -1. */
int bm_raid_locate_all(const struct bm_raid_desc *desc, uint64_t off,
		       unsigned *members, uint64_t *member_offs, unsigned max);

/* For raid4/5/6: the parity members of the stripe holding array byte
 * OFF: *P (and *Q for raid6, else UINT_MAX).  The stripe's member
 * offset range is the data chunk's.  Returns 0 or -1. */
int bm_raid_parity(const struct bm_raid_desc *desc, uint64_t off,
		   unsigned *p, unsigned *q);

/* The description an array volume made by bm_raid_volume_new() was
 * built from (its own copy), or NULL if V is not such a volume. */
const struct bm_raid_desc *bm_raid_volume_desc(const struct bm_volume *v);

/* Emit the parity (raid4/5/6: P and Q) chunks of array volume ARRAY
 * (made by bm_raid_volume_new) as OBJ with BM_RANGE_PARITY on each
 * present member's data area.  Nothing for levels without parity.
 * Together with bm_emit(ARRAY, 0, ARRAY->size, OBJ) this is the array's
 * whole footprint.  Returns 0 or -1. */
int bm_raid_emit_parity(struct bm_volume *array, bm_obj obj);
/* The array's whole footprint as OBJ: bm_emit(ARRAY, 0, size, OBJ) and
 * its parity, with the copy and parity roles.  Both walk the array chunk
 * by chunk; past BM_RAID_FOOTPRINT_CHUNKS chunks (a crafted array of
 * 512-byte chunks on a qcow2 of 16 TiB took minutes) each present
 * member's data area is emitted whole instead, without the roles. */
#define BM_RAID_FOOTPRINT_CHUNKS (1u << 24)
int bm_raid_emit_footprint(struct bm_volume *array, bm_obj obj);

#endif
