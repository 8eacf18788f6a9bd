/* Shared helpers: checksums, allocation, strings, escaping, sets.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Bitwise-reflected CRC computed with a nibble table built on the fly:
 * small, no static tables to initialise, and fast enough for headers. */
static uint32_t crc_reflected(uint32_t poly, uint32_t crc, const void *buf,
			      size_t len)
{
	uint32_t tab[16];
	for (uint32_t i = 0; i < 16; i++) {
		uint32_t c = i;
		for (int k = 0; k < 4; k++)
			c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
		tab[i] = c;
	}
	const uint8_t *p = buf;
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ tab[crc & 15];
		crc = (crc >> 4) ^ tab[crc & 15];
	}
	return ~crc;
}

uint32_t bm_crc32(uint32_t seed, const void *buf, size_t len)
{
	return crc_reflected(0xedb88320u, seed, buf, len);
}

uint32_t bm_crc32c(uint32_t seed, const void *buf, size_t len)
{
	return crc_reflected(0x82f63b78u, seed, buf, len);
}

bool bm_parse_u64(const char **p, int base, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	/* Ends at the first non-digit; every step consumes a character. */
	for (;; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (!bm_muladd(v, (uint64_t)base, d, &v))
			return false;
	}
	if (s == *p)
		return false;
	*p = s;
	*out = v;
	return true;
}

static void oom(void)
{
	fputs("bmapgen: out of memory\n", stderr);
	exit(2);
}

void *bm_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *bm_calloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *bm_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *bm_reallocarray(void *p, size_t n, size_t m)
{
	size_t t;
	if (__builtin_mul_overflow(n, m, &t))
		oom();
	return bm_realloc(p, t);
}

char *bm_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = bm_malloc(n);
	memcpy(d, s, n);
	return d;
}

char *bm_asprintf(const char *fmt, ...)
{
	char *r = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&r, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return r;
}

static void str_reserve(struct bm_str *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->s = bm_realloc(b->s, cap);
	b->cap = cap;
}

void bm_str_putn(struct bm_str *b, const char *s, size_t n)
{
	str_reserve(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void bm_str_puts(struct bm_str *b, const char *s)
{
	bm_str_putn(b, s, strlen(s));
}

void bm_str_printf(struct bm_str *b, const char *fmt, ...)
{
	char *r = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&r, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	bm_str_putn(b, r, (size_t)n);
	free(r);
}

void bm_str_free(struct bm_str *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at S (0 if invalid).  Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2, v = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, v = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL terminator */
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

size_t bm_utf8_seq(const char *s, uint32_t *cp)
{
	return utf8_seq((const unsigned char *)s, cp);
}

void bm_escape_path(struct bm_str *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		size_t n;
		if (*p == '\\') {
			bm_str_putn(b, "\\\\", 2);
			p++;
		} else if (*p == '\n') {
			bm_str_putn(b, "\\n", 2);
			p++;
		} else if (*p == '\t') {
			bm_str_putn(b, "\\t", 2);
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			bm_str_printf(b, "\\x%02x", *p);
			p++;
		} else if (*p < 0x80) {
			bm_str_putn(b, (const char *)p, 1);
			p++;
		} else if ((n = utf8_seq(p, &cp)) != 0 &&
			   !(cp >= 0x80 && cp <= 0x9f)) {
			bm_str_putn(b, (const char *)p, n);
			p += n;
		} else {
			bm_str_printf(b, "\\x%02x", *p);
			p++;
		}
	}
}

static void put_utf8(struct bm_str *b, uint32_t cp)
{
	char o[4];
	size_t n;
	if (cp < 0x80) {
		o[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		o[0] = (char)(0xf0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	bm_str_putn(b, o, n);
}

void bm_utf16le_to_utf8(struct bm_str *b, const uint8_t *u16, size_t n)
{
	str_reserve(b, 0); /* an empty name still yields a string */
	for (size_t i = 0; i < n; i++) {
		uint32_t c = bm_le16(u16 + 2 * i);
		if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
			uint32_t d = bm_le16(u16 + 2 * (i + 1));
			if (d >= 0xdc00 && d <= 0xdfff) {
				put_utf8(b, 0x10000 + ((c - 0xd800) << 10) +
						    (d - 0xdc00));
				i++;
				continue;
			}
		}
		if (c >= 0xd800 && c <= 0xdfff)
			c = 0xfffd;
		put_utf8(b, c);
	}
}

char *bm_path_join(const char *dir, const char *name, size_t namelen)
{
	size_t dl = strlen(dir);
	if (dl && dir[dl - 1] == '/')
		dl--;
	char *p = bm_malloc(dl + 1 + namelen + 1);
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, namelen);
	p[dl + 1 + namelen] = '\0';
	return p;
}

/* 64-bit mix (splitmix64 finaliser) for the open-addressing set. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static bool set_insert(uint64_t *keys, size_t cap, uint64_t k)
{
	size_t i = mix64(k) & (cap - 1);
	/* Terminates: the table is never more than half full. */
	while (keys[i]) {
		if (keys[i] == k)
			return false;
		i = (i + 1) & (cap - 1);
	}
	keys[i] = k;
	return true;
}

bool bm_u64set_add(struct bm_u64set *s, uint64_t k)
{
	if (k == 0) {
		bool was = s->has_zero;
		s->has_zero = true;
		return !was;
	}
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *keys = bm_calloc(cap, sizeof *keys);
		for (size_t i = 0; i < s->cap; i++)
			if (s->keys[i])
				set_insert(keys, cap, s->keys[i]);
		free(s->keys);
		s->keys = keys;
		s->cap = cap;
	}
	if (!set_insert(s->keys, s->cap, k))
		return false;
	s->n++;
	return true;
}

bool bm_u64set_has(const struct bm_u64set *s, uint64_t k)
{
	if (k == 0)
		return s->has_zero;
	if (!s->cap)
		return false;
	size_t i = mix64(k) & (s->cap - 1);
	while (s->keys[i]) {
		if (s->keys[i] == k)
			return true;
		i = (i + 1) & (s->cap - 1);
	}
	return false;
}

void bm_u64set_free(struct bm_u64set *s)
{
	free(s->keys);
	memset(s, 0, sizeof *s);
}
