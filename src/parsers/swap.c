/* Linux swap areas.
 *
 * On-disk format: include/linux/swap.h (union swap_header) and mkswap(8).
 * The first page holds the header; its last 10 bytes are the magic:
 * "SWAPSPACE2" (version 1), "SWAP-SPACE" (version 0, obsolete) or one of
 * the software-suspend signatures written over it while a hibernation
 * image is stored (the version-1 fields stay).  Version 1, after 1024
 * bytes left for boot blocks / disk labels:
 *
 *   1024 version (u32, 1)       1028 last_page (u32)
 *   1032 nr_badpages (u32)      1036 uuid[16]   1052 label[16]
 *   1536 badpages[nr_badpages]
 *
 * in the byte order of the machine that wrote it.  Pages 1..last_page
 * are the swap area.  The page size is whatever the writer used: we
 * look for the magic at the end of a 4, 8, 16 or 64 KiB page.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"

struct swap_state {
	uint32_t pagesize;
	uint64_t last_page; /* area is pages 1..last_page */
	int version;
	const char *what;   /* "" or " (holds a hibernation image)" */
};

static const char *const suspend_magic[] = {
	"S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001", "SWSUSPEND",
};

static int swap_probe(struct bm_volume *v, void **state)
{
	static const uint32_t pagesizes[] = {4096, 8192, 16384, 65536};
	uint8_t magic[10], hdr[16];

	for (size_t i = 0; i < sizeof pagesizes / sizeof *pagesizes; i++) {
		uint32_t ps = pagesizes[i];
		bool susp = false;
		int version;

		if (v->size < 2 * (uint64_t)ps ||
		    bm_read(v, magic, sizeof magic, ps - 10) < 0)
			break;
		if (memcmp(magic, "SWAPSPACE2", 10) == 0) {
			version = 1;
		} else if (memcmp(magic, "SWAP-SPACE", 10) == 0) {
			version = 0;
		} else {
			/* at the start of the 10-byte field: the kernel
			 * copies "S1SUSPEND" with its NUL (kernel/power/
			 * swap.c), libblkid looks at page - 10 too */
			for (size_t k = 0; k < 5; k++) {
				size_t l = strlen(suspend_magic[k]);
				if (memcmp(magic, suspend_magic[k], l) == 0)
					susp = true;
			}
			if (!susp)
				continue;
			version = 1;
		}

		struct swap_state s = {.pagesize = ps, .version = version,
				       .what = susp ? " (holds a hibernation image)" : ""};
		if (version == 0) {
			/* The first page is a bitmap of usable pages; it
			 * describes at most 8 * (ps - 10) pages. */
			uint64_t max = 8 * (uint64_t)(ps - 10) - 1;
			uint64_t have = v->size / ps - 1;
			s.last_page = have < max ? have : max;
		} else {
			if (bm_read(v, hdr, sizeof hdr, 1024) < 0)
				return 0;
			uint32_t ver = bm_le32(hdr), last = bm_le32(hdr + 4),
				 bad = bm_le32(hdr + 8);
			if (ver == 0x01000000u) { /* other byte order */
				ver = 1;
				last = bm_be32(hdr + 4);
				bad = bm_be32(hdr + 8);
			}
			/* badpages[] must fit in the header page. */
			if (ver != 1 || last == 0 || bad > (ps - 1536) / 4) {
				if (susp)
					continue;
				bm_warn(v->ctx, v->dev, 1024, "swap header "
					"(page size %u) has invalid fields "
					"(version %u, last page %u); not mapped",
					ps, ver, last);
				return -1;
			}
			s.last_page = last;
		}
		struct swap_state *p = bm_malloc(sizeof *p);
		*p = s;
		*state = p;
		return 1;
	}
	return 0;
}

static int swap_walk(struct bm_volume *v, void *state)
{
	struct swap_state *s = state;
	uint64_t end = (s->last_page + 1) * s->pagesize; /* < 2^49: no overflow */

	bm_debug(v->ctx, "%s: Linux swap v%d, %u-byte pages, %llu pages%s",
		 v->dev, s->version, s->pagesize,
		 (unsigned long long)s->last_page, s->what);
	bm_emit(v, 0, s->pagesize, bm_object(v->ctx, 'm', v->dev, "swap header"));
	if (end > v->size) {
		bm_warn(v->ctx, v->dev, v->size, "swap area ends at %#llx, past "
			"the end of its volume; mapped up to the end",
			(unsigned long long)end);
		end = v->size - v->size % s->pagesize;
	}
	if (end > s->pagesize)
		bm_emit(v, s->pagesize, end - s->pagesize,
			bm_object(v->ctx, 'm', v->dev, "swap area"));
	free(s);
	return 0;
}

const struct bm_prober bm_swap_prober = {
	.name = "swap",
	.kind = BM_PROBE_OTHER,
	.probe = swap_probe,
	.walk = swap_walk,
};
