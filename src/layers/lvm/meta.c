/* LVM2 VG metadata text -> struct lvm_vg.
 *
 * The text (format described in lvm.conf(5)/vgcfgbackup(8) and
 * lvm2's doc/) is parsed with libdevmapper's config-tree parser; this
 * file only interprets the tree:
 *
 *   VGNAME { id = "..." seqno = N extent_size = SECTORS
 *     physical_volumes { pvN { id = "..." pe_start = SECTORS
 *                              pe_count = N } ... }
 *     logical_volumes { LV { status = [..., "VISIBLE"]
 *       segment_count = N
 *       segmentI { start_extent = E extent_count = N type = "striped"
 *                  stripe_count = K stripe_size = SECTORS
 *                  stripes = ["pv0", PE, ...] } ... } ... } }
 *
 * Other segment types name their sub-LVs: mirror (mirrors = [LV, LE,
 * ...], mirror_log), raid* (raids = [rmeta, rimage, ...] or raid0_lvs =
 * [rimage, ...]), thin-pool (metadata, pool, chunk_size), thin
 * (thin_pool, device_id), snapshot (origin, cow_store, chunk_size),
 * cache (cache_pool, origin), writecache (origin), cache-pool (data,
 * metadata).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <libdevmapper.h>
#include <stdlib.h>
#include <string.h>

#include "layers/lvm/lvm.h"
#include "layers/raid.h"

#define MAX_NESTING 16   /* lvm2 metadata nests 5 deep */
#define MAX_SEGS 65536
#define MAX_AREAS 256    /* dm-raid allows 253 devices */

/* libdevmapper reports parse errors on stderr; our callers warn with
 * context instead. */
static void quiet_log(int level, const char *file, int line, int dm_errno,
		      const char *f, ...)
{
}

/* libdevmapper's parser recurses per nesting level: refuse text nested
 * deeper than any lvm2 writes, so hostile input cannot exhaust the
 * stack.  Strings and comments are skipped as the parser does. */
static bool nesting_ok(const char *t)
{
	int depth = 0;
	for (const char *p = t; *p; p++) {
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			if (!*p)
				break;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p)
				break;
		} else if (*p == '{' || *p == '[') {
			if (++depth > MAX_NESTING)
				return false;
		} else if (*p == '}' || *p == ']') {
			depth--;
		}
	}
	return true;
}

static struct dm_config_tree *parse_text(const char *text)
{
	if (!nesting_ok(text))
		return NULL;
	dm_log_with_errno_init(quiet_log);
	return dm_config_from_string(text);
}

/* The VG section: the first top-level node that is a section. */
static const struct dm_config_node *vg_node(const struct dm_config_tree *t)
{
	for (const struct dm_config_node *n = t->root; n; n = n->sib)
		if (n->child && !n->v)
			return n;
	return NULL;
}

/* Lookups inside section S (dm_config_find_node searches a sibling list,
 * so start at S's first child). */
static const struct dm_config_node *child(const struct dm_config_node *s,
					  const char *key)
{
	return s && s->child ? dm_config_find_node(s->child, key) : NULL;
}

static bool get_u64(const struct dm_config_node *s, const char *key,
		    uint64_t *r)
{
	const struct dm_config_node *n = child(s, key);
	if (!n || !n->v || n->v->type != DM_CFG_INT || n->v->v.i < 0)
		return false;
	*r = (uint64_t)n->v->v.i;
	return true;
}

static const char *get_str(const struct dm_config_node *s, const char *key)
{
	const struct dm_config_node *n = child(s, key);
	if (!n || !n->v || n->v->type != DM_CFG_STRING)
		return NULL;
	return n->v->v.str;
}

static const struct dm_config_value *get_list(const struct dm_config_node *s,
					      const char *key)
{
	const struct dm_config_node *n = child(s, key);
	return n ? n->v : NULL;
}

static bool list_has(const struct dm_config_value *v, const char *s)
{
	for (unsigned i = 0; v && i < 1024; v = v->next, i++)
		if (v->type == DM_CFG_STRING && strcmp(v->v.str, s) == 0)
			return true;
	return false;
}

/* "abcdef-ghij-..." -> "abcdefghij..." (32 chars) or false. */
static bool id_strip(const char *in, char *out)
{
	unsigned n = 0;
	for (const char *p = in; *p; p++) {
		if (*p == '-')
			continue;
		if (n == LVM_ID_LEN)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	return n == LVM_ID_LEN;
}

int bm_lvm_text_vgid(const char *text, char **vgname, char **vgid,
		     uint64_t *seqno, const char **why)
{
	struct dm_config_tree *t = parse_text(text);
	if (!t) {
		*why = "unparseable";
		return -1;
	}
	const struct dm_config_node *vg = vg_node(t);
	const char *id = vg ? get_str(vg, "id") : NULL;
	char buf[LVM_ID_LEN + 1];
	int r = -1;
	if (!vg)
		*why = "no volume group section";
	else if (!id || !id_strip(id, buf))
		*why = "no valid volume group id";
	else if (!get_u64(vg, "seqno", seqno))
		*why = "no seqno";
	else {
		*vgid = bm_strdup(buf);
		*vgname = bm_strdup(vg->key);
		r = 0;
	}
	dm_config_destroy(t);
	return r;
}

struct lvm_lv *bm_lvm_find_lv(struct lvm_vg *vg, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < vg->nlvs; i++)
		if (strcmp(vg->lvs[i].name, name) == 0)
			return &vg->lvs[i];
	return NULL;
}

static struct lvm_pvref *find_pv(struct lvm_vg *vg, const char *name)
{
	for (size_t i = 0; i < vg->npvs; i++)
		if (strcmp(vg->pvs[i].name, name) == 0)
			return &vg->pvs[i];
	return NULL;
}

/* Parse an area list of (name, start) pairs (PAIRS) or bare names.
 * Names are PVs or LVs.  Returns the count, or -1. */
static int parse_areas(struct lvm_vg *vg, const struct dm_config_value *v,
		       bool pairs, struct lvm_area **out)
{
	struct lvm_area *a = NULL;
	int n = 0;
	/* Bounded by MAX_AREAS. */
	while (v && v->type != DM_CFG_EMPTY_ARRAY) {
		if (n == MAX_AREAS || v->type != DM_CFG_STRING)
			goto bad;
		a = bm_reallocarray(a, (size_t)n + 1, sizeof *a);
		memset(&a[n], 0, sizeof a[n]);
		a[n].pv = find_pv(vg, v->v.str);
		if (!a[n].pv)
			a[n].lv = bm_lvm_find_lv(vg, v->v.str);
		if (!a[n].pv && !a[n].lv)
			goto bad;
		v = v->next;
		if (pairs) {
			if (!v || v->type != DM_CFG_INT || v->v.i < 0)
				goto bad;
			a[n].start = (uint64_t)v->v.i;
			v = v->next;
		}
		n++;
	}
	*out = a;
	return n;
bad:
	free(a);
	return -1;
}

/* dm-raid type name -> md level and layout (drivers/md/dm-raid.c's
 * raid_types table; lvm2's "raid5" is raid5_ls, "raid6" raid6_zr,
 * "raid10" the default near layout with 2 copies). */
static bool raid_type(const char *t, int *level, int *layout)
{
	static const struct {
		const char *name;
		int level, layout;
	} types[] = {
		{ "raid0", BM_RAID0, 0 },
		{ "raid0_meta", BM_RAID0, 0 },
		{ "raid1", BM_RAID1, 0 },
		{ "raid10", BM_RAID10, 0x102 },
		{ "raid10_near", BM_RAID10, 0x102 },
		{ "raid4", BM_RAID5, BM_RAID5_PARITY_0 },
		{ "raid5_n", BM_RAID5, BM_RAID5_PARITY_N },
		{ "raid5", BM_RAID5, BM_RAID5_LEFT_SYMMETRIC },
		{ "raid5_ls", BM_RAID5, BM_RAID5_LEFT_SYMMETRIC },
		{ "raid5_rs", BM_RAID5, BM_RAID5_RIGHT_SYMMETRIC },
		{ "raid5_la", BM_RAID5, BM_RAID5_LEFT_ASYMMETRIC },
		{ "raid5_ra", BM_RAID5, BM_RAID5_RIGHT_ASYMMETRIC },
		{ "raid6", BM_RAID6, BM_RAID6_ROTATING_ZERO_RESTART },
		{ "raid6_zr", BM_RAID6, BM_RAID6_ROTATING_ZERO_RESTART },
		{ "raid6_nr", BM_RAID6, BM_RAID6_ROTATING_N_RESTART },
		{ "raid6_nc", BM_RAID6, BM_RAID6_ROTATING_N_CONTINUE },
		{ "raid6_n_6", BM_RAID6, BM_RAID5_PARITY_N },
		{ "raid6_ls_6", BM_RAID6, BM_RAID6_LEFT_SYMMETRIC_6 },
		{ "raid6_rs_6", BM_RAID6, BM_RAID6_RIGHT_SYMMETRIC_6 },
		{ "raid6_la_6", BM_RAID6, BM_RAID6_LEFT_ASYMMETRIC_6 },
		{ "raid6_ra_6", BM_RAID6, BM_RAID6_RIGHT_ASYMMETRIC_6 },
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(t, types[i].name) == 0) {
			*level = types[i].level;
			*layout = types[i].layout;
			return true;
		}
	return false;
}

/* Fill SEG from segment section S.  Returns NULL or why it is unusable. */
static const char *parse_seg(struct lvm_vg *vg, const struct dm_config_node *s,
			     struct lvm_seg *seg)
{
	const char *t = get_str(s, "type");
	uint64_t v;
	int n;
	if (!t)
		return "no type";
	seg->typename = bm_strdup(t);
	/* lvm2 appends feature flags: "cache+METADATA_FORMAT". */
	char *plus = strchr(seg->typename, '+');
	if (plus)
		*plus = '\0';
	const char *type = seg->typename;
	if (strcmp(type, "striped") == 0 || strcmp(type, "linear") == 0) {
		uint64_t k = 1;
		if (get_u64(s, "stripe_count", &k) && k == 0)
			return "zero stripe_count";
		seg->type = LVM_SEG_STRIPED;
		if (k > 1) {
			if (!get_u64(s, "stripe_size", &v) || v == 0 ||
			    !bm_mul(v, LVM_SECTOR, &seg->stripe_bytes))
				return "bad stripe_size";
		}
		n = parse_areas(vg, get_list(s, "stripes"), true, &seg->areas);
		if (n < 0 || (uint64_t)n != k)
			return "bad stripes list";
		seg->nareas = (unsigned)n;
	} else if (strcmp(type, "mirror") == 0) {
		seg->type = LVM_SEG_MIRROR;
		n = parse_areas(vg, get_list(s, "mirrors"), true, &seg->areas);
		if (n <= 0)
			return "bad mirrors list";
		seg->nareas = (unsigned)n;
		seg->log = bm_lvm_find_lv(vg, get_str(s, "mirror_log"));
	} else if (raid_type(type, &seg->level, &seg->layout)) {
		seg->type = LVM_SEG_RAID;
		const struct dm_config_value *l = get_list(s, "raids");
		if (l) {
			struct lvm_area *a;
			n = parse_areas(vg, l, false, &a);
			if (n <= 0 || n % 2)
				return "bad raids list";
			/* (rmeta, rimage) pairs */
			seg->nareas = (unsigned)n / 2;
			seg->areas = bm_calloc(seg->nareas, sizeof *seg->areas);
			seg->metas = bm_calloc(seg->nareas, sizeof *seg->metas);
			for (unsigned i = 0; i < seg->nareas; i++) {
				seg->metas[i] = a[2 * i];
				seg->areas[i] = a[2 * i + 1];
			}
			free(a);
		} else {
			n = parse_areas(vg, get_list(s, "raid0_lvs"), false,
					&seg->areas);
			if (n <= 0)
				return "bad raid0_lvs list";
			seg->nareas = (unsigned)n;
		}
		for (unsigned i = 0; i < seg->nareas; i++)
			if (!seg->areas[i].lv)
				return "raid image is not an LV";
		if (seg->level != BM_RAID1) {
			if (!get_u64(s, "stripe_size", &v) || v == 0 ||
			    !bm_mul(v, LVM_SECTOR, &seg->stripe_bytes))
				return "bad stripe_size";
		}
		/* raid10: near copies (lvm2 only writes data_copies when
		 * it is not the default 2). */
		if (seg->level == BM_RAID10 && get_u64(s, "data_copies", &v)) {
			if (v < 2 || v > seg->nareas)
				return "bad data_copies";
			seg->layout = 0x100 | (int)v;
		}
		if (get_u64(s, "data_offset", &v) && v != 0)
			return "raid reshape in progress (data_offset)";
	} else if (strcmp(type, "thin-pool") == 0) {
		seg->type = LVM_SEG_THIN_POOL;
		seg->lv1 = bm_lvm_find_lv(vg, get_str(s, "metadata"));
		seg->lv2 = bm_lvm_find_lv(vg, get_str(s, "pool"));
		if (!seg->lv1 || !seg->lv2)
			return "thin pool without metadata or data LV";
		if (!get_u64(s, "chunk_size", &v) || v == 0 ||
		    !bm_mul(v, LVM_SECTOR, &seg->chunk_bytes))
			return "bad chunk_size";
	} else if (strcmp(type, "thin") == 0) {
		seg->type = LVM_SEG_THIN;
		seg->lv1 = bm_lvm_find_lv(vg, get_str(s, "thin_pool"));
		if (!seg->lv1 || !get_u64(s, "device_id", &seg->device_id))
			return "thin LV without pool or device_id";
		if (get_str(s, "external_origin"))
			return "thin LV with an external origin";
	} else if (strcmp(type, "snapshot") == 0) {
		seg->type = LVM_SEG_SNAPSHOT;
		seg->lv1 = bm_lvm_find_lv(vg, get_str(s, "origin"));
		seg->lv2 = bm_lvm_find_lv(vg, get_str(s, "cow_store"));
		if (!seg->lv1 || !seg->lv2)
			return "snapshot without origin or COW store";
		if (!get_u64(s, "chunk_size", &v) || v == 0 ||
		    !bm_mul(v, LVM_SECTOR, &seg->chunk_bytes))
			return "bad chunk_size";
	} else if (strcmp(type, "cache") == 0 ||
		   strcmp(type, "writecache") == 0) {
		seg->type = LVM_SEG_CACHE;
		seg->lv1 = bm_lvm_find_lv(vg, get_str(s, "origin"));
		seg->lv2 = bm_lvm_find_lv(vg, get_str(s, type[0] == 'c'
							  ? "cache_pool"
							  : "writecache"));
		if (!seg->lv1)
			return "cache without origin";
		const char *m = get_str(s, "cache_mode");
		seg->writethrough = m && strcmp(m, "writethrough") == 0;
		if (type[0] == 'c' && child(s, "metadata_start")) {
			/* lvm2's --cachevol: metadata and data in one LV,
			 * the pool's settings on this segment (sectors) */
			uint64_t ms, ml, ds, dl, cs;
			seg->cachevol = true;
			if (!get_u64(s, "metadata_start", &ms) ||
			    !get_u64(s, "metadata_len", &ml) ||
			    !get_u64(s, "data_start", &ds) ||
			    !get_u64(s, "data_len", &dl) ||
			    !get_u64(s, "chunk_size", &cs) ||
			    !bm_mul(ms, LVM_SECTOR, &seg->cv_meta_off) ||
			    !bm_mul(ml, LVM_SECTOR, &seg->cv_meta_len) ||
			    !bm_mul(ds, LVM_SECTOR, &seg->cv_data_off) ||
			    !bm_mul(dl, LVM_SECTOR, &seg->cv_data_len) ||
			    !bm_mul(cs, LVM_SECTOR, &seg->chunk_bytes))
				return "bad cache volume layout";
		}
		if (type[0] == 'w') {
			/* lvm2's writecache segment: the block size, and a
			 * start_sector only as its free-form setting */
			seg->writecache = true;
			if (!get_u64(s, "writecache_block_size", &v) ||
			    v < 512 || v > 65536 || (v & (v - 1)))
				return "bad writecache_block_size";
			seg->wc_block = v;
			const char *k = get_str(s, "writecache_setting_key");
			const char *val = get_str(s, "writecache_setting_val");
			if (k && val && strcmp(k, "start_sector") == 0) {
				char *e;
				errno = 0;
				unsigned long long ss = strtoull(val, &e, 10);
				if (errno || *val < '0' || *val > '9' || *e ||
				    !bm_mul(ss, LVM_SECTOR, &seg->wc_start))
					return "bad writecache start_sector";
			}
		}
	} else if (strcmp(type, "cache-pool") == 0) {
		seg->type = LVM_SEG_CACHE_POOL;
		const char *m = get_str(s, "cache_mode");
		seg->writethrough = m && strcmp(m, "writethrough") == 0;
		if (get_u64(s, "chunk_size", &v) &&
		    !bm_mul(v, LVM_SECTOR, &seg->chunk_bytes))
			return "bad chunk_size";
		seg->lv1 = bm_lvm_find_lv(vg, get_str(s, "metadata"));
		seg->lv2 = bm_lvm_find_lv(vg, get_str(s, "data"));
	} else if (strcmp(type, "zero") == 0 || strcmp(type, "error") == 0) {
		seg->type = LVM_SEG_ZERO;
	} else {
		seg->type = LVM_SEG_UNMAPPED;
	}
	return NULL;
}

static void parse_lv(struct lvm_vg *vg, const char *dev,
		     const struct dm_config_node *s, struct lvm_lv *lv)
{
	uint64_t nsegs = 0;
	if (!get_u64(s, "segment_count", &nsegs) || nsegs > MAX_SEGS) {
		bm_warn(vg->ctx, dev, vg->text_off,
			"LVM2 LV %s/%s: bad segment_count: not mapped",
			vg->name, lv->name);
		return;
	}
	lv->segs = bm_calloc(nsegs ? nsegs : 1, sizeof *lv->segs);
	for (uint64_t i = 1; i <= nsegs; i++) {
		char key[32];
		snprintf(key, sizeof key, "segment%llu", (unsigned long long)i);
		const struct dm_config_node *ss = child(s, key);
		struct lvm_seg *seg = &lv->segs[lv->nsegs];
		uint64_t se, sn;
		const char *why = NULL;
		if (!ss || !ss->child)
			why = "missing";
		else if (!get_u64(ss, "start_extent", &se) ||
			 !get_u64(ss, "extent_count", &sn) || sn == 0 ||
			 !bm_mul(se, vg->extent_bytes, &seg->start) ||
			 !bm_mul(sn, vg->extent_bytes, &seg->len) ||
			 !bm_add(seg->start, seg->len, &(uint64_t){ 0 }))
			why = "bad extent range";
		else if (seg->start != lv->size)
			why = "not contiguous with the previous segment";
		else
			why = parse_seg(vg, ss, seg);
		if (!why && seg->type == LVM_SEG_STRIPED &&
		    sn % seg->nareas != 0)
			why = "extent count not a multiple of the stripe count";
		if (why) {
			bm_warn(vg->ctx, dev, vg->text_off,
				"LVM2 LV %s/%s segment %llu: %s: the LV is "
				"mapped up to this segment only",
				vg->name, lv->name, (unsigned long long)i, why);
			free(seg->typename);
			free(seg->areas);
			free(seg->metas);
			memset(seg, 0, sizeof *seg);
			return;
		}
		lv->size = seg->start + seg->len;
		lv->nsegs++;
	}
}

struct lvm_vg *bm_lvm_vg_parse(struct bm_ctx *ctx, const char *dev,
			       const char *text, uint64_t text_off)
{
	struct dm_config_tree *t = parse_text(text);
	const struct dm_config_node *vgn = t ? vg_node(t) : NULL;
	uint64_t es;
	if (!vgn || !get_u64(vgn, "extent_size", &es) || es == 0 ||
	    es > UINT32_MAX) {
		bm_warn(ctx, dev, text_off,
			"LVM2 metadata without a usable VG (none, or its "
			"extent_size is 0 or above 2^32 sectors): not mapped");
		if (t)
			dm_config_destroy(t);
		return NULL;
	}
	struct lvm_vg *vg = bm_calloc(1, sizeof *vg);
	vg->ctx = ctx;
	vg->refs = 1;
	vg->name = bm_strdup(vgn->key);
	vg->text_off = text_off;
	vg->extent_bytes = es * LVM_SECTOR;

	const struct dm_config_node *pvs = child(vgn, "physical_volumes");
	size_t n = 0;
	/* Sibling lists are finite (the parser built them from TEXT). */
	for (const struct dm_config_node *p = pvs ? pvs->child : NULL; p;
	     p = p->sib)
		n++;
	vg->pvs = bm_calloc(n ? n : 1, sizeof *vg->pvs);
	for (const struct dm_config_node *p = pvs ? pvs->child : NULL; p;
	     p = p->sib) {
		struct lvm_pvref *r = &vg->pvs[vg->npvs];
		const char *id = get_str(p, "id");
		uint64_t ps;
		if (!p->child || !id || !id_strip(id, r->id) ||
		    !get_u64(p, "pe_start", &ps) ||
		    !bm_mul(ps, LVM_SECTOR, &r->pe_start) ||
		    !get_u64(p, "pe_count", &r->pe_count)) {
			bm_warn(ctx, dev, text_off,
				"LVM2 VG %s: PV %s is malformed: ignored",
				vg->name, p->key);
			continue;
		}
		r->name = bm_strdup(p->key);
		vg->npvs++;
	}

	const struct dm_config_node *lvs = child(vgn, "logical_volumes");
	n = 0;
	for (const struct dm_config_node *l = lvs ? lvs->child : NULL; l;
	     l = l->sib)
		n++;
	vg->lvs = bm_calloc(n ? n : 1, sizeof *vg->lvs);
	/* Names first: segments refer to LVs listed after them. */
	for (const struct dm_config_node *l = lvs ? lvs->child : NULL; l;
	     l = l->sib) {
		if (!l->child)
			continue;
		struct lvm_lv *lv = &vg->lvs[vg->nlvs++];
		lv->vg = vg;
		lv->name = bm_strdup(l->key);
		lv->visible = list_has(get_list(l, "status"), "VISIBLE");
	}
	size_t i = 0;
	for (const struct dm_config_node *l = lvs ? lvs->child : NULL; l;
	     l = l->sib)
		if (l->child)
			parse_lv(vg, dev, l, &vg->lvs[i++]);

	/* An old-style snapshot is a hidden "snapshotN" LV joining origin
	 * and COW; the device users see carries the COW LV's name. */
	for (i = 0; i < vg->nlvs; i++) {
		struct lvm_lv *lv = &vg->lvs[i];
		if (lv->nsegs == 1 && lv->segs[0].type == LVM_SEG_SNAPSHOT) {
			lv->segs[0].lv2->is_cow = true;
			lv->segs[0].lv2->snapshot_of = lv;
		}
	}
	for (i = 0; i < vg->nlvs; i++) {
		struct lvm_lv *lv = &vg->lvs[i];
		if (lv->nsegs == 1 && lv->segs[0].type == LVM_SEG_SNAPSHOT)
			lv->dev = bm_asprintf("/dev/%s/%s", vg->name,
					      lv->segs[0].lv2->name);
		else if (lv->is_cow)
			lv->dev = bm_asprintf("/dev/%s/[%s-cow]", vg->name,
					      lv->name);
		else
			lv->dev = bm_asprintf(lv->visible ? "/dev/%s/%s"
							  : "/dev/%s/[%s]",
					      vg->name, lv->name);
	}
	dm_config_destroy(t);
	return vg;
}

void bm_lvm_vg_unref(struct lvm_vg *vg)
{
	if (!vg || --vg->refs > 0)
		return;
	for (size_t i = 0; i < vg->nlvs; i++) {
		struct lvm_lv *lv = &vg->lvs[i];
		for (size_t j = 0; j < lv->nsegs; j++) {
			struct lvm_seg *s = &lv->segs[j];
			free(s->typename);
			free(s->areas);
			free(s->metas);
			bm_lvm_remap_free(s->remap);
		}
		free(lv->segs);
		free(lv->name);
		free(lv->dev);
	}
	free(vg->lvs);
	for (size_t i = 0; i < vg->npvs; i++)
		free(vg->pvs[i].name);
	free(vg->pvs);
	free(vg->name);
	free(vg);
}
