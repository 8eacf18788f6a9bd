/* libFuzzer target: one prober (FUZZ_PROBER, a registry name such as
 * "gpt"; "all" for the whole registry) over an in-memory image, then the
 * assemblers, exactly as bmapgen runs them.  The input is the disk.
 *
 * Build: meson setup build-fuzz -Dfuzz=true (clang); run: make fuzz. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"

#ifndef FUZZ_PROBER
#define FUZZ_PROBER "all"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bm_options opts = { .verbose = -1 };
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	/* A private copy: volumes must never write, and a copy lets ASan
	 * catch reads past the end of the image exactly. */
	uint8_t *img = malloc(size ? size : 1);
	memcpy(img, data, size);
	struct bm_volume *v = bm_volume_memory(ctx, img, size, "/dev/sda", 1);
	if (strcmp(FUZZ_PROBER, "all") == 0) {
		bm_probe_volume(v);
	} else {
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
	FILE *null = fopen("/dev/null", "w");
	if (null) {
		bm_write_virtbmap(ctx, null);
		fclose(null);
	}
	bm_ctx_free(ctx);
	free(img);
	return 0;
}
