/* libFuzzer target: the nbdkit log reader of `bmapgen trace` and the
 * tracer engine (bm_tracer_*, also used by the nbdkit filter).
 *
 * Input: "MAP\n%%\nLOG" (a virt-bmap map, then an nbdkit log filter
 * log), or just LOG, traced against a small fixed map with nested,
 * overlapping and touching objects.  A log starting with byte 2 is
 * traced on disk 2, so that requests on a disk without records are
 * exercised too.  Then the log's first 256 bytes, as pairs of 64-bit
 * numbers, go to bm_tracer_request() directly (offset and length, and
 * swapped), reaching the overflow checks with values no log line
 * carries. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_map[] =
	"1 0 100000 v /dev/sda\n"
	"1 0 200 m /dev/sda <mbr>\n"
	"1 100000 80000 p /dev/sda1\n"
	"1 100000 100400 m /dev/sda1 <superblock>\n"
	"1 101000 103000 d /dev/sda1 /\n"
	"1 103000 104000 f /dev/sda1 /a\n"
	"1 104000 106000 f /dev/sda1 /b\n"
	"1 105000 105800 f /dev/sda1 /c\n"
	"1 108000 10a000 f /dev/sda1 /a\n"
	"1 180000 ffffffffffffffff p /dev/sda2\n"
	"1 fffffffffffff000 ffffffffffffffff f /dev/sda2 /end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n%%\n";
	const uint8_t *log = data;
	size_t loglen = size;
	const void *cut = memmem(data, size, sep, sizeof sep - 1);
	struct bm_map m;
	bm_map_init(&m);
	FILE *f;
	if (cut) {
		size_t maplen = (size_t)((const uint8_t *)cut - data) + 1;
		f = fmemopen((void *)(uintptr_t)data, maplen, "r");
		log = (const uint8_t *)cut + sizeof sep - 1;
		loglen = size - (size_t)(log - data);
	} else {
		f = fmemopen((void *)(uintptr_t)fixed_map, sizeof fixed_map - 1,
			     "r");
	}
	if (!f)
		return 0;
	bm_map_parse(&m, f, "fuzz");
	fclose(f);
	bm_map_finish(&m);

	uint32_t disk = loglen && log[0] == 2 ? 2 : 1;
	FILE *out = fopen("/dev/null", "w");
	if (!out) {
		bm_map_free(&m);
		return 0;
	}
	struct bm_tracer *t = bm_tracer_new(&m, disk, out);
	if (loglen) {
		FILE *in = fmemopen((void *)(uintptr_t)log, loglen, "r");
		if (in) {
			bm_tracer_log(t, in);
			fclose(in);
		}
	}
	/* Raw requests from the bytes of the log, 16 at a time. */
	for (size_t i = 0; i + 16 <= loglen && i < 16 * 16; i += 16) {
		uint64_t a = bm_le64(log + i), b = bm_le64(log + i + 8);
		bm_tracer_request(t, "read", a, b);
		bm_tracer_request(t, "write", b, a);
	}
	bm_tracer_free(t);
	fclose(out);
	bm_map_free(&m);
	return 0;
}
