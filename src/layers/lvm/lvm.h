/* LVM2 layer: internal interfaces shared by the files of src/layers/lvm/.
 *
 *   label.c     PV label, PV header, metadata area headers, metadata text
 *               (the prober; PVs wait in the context slot for assembly)
 *   meta.c      VG metadata text -> struct lvm_vg, with libdevmapper's
 *               config-tree parser
 *   segments.c  LV volumes: segment lookup, striped/mirror/raid/cache
 *               mapping and reading, the LV objects (extent footprint)
 *   thin.c      thin-pool metadata (persistent-data btrees) and the
 *               persistent snapshot exception store
 *   cache.c     dm-cache's metadata in the cache pool
 *   writecache.c dm-writecache's metadata on the cache volume
 *   pdata.c     persistent-data btrees and arrays (thin, dm-cache)
 *   remap.c     the block tables all three fill, and reads and maps
 *               through them
 *   vg.c        assembly of VGs from registered PVs
 *
 * On-disk format: lvm2's doc/ and man pages (lvm.conf(5), vgcfgbackup(8)
 * text format), checked against images made by lvm2 2.03; thin pools:
 * linux Documentation/admin-guide/device-mapper/thin-provisioning.rst
 * and drivers/md/persistent-data; snapshots: dm-snap-persistent.c;
 * writecache: Documentation/admin-guide/device-mapper/writecache.rst
 * and dm-writecache.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_LVM_H
#define BM_LVM_H

#include <stdint.h>

#include "bmapgen.h"

#define LVM_SECTOR 512u
#define LVM_ID_LEN 32 /* a PV/VG/LV uuid without dashes */
#define LVM_MAX_META (16u << 20) /* metadata text we accept */
#define LVM_MAX_DEPTH 8  /* LVs stacked on LVs within one VG */

extern const struct bm_prober bm_lvm_prober;

/* LVM's CRC: reflected CRC-32 (0xedb88320) without the final inversion,
 * started at 0xf597a6cf. */
#define LVM_INITIAL_CRC 0xf597a6cfu
uint32_t bm_lvm_crc(uint32_t crc, const void *buf, size_t len);

/* A PV found by the prober, waiting in the slot for its VG. */
struct lvm_pv {
	struct bm_volume *vol;
	char uuid[LVM_ID_LEN + 1];
	char *text;       /* newest metadata text found on it, or NULL */
	uint64_t text_off; /* where TEXT starts on the PV (for messages) */
	uint64_t seqno;   /* of TEXT */
	char *vgid;       /* VG uuid from TEXT (dashes removed), or NULL */
	char *vgname;
	bool used;        /* claimed by an assembled VG */
	bool orphan;      /* a valid but empty metadata area: in no VG */
};

struct lvm_slot {
	struct lvm_pv **pvs;
	size_t npvs;
	struct lvm_vg **vgs; /* assembled, kept for their LV volumes */
	size_t nvgs;
	char **done;         /* VG uuids already assembled */
	size_t ndone;
};

enum lvm_segtype {
	LVM_SEG_STRIPED, /* also linear */
	LVM_SEG_MIRROR,
	LVM_SEG_RAID,
	LVM_SEG_THIN_POOL,
	LVM_SEG_THIN,
	LVM_SEG_SNAPSHOT,
	LVM_SEG_CACHE,      /* cache and writecache: via the origin, and
			     * the writecache's table (writecache.c) */
	LVM_SEG_CACHE_POOL,
	LVM_SEG_ZERO,       /* zero, error: nothing stored */
	LVM_SEG_UNMAPPED,   /* vdo, integrity, ...: not mapped (warned) */
};

struct lvm_lv;
struct lvm_pvref;

/* One area of a segment: a PV extent range or an LV extent range. */
struct lvm_area {
	struct lvm_pvref *pv; /* or */
	struct lvm_lv *lv;    /* (both NULL: missing) */
	uint64_t start;       /* first extent on the PV / LV */
};

/* A block remap (remap.c): COUNT virtual blocks of UNIT bytes from
 * VSTART are stored at byte BASE + PSTART * UNIT of STORED, for each
 * run; the blocks between runs are OTHER's (a snapshot's or a cache's
 * origin) or, without OTHER, not stored (unprovisioned thin blocks,
 * read as zeros).  A COPY run is a copy of OTHER's blocks (clean cache
 * blocks): both are mapped, the stored ones as copies.  Loaders keep
 * every run inside both volumes. */
struct lvm_run {
	uint64_t vstart, pstart, count;
	bool copy;
};
struct lvm_remap {
	struct lvm_run *r; /* sorted by vstart, not overlapping */
	size_t n;
	uint64_t unit, base;
	struct bm_volume *stored, *other;
};
/* One stored block, before runs are made: block V at P; of several
 * for one V, the highest ORDER (then P) wins. */
struct lvm_single {
	uint64_t v, p, order;
	bool copy;
};

struct lvm_seg {
	enum lvm_segtype type;
	char *typename;
	uint64_t start, len;  /* bytes in the LV */
	uint64_t stripe_bytes;
	unsigned nareas;
	struct lvm_area *areas; /* stripes, mirror legs, raid images */
	struct lvm_area *metas; /* raid metadata sub-LVs (nareas) or NULL */
	struct lvm_lv *log;     /* mirror log */
	/* raid */
	int level, layout;
	struct bm_volume *raid;
	/* thin: pool LV and device id; thin-pool: metadata and data LVs;
	 * snapshot: origin and cow; cache: origin and pool. */
	struct lvm_lv *lv1, *lv2;
	uint64_t device_id;
	uint64_t chunk_bytes;   /* thin-pool block, snapshot chunk */
	bool writethrough;      /* cache: the origin is always current */
	bool writecache;        /* a writecache (else dm-cache) segment */
	uint64_t wc_block;      /* writecache_block_size (bytes) */
	uint64_t wc_start;      /* its start_sector setting (bytes) */
	/* dm-cache on a cache volume (lv2, not a pool): where the metadata
	 * and the data are in it (bytes) */
	bool cachevol;
	uint64_t cv_meta_off, cv_meta_len, cv_data_off, cv_data_len;
	/* thin, snapshot, writecache: the block table (NULL: not loaded) */
	struct lvm_remap *remap;
};

struct lvm_pvref {
	char *name;              /* "pv0" */
	char id[LVM_ID_LEN + 1];
	struct bm_volume *vol;   /* NULL: missing */
	uint64_t pe_start;       /* bytes */
	uint64_t pe_count;
};

struct lvm_lv {
	struct lvm_vg *vg;
	char *name;
	bool visible;
	uint64_t size;          /* bytes */
	size_t nsegs;
	struct lvm_seg *segs;
	struct bm_volume *vol;  /* data volume, once built */
	char *dev;              /* /dev/VG/LV or /dev/VG/[LV] */
	int state;              /* 0 new, 1 building, 2 built (cycle guard) */
	struct lvm_lv *snapshot_of; /* the hidden snapshotN LV whose COW we are */
	bool is_cow;
	unsigned mark;          /* footprint walk generation */
	struct lvm_lv *cache_user; /* the cache LV this pool or volume serves */
};

struct lvm_vg {
	struct bm_ctx *ctx;
	unsigned refs;          /* slot + one per LV volume */
	unsigned mark;          /* footprint walk generation */
	char *name;
	uint64_t text_off;      /* of the metadata text, on its PV */
	uint64_t extent_bytes;
	size_t npvs;
	struct lvm_pvref *pvs;
	size_t nlvs;
	struct lvm_lv *lvs;
};

/* vg.c */
int bm_lvm_assemble(struct bm_ctx *ctx);

/* meta.c */
/* Parse TEXT just enough to name its VG: uuid (dashes removed) and
 * seqno.  Returns 0, or -1 with *WHY set. */
int bm_lvm_text_vgid(const char *text, char **vgname, char **vgid,
		     uint64_t *seqno, const char **why);
/* Parse TEXT, found at offset TEXT_OFF of DEV, into a VG.  PV volumes
 * are filled in by the caller.  NULL (after bm_warn on DEV, naming
 * TEXT_OFF) when it is unusable. */
struct lvm_vg *bm_lvm_vg_parse(struct bm_ctx *ctx, const char *dev,
			       const char *text, uint64_t text_off);
void bm_lvm_vg_unref(struct lvm_vg *vg);
struct lvm_lv *bm_lvm_find_lv(struct lvm_vg *vg, const char *name);

/* segments.c */
/* Build LV's data volume (and those of the LVs it stands on).  Returns
 * it, or NULL (warned). */
struct bm_volume *bm_lvm_lv_volume(struct lvm_lv *lv);
/* Emit LV's extent footprint (its extents and its sub-LVs') as OBJ. */
void bm_lvm_emit_footprint(struct lvm_lv *lv, bm_obj obj, unsigned depth);

/* remap.c */
/* Append block V stored at P to M's runs (extending the last run when
 * both continue it); *CAP is the allocated length. */
void bm_lvm_run_add(struct lvm_remap *m, size_t *cap, uint64_t v, uint64_t p,
		    bool copy);
/* Sort S and keep the winner of each block; returns how many are left. */
size_t bm_lvm_singles_compact(struct lvm_single *s, size_t n);
/* Sort S and append one run entry per block, the winner of each.
 * Returns how many lost (blocks named more than once). */
size_t bm_lvm_remap_from_singles(struct lvm_remap *m, struct lvm_single *s,
				 size_t n);
void bm_lvm_remap_free(struct lvm_remap *m);
/* Map or read [OFF, OFF+LEN) of the virtual volume through M (NULL:
 * nothing mapped; reads fail with ENODATA). */
int bm_lvm_remap_map(const struct lvm_remap *m, uint64_t off, uint64_t len,
		     unsigned flags, bm_range_cb cb, void *opaque);
int bm_lvm_remap_read(const struct lvm_remap *m, uint8_t *buf, uint64_t len,
		      uint64_t off);

/* pdata.c: persistent-data metadata (thin pools, dm-cache) */
#define BM_PD_BLOCK 4096u
struct bm_pd {
	struct bm_ctx *ctx;
	const char *dev;       /* for messages */
	const char *what;      /* "thin-pool metadata", ... */
	struct bm_volume *vol;
	uint64_t base;         /* byte offset of block 0 in VOL */
	uint64_t nblocks;
	bool bad;              /* a walk skipped damaged parts (warned) */
	uint64_t at;           /* byte offset in VOL of the array block a
				* bm_pd_array_walk callback's value is in */
};
/* The checksum of a block whose type XORs it with XOR. */
uint32_t bm_pd_csum(const uint8_t *b, uint32_t xor);
/* Read block B (< nblocks) into BUF; -1 after a warning. */
int bm_pd_read(struct bm_pd *pd, uint64_t b, uint8_t *buf);
/* The 8-byte value of KEY in the btree at ROOT, or -1. */
int bm_pd_lookup(struct bm_pd *pd, uint64_t root, uint64_t key,
		 uint64_t *val);
/* Every (key, 8-byte value) of the btree at ROOT, in key order. */
typedef void (*bm_pd_leaf_fn)(void *o, uint64_t key, uint64_t val);
void bm_pd_walk(struct bm_pd *pd, uint64_t root, bm_pd_leaf_fn fn, void *o);
/* Every (index, value) of the dm-array at ROOT of N values of
 * VALUE_SIZE (<= 4072) bytes, in index order, each index once. */
typedef void (*bm_pd_value_fn)(void *o, uint64_t index, const uint8_t *val);
void bm_pd_array_walk(struct bm_pd *pd, uint64_t root, uint64_t n,
		      uint32_t value_size, bm_pd_value_fn fn, void *o);
/* Single values of the dm-array at ROOT, looked up as needed (the last
 * array block is kept: reads in index order are cheap). */
struct bm_pd_array {
	struct bm_pd *pd;
	uint64_t root;
	uint32_t value_size;
	bool have;             /* KEY's block is in BUF (NR < 0: unusable) */
	uint64_t key;
	int64_t nr;
	uint8_t buf[BM_PD_BLOCK];
};
/* The value at INDEX, or NULL when the array has none there or that
 * part of it is damaged (warned, and PD->bad set). */
const uint8_t *bm_pd_array_get(struct bm_pd_array *a, uint64_t index);

/* thin.c: fill SEG->remap, or warn and return -1 */
int bm_lvm_thin_load(struct lvm_lv *lv, struct lvm_seg *seg);
int bm_lvm_snap_load(struct lvm_lv *lv, struct lvm_seg *seg);
/* Emit the pool metadata blocks in use as metadata objects. */
void bm_lvm_thin_emit_meta(struct lvm_lv *pool, struct lvm_seg *seg);

/* cache.c: fill SEG->remap from a dm-cache pool's metadata, or warn
 * and return -1 (the LV is then mapped through its origin). */
int bm_lvm_cache_load(struct lvm_lv *lv, struct lvm_seg *seg);

/* writecache.c: fill SEG->remap from the cache volume's metadata, or
 * warn and return -1 (the LV is then mapped through its origin). */
int bm_lvm_wc_load(struct lvm_lv *lv, struct lvm_seg *seg);
/* Emit the cache volume's superblock and entry table as metadata. */
void bm_lvm_wc_emit_meta(struct lvm_lv *lv, struct lvm_seg *seg);

#endif
