/* libFuzzer target: one prober (FUZZ_PROBER, a registry name such as
 * "gpt"; "all" for the whole registry) over in-memory disks, then the
 * assemblers, exactly as bmapgen runs them.  The input is a raw disk, or
 * several sparse ones (sparse.h: real XFS, btrfs, LVM or md layouts are
 * far larger than a fuzz input, but mostly zeros).
 *
 * Build: meson setup build-fuzz -Dfuzz=true (clang); run: make fuzz. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "sparse.h"

#ifndef FUZZ_PROBER
#define FUZZ_PROBER "all"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	FILE *null = fopen("/dev/null", "w");
	if (null) {
		bm_write_virtbmap(ctx, null);
		fclose(null);
	}
	bm_ctx_free(ctx);
	return 0;
}
