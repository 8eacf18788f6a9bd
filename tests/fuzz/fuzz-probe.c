/* libFuzzer target: one prober (FUZZ_PROBER, a registry name such as
 * "gpt"; "all" for the whole registry) over in-memory disks, then the
 * assemblers, exactly as bmapgen runs them.  The input is a raw disk, or
 * several sparse ones (sparse.h: real XFS, btrfs, LVM or md layouts are
 * far larger than a fuzz input, but mostly zeros).
 *
 * Build: meson setup build-fuzz -Dfuzz=true (clang); run: make fuzz. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "bmapgen.h"
#include "sparse.h"
#include "util.h"

#ifndef FUZZ_PROBER
#define FUZZ_PROBER "all"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *text, size_t at)
{
	fprintf(stderr, "%s output broken at byte %zu: %.80s\n", what, at,
		text + at);
	abort(); /* libFuzzer saves the input */
}

/* Valid UTF-8 without C0 (but newline), DEL or C1 controls: what reaches
 * a terminal or a JSON parser. */
static void check_text(const char *what, const char *text, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)text[i];
		uint32_t cp;
		size_t n = c < 0x80 ? 1 : bm_utf8_seq(text + i, &cp);
		if (n == 0 || (c < 0x20 && c != '\n') || c == 0x7f ||
		    (c >= 0x80 && cp >= 0x80 && cp <= 0x9f))
			broken(what, text, i);
		i += n;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every line "DISK START END TYPE DEV[ PATH]", none split, and DEV (up
 * to the first space: the path is the rest of the line) is the escaped
 * device of one of CTX's objects: a device name with a space in it
 * must not run into the path. */
static void check_virtbmap(struct bm_ctx *ctx, char *text, size_t len)
{
	check_text("virt-bmap", text, len);
	size_t n = bm_object_count(ctx);
	char **devs = calloc(n ? n : 1, sizeof *devs);
	for (size_t i = 0; i < n; i++) {
		const struct bm_objinfo *o = bm_object_info(ctx, (bm_obj)i);
		struct bm_str b = { 0 };
		bm_escape_field(&b, o ? o->dev : "");
		devs[i] = b.s ? b.s : bm_strdup("");
	}
	qsort(devs, n, sizeof *devs, cmp_str);
	for (size_t i = 0; i < len;) {
		char *l = text + i, *e = memchr(l, '\n', len - i);
		if (!e)
			broken("virt-bmap (unterminated line)", text, i);
		/* One line at a time: sscanf would measure the whole rest
		 * of the text on every call (quadratic: false timeouts). */
		*e = '\0';
		unsigned long long d, s, x;
		char t;
		int at = 0;
		if (sscanf(l, "%llu %llx %llx %c %n", &d, &s, &x, &t, &at) < 4 ||
		    at == 0 || !strchr("vpldfm", t) || l + at >= e || s >= x)
			broken("virt-bmap (fields)", text, i);
		char *dev = l + at, *end = strchr(dev, ' ');
		if (end)
			*end = '\0';
		if (!bsearch(&dev, devs, n, sizeof *devs, cmp_str))
			broken("virt-bmap (device field)", text, i);
		if (end)
			*end = ' ';
		*e = '\n';
		i = (size_t)(e - text) + 1;
	}
	for (size_t i = 0; i < n; i++)
		free(devs[i]);
	free(devs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bm_options opts = { .verbose = -1 };
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	struct bm_volume *vols[BM_FUZZ_MAX_DISKS];
	unsigned nd = bm_fuzz_disks(ctx, data, size, vols);
	for (unsigned d = 0; d < nd; d++) {
		struct bm_volume *v = vols[d];
		if (strcmp(FUZZ_PROBER, "all") == 0) {
			bm_probe_volume(v);
			continue;
		}
		for (size_t i = 0; bm_probers[i]; i++) {
			const struct bm_prober *p = bm_probers[i];
			void *state = NULL;
			if (strcmp(p->name, FUZZ_PROBER) != 0)
				continue;
			v->probed = true;
			if (p->probe(v, &state) > 0)
				p->walk(v, state);
		}
	}
	/* The assemblers (LVM, md, btrfs) see the members registered above. */
	bm_assemble_all(ctx);
	/* and the whole-map checks of `bmapgen check`, all of them on */
	const char *req[] = { "/boot/vmlinuz", "/" };
	struct bm_check_opts co = { .require = req, .nrequire = 2,
				    .boot_below = 1 << 20,
				    .boot_prefix = "/", .uefi = true };
	bm_check_ctx(ctx, &co);
	/* Every mapped range lies in its disk: a map must never point
	 * past the image, whatever the metadata says. */
	const struct bm_range *r = bm_store_ranges(ctx);
	for (size_t i = 0, n = bm_store_count(ctx); i < n; i++)
		if (r[i].disk == 0 || r[i].disk > nd ||
		    r[i].start >= r[i].end || r[i].end > vols[r[i].disk - 1]->size) {
			fprintf(stderr, "range %zu: disk %u [0x%llx, 0x%llx)\n",
				i, r[i].disk, (unsigned long long)r[i].start,
				(unsigned long long)r[i].end);
			abort();
		}
	/* Names come from the image: both outputs must stay well formed
	 * whatever they are (bmapgen(1), OUTPUT). */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f) {
		bm_write_virtbmap(ctx, f);
		fclose(f);
		check_virtbmap(ctx, text, len);
		free(text);
	}
	f = open_memstream(&text, &len);
	if (f) {
		bm_write_json(ctx, f, false);
		fclose(f);
		check_text("json", text, len);
		free(text);
	}
	bm_ctx_free(ctx);
	return 0;
}
