/* Differential test of src/layers/raid.c against a second, independent
 * derivation of the kernel's md geometry, written from drivers/md
 * (Linux 6.1: raid0.c create_strip_zones/find_zone/map_sector,
 * raid5.c raid5_compute_sector, raid10.c setup_geo/calc_sectors/
 * __raid10_find_phys, md-linear.c) for the review of raid.c.  Random
 * arrays of every level and layout (raid0 and linear with unequal
 * members, several zones), members built in memory with a missing one
 * at times: array size, every sector's copies, mapping of random ranges
 * (copy flags; nothing on a missing member), reads (rebuilt from P
 * when a member is missing) and the parity footprint are compared.
 *
 * usage: test-raiddiff [ITERATIONS] (300) */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "layers/raid.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
static uint64_t rn(uint64_t n) { return n ? rnd() % n : 0; }

struct ref {
	int n;
	unsigned m[32];
	uint64_t o[32];
	int p, q;
	uint64_t size;
	/* raid10 */
	uint64_t stride, dev_bytes;
};

/* Size and geometry precomputation */
static int ref_init(const struct bm_raid_desc *d, struct ref *r)
{
	memset(r, 0, sizeof *r);
	uint64_t c = d->chunk_bytes;
	unsigned n = d->nmembers;
	switch (d->level) {
	case BM_RAID_LINEAR: {
		uint64_t s = 0;
		for (unsigned i = 0; i < n; i++) {
			uint64_t x = d->member_sizes[i];
			if (c)
				x = x / c * c;
			s += x;
		}
		r->size = s;
		return 0;
	}
	case BM_RAID0: {
		uint64_t s = 0;
		for (unsigned i = 0; i < n; i++)
			s += d->member_sizes[i] / c * c;
		r->size = s;
		return 0;
	}
	case BM_RAID1:
		r->size = d->member_bytes;
		return 0;
	case BM_RAID4:
	case BM_RAID5:
	case BM_RAID6: {
		unsigned maxdeg = d->level == BM_RAID6 ? 2 : 1;
		r->size = d->member_bytes / c * c * (n - maxdeg);
		return 0;
	}
	case BM_RAID10: {
		unsigned nc = d->layout & 255, fc = (d->layout >> 8) & 255;
		bool fo = d->layout & (1 << 16);
		uint64_t size = d->member_bytes / c;
		size /= fc;
		size *= n;
		size /= nc;
		size *= nc * fc;
		size = (size + n - 1) / n;
		r->dev_bytes = size * c;
		r->stride = fo ? c : size / fc * c;
		/* raid10_size */
		uint64_t s = r->dev_bytes / c;
		s /= fc;
		s *= n;
		s /= nc;
		r->size = s * c;
		return 0;
	}
	}
	return -1;
}

/* raid6 layouts 0, 1, 8 and 9 (raid5_compute_sector): Q follows P, or
 * comes first when P is on the last device; data skips both. */
static void p_then_q(int pd, int raid_disks, int *qd, int *dd)
{
	*qd = pd + 1;
	if (pd == raid_disks - 1) {
		++*dd;
		*qd = 0;
	} else if (*dd >= pd) {
		*dd += 2;
	}
}

static void ref_locate(const struct bm_raid_desc *d, struct ref *r,
		       uint64_t off)
{
	uint64_t c = d->chunk_bytes;
	unsigned n = d->nmembers;
	r->p = r->q = -1;
	r->n = 0;
	switch (d->level) {
	case BM_RAID_LINEAR: {
		uint64_t start = 0;
		for (unsigned i = 0; i < n; i++) {
			uint64_t x = d->member_sizes[i];
			if (c)
				x = x / c * c;
			if (off < start + x) {
				r->m[0] = i;
				r->o[0] = off - start;
				r->n = 1;
				return;
			}
			start += x;
		}
		abort();
	}
	case BM_RAID0: {
		uint64_t sz[64];
		for (unsigned i = 0; i < n; i++)
			sz[i] = d->member_sizes[i] / c * c;
		/* zones */
		uint64_t dev_start = 0, zstart = 0;
		for (;;) {
			/* smallest size above dev_start */
			uint64_t smallest = UINT64_MAX;
			unsigned nb = 0;
			unsigned list[64];
			for (unsigned i = 0; i < n; i++)
				if (sz[i] > dev_start) {
					list[nb++] = i;
					if (sz[i] < smallest)
						smallest = sz[i];
				}
			if (!nb)
				abort();
			uint64_t zend = zstart + (smallest - dev_start) * nb;
			if (off < zend) {
				uint64_t zoff = off - zstart;
				uint64_t sect = d->layout == 1 ? off : zoff;
				/* note: layout -1 and single relevant zone */
				if (d->layout != 1 && d->layout != 2)
					sect = off; /* orig */
				uint64_t inch = sect % c;
				uint64_t chunk = zoff / (c * nb);
				r->m[0] = list[(sect / c) % nb];
				r->o[0] = dev_start + chunk * c + inch;
				r->n = 1;
				return;
			}
			zstart = zend;
			dev_start = smallest;
		}
	}
	case BM_RAID1:
		for (unsigned i = 0; i < n; i++) {
			r->m[i] = i;
			r->o[i] = off;
		}
		r->n = (int)n;
		return;
	case BM_RAID4:
	case BM_RAID5:
	case BM_RAID6: {
		int raid_disks = (int)n;
		int data_disks = raid_disks - (d->level == BM_RAID6 ? 2 : 1);
		uint64_t chunk_offset = off % c;
		uint64_t chunk_number = off / c;
		uint64_t stripe = chunk_number / (uint64_t)data_disks;
		int dd = (int)(chunk_number % (uint64_t)data_disks);
		uint64_t stripe2 = stripe;
		int pd = -1, qd = -1;
		if (d->level == BM_RAID4) {
			pd = data_disks;
		} else if (d->level == BM_RAID5) {
			switch (d->layout) {
			case 0:
				pd = data_disks - (int)(stripe2 % n);
				if (dd >= pd)
					dd++;
				break;
			case 1:
				pd = (int)(stripe2 % n);
				if (dd >= pd)
					dd++;
				break;
			case 2:
				pd = data_disks - (int)(stripe2 % n);
				dd = (pd + 1 + dd) % raid_disks;
				break;
			case 3:
				pd = (int)(stripe2 % n);
				dd = (pd + 1 + dd) % raid_disks;
				break;
			case 4:
				pd = 0;
				dd++;
				break;
			case 5:
				pd = data_disks;
				break;
			default:
				abort();
			}
		} else {
			switch (d->layout) {
			case 0:
				pd = raid_disks - 1 - (int)(stripe2 % n);
				p_then_q(pd, raid_disks, &qd, &dd);
				break;
			case 1:
			case 8:
				pd = (int)(stripe2 % n);
				p_then_q(pd, raid_disks, &qd, &dd);
				break;
			case 2:
				pd = raid_disks - 1 - (int)(stripe2 % n);
				qd = (pd + 1) % raid_disks;
				dd = (pd + 2 + dd) % raid_disks;
				break;
			case 3:
				pd = (int)(stripe2 % n);
				qd = (pd + 1) % raid_disks;
				dd = (pd + 2 + dd) % raid_disks;
				break;
			case 4:
				pd = 0;
				qd = 1;
				dd += 2;
				break;
			case 5:
				pd = data_disks;
				qd = data_disks + 1;
				break;
			case 9:
				stripe2 += 1;
				pd = raid_disks - 1 - (int)(stripe2 % n);
				p_then_q(pd, raid_disks, &qd, &dd);
				break;
			case 10:
				pd = raid_disks - 1 - (int)(stripe2 % n);
				qd = (pd + raid_disks - 1) % raid_disks;
				dd = (pd + 1 + dd) % raid_disks;
				break;
			case 16:
				pd = data_disks - (int)(stripe2 % (n - 1));
				if (dd >= pd)
					dd++;
				qd = raid_disks - 1;
				break;
			case 17:
				pd = (int)(stripe2 % (n - 1));
				if (dd >= pd)
					dd++;
				qd = raid_disks - 1;
				break;
			case 18:
				pd = data_disks - (int)(stripe2 % (n - 1));
				dd = (pd + 1 + dd) % (raid_disks - 1);
				qd = raid_disks - 1;
				break;
			case 19:
				pd = (int)(stripe2 % (n - 1));
				dd = (pd + 1 + dd) % (raid_disks - 1);
				qd = raid_disks - 1;
				break;
			case 20:
				pd = 0;
				dd++;
				qd = raid_disks - 1;
				break;
			default:
				abort();
			}
		}
		r->m[0] = (unsigned)dd;
		r->o[0] = stripe * c + chunk_offset;
		r->n = 1;
		r->p = pd;
		r->q = qd;
		return;
	}
	case BM_RAID10: {
		unsigned nc = d->layout & 255, fc = (d->layout >> 8) & 255;
		bool fo = d->layout & (1 << 16);
		unsigned fss;
		switch (d->layout >> 17) {
		case 0: fss = n; break;
		case 1: fss = n / fc; break;
		default: fss = fc * nc; break;
		}
		int lfs = (int)((n / fss) - 1) * (int)fss;
		int lfsz = (int)fss + (int)(n % fss);
		uint64_t chunk = off / c, sector = off % c;
		chunk *= nc;
		uint64_t stripe = chunk / n;
		int dev = (int)(chunk % n);
		if (fo)
			stripe *= fc;
		sector += stripe * c;
		int slot = 0;
		for (unsigned k = 0; k < nc; k++) {
			int dd = dev;
			uint64_t s = sector;
			r->m[slot] = (unsigned)dd;
			r->o[slot++] = s;
			for (unsigned f = 1; f < fc; f++) {
				int set = dd / (int)fss;
				dd += (int)nc;
				if ((n % fss) && dd > lfs) {
					dd -= lfs;
					dd %= lfsz;
					dd += lfs;
				} else {
					dd %= (int)fss;
					dd += (int)fss * set;
				}
				s += r->stride;
				r->m[slot] = (unsigned)dd;
				r->o[slot++] = s;
			}
			dev++;
			if (dev >= (int)n) {
				dev = 0;
				sector += c;
			}
		}
		r->n = slot;
		return;
	}
	}
}

static void random_desc(struct bm_raid_desc *d, uint64_t *sizes)
{
	static const int levels[] = { BM_RAID_LINEAR, BM_RAID0, BM_RAID1,
				      BM_RAID4, BM_RAID5, BM_RAID6,
				      BM_RAID10 };
	static const int l6[] = { 0, 1, 2, 3, 4, 5, 8, 9, 10, 16, 17, 18,
				  19, 20 };
	memset(d, 0, sizeof *d);
	for (;;) {
		d->level = levels[rn(7)];
		d->nmembers = 2 + (unsigned)rn(7);
		/* raid0 and linear take any multiple of 512; raid4/5/6/10
		 * a power of two from 4 KiB (raid.c: as Linux) */
		d->chunk_bytes = d->level == BM_RAID0 || d->level == BM_RAID_LINEAR
					 ? 512u << rn(3) : 4096u << rn(2);
		d->member_bytes = d->chunk_bytes * (4 + rn(12)) + 512 * rn(4);
		d->member_sizes = NULL;
		switch (d->level) {
		case BM_RAID_LINEAR:
		case BM_RAID0:
			d->layout = 1 + (int)rn(2);
			if (d->level == BM_RAID_LINEAR && rn(2))
				d->chunk_bytes = 0;
			for (unsigned i = 0; i < d->nmembers; i++)
				sizes[i] = 4096 * (1 + rn(rn(2) ? 4 : 40)) + 512 * rn(8);
			d->member_sizes = sizes;
			break;
		case BM_RAID1:
			d->chunk_bytes = 0;
			break;
		case BM_RAID4:
			d->layout = 0;
			d->nmembers++;
			break;
		case BM_RAID5:
			d->layout = (int)rn(6);
			d->nmembers++;
			break;
		case BM_RAID6:
			d->nmembers += 2;
			d->layout = l6[rn(14)];
			break;
		case BM_RAID10: {
			unsigned nc = 1 + (unsigned)rn(3), fc = 1 + (unsigned)rn(3);
			if (nc * fc < 2 || nc * fc > d->nmembers)
				continue;
			unsigned fo = (unsigned)rn(2), fs = (unsigned)rn(3);
			d->layout = (int)(nc | fc << 8 | fo << 16 | fs << 17);
			if (fs == 1 && d->nmembers / fc < 1)
				continue;
			break;
		}
		}
		if (bm_raid_check(d) == NULL)
			return;
	}
}

/* per-byte image map: disk (member index + 1), offset, flags */
struct hit {
	unsigned disk;
	uint64_t off;
	unsigned flags;
};
static struct hit *got;
static size_t ngot, capgot;

static int record(void *opaque, unsigned disk, uint64_t off, uint64_t len,
		  unsigned flags)
{
	(void)opaque;
	for (uint64_t i = 0; i < len; i += 512) {
		if (ngot == capgot) {
			capgot = capgot ? capgot * 2 : 1024;
			got = realloc(got, capgot * sizeof *got);
		}
		got[ngot++] = (struct hit){ disk, off + i, flags };
	}
	return 0;
}

static bool hits_eq(const struct hit *a, const struct hit *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].disk != b[i].disk || a[i].off != b[i].off || a[i].flags != b[i].flags) {
			fprintf(stderr, "  first diff at %zu: got d%u %llu f%u want d%u %llu f%u\n", i, a[i].disk, (unsigned long long)a[i].off, a[i].flags, b[i].disk, (unsigned long long)b[i].off, b[i].flags);
			return false;
		}
	return true;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return (x->flags > y->flags) - (x->flags < y->flags);
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)atoi(argv[1]) : 300;
	unsigned bad_size = 0, bad_loc = 0, bad_map = 0, bad_read = 0,
		 bad_par = 0;
	for (unsigned it = 0; it < iters; it++) {
		struct bm_raid_desc d;
		uint64_t sizes[64];
		random_desc(&d, sizes);
		struct ref r;
		ref_init(&d, &r);
		uint64_t size = bm_raid_array_size(&d);
		if (size != r.size) {
			if (bad_size++ < 5)
				fprintf(stderr,
					"size level %d layout 0x%x n %u c %llu mb %llu: "
					"got %llu want %llu\n",
					d.level, d.layout, d.nmembers,
					(unsigned long long)d.chunk_bytes,
					(unsigned long long)d.member_bytes,
					(unsigned long long)size,
					(unsigned long long)r.size);
			continue;
		}
		/* locate: every 512-byte sector */
		for (uint64_t off = 0; off < size; off += 512) {
			uint64_t o = off + rn(512);
			unsigned mem[32];
			uint64_t mo[32];
			int k = bm_raid_locate_all(&d, o, mem, mo, 32);
			ref_locate(&d, &r, o);
			bool ok = k == r.n;
			for (int i = 0; ok && i < k; i++)
				ok = mem[i] == r.m[i] && mo[i] == r.o[i];
			if (r.p >= 0) {
				unsigned p, q;
				ok = ok && bm_raid_parity(&d, o, &p, &q) == 0 &&
				     p == (unsigned)r.p &&
				     q == (r.q < 0 ? UINT_MAX : (unsigned)r.q);
			}
			if (!ok) {
				if (bad_loc++ < 5)
					fprintf(stderr,
						"locate level %d layout 0x%x n %u c %llu off %llu: "
						"got m%u@%llu want m%u@%llu (k %d/%d)\n",
						d.level, d.layout, d.nmembers,
						(unsigned long long)d.chunk_bytes,
						(unsigned long long)o, mem[0],
						(unsigned long long)mo[0], r.m[0],
						(unsigned long long)r.o[0], k, r.n);
				break;
			}
		}
		/* volumes over memory, some members missing */
		struct bm_ctx *ctx = bm_ctx_new(&(struct bm_options){ .verbose = -1 });
		uint8_t *buf[64];
		struct bm_volume *mv[64];
		bool missing[64];
		for (unsigned i = 0; i < d.nmembers; i++) {
			uint64_t ms = d.member_sizes ? d.member_sizes[i] : d.member_bytes;
			buf[i] = malloc(ms);
			for (uint64_t k = 0; k < ms; k++)
				buf[i][k] = (uint8_t)rnd();
			mv[i] = bm_volume_memory(ctx, buf[i], ms, "/dev/x", i + 1);
			missing[i] = false;
		}
		bool degr = d.level != BM_RAID_LINEAR && d.level != BM_RAID0 && rn(2);
		if (degr) {
			unsigned k = (unsigned)rn(d.nmembers);
			missing[k] = true;
			mv[k] = NULL;
		}
		/* make parity consistent (P = xor of data) for raid4/5/6 */
		if (d.level >= BM_RAID4 && d.level <= BM_RAID6) {
			uint64_t dd = d.nmembers - (d.level == BM_RAID6 ? 2 : 1);
			for (uint64_t s = 0; s < size / d.chunk_bytes / dd; s++) {
				ref_locate(&d, &r, s * dd * d.chunk_bytes);
				uint64_t mo = r.o[0];
				memset(buf[r.p] + mo, 0, d.chunk_bytes);
				for (unsigned i = 0; i < d.nmembers; i++)
					if ((int)i != r.p && (int)i != r.q)
						for (uint64_t b = 0; b < d.chunk_bytes; b++)
							buf[r.p][mo + b] ^= buf[i][mo + b];
			}
		}
		struct bm_raid_desc dv = d;
		dv.members = mv;
		struct bm_volume *av = bm_raid_volume_new(ctx, &dv, "/dev/md0");
		if (!av) {
			fprintf(stderr, "volume not built\n");
			bad_map++;
			goto next;
		}
		for (int t = 0; t < 20; t++) {
			uint64_t off = rn(size / 512) * 512;
			uint64_t len = (1 + rn((size - off) / 512)) * 512;
			ngot = 0;
			if (bm_volume_map(av, off, len, 0, record, NULL) < 0) {
				bad_map++;
				continue;
			}
			size_t n1 = ngot;
			/* expected */
			struct hit *want = NULL;
			size_t nw = 0;
			for (uint64_t o = off; o < off + len; o += 512) {
				ref_locate(&d, &r, o);
				bool first = true;
				for (int i = 0; i < r.n; i++) {
					if (missing[r.m[i]])
						continue;
					want = realloc(want, (nw + 1) * sizeof *want);
					want[nw++] = (struct hit){
						r.m[i] + 1, r.o[i],
						first ? 0u : BM_RANGE_COPY };
					first = false;
				}
			}
			if (n1) qsort(got, n1, sizeof *got, hit_cmp);
			if (nw) qsort(want, nw, sizeof *want, hit_cmp);
			if (n1 != nw || !hits_eq(got, want, nw)) {
				if (bad_map++ < 5)
					fprintf(stderr,
						"map level %d layout 0x%x n %u c %llu off %llu len %llu: "
						"%zu vs %zu sectors\n",
						d.level, d.layout, d.nmembers,
						(unsigned long long)d.chunk_bytes,
						(unsigned long long)off,
						(unsigned long long)len, n1, nw);
			}
			free(want);
			/* read */
			uint64_t rl = len > 65536 ? 65536 : len;
			rl -= rn(512);
			uint64_t ro = off + rn(256);
			if (ro + rl > size)
				rl = size - ro;
			uint8_t *rb = malloc(rl), *wb = malloc(rl);
			bool can = true;
			for (uint64_t b = 0; b < rl; b++) {
				ref_locate(&d, &r, ro + b);
				int i;
				for (i = 0; i < r.n; i++)
					if (!missing[r.m[i]])
						break;
				if (i < r.n) {
					wb[b] = buf[r.m[i]][r.o[i]];
				} else if (r.p >= 0 && !missing[r.p]) {
					/* reconstruct from P */
					uint8_t x = buf[r.p][r.o[0]];
					for (unsigned j = 0; j < d.nmembers; j++)
						if ((int)j != r.p && (int)j != r.q &&
						    j != r.m[0])
							x ^= buf[j][r.o[0]];
					wb[b] = x;
				} else {
					can = false;
				}
			}
			int rr = bm_read(av, rb, rl, ro);
			if ((rr == 0) != can || (can && memcmp(rb, wb, rl))) {
				if (bad_read++ < 5)
					fprintf(stderr,
						"read level %d layout 0x%x n %u off %llu len %llu: rc %d can %d\n",
						d.level, d.layout, d.nmembers,
						(unsigned long long)ro,
						(unsigned long long)rl, rr, can);
			}
			free(rb);
			free(wb);
		}
		/* parity footprint */
		if (d.level >= BM_RAID4 && d.level <= BM_RAID6) {
			bm_obj o = bm_object(ctx, 'l', "/dev/md0", NULL);
			size_t before = bm_store_count(ctx);
			bm_raid_emit_parity(av, o);
			const struct bm_range *rg = bm_store_ranges(ctx);
			ngot = 0;
			for (size_t i = 0; i < bm_store_count(ctx); i++)
				if (rg[i].obj == o)
					record(NULL, rg[i].disk, rg[i].start,
					       rg[i].end - rg[i].start, rg[i].flags);
			(void)before;
			struct hit *want = NULL;
			size_t nw = 0;
			uint64_t dd = d.nmembers - (d.level == BM_RAID6 ? 2 : 1);
			for (uint64_t s = 0; s < size / d.chunk_bytes / dd; s++) {
				ref_locate(&d, &r, s * dd * d.chunk_bytes);
				int pq[2] = { r.p, r.q };
				for (int k = 0; k < 2; k++) {
					if (pq[k] < 0 || missing[pq[k]])
						continue;
					for (uint64_t b = 0; b < d.chunk_bytes; b += 512) {
						want = realloc(want, (nw + 1) * sizeof *want);
						want[nw++] = (struct hit){
							(unsigned)pq[k] + 1,
							r.o[0] + b, BM_RANGE_PARITY };
					}
				}
			}
			if (ngot) qsort(got, ngot, sizeof *got, hit_cmp);
			if (nw) qsort(want, nw, sizeof *want, hit_cmp);
			if (ngot != nw || !hits_eq(got, want, nw)) {
				if (bad_par++ < 5)
					fprintf(stderr, "parity level %d layout %d n %u: %zu vs %zu\n",
						d.level, d.layout, d.nmembers, ngot, nw);
			}
			free(want);
		}
	next:
		bm_ctx_free(ctx);
		for (unsigned i = 0; i < d.nmembers; i++)
			free(buf[i]);
	}
	printf("%u arrays: size %u locate %u map %u read %u parity %u "
	       "mismatches\n", iters, bad_size, bad_loc, bad_map, bad_read,
	       bad_par);
	free(got);
	return bad_size || bad_loc || bad_map || bad_read || bad_par;
}
