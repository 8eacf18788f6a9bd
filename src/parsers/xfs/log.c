/* XFS walker: is the internal log clean?
 *
 * Specification: xfs_log_format.h (struct xlog_rec_header, struct
 * xlog_op_header, XLOG_UNMOUNT_TRANS) and the log recovery description in
 * the kernel's Documentation/filesystems/xfs/ (XFS Algorithms & Data
 * Structures, "Journaling Log").  The log is a ring of 512-byte basic
 * blocks.  Every block written in pass N of the ring starts with the cycle
 * number N (record header blocks start with the magic 0xFEEDBABE and carry
 * the cycle in the next word), so the head -- where the next write goes --
 * is where the cycle number drops.  A cleanly unmounted filesystem's last
 * record, just before the head, is an unmount record: one log operation
 * flagged XLOG_UNMOUNT_TRANS.  Anything else means the mount would replay
 * the log first; bmapgen never replays it, so metadata changed by the log
 * is mapped as it was before.  That is reported as finding
 * fs-needs-recovery, as for ext's needs_recovery and NTFS's dirty bit.
 *
 * Only the O(log n) blocks a binary search touches and the last record
 * window are read, never the whole log (which may be 2 GiB).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "xfs.h"

#define BB 512u
#define LOG_MAGIC 0xFEEDBABEu
#define UNMOUNT_TRANS 0x20u
#define CYCLE_SIZE (32u * 1024) /* XLOG_HEADER_CYCLE_SIZE */
/* XLOG_MAX_ICLOGS in-core logs of up to XLOG_MAX_RECORD_BSIZE bytes may be
 * in flight: the last record header lies at most this far before the
 * head (the kernel's XLOG_TOTAL_REC_SHIFT window). */
#define SCAN_BLOCKS (8u * 256 * 1024 / BB)

struct xlog {
	struct bm_xfs *fs;
	uint64_t off;  /* volume byte offset of the log */
	uint64_t nbb;  /* basic blocks in the log */
	bool bad;      /* a read failed */
};

static bool read_bb(struct xlog *l, uint64_t bb, uint8_t *buf)
{
	if (bm_read(l->fs->vol, buf, BB, l->off + (bb % l->nbb) * BB) < 0) {
		l->bad = true;
		return false;
	}
	return true;
}

/* The cycle number a block was written in (0: never written). */
static bool cycle_of(struct xlog *l, uint64_t bb, uint32_t *cycle)
{
	uint8_t buf[BB];

	if (!read_bb(l, bb, buf))
		return false;
	*cycle = bm_be32(buf) == LOG_MAGIC ? bm_be32(buf + 4) : bm_be32(buf);
	return true;
}

/* First block in (LO, HI] whose cycle differs from that of block LO,
 * given that block HI's does.  Terminates: HI - LO halves each step. */
static bool cycle_drop(struct xlog *l, uint64_t lo, uint64_t hi,
		       uint32_t cyc, uint64_t *head)
{
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		uint32_t c;

		if (!cycle_of(l, mid, &c))
			return false;
		if (c == cyc)
			lo = mid;
		else
			hi = mid;
	}
	*head = hi;
	return true;
}

/* The head: the block the next record would be written to. */
static bool find_head(struct xlog *l, uint64_t *head, bool *empty)
{
	uint32_t first, last;

	*empty = false;
	if (!cycle_of(l, 0, &first) || !cycle_of(l, l->nbb - 1, &last))
		return false;
	if (first == 0) {
		/* Never written (mkfs writes an unmount record at block 0,
		 * so this is a zeroed log: nothing to recover). */
		*empty = true;
		return true;
	}
	if (first == last) {
		/* The whole ring is in the current cycle: the head is at
		 * the wrap point. */
		*head = 0;
		return true;
	}
	/* Either the first pass (LAST is 0) or a later one (LAST is
	 * FIRST - 1): the head is where FIRST ends. */
	return cycle_drop(l, 0, l->nbb - 1, first, head);
}

/* Is the record just before HEAD an unmount record that ends at HEAD? */
static int unmount_at_head(struct xlog *l, uint64_t head, uint64_t *recoff)
{
	uint64_t scan = l->nbb < SCAN_BLOCKS ? l->nbb : SCAN_BLOCKS;
	uint8_t buf[BB];

	/* Terminates: at most SCAN_BLOCKS (or the whole ring) blocks. */
	for (uint64_t i = 1; i <= scan; i++) {
		uint64_t bb = (head + l->nbb - i) % l->nbb;

		if (!read_bb(l, bb, buf))
			return -1;
		if (bm_be32(buf) != LOG_MAGIC)
			continue;
		*recoff = l->off + bb * BB;
		uint32_t version = bm_be32(buf + 8);
		uint32_t len = bm_be32(buf + 12);
		uint32_t nops = bm_be32(buf + 40);
		uint32_t hsize = bm_be32(buf + 320);
		uint64_t hblks = 1;

		if ((version & 2) && hsize > CYCLE_SIZE)
			hblks = (hsize + CYCLE_SIZE - 1) / CYCLE_SIZE;
		uint64_t after = (bb + hblks + (len + BB - 1) / BB) % l->nbb;
		if (after != head || nops != 1)
			return 0;
		/* The operation header starts the record's first data
		 * block; its flags byte (offset 9) is not overwritten by
		 * the cycle stamp, which replaces only the first word. */
		if (!read_bb(l, bb + hblks, buf))
			return -1;
		return (buf[9] & UNMOUNT_TRANS) != 0;
	}
	*recoff = l->off + head % l->nbb * BB;
	return 0;
}

void bm_xfs_check_log(struct bm_xfs *fs)
{
	struct xlog l = { .fs = fs };
	uint64_t bytes, head, recoff;
	bool empty;

	if (!fs->logstart)
		return; /* external log: on a device bmapgen does not see */
	if (!bm_mul(fs->logblocks, fs->blocksize, &bytes) || bytes < BB ||
	    !bm_xfs_fsb_to_off(fs, fs->logstart, fs->logblocks, &l.off) ||
	    !bm_in_range(l.off, bytes, fs->vol->size))
		return; /* already warned about when the log was mapped */
	l.nbb = bytes / BB;

	if (!find_head(&l, &head, &empty)) {
		bm_warn(fs->ctx, fs->dev, l.off,
			"xfs log: unreadable, cannot tell whether it is clean");
		return;
	}
	if (empty)
		return;
	int r = unmount_at_head(&l, head, &recoff);
	if (r < 0)
		bm_warn(fs->ctx, fs->dev, l.off,
			"xfs log: unreadable, cannot tell whether it is clean");
	else if (r == 0)
		bm_finding(fs->ctx, "fs-needs-recovery", BM_SEV_WARNING,
			   fs->dev, recoff,
			   "xfs log is dirty (no unmount record at its head, "
			   "block %llu of the log): it needs recovery (not "
			   "replayed), so files changed by it are mapped as "
			   "before it",
			   (unsigned long long)head);
}
