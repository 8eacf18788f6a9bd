/* Print the disks a fuzz input describes (sparse.h), one line each:
 * "INDEX SIZE SHA256" over the whole disk as the fuzz targets read it
 * ("-" for disks over 64 MiB).
 * test-sparse.sh compares this with tests/fuzz/sparse.py, an
 * independent reader of the same format.
 * usage: sparse-digest FILE */
#include <stdio.h>
#include <stdlib.h>

#include "sha256.h"
#include "sparse.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sparse-digest FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	size_t cap = 1 << 16, n = 0, r;
	uint8_t *data = malloc(cap);
	while (data && (r = fread(data + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			data = realloc(data, cap *= 2);
	}
	fclose(f);
	if (!data)
		return 2;
	struct bm_options opts = { .verbose = -1 };
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	struct bm_volume *vols[BM_FUZZ_MAX_DISKS];
	unsigned nd = bm_fuzz_disks(ctx, data, n, vols);
	/* Odd-sized pieces, so reads start and end inside chunks. */
	static uint8_t buf[65537];
	for (unsigned d = 0; d < nd; d++) {
		if (vols[d]->size > 64 << 20) { /* too long to hash here */
			printf("%u %llu -\n", d + 1,
			       (unsigned long long)vols[d]->size);
			continue;
		}
		char hex[65];
		uint64_t bad;
		if (bm_volume_sha256(vols[d], 0, vols[d]->size, buf, sizeof buf,
				     hex, &bad) < 0)
			return 1;
		printf("%u %llu %s\n", d + 1,
		       (unsigned long long)vols[d]->size, hex);
	}
	bm_ctx_free(ctx);
	free(data);
	return 0;
}
