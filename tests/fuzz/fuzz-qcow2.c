/* libFuzzer target: a qcow2 image (header, L1/L2 tables, compressed
 * clusters) opened as a disk and read end to end through the qcow2
 * layer, then probed and mapped like any disk.  The input is the image
 * file, put in a memfd (the layer reads files). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bmapgen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct bm_options opts = { .verbose = -1, .input_format = "qcow2" };
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	struct bm_volume *v = bm_open_disk(ctx, path);
	if (v) {
		/* Read the guest disk (the first 64 MiB) in odd pieces. */
		static uint8_t buf[1 << 20];
		uint64_t lim = v->size < (64u << 20) ? v->size : (64u << 20);
		for (uint64_t off = 0; off < lim;) {
			size_t n = lim - off < 99999 ? (size_t)(lim - off) : 99999;
			if (bm_read(v, buf, n, off) < 0)
				break;
			off += n;
		}
		bm_map_all(ctx);
	}
	bm_ctx_free(ctx);
	close(fd);
	return 0;
}
