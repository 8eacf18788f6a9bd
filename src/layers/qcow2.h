/* qcow2 input (qcow2.c): a disk read through a qcow2 image and its
 * backing chain.  The map keeps guest offsets.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_QCOW2_H
#define BM_QCOW2_H

#include "../bmapgen.h"

/* Does HEAD (LEN bytes from offset 0) start with the qcow2 magic? */
bool bm_qcow2_magic(const void *head, size_t len);

/* Open the qcow2 image PATH on FD (taken over: closed on failure too) as
 * disk number DISK named DEV: returns the volume priv and the guest size,
 * or NULL after bm_fail(). */
void *bm_qcow2_open(struct bm_ctx *ctx, const char *dev, int fd,
		    const char *path, unsigned disk, uint64_t *size);

/* Bytes the image's files take on their filesystems (the chain's). */
uint64_t bm_qcow2_stored(const void *priv);

extern const struct bm_volume_ops bm_qcow2_ops;

#endif
