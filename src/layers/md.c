/* Linux md-RAID: member superblocks and array assembly.
 *
 * On-disk format: include/uapi/linux/raid/md_p.h and the loaders in
 * drivers/md/md.c (super_90_load, super_1_load, *_validate), bitmap
 * header in drivers/md/md-bitmap.h; md(4).
 *
 *  - 0.90: a 4 KiB superblock of 32-bit words in the writer's byte order,
 *    at the last 64 KiB-aligned 64 KiB of the device; data from offset
 *    0; an internal bitmap follows the superblock.  Checksum: sum of the
 *    words, folded to 16 bits before comparing.
 *  - 1.x (little endian): 1.0 at (size - 8 KiB) rounded down to 4 KiB,
 *    1.1 at 0, 1.2 at 4 KiB; super_offset records where it is, so a
 *    superblock seen through a different device (a whole disk instead of
 *    its partition) is rejected.  Data at data_offset; bitmap, bad block
 *    log and PPL at signed sector offsets from the superblock.  Roles of
 *    all devices in dev_roles[], indexed by each device's dev_number.
 *
 * walk() emits a member's metadata and registers it in the prober slot;
 * assemble() builds an array when every role is filled by a fresh member
 * (events at most one behind the freshest, as md and mdadm allow), or in
 * the final assembly round with the members present (degraded).  The
 * array is a volume (raid.c) named /dev/md/NAME from the superblock name
 * (host prefix dropped) or /dev/mdN in discovery order; its footprint is
 * emitted as an 'l' object named after the array (data and parity).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "../bmapgen.h"
#include "raid.h"

extern const struct bm_prober bm_md_prober;

#define MD_MAGIC 0xa92b4efcu
#define MD_SB_BYTES 4096
#define MD_RESERVED (64 * 1024)   /* 0.90: space kept at the end */
#define MD_SB1_MAX_DEV ((4096 - 256) / 2)
#define MD_090_DISKS 27

#define MD_ROLE_SPARE 0xffff
#define MD_ROLE_FAULTY 0xfffe
#define MD_ROLE_JOURNAL 0xfffd
#define MD_ROLE_MAX 0xff00

/* 1.x feature_map bits */
#define MD_F_BITMAP 1u
#define MD_F_RECOVERY 2u
#define MD_F_RESHAPE 4u
#define MD_F_BAD_BLOCKS 8u
#define MD_F_REPLACEMENT 16u
#define MD_F_JOURNAL 512u
#define MD_F_PPL 1024u
#define MD_F_MULTIPLE_PPLS 2048u
#define MD_F_RAID0_LAYOUT 4096u
#define MD_F_ALL 0x1fffu

#define BITMAP_MAGIC 0x6d746962u /* "bitm" */

/* One member's superblock, parsed. */
struct md_sb {
	int major, minor;      /* 0.90 or 1.0/1.1/1.2 */
	bool be;               /* 0.90 written by a big-endian host */
	uint64_t sb_off, sb_len;
	uint8_t uuid[16];
	char name[33];
	int level, layout;
	unsigned raid_disks;
	uint64_t chunk;        /* bytes */
	uint64_t used;         /* bytes per member for levels >= 1 */
	uint64_t data_off, data_size;
	uint64_t events, ctime;
	uint32_t features;
	bool reshape;
	unsigned desc_nr;      /* index into roles */
	unsigned nroles;
	uint16_t roles[MD_SB1_MAX_DEV];
	/* extra areas on the member, 0 length when absent */
	bool has_bitmap;
	uint64_t bitmap_off;
	uint64_t bblog_off, bblog_len;
	uint64_t ppl_off, ppl_len;
};

struct md_member {
	struct md_sb sb;
	struct bm_volume *vol;
	bool done; /* used for an array, or given up on */
};

struct md_slot {
	struct md_member **m;
	size_t n, cap;
	unsigned unnamed;   /* next N for /dev/mdN */
	char **names;       /* array names handed out */
	uint8_t (*built)[16]; /* UUIDs of arrays built */
	size_t nnames, nbuilt;
};

/* ------------------------------------------------------------------ */
/* Superblock parsing                                                  */

static uint32_t w090(const uint8_t *b, bool be, unsigned word)
{
	return be ? bm_be32(b + 4 * word) : bm_le32(b + 4 * word);
}

/* 0.90 at the end of V.  Returns 1 and fills SB, or 0. */
static int parse_090(struct bm_volume *v, struct md_sb *sb)
{
	uint8_t b[MD_SB_BYTES];
	uint64_t end = v->size & ~(uint64_t)(MD_RESERVED - 1);
	if (end < 2 * MD_RESERVED)
		return 0;
	uint64_t off = end - MD_RESERVED;
	if (bm_read(v, b, sizeof b, off) < 0)
		return 0;
	bool be;
	if (bm_le32(b) == MD_MAGIC)
		be = false;
	else if (bm_be32(b) == MD_MAGIC)
		be = true;
	else
		return 0;
	uint32_t minor = w090(b, be, 2);
	if (w090(b, be, 1) != 0 || (minor != 90 && minor != 91))
		return 0;
	uint32_t raid_disks = w090(b, be, 10);
	if (raid_disks == 0 || raid_disks > MD_090_DISKS)
		return 0;
	/* Sum of the words with sb_csum (word 38) as zero, folded to 32
	 * and then 16 bits on both sides as md compares it. */
	uint64_t sum = 0;
	for (unsigned i = 0; i < MD_SB_BYTES / 4; i++)
		if (i != 38)
			sum += w090(b, be, i);
	uint32_t c = (uint32_t)(sum & 0xffffffff) + (uint32_t)(sum >> 32);
	uint32_t d = w090(b, be, 38);
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	d = (d & 0xffff) + (d >> 16);
	d = (d & 0xffff) + (d >> 16);
	if (!bm_csum_ok(c == d)) {
		bm_debug(v->ctx, "%s: md 0.90 superblock checksum mismatch",
			 v->dev);
		return 0;
	}
	memset(sb, 0, sizeof *sb);
	sb->major = 0;
	sb->minor = (int)minor;
	sb->be = be;
	sb->sb_off = off;
	sb->sb_len = MD_SB_BYTES;
	memcpy(sb->uuid, b + 4 * 5, 4);
	memcpy(sb->uuid + 4, b + 4 * 13, 12);
	sb->level = (int32_t)w090(b, be, 7);
	sb->layout = (int32_t)w090(b, be, 64);
	sb->raid_disks = raid_disks;
	sb->chunk = w090(b, be, 65);
	sb->used = (uint64_t)w090(b, be, 8) * 1024;
	sb->data_off = 0;
	sb->data_size = off;
	/* events_hi/lo are stored in the writer's u64 order */
	uint64_t e1 = w090(b, be, 39), e2 = w090(b, be, 40);
	sb->events = be ? e1 << 32 | e2 : e2 << 32 | e1;
	sb->ctime = w090(b, be, 6);
	sb->reshape = minor == 91;
	sb->desc_nr = w090(b, be, 992);
	if (sb->desc_nr >= MD_090_DISKS) {
		bm_warn(v->ctx, v->dev, off, "md 0.90 superblock: this_disk "
			"number %u out of range: not used", sb->desc_nr);
		return 0;
	}
	sb->nroles = MD_090_DISKS;
	for (unsigned i = 0; i < MD_090_DISKS; i++) {
		uint32_t rd = w090(b, be, 128 + 32 * i + 3);
		uint32_t st = w090(b, be, 128 + 32 * i + 4);
		if (st & 1) /* MD_DISK_FAULTY */
			sb->roles[i] = MD_ROLE_FAULTY;
		else if ((st & 4) && rd < raid_disks) /* MD_DISK_SYNC */
			sb->roles[i] = (uint16_t)rd;
		else
			sb->roles[i] = MD_ROLE_SPARE;
	}
	if (w090(b, be, 33) & (1u << 8)) { /* MD_SB_BITMAP_PRESENT */
		sb->has_bitmap = true;
		sb->bitmap_off = off + MD_SB_BYTES;
	}
	if (sb->level >= 1 && sb->used > sb->data_size) {
		bm_warn(v->ctx, v->dev, off, "md 0.90 superblock: each member "
			"holds 0x%llx bytes of the array, more than the 0x%llx "
			"before the superblock: not used",
			(unsigned long long)sb->used,
			(unsigned long long)sb->data_size);
		return 0;
	}
	return 1;
}

/* A signed sector offset from the superblock at SB_OFF, as bytes from
 * the device start; false if it falls outside [0, SIZE). */
static bool rel_off(uint64_t sb_off, int64_t sectors, uint64_t size,
		    uint64_t *out)
{
	int64_t bytes = sectors * 512; /* |sectors| < 2^31: no overflow */
	if (bytes < 0 && (uint64_t)-bytes > sb_off)
		return false;
	*out = sb_off + (uint64_t)bytes;
	return *out < size;
}

/* 1.MINOR at SB_OFF.  Returns 1 and fills SB, or 0. */
static int parse_1(struct bm_volume *v, int minor, uint64_t sb_off,
		   struct md_sb *sb)
{
	uint8_t b[MD_SB_BYTES];
	if (bm_read(v, b, sizeof b, sb_off) < 0)
		return 0;
	if (bm_le32(b) != MD_MAGIC || bm_le32(b + 4) != 1)
		return 0;
	uint32_t max_dev = bm_le32(b + 220);
	uint32_t features = bm_le32(b + 8);
	uint64_t so;
	if (max_dev > MD_SB1_MAX_DEV ||
	    !bm_mul(bm_le64(b + 144), 512, &so) || so != sb_off ||
	    (features & ~MD_F_ALL) || bm_le32(b + 12) != 0)
		return 0;
	/* Checksum: 32-bit little-endian words up to dev_roles[max_dev],
	 * sb_csum as zero, a trailing 16-bit word added, folded once. */
	size_t size = 256 + 2 * (size_t)max_dev;
	uint64_t sum = 0;
	size_t i;
	for (i = 0; i + 4 <= size; i += 4)
		if (i != 216)
			sum += bm_le32(b + i);
	if (size - i == 2)
		sum += bm_le16(b + i);
	uint32_t csum = (uint32_t)(sum & 0xffffffff) + (uint32_t)(sum >> 32);
	if (!bm_csum_ok(csum == bm_le32(b + 216))) {
		bm_debug(v->ctx, "%s: md 1.%d superblock checksum mismatch",
			 v->dev, minor);
		return 0;
	}
	memset(sb, 0, sizeof *sb);
	sb->major = 1;
	sb->minor = minor;
	sb->sb_off = sb_off;
	unsigned ss = v->sector_size >= 512 ? v->sector_size : 512;
	sb->sb_len = (size + ss - 1) / ss * ss;
	memcpy(sb->uuid, b + 16, 16);
	memcpy(sb->name, b + 32, 32);
	sb->name[32] = 0;
	sb->ctime = bm_le64(b + 64) & ((1ull << 40) - 1);
	sb->level = (int32_t)bm_le32(b + 72);
	sb->layout = (int32_t)bm_le32(b + 76);
	uint64_t sectors = bm_le64(b + 80);
	sb->chunk = (uint64_t)bm_le32(b + 88) * 512;
	sb->raid_disks = bm_le32(b + 92);
	sb->features = features;
	sb->reshape = features & MD_F_RESHAPE;
	uint64_t doff = bm_le64(b + 128), dsize = bm_le64(b + 136);
	uint64_t limit = minor == 0 ? sb_off : v->size;
	/* The checksum matched: a superblock md wrote, since damaged (or
	 * crafted), is reported rather than silently ignored. */
	if (doff > UINT64_MAX / 512 || dsize > UINT64_MAX / 512 ||
	    sectors > UINT64_MAX / 512 || dsize < 10 ||
	    !bm_in_range(doff * 512, dsize * 512, limit) ||
	    (minor != 0 && doff * 512 < sb_off + sb->sb_len) ||
	    sb->raid_disks == 0 || sb->raid_disks > MD_SB1_MAX_DEV) {
		bm_warn(v->ctx, v->dev, sb_off,
			"md 1.%d superblock: data area (sector %llu, %llu "
			"sectors) or member count %u out of range: not used",
			minor, (unsigned long long)doff,
			(unsigned long long)dsize, sb->raid_disks);
		return 0;
	}
	sb->data_off = doff * 512;
	sb->data_size = dsize * 512;
	sb->used = sectors * 512;
	sb->events = bm_le64(b + 200);
	sb->desc_nr = bm_le32(b + 160);
	sb->nroles = max_dev;
	for (unsigned k = 0; k < max_dev; k++)
		sb->roles[k] = bm_le16(b + 256 + 2 * k);
	if (features & MD_F_BITMAP)
		sb->has_bitmap = rel_off(sb_off, (int32_t)bm_le32(b + 96),
					 v->size, &sb->bitmap_off);
	if (features & (MD_F_PPL | MD_F_MULTIPLE_PPLS)) {
		uint64_t len = (uint64_t)bm_le16(b + 98) * 512;
		if (len && rel_off(sb_off, (int16_t)bm_le16(b + 96), v->size,
				   &sb->ppl_off))
			sb->ppl_len = len;
	}
	uint64_t bblen = (uint64_t)bm_le16(b + 186) * 512;
	if (bm_le32(b + 188) && bblen &&
	    rel_off(sb_off, (int32_t)bm_le32(b + 188), v->size, &sb->bblog_off))
		sb->bblog_len = bblen;
	return 1;
}

/* Does a GPT (header at LBA 1, sectors of SS bytes) put a partition over
 * OFF?  (No CRC check: a table that only looks right is reason enough
 * not to read the whole disk as an array member.) */
#define MD_GPT_MAX_ARRAY (4u << 20)
static bool gpt_covers(struct bm_volume *v, uint64_t ss, uint64_t off)
{
	uint8_t h[92];
	if (v->size < 3 * ss || bm_read(v, h, sizeof h, ss) < 0 ||
	    memcmp(h, "EFI PART", 8) != 0)
		return false;
	uint64_t lba = bm_le64(h + 72), aoff, asize;
	uint32_t n = bm_le32(h + 80), esz = bm_le32(h + 84);
	if (esz < 128 || (esz & (esz - 1)) || !bm_mul(n, esz, &asize) ||
	    asize > MD_GPT_MAX_ARRAY || !bm_mul(lba, ss, &aoff) ||
	    !bm_in_range(aoff, asize, v->size))
		return false;
	uint8_t *a = bm_malloc(asize ? asize : 1);
	bool hit = false;
	if (bm_read(v, a, asize, aoff) == 0) {
		static const uint8_t unused[16];
		for (uint32_t i = 0; i < n && !hit; i++) {
			const uint8_t *e = a + (size_t)i * esz;
			uint64_t first = bm_le64(e + 32), last = bm_le64(e + 40);
			uint64_t start, end;
			if (memcmp(e, unused, 16) == 0 || last < first ||
			    !bm_mul(first, ss, &start) ||
			    !bm_muladd(last, ss, ss, &end))
				continue;
			hit = start <= off && off < end && end <= v->size;
		}
	}
	free(a);
	return hit;
}

/* Does a partition table of V (DOS, or GPT behind a protective MBR) put a
 * partition over OFF?  Then a 0.90 superblock seen at OFF belongs to that
 * partition (its end coincides with the disk's: a partition reaching the
 * last usable LBA, 64 KiB-aligned), not to V: libblkid makes the same
 * check.  DOS entries count in the disk's logical sectors. */
static bool covered_by_partition(struct bm_volume *v, uint64_t off)
{
	uint8_t s[512];
	uint64_t ss = v->sector_size >= 512 ? v->sector_size : 512;
	if (bm_read(v, s, sizeof s, 0) < 0 || s[510] != 0x55 || s[511] != 0xaa)
		return false;
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = s + 446 + 16 * i;
		uint64_t start = (uint64_t)bm_le32(e + 8) * ss;
		uint64_t len = (uint64_t)bm_le32(e + 12) * ss;
		/* as gpt.c and mbr.c read tables: a GPT behind an 0xEE
		 * entry from LBA 1, any other entry with sectors */
		if (e[4] == 0xee) {
			if (bm_le32(e + 8) == 1 && (gpt_covers(v, 512, off) ||
						    gpt_covers(v, 4096, off)))
				return true;
			continue;
		}
		if (len && start <= off && off - start < len &&
		    start + len <= v->size)
			return true;
	}
	return false;
}

static bool contains(const struct md_sb *outer, const struct md_sb *inner)
{
	return inner->sb_off >= outer->data_off &&
	       inner->sb_off - outer->data_off < outer->data_size;
}

static int md_probe(struct bm_volume *v, void **state)
{
	struct md_sb *c = bm_calloc(5, sizeof *c);
	int n = 0;
	if (v->size >= 8192 + MD_SB_BYTES && parse_1(v, 1, 0, &c[n]))
		n++;
	if (v->size >= 8192 + MD_SB_BYTES && parse_1(v, 2, 4096, &c[n]))
		n++;
	if (v->size >= 3 * 4096 &&
	    parse_1(v, 0, (v->size - 8192) & ~(uint64_t)4095, &c[n]))
		n++;
	if (parse_090(v, &c[n])) {
		if (covered_by_partition(v, c[n].sb_off))
			bm_debug(v->ctx,
				 "%s: md 0.90 superblock inside a partition",
				 v->dev);
		else
			n++;
	}
	if (n == 0) {
		free(c);
		return 0;
	}
	/* Several superblocks: one may lie in the data area of another
	 * (an array whose contents start or end with a member of another
	 * array); the outer one describes V.  Among outer ones, the newest
	 * (mdadm picks by creation time). */
	int best = -1;
	for (int i = 0; i < n; i++) {
		bool inner = false;
		for (int j = 0; j < n; j++)
			if (j != i && contains(&c[j], &c[i]) &&
			    !contains(&c[i], &c[j]))
				inner = true;
		if (!inner && (best < 0 || c[i].ctime > c[best].ctime))
			best = i;
	}
	if (best < 0)
		best = 0;
	struct md_member *m = bm_calloc(1, sizeof *m);
	m->sb = c[best];
	m->vol = v;
	free(c);
	*state = m;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Member metadata                                                     */

static void emit_m(struct bm_volume *v, uint64_t off, uint64_t len,
		   const char *what)
{
	if (len)
		bm_emit(v, off, len, bm_object(v->ctx, 'm', v->dev, what));
}

/* The internal write-intent bitmap: a 256-byte header then one bit per
 * bitmap chunk of the synced size (md_bitmap_storage_alloc()). */
static void emit_bitmap(struct bm_volume *v, const struct md_sb *sb)
{
	uint8_t h[256];
	if (bm_read(v, h, sizeof h, sb->bitmap_off) < 0 ||
	    bm_le32(h) != BITMAP_MAGIC || bm_le32(h + 4) < 3 ||
	    bm_le32(h + 4) > 5) {
		bm_warn(v->ctx, v->dev, sb->bitmap_off,
			"md bitmap announced but its header is missing: "
			"not mapped");
		return;
	}
	uint64_t sync = bm_le64(h + 40), chunk = bm_le32(h + 52);
	uint32_t nodes = bm_le32(h + 68);
	if (chunk < 512 || (chunk & (chunk - 1)) || sync > UINT64_MAX / 512 ||
	    nodes > 64) {
		bm_warn(v->ctx, v->dev, sb->bitmap_off,
			"md bitmap header has impossible values: not mapped");
		return;
	}
	/* sync * 512 fits (checked above); the rounding up is done without
	 * adding to it: a chunk of 2^31 would wrap */
	uint64_t bits = sync * 512 / chunk + (sync * 512 % chunk != 0);
	uint64_t bytes = 256 + (bits + 7) / 8, len;
	if (nodes > 1) /* a clustered array: one page-aligned bitmap each */
		len = (bytes + 4095) / 4096 * 4096 * nodes;
	else
		len = (bytes + 511) / 512 * 512;
	emit_m(v, sb->bitmap_off, len, "md bitmap");
}

static void slot_add(struct md_slot *s, struct md_member *m)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->m = bm_reallocarray(s->m, s->cap, sizeof *s->m);
	}
	s->m[s->n++] = m;
}

static int md_walk(struct bm_volume *v, void *state)
{
	struct md_member *m = state;
	struct md_sb *sb = &m->sb;
	void **slotp = bm_ctx_slot(v->ctx, &bm_md_prober);
	if (!*slotp)
		*slotp = bm_calloc(1, sizeof(struct md_slot));
	bm_debug(v->ctx,
		 "%s: md %d.%d member, level %d, %u disks, events %llu", v->dev,
		 sb->major, sb->minor, sb->level, sb->raid_disks,
		 (unsigned long long)sb->events);
	emit_m(v, sb->sb_off, sb->sb_len, "md superblock");
	if (sb->has_bitmap)
		emit_bitmap(v, sb);
	emit_m(v, sb->bblog_off, sb->bblog_len, "md bad block log");
	emit_m(v, sb->ppl_off, sb->ppl_len, "md ppl");
	if (sb->desc_nr < sb->nroles &&
	    sb->roles[sb->desc_nr] == MD_ROLE_JOURNAL)
		emit_m(v, sb->data_off, sb->data_size, "md journal");
	slot_add(*slotp, m);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Assembly                                                            */

static int raid_level(int md_level)
{
	switch (md_level) {
	case -1:
		return BM_RAID_LINEAR;
	case 0:
	case 1:
	case 4:
	case 5:
	case 6:
	case 10:
		return md_level;
	default:
		return -100;
	}
}

static bool same_array(const struct md_sb *a, const struct md_sb *b)
{
	return a->major == b->major && memcmp(a->uuid, b->uuid, 16) == 0;
}

static char *array_name(struct md_slot *s, const struct md_sb *sb)
{
	/* 1.x names are "homehost:name" or "name". */
	const char *name = strchr(sb->name, ':');
	name = name ? name + 1 : sb->name;
	char *base;
	if (sb->major == 1 && *name && !strchr(name, '/') &&
	    strcmp(name, ".") && strcmp(name, ".."))
		base = bm_asprintf("/dev/md/%s", name);
	else
		base = bm_asprintf("/dev/md%u", s->unnamed++);
	/* Two arrays with one name (from two hosts): suffix as mdadm. */
	char *res = bm_strdup(base);
	for (unsigned k = 0;; k++) {
		bool clash = false;
		for (size_t i = 0; i < s->nnames && !clash; i++)
			clash = strcmp(s->names[i], res) == 0;
		if (!clash)
			break;
		free(res);
		res = bm_asprintf("%s_%u", base, k); /* ends: names finite */
	}
	free(base);
	s->names = bm_reallocarray(s->names, s->nnames + 1, sizeof *s->names);
	s->names[s->nnames++] = bm_strdup(res);
	return res;
}

static const char *uuid_str(const uint8_t *u, char *buf)
{
	for (int i = 0; i < 16; i++)
		sprintf(buf + 2 * i + (i / 4), "%02x%s", u[i],
			i % 4 == 3 && i < 15 ? ":" : "");
	return buf;
}

/* Try to build the array of the members in IDX[0..N) (one UUID).
 * Returns 1 if an array volume was built, 0 otherwise; sets *GIVE_UP
 * when the members should not be looked at again. */
static int assemble_one(struct bm_ctx *ctx, struct md_slot *s, size_t *idx,
			size_t n, bool final, bool *give_up)
{
	char ubuf[40];
	struct md_member *fresh = NULL;
	*give_up = false;
	/* The freshest member that is not a spare speaks for the array. */
	for (size_t i = 0; i < n; i++) {
		struct md_member *m = s->m[idx[i]];
		const struct md_sb *sb = &m->sb;
		bool active = sb->desc_nr < sb->nroles &&
			      (sb->roles[sb->desc_nr] < MD_ROLE_MAX ||
			       sb->roles[sb->desc_nr] == MD_ROLE_JOURNAL);
		if (active && (!fresh || sb->events > fresh->sb.events))
			fresh = m;
	}
	const char *uuid = uuid_str(s->m[idx[0]]->sb.uuid, ubuf);
	if (!fresh) {
		if (final) {
			bm_warn(ctx, s->m[idx[0]]->vol->dev, BM_NO_OFFSET,
				"md array %s: only spare members found: not "
				"assembled", uuid);
			*give_up = true;
		}
		return 0;
	}
	const struct md_sb *f = &fresh->sb;
	unsigned nd = f->raid_disks;
	struct md_member **role = bm_calloc(nd, sizeof *role);
	unsigned present = 0;
	/* Only decide about members once we build (or give up), so the
	 * per-member warnings come once. */
	for (size_t i = 0; i < n; i++) {
		struct md_member *m = s->m[idx[i]];
		const struct md_sb *sb = &m->sb;
		if (sb->level != f->level || sb->layout != f->layout ||
		    sb->chunk != f->chunk || sb->raid_disks != nd)
			continue; /* warned about below when building */
		if (f->events && sb->events < f->events - 1)
			continue;
		unsigned r = sb->desc_nr < f->nroles ? f->roles[sb->desc_nr]
						     : MD_ROLE_SPARE;
		if (r >= nd)
			continue;
		if (sb->features & (MD_F_RECOVERY | MD_F_REPLACEMENT))
			continue;
		if (role[r]) {
			if (role[r]->sb.events >= sb->events)
				continue;
			present--;
		}
		role[r] = m;
		present++;
	}
	if (present < nd && !final) {
		free(role);
		return 0;
	}
	*give_up = true;

	/* Say why members are left out. */
	for (size_t i = 0; i < n; i++) {
		struct md_member *m = s->m[idx[i]];
		const struct md_sb *sb = &m->sb;
		const char *dev = m->vol->dev;
		bool in = false;
		for (unsigned r = 0; r < nd; r++)
			in |= role[r] == m;
		if (in)
			continue;
		unsigned r = sb->desc_nr < f->nroles ? f->roles[sb->desc_nr]
						     : MD_ROLE_SPARE;
		if (sb->level != f->level || sb->layout != f->layout ||
		    sb->chunk != f->chunk || sb->raid_disks != nd)
			bm_warn(ctx, dev, sb->sb_off,
				"md member of %s disagrees with %s about the "
				"array geometry: not used",
				uuid, fresh->vol->dev);
		else if (f->events && sb->events < f->events - 1)
			bm_finding(ctx, "md-stale-member", BM_SEV_WARNING, dev,
				sb->sb_off,
				"md member of %s is stale (events %llu, "
				"array %llu): not used",
				uuid, (unsigned long long)sb->events,
				(unsigned long long)f->events);
		else if (r == MD_ROLE_FAULTY)
			bm_warn(ctx, dev, sb->sb_off,
				"md member of %s is marked faulty: not used",
				uuid);
		else if (r < nd && (sb->features & MD_F_RECOVERY))
			bm_warn(ctx, dev, sb->sb_off,
				"md member of %s is being rebuilt: not used",
				uuid);
		else if (r < nd && (sb->features & MD_F_REPLACEMENT))
			bm_warn(ctx, dev, sb->sb_off,
				"md member of %s is a replacement in "
				"progress: not used",
				uuid);
		else if (r < nd)
			bm_warn(ctx, dev, sb->sb_off,
				"md member of %s duplicates role %u: not used",
				uuid, r);
		/* spares and journal devices hold no array data */
	}

	int level = raid_level(f->level);
	char *name = array_name(s, f);
	s->built = bm_reallocarray(s->built, s->nbuilt + 1, sizeof *s->built);
	memcpy(s->built[s->nbuilt++], f->uuid, 16);
	int ret = 0;
	if (level == -100) {
		bm_warn(ctx, fresh->vol->dev, f->sb_off,
			"md superblock of %s: level %d is not supported: "
			"array not mapped", name, f->level);
		goto out;
	}
	if (f->reshape) {
		bm_warn(ctx, fresh->vol->dev, f->sb_off,
			"md superblock of %s: the array is being reshaped: "
			"not mapped", name);
		goto out;
	}
	if ((level == BM_RAID_LINEAR || level == BM_RAID0) && present < nd) {
		bm_warn(ctx, name, BM_NO_OFFSET,
			"md %s array with %u of %u members: not mapped",
			level == BM_RAID0 ? "raid0" : "linear", present, nd);
		goto out;
	}
	if (f->features & MD_F_JOURNAL)
		bm_debug(ctx, "%s: journalled array", name);

	struct bm_volume **mv = bm_calloc(nd, sizeof *mv);
	uint64_t *sizes = bm_calloc(nd, sizeof *sizes);
	for (unsigned r = 0; r < nd; r++) {
		if (!role[r])
			continue;
		const struct md_sb *sb = &role[r]->sb;
		/* Mirrored and striped levels use the same F->used bytes
		 * of every member (linear and raid0 use each one's own
		 * size): a member holding less is damaged at its
		 * superblock, where its data size is. */
		if (level != BM_RAID_LINEAR && level != BM_RAID0 &&
		    sb->data_size < f->used) {
			bm_warn(ctx, role[r]->vol->dev, sb->sb_off,
				"md member %u of %s: its data area holds 0x%llx "
				"bytes, the array uses 0x%llx of each member: "
				"treated as missing", r, name,
				(unsigned long long)sb->data_size,
				(unsigned long long)f->used);
			continue;
		}
		mv[r] = bm_volume_slice(role[r]->vol, sb->data_off,
					sb->data_size, role[r]->vol->dev);
		sizes[r] = sb->data_size;
	}
	struct bm_raid_desc d = {
		.level = level,
		.layout = f->layout,
		.nmembers = nd,
		.chunk_bytes = f->chunk,
		.member_bytes = f->used,
		.members = mv,
	};
	if (level == BM_RAID_LINEAR || level == BM_RAID0) {
		d.member_sizes = sizes;
		/* md ignores the raid0 layout field unless 1.x says it is
		 * set; raid.c refuses multi-zone arrays without one. */
		if (level == BM_RAID0 &&
		    !(f->major == 1 && (f->features & MD_F_RAID0_LAYOUT)))
			d.layout = -1;
	}
	struct bm_volume *av = bm_raid_volume_new(ctx, &d, name);
	free(mv);
	free(sizes);
	if (!av)
		goto out;
	bm_debug(ctx, "%s: md %s array of %u members, 0x%llx bytes", name,
		 f->major ? "1.x" : "0.90", nd, (unsigned long long)av->size);
	bm_obj obj = bm_object(ctx, 'l', name, NULL);
	bm_raid_emit_footprint(av, obj);
	bm_probe_volume(av);
	ret = 1;
out:
	free(name);
	free(role);
	return ret;
}

static int md_assemble(struct bm_ctx *ctx)
{
	struct md_slot *s = *bm_ctx_slot(ctx, &bm_md_prober);
	if (!s)
		return 0;
	bool final = bm_assembly_final(ctx);
	int made = 0;
	size_t *idx = bm_calloc(s->n ? s->n : 1, sizeof *idx);
	/* Members found while an array is probed are appended to s->m;
	 * they are handled in a later call (nothing here keeps pointers
	 * into s->m across bm_probe_volume()).  Each pass marks the group
	 * of s->m[i] done or leaves it waiting, so the loop ends. */
	size_t total = s->n;
	for (size_t i = 0; i < total; i++) {
		if (s->m[i]->done)
			continue;
		size_t n = 0;
		for (size_t j = i; j < total; j++)
			if (!s->m[j]->done && same_array(&s->m[i]->sb, &s->m[j]->sb))
				idx[n++] = j;
		bool old = false;
		for (size_t k = 0; k < s->nbuilt && !old; k++)
			old = memcmp(s->built[k], s->m[i]->sb.uuid, 16) == 0;
		if (old) {
			/* Found after its array was built (inside a volume
			 * built later, or a degraded array's late member). */
			for (size_t k = 0; k < n; k++) {
				struct md_member *m = s->m[idx[k]];
				bm_warn(ctx, m->vol->dev, m->sb.sb_off,
					"md member found after its array was "
					"assembled: not used");
				m->done = true;
			}
			continue;
		}
		bool give_up;
		int r = assemble_one(ctx, s, idx, n, final, &give_up);
		made += r;
		if (give_up)
			for (size_t k = 0; k < n; k++)
				s->m[idx[k]]->done = true;
	}
	free(idx);
	return made;
}

static void md_slot_free(void *p)
{
	struct md_slot *s = p;
	for (size_t i = 0; i < s->n; i++)
		free(s->m[i]);
	for (size_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->m);
	free(s->names);
	free(s->built);
	free(s);
}

const struct bm_prober bm_md_prober = {
	.name = "linux_raid_member",
	.kind = BM_PROBE_MEMBER,
	.probe = md_probe,
	.walk = md_walk,
	.assemble = md_assemble,
	.slot_free = md_slot_free,
};
