/* btrfs: probe, multi-device assembly and the prober descriptor.
 *
 * A btrfs filesystem spans one or more devices that share an fsid; each
 * device has its own superblock (devid, device uuid, num_devices).  A
 * single-device filesystem is walked as soon as it is found.  Members of
 * a multi-device filesystem are registered in the context slot and the
 * filesystem is assembled once all num_devices devids are present, or in
 * the final assembly round with the devices found (the missing ones are
 * reported; copies on the present devices still map).
 *
 * Device column: every object of a filesystem is printed with the device
 * name of its devid 1 (or of the lowest devid present), like mount(8)
 * shows one device for a multi-device btrfs.
 *
 * Spec: see btrfs.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "btrfs.h"

extern const struct bm_prober bm_btrfs_prober;

struct member {
	struct bm_btrfs_super sb;
	struct bm_volume *vol;
	bool used;
};

struct slot {
	struct member *m;
	size_t n, cap;
};

/* Read and check the superblock copy at OFF of V. */
static int read_super(struct bm_volume *v, uint64_t off,
		      struct bm_btrfs_super *sb, const char **why)
{
	uint8_t buf[BTRFS_SUPER_SIZE];

	if (!bm_in_range(off, BTRFS_SUPER_SIZE, v->size)) {
		*why = "outside the device";
		return -1;
	}
	if (bm_read(v, buf, sizeof buf, off) < 0) {
		*why = "read error";
		return -1;
	}
	return bm_btrfs_parse_super(buf, off, sb, why);
}

static int btrfs_probe(struct bm_volume *v, void **state)
{
	uint8_t magic[8];
	struct bm_btrfs_super *sb;
	const char *why, *why0;

	if (v->size < BTRFS_SUPER_OFF + BTRFS_SUPER_SIZE ||
	    bm_read(v, magic, sizeof magic, BTRFS_SUPER_OFF + SB_MAGIC) < 0 ||
	    memcmp(magic, "_BHRfS_M", 8) != 0)
		return 0;
	sb = bm_malloc(sizeof *sb);
	if (read_super(v, BTRFS_SUPER_OFF, sb, &why0) == 0) {
		*state = sb;
		return 1;
	}
	/* The primary copy is bad: a good mirror still identifies the
	 * filesystem (btrfs rescue super-recover would use it too). */
	for (int i = 1; i < BTRFS_SUPER_MIRRORS; i++) {
		if (read_super(v, bm_btrfs_mirror_offset(i), sb, &why) == 0) {
			bm_warn(v->ctx, v->dev, BTRFS_SUPER_OFF,
				"btrfs: primary superblock: %s; using the "
				"mirror at 0x%llx", why0,
				(unsigned long long)bm_btrfs_mirror_offset(i));
			*state = sb;
			return 1;
		}
	}
	free(sb);
	bm_warn(v->ctx, v->dev, BTRFS_SUPER_OFF,
		"btrfs: superblock: %s: filesystem not mapped", why0);
	return -1;
}

/* Build and walk the filesystem of the members M[0..N) (distinct devids,
 * M[0] the newest superblock). */
static int build(struct bm_ctx *ctx, struct member **m, size_t n)
{
	struct bm_btrfs_fs *fs = bm_calloc(1, sizeof *fs);
	struct bm_volume *first = m[0]->vol;
	uint64_t first_id = m[0]->sb.devid;
	int rc;

	fs->ctx = ctx;
	fs->sb = m[0]->sb;
	fs->devs = bm_calloc(n, sizeof *fs->devs);
	for (size_t i = 0; i < n; i++) {
		fs->devs[i].devid = m[i]->sb.devid;
		fs->devs[i].total_bytes = m[i]->sb.dev_total_bytes;
		fs->devs[i].vol = m[i]->vol;
		/* This device's share, as its superblock's dev item says. */
		m[i]->vol->fs_size = m[i]->sb.dev_total_bytes;
		if (m[i]->sb.devid < first_id) {
			first_id = m[i]->sb.devid;
			first = m[i]->vol;
		}
	}
	fs->ndevs = n;
	fs->dev = bm_strdup(first->dev);
	bm_debug(ctx, "%s: btrfs, %zu of %llu devices, generation %llu, "
		 "nodesize %u, sectorsize %u, csum type %u", fs->dev, n,
		 (unsigned long long)fs->sb.num_devices,
		 (unsigned long long)fs->sb.generation, fs->sb.nodesize,
		 fs->sb.sectorsize, fs->sb.csum_type);

	if (fs->sb.flags & BTRFS_SUPER_FLAG_SEEDING)
		bm_warn(ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: seed device: filesystems sprouted from it are "
			"not combined with it");
	if (fs->sb.incompat & BTRFS_INCOMPAT_ZONED)
		bm_warn(ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: zoned filesystem: superblock log zones are not "
			"mapped");
	if (fs->sb.incompat & BTRFS_INCOMPAT_RAID_STRIPE_TREE)
		bm_warn(ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: raid-stripe-tree: data placed through the "
			"stripe tree is mapped by the chunk layout only, which "
			"may be wrong");
	if (fs->sb.incompat & BTRFS_INCOMPAT_EXTENT_TREE_V2)
		bm_warn(ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: extent-tree-v2 (experimental): global roots "
			"are not mapped");

	bm_btrfs_emit_supers(fs);
	if (bm_btrfs_load_sys_array(fs) < 0) {
		bm_warn(ctx, fs->dev, BM_NO_OFFSET,
			"btrfs: no usable system chunks: filesystem not mapped");
		bm_btrfs_fs_free(fs);
		return -1;
	}
	/* From here the logical volume owns FS. */
	bm_btrfs_logical_volume(fs, first);
	bm_btrfs_load_chunk_tree(fs);
	rc = bm_btrfs_walk_fs(fs);
	bm_btrfs_emit_parity(fs);
	return rc;
}

static int btrfs_walk(struct bm_volume *v, void *state)
{
	struct bm_btrfs_super *sb = state;
	struct member mem, *mp = &mem;
	struct slot *s;
	void **slotp;

	if (sb->num_devices == 1) {
		mem.sb = *sb;
		mem.vol = v;
		free(sb);
		return build(v->ctx, &mp, 1);
	}
	slotp = bm_ctx_slot(v->ctx, &bm_btrfs_prober);
	if (!*slotp)
		*slotp = bm_calloc(1, sizeof(struct slot));
	s = *slotp;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4;
		s->m = bm_reallocarray(s->m, s->cap, sizeof *s->m);
	}
	s->m[s->n++] = (struct member){ .sb = *sb, .vol = v };
	bm_debug(v->ctx, "%s: btrfs devid %llu of %llu", v->dev,
		 (unsigned long long)sb->devid,
		 (unsigned long long)sb->num_devices);
	free(sb);
	return 0;
}

/* Assemble the filesystems whose devices are all present (or, in the
 * final round, whatever is present).  Returns the number built. */
static int btrfs_assemble(struct bm_ctx *ctx)
{
	struct slot *s = *bm_ctx_slot(ctx, &bm_btrfs_prober);
	bool final = bm_assembly_final(ctx);
	int made = 0;

	if (!s)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		struct member **g, *newest = NULL;
		size_t ng = 0, have;
		uint64_t need;

		if (s->m[i].used)
			continue;
		/* The group of members sharing this fsid; one per devid
		 * (a stale duplicate, e.g. a copied image, loses to the
		 * newer generation). */
		g = bm_calloc(s->n, sizeof *g);
		for (size_t j = i; j < s->n; j++) {
			struct member *m = &s->m[j];
			size_t k;

			if (m->used || memcmp(m->sb.fsid, s->m[i].sb.fsid, 16))
				continue;
			for (k = 0; k < ng; k++)
				if (g[k]->sb.devid == m->sb.devid)
					break;
			if (k == ng) {
				g[ng++] = m;
			} else if (m->sb.generation > g[k]->sb.generation) {
				g[k] = m;
			}
			if (!newest || m->sb.generation > newest->sb.generation)
				newest = m;
		}
		if (!newest) { /* cannot happen: s->m[i] is in its group */
			free(g);
			continue;
		}
		have = ng;
		need = newest->sb.num_devices;
		if (have < need && !final) {
			free(g);
			continue;
		}
		for (size_t j = i; j < s->n; j++) {
			struct member *m = &s->m[j];
			bool in = false;

			if (m->used || memcmp(m->sb.fsid, s->m[i].sb.fsid, 16))
				continue;
			for (size_t k = 0; k < ng; k++)
				in |= g[k] == m;
			if (!in)
				bm_warn(ctx, m->vol->dev, BTRFS_SUPER_OFF,
					"btrfs: duplicate of devid %llu with an "
					"older generation: ignored",
					(unsigned long long)m->sb.devid);
			m->used = true;
		}
		/* The newest superblock first: it describes the tree. */
		for (size_t k = 0; k < ng; k++)
			if (g[k] == newest) {
				g[k] = g[0];
				g[0] = newest;
			}
		if (have < need)
			bm_warn(ctx, newest->vol->dev, BM_NO_OFFSET,
				"btrfs: only %zu of %llu devices found: what "
				"lives only on the missing ones is not mapped",
				have, (unsigned long long)need);
		for (size_t k = 1; k < ng; k++)
			if (g[k]->sb.generation != newest->sb.generation)
				bm_warn(ctx, g[k]->vol->dev, BM_NO_OFFSET,
					"btrfs: devid %llu is at generation "
					"%llu, the filesystem at %llu",
					(unsigned long long)g[k]->sb.devid,
					(unsigned long long)g[k]->sb.generation,
					(unsigned long long)
						newest->sb.generation);
		/* The members' walks did nothing: this is theirs. */
		size_t warned = bm_ctx_warnings(ctx);
		if (build(ctx, g, ng) < 0 || bm_ctx_warnings(ctx) != warned)
			for (size_t k = 0; k < ng; k++)
				g[k]->vol->walk_failed = true;
		free(g);
		made++;
	}
	return made;
}

static void btrfs_slot_free(void *slot)
{
	struct slot *s = slot;

	if (s)
		free(s->m);
	free(s);
}

const struct bm_prober bm_btrfs_prober = {
	.name = "btrfs",
	.kind = BM_PROBE_FS,
	.probe = btrfs_probe,
	.walk = btrfs_walk,
	.assemble = btrfs_assemble,
	.slot_free = btrfs_slot_free,
};
