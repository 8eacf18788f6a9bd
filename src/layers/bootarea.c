/* Boot areas: what the firmware and boot loader read before any
 * filesystem, named so that a boot trace can say what was read.
 *
 * GRUB on a BIOS/MBR disk: boot.img in sector 0 (it carries the strings
 * "GRUB " and "Geom"), core.img in the sectors after it up to the first
 * partition; on GPT, core.img lives in the BIOS boot partition.  Other
 * loaders' code is named generically.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "bootarea.h"

#define GAP_SCAN_MAX (16u << 20) /* bytes of a gap we look at */

bool bm_boot_code(struct bm_volume *v)
{
	uint8_t s[512];
	if (v->size < 512 || bm_read(v, s, 512, 0) < 0)
		return false;
	bool nonzero = false;
	for (int i = 0; i < 440; i++)
		nonzero |= s[i] != 0;
	if (!nonzero)
		return false;
	bm_emit(v, 0, 440, bm_object(v->ctx, 'm', v->dev, "mbr boot code"));
	return memmem(s, 440, "GRUB ", 5) && memmem(s, 440, "Geom", 4);
}

void bm_boot_gap(struct bm_volume *v, uint64_t start, uint64_t end,
		 bool grub, const char *name)
{
	if (end > v->size)
		end = v->size;
	if (start >= end)
		return;
	if (end - start > GAP_SCAN_MAX)
		end = start + GAP_SCAN_MAX;
	uint8_t buf[65536];
	uint64_t last = start; /* end of the last non-zero sector */
	/* Each step reads the next block of the (bounded) gap. */
	for (uint64_t off = start; off < end;) {
		size_t n = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
		if (bm_read(v, buf, n, off) < 0)
			break;
		for (size_t i = 0; i < n; i += 512) {
			size_t m = n - i < 512 ? n - i : 512;
			for (size_t k = 0; k < m; k++)
				if (buf[i + k]) {
					last = off + i + m;
					break;
				}
		}
		off += n;
	}
	if (last > start)
		bm_emit(v, start, last - start,
			bm_object(v->ctx, 'm', v->dev,
				  grub ? "grub core.img" : name));
}
