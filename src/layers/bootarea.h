/* Named boot areas shared by the MBR and GPT layers (bootarea.c).
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_BOOTAREA_H
#define BM_BOOTAREA_H

#include "../bmapgen.h"

/* Sector 0's boot code (bytes 0-439) as <mbr boot code> when not all
 * zero; returns true if it is GRUB's boot.img. */
bool bm_boot_code(struct bm_volume *v);

/* The used part of [START, END) (the gap between the MBR and the first
 * partition, or a BIOS boot partition): <grub core.img> when GRUB's
 * boot.img points there, else NAME.  Only up to the last non-zero sector
 * is mapped. */
void bm_boot_gap(struct bm_volume *v, uint64_t start, uint64_t end,
		 bool grub, const char *name);

#endif
