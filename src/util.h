/* Small shared helpers: endian loads, overflow-checked arithmetic,
 * checksums, string building.  Each has unit tests in tests/test_util.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_UTIL_H
#define BM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* On-disk fields are read from bytes, never by casting structs. */
static inline uint16_t bm_le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t bm_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}
static inline uint64_t bm_le64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)bm_le32(b) | (uint64_t)bm_le32(b + 4) << 32;
}
static inline uint16_t bm_be16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t bm_be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | (uint32_t)b[3];
}
static inline uint64_t bm_be64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)bm_be32(b) << 32 | (uint64_t)bm_be32(b + 4);
}
static inline void bm_put_le32(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}
static inline void bm_put_le64(void *p, uint64_t v)
{
	bm_put_le32(p, (uint32_t)v);
	bm_put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}
static inline void bm_put_le16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

/* Overflow-checked arithmetic: return false on overflow (and leave *r
 * unspecified). */
static inline bool bm_add(uint64_t a, uint64_t b, uint64_t *r)
{
	return !__builtin_add_overflow(a, b, r);
}
static inline bool bm_mul(uint64_t a, uint64_t b, uint64_t *r)
{
	return !__builtin_mul_overflow(a, b, r);
}
/* a*b+c */
static inline bool bm_muladd(uint64_t a, uint64_t b, uint64_t c, uint64_t *r)
{
	uint64_t t;
	return bm_mul(a, b, &t) && bm_add(t, c, r);
}
/* A checksum check: COND is true when the checksum stored in the image
 * matches the one computed.  Fuzz builds (meson -Dfuzz=true defines
 * BM_FUZZING) take every checksum as good: a fuzzer cannot forge CRCs,
 * so its mutations of checksummed metadata would never reach the code
 * behind the check.  Whoever crafts an image can, so that code must hold
 * up without the checksum; the checksums catch damage, not attacks. */
#ifdef BM_FUZZING
#define bm_csum_ok(cond) ((void)(cond), true)
#else
#define bm_csum_ok(cond) (cond)
#endif

/* Is [off, off+len) inside [0, size)?  (no overflow) */
/* Bytes a file or device takes where it is stored, for the map's budgets
 * (mapstore.c): a regular file's allocated blocks (a sparse image or a
 * qcow2 of 16 TiB may hold a few KiB), else SIZE; a file whose
 * filesystem reports no blocks at all is taken at SIZE. */
struct stat;
uint64_t bm_stored_bytes(const struct stat *st, uint64_t size);

static inline bool bm_in_range(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Parse the digits of an unsigned number in BASE (10 or 16; hex digits
 * in either case) at *P, advancing *P past them.  False when there is no
 * digit or the value overflows 64 bits.  Callers check what follows. */
bool bm_parse_u64(const char **p, int base, uint64_t *out);

/* CRC32 (IEEE 802.3, as in GPT and zlib) and CRC32C (Castagnoli, as in
 * ext4/XFS/btrfs); SEED is the running value (0 to start; the usual
 * pre/post inversion is done inside). */
uint32_t bm_crc32(uint32_t seed, const void *buf, size_t len);
uint32_t bm_crc32c(uint32_t seed, const void *buf, size_t len);

/* Allocation that exits with a message on failure (out of memory is not
 * a per-image condition we can map around). */
void *bm_malloc(size_t n);
void *bm_calloc(size_t n, size_t m);
void *bm_realloc(void *p, size_t n);
void *bm_reallocarray(void *p, size_t n, size_t m);
char *bm_strdup(const char *s);
char *bm_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* qsort that accepts an empty (possibly NULL) array: C's qsort must not
 * be passed a null pointer even for zero elements. */
void bm_qsort(void *base, size_t n, size_t size,
	      int (*cmp)(const void *, const void *));

/* Growable byte string. */
struct bm_str {
	char *s;
	size_t len, cap;
};
void bm_str_putn(struct bm_str *b, const char *s, size_t n);
void bm_str_puts(struct bm_str *b, const char *s);
void bm_str_printf(struct bm_str *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bm_str_free(struct bm_str *b);

/* Escape a path for one-line output: backslash -> "\\", newline ->
 * "\n", tab -> "\t", other bytes < 0x20 and 0x7f -> "\xHH".  Bytes >=
 * 0x80 are kept when they form valid UTF-8 and are not C1 controls
 * (U+0080..U+009F), else "\xHH".  Appends to B. */
void bm_escape_path(struct bm_str *b, const char *s);
/* The same, and a space -> "\x20": for a field that a space ends (the
 * device of a virt-bmap line; an md array or LVM name from the image
 * may hold spaces). */
void bm_escape_field(struct bm_str *b, const char *s);

/* Length of the valid UTF-8 sequence at S, with its code point in *CP;
 * 0 if S does not start with one (overlong forms, surrogates, code
 * points above U+10FFFF and truncated sequences are not valid). */
size_t bm_utf8_seq(const char *s, uint32_t *cp);

/* Characters that change how the rest of a line is shown, though they
 * are no control codes: line and paragraph separators (some tools break
 * lines there) and the bidirectional marks, embeddings, overrides and
 * isolates (a name can make the path beside it display reversed).
 * Escaped in every output. */
bool bm_display_control(uint32_t cp);

/* Convert UTF-16LE (N code units) to UTF-8 appended to B; unpaired
 * surrogates become U+FFFD.  For NTFS/FAT/exFAT names. */
void bm_utf16le_to_utf8(struct bm_str *b, const uint8_t *u16, size_t n);

/* Join "DIR/NAME" (DIR "/" gives "/NAME"); malloc'd. */
char *bm_path_join(const char *dir, const char *name, size_t namelen);
/* Can the directory entry name S (N bytes) be a path component: not
 * empty, no '/' or NUL, not "." or ".." (a crafted entry named ".."
 * would print a path that leads elsewhere)? */
bool bm_name_usable(const char *s, size_t n);
/* Directories whose path is longer than this are mapped but not walked
 * (bm_dir_too_deep): every path is stored whole, so a crafted chain of
 * directories with long names would make memory grow with the square of
 * its depth.  Linux's PATH_MAX: no program can open deeper files by
 * path either. */
#define BM_PATH_MAX 4096

/* A set of 64-bit keys (visited inodes, blocks): for cycle detection. */
struct bm_u64set {
	uint64_t *keys;
	size_t n, cap; /* open addressing, cap a power of two */
	bool has_zero;
};
/* Insert; returns true if it was new. */
bool bm_u64set_add(struct bm_u64set *s, uint64_t k);
bool bm_u64set_has(const struct bm_u64set *s, uint64_t k);
void bm_u64set_free(struct bm_u64set *s);

/* Slots for a walker's read cache of MAX_SLOTS slots of SLOT_BYTES: a
 * power of two, at least 1, at most MAX_SLOTS, and no more than the
 * environment's BMAPGEN_CACHE_MIB (MiB per cache) allows, so memory-tight
 * runs (and tests measuring per-file memory) can shrink the fixed caches. */
unsigned bm_cache_slots(unsigned max_slots, size_t slot_bytes);

#endif
