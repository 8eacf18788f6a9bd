/* btrfs superblock and checksums.
 *
 * The superblock is 4 KiB at byte 64 KiB of every device, with mirrors at
 * 64 MiB and 256 GiB (16 KiB << 12*i) when they fit in the device.  Its
 * checksum, like every tree block's, covers everything after the 32-byte
 * csum field and is one of crc32c (4 bytes), xxhash64 (8 bytes, seed 0),
 * sha256 or blake2b-256 (32 bytes), chosen by csum_type.
 * Spec: btrfs-progs ctree.h (struct btrfs_super_block), kernel
 * fs/btrfs/disk-io.c (btrfs_validate_super), xxHash's XXH64 specification
 * (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "btrfs.h"
#include "sha256.h"

#define XXH_P1 0x9E3779B185EBCA87ull
#define XXH_P2 0xC2B2AE3D27D4EB4Full
#define XXH_P3 0x165667B19E3779F9ull
#define XXH_P4 0x85EBCA77C2B2AE63ull
#define XXH_P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t lane)
{
	acc += lane * XXH_P2;
	acc = rotl64(acc, 31);
	return acc * XXH_P1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
	acc ^= xxh_round(0, v);
	return acc * XXH_P1 + XXH_P4;
}

uint64_t bm_btrfs_xxh64(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = seed + XXH_P1 + XXH_P2, v2 = seed + XXH_P2;
		uint64_t v3 = seed, v4 = seed - XXH_P1;
		/* 32-byte stripes, four lanes */
		while (end - p >= 32) {
			v1 = xxh_round(v1, bm_le64(p));
			v2 = xxh_round(v2, bm_le64(p + 8));
			v3 = xxh_round(v3, bm_le64(p + 16));
			v4 = xxh_round(v4, bm_le64(p + 24));
			p += 32;
		}
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) +
		    rotl64(v4, 18);
		h = xxh_merge(h, v1);
		h = xxh_merge(h, v2);
		h = xxh_merge(h, v3);
		h = xxh_merge(h, v4);
	} else {
		h = seed + XXH_P5;
	}
	h += (uint64_t)len;
	while (end - p >= 8) {
		h ^= xxh_round(0, bm_le64(p));
		h = rotl64(h, 27) * XXH_P1 + XXH_P4;
		p += 8;
	}
	if (end - p >= 4) {
		h ^= (uint64_t)bm_le32(p) * XXH_P1;
		h = rotl64(h, 23) * XXH_P2 + XXH_P3;
		p += 4;
	}
	while (p < end) {
		h ^= (uint64_t)*p * XXH_P5;
		h = rotl64(h, 11) * XXH_P1;
		p++;
	}
	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	h ^= h >> 32;
	return h;
}

int bm_btrfs_csum_check(unsigned type, const uint8_t *buf, size_t len)
{
	if (len < BTRFS_CSUM_SIZE)
		return 0;
	switch (type) {
	case BTRFS_CSUM_CRC32C:
		return bm_csum_ok(bm_le32(buf) ==
				  bm_crc32c(0, buf + BTRFS_CSUM_SIZE,
					    len - BTRFS_CSUM_SIZE));
	case BTRFS_CSUM_XXHASH:
		return bm_csum_ok(bm_le64(buf) ==
				  bm_btrfs_xxh64(buf + BTRFS_CSUM_SIZE,
						 len - BTRFS_CSUM_SIZE, 0));
	case BTRFS_CSUM_SHA256: {
		struct bm_sha256 h;
		uint8_t d[32];

		bm_sha256_init(&h);
		bm_sha256_update(&h, buf + BTRFS_CSUM_SIZE,
				 len - BTRFS_CSUM_SIZE);
		bm_sha256_final(&h, d);
		return bm_csum_ok(memcmp(buf, d, 32) == 0);
	}
	case BTRFS_CSUM_BLAKE2: {
		uint8_t d[32];

		bm_btrfs_blake2b256(buf + BTRFS_CSUM_SIZE,
				    len - BTRFS_CSUM_SIZE, d);
		return bm_csum_ok(memcmp(buf, d, 32) == 0);
	}
	default:
		return -1; /* unknown: the caller warns once */
	}
}

uint64_t bm_btrfs_mirror_offset(int i)
{
	return i == 0 ? BTRFS_SUPER_OFF : (16384ull << (12 * i));
}

static bool is_pow2_between(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

int bm_btrfs_parse_super(const uint8_t *buf, uint64_t bytenr,
			 struct bm_btrfs_super *sb, const char **why)
{
	static const char magic[8] = "_BHRfS_M";
	int c;

	memset(sb, 0, sizeof *sb);
	if (memcmp(buf + SB_MAGIC, magic, 8) != 0) {
		*why = "no btrfs magic";
		return -1;
	}
	if (bm_le64(buf + SB_BYTENR) != bytenr) {
		*why = "superblock bytenr does not match its position";
		return -1;
	}
	sb->csum_type = bm_le16(buf + SB_CSUM_TYPE);
	if (sb->csum_type > BTRFS_CSUM_BLAKE2) {
		*why = "unknown checksum type";
		return -1;
	}
	c = bm_btrfs_csum_check(sb->csum_type, buf, BTRFS_SUPER_SIZE);
	if (c == 0) {
		*why = "superblock checksum mismatch";
		return -1;
	}
	sb->csum_verified = c == 1;

	memcpy(sb->fsid, buf + SB_FSID, 16);
	sb->flags = bm_le64(buf + SB_FLAGS);
	sb->generation = bm_le64(buf + SB_GENERATION);
	sb->root = bm_le64(buf + SB_ROOT);
	sb->chunk_root = bm_le64(buf + SB_CHUNK_ROOT);
	sb->log_root = bm_le64(buf + SB_LOG_ROOT);
	sb->total_bytes = bm_le64(buf + SB_TOTAL_BYTES);
	sb->num_devices = bm_le64(buf + SB_NUM_DEVICES);
	sb->sectorsize = bm_le32(buf + SB_SECTORSIZE);
	sb->nodesize = bm_le32(buf + SB_NODESIZE);
	sb->sys_array_size = bm_le32(buf + SB_SYS_ARRAY_SIZE);
	sb->compat_ro = bm_le64(buf + SB_COMPAT_RO);
	sb->incompat = bm_le64(buf + SB_INCOMPAT);
	sb->root_level = buf[SB_ROOT_LEVEL];
	sb->chunk_root_level = buf[SB_CHUNK_ROOT_LEVEL];
	sb->log_root_level = buf[SB_LOG_ROOT_LEVEL];
	sb->devid = bm_le64(buf + SB_DEV_ITEM + DI_DEVID);
	sb->dev_total_bytes = bm_le64(buf + SB_DEV_ITEM + DI_TOTAL_BYTES);
	memcpy(sb->dev_uuid, buf + SB_DEV_ITEM + DI_UUID, 16);
	if (sb->incompat & BTRFS_INCOMPAT_METADATA_UUID)
		memcpy(sb->metadata_uuid, buf + SB_METADATA_UUID, 16);
	else
		memcpy(sb->metadata_uuid, sb->fsid, 16);

	/* Field ranges as the kernel's btrfs_validate_super checks them. */
	if (!is_pow2_between(sb->sectorsize, 4096, 65536) ||
	    !is_pow2_between(sb->nodesize, 4096, 65536) ||
	    sb->nodesize < sb->sectorsize) {
		*why = "bad sector or node size";
		return -1;
	}
	if (sb->sys_array_size > BTRFS_SYS_ARRAY_MAX ||
	    sb->sys_array_size < KEY_SIZE + CHUNK_HDR) {
		*why = "bad system chunk array size";
		return -1;
	}
	if (sb->num_devices == 0 || sb->num_devices > 65536) {
		*why = "bad number of devices";
		return -1;
	}
	if (sb->root_level >= BTRFS_MAX_LEVEL ||
	    sb->chunk_root_level >= BTRFS_MAX_LEVEL ||
	    sb->log_root_level >= BTRFS_MAX_LEVEL) {
		*why = "bad tree level";
		return -1;
	}
	if (sb->root % sb->sectorsize || sb->chunk_root % sb->sectorsize ||
	    sb->log_root % sb->sectorsize) {
		*why = "unaligned tree root";
		return -1;
	}
	if (memcmp(buf + SB_DEV_ITEM + DI_FSID, sb->metadata_uuid, 16) != 0) {
		*why = "device item fsid does not match";
		return -1;
	}
	memcpy(sb->sys_array, buf + SB_SYS_ARRAY, sb->sys_array_size);
	return 0;
}
