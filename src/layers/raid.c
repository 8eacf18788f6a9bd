/* RAID geometry: where the bytes of an md-style array live on its
 * members, shared by md-RAID (md.c) and LVM raid segments.
 *
 * The mapping follows the Linux md drivers, which define these layouts
 * (drivers/md/raid0.c create_strip_zones/map_sector, raid5.c
 * raid5_compute_sector, raid10.c __raid10_find_phys/calc_sectors,
 * linear.c; Documentation/admin-guide/md.rst and md(4)):
 *
 *  - linear: members concatenated (each rounded down to the chunk size
 *    when one is set, as md's "rounding").
 *  - raid0: "strip zones": zone 0 stripes chunks over all members up to
 *    the smallest member's size, each further zone over the members
 *    still larger, and so on.  Which member of a zone holds a chunk
 *    depends on the layout for multi-zone arrays: 1 (original) counts
 *    chunks from the array start, 2 (alternate) from the zone start.
 *  - raid1: every member holds the whole array.
 *  - raid4/5/6: stripes of data_disks data chunks plus P (and Q); the
 *    algorithm number places parity and orders the data chunks.
 *  - raid10: chunks are repeated near_copies times over consecutive
 *    members, and the whole pattern far_copies times, either in far
 *    regions of stride "member size / far_copies" or, for the offset
 *    layout, in the next chunk row.
 *
 * Everything here works on byte offsets; chunk sizes need not be powers
 * of two (md raid0 and linear accept others).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../bmapgen.h"
#include "raid.h"

#define RAID_MAX_MEMBERS 1024 /* md 1.x roles and dm-raid stay far below */

struct raid_zone {
	uint64_t start, end; /* array bytes */
	uint64_t dev_start;  /* member offset where the zone begins */
	unsigned nb_dev;
};

/* Geometry derived from a description. */
struct raid_geo {
	struct bm_raid_desc d;
	uint64_t size;      /* array bytes */
	uint64_t used;      /* bytes used per member (equal-size levels) */
	unsigned copies;    /* copies of each byte (raid1, raid10) */
	unsigned data_disks;
	/* raid10 */
	unsigned nc, fc, far_set_size;
	bool fo;
	uint64_t stride;
	/* raid10: the layout repeats every PERIOD array bytes, every copy
	 * PDELTA bytes further on its member (0: not used) */
	uint64_t period, pdelta;
	/* linear and raid0: bytes used on member i, and for linear the
	 * array offset where member i starts (n + 1 entries). */
	uint64_t *msize, *lin_start;
	struct raid_zone *zones;
	unsigned nzones;
};

/* One contiguous piece of the array: LEN bytes from the requested offset
 * are stored at these copies.  For raid4/5/6 P/Q are the stripe's parity
 * members (UINT_MAX when none). */
struct raid_piece {
	uint64_t len;
	unsigned n;
	unsigned *member; /* [geo.copies] */
	uint64_t *moff;   /* [geo.copies] */
	unsigned p, q;
};

static void geo_free(struct raid_geo *g)
{
	free(g->msize);
	free(g->lin_start);
	free(g->zones);
	g->msize = g->lin_start = NULL;
	g->zones = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t member_size(const struct bm_raid_desc *d, unsigned i)
{
	return d->member_sizes ? d->member_sizes[i] : d->member_bytes;
}

static bool raid5_layout_ok(int level, int layout)
{
	if (level == BM_RAID4)
		return true; /* md raid4 ignores the layout: parity last */
	if (layout >= 0 && layout <= 5)
		return true;
	return level == BM_RAID6 &&
	       ((layout >= 8 && layout <= 10) || (layout >= 16 && layout <= 20));
}

/* linear and raid0: per-member sizes (rounded to the chunk) and zones. */
static const char *geo_init_concat(struct raid_geo *g)
{
	const struct bm_raid_desc *d = &g->d;
	unsigned n = d->nmembers;
	uint64_t c = d->chunk_bytes;
	g->msize = bm_calloc(n, sizeof *g->msize);
	for (unsigned i = 0; i < n; i++) {
		uint64_t s = member_size(d, i);
		if (c)
			s -= s % c;
		if (s == 0)
			return "a member holds no whole chunk";
		g->msize[i] = s;
	}
	if (d->level == BM_RAID_LINEAR) {
		g->lin_start = bm_calloc(n + 1, sizeof *g->lin_start);
		for (unsigned i = 0; i < n; i++)
			if (!bm_add(g->lin_start[i], g->msize[i],
				    &g->lin_start[i + 1]))
				return "array size overflows";
		g->size = g->lin_start[n];
		return NULL;
	}
	/* raid0 zones: one per distinct member size, in increasing size. */
	uint64_t *sorted = bm_calloc(n, sizeof *sorted);
	memcpy(sorted, g->msize, n * sizeof *sorted);
	bm_qsort(sorted, n, sizeof *sorted, cmp_u64);
	g->zones = bm_calloc(n, sizeof *g->zones);
	uint64_t prev = 0, pos = 0;
	for (unsigned i = 0; i < n; i++) {
		if (sorted[i] == prev)
			continue;
		unsigned cnt = 0;
		for (unsigned j = 0; j < n; j++)
			if (g->msize[j] > prev)
				cnt++;
		struct raid_zone *z = &g->zones[g->nzones++];
		uint64_t len;
		z->start = pos;
		z->dev_start = prev;
		z->nb_dev = cnt;
		if (!bm_mul(sorted[i] - prev, cnt, &len) ||
		    !bm_add(pos, len, &pos)) {
			free(sorted);
			return "array size overflows";
		}
		z->end = pos;
		prev = sorted[i];
	}
	free(sorted);
	g->size = pos;
	/* md only knows how to place chunks of zones after the first when
	 * the layout says so (or when it makes no difference). */
	if (g->nzones > 1 && g->zones[1].nb_dev > 1 && d->layout != 1 &&
	    d->layout != 2)
		return "multi-zone raid0 without a layout (neither original "
		       "nor alternate)";
	return NULL;
}

static const char *geo_init_raid10(struct raid_geo *g)
{
	const struct bm_raid_desc *d = &g->d;
	unsigned disks = d->nmembers;
	uint64_t c = d->chunk_bytes;
	unsigned layout = (unsigned)d->layout;
	if (d->layout < 0 || layout >> 19)
		return "unknown raid10 layout";
	g->nc = layout & 0xff;
	g->fc = (layout >> 8) & 0xff;
	g->fo = (layout & 0x10000) != 0;
	if (g->nc == 0 || g->fc == 0)
		return "raid10 layout with zero copies";
	g->copies = g->nc * g->fc;
	if (g->copies < 2) /* raid10.c setup_geo() */
		return "raid10 layout with one copy (Linux refuses it)";
	if (g->copies > disks)
		return "raid10 with more copies than members";
	switch (layout >> 17) {
	case 0:
		g->far_set_size = disks;
		break;
	case 1:
		g->far_set_size = disks / g->fc;
		break;
	case 2:
		g->far_set_size = g->fc * g->nc;
		break;
	default:
		return "unknown raid10 far-set layout";
	}
	if (g->far_set_size == 0)
		return "raid10 far sets of no members";
	/* calc_sectors(): chunks in the array, then chunks used per member
	 * (rounded up), then the far stride. */
	uint64_t chunks = d->member_bytes / c / g->fc, per_dev;
	if (!bm_mul(chunks, disks, &chunks))
		return "array size overflows";
	chunks /= g->nc;
	if (!bm_mul(chunks, g->copies, &per_dev))
		return "array size overflows";
	per_dev = per_dev / disks + (per_dev % disks != 0);
	if (!bm_mul(per_dev, c, &g->used))
		return "array size overflows";
	g->stride = g->fo ? c : per_dev / g->fc * c;
	/* raid10_size() from the rounded per-member size. */
	uint64_t achunks = per_dev / g->fc * disks / g->nc;
	if (!bm_mul(achunks, c, &g->size))
		return "array size overflows";
	if (g->used > d->member_bytes)
		return "raid10 members too small";
	/* __raid10_find_phys(): chunk K's near copies start at slot K*nc
	 * of the (stripe, device) grid.  K + L, L = disks / gcd(disks, nc),
	 * starts lcm(disks, nc) slots on: the same devices, R = lcm / disks
	 * stripes further (R * fc with far_offset), and the far copies
	 * follow from the device alone.  So every copy moves R stripes. */
	unsigned a = disks, b = g->nc;
	while (b) { /* Euclid: ends */
		unsigned t = a % b;
		a = b;
		b = t;
	}
	uint64_t lchunks = disks / a, rstripes = g->nc / a;
	if (g->fo)
		rstripes *= g->fc;
	if (!bm_mul(lchunks, c, &g->period) ||
	    !bm_mul(rstripes, c, &g->pdelta))
		g->period = g->pdelta = 0;
	return NULL;
}

/* Chunks raid4/5/6 and raid10 take: a power of two, a multiple of the
 * page size (raid5.c and raid10.c setup_conf/setup_geo; 4 KiB, the
 * smallest page).  raid0 and linear take any multiple of 512. */
static bool chunk_ok(uint64_t c)
{
	return c >= 4096 && (c & (c - 1)) == 0;
}

/* Check DESC and derive the geometry.  NULL, or why not. */
static const char *geo_init(struct raid_geo *g, const struct bm_raid_desc *d)
{
	memset(g, 0, sizeof *g);
	g->d = *d;
	g->copies = 1;
	unsigned n = d->nmembers;
	uint64_t c = d->chunk_bytes;
	if (n == 0)
		return "no members";
	if (n > RAID_MAX_MEMBERS)
		return "too many members";
	if (c % 512)
		return "chunk size not a multiple of 512";
	if (d->member_sizes && d->level != BM_RAID_LINEAR &&
	    d->level != BM_RAID0)
		return "per-member sizes given for a level that needs equal "
		       "members";
	switch (d->level) {
	case BM_RAID_LINEAR:
		return geo_init_concat(g);
	case BM_RAID0:
		if (c == 0)
			return "raid0 without a chunk size";
		return geo_init_concat(g);
	case BM_RAID1:
		g->copies = n;
		g->used = d->member_bytes;
		g->size = g->used;
		return g->size ? NULL : "empty members";
	case BM_RAID4:
	case BM_RAID5:
	case BM_RAID6: {
		unsigned parity = d->level == BM_RAID6 ? 2 : 1;
		if (c == 0)
			return "striped array without a chunk size";
		if (!chunk_ok(c))
			return "chunk size not a power of two of at least 4 KiB "
			       "(Linux refuses it)";
		/* raid5.c setup_conf(): raid6 needs 4 members */
		if (n < parity + 1 || (d->level == BM_RAID6 && n < 4))
			return "too few members for the level";
		if (!raid5_layout_ok(d->level, d->layout))
			return "unknown raid4/5/6 layout";
		if (d->level == BM_RAID6 && d->layout >= 16 && n < 4)
			return "too few members for a raid6 _6 layout";
		g->data_disks = n - parity;
		g->used = d->member_bytes - d->member_bytes % c;
		if (!bm_mul(g->used, g->data_disks, &g->size))
			return "array size overflows";
		return g->size ? NULL : "members smaller than a chunk";
	}
	case BM_RAID10:
		if (c == 0)
			return "raid10 without a chunk size";
		if (!chunk_ok(c))
			return "chunk size not a power of two of at least 4 KiB "
			       "(Linux refuses it)";
		if (n < 2)
			return "too few members for the level";
		return geo_init_raid10(g);
	default:
		return "unknown RAID level";
	}
}

/* Bytes member I must provide. */
static uint64_t geo_member_need(const struct raid_geo *g, unsigned i)
{
	return g->msize ? g->msize[i] : g->used;
}

/* raid4/5/6: data member, parity members and member offset of array byte
 * OFF (< size), after raid5_compute_sector(). */
static void geo_raid5(const struct raid_geo *g, uint64_t off,
		      struct raid_piece *pc)
{
	uint64_t c = g->d.chunk_bytes;
	unsigned n = g->d.nmembers, dd_n = g->data_disks;
	uint64_t chunk = off / c, in_chunk = off % c;
	uint64_t stripe = chunk / dd_n;
	unsigned dd = (unsigned)(chunk % dd_n);
	int pd = -1, qd = -1;
	int d = (int)dd, ni = (int)n, dn = (int)dd_n;
	if (g->d.level == BM_RAID4) {
		pd = dn;
	} else if (g->d.level == BM_RAID5) {
		int r = (int)(stripe % n);
		switch (g->d.layout) {
		case BM_RAID5_LEFT_ASYMMETRIC:
			pd = dn - r;
			if (d >= pd)
				d++;
			break;
		case BM_RAID5_RIGHT_ASYMMETRIC:
			pd = r;
			if (d >= pd)
				d++;
			break;
		case BM_RAID5_LEFT_SYMMETRIC:
			pd = dn - r;
			d = (pd + 1 + d) % ni;
			break;
		case BM_RAID5_RIGHT_SYMMETRIC:
			pd = r;
			d = (pd + 1 + d) % ni;
			break;
		case BM_RAID5_PARITY_0:
			pd = 0;
			d++;
			break;
		default: /* BM_RAID5_PARITY_N */
			pd = dn;
			break;
		}
	} else {
		int r = (int)(stripe % n), r1 = (int)(stripe % (n - 1));
		switch (g->d.layout) {
		case BM_RAID5_LEFT_ASYMMETRIC:
		case BM_RAID5_RIGHT_ASYMMETRIC:
		case BM_RAID6_ROTATING_ZERO_RESTART:
		case BM_RAID6_ROTATING_N_RESTART:
			if (g->d.layout == BM_RAID5_LEFT_ASYMMETRIC)
				pd = ni - 1 - r;
			else if (g->d.layout == BM_RAID6_ROTATING_N_RESTART)
				pd = ni - 1 - (int)((stripe + 1) % n);
			else
				pd = r;
			qd = pd + 1;
			if (pd == ni - 1) {
				d++; /* Q D D D P */
				qd = 0;
			} else if (d >= pd) {
				d += 2; /* D D P Q D */
			}
			break;
		case BM_RAID5_LEFT_SYMMETRIC:
			pd = ni - 1 - r;
			qd = (pd + 1) % ni;
			d = (pd + 2 + d) % ni;
			break;
		case BM_RAID5_RIGHT_SYMMETRIC:
			pd = r;
			qd = (pd + 1) % ni;
			d = (pd + 2 + d) % ni;
			break;
		case BM_RAID5_PARITY_0:
			pd = 0;
			qd = 1;
			d += 2;
			break;
		case BM_RAID5_PARITY_N:
			pd = dn;
			qd = dn + 1;
			break;
		case BM_RAID6_ROTATING_N_CONTINUE:
			pd = ni - 1 - r;
			qd = (pd + ni - 1) % ni;
			d = (pd + 1 + d) % ni;
			break;
		case BM_RAID6_LEFT_ASYMMETRIC_6:
			pd = dn - r1;
			if (d >= pd)
				d++;
			qd = ni - 1;
			break;
		case BM_RAID6_RIGHT_ASYMMETRIC_6:
			pd = r1;
			if (d >= pd)
				d++;
			qd = ni - 1;
			break;
		case BM_RAID6_LEFT_SYMMETRIC_6:
			pd = dn - r1;
			d = (pd + 1 + d) % (ni - 1);
			qd = ni - 1;
			break;
		case BM_RAID6_RIGHT_SYMMETRIC_6:
			pd = r1;
			d = (pd + 1 + d) % (ni - 1);
			qd = ni - 1;
			break;
		default: /* BM_RAID6_PARITY_0_6 */
			pd = 0;
			d++;
			qd = ni - 1;
			break;
		}
	}
	pc->n = 1;
	pc->member[0] = (unsigned)d;
	pc->moff[0] = stripe * c + in_chunk;
	pc->p = (unsigned)pd;
	pc->q = qd < 0 ? UINT_MAX : (unsigned)qd;
	pc->len = c - in_chunk;
}

/* raid10: every copy of array byte OFF, after __raid10_find_phys(). */
static void geo_raid10(const struct raid_geo *g, uint64_t off,
		       struct raid_piece *pc)
{
	uint64_t c = g->d.chunk_bytes;
	unsigned disks = g->d.nmembers;
	unsigned fss = g->far_set_size;
	unsigned last_set_start = (disks / fss - 1) * fss;
	unsigned last_set_size = fss + disks % fss;
	uint64_t chunk = off / c, in_chunk = off % c;
	chunk *= g->nc; /* cannot overflow: chunk < size / c / nc * nc */
	uint64_t stripe = chunk / disks;
	unsigned dev = (unsigned)(chunk % disks);
	if (g->fo)
		stripe *= g->fc;
	uint64_t sector = stripe * c + in_chunk;
	unsigned slot = 0;
	for (unsigned n = 0; n < g->nc; n++) {
		unsigned d = dev;
		uint64_t s = sector;
		pc->member[slot] = d;
		pc->moff[slot++] = s;
		for (unsigned f = 1; f < g->fc; f++) {
			unsigned set = d / fss;
			d += g->nc;
			if (disks % fss && d > last_set_start) {
				d -= last_set_start;
				d %= last_set_size;
				d += last_set_start;
			} else {
				d %= fss;
				d += fss * set;
			}
			s += g->stride;
			pc->member[slot] = d;
			pc->moff[slot++] = s;
		}
		if (++dev >= disks) {
			dev = 0;
			sector += c;
		}
	}
	pc->n = slot;
	pc->p = pc->q = UINT_MAX;
	pc->len = c - in_chunk;
}

/* Fill PC for array byte OFF (< g->size). */
static void geo_piece(const struct raid_geo *g, uint64_t off,
		      struct raid_piece *pc)
{
	uint64_t c = g->d.chunk_bytes;
	pc->p = pc->q = UINT_MAX;
	switch (g->d.level) {
	case BM_RAID_LINEAR: {
		/* Binary search for the member holding OFF: lin_start is
		 * strictly increasing (every member holds >= 1 byte). */
		unsigned lo = 0, hi = g->d.nmembers - 1;
		while (lo < hi) {
			unsigned mid = lo + (hi - lo + 1) / 2;
			if (g->lin_start[mid] <= off)
				lo = mid;
			else
				hi = mid - 1;
		}
		pc->n = 1;
		pc->member[0] = lo;
		pc->moff[0] = off - g->lin_start[lo];
		pc->len = g->lin_start[lo + 1] - off;
		return;
	}
	case BM_RAID0: {
		const struct raid_zone *z = g->zones;
		while (off >= z->end) /* the last zone ends at g->size */
			z++;
		uint64_t zoff = off - z->start;
		/* Layout 1 (original) picks the member by the chunk number
		 * counted from the array start, layout 2 from the zone
		 * start; single-zone arrays agree. */
		uint64_t pick = (g->d.layout == 1 ? off : zoff) / c;
		unsigned want = (unsigned)(pick % z->nb_dev), j = 0, m = 0;
		for (m = 0; m < g->d.nmembers; m++) {
			if (g->msize[m] <= z->dev_start)
				continue;
			if (j++ == want)
				break;
		}
		pc->n = 1;
		pc->member[0] = m;
		pc->moff[0] = z->dev_start + zoff / ((uint64_t)z->nb_dev * c) * c +
			      off % c;
		pc->len = c - off % c;
		return;
	}
	case BM_RAID1:
		pc->n = g->d.nmembers;
		for (unsigned i = 0; i < pc->n; i++) {
			pc->member[i] = i;
			pc->moff[i] = off;
		}
		pc->len = g->size - off;
		return;
	case BM_RAID10:
		geo_raid10(g, off, pc);
		return;
	default:
		geo_raid5(g, off, pc);
		return;
	}
}

static void piece_alloc(const struct raid_geo *g, struct raid_piece *pc)
{
	pc->member = bm_calloc(g->copies, sizeof *pc->member);
	pc->moff = bm_calloc(g->copies, sizeof *pc->moff);
}

static void piece_free(struct raid_piece *pc)
{
	free(pc->member);
	free(pc->moff);
}

uint64_t bm_raid_array_size(const struct bm_raid_desc *desc)
{
	struct raid_geo g;
	uint64_t size = geo_init(&g, desc) ? 0 : g.size;
	geo_free(&g);
	return size;
}

const char *bm_raid_check(const struct bm_raid_desc *desc)
{
	struct raid_geo g;
	const char *err = geo_init(&g, desc);
	geo_free(&g);
	return err;
}

int bm_raid_locate_all(const struct bm_raid_desc *desc, uint64_t off,
		       unsigned *members, uint64_t *member_offs, unsigned max)
{
	struct raid_geo g;
	struct raid_piece pc;
	if (geo_init(&g, desc) || off >= g.size) {
		geo_free(&g);
		return -1;
	}
	piece_alloc(&g, &pc);
	geo_piece(&g, off, &pc);
	for (unsigned i = 0; i < pc.n && i < max; i++) {
		members[i] = pc.member[i];
		member_offs[i] = pc.moff[i];
	}
	int n = (int)pc.n;
	piece_free(&pc);
	geo_free(&g);
	return n;
}

int bm_raid_locate(const struct bm_raid_desc *desc, uint64_t off,
		   unsigned *member, uint64_t *member_off)
{
	return bm_raid_locate_all(desc, off, member, member_off, 1) < 0 ? -1 : 0;
}

int bm_raid_parity(const struct bm_raid_desc *desc, uint64_t off,
		   unsigned *p, unsigned *q)
{
	struct raid_geo g;
	struct raid_piece pc;
	if (geo_init(&g, desc) || off >= g.size || !g.data_disks) {
		geo_free(&g);
		return -1;
	}
	piece_alloc(&g, &pc);
	geo_piece(&g, off, &pc);
	*p = pc.p;
	*q = pc.q;
	piece_free(&pc);
	geo_free(&g);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The array volume                                                    */

struct raid_priv {
	struct raid_geo g;
	struct bm_raid_desc desc; /* own copy, arrays below */
	uint64_t *sizes;
	struct bm_volume **members;
};

/* Adjacent pieces on one member are merged before they are mapped, so an
 * extent spanning many chunks costs one range per member run rather
 * than one per chunk.  Runs are kept per (member, far copy): far copies
 * of raid10 interleave on a member but are each contiguous.  Absurd
 * geometries fall back to a single run (correct, just unmerged). */
#define RUNS_MAX_SLOTS 4096

struct run {
	uint64_t start, len;
	unsigned member, flags;
};

struct runs {
	struct raid_priv *rp;
	struct run *r;
	unsigned nslots, per_member;
	uint64_t flushes; /* runs ended (written out) so far */
	/* Flush target: map through the member (map) or emit on it. */
	bm_range_cb cb;
	void *opaque;
	bm_obj obj;
	bool emit;
};

static void runs_init(struct runs *rs, struct raid_priv *rp)
{
	const struct raid_geo *g = &rp->g;
	memset(rs, 0, sizeof *rs);
	rs->rp = rp;
	rs->per_member = g->d.level == BM_RAID10 ? g->fc : 1;
	rs->nslots = g->d.nmembers * rs->per_member;
	if (rs->nslots > RUNS_MAX_SLOTS)
		rs->nslots = 1;
	rs->r = bm_calloc(rs->nslots, sizeof *rs->r);
}

static int run_out(struct runs *rs, struct run *r)
{
	struct bm_volume *mv = rs->rp->members[r->member];
	int ret = 0;
	if (r->len)
		rs->flushes++;
	if (r->len && mv) {
		if (rs->emit)
			ret = bm_emit_flags(mv, r->start, r->len, rs->obj,
					    r->flags);
		else
			ret = bm_volume_map(mv, r->start, r->len, r->flags,
					    rs->cb, rs->opaque);
	}
	r->len = 0;
	return ret;
}

static int runs_add(struct runs *rs, unsigned member, unsigned far,
		    uint64_t start, uint64_t len, unsigned flags)
{
	unsigned slot =
		rs->nslots == 1 ? 0 : member * rs->per_member + far;
	struct run *r = &rs->r[slot];
	if (r->len && r->member == member && r->flags == flags &&
	    r->start + r->len == start) {
		r->len += len;
		return 0;
	}
	int ret = run_out(rs, r);
	r->member = member;
	r->start = start;
	r->len = len;
	r->flags = flags;
	return ret;
}

/* Flush every run and free them. */
static int runs_finish(struct runs *rs)
{
	int ret = 0;
	for (unsigned i = 0; i < rs->nslots; i++)
		if (run_out(rs, &rs->r[i]) < 0)
			ret = -1;
	free(rs->r);
	return ret;
}

/* raid0: at the start of a row of its zone (a chunk on each member, at
 * the same member offset), when every present member's run ends where
 * its chunk of this row begins, the whole rows that follow (up to END
 * and the zone's end) only lengthen each run by a chunk per row: added
 * at once.  Chunk by chunk, a file of 48 MiB over 512-byte chunks took
 * 98 304 passes for each of its names.  Returns the array bytes added,
 * 0 when this does not apply (the caller goes piece by piece: the next
 * row start then has the runs it needs). */
static uint64_t raid0_rows(const struct raid_geo *g, struct runs *rs,
			   uint64_t off, uint64_t end, unsigned flags)
{
	if (g->d.level != BM_RAID0 || rs->nslots == 1) /* one run slot */
		return 0;
	uint64_t c = g->d.chunk_bytes;
	const struct raid_zone *z = g->zones;
	while (off >= z->end) /* the last zone ends at g->size */
		z++;
	uint64_t row = (uint64_t)z->nb_dev * c; /* <= the zone's length */
	uint64_t zoff = off - z->start;
	uint64_t stop = end < z->end ? end : z->end;
	if (zoff % row || stop - off < row)
		return 0;
	uint64_t rows = (stop - off) / row;
	uint64_t moff = z->dev_start + zoff / row * c;
	for (int pass = 0; pass < 2; pass++)
		for (unsigned m = 0; m < g->d.nmembers; m++) {
			if (g->msize[m] <= z->dev_start || !rs->rp->members[m])
				continue; /* not in the zone, or missing */
			struct run *r = &rs->r[m]; /* one slot per member */
			if (pass == 1)
				r->len += rows * c;
			else if (!r->len || r->member != m ||
				 r->flags != flags || r->start + r->len != moff)
				return 0;
		}
	return rows * row;
}

/* Map [OFF, STOP) piece by piece into RS; returns where it stopped
 * (before STOP once the work budget is spent: *STEPS counts pieces not
 * yet charged to it). */
static uint64_t map_pieces(struct bm_volume *v, struct runs *rs,
			   struct raid_piece *pc, uint64_t off, uint64_t stop,
			   unsigned flags, uint64_t *steps, int *ret)
{
	struct raid_priv *rp = v->priv;
	const struct raid_geo *g = &rp->g;
	/* Each piece is at least one byte long, so this ends. */
	while (off < stop) {
		uint64_t rows = raid0_rows(g, rs, off, stop, flags);
		if (rows) {
			off += rows;
			continue;
		}
		if (++*steps == 4096) {
			*steps = 0;
			if (!bm_ctx_spend(v->ctx, 4096))
				return off;
		}
		geo_piece(g, off, pc);
		uint64_t plen = pc->len < stop - off ? pc->len : stop - off;
		bool first = true;
		for (unsigned i = 0; i < pc->n; i++) {
			unsigned m = pc->member[i];
			if (!rp->members[m])
				continue; /* missing: nothing to map */
			unsigned f = first ? flags : flags | BM_RANGE_COPY;
			first = false;
			if (runs_add(rs, m, i % rs->per_member, pc->moff[i],
				     plen, f) < 0)
				*ret = -1;
		}
		off += plen;
	}
	return off;
}

static int raid_map(struct bm_volume *v, uint64_t off, uint64_t len,
		    unsigned flags, bm_range_cb cb, void *opaque)
{
	struct raid_priv *rp = v->priv;
	const struct raid_geo *g = &rp->g;
	struct raid_piece pc;
	struct runs rs;
	int ret = 0;
	runs_init(&rs, rp);
	rs.cb = cb;
	rs.opaque = opaque;
	piece_alloc(g, &pc);
	/* The work budget ends a map sooner on a hostile image (the pieces
	 * of a large file, mapped for each of its many names, merge into
	 * few runs: the range budget does not see them). */
	uint64_t end = off + len, steps = 0, *before = NULL;
	if (!bm_ctx_spend(v->ctx, 1)) /* spent before: nothing more */
		off = end;
	/* raid10 over two periods or more: one period piece by piece; if
	 * no run ended in it and each grew by 0 or PDELTA bytes, every
	 * later period only grows the same runs as much (the layout
	 * repeats, each copy PDELTA further on): the whole periods left
	 * are added at once.  Else the rest goes piece by piece. */
	if (g->period && rs.nslots > 1 && off < end &&
	    end - off >= 2 * g->period) {
		before = bm_calloc(rs.nslots, sizeof *before);
		for (unsigned i = 0; i < rs.nslots; i++)
			before[i] = rs.r[i].len;
		uint64_t flushes = rs.flushes, stop = off + g->period;
		off = map_pieces(v, &rs, &pc, off, stop, flags, &steps, &ret);
		bool same = off == stop && rs.flushes == flushes;
		for (unsigned i = 0; i < rs.nslots && same; i++) {
			uint64_t grew = rs.r[i].len - before[i];
			same = grew == 0 || grew == g->pdelta;
		}
		if (same) {
			uint64_t k = (end - off) / g->period;
			for (unsigned i = 0; i < rs.nslots; i++)
				if (rs.r[i].len != before[i])
					rs.r[i].len += k * g->pdelta;
			off += k * g->period;
		}
		free(before);
	}
	map_pieces(v, &rs, &pc, off, end, flags, &steps, &ret);
	if (steps) /* many short maps add up too */
		bm_ctx_spend(v->ctx, steps);
	if (runs_finish(&rs) < 0)
		ret = -1;
	piece_free(&pc);
	return ret;
}

/* Rebuild data chunk piece PC (member pc->member[0] missing) of LEN bytes
 * into BUF as P xor the stripe's other data chunks. */
static int raid_reconstruct(struct raid_priv *rp, const struct raid_piece *pc,
			    uint8_t *buf, size_t len)
{
	unsigned n = rp->g.d.nmembers, d = pc->member[0];
	uint64_t moff = pc->moff[0];
	if (pc->p == UINT_MAX || !rp->members[pc->p]) {
		errno = ENODATA; /* Q-only reconstruction is not done */
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		if (i != d && i != pc->q && !rp->members[i]) {
			errno = ENODATA;
			return -1;
		}
	if (bm_read(rp->members[pc->p], buf, len, moff) < 0)
		return -1;
	uint8_t *tmp = bm_malloc(len);
	for (unsigned i = 0; i < n; i++) {
		if (i == d || i == pc->p || i == pc->q)
			continue;
		if (bm_read(rp->members[i], tmp, len, moff) < 0) {
			int e = errno;
			free(tmp);
			errno = e;
			return -1;
		}
		for (size_t k = 0; k < len; k++)
			buf[k] ^= tmp[k];
	}
	free(tmp);
	return 0;
}

static int raid_read(struct bm_volume *v, void *buf, size_t len, uint64_t off)
{
	struct raid_priv *rp = v->priv;
	const struct raid_geo *g = &rp->g;
	struct raid_piece pc;
	uint8_t *p = buf;
	int ret = 0;
	piece_alloc(g, &pc);
	/* Each piece is at least one byte long, so this ends. */
	while (len) {
		geo_piece(g, off, &pc);
		size_t plen = pc.len < len ? (size_t)pc.len : len;
		int err = ENODATA;
		bool done = false;
		for (unsigned i = 0; i < pc.n && !done; i++) {
			struct bm_volume *mv = rp->members[pc.member[i]];
			if (!mv)
				continue;
			if (bm_read(mv, p, plen, pc.moff[i]) == 0)
				done = true;
			else
				err = errno;
		}
		if (!done && g->data_disks && !rp->members[pc.member[0]]) {
			done = raid_reconstruct(rp, &pc, p, plen) == 0;
			if (!done)
				err = errno;
		}
		if (!done) {
			errno = err;
			ret = -1;
			break;
		}
		p += plen;
		off += plen;
		len -= plen;
	}
	piece_free(&pc);
	return ret;
}

static void raid_destroy(struct bm_volume *v)
{
	struct raid_priv *rp = v->priv;
	geo_free(&rp->g);
	free(rp->sizes);
	free(rp->members);
	free(rp);
}

static const struct bm_volume_ops raid_ops = {
	.kind = "raid",
	.read = raid_read,
	.map = raid_map,
	.destroy = raid_destroy,
};

static const char *level_name(int level)
{
	switch (level) {
	case BM_RAID_LINEAR:
		return "linear";
	case BM_RAID0:
		return "raid0";
	case BM_RAID1:
		return "raid1";
	case BM_RAID4:
		return "raid4";
	case BM_RAID5:
		return "raid5";
	case BM_RAID6:
		return "raid6";
	default:
		return "raid10";
	}
}

struct bm_volume *bm_raid_volume_new(struct bm_ctx *ctx,
				     const struct bm_raid_desc *desc,
				     const char *dev)
{
	struct raid_priv *rp = bm_calloc(1, sizeof *rp);
	const char *err = geo_init(&rp->g, desc);
	if (err) {
		bm_warn(ctx, dev, BM_NO_OFFSET, "%s: array not mapped", err);
		geo_free(&rp->g);
		free(rp);
		return NULL;
	}
	unsigned n = desc->nmembers;
	rp->desc = *desc;
	if (desc->member_sizes) {
		rp->sizes = bm_calloc(n, sizeof *rp->sizes);
		memcpy(rp->sizes, desc->member_sizes, n * sizeof *rp->sizes);
		rp->desc.member_sizes = rp->sizes;
	}
	rp->members = bm_calloc(n, sizeof *rp->members);
	if (desc->members)
		memcpy(rp->members, desc->members, n * sizeof *rp->members);
	rp->desc.members = rp->members;
	rp->g.d = rp->desc;

	struct bm_volume *parent = NULL;
	unsigned depth = 0, ss = 512, present = 0;
	for (unsigned i = 0; i < n; i++) {
		struct bm_volume *m = rp->members[i];
		uint64_t need = geo_member_need(&rp->g, i);
		if (m && m->size < need) {
			bm_warn(ctx, dev, BM_NO_OFFSET,
				"member %u (%s) holds 0x%llx bytes, the array "
				"needs 0x%llx: treated as missing",
				i, m->dev, (unsigned long long)m->size,
				(unsigned long long)need);
			rp->members[i] = m = NULL;
		}
		if (!m) {
			bm_finding(ctx, "raid-degraded", BM_SEV_WARNING, dev,
				BM_NO_OFFSET,
				"%s member %u of %u missing (degraded): %s",
				level_name(desc->level), i, n,
				rp->g.copies > 1 ? "its copies are not mapped"
						 : "data stored on it is not "
						   "mapped");
			continue;
		}
		present++;
		if (!parent)
			parent = m;
		if (m->depth > depth)
			depth = m->depth;
		if (m->sector_size > ss)
			ss = m->sector_size;
	}
	if (!parent) {
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"no member present: array not mapped");
		raid_destroy(&(struct bm_volume){ .priv = rp });
		return NULL;
	}
	struct bm_volume *v =
		bm_volume_new(ctx, &raid_ops, rp, rp->g.size, dev, parent);
	v->depth = depth + 1;
	v->sector_size = ss;
	return v;
}

const struct bm_raid_desc *bm_raid_volume_desc(const struct bm_volume *v)
{
	if (!v || v->ops != &raid_ops)
		return NULL;
	return &((const struct raid_priv *)v->priv)->desc;
}

int bm_raid_emit_footprint(struct bm_volume *array, bm_obj obj)
{
	if (!array || array->ops != &raid_ops)
		return -1;
	struct raid_priv *rp = array->priv;
	const struct raid_geo *g = &rp->g;
	uint64_t c = g->d.chunk_bytes;
	if (!c || g->size / c <= BM_RAID_FOOTPRINT_CHUNKS) {
		int r = bm_emit(array, 0, array->size, obj);
		return bm_raid_emit_parity(array, obj) < 0 ? -1 : r;
	}
	bm_debug(array->ctx, "%s: %llu chunks: footprint mapped per member, "
		 "without copy and parity roles", array->dev,
		 (unsigned long long)(g->size / c));
	int ret = 0;
	for (unsigned i = 0; i < g->d.nmembers; i++) {
		struct bm_volume *m = rp->members[i];
		uint64_t len = g->msize ? g->msize[i] : g->used;
		if (m && bm_emit(m, 0, len < m->size ? len : m->size, obj) < 0)
			ret = -1;
	}
	return ret;
}

int bm_raid_emit_parity(struct bm_volume *array, bm_obj obj)
{
	if (!array || array->ops != &raid_ops)
		return -1;
	struct raid_priv *rp = array->priv;
	const struct raid_geo *g = &rp->g;
	if (!g->data_disks)
		return 0;
	uint64_t c = g->d.chunk_bytes, nstripes = g->used / c;
	uint64_t stripe_bytes = c * g->data_disks; /* <= size: no overflow */
	struct raid_piece pc;
	struct runs rs;
	int ret = 0;
	runs_init(&rs, rp);
	rs.emit = true;
	rs.obj = obj;
	piece_alloc(g, &pc);
	for (uint64_t s = 0; s < nstripes; s++) {
		geo_piece(g, s * stripe_bytes, &pc);
		if (runs_add(&rs, pc.p, 0, s * c, c, BM_RANGE_PARITY) < 0)
			ret = -1;
		if (pc.q != UINT_MAX &&
		    runs_add(&rs, pc.q, 0, s * c, c, BM_RANGE_PARITY) < 0)
			ret = -1;
	}
	if (runs_finish(&rs) < 0)
		ret = -1;
	piece_free(&pc);
	return ret;
}
