/* NBD input (nbd.c): a disk read from an NBD server through libnbd.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_NBD_H
#define BM_NBD_H

#include "../bmapgen.h"

/* Is PATH an NBD URI (nbd://, nbds://, nbd+unix://, ...)? */
bool bm_nbd_uri(const char *path);

/* Connect to URI as disk number DISK named DEV: returns the volume priv
 * and the export size, or NULL after bm_fail(). */
void *bm_nbd_open(struct bm_ctx *ctx, const char *dev, const char *uri,
		  unsigned disk, uint64_t *size);

extern const struct bm_volume_ops bm_nbd_ops;

#endif
