/* SHA-256 (FIPS 180-4), for the per-range and whole-file checksums of
 * bmaptool's bmap format.  Streaming: init, update any number of times,
 * final.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_SHA256_H
#define BM_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct bm_sha256 {
	uint32_t h[8];
	uint64_t bytes;     /* message length so far */
	uint8_t buf[64];    /* partial block */
	size_t fill;
};

void bm_sha256_init(struct bm_sha256 *s);
void bm_sha256_update(struct bm_sha256 *s, const void *data, size_t len);
void bm_sha256_final(struct bm_sha256 *s, uint8_t digest[32]);
/* Digest as 64 lowercase hex digits and a NUL. */
void bm_sha256_hex(const uint8_t digest[32], char hex[65]);

#endif
