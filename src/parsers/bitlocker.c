/* BitLocker (Windows Vista/7+ and BitLocker To Go): detection and the
 * unencrypted pieces.
 *
 * On-disk format: libbde's "BitLocker Drive Encryption (BDE) format"
 * (github.com/libyal/libbde, documentation/).  The boot sector carries
 * the OEM name "-FVE-FS-" (or "MSWIN4.1" for To Go) and, at 0xA0
 * (0x1A8 for To Go), the BitLocker GUID 4967d63b-2e29-4ad8-8399-
 * f6a339e3d001 (92a84d3b-dd80-4d0e-9e4e-b1e3284eaed8 when only used space
 * is encrypted) followed by three 64-bit byte offsets of the FVE metadata
 * blocks.  Each block starts with "-FVE-FS-", u16 size, u16 version
 * (2 for Windows 7+), and for version 2: u64 encrypted volume size at
 * 16, u32 number of volume header sectors at 28, the three block
 * offsets again at 32 and the volume header offset at 56 (where the
 * original first sectors of the volume are kept, encrypted).  Windows
 * reserves 64 KiB for each block.
 *
 * Windows Vista (boot entry EB 52 90, no GUID) keeps an NTFS-like boot
 * sector whose MFT-mirror field (offset 56) holds the cluster number of
 * FVE metadata block 1 instead.  Its blocks have header version 1: the
 * three block offsets at 32, no size and no volume header copy; the
 * first 16 sectors of the volume stay unencrypted, and Vista reserves
 * 16 KiB per block (its FVE.{GUID}.[123] files), more if the metadata
 * says so.
 *
 * bmapgen does not decrypt: everything but the boot sectors, the
 * metadata blocks and the volume header copy is one opaque object,
 * "encrypted payload" (a -v note, not a warning).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"

#define FVE_BLOCK_SPACE 65536

static const uint8_t bde_guid[16] = {0x3b, 0xd6, 0x67, 0x49, 0x29, 0x2e,
				     0xd8, 0x4a, 0x83, 0x99, 0xf6, 0xa3,
				     0x39, 0xe3, 0xd0, 0x01};
/* ... and of a volume encrypted "used disk space only" (encrypt on write,
 * 92a84d3b-dd80-4d0e-9e4e-b1e3284eaed8, libbde's format notes): the same
 * metadata layout. */
static const uint8_t bde_eow_guid[16] = {0x3b, 0x4d, 0xa8, 0x92, 0x80, 0xdd,
					 0x0e, 0x4d, 0x9e, 0x4e, 0xb1, 0xe3,
					 0x28, 0x4e, 0xae, 0xd8};

static bool bde_id(const uint8_t *g)
{
	return memcmp(g, bde_guid, 16) == 0 || memcmp(g, bde_eow_guid, 16) == 0;
}

struct bde_piece {
	uint64_t off, len;
	const char *name;
};

struct bde_state {
	struct bde_piece p[6];
	size_t n;
	unsigned version;
	uint64_t enc_size;
};

static void add(struct bde_state *s, uint64_t off, uint64_t len, const char *name)
{
	if (s->n < sizeof s->p / sizeof *s->p && len)
		s->p[s->n++] = (struct bde_piece){off, len, name};
}

#define FVE_BLOCK_SPACE_V1 16384

/* Windows Vista: version-1 metadata blocks found through the cluster
 * number at offset 56 of the boot sector SEC. */
static int vista_probe(struct bm_volume *v, const uint8_t *sec, void **state)
{
	uint32_t bps = bm_le16(sec + 11), spc = sec[13];
	uint64_t first, offs[3];
	uint8_t blk[68];

	if (bps < 512 || bps > 4096 || (bps & (bps - 1)) || spc == 0 ||
	    (spc & (spc - 1)) ||
	    !bm_mul(bm_le64(sec + 56), (uint64_t)bps * spc, &first) ||
	    !bm_in_range(first, sizeof blk, v->size) ||
	    bm_read(v, blk, sizeof blk, first) < 0 ||
	    memcmp(blk, "-FVE-FS-", 8) != 0 || bm_le16(blk + 10) != 1) {
		bm_warn(v->ctx, v->dev, 56, "BitLocker (Windows Vista format) "
			"volume without a valid FVE metadata block at the "
			"cluster its boot sector names: not mapped");
		return -1;
	}
	for (unsigned i = 0; i < 3; i++)
		offs[i] = bm_le64(blk + 32 + 8 * i);
	if (offs[0] != first && offs[1] != first && offs[2] != first) {
		bm_warn(v->ctx, v->dev, first, "BitLocker (Windows Vista "
			"format): the FVE metadata block does not list its "
			"own offset: not mapped");
		return -1;
	}
	/* Block header (64 bytes), then the metadata whose first u32 is
	 * its size; never less than what Vista reserves, and a size past
	 * 1 MiB is not believed. */
	uint64_t space = 64 + (uint64_t)bm_le32(blk + 64);
	space = (space + bps - 1) / bps * bps;
	if (space < FVE_BLOCK_SPACE_V1 || space > (1u << 20))
		space = FVE_BLOCK_SPACE_V1;

	struct bde_state *s = bm_calloc(1, sizeof *s);
	s->version = 1;
	/* Total sectors (offset 40), for the truncation check. */
	if (!bm_mul(bm_le64(sec + 40), bps, &s->enc_size))
		s->enc_size = 0;
	add(s, 0, 16 * (uint64_t)bps, "bitlocker boot sectors");
	for (unsigned i = 0; i < 3; i++)
		add(s, offs[i], space, "bitlocker metadata");
	*state = s;
	return 1;
}

static int bde_probe(struct bm_volume *v, void **state)
{
	uint8_t sec[512], blk[64];
	size_t goff;

	if (v->size < 65536 || bm_read(v, sec, sizeof sec, 0) < 0)
		return 0;
	if (memcmp(sec + 3, "-FVE-FS-", 8) == 0 &&
	    bde_id(sec + 0xA0))
		goff = 0xA0;
	else if (memcmp(sec + 3, "MSWIN4.1", 8) == 0 &&
		 bde_id(sec + 0x1A8))
		goff = 0x1A8;
	else if (memcmp(sec + 3, "-FVE-FS-", 8) == 0)
		return vista_probe(v, sec, state);
	else
		return 0;

	/* The metadata blocks must be where the boot sector says and agree
	 * on each other's positions; one good copy is enough. */
	uint64_t offs[3];
	for (unsigned i = 0; i < 3; i++)
		offs[i] = bm_le64(sec + goff + 16 + 8 * i);
	struct bde_state *s = bm_calloc(1, sizeof *s);
	bool good = false;
	for (unsigned i = 0; i < 3 && !good; i++) {
		if (!bm_in_range(offs[i], sizeof blk, v->size) ||
		    bm_read(v, blk, sizeof blk, offs[i]) < 0 ||
		    memcmp(blk, "-FVE-FS-", 8) != 0)
			continue;
		s->version = bm_le16(blk + 10);
		if (s->version != 2)
			continue;
		good = bm_le64(blk + 32) == offs[0] && bm_le64(blk + 40) == offs[1] &&
		       bm_le64(blk + 48) == offs[2];
		if (!good)
			continue;
		s->enc_size = bm_le64(blk + 16);
		uint64_t nhdr = bm_le32(blk + 28), vh = bm_le64(blk + 56);
		if (nhdr > 1024 || !bm_in_range(vh, nhdr * 512, UINT64_MAX))
			nhdr = 0;
		add(s, 0, nhdr ? nhdr * 512 : 512, "bitlocker boot sectors");
		add(s, vh, nhdr * 512, "bitlocker volume header");
	}
	if (!good) {
		bm_warn(v->ctx, v->dev, 0, "BitLocker volume without a valid "
			"FVE metadata block: not mapped");
		free(s);
		return -1;
	}
	for (unsigned i = 0; i < 3; i++)
		add(s, offs[i], FVE_BLOCK_SPACE, "bitlocker metadata");
	*state = s;
	return 1;
}

static int bde_walk(struct bm_volume *v, void *state)
{
	struct bde_state *s = state;

	/* Sort the pieces (at most 6: insertion sort) and map the gaps
	 * between them as the payload. */
	for (size_t i = 1; i < s->n; i++)
		for (size_t k = i; k > 0 && s->p[k - 1].off > s->p[k].off; k--) {
			struct bde_piece t = s->p[k];
			s->p[k] = s->p[k - 1];
			s->p[k - 1] = t;
		}
	if (s->enc_size > v->size)
		bm_warn(v->ctx, v->dev, v->size, "BitLocker volume is %llu bytes "
			"but its container only %llu (truncated image?)",
			(unsigned long long)s->enc_size,
			(unsigned long long)v->size);
	bm_debug(v->ctx, "%s: BitLocker: bmapgen does not decrypt, the "
		 "contents of the encrypted payload are not mapped", v->dev);

	bm_obj payload = bm_object(v->ctx, 'm', v->dev, "encrypted payload");
	uint64_t pos = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t off = s->p[i].off, len = s->p[i].len;
		if (off >= v->size)
			continue;
		if (len > v->size - off)
			len = v->size - off;
		if (off + len <= pos)
			continue; /* inside an earlier piece */
		if (off < pos) {
			len -= pos - off;
			off = pos;
		}
		if (off > pos)
			bm_emit(v, pos, off - pos, payload);
		bm_emit(v, off, len, bm_object(v->ctx, 'm', v->dev, s->p[i].name));
		pos = off + len;
	}
	if (pos < v->size)
		bm_emit(v, pos, v->size - pos, payload);
	free(s);
	return 0;
}

const struct bm_prober bm_bitlocker_prober = {
	.name = "BitLocker",
	.kind = BM_PROBE_OTHER,
	.probe = bde_probe,
	.walk = bde_walk,
};
