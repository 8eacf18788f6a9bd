/* LVM2 physical volumes: label, PV header, metadata areas.
 *
 * On-disk layout (lvm2 "LVM2 001" format, all fields little-endian):
 *
 *  label header, in one of sectors 0..3 (512 bytes):
 *    0  id "LABELONE"   8  sector_xl (this sector's number)
 *   16  crc_xl (LVM CRC over bytes 20..511)   20  offset_xl (to the PV
 *       header, from the label's start)       24  type "LVM2 001"
 *  PV header, at offset_xl:
 *    0  uuid (32 chars)  32  device size (bytes)
 *   40  data area list: (offset, size) pairs of u64, ended by a zero pair
 *       metadata area list: the same; then an extension (version, flags,
 *       bootloader areas) we do not need.
 *  metadata area header (512 bytes, at each metadata area's offset):
 *    0  checksum (LVM CRC over bytes 4..511)   4  magic " LVM2 x[5A%r0N*>"
 *   20  version (1)   24  start (this area's offset on the PV)   32  size
 *   40  raw locations: (offset from the area start, size, checksum,
 *       flags) of 24 bytes, ended by a zero entry.  Slot 0 holds the
 *       committed metadata text; flag 1 means "ignored".  The text lives
 *       in a circular buffer: [start+512, start+size); a text running
 *       past the end continues at start+512.  Its checksum covers SIZE
 *       bytes (including the final NUL).
 *
 * The VG is built later (vg.c) from every PV seen, so a PV only records
 * itself here, with the newest metadata text it carries.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layers/lvm/lvm.h"

#define LABEL_SCAN_SECTORS 4
#define MDA_HEADER_SIZE 512u
#define MDA_MAGIC " LVM2 x[5A%r0N*>"
#define RAW_LOCN_IGNORED 1u
#define MAX_AREAS 8 /* lvm2 writes at most 2 metadata areas, 1 data area */

uint32_t bm_lvm_crc(uint32_t crc, const void *buf, size_t len)
{
	/* Bitwise: only label sectors, mda headers and metadata text
	 * (small, once per PV) are checked. */
	const uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
	}
	return crc;
}

struct pv_probe {
	uint64_t label_off; /* byte offset of the label sector */
	uint8_t sector[LVM_SECTOR];
	unsigned hdr;       /* offset_xl */
};

static int lvm_probe(struct bm_volume *v, void **state)
{
	uint8_t buf[LABEL_SCAN_SECTORS * LVM_SECTOR];
	if (v->size < sizeof buf)
		return 0;
	if (bm_read(v, buf, sizeof buf, 0) < 0)
		return 0;
	for (unsigned s = 0; s < LABEL_SCAN_SECTORS; s++) {
		const uint8_t *l = buf + s * LVM_SECTOR;
		if (memcmp(l, "LABELONE", 8) != 0)
			continue;
		/* A stale or foreign label is not a PV: lvm2 skips it too. */
		if (bm_le64(l + 8) != s ||
		    !bm_csum_ok(bm_le32(l + 16) ==
				bm_lvm_crc(LVM_INITIAL_CRC, l + 20,
					   LVM_SECTOR - 20)) ||
		    memcmp(l + 24, "LVM2 001", 8) != 0)
			continue;
		uint32_t hdr = bm_le32(l + 20);
		/* The header needs its uuid, size and two list ends. */
		if (hdr < 32 || hdr > LVM_SECTOR - 32 - 8 - 4 * 16)
			continue;
		struct pv_probe *p = bm_malloc(sizeof *p);
		p->label_off = (uint64_t)s * LVM_SECTOR;
		memcpy(p->sector, l, LVM_SECTOR);
		p->hdr = hdr;
		*state = p;
		return 1;
	}
	return 0;
}

/* Read the committed metadata text of the metadata area at OFF (bytes)
 * of size SIZE.  Returns the malloc'd NUL-terminated text or NULL; *WHY
 * says why when the area is damaged (NULL when it is merely empty or
 * ignored).  *TEXT_OFF is where the text starts on the PV. */
static char *read_mda(struct bm_volume *v, uint64_t off, uint64_t size,
		      const char **why, uint64_t *text_off)
{
	uint8_t h[MDA_HEADER_SIZE];
	*why = NULL;
	if (size <= MDA_HEADER_SIZE || !bm_in_range(off, size, v->size)) {
		*why = "metadata area outside the PV";
		return NULL;
	}
	if (bm_read(v, h, sizeof h, off) < 0) {
		*why = "metadata area header unreadable";
		return NULL;
	}
	if (memcmp(h + 4, MDA_MAGIC, 16) != 0 || bm_le32(h + 20) != 1) {
		*why = "bad metadata area header magic or version";
		return NULL;
	}
	if (!bm_csum_ok(bm_le32(h) == bm_lvm_crc(LVM_INITIAL_CRC, h + 4,
						 MDA_HEADER_SIZE - 4))) {
		*why = "metadata area header checksum mismatch";
		return NULL;
	}
	if (bm_le64(h + 24) != off || bm_le64(h + 32) != size) {
		*why = "metadata area header does not match the PV header";
		return NULL;
	}
	const uint8_t *r = h + 40; /* raw location slot 0: committed */
	uint64_t roff = bm_le64(r), rsize = bm_le64(r + 8);
	uint32_t rsum = bm_le32(r + 16), rflags = bm_le32(r + 20);
	if (rsize == 0 || (rflags & RAW_LOCN_IGNORED))
		return NULL;
	uint64_t buflen = size - MDA_HEADER_SIZE;
	if (roff < MDA_HEADER_SIZE || roff >= size || rsize > buflen ||
	    rsize > LVM_MAX_META) {
		*why = "metadata text location out of range";
		return NULL;
	}
	*text_off = off + roff; /* both within the PV: no overflow */
	char *text = bm_malloc(rsize + 1);
	/* The circular buffer: the part past the end wraps to just after
	 * the header. */
	uint64_t first = size - roff < rsize ? size - roff : rsize;
	if (bm_read(v, text, first, off + roff) < 0 ||
	    (rsize > first &&
	     bm_read(v, text + first, rsize - first,
		     off + MDA_HEADER_SIZE) < 0)) {
		free(text);
		*why = "metadata text unreadable";
		return NULL;
	}
	if (!bm_csum_ok(bm_lvm_crc(LVM_INITIAL_CRC, text, rsize) == rsum)) {
		free(text);
		*why = "metadata text checksum mismatch";
		return NULL;
	}
	text[rsize] = '\0';
	return text;
}

static void uuid_copy(char *dst, const uint8_t *src)
{
	for (int i = 0; i < LVM_ID_LEN; i++) {
		char c = (char)src[i];
		/* lvm2 uuids are [A-Za-z0-9]; keep output printable. */
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			  (c >= 'A' && c <= 'Z');
		dst[i] = ok ? c : '?';
	}
	dst[LVM_ID_LEN] = '\0';
}

static void slot_add_pv(struct bm_ctx *ctx, struct lvm_pv *pv)
{
	struct lvm_slot **slotp =
		(struct lvm_slot **)bm_ctx_slot(ctx, &bm_lvm_prober);
	if (!*slotp)
		*slotp = bm_calloc(1, sizeof **slotp);
	struct lvm_slot *s = *slotp;
	s->pvs = bm_reallocarray(s->pvs, s->npvs + 1, sizeof *s->pvs);
	s->pvs[s->npvs++] = pv;
}

static int lvm_walk(struct bm_volume *v, void *state)
{
	struct pv_probe *p = state;
	struct bm_ctx *ctx = v->ctx;
	const uint8_t *ph = p->sector + p->hdr;
	const uint8_t *end = p->sector + LVM_SECTOR;

	bm_emit(v, p->label_off, 32, bm_object(ctx, 'm', v->dev, "LVM2 label"));
	bm_emit(v, p->label_off + p->hdr, LVM_SECTOR - p->hdr,
		bm_object(ctx, 'm', v->dev, "LVM2 PV header"));

	struct lvm_pv *pv = bm_calloc(1, sizeof *pv);
	pv->vol = v;
	uuid_copy(pv->uuid, ph);

	/* Two zero-terminated lists: data areas, then metadata areas.
	 * Each loop is bounded by the sector's end (checked before every
	 * 16-byte entry) and by MAX_AREAS. */
	const uint8_t *q = ph + 40;
	unsigned n = 0;
	while (q + 16 <= end && bm_le64(q) != 0 && n++ < MAX_AREAS)
		q += 16;
	q += 16; /* the terminator */
	uint64_t best_seq = 0;
	bool have = false;
	bm_obj mda_obj = bm_object(ctx, 'm', v->dev, "LVM2 metadata area");
	for (n = 0; q + 16 <= end && bm_le64(q) != 0 && n < MAX_AREAS;
	     n++, q += 16) {
		uint64_t off = bm_le64(q), size = bm_le64(q + 8);
		if (!bm_in_range(off, size, v->size)) {
			bm_warn(ctx, v->dev, off,
				"LVM2 metadata area of size 0x%llx runs past "
				"the end of the PV: ignored",
				(unsigned long long)size);
			continue;
		}
		bm_emit(v, off, size, mda_obj);
		const char *why;
		uint64_t text_off = 0;
		char *text = read_mda(v, off, size, &why, &text_off);
		if (!text) {
			if (why)
				bm_warn(ctx, v->dev, off, "LVM2 %s", why);
			else
				pv->orphan = true;
			continue;
		}
		char *name = NULL, *id = NULL;
		uint64_t seq;
		if (bm_lvm_text_vgid(text, &name, &id, &seq, &why) < 0) {
			bm_warn(ctx, v->dev, text_off,
				"LVM2 metadata text: %s", why);
			free(text);
			continue;
		}
		/* Several areas hold copies: the highest seqno is current. */
		if (!have || seq > best_seq) {
			free(pv->text);
			free(pv->vgid);
			free(pv->vgname);
			pv->text = text;
			pv->text_off = text_off;
			pv->vgid = id;
			pv->vgname = name;
			best_seq = pv->seqno = seq;
			have = true;
		} else {
			free(text);
			free(id);
			free(name);
		}
	}
	bm_debug(ctx, "%s: LVM2 PV %s%s%s", v->dev, pv->uuid,
		 pv->vgname ? " of VG " : " (no metadata)",
		 pv->vgname ? pv->vgname : "");
	slot_add_pv(ctx, pv);
	free(p);
	return 0;
}

static void lvm_slot_free(void *slot)
{
	struct lvm_slot *s = slot;
	if (!s)
		return;
	for (size_t i = 0; i < s->npvs; i++) {
		free(s->pvs[i]->text);
		free(s->pvs[i]->vgid);
		free(s->pvs[i]->vgname);
		free(s->pvs[i]);
	}
	free(s->pvs);
	for (size_t i = 0; i < s->nvgs; i++)
		bm_lvm_vg_unref(s->vgs[i]);
	free(s->vgs);
	for (size_t i = 0; i < s->ndone; i++)
		free(s->done[i]);
	free(s->done);
	free(s);
}

const struct bm_prober bm_lvm_prober = {
	.name = "LVM2_member",
	.kind = BM_PROBE_MEMBER,
	.probe = lvm_probe,
	.walk = lvm_walk,
	.assemble = bm_lvm_assemble,
	.slot_free = lvm_slot_free,
};
