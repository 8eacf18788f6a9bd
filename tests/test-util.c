/* Unit tests for src/util.c: checksums against published check values,
 * escaping, UTF-16 conversion, overflow helpers, the u64 set. */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "check.h"

static char *esc(const char *s)
{
	struct bm_str b = { 0 };
	bm_escape_path(&b, s);
	return b.s ? b.s : bm_strdup("");
}

int main(void)
{
	/* The standard check value of each CRC is over "123456789". */
	CHECK(bm_crc32(0, "123456789", 9) == 0xcbf43926u, "crc32");
	CHECK(bm_crc32c(0, "123456789", 9) == 0xe3069283u, "crc32c");
	/* Running value: two halves give the same as the whole. */
	CHECK(bm_crc32(bm_crc32(0, "1234", 4), "56789", 5) == 0xcbf43926u,
	      "crc32 chained");

	/* Every single-byte message against a bit-by-bit CRC: covers each
	 * entry of the tables. */
	for (unsigned i = 0; i < 256; i++) {
		uint8_t byte = (uint8_t)i;
		uint32_t want[2] = { 0, 0 };
		const uint32_t poly[2] = { 0xedb88320u, 0x82f63b78u };
		for (int k = 0; k < 2; k++) {
			uint32_t c = ~0u ^ byte;
			for (int bit = 0; bit < 8; bit++)
				c = (c & 1) ? (c >> 1) ^ poly[k] : c >> 1;
			want[k] = ~c;
		}
		CHECK(bm_crc32(0, &byte, 1) == want[0] &&
			      bm_crc32c(0, &byte, 1) == want[1],
		      "crc table entry %u", i);
	}

	/* CRC32C of longer, unaligned buffers against the bit-by-bit CRC:
	 * covers the 8-bytes-at-a-time path (SSE4.2 where the CPU has it)
	 * and its tail. */
	{
		uint8_t buf[300];
		uint32_t x = 12345;
		for (size_t i = 0; i < sizeof buf; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		for (size_t start = 0; start < 9; start++)
			for (size_t len = 0; len + start <= sizeof buf; len += 37) {
				uint32_t c = ~0u;
				for (size_t i = 0; i < len; i++) {
					c ^= buf[start + i];
					for (int bit = 0; bit < 8; bit++)
						c = (c & 1) ? (c >> 1) ^ 0x82f63b78u
							    : c >> 1;
				}
				CHECK(bm_crc32c(0, buf + start, len) == ~c,
				      "crc32c of %zu bytes at %zu", len, start);
			}
	}

	/* Read-cache sizes: the default, and BMAPGEN_CACHE_MIB's cap. */
	unsetenv("BMAPGEN_CACHE_MIB");
	CHECK(bm_cache_slots(256, 65536) == 256, "cache slots default");
	setenv("BMAPGEN_CACHE_MIB", "1", 1);
	CHECK(bm_cache_slots(256, 65536) == 16, "cache slots 1 MiB");
	CHECK(bm_cache_slots(256, 4u << 20) == 1, "cache slots at least 1");
	setenv("BMAPGEN_CACHE_MIB", "3", 1);
	CHECK(bm_cache_slots(256, 65536) == 32, "cache slots power of two");
	setenv("BMAPGEN_CACHE_MIB", "1x", 1);
	CHECK(bm_cache_slots(256, 65536) == 256, "cache slots bad value");
	setenv("BMAPGEN_CACHE_MIB", "99999999999999999999", 1);
	CHECK(bm_cache_slots(256, 65536) == 256, "cache slots overflow");
	unsetenv("BMAPGEN_CACHE_MIB");

	uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	CHECK(bm_le16(b) == 0x0201, "le16");
	CHECK(bm_le32(b) == 0x04030201u, "le32");
	CHECK(bm_le64(b) == 0x0807060504030201ull, "le64");
	CHECK(bm_be32(b) == 0x01020304u, "be32");
	CHECK(bm_be64(b) == 0x0102030405060708ull, "be64");

	uint64_t r;
	CHECK(!bm_add(UINT64_MAX, 1, &r), "add overflow");
	CHECK(bm_add(1, 2, &r) && r == 3, "add");
	CHECK(!bm_mul(1ull << 32, 1ull << 32, &r), "mul overflow");
	CHECK(bm_muladd(3, 4, 5, &r) && r == 17, "muladd");
	CHECK(!bm_muladd(UINT64_MAX, 1, 1, &r), "muladd overflow");
	CHECK(bm_in_range(10, 5, 15) && !bm_in_range(10, 6, 15), "in_range");
	CHECK(!bm_in_range(UINT64_MAX, 2, UINT64_MAX), "in_range overflow");

	char *e;
	CHECK(strcmp(e = esc("/a b/c"), "/a b/c") == 0, "plain: %s", e);
	free(e);
	CHECK(strcmp(e = esc("a\nb\\c\t"), "a\\nb\\\\c\\t") == 0, "ctl: %s", e);
	free(e);
	CHECK(strcmp(e = esc("x\x1b[31m"), "x\\x1b[31m") == 0, "esc: %s", e);
	free(e);
	/* a right-to-left override and a line separator: escaped, so a
	 * name cannot show the text after it reversed or split the line */
	CHECK(strcmp(e = esc("a\xe2\x80\xae" "b\xe2\x80\xa8" "c"),
		     "a\\xe2\\x80\\xaeb\\xe2\\x80\\xa8c") == 0,
	      "bidi: %s", e);
	free(e);
	CHECK(strcmp(e = esc("caf\xc3\xa9"), "caf\xc3\xa9") == 0, "utf8: %s",
	      e);
	free(e);
	/* Invalid UTF-8, an overlong '/', and a C1 control (U+009B CSI). */
	CHECK(strcmp(e = esc("\xff\xc0\xaf\xc2\x9b"),
		     "\\xff\\xc0\\xaf\\xc2\\x9b") == 0,
	      "bad utf8: %s", e);
	free(e);
	/* A field (a virt-bmap device) also escapes spaces, and only them. */
	struct bm_str f = { 0 };
	bm_escape_field(&f, "/dev/md/a b\n\\ c\x1b\xc3\xa9 ");
	CHECK(f.s && strcmp(f.s, "/dev/md/a\\x20b\\n\\\\\\x20c\\x1b\xc3\xa9\\x20") == 0,
	      "field: %s", f.s);
	bm_str_free(&f);

	struct bm_str s = { 0 };
	/* "A" U+00E9 U+1F600 (surrogate pair) and an unpaired surrogate. */
	const uint8_t u16[] = { 'A', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde,
				0x00, 0xdc };
	bm_utf16le_to_utf8(&s, u16, 5);
	CHECK(strcmp(s.s, "A\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd") == 0,
	      "utf16: %s", s.s);
	bm_str_free(&s);

	char *p = bm_path_join("/", "etc", 3);
	CHECK(strcmp(p, "/etc") == 0, "join root: %s", p);
	free(p);
	p = bm_path_join("/etc", "fstab", 5);
	CHECK(strcmp(p, "/etc/fstab") == 0, "join: %s", p);
	free(p);

	struct bm_u64set set = { 0 };
	int added = 0;
	for (uint64_t k = 0; k < 10000; k++)
		added += bm_u64set_add(&set, k * 7919);
	CHECK(added == 10000, "set adds %d", added);
	CHECK(!bm_u64set_add(&set, 0) && !bm_u64set_add(&set, 7919 * 42),
	      "set dup");
	CHECK(bm_u64set_has(&set, 7919 * 9999) && !bm_u64set_has(&set, 5),
	      "set has");
	bm_u64set_free(&set);

	const char *q = "ff0 x";
	uint64_t v = 0;
	CHECK(bm_parse_u64(&q, 16, &v) && v == 0xff0 && *q == ' ', "hex");
	q = "18446744073709551615z";
	CHECK(bm_parse_u64(&q, 10, &v) && v == UINT64_MAX && *q == 'z',
	      "max");
	q = "18446744073709551616";
	CHECK(!bm_parse_u64(&q, 10, &v), "overflow");
	q = "x1";
	CHECK(!bm_parse_u64(&q, 10, &v) && *q == 'x', "no digits");
	q = "1A";
	CHECK(bm_parse_u64(&q, 10, &v) && v == 1 && *q == 'A', "base 10 stops");

	char *n = bm_partition_name("/dev/sda", 5);
	CHECK(strcmp(n, "/dev/sda5") == 0, "%s", n);
	free(n);
	n = bm_partition_name("/dev/md0", 1);
	CHECK(strcmp(n, "/dev/md0p1") == 0, "%s", n);
	free(n);
	n = bm_partition_name("/dev/md/root", 2);
	CHECK(strcmp(n, "/dev/md/root2") == 0, "%s", n);
	free(n);

	CHECK(bm_name_usable("a", 1) && bm_name_usable("...", 3) &&
		      bm_name_usable(".a", 2) && !bm_name_usable(".", 1) &&
		      !bm_name_usable("..", 2) && !bm_name_usable("a/b", 3) &&
		      !bm_name_usable("a\0b", 3) && !bm_name_usable("", 0),
	      "bm_name_usable");

	/* A directory deeper than BM_PATH_MAX: warned once, in a message
	 * that keeps the path's head and tail (cut between UTF-8
	 * characters); a path of BM_PATH_MAX bytes is walked. */
	struct bm_str deep = { 0 };
	bm_str_puts(&deep, "/head");
	while (deep.len <= BM_PATH_MAX)
		bm_str_puts(&deep, "/\xe4\xb8\x80"); /* U+4E00 */
	bm_str_puts(&deep, "/tail");
	struct bm_options quiet = { .verbose = -1 };
	struct bm_ctx *ctx = bm_ctx_new(&quiet);
	CHECK(bm_dir_too_deep(ctx, "/dev/sda1", 0x1000, deep.s), "too deep");
	char at_max[BM_PATH_MAX + 1];
	memset(at_max, 'a', BM_PATH_MAX);
	at_max[BM_PATH_MAX] = '\0';
	CHECK(!bm_dir_too_deep(ctx, "/dev/sda1", 0x1000, at_max), "at the max");
	const struct bm_finding_info *fi = bm_finding_get(ctx, 0);
	CHECK(bm_finding_count(ctx) == 1 && fi && fi->off == 0x1000 &&
		      strncmp(fi->msg, "/head/", 6) == 0 &&
		      strstr(fi->msg, " [...] ") &&
		      strstr(fi->msg, "/tail: directory path longer than 4096") &&
		      strlen(fi->msg) < 2200,
	      "deep directory message (%zu bytes)", fi ? strlen(fi->msg) : 0);
	bool utf8_ok = fi != NULL;
	for (const char *m = fi ? fi->msg : ""; *m && utf8_ok;) {
		uint32_t cp;
		size_t k = bm_utf8_seq(m, &cp);
		utf8_ok = k > 0;
		m += k;
	}
	CHECK(utf8_ok, "message cut inside a UTF-8 character");
	bm_ctx_free(ctx);
	bm_str_free(&deep);
	CHECK_DONE();
}
