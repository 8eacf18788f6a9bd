/* Test helper: write the guest bytes of IMAGE (raw, qcow2 or NBD URI) as
 * bmapgen's disk layer reads them to stdout, in odd-sized pieces so
 * that reads cross cluster and chunk boundaries.
 * Usage: diskcat [--input-format=FMT] IMAGE */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"

int main(int argc, char **argv)
{
	struct bm_options opts = { .output_format = "virt-bmap" };
	int i = 1;
	if (argc > 2 && strncmp(argv[1], "--input-format=", 15) == 0) {
		opts.input_format = argv[1] + 15;
		i = 2;
	}
	if (argc != i + 1) {
		fputs("usage: diskcat [--input-format=FMT] IMAGE\n", stderr);
		return 2;
	}
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	struct bm_volume *v = bm_open_disk(ctx, argv[i]);
	if (!v) {
		bm_ctx_free(ctx);
		return 2;
	}
	static char buf[1 << 20];
	uint64_t off = 0;
	size_t step = 777;
	while (off < v->size) {
		size_t n = v->size - off < step ? (size_t)(v->size - off) : step;
		if (bm_read(v, buf, n, off) < 0) {
			perror("diskcat: read");
			bm_ctx_free(ctx);
			return 1;
		}
		fwrite(buf, 1, n, stdout);
		off += n;
		step = step * 3 % (sizeof buf - 1) + 1;
	}
	bm_ctx_free(ctx);
	return fflush(stdout) ? 1 : 0;
}
