/* GUID Partition Table (UEFI spec 2.x, chapter 5.3).
 *
 * Header at LBA 1 ("EFI PART", header size >= 92, CRC32 of the header
 * with its CRC field zeroed, my/alternate LBA, usable range, entry array
 * LBA, count, size, CRC32 of the array); backup header at the last LBA
 * with its array just before it.  Logical sectors of 512 and 4096 bytes
 * are tried.  A bad primary falls back to the backup with a warning.
 * Partition N is entry N-1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "../bmapgen.h"
#include "bootarea.h"

#define GPT_MAX_ARRAY (4u << 20) /* entry array bytes we accept */
#define BIOS_BOOT_GUID "21686148-6449-6E6F-744E-656564454649"
#define GPT_MAX_PARTITIONS 4096 /* in one context, nested tables included */

extern const struct bm_prober bm_gpt_prober;

struct gpt_hdr {
	uint64_t ss;        /* logical sector size */
	uint64_t my_lba, alt_lba, first_usable, last_usable, entries_lba;
	uint32_t nentries, entry_size, entries_crc;
	uint8_t *entries;   /* the array, verified */
	bool valid;
};

struct gpt_state {
	struct gpt_hdr primary, backup;
	uint64_t ss;
};

/* Read and check the header at LBA; on success also read and check its
 * entry array.  WHY says which for messages.  Returns true if valid. */
static bool read_header(struct bm_volume *v, uint64_t ss, uint64_t lba,
			struct gpt_hdr *h, bool quiet)
{
	uint8_t *buf = bm_malloc(ss);
	uint64_t off;
	memset(h, 0, sizeof *h);
	h->ss = ss;
	bool ok = false;
	const char *why = NULL;
	if (!bm_mul(lba, ss, &off) || bm_read(v, buf, ss, off) < 0) {
		why = "cannot read the header";
		goto out;
	}
	if (memcmp(buf, "EFI PART", 8) != 0) {
		why = "no \"EFI PART\" signature";
		goto out;
	}
	uint32_t hsize = bm_le32(buf + 12);
	if (hsize < 92 || hsize > ss) {
		why = "header size out of range";
		goto out;
	}
	uint32_t crc = bm_le32(buf + 16);
	bm_put_le32(buf + 16, 0);
	if (!bm_csum_ok(bm_crc32(0, buf, hsize) == crc)) {
		why = "header CRC32 mismatch";
		goto out;
	}
	h->my_lba = bm_le64(buf + 24);
	h->alt_lba = bm_le64(buf + 32);
	h->first_usable = bm_le64(buf + 40);
	h->last_usable = bm_le64(buf + 48);
	h->entries_lba = bm_le64(buf + 72);
	h->nentries = bm_le32(buf + 80);
	h->entry_size = bm_le32(buf + 84);
	h->entries_crc = bm_le32(buf + 88);
	if (h->my_lba != lba) {
		why = "header's own LBA field is wrong";
		goto out;
	}
	/* Entry size is 128 * 2^n (UEFI 5.3.2). */
	if (h->entry_size < 128 || (h->entry_size & (h->entry_size - 1))) {
		why = "entry size is not 128 * 2^n";
		goto out;
	}
	uint64_t asize, aoff;
	if (!bm_mul(h->nentries, h->entry_size, &asize) ||
	    asize > GPT_MAX_ARRAY || asize == 0) {
		why = "entry array size out of range";
		goto out;
	}
	if (!bm_mul(h->entries_lba, ss, &aoff) ||
	    !bm_in_range(aoff, asize, v->size)) {
		why = "entry array lies outside the disk";
		goto out;
	}
	h->entries = bm_malloc(asize);
	if (bm_read(v, h->entries, asize, aoff) < 0) {
		why = "cannot read the entry array";
		goto out;
	}
	if (!bm_csum_ok(bm_crc32(0, h->entries, asize) == h->entries_crc)) {
		why = "entry array CRC32 mismatch";
		goto out;
	}
	ok = true;
out:
	if (!ok) {
		free(h->entries);
		h->entries = NULL;
		if (!quiet && why)
			bm_finding(v->ctx,
				   lba == 1 ? "gpt-primary-bad" : "gpt-backup-bad",
				   BM_SEV_WARNING, v->dev, lba * ss,
				   "GPT %s header: %s",
				   lba == 1 ? "primary" : "backup", why);
	}
	h->valid = ok;
	free(buf);
	return ok;
}

/* A GUID as text: the first three fields are little-endian on disk. */
static char *guid_string(const uint8_t *g)
{
	return bm_asprintf("%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
			   bm_le32(g), bm_le16(g + 4), bm_le16(g + 6), g[8],
			   g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

/* Check the protective MBR against the GPT (UEFI 5.2.3): one 0xEE entry
 * from LBA 1 to the end of the disk (or 0xFFFFFFFF); other entries make a
 * hybrid MBR.  (gpt_probe already saw an 0xEE entry from LBA 1.) */
static void check_pmbr(struct bm_volume *v, uint64_t ss)
{
	uint8_t s[512];
	if (bm_read(v, s, 512, 0) < 0)
		return;
	int other = 0;
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = s + 446 + 16 * i;
		if (e[4] == 0xee) {
			uint64_t want = v->size / ss - 1;
			if (want > 0xffffffffu)
				want = 0xffffffffu;
			if (bm_le32(e + 8) != 1 || bm_le32(e + 12) != want)
				bm_finding(v->ctx, "pmbr-mismatch",
					   BM_SEV_WARNING, v->dev, 446 + 16 * i,
					   "protective MBR entry covers sectors "
					   "%u+%u, not 1 to the end of the disk",
					   bm_le32(e + 8), bm_le32(e + 12));
		} else if (e[4] != 0) {
			other++;
		}
	}
	if (other)
		bm_finding(v->ctx, "hybrid-mbr", BM_SEV_WARNING, v->dev, 446,
			   "hybrid MBR: %d partition entries besides the "
			   "protective one",
			   other);
}

/* What sector 0 holds (one read): PROTECTIVE, a protective MBR (the 55
 * AA signature and an entry of type 0xEE starting at LBA 1); DOS, a DOS
 * table with a partition of another type.  Without a protective MBR
 * Linux (efi.c, is_pmbr_valid) and UEFI firmware (EDK2's
 * PartitionInstallGptChildHandles) ignore the GPT: it is typically left
 * behind when a GPT disk was partitioned again with a DOS table. */
static void read_sector0(struct bm_volume *v, bool *protective, bool *dos)
{
	uint8_t s[512];
	*protective = *dos = false;
	if (bm_read(v, s, 512, 0) < 0 || s[510] != 0x55 || s[511] != 0xaa)
		return;
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = s + 446 + 16 * i;
		if (e[4] == 0xee)
			*protective = *protective || bm_le32(e + 8) == 1;
		else if (bm_le32(e + 12) != 0)
			*dos = true;
	}
}

static int gpt_probe(struct bm_volume *v, void **state)
{
	static const uint64_t sizes[] = { 512, 4096 };
	uint8_t sig[8];
	for (size_t i = 0; i < 2; i++) {
		uint64_t ss = sizes[i];
		if (v->size < 3 * ss)
			continue;
		bool primary_sig = bm_read(v, sig, 8, ss) == 0 &&
				   memcmp(sig, "EFI PART", 8) == 0;
		uint64_t last = v->size / ss - 1;
		bool backup_sig = bm_read(v, sig, 8, last * ss) == 0 &&
				  memcmp(sig, "EFI PART", 8) == 0;
		if (!primary_sig && !backup_sig)
			continue;
		bool protective, dos;
		read_sector0(v, &protective, &dos);
		if (!protective) {
			/* Under a DOS table that is in use this is only a
			 * leftover (the table maps the disk as Linux does);
			 * without one the disk's partitions are lost. */
			bm_finding(v->ctx, "pmbr-missing",
				   dos ? BM_SEV_INFO : BM_SEV_WARNING,
				   v->dev, 0,
				   "GPT at LBA %llu ignored: no protective MBR "
				   "(an entry of type 0xEE from LBA 1), so "
				   "Linux and UEFI firmware ignore it too",
				   (unsigned long long)(primary_sig ? 1 : last));
			return 0;
		}
		struct gpt_state *st = bm_calloc(1, sizeof *st);
		st->ss = ss;
		read_header(v, ss, 1, &st->primary, !primary_sig);
		uint64_t alt = st->primary.valid ? st->primary.alt_lba : last;
		if (alt > last || alt <= 1) {
			bm_warn(v->ctx, v->dev, ss + 32,
				"GPT alternate LBA %llu is outside the disk",
				(unsigned long long)alt);
			alt = last;
		}
		read_header(v, ss, alt, &st->backup, false);
		if (!st->primary.valid && !st->backup.valid) {
			bm_warn(v->ctx, v->dev, ss,
				"GPT found but neither header is valid: "
				"partitions not mapped");
			free(st);
			return -1;
		}
		if (!st->primary.valid)
			bm_warn(v->ctx, v->dev, ss,
				"using the backup GPT header at LBA %llu",
				(unsigned long long)alt);
		*state = st;
		return 1;
	}
	return 0;
}

static void emit_header(struct bm_volume *v, const struct gpt_hdr *h,
			const char *hname, const char *aname)
{
	if (!h->valid)
		return;
	bm_emit(v, h->my_lba * h->ss, h->ss,
		bm_object(v->ctx, 'm', v->dev, hname));
	bm_emit(v, h->entries_lba * h->ss,
		(uint64_t)h->nentries * h->entry_size,
		bm_object(v->ctx, 'm', v->dev, aname));
}

static int gpt_walk(struct bm_volume *v, void *state)
{
	struct gpt_state *st = state;
	uint64_t ss = st->ss;
	const struct gpt_hdr *h = st->primary.valid ? &st->primary
						    : &st->backup;
	v->sector_size = (unsigned)ss;
	free(v->type);
	v->type = bm_strdup("gpt");

	bm_emit(v, 0, ss, bm_object(v->ctx, 'm', v->dev, "protective mbr"));
	check_pmbr(v, ss);
	bool grub = bm_boot_code(v);
	emit_header(v, &st->primary, "gpt header", "gpt entries");
	emit_header(v, &st->backup, "gpt backup header", "gpt backup entries");
	if (st->primary.valid && st->backup.valid &&
	    (st->primary.nentries != st->backup.nentries ||
	     st->primary.entry_size != st->backup.entry_size ||
	     st->primary.entries_crc != st->backup.entries_crc))
		bm_finding(v->ctx, "gpt-mismatch", BM_SEV_WARNING, v->dev, ss,
			   "GPT primary and backup entry arrays differ; using "
			   "the primary");

	for (uint32_t i = 0; i < h->nentries; i++) {
		const uint8_t *e = h->entries + (size_t)i * h->entry_size;
		static const uint8_t zero[16];
		if (memcmp(e, zero, 16) == 0)
			continue; /* unused entry */
		uint64_t first = bm_le64(e + 32), last = bm_le64(e + 40);
		char *name = bm_partition_name(v->dev, i + 1);
		uint64_t off, end;
		if (last < first || !bm_mul(first, ss, &off) ||
		    !bm_muladd(last, ss, ss, &end) || off >= v->size) {
			bm_warn(v->ctx, v->dev,
				h->entries_lba * ss + (uint64_t)i * h->entry_size,
				"GPT entry %u (%s): LBA range %llu-%llu is "
				"invalid or past the end of the disk: not "
				"mapped",
				i + 1, name, (unsigned long long)first,
				(unsigned long long)last);
			free(name);
			continue;
		}
		if (first < h->first_usable || last > h->last_usable)
			bm_finding(v->ctx, "gpt-outside-usable", BM_SEV_WARNING,
				v->dev,
				h->entries_lba * ss + (uint64_t)i * h->entry_size,
				"GPT entry %u (%s) lies outside the usable "
				"LBA range",
				i + 1, name);
		/* GPTs inside partitions whose entries all point at the
		 * same nested GPT would multiply the volumes by the entry
		 * count at every level, up to BM_MAX_DEPTH levels. */
		if (!bm_ctx_budget(v->ctx, &bm_gpt_prober, GPT_MAX_PARTITIONS,
				   v->dev, "GPT partitions")) {
			free(name);
			break;
		}
		struct bm_volume *p = bm_volume_slice(v, off, end - off, name);
		if (p) {
			p->sector_size = (unsigned)ss;
			p->part_type = guid_string(e);
			if (strcmp(p->part_type, BIOS_BOOT_GUID) == 0)
				bm_boot_gap(p, 0, p->size, grub,
					    "bios boot partition");
			bm_emit(v, off, p->size,
				bm_object(v->ctx, 'p', name, NULL));
			/* At LBA 0 it holds this very GPT: probing would
			 * find it again (the budget above bounds that). */
			if (off != 0)
				bm_probe_volume(p);
		}
		free(name);
	}
	free(st->primary.entries);
	free(st->backup.entries);
	free(st);
	return 0;
}

const struct bm_prober bm_gpt_prober = {
	.name = "gpt",
	.kind = BM_PROBE_CONTAINER,
	.probe = gpt_probe,
	.walk = gpt_walk,
	.slot_free = free,
};
