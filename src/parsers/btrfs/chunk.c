/* btrfs chunk map: the logical address space as a bmapgen volume.
 *
 * Every tree block pointer and file extent address in btrfs is a logical
 * address.  The chunk tree (bootstrapped from the superblock's system
 * chunk array) maps logical ranges (chunks) onto stripes of devices, with
 * a profile: SINGLE, DUP, RAID1/1C3/1C4 (every stripe is a full copy),
 * RAID0 (round-robin stripe units of stripe_len), RAID10 (RAID0 over
 * groups of sub_stripes mirrors) and RAID5/6 (data units with one or two
 * parity units per row, rotating one device per row).
 * Spec: btrfs-progs ctree.h/volumes.h (struct btrfs_chunk, btrfs_stripe),
 * kernel fs/btrfs/volumes.c (btrfs_map_block) and Documentation on RAID
 * profiles.
 *
 * The logical volume's map() maps a range to every data copy (copies after
 * the first marked BM_RANGE_COPY).  RAID5/6 parity is not file data (a
 * parity unit mixes several files' bytes): map() notes the rows it
 * touches and bm_btrfs_emit_parity() maps their parity units as
 * <btrfs raid parity>, so a flash still writes consistent stripes (rows
 * holding nothing get their parity recomputed when first written).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "btrfs.h"

static unsigned parity_count(uint64_t type)
{
	if (type & BTRFS_BG_RAID5)
		return 1;
	if (type & BTRFS_BG_RAID6)
		return 2;
	return 0;
}

/* Check the profile's stripe counts the way the kernel's tree-checker
 * (btrfs_check_chunk_valid) does, so the RAID math below never divides
 * by zero or indexes past the stripes. */
static const char *check_profile(uint64_t type, unsigned n, unsigned sub)
{
	uint64_t prof = type & BTRFS_BG_PROFILE_MASK;

	if (prof & (prof - 1))
		return "chunk has several RAID profiles";
	switch (prof) {
	case 0:
		return n == 1 ? NULL : "SINGLE chunk with several stripes";
	case BTRFS_BG_DUP:
	case BTRFS_BG_RAID1:
		return n == 2 ? NULL : "DUP/RAID1 chunk without 2 stripes";
	case BTRFS_BG_RAID1C3:
		return n == 3 ? NULL : "RAID1C3 chunk without 3 stripes";
	case BTRFS_BG_RAID1C4:
		return n == 4 ? NULL : "RAID1C4 chunk without 4 stripes";
	case BTRFS_BG_RAID0:
		return n >= 1 ? NULL : "RAID0 chunk without stripes";
	case BTRFS_BG_RAID10:
		return sub == 2 && n >= 2 && n % 2 == 0
			       ? NULL
			       : "RAID10 chunk with bad stripe counts";
	case BTRFS_BG_RAID5:
		return n >= 2 ? NULL : "RAID5 chunk with < 2 stripes";
	case BTRFS_BG_RAID6:
		return n >= 3 ? NULL : "RAID6 chunk with < 3 stripes";
	default:
		return "unknown RAID profile";
	}
}

static struct bm_volume *dev_vol(const struct bm_btrfs_fs *fs, uint64_t devid)
{
	for (size_t i = 0; i < fs->ndevs; i++)
		if (fs->devs[i].devid == devid)
			return fs->devs[i].vol;
	return NULL;
}

/* How much of chunk C lies on the devices we have: a stripe may run past
 * the end of its device (a truncated image, or a crafted chunk of 2^62
 * bytes whose every stripe unit would be mapped in turn).  Rows of
 * stripe units that fit every present device count; a chunk with no
 * present device has nothing to map. */
static uint64_t usable_length(const struct bm_btrfs_fs *fs,
			      const struct bm_btrfs_chunk *c, bool *present)
{
	uint64_t room = UINT64_MAX, per_dev, data;
	bool striped = true;

	switch (c->type & BTRFS_BG_PROFILE_MASK) {
	case BTRFS_BG_RAID0:
		data = c->num_stripes;
		break;
	case BTRFS_BG_RAID10:
		data = c->num_stripes / c->sub_stripes;
		break;
	case BTRFS_BG_RAID5:
	case BTRFS_BG_RAID6:
		data = c->num_stripes - parity_count(c->type);
		break;
	default: /* SINGLE, DUP, RAID1*: every stripe holds it all */
		data = 1;
		striped = false;
	}
	for (unsigned i = 0; i < c->num_stripes; i++) {
		const struct bm_volume *v = dev_vol(fs, c->stripes[i].devid);
		if (!v)
			continue;
		uint64_t r = v->size > c->stripes[i].offset
				     ? v->size - c->stripes[i].offset
				     : 0;
		if (r < room)
			room = r;
	}
	*present = room != UINT64_MAX;
	if (!*present)
		return 0;
	per_dev = c->length / data + (c->length % data != 0);
	if (room >= per_dev)
		return c->length;
	if (striped)
		room -= room % c->stripe_len;
	/* room < per_dev = ceil(length / data), so room * data < length:
	 * it cannot wrap, and is checked anyway (a cheap guard should the
	 * code above change). */
	uint64_t fit;
	return bm_mul(room, data, &fit) && fit < c->length ? fit : c->length;
}

int bm_btrfs_add_chunk(struct bm_btrfs_fs *fs, uint64_t logical,
		       const uint8_t *item, size_t size, const char **why)
{
	struct bm_btrfs_chunk c;
	uint64_t end;
	size_t lo, hi;

	if (size < CHUNK_HDR) {
		*why = "chunk item too small";
		return -1;
	}
	c.logical = logical;
	c.length = bm_le64(item + CH_LENGTH);
	c.stripe_len = bm_le64(item + CH_STRIPE_LEN);
	c.type = bm_le64(item + CH_TYPE);
	c.num_stripes = bm_le16(item + CH_NUM_STRIPES);
	c.sub_stripes = bm_le16(item + CH_SUB_STRIPES);
	if (c.length == 0 || !bm_add(logical, c.length, &end)) {
		*why = "bad chunk length";
		return -1;
	}
	/* Always 64 KiB (BTRFS_STRIPE_LEN; the kernel's tree-checker
	 * refuses anything else): smaller units would only multiply the
	 * pieces a crafted chunk maps to. */
	if (c.stripe_len != 65536) {
		*why = "bad chunk stripe length";
		return -1;
	}
	if ((*why = check_profile(c.type, c.num_stripes, c.sub_stripes)))
		return -1;
	if (size < CHUNK_HDR + (size_t)c.num_stripes * STRIPE_SIZE) {
		*why = "chunk item shorter than its stripes";
		return -1;
	}

	/* Binary search for the insertion point; chunks must not overlap.
	 * The same chunk is met twice (system chunk array, then chunk
	 * tree): keep the first. */
	lo = 0;
	hi = fs->nchunks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fs->chunks[mid].logical < logical)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < fs->nchunks && fs->chunks[lo].logical == logical &&
	    fs->chunks[lo].length == c.length)
		return 0;
	if ((lo > 0 && fs->chunks[lo - 1].logical + fs->chunks[lo - 1].length >
			       logical) ||
	    (lo < fs->nchunks && fs->chunks[lo].logical < end)) {
		*why = "chunk overlaps another chunk";
		return -1;
	}

	c.stripes = bm_calloc(c.num_stripes, sizeof *c.stripes);
	for (unsigned i = 0; i < c.num_stripes; i++) {
		const uint8_t *s = item + CHUNK_HDR + (size_t)i * STRIPE_SIZE;
		c.stripes[i].devid = bm_le64(s);
		c.stripes[i].offset = bm_le64(s + 8);
	}
	bool present;
	c.usable = usable_length(fs, &c, &present);
	if (c.usable < c.length && present)
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: chunk at logical 0x%llx (0x%llx bytes) runs "
			"past the end of a device (truncated image?): only its "
			"first 0x%llx bytes are mapped",
			(unsigned long long)logical,
			(unsigned long long)c.length,
			(unsigned long long)c.usable);
	if (fs->nchunks == fs->chunks_cap) {
		fs->chunks_cap = fs->chunks_cap ? 2 * fs->chunks_cap : 16;
		fs->chunks = bm_reallocarray(fs->chunks, fs->chunks_cap,
					     sizeof *fs->chunks);
	}
	memmove(fs->chunks + lo + 1, fs->chunks + lo,
		(fs->nchunks - lo) * sizeof *fs->chunks);
	fs->chunks[lo] = c;
	fs->nchunks++;
	if (end > fs->logical_end)
		fs->logical_end = end;
	return 0;
}

/* The superblock's system chunk array: (disk key, chunk item) pairs that
 * map the SYSTEM chunks holding the chunk tree itself. */
int bm_btrfs_load_sys_array(struct bm_btrfs_fs *fs)
{
	const uint8_t *a = fs->sb.sys_array;
	size_t pos = 0, n = fs->sb.sys_array_size;
	const char *why;

	/* Each iteration consumes at least KEY_SIZE + CHUNK_HDR bytes. */
	while (pos < n) {
		uint64_t logical;
		size_t isz;

		if (n - pos < KEY_SIZE + CHUNK_HDR ||
		    a[pos + 8] != BTRFS_CHUNK_ITEM_KEY) {
			bm_warn(fs->ctx, fs->dev, BTRFS_SUPER_OFF + SB_SYS_ARRAY + pos,
				"btrfs: malformed system chunk array");
			return -1;
		}
		logical = bm_le64(a + pos + 9);
		pos += KEY_SIZE;
		isz = CHUNK_HDR + (size_t)bm_le16(a + pos + CH_NUM_STRIPES) *
					  STRIPE_SIZE;
		if (isz > n - pos) {
			bm_warn(fs->ctx, fs->dev, BTRFS_SUPER_OFF + SB_SYS_ARRAY + pos,
				"btrfs: system chunk array entry truncated");
			return -1;
		}
		if (bm_btrfs_add_chunk(fs, logical, a + pos, isz, &why) < 0) {
			bm_warn(fs->ctx, fs->dev, BTRFS_SUPER_OFF + SB_SYS_ARRAY + pos,
				"btrfs: system chunk at 0x%llx: %s",
				(unsigned long long)logical, why);
			return -1;
		}
		pos += isz;
	}
	return 0;
}

const struct bm_btrfs_chunk *bm_btrfs_find_chunk(const struct bm_btrfs_fs *fs,
						 uint64_t logical)
{
	size_t lo = 0, hi = fs->nchunks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bm_btrfs_chunk *c = &fs->chunks[mid];
		if (logical < c->logical)
			hi = mid;
		else if (logical - c->logical >= c->length)
			lo = mid + 1;
		else
			return c;
	}
	return NULL;
}

static bool add_loc(const struct bm_btrfs_fs *fs, const struct bm_btrfs_chunk *c,
		    unsigned idx, uint64_t row, uint64_t soff, unsigned flags,
		    struct bm_btrfs_loc *loc)
{
	uint64_t phys;

	if (!bm_muladd(row, c->stripe_len, soff, &phys) ||
	    !bm_add(phys, c->stripes[idx].offset, &phys))
		return false;
	loc->devid = c->stripes[idx].devid;
	loc->vol = dev_vol(fs, loc->devid);
	loc->phys = phys;
	loc->flags = flags;
	return true;
}

unsigned bm_btrfs_resolve(const struct bm_btrfs_fs *fs, uint64_t logical,
			  uint64_t maxlen, struct bm_btrfs_loc *locs,
			  uint64_t *piece)
{
	const struct bm_btrfs_chunk *c = bm_btrfs_find_chunk(fs, logical);
	uint64_t off, avail, snr, soff, row, sl;
	unsigned n = 0, N, idx;

	if (!c || maxlen == 0 || logical - c->logical >= c->usable)
		return 0; /* not on the devices we have (usable_length) */
	off = logical - c->logical;
	avail = c->usable - off;
	*piece = maxlen < avail ? maxlen : avail;
	sl = c->stripe_len;
	snr = off / sl;
	soff = off % sl;
	N = c->num_stripes;

	switch (c->type & BTRFS_BG_PROFILE_MASK) {
	case 0:
	case BTRFS_BG_DUP:
	case BTRFS_BG_RAID1:
	case BTRFS_BG_RAID1C3:
	case BTRFS_BG_RAID1C4:
		/* Every stripe is a full copy at the same offset. */
		for (unsigned i = 0; i < N; i++) {
			locs[n].devid = c->stripes[i].devid;
			locs[n].vol = dev_vol(fs, locs[n].devid);
			locs[n].flags = i ? BM_RANGE_COPY : 0;
			if (!bm_add(c->stripes[i].offset, off, &locs[n].phys))
				return 0;
			n++;
		}
		return n;
	case BTRFS_BG_RAID0:
		idx = (unsigned)(snr % N);
		row = snr / N;
		if (!add_loc(fs, c, idx, row, soff, 0, &locs[n++]))
			return 0;
		break;
	case BTRFS_BG_RAID10: {
		unsigned groups = N / c->sub_stripes;
		idx = (unsigned)(snr % groups) * c->sub_stripes;
		row = snr / groups;
		for (unsigned k = 0; k < c->sub_stripes; k++)
			if (!add_loc(fs, c, idx + k, row, soff,
				     k ? BM_RANGE_COPY : 0, &locs[n++]))
				return 0;
		break;
	}
	default: { /* RAID5/6 */
		unsigned np = parity_count(c->type), nd = N - np;
		uint64_t di = snr % nd;
		row = snr / nd;
		/* Data unit DI of row ROW sits on device (ROW + DI) % N;
		 * P and Q follow the data units, rotating likewise. */
		idx = (unsigned)((row % N + di) % N);
		if (!add_loc(fs, c, idx, row, soff, 0, &locs[n++]))
			return 0;
		for (unsigned p = 0; p < np; p++) {
			idx = (unsigned)((row % N + nd + p) % N);
			if (!add_loc(fs, c, idx, row, soff, BM_RANGE_PARITY,
				     &locs[n++]))
				return 0;
		}
		break;
	}
	}
	if (*piece > sl - soff)
		*piece = sl - soff;
	return n;
}

unsigned bm_btrfs_num_copies(const struct bm_btrfs_fs *fs, uint64_t logical)
{
	struct bm_btrfs_loc locs[BTRFS_MAX_LOCS];
	uint64_t piece;
	unsigned n = bm_btrfs_resolve(fs, logical, 1, locs, &piece), k = 0;

	for (unsigned i = 0; i < n; i++)
		if (!(locs[i].flags & BM_RANGE_PARITY))
			k++;
	return k;
}

/* RAID5/6 with the data unit unreadable (device missing): rebuild it as
 * P xor the row's other data units at the same offset.  PLOC is P's
 * location.  Two missing units of a RAID6 row are not rebuilt (that needs
 * Q's Galois-field algebra). */
static int raid56_rebuild(struct bm_btrfs_fs *fs, uint64_t logical,
			  uint8_t *buf, uint64_t piece,
			  const struct bm_btrfs_loc *ploc)
{
	const struct bm_btrfs_chunk *c = bm_btrfs_find_chunk(fs, logical);
	uint64_t off, snr, soff, row, di, nd, sl;
	uint8_t *tmp;
	int rc = 0;

	if (!c || !ploc->vol || bm_read(ploc->vol, buf, piece, ploc->phys) < 0)
		return -1;
	sl = c->stripe_len;
	nd = c->num_stripes - parity_count(c->type);
	off = logical - c->logical;
	snr = off / sl;
	soff = off % sl;
	row = snr / nd;
	di = snr % nd;
	tmp = bm_malloc(piece); /* piece <= the caller's buffer */
	for (uint64_t j = 0; j < nd && rc == 0; j++) {
		struct bm_btrfs_loc l[BTRFS_MAX_LOCS];
		uint64_t ul, pc;

		if (j == di)
			continue;
		/* Unit J of the same row; past the chunk's end it holds
		 * nothing (zeroes in the parity). */
		if (!bm_muladd(row * nd + j, sl, soff, &ul) || ul >= c->length)
			continue;
		if (bm_btrfs_resolve(fs, c->logical + ul, piece, l, &pc) == 0 ||
		    pc != piece || !l[0].vol ||
		    bm_read(l[0].vol, tmp, piece, l[0].phys) < 0) {
			rc = -1;
			break;
		}
		for (uint64_t k = 0; k < piece; k++)
			buf[k] ^= tmp[k];
	}
	free(tmp);
	return rc;
}

int bm_btrfs_read_mirror(struct bm_btrfs_fs *fs, uint64_t logical, void *buf,
			 size_t len, unsigned mirror)
{
	uint8_t *p = buf;

	/* Terminates: every iteration consumes piece >= 1 bytes. */
	while (len > 0) {
		struct bm_btrfs_loc locs[BTRFS_MAX_LOCS];
		uint64_t piece;
		unsigned n = bm_btrfs_resolve(fs, logical, len, locs, &piece);

		if (mirror >= n || (locs[mirror].flags & BM_RANGE_PARITY)) {
			errno = n ? ENODATA : ENXIO;
			return -1;
		}
		if (!locs[mirror].vol ||
		    bm_read(locs[mirror].vol, p, piece, locs[mirror].phys) < 0) {
			if (n < 2 || !(locs[1].flags & BM_RANGE_PARITY) ||
			    raid56_rebuild(fs, logical, p, piece, &locs[1]) < 0) {
				errno = ENODATA;
				return -1;
			}
		}
		p += piece;
		logical += piece;
		len -= piece;
	}
	return 0;
}

static int lv_read(struct bm_volume *v, void *buf, size_t len, uint64_t off)
{
	struct bm_btrfs_fs *fs = v->priv;
	uint8_t *p = buf;

	/* Piece by piece, from the first copy that reads. */
	while (len > 0) {
		struct bm_btrfs_loc locs[BTRFS_MAX_LOCS];
		uint64_t piece;
		unsigned n = bm_btrfs_resolve(fs, off, len, locs, &piece);
		bool ok = false;

		if (n == 0) {
			errno = ENXIO;
			return -1;
		}
		for (unsigned i = 0; i < n && !ok; i++) {
			if ((locs[i].flags & BM_RANGE_PARITY) || !locs[i].vol)
				continue;
			ok = bm_read(locs[i].vol, p, piece, locs[i].phys) == 0;
		}
		if (!ok && n >= 2 && (locs[1].flags & BM_RANGE_PARITY))
			ok = raid56_rebuild(fs, off, p, piece, &locs[1]) == 0;
		if (!ok) {
			errno = ENODATA;
			return -1;
		}
		p += piece;
		off += piece;
		len -= piece;
	}
	return 0;
}

/* Start of the first chunk after LOGICAL, 0 if none. */
static uint64_t next_chunk(const struct bm_btrfs_fs *fs, uint64_t logical)
{
	size_t lo = 0, hi = fs->nchunks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fs->chunks[mid].logical <= logical)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < fs->nchunks ? fs->chunks[lo].logical : 0;
}

/* Remember the RAID5/6 row holding LOGICAL (once). */
static void note_row(struct bm_btrfs_fs *fs, uint64_t logical)
{
	const struct bm_btrfs_chunk *c = bm_btrfs_find_chunk(fs, logical);
	uint64_t rowlen, start;

	/* data units * stripe_len may overflow on hostile chunks */
	if (!c || !bm_mul(c->num_stripes - parity_count(c->type),
			  c->stripe_len, &rowlen))
		return;
	start = c->logical + (logical - c->logical) / rowlen * rowlen;
	if (!bm_u64set_add(&fs->prow_set, start))
		return;
	if (fs->nprow == fs->capprow) {
		fs->capprow = fs->capprow ? 2 * fs->capprow : 64;
		fs->prow = bm_reallocarray(fs->prow, fs->capprow,
					   sizeof *fs->prow);
	}
	fs->prow[fs->nprow++] = start;
}

static int lv_map(struct bm_volume *v, uint64_t off, uint64_t len,
		  unsigned flags, bm_range_cb cb, void *opaque)
{
	struct bm_btrfs_fs *fs = v->priv;
	int rc = 0;

	/* Terminates: every iteration consumes piece >= 1 bytes. */
	while (len > 0) {
		struct bm_btrfs_loc locs[BTRFS_MAX_LOCS];
		uint64_t piece;
		unsigned n = bm_btrfs_resolve(fs, off, len, locs, &piece);

		if (n == 0) {
			/* A gap between chunks: map what follows it. */
			uint64_t next = next_chunk(fs, off), skip;

			errno = ENXIO;
			rc = -1;
			if (next == 0 || next - off >= len)
				return -1;
			skip = next - off;
			off += skip;
			len -= skip;
			continue;
		}
		if (n > 1 && (locs[1].flags & BM_RANGE_PARITY))
			note_row(fs, off);
		for (unsigned i = 0; i < n; i++) {
			/* A missing device was reported at assembly; the
			 * copies on the devices we have still map. */
			if (!locs[i].vol || (locs[i].flags & BM_RANGE_PARITY))
				continue;
			if (bm_volume_map(locs[i].vol, locs[i].phys, piece,
					  flags | locs[i].flags, cb, opaque) < 0)
				rc = -1;
		}
		off += piece;
		len -= piece;
	}
	return rc;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void bm_btrfs_emit_parity(struct bm_btrfs_fs *fs)
{
	bm_obj o;

	if (!fs->nprow)
		return;
	o = bm_object(fs->ctx, 'm', fs->dev, "btrfs raid parity");
	/* in disk order, so that the store can join neighbours */
	bm_qsort(fs->prow, fs->nprow, sizeof *fs->prow, u64_cmp);
	for (size_t i = 0; i < fs->nprow; i++) {
		const struct bm_btrfs_chunk *c =
			bm_btrfs_find_chunk(fs, fs->prow[i]);
		unsigned np, N;
		uint64_t nd, row, sl;

		if (!c)
			continue;
		np = parity_count(c->type);
		N = c->num_stripes;
		nd = N - np;
		sl = c->stripe_len;
		row = (fs->prow[i] - c->logical) / sl / nd;
		for (unsigned p = 0; p < np; p++) {
			unsigned idx = (unsigned)((row % N + nd + p) % N);
			struct bm_volume *v = dev_vol(fs, c->stripes[idx].devid);
			uint64_t phys;

			if (!v || !bm_muladd(row, sl, c->stripes[idx].offset,
					     &phys) ||
			    !bm_in_range(phys, sl, v->size))
				continue;
			bm_emit_flags(v, phys, sl, o, BM_RANGE_PARITY);
		}
	}
}

void bm_btrfs_fs_free(struct bm_btrfs_fs *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->nchunks; i++)
		free(fs->chunks[i].stripes);
	free(fs->chunks);
	free(fs->devs);
	free(fs->dev);
	free(fs->scratch);
	bm_u64set_free(&fs->emitted);
	bm_u64set_free(&fs->verified0);
	bm_u64set_free(&fs->prow_set);
	free(fs->prow);
	free(fs);
}

static void lv_destroy(struct bm_volume *v)
{
	bm_btrfs_fs_free(v->priv);
	v->priv = NULL;
}

static const struct bm_volume_ops bm_btrfs_lv_ops = {
	.kind = "btrfs",
	.read = lv_read,
	.map = lv_map,
	.destroy = lv_destroy,
};

struct bm_volume *bm_btrfs_logical_volume(struct bm_btrfs_fs *fs,
					  struct bm_volume *parent)
{
	struct bm_volume *v = bm_volume_new(fs->ctx, &bm_btrfs_lv_ops, fs,
					    fs->logical_end, fs->dev, parent);
	if (v) {
		v->type = bm_strdup("btrfs-logical");
		v->probed = true; /* nothing to probe inside */
		fs->lvol = v;
	}
	return v;
}
