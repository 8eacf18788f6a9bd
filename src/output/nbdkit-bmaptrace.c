/* nbdkit-bmaptrace-filter: name, live, the objects a client reads and
 * writes.  Built from the same code as `bmapgen trace`:
 *
 *   nbdkit --filter=./bmaptrace.so file disk.img bmap=disk.bmap \
 *          [bmaptrace-output=FILE] [bmaptrace-disk=N] \
 *          --run 'qemu-system-x86_64 ... -drive file=$uri,format=raw'
 *
 * bmap= is a virt-bmap map or an image (mapped when the filter loads).
 * Output goes to FILE (default stderr), one "read f /dev/sda1 /path"
 * line whenever the most specific object or the direction changes,
 * followed by the byte ranges.  nbdkit's filter API keeps configuration
 * in the module; the state is these few variables, guarded by a lock
 * because nbdkit serves requests from several threads.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <nbdkit-filter.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bmapgen.h"
#include "../commands.h"

static const char *bmap_path;
static const char *out_path;
static unsigned trace_disk = 1;
static struct bm_map map;
static bool map_loaded;
static struct bm_tracer *tracer;
static FILE *out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int bmaptrace_config(nbdkit_next_config *next, nbdkit_backend *nxdata,
			    const char *key, const char *value)
{
	if (strcmp(key, "bmap") == 0) {
		bmap_path = value;
		return 0;
	}
	if (strcmp(key, "bmaptrace-output") == 0) {
		out_path = value;
		return 0;
	}
	if (strcmp(key, "bmaptrace-disk") == 0) {
		char *end;
		unsigned long d = strtoul(value, &end, 10);
		if (*end || d == 0 || d > 1000) {
			nbdkit_error("bmaptrace-disk: bad disk number '%s'",
				     value);
			return -1;
		}
		trace_disk = (unsigned)d;
		return 0;
	}
	return next(nxdata, key, value);
}

static int bmaptrace_config_complete(nbdkit_next_config_complete *next,
				     nbdkit_backend *nxdata)
{
	if (!bmap_path) {
		nbdkit_error("bmaptrace: the bmap=MAP parameter is required");
		return -1;
	}
	return next(nxdata);
}

static int bmaptrace_get_ready(int thread_model)
{
	if (bm_map_load(&map, bmap_path, 0) >= 2) {
		nbdkit_error("bmaptrace: cannot load the map %s", bmap_path);
		return -1;
	}
	map_loaded = true;
	out = out_path ? fopen(out_path, "w") : stderr;
	if (!out) {
		nbdkit_error("bmaptrace: %s: %m", out_path);
		return -1;
	}
	tracer = bm_tracer_new(&map, trace_disk, out);
	return 0;
}

static void bmaptrace_unload(void)
{
	bm_tracer_free(tracer);
	if (out && out != stderr)
		fclose(out);
	if (map_loaded)
		bm_map_free(&map);
}

static void trace(const char *dir, uint64_t offset, uint32_t count)
{
	pthread_mutex_lock(&lock);
	bm_tracer_request(tracer, dir, offset, count);
	fflush(out);
	pthread_mutex_unlock(&lock);
}

static int bmaptrace_pread(nbdkit_next *next, void *handle, void *buf,
			   uint32_t count, uint64_t offset, uint32_t flags,
			   int *err)
{
	trace("read", offset, count);
	return next->pread(next, buf, count, offset, flags, err);
}

static int bmaptrace_pwrite(nbdkit_next *next, void *handle,
			    const void *buf, uint32_t count, uint64_t offset,
			    uint32_t flags, int *err)
{
	trace("write", offset, count);
	return next->pwrite(next, buf, count, offset, flags, err);
}

static int bmaptrace_zero(nbdkit_next *next, void *handle, uint32_t count,
			  uint64_t offset, uint32_t flags, int *err)
{
	trace("zero", offset, count);
	return next->zero(next, count, offset, flags, err);
}

static int bmaptrace_trim(nbdkit_next *next, void *handle, uint32_t count,
			  uint64_t offset, uint32_t flags, int *err)
{
	trace("trim", offset, count);
	return next->trim(next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
	.name = "bmaptrace",
	.longname = "bmapgen trace filter",
	.config = bmaptrace_config,
	.config_complete = bmaptrace_config_complete,
	.config_help = "bmap=MAP               (required) virt-bmap map or image\n"
		       "bmaptrace-output=FILE  where to print (default stderr)\n"
		       "bmaptrace-disk=N       the map's disk this export is (1)",
	.get_ready = bmaptrace_get_ready,
	.unload = bmaptrace_unload,
	.pread = bmaptrace_pread,
	.pwrite = bmaptrace_pwrite,
	.zero = bmaptrace_zero,
	.trim = bmaptrace_trim,
};

NBDKIT_REGISTER_FILTER(filter)
