/* The context handle: options, exit status, diagnostics, disks, the
 * per-prober slots, and the top-level mapping driver.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct bm_ctx *bm_ctx_new(const struct bm_options *opts)
{
	struct bm_ctx *ctx = bm_calloc(1, sizeof *ctx);
	if (opts)
		ctx->opts = *opts;
	ctx->vol_tail = &ctx->volumes;
	return ctx;
}

void bm_ctx_free(struct bm_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < BM_MAX_PROBERS && bm_probers[i]; i++)
		if (ctx->slots[i] && bm_probers[i]->slot_free)
			bm_probers[i]->slot_free(ctx->slots[i]);
	/* Destroy in reverse creation order: children before parents. */
	size_t n = 0;
	for (struct bm_volume *v = ctx->volumes; v; v = v->next)
		n++;
	struct bm_volume **all = bm_calloc(n, sizeof *all);
	n = 0;
	for (struct bm_volume *v = ctx->volumes; v; v = v->next)
		all[n++] = v;
	while (n--) {
		struct bm_volume *v = all[n];
		if (v->ops->destroy)
			v->ops->destroy(v);
		free(v->dev);
		free(v->type);
		free(v->part_type);
		free(v);
	}
	free(all);
	for (unsigned i = 0; i < ctx->ndisks; i++)
		free(ctx->diskinfo[i].source);
	free(ctx->diskinfo);
	free(ctx->disks);
	for (size_t i = 0; i < ctx->nfindings; i++) {
		free(ctx->findings[i].id);
		free(ctx->findings[i].dev);
		free(ctx->findings[i].msg);
	}
	free(ctx->findings);
	bm_store_free(ctx);
	free(ctx);
}

int bm_ctx_status(const struct bm_ctx *ctx)
{
	return ctx->status;
}

bool bm_ctx_verbose(const struct bm_ctx *ctx)
{
	return ctx->opts.verbose > 0;
}

/* A message quoting a path from the image can be as long as the path:
 * keep its first and last MSG_KEEP bytes (cut between UTF-8 characters),
 * so that many of them stay readable and small. */
#define MSG_KEEP 1024
static void shorten(struct bm_str *m)
{
	if (m->len <= 2 * MSG_KEEP + 16)
		return;
	size_t head = MSG_KEEP, tail = m->len - MSG_KEEP;
	while (head > 0 && (m->s[head] & 0xc0) == 0x80)
		head--;
	while (tail < m->len && (m->s[tail] & 0xc0) == 0x80)
		tail++;
	static const char cut[] = " [...] ";
	memmove(m->s + head + sizeof cut - 1, m->s + tail, m->len - tail + 1);
	memcpy(m->s + head, cut, sizeof cut - 1);
	m->len = head + sizeof cut - 1 + (m->len - tail);
}

static void vdiag(struct bm_ctx *ctx, const char *id, enum bm_severity sev,
		  const char *dev, uint64_t off, const char *fmt, va_list ap)
{
	struct bm_str b = { 0 };
	bm_str_puts(&b, "bmapgen: ");
	if (dev) {
		bm_escape_path(&b, dev);
		bm_str_puts(&b, ": ");
	}
	if (off != BM_NO_OFFSET)
		bm_str_printf(&b, "offset 0x%llx: ", (unsigned long long)off);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	/* Messages may quote names from the image: keep them to one line
	 * with no terminal control sequences. */
	struct bm_str m = { 0 };
	bm_escape_path(&m, msg ? msg : "?");
	free(msg);
	shorten(&m);
	bm_str_puts(&b, m.s);
	bm_str_puts(&b, "\n");
	bool show = !ctx || (ctx->opts.verbose >= 0 &&
			     (sev > BM_SEV_INFO || ctx->opts.verbose > 0));
	if (show)
		fputs(b.s, stderr);
	bm_str_free(&b);
	if (!ctx) {
		bm_str_free(&m);
		return;
	}
	/* Kept for check and the JSON findings: at most 100 000, in at
	 * most 16 MiB (a message holds its full length until cut down). */
	if (m.s) {
		m.s = bm_realloc(m.s, m.len + 1);
		m.cap = m.len + 1;
	}
	if (ctx->nfindings < 100000 &&
	    ctx->finding_bytes + m.len + 1 <= (16u << 20)) {
		ctx->finding_bytes += m.len + 1;
		if (ctx->nfindings == ctx->capfindings) {
			ctx->capfindings = ctx->capfindings ? ctx->capfindings * 2 : 16;
			ctx->findings = bm_reallocarray(ctx->findings,
							ctx->capfindings,
							sizeof *ctx->findings);
		}
		ctx->findings[ctx->nfindings++] = (struct bm_finding_info){
			.id = bm_strdup(id), .severity = sev,
			.dev = dev ? bm_strdup(dev) : NULL, .off = off,
			.msg = m.s,
		};
	} else {
		bm_str_free(&m);
	}
	if (sev != BM_SEV_INFO)
		ctx->nwarnings++;
	int level = sev == BM_SEV_INFO ? BM_OK : BM_WARN;
	if (strcmp(id, "map-error") == 0)
		level = BM_FAILED;
	if (ctx->status < level)
		ctx->status = level;
}

void bm_warn(struct bm_ctx *ctx, const char *dev, uint64_t off,
	     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(ctx, "map-warning", BM_SEV_WARNING, dev, off, fmt, ap);
	va_end(ap);
}

bool bm_dir_too_deep(struct bm_ctx *ctx, const char *dev, uint64_t off,
		     const char *path)
{
	if (strlen(path) <= BM_PATH_MAX)
		return false;
	bm_warn(ctx, dev, off,
		"%s: directory path longer than %d bytes: its entries not "
		"mapped", path, BM_PATH_MAX);
	return true;
}

void bm_fail(struct bm_ctx *ctx, const char *dev, uint64_t off,
	     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(ctx, "map-error", BM_SEV_ERROR, dev, off, fmt, ap);
	va_end(ap);
}

void bm_finding(struct bm_ctx *ctx, const char *id, enum bm_severity sev,
		const char *dev, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(ctx, id, sev, dev, off, fmt, ap);
	va_end(ap);
}

size_t bm_ctx_warnings(const struct bm_ctx *ctx)
{
	return ctx->nwarnings;
}

size_t bm_finding_count(const struct bm_ctx *ctx)
{
	return ctx->nfindings;
}

const struct bm_finding_info *bm_finding_get(const struct bm_ctx *ctx,
					     size_t i)
{
	return i < ctx->nfindings ? &ctx->findings[i] : NULL;
}

void bm_debug(struct bm_ctx *ctx, const char *fmt, ...)
{
	if (!ctx || ctx->opts.verbose <= 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("bmapgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void **bm_ctx_slot(struct bm_ctx *ctx, const struct bm_prober *p)
{
	for (size_t i = 0; i < BM_MAX_PROBERS && bm_probers[i]; i++)
		if (bm_probers[i] == p)
			return &ctx->slots[i];
	abort(); /* a prober not in the registry: a programming error */
}

bool bm_ctx_budget(struct bm_ctx *ctx, const struct bm_prober *p,
		   uint64_t max, const char *dev, const char *what)
{
	void **slot = bm_ctx_slot(ctx, p);
	if (!*slot)
		*slot = bm_calloc(1, sizeof(uint64_t));
	uint64_t *made = *slot;
	if (*made == max)
		bm_warn(ctx, dev, BM_NO_OFFSET,
			"more than %llu %s (nested partition tables?): the "
			"rest not mapped", (unsigned long long)max, what);
	if (*made > max)
		return false;
	return ++*made <= max;
}

unsigned bm_disk_count(const struct bm_ctx *ctx)
{
	return ctx->ndisks;
}

struct bm_volume *bm_disk(const struct bm_ctx *ctx, unsigned i)
{
	return i >= 1 && i <= ctx->ndisks ? ctx->disks[i - 1] : NULL;
}

const char *bm_disk_source(const struct bm_ctx *ctx, unsigned i)
{
	return i >= 1 && i <= ctx->ndisks ? ctx->diskinfo[i - 1].source : NULL;
}

const char *bm_disk_format(const struct bm_ctx *ctx, unsigned i)
{
	return i >= 1 && i <= ctx->ndisks ? ctx->diskinfo[i - 1].format : NULL;
}

bool bm_assembly_final(const struct bm_ctx *ctx)
{
	return ctx->final_round;
}

struct bm_volume *bm_volumes(const struct bm_ctx *ctx)
{
	return ctx->volumes;
}

void bm_map_all(struct bm_ctx *ctx)
{
	for (unsigned i = 0; i < ctx->ndisks; i++)
		bm_probe_volume(ctx->disks[i]);
	bm_assemble_all(ctx);
}

void bm_assemble_all(struct bm_ctx *ctx)
{
	/* Assemblers build multi-member volumes whose contents may hold
	 * more members.  Each round must create at least one volume to go
	 * on, and every volume is built from members found earlier, so the
	 * number of rounds is bounded; the cap guards against an
	 * assembler that keeps reporting work. */
	for (int round = 0; round < 64; round++) {
		int made = 0;
		for (size_t i = 0; bm_probers[i]; i++)
			if (bm_probers[i]->assemble) {
				int n = bm_probers[i]->assemble(ctx);
				if (n > 0)
					made += n;
			}
		if (made) {
			ctx->final_round = false;
			continue;
		}
		if (ctx->final_round)
			return; /* a final round that built nothing: done */
		ctx->final_round = true;
	}
	bm_warn(ctx, NULL, BM_NO_OFFSET,
		"volume assembly did not settle after 64 rounds");
}
