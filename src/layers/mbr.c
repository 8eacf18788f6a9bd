/* MBR (DOS) partition tables: four primary entries in sector 0 and the
 * extended/logical chain of EBRs.
 *
 * Layout (sector 0 and every EBR): boot code, then four 16-byte entries at
 * offset 446 (status, CHS first, type, CHS last, LBA start le32, sector
 * count le32), then 0x55 0xAA at 510.  In an EBR, entry 0 is usually a
 * logical partition relative to that EBR and entry 1 links the next EBR
 * relative to the start of the extended partition (walk_logicals reads
 * them as Linux does).  Names follow Linux: primaries 1-4, logicals from
 * 5.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "../bmapgen.h"
#include "bootarea.h"

#define MBR_MAX_LOGICAL 256 /* more logicals than Linux ever numbers */
#define MBR_MAX_PARTITIONS 4096 /* in one context, nested tables included */

struct mbr_entry {
	uint8_t status, type;
	uint32_t start, count;
};

static void mbr_entry(const uint8_t *sec, int i, struct mbr_entry *e)
{
	const uint8_t *p = sec + 446 + 16 * i;
	e->status = p[0];
	e->type = p[4];
	e->start = bm_le32(p + 8);
	e->count = bm_le32(p + 12);
}

static bool is_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

/* A FAT, NTFS or exFAT boot sector also ends in 55 AA; tell it apart by
 * its BIOS parameter block (jump instruction, OEM name, sane geometry),
 * as libblkid does before trusting a DOS table. */
static bool looks_like_boot_sector(const uint8_t *s)
{
	if (memcmp(s + 3, "NTFS    ", 8) == 0 ||
	    memcmp(s + 3, "EXFAT   ", 8) == 0 ||
	    memcmp(s + 3, "-FVE-FS-", 8) == 0) /* BitLocker */
		return true;
	if (s[0] != 0xeb && s[0] != 0xe9)
		return false;
	uint16_t bps = bm_le16(s + 11);
	uint8_t spc = s[13];
	uint16_t reserved = bm_le16(s + 14);
	uint8_t nfats = s[16];
	if ((bps != 512 && bps != 1024 && bps != 2048 && bps != 4096) ||
	    spc == 0 || (spc & (spc - 1)) != 0 || reserved == 0 ||
	    nfats == 0 || nfats > 4)
		return false;
	return memcmp(s + 54, "FAT", 3) == 0 || memcmp(s + 82, "FAT", 3) == 0 ||
	       s[21] >= 0xf0; /* media descriptor */
}

static int mbr_probe(struct bm_volume *v, void **state)
{
	uint8_t s[512];
	(void)state;
	if (v->size < 512 || bm_read(v, s, 512, 0) < 0)
		return 0;
	if (s[510] != 0x55 || s[511] != 0xaa)
		return 0;
	if (looks_like_boot_sector(s))
		return 0;
	int used = 0;
	for (int i = 0; i < 4; i++) {
		struct mbr_entry e;
		mbr_entry(s, i, &e);
		if (e.status != 0 && e.status != 0x80)
			return 0; /* not a partition table */
		if (e.type != 0 && e.count != 0)
			used++;
	}
	/* An empty table is still a table (a freshly partitioned disk),
	 * but only if the entries are all zero rather than garbage. */
	return used > 0 || s[446 + 4] == 0 ? 1 : 0;
}

struct mbr_walk {
	struct bm_volume *v;
	uint64_t ss;           /* sector size */
	unsigned next_logical; /* the next logical partition's number */
};

extern const struct bm_prober bm_mbr_prober;

/* Map a partition [start, start+count) sectors as N and probe it. */
static void add_partition(struct mbr_walk *w, unsigned n, uint8_t type,
			  uint64_t start, uint64_t count, bool probe)
{
	struct bm_volume *v = w->v;
	/* Tables inside partitions whose entries point back at themselves
	 * or at each other would nest to BM_MAX_DEPTH with four or more
	 * branches a level (4^16 volumes from a 1 KiB image). */
	if (!bm_ctx_budget(v->ctx, &bm_mbr_prober, MBR_MAX_PARTITIONS,
			   v->dev, "MBR partitions"))
		return;
	char *name = bm_partition_name(v->dev, n);
	uint64_t off, len;
	if (!bm_mul(start, w->ss, &off) || !bm_mul(count, w->ss, &len) ||
	    off >= v->size) {
		bm_warn(v->ctx, v->dev, BM_NO_OFFSET,
			"partition %s starts at sector %llu, past the end of "
			"the disk: not mapped",
			name, (unsigned long long)start);
		free(name);
		return;
	}
	struct bm_volume *p = bm_volume_slice(v, off, len, name);
	if (p) {
		bm_emit(v, off, p->size, bm_object(v->ctx, 'p', name, NULL));
		p->sector_size = (unsigned)w->ss;
		p->part_type = bm_asprintf("0x%02x", type);
		/* A partition at sector 0 holds this very table (an
		 * isohybrid image does that): probing it would find the
		 * table again, and again. */
		if (probe && off == 0)
			bm_finding(v->ctx, "partition-holds-table",
				   BM_SEV_INFO, name, 0,
				   "partition starts at sector 0, on its own "
				   "partition table: not probed");
		else if (probe)
			bm_probe_volume(p);
	}
	free(name);
}

/* Follow the EBR chain of the extended partition at EXT_START (sectors)
 * of EXT_COUNT sectors, as Linux does (block/partitions/msdos.c,
 * parse_extended): every entry of an EBR that is not empty and not of an
 * extended type is a logical partition, relative to that EBR (entries 3
 * and 4 only when they fit: they often hold garbage); the first entry of
 * an extended type links the next EBR, relative to EXT_START.  Links may
 * point backwards (fdisk appends a logical partition wherever there is
 * room); an EBR seen before ends the chain, so the walk ends within
 * EXT_COUNT steps, and MBR_MAX_LOGICAL bounds it further. */
static void walk_logicals(struct mbr_walk *w, uint64_t ext_start,
			  uint64_t ext_count)
{
	struct bm_volume *v = w->v;
	bm_obj ebr_obj = bm_object(v->ctx, 'm', v->dev, "ebr");
	struct bm_u64set seen = { 0 };
	uint64_t cur = ext_start, cur_count = ext_count;
	for (int i = 0; i < MBR_MAX_LOGICAL; i++) {
		uint8_t s[512];
		uint64_t off;
		if (!bm_mul(cur, w->ss, &off) || bm_read(v, s, 512, off) < 0) {
			bm_warn(v->ctx, v->dev, cur * w->ss,
				"cannot read EBR: logical partitions from "
				"here on not mapped");
			goto out;
		}
		if (s[510] != 0x55 || s[511] != 0xaa) {
			bm_warn(v->ctx, v->dev, off,
				"EBR has no 55 AA signature: logical "
				"partitions from here on not mapped");
			goto out;
		}
		bm_u64set_add(&seen, cur);
		bm_emit(v, off, w->ss, ebr_obj);
		for (int k = 0; k < 4; k++) {
			struct mbr_entry d;
			mbr_entry(s, k, &d);
			if (d.count == 0 || is_extended(d.type))
				continue;
			uint64_t start = cur + d.start, end = start + d.count;
			bool outside = end > ext_start + ext_count;
			if (k >= 2 && ((uint64_t)d.start + d.count > cur_count ||
				       outside))
				continue;
			if (outside)
				bm_finding(v->ctx, "logical-outside-extended",
					   BM_SEV_WARNING, v->dev,
					   off + 446 + 16 * k,
					   "logical partition %u extends outside "
					   "its extended partition",
					   w->next_logical);
			add_partition(w, w->next_logical++, d.type, start,
				      d.count, true);
		}
		struct mbr_entry link = { 0 };
		int k;
		for (k = 0; k < 4; k++) {
			mbr_entry(s, k, &link);
			if (link.count != 0 && is_extended(link.type))
				break;
		}
		if (k == 4)
			goto out;
		uint64_t next = ext_start + link.start;
		if (bm_u64set_has(&seen, next)) {
			bm_finding(v->ctx, "ebr-loop", BM_SEV_WARNING, v->dev,
				   off + 446 + 16 * k,
				   "EBR link leads back to the EBR at sector "
				   "%llu: chain stopped",
				   (unsigned long long)next);
			goto out;
		}
		if (next >= ext_start + ext_count) {
			bm_warn(v->ctx, v->dev, off + 446 + 16 * k,
				"EBR link points outside the extended "
				"partition: chain stopped");
			goto out;
		}
		cur = next;
		cur_count = link.count;
	}
	bm_warn(v->ctx, v->dev, cur * w->ss,
		"more than %d EBRs: the rest not mapped", MBR_MAX_LOGICAL);
out:
	bm_u64set_free(&seen);
}

static int mbr_walk(struct bm_volume *v, void *state)
{
	(void)state;
	uint8_t s[512];
	if (bm_read(v, s, 512, 0) < 0)
		return -1;
	struct mbr_walk w = { .v = v, .ss = v->sector_size ? v->sector_size
							    : 512 };
	if (!v->type || strcmp(v->type, "dos") != 0) {
		free(v->type);
		v->type = bm_strdup("dos");
	}
	bm_emit(v, 0, 512, bm_object(v->ctx, 'm', v->dev, "mbr"));
	bool grub = bm_boot_code(v);
	/* The gap before the first partition holds GRUB's core.img or
	 * another loader's second stage. */
	uint64_t first = UINT64_MAX;
	for (int i = 0; i < 4; i++) {
		struct mbr_entry e;
		mbr_entry(s, i, &e);
		if (e.count != 0 && e.start && e.start < first)
			first = e.start;
	}
	if (first != UINT64_MAX && first > 1)
		bm_boot_gap(v, w.ss, first * w.ss, grub, "post-mbr gap");
	/* As Linux: an entry is a partition when it has sectors, whatever
	 * its type (0 included); every extended partition is walked, its
	 * logical partitions numbered on from the previous one's. */
	w.next_logical = 5;
	for (int i = 0; i < 4; i++) {
		struct mbr_entry e;
		mbr_entry(s, i, &e);
		if (e.count == 0)
			continue;
		if (e.type == 0xee) {
			bm_warn(v->ctx, v->dev, 446 + 16 * i,
				"protective MBR entry but no valid GPT: not "
				"mapped");
			continue;
		}
		if (is_extended(e.type)) {
			/* Linux shows the extended partition as a device of
			 * its own; map its extent, but its contents are the
			 * logical partitions. */
			add_partition(&w, (unsigned)i + 1, e.type, e.start,
				      e.count, false);
			walk_logicals(&w, e.start, e.count);
			continue;
		}
		add_partition(&w, (unsigned)i + 1, e.type, e.start, e.count,
			      true);
	}
	return 0;
}

const struct bm_prober bm_mbr_prober = {
	.name = "dos",
	.kind = BM_PROBE_CONTAINER,
	.probe = mbr_probe,
	.walk = mbr_walk,
	.slot_free = free,
};
