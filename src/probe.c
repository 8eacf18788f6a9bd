/* The ordered prober registry and the probe driver.
 *
 * Order matters, as in libblkid: formats whose signature sits at the end
 * of a volume or inside another format's first sectors go first.  md
 * members (0.90/1.0 superblocks at the end) and LVM PVs come before
 * partition tables and filesystems, because an md 1.0 member or a PV
 * starts with whatever the array or VG holds; GPT comes before MBR
 * because a GPT disk carries a protective MBR.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <blkid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

extern const struct bm_prober bm_md_prober;
extern const struct bm_prober bm_lvm_prober;
extern const struct bm_prober bm_gpt_prober;
extern const struct bm_prober bm_mbr_prober;
extern const struct bm_prober bm_ext_prober;
extern const struct bm_prober bm_btrfs_prober;
extern const struct bm_prober bm_xfs_prober;
extern const struct bm_prober bm_ntfs_prober;
extern const struct bm_prober bm_luks_prober;
extern const struct bm_prober bm_bitlocker_prober;
extern const struct bm_prober bm_fat_prober;
extern const struct bm_prober bm_exfat_prober;
extern const struct bm_prober bm_swap_prober;

const struct bm_prober *const bm_probers[] = {
	/* members of multi-device volumes */
	&bm_md_prober,
	&bm_lvm_prober,
	/* partition tables */
	&bm_gpt_prober,
	&bm_mbr_prober,
	/* filesystems and other contents */
	&bm_luks_prober,
	&bm_bitlocker_prober,
	&bm_ext_prober,
	&bm_btrfs_prober,
	&bm_xfs_prober,
	&bm_ntfs_prober,
	&bm_fat_prober,
	&bm_exfat_prober,
	&bm_swap_prober,
	NULL,
};

/* Ask libblkid what is on V, for the message about unsupported contents.
 * libblkid needs a file descriptor; V may be an LV or an array, so the
 * head and tail of V (where signatures live) are copied into a sparse
 * memory file of V's size. */
static void identify_unknown(struct bm_volume *v)
{
	const uint64_t window = 1024 * 1024;
	int fd = memfd_create("bmapgen-probe", MFD_CLOEXEC);
	if (fd < 0)
		return;
	char *buf = bm_malloc(window);
	bool identified = false;
	if (ftruncate(fd, (off_t)v->size) < 0)
		goto out;
	uint64_t offs[2] = { 0, v->size > window ? v->size - window : 0 };
	for (int i = 0; i < 2; i++) {
		uint64_t len = v->size - offs[i] < window ? v->size - offs[i]
							  : window;
		/* (a tail window that overlaps the head one is copied
		 * anyway: a volume of 1 to 2 MiB has its end there) */
		if (i == 1 && offs[1] == 0)
			break; /* the head window already covered it all */
		if (bm_read(v, buf, len, offs[i]) < 0 ||
		    pwrite(fd, buf, len, (off_t)offs[i]) != (ssize_t)len)
			goto out;
	}
	blkid_probe pr = blkid_new_probe();
	if (!pr)
		goto out;
	if (blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)v->size) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
		blkid_probe_enable_partitions(pr, 1);
		if (blkid_do_safeprobe(pr) == 0) {
			const char *type = NULL;
			if (blkid_probe_lookup_value(pr, "TYPE", &type,
						     NULL) != 0 &&
			    blkid_probe_lookup_value(pr, "PTTYPE", &type,
						     NULL) != 0)
				type = NULL;
			if (type)
				bm_warn(v->ctx, v->dev, BM_NO_OFFSET,
					"contains %s, which bmapgen does not "
					"map: only the volume is mapped",
					type);
			identified = type != NULL;
		}
	}
	blkid_free_probe(pr);
	/* Nothing known on a partition: often just unused, but also what a
	 * wrong partition offset looks like; say so under -v and in check. */
	if (!identified && v->part_type)
		bm_finding(v->ctx, "unrecognised-contents", BM_SEV_INFO, v->dev,
			   BM_NO_OFFSET,
			   "no partition table, volume or filesystem found "
			   "(type %s): not mapped inside",
			   v->part_type);
out:
	free(buf);
	close(fd);
}

const struct bm_prober *bm_probe_volume(struct bm_volume *v)
{
	if (v->probed)
		return NULL;
	v->probed = true;
	if (v->depth > BM_MAX_DEPTH) {
		bm_warn(v->ctx, v->dev, BM_NO_OFFSET,
			"more than %d layers stacked: not probed",
			BM_MAX_DEPTH);
		return NULL;
	}
	if (v->size == 0)
		return NULL;
	for (size_t i = 0; bm_probers[i]; i++) {
		const struct bm_prober *p = bm_probers[i];
		void *state = NULL;
		int r = p->probe(v, &state);
		if (r == 0)
			continue;
		if (r < 0)
			return p; /* recognised but broken: prober warned */
		v->prober = p;
		bm_debug(v->ctx, "%s: %s", v->dev, p->name);
		if (!v->type)
			v->type = bm_strdup(p->name);
		size_t warned = bm_ctx_warnings(v->ctx);
		/* (a walker that stops at a full map says nothing itself) */
		if (p->walk(v, state) < 0 ||
		    bm_ctx_warnings(v->ctx) != warned || bm_ctx_full(v->ctx))
			v->walk_failed = true;
		return p;
	}
	identify_unknown(v);
	return NULL;
}
