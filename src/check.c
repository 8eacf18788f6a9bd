/* `bmapgen check`: a pre-boot lint of an image's layout.
 *
 * The walk itself records findings (bm_finding) where the layers see
 * them: bad or mismatched GPT headers, hybrid MBRs, EBR loops,
 * partitions past the end, filesystems that need recovery or are larger
 * than their volume, and every warning met while mapping.  This file adds
 * the checks that need the whole map: overlapping or misaligned
 * partitions, filesystems much smaller than their volume, blocks claimed
 * by two files, and the opt-in boot-readiness checks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "internal.h"

#define ESP_GUID "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define ALIGN (1024 * 1024)

/* First image range of V[off, off+len). */
struct first_range {
	unsigned disk;
	uint64_t off;
	bool found;
};

static int first_cb(void *opaque, unsigned disk, uint64_t off, uint64_t len,
		    unsigned flags)
{
	struct first_range *f = opaque;
	if (!f->found && !(flags & BM_RANGE_COPY)) {
		f->disk = disk;
		f->off = off;
		f->found = true;
	}
	return 0;
}

static bool is_extended(const struct bm_volume *v)
{
	return v->part_type && (strcmp(v->part_type, "0x05") == 0 ||
				strcmp(v->part_type, "0x0f") == 0 ||
				strcmp(v->part_type, "0x85") == 0);
}

static bool has_finding(struct bm_ctx *ctx, const char *id, const char *dev)
{
	for (size_t i = 0; i < bm_finding_count(ctx); i++) {
		const struct bm_finding_info *f = bm_finding_get(ctx, i);
		if (strcmp(f->id, id) == 0 && f->dev && strcmp(f->dev, dev) == 0)
			return true;
	}
	return false;
}

/* Partitions of disks: overlaps and alignment.  Partitions are found as
 * volumes with a partition type whose parent is a disk. */
static void check_partitions(struct bm_ctx *ctx)
{
	for (struct bm_volume *a = ctx->volumes; a; a = a->next) {
		if (!a->part_type || !a->parent || a->parent->parent)
			continue;
		struct first_range fa = { 0 };
		bm_volume_map(a, 0, a->size ? 1 : 0, 0, first_cb, &fa);
		if (!fa.found)
			continue;
		if (!is_extended(a) && fa.off % ALIGN)
			bm_finding(ctx, "partition-misaligned", BM_SEV_WARNING,
				   a->dev, fa.off,
				   "starts at byte 0x%llx, not on a 1 MiB "
				   "boundary",
				   (unsigned long long)fa.off);
		for (struct bm_volume *b = a->next; b; b = b->next) {
			if (!b->part_type || b->parent != a->parent)
				continue;
			if (is_extended(a) || is_extended(b))
				continue; /* logicals lie inside it */
			struct first_range fb = { 0 };
			bm_volume_map(b, 0, b->size ? 1 : 0, 0, first_cb, &fb);
			if (!fb.found)
				continue;
			if (fa.off < fb.off + b->size && fb.off < fa.off + a->size)
				bm_finding(ctx, "partition-overlap",
					   BM_SEV_ERROR, a->dev, fa.off,
					   "overlaps %s (bytes 0x%llx-0x%llx "
					   "and 0x%llx-0x%llx)",
					   b->dev, (unsigned long long)fa.off,
					   (unsigned long long)(fa.off + a->size),
					   (unsigned long long)fb.off,
					   (unsigned long long)(fb.off + b->size));
		}
	}
}

static void check_fs_sizes(struct bm_ctx *ctx)
{
	for (struct bm_volume *v = ctx->volumes; v; v = v->next) {
		if (!v->fs_size)
			continue;
		if (v->fs_size > v->size) {
			if (!has_finding(ctx, "fs-larger-than-volume", v->dev))
				bm_finding(ctx, "fs-larger-than-volume",
					   BM_SEV_ERROR, v->dev, 0,
					   "%s says it spans 0x%llx bytes; its "
					   "volume has 0x%llx",
					   v->type ? v->type : "filesystem",
					   (unsigned long long)v->fs_size,
					   (unsigned long long)v->size);
		} else if (v->size - v->fs_size > 64u * 1024 * 1024 &&
			   v->fs_size < v->size / 2) {
			bm_finding(ctx, "fs-much-smaller", BM_SEV_WARNING,
				   v->dev, 0,
				   "%s spans 0x%llx bytes of a 0x%llx-byte "
				   "volume: the rest is unused",
				   v->type ? v->type : "filesystem",
				   (unsigned long long)v->fs_size,
				   (unsigned long long)v->size);
		}
	}
}

static void check_uefi(struct bm_ctx *ctx)
{
	for (unsigned d = 1; d <= ctx->ndisks; d++) {
		struct bm_volume *disk = ctx->disks[d - 1];
		if (!disk->type || strcmp(disk->type, "gpt") != 0)
			continue;
		bool esp = false;
		for (struct bm_volume *v = ctx->volumes; v; v = v->next)
			if (v->parent == disk && v->part_type &&
			    strcmp(v->part_type, ESP_GUID) == 0)
				esp = true;
		if (!esp)
			bm_finding(ctx, "esp-missing", BM_SEV_ERROR, disk->dev,
				   BM_NO_OFFSET,
				   "GPT disk without an EFI System Partition");
	}
}

/* Is the reflink/snapshot-capable filesystem on DEV (shared blocks are
 * normal there)? */
static bool may_share(struct bm_ctx *ctx, const char *dev)
{
	for (struct bm_volume *v = ctx->volumes; v; v = v->next)
		if (strcmp(v->dev, dev) == 0 && v->type &&
		    (strcmp(v->type, "btrfs") == 0 ||
		     strcmp(v->type, "xfs") == 0))
			return true;
	return false;
}

/* One file range, for check_shared's sweep. */
struct frange {
	const char *dev;
	unsigned disk;
	uint64_t start, end;
	bm_obj obj;
};

static int cmp_frange(const void *a, const void *b)
{
	const struct frange *x = a, *y = b;
	int c = strcmp(x->dev, y->dev);
	if (c)
		return c;
	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Two files of one filesystem whose blocks overlap, unless they are the
 * same inode (hard links map to identical range lists) or the filesystem
 * shares blocks by design.  The file ranges are swept per device, then
 * per disk, by start; each is compared with the ranges of its device
 * still open, which all contain its start.  Why this stays fast on a
 * hostile image: files of other devices (4096 overlapping partitions
 * each holding the same filesystem) are never open together; a range
 * that overlaps an open one of the same inode extends that one instead
 * of being added; and two open ranges of different inodes overlap, so
 * each such pair was reported, which ends the sweep after 20.  So at
 * most about 21 ranges are open at a time. */
static void check_shared(struct bm_ctx *ctx)
{
	size_t n = bm_store_count(ctx), nf = 0;
	const struct bm_range *r = bm_store_ranges(ctx);
	uint64_t *sig = bm_calloc(ctx->nobjs, sizeof *sig);
	struct frange *f = bm_calloc(n ? n : 1, sizeof *f);
	for (size_t i = 0; i < n; i++) {
		const struct bm_objinfo *o = &ctx->objs[r[i].obj];
		/* copies, and blocks files share by design (reference
		 * counted: ext xattr blocks) are no cross-links */
		if (o->type != 'f' ||
		    (r[i].flags & (BM_RANGE_COPY | BM_RANGE_SHARED)))
			continue;
		sig[r[i].obj] = sig[r[i].obj] * 0x100000001b3ull ^
				(r[i].start * 31 + r[i].end + r[i].disk);
		f[nf++] = (struct frange){ o->dev, r[i].disk, r[i].start,
					   r[i].end, r[i].obj };
	}
	bm_qsort(f, nf, sizeof *f, cmp_frange);
	size_t *open = NULL, nopen = 0, capopen = 0;
	unsigned reported = 0;
	bool share = false;
	for (size_t i = 0; i < nf && reported < 20; i++) {
		if (i == 0 || strcmp(f[i].dev, f[i - 1].dev) != 0) {
			share = may_share(ctx, f[i].dev);
			nopen = 0;
		}
		if (share)
			continue;
		size_t k = 0;
		bool covered = false;
		for (size_t j = 0; j < nopen; j++) {
			struct frange *q = &f[open[j]];
			if (q->disk != f[i].disk || q->end <= f[i].start)
				continue; /* closed: drop it */
			open[k++] = open[j];
			if (sig[q->obj] == sig[f[i].obj]) {
				/* the same inode (or object): Q, which starts
				 * no later, now stands for both */
				if (q->end < f[i].end)
					q->end = f[i].end;
				covered = true;
				continue;
			}
			if (reported++ < 20)
				bm_finding(ctx, "shared-blocks", BM_SEV_ERROR,
					   f[i].dev, f[i].start,
					   "%s and %s claim the same blocks",
					   ctx->objs[q->obj].path,
					   ctx->objs[f[i].obj].path);
		}
		nopen = k;
		if (covered)
			continue;
		if (nopen == capopen) {
			capopen = capopen ? capopen * 2 : 16;
			open = bm_reallocarray(open, capopen, sizeof *open);
		}
		open[nopen++] = i;
	}
	free(open);
	free(f);
	free(sig);
}

static void check_boot(struct bm_ctx *ctx, const struct bm_check_opts *o)
{
	for (size_t k = 0; k < o->nrequire; k++) {
		bool found = false;
		for (size_t i = 0; i < ctx->nobjs && !found; i++)
			found = (ctx->objs[i].type == 'f' ||
				 ctx->objs[i].type == 'd') &&
				ctx->objs[i].path &&
				strcmp(ctx->objs[i].path, o->require[k]) == 0;
		if (!found)
			bm_finding(ctx, "required-missing", BM_SEV_ERROR, NULL,
				   BM_NO_OFFSET, "%s is on no filesystem",
				   o->require[k]);
	}
	if (!o->boot_below)
		return;
	size_t plen = strlen(o->boot_prefix);
	size_t n = bm_store_count(ctx);
	const struct bm_range *r = bm_store_ranges(ctx);
	bool *done = bm_calloc(ctx->nobjs, sizeof *done);
	for (size_t i = 0; i < n; i++) {
		const struct bm_objinfo *ob = &ctx->objs[r[i].obj];
		if (ob->type != 'f' || done[r[i].obj] || r[i].end <= o->boot_below ||
		    strncmp(ob->path, o->boot_prefix, plen) != 0)
			continue;
		done[r[i].obj] = true;
		bm_finding(ctx, "boot-above-limit", BM_SEV_ERROR, ob->dev,
			   r[i].start, "%s reaches byte 0x%llx, past 0x%llx",
			   ob->path, (unsigned long long)r[i].end,
			   (unsigned long long)o->boot_below);
	}
	free(done);
}

static const char *sev_name(enum bm_severity s)
{
	return s == BM_SEV_ERROR ? "error" : s == BM_SEV_WARNING ? "warning"
								 : "info";
}

static void json_str(FILE *out, const char *s)
{
	struct bm_str b = { 0 };
	bm_json_string(&b, s);
	fputs(b.s, out);
	bm_str_free(&b);
}

void bm_check_ctx(struct bm_ctx *ctx, const struct bm_check_opts *o)
{
	check_partitions(ctx);
	check_fs_sizes(ctx);
	if (o->uefi)
		check_uefi(ctx);
	check_shared(ctx);
	check_boot(ctx, o);
}

static void usage(void)
{
	fputs("Usage: bmapgen check [--require PATH]... [--boot-below OFFSET]\n"
	      "       [--boot-prefix DIR] [--uefi] [--werror] [--json] IMAGE...\n",
	      stderr);
}

int bm_check_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "require", required_argument, NULL, 'r' },
		{ "boot-below", required_argument, NULL, 'b' },
		{ "boot-prefix", required_argument, NULL, 'p' },
		{ "uefi", no_argument, NULL, 'u' },
		{ "werror", no_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct bm_check_opts o = { .boot_prefix = "/boot/" };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.require = bm_reallocarray(o.require, o.nrequire + 1,
						    sizeof *o.require);
			o.require[o.nrequire++] = optarg;
			break;
		case 'b': {
			/* decimal or 0x hex, then K, M or G (binary) */
			const char *p = optarg;
			unsigned base = 10, shift = 0;
			uint64_t v;
			if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
				p += 2;
				base = 16;
			}
			bool ok = bm_parse_u64(&p, base, &v);
			if (ok && *p) {
				shift = *p == 'K' || *p == 'k' ? 10
					: *p == 'M'	       ? 20
					: *p == 'G'	       ? 30
							       : 64;
				ok = shift < 64 && p[1] == '\0' &&
				     v <= UINT64_MAX >> shift;
			}
			if (!ok) {
				fprintf(stderr, "bmapgen check: --boot-below "
					"wants a byte offset (1048576, 0x100000, "
					"1M), not '%s'\n", optarg);
				free(o.require);
				return BM_FAILED;
			}
			o.boot_below = v << shift;
			break;
		}
		case 'p':
			o.boot_prefix = optarg;
			break;
		case 'u':
			o.uefi = true;
			break;
		case 'W':
			o.werror = true;
			break;
		case 'j':
			o.json = true;
			break;
		default:
			usage();
			free(o.require);
			return BM_FAILED;
		}
	}
	if (optind >= argc) {
		usage();
		free(o.require);
		return BM_FAILED;
	}
	/* Findings are printed below, not as diagnostics. */
	struct bm_options opts = { .verbose = -1, .output_format = "virt-bmap" };
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	unsigned opened = 0;
	for (int i = optind; i < argc; i++)
		if (bm_open_disk(ctx, argv[i]))
			opened++;
	if (opened)
		bm_map_all(ctx);
	bm_check_ctx(ctx, &o);

	int worst = BM_SEV_INFO;
	size_t n = bm_finding_count(ctx);
	if (o.json)
		fputs("[", stdout);
	for (size_t i = 0; i < n; i++) {
		const struct bm_finding_info *f = bm_finding_get(ctx, i);
		if ((int)f->severity > worst)
			worst = (int)f->severity;
		if (o.json) {
			fputs(i ? ",\n {\"id\": " : "\n {\"id\": ", stdout);
			json_str(stdout, f->id);
			printf(", \"severity\": \"%s\", \"device\": ",
			       sev_name(f->severity));
			if (f->dev)
				json_str(stdout, f->dev);
			else
				fputs("null", stdout);
			if (f->off != BM_NO_OFFSET)
				printf(", \"offset\": %llu",
				       (unsigned long long)f->off);
			fputs(", \"message\": ", stdout);
			json_str(stdout, f->msg);
			fputs("}", stdout);
			continue;
		}
		struct bm_str b = { 0 };
		bm_str_printf(&b, "%s %s", sev_name(f->severity), f->id);
		if (f->dev) {
			bm_str_puts(&b, " ");
			bm_escape_path(&b, f->dev);
		}
		if (f->off != BM_NO_OFFSET)
			bm_str_printf(&b, " offset 0x%llx",
				      (unsigned long long)f->off);
		bm_str_printf(&b, ": %s\n", f->msg);
		fputs(b.s, stdout);
		bm_str_free(&b);
	}
	if (o.json)
		fputs(n ? "\n]\n" : "]\n", stdout);
	bm_ctx_free(ctx);
	free(o.require);
	if (!opened || worst == BM_SEV_ERROR ||
	    (o.werror && worst == BM_SEV_WARNING))
		return BM_FAILED;
	return worst == BM_SEV_WARNING ? BM_WARN : BM_OK;
}
