/* SHA-256 against the FIPS 180-4 / NIST CSRC example vectors ("abc", the
 * two-block 448-bit message, one million 'a'), the empty message, and
 * feeding the same data in odd-sized pieces (block-boundary handling). */
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "check.h"

static const char *hex_of(const void *d, size_t n, char out[65])
{
	struct bm_sha256 s;
	uint8_t dg[32];
	bm_sha256_init(&s);
	bm_sha256_update(&s, d, n);
	bm_sha256_final(&s, dg);
	bm_sha256_hex(dg, out);
	return out;
}

int main(void)
{
	char h[65];
	CHECK(!strcmp(hex_of("abc", 3, h),
		      "ba7816bf8f01cfea414140de5dae2223"
		      "b00361a396177a9cb410ff61f20015ad"), "abc: %s", h);
	const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	CHECK(!strcmp(hex_of(m2, strlen(m2), h),
		      "248d6a61d20638b8e5c026930c3e6039"
		      "a33ce45964ff2167f6ecedd419db06c1"), "448 bits: %s", h);
	CHECK(!strcmp(hex_of("", 0, h),
		      "e3b0c44298fc1c149afbf4c8996fb924"
		      "27ae41e4649b934ca495991b7852b855"), "empty: %s", h);

	char *a = malloc(1000000);
	memset(a, 'a', 1000000);
	CHECK(!strcmp(hex_of(a, 1000000, h),
		      "cdc76e5c9914fb9281a1c7e284d73e67"
		      "f1809a48a497200e046d39ccc7112cd0"), "million a: %s", h);
	/* The same million in pieces of 1, 63, 64, 65, ... bytes. */
	struct bm_sha256 s;
	uint8_t dg[32];
	bm_sha256_init(&s);
	size_t off = 0, step = 1;
	while (off < 1000000) {
		size_t n = step < 1000000 - off ? step : 1000000 - off;
		bm_sha256_update(&s, a + off, n);
		off += n;
		step = step * 7 % 131 + 1;
	}
	bm_sha256_final(&s, dg);
	bm_sha256_hex(dg, h);
	CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67"
			 "f1809a48a497200e046d39ccc7112cd0"), "pieces: %s", h);
	/* Lengths around the padding boundary (55, 56, 63, 64 bytes), checked
	 * against sha256sum. */
	CHECK(!strcmp(hex_of(a, 55, h), "9f4390f8d30c2dd92ec9f095b65e2b9a"
		      "e9b0a925a5258e241c9f1e910f734318"), "55: %s", h);
	CHECK(!strcmp(hex_of(a, 56, h), "b35439a4ac6f0948b6d6f9e3c6af0f5f"
		      "590ce20f1bde7090ef7970686ec6738a"), "56: %s", h);
	CHECK(!strcmp(hex_of(a, 64, h), "ffe054fe7ae0cb6dc65c3af9b61d5209"
		      "f439851db43d0ba5997337df154668eb"), "64: %s", h);
	free(a);
	CHECK_DONE();
}
