/* LUKS1 and LUKS2 encrypted volumes: header, key slots, payload.
 *
 * On-disk formats: "LUKS1 On-Disk Format Specification" 1.2.3 and
 * "LUKS2 On-Disk Format Specification" 1.1.x (cryptsetup project,
 * docs/on-disk-format*.pdf).  All integers are big-endian.
 *
 * LUKS1: a 592-byte header (magic "LUKS\xba\xbe", version 1,
 * payload-offset in 512-byte sectors at 104, key-bytes at 108, eight
 * 48-byte key slots from 208: active, iterations, salt, key-material
 * offset in sectors, anti-forensic stripes); each key slot's material is
 * key-bytes * stripes bytes.
 *
 * LUKS2: two copies of a binary header + JSON area, hdr_size bytes each
 * (primary at 0, secondary "SKUL\xba\xbe" at hdr_size), each protected
 * by a checksum (sha256 over hdr_size bytes with the checksum field
 * zeroed); then the key-slot area of config.keyslots_size bytes; the
 * data segments are listed in the JSON (offset, size or "dynamic").
 *
 * bmapgen does not decrypt: the payload is one opaque metadata object,
 * "encrypted payload", and nothing inside it is mapped.  That is the
 * normal result for an encrypted volume, so it is only a -v note, not a
 * warning.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "bmapgen.h"
#include "sha256.h"

#define LUKS_SECTOR 512
#define LUKS1_HDR 592
#define LUKS2_BIN 4096
#define LUKS_ALIGN 4096

static const uint8_t luks_magic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
static const uint8_t luks2_magic2[6] = {'S', 'K', 'U', 'L', 0xba, 0xbe};

/* ------------------------------------------------------------------ */
/* Just enough JSON to find members of the LUKS2 metadata              */

#define JSON_MAX_DEPTH 32

static const char *jws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* P at a string's opening quote: return the end of the string (after the
 * closing quote), contents in [*S, *S+*N) still escaped; NULL if bad. */
static const char *jstring(const char *p, const char *end, const char **s,
			   size_t *n)
{
	if (p >= end || *p != '"')
		return NULL;
	const char *q = ++p;
	while (q < end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	if (q >= end)
		return NULL;
	*s = p;
	*n = (size_t)(q - p);
	return q + 1;
}

/* Skip one value at P; return the position after it or NULL. */
static const char *jskip(const char *p, const char *end, unsigned depth)
{
	const char *s;
	size_t n;

	p = jws(p, end);
	if (p >= end || depth > JSON_MAX_DEPTH)
		return NULL;
	if (*p == '"')
		return jstring(p, end, &s, &n);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';
		p = jws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		/* Terminates: P advances past one member per iteration. */
		for (;;) {
			if (obj) {
				p = jstring(jws(p, end), end, &s, &n);
				if (!p)
					return NULL;
				p = jws(p, end);
				if (p >= end || *p != ':')
					return NULL;
				p++;
			}
			p = jskip(p, end, depth + 1);
			if (!p)
				return NULL;
			p = jws(p, end);
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			return p < end && *p == close ? p + 1 : NULL;
		}
	}
	/* number, true, false, null */
	const char *q = p;
	while (q < end && (strchr("+-.0123456789eEtruefalsn", *q)))
		q++;
	return q > p ? q : NULL;
}

/* In the object at P, the member called NAME (NAME NULL: member number
 * IDX): its value's position, with its key in *KEY, *KEYLEN. */
static const char *jfind(const char *p, const char *end, const char *name,
			 size_t idx, const char **key, size_t *keylen)
{
	p = jws(p, end);
	if (p >= end || *p != '{')
		return NULL;
	p = jws(p + 1, end);
	/* Terminates: one member skipped per iteration, or NULL. */
	for (size_t i = 0; p < end && *p != '}'; i++) {
		p = jstring(jws(p, end), end, key, keylen);
		if (!p)
			return NULL;
		p = jws(p, end);
		if (p >= end || *p != ':')
			return NULL;
		const char *val = jws(p + 1, end);
		if (name ? *keylen == strlen(name) && memcmp(*key, name, *keylen) == 0
			 : i == idx)
			return val;
		p = jskip(val, end, 1);
		if (!p)
			return NULL;
		p = jws(p, end);
		if (p < end && *p == ',')
			p = jws(p + 1, end);
		else
			break;
	}
	return NULL;
}

static const char *jmember(const char *p, const char *end, size_t idx,
			   const char **key, size_t *keylen)
{
	return jfind(p, end, NULL, idx, key, keylen);
}

static const char *jget(const char *p, const char *end, const char *name)
{
	const char *key;
	size_t kl;
	return p ? jfind(p, end, name, 0, &key, &kl) : NULL;
}

/* A LUKS2 64-bit number: a decimal string ("4096") or a plain number. */
static bool jnum(const char *p, const char *end, uint64_t *out)
{
	const char *s;
	size_t n;

	if (!p)
		return false;
	if (*p == '"') {
		if (!jstring(p, end, &s, &n))
			return false;
	} else {
		s = p;
		for (n = 0; s + n < end && s[n] >= '0' && s[n] <= '9'; n++)
			;
	}
	if (n == 0 || n > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || !bm_mul(v, 10, &v) ||
		    !bm_add(v, (uint64_t)(s[i] - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

static bool jstreq(const char *p, const char *end, const char *want)
{
	const char *s;
	size_t n;
	return p && jstring(p, end, &s, &n) && n == strlen(want) &&
	       memcmp(s, want, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Prober                                                              */

struct luks_state {
	int version;
	uint64_t hdr_size;     /* LUKS2 */
	uint64_t hdr_off;      /* LUKS2: which copy we use */
	char *json;            /* LUKS2 JSON area, NUL-terminated */
	uint8_t phdr[LUKS1_HDR]; /* LUKS1 */
};

/* Check the LUKS2 header copy at OFF; on success return its JSON area. */
static char *luks2_check(struct bm_volume *v, uint64_t off, const uint8_t *magic,
			 uint64_t *hdr_size, const char **why)
{
	uint8_t bin[LUKS2_BIN];

	if (!bm_in_range(off, LUKS2_BIN, v->size) ||
	    bm_read(v, bin, sizeof bin, off) < 0 || memcmp(bin, magic, 6) != 0)
		return NULL;
	*why = "invalid fields";
	if (bm_be16(bin + 6) != 2 || bm_be64(bin + 256) != off)
		return NULL;
	uint64_t hs = bm_be64(bin + 8);
	/* hdr_size: 16 KiB .. 4 MiB, a power of two. */
	if (hs < 16384 || hs > (4u << 20) || (hs & (hs - 1)))
		return NULL;
	*why = "ends past the end of the volume (truncated image?)";
	if (!bm_in_range(off, hs, v->size))
		return NULL;
	*why = "unreadable";
	uint8_t *all = bm_malloc((size_t)hs + 1);
	if (bm_read(v, all, (size_t)hs, off) < 0) {
		free(all);
		return NULL;
	}
	*why = "checksum mismatch";
	if (memcmp(all + 72, "sha256", 7) == 0) {
		uint8_t want[32], got[32];
		memcpy(want, all + 448, 32);
		memset(all + 448, 0, 64);
		struct bm_sha256 sha;
		bm_sha256_init(&sha);
		bm_sha256_update(&sha, all, (size_t)hs);
		bm_sha256_final(&sha, got);
		if (!bm_csum_ok(memcmp(want, got, 32) == 0)) {
			free(all);
			return NULL;
		}
	} else {
		bm_debug(v->ctx, "%s: LUKS2 header checksum %.32s not checked",
			 v->dev, (const char *)all + 72);
	}
	all[hs] = 0;
	size_t jl = strnlen((char *)all + LUKS2_BIN, (size_t)hs - LUKS2_BIN);
	char *json = bm_malloc(jl + 1);
	memcpy(json, all + LUKS2_BIN, jl);
	json[jl] = 0;
	free(all);
	*hdr_size = hs;
	return json;
}

static int luks_probe(struct bm_volume *v, void **state)
{
	uint8_t hdr[LUKS1_HDR];

	if (v->size < 4096 || bm_read(v, hdr, sizeof hdr, 0) < 0 ||
	    memcmp(hdr, luks_magic, 6) != 0)
		return 0;

	struct luks_state *s = bm_calloc(1, sizeof *s);
	s->version = bm_be16(hdr + 6);
	if (s->version == 1) {
		memcpy(s->phdr, hdr, sizeof hdr);
		uint32_t keybytes = bm_be32(hdr + 108);
		if (keybytes == 0 || keybytes > 1024) {
			bm_warn(v->ctx, v->dev, 108, "LUKS1 header: key size %u "
				"is invalid; not mapped", keybytes);
			free(s);
			return -1;
		}
		*state = s;
		return 1;
	}
	if (s->version != 2) {
		bm_warn(v->ctx, v->dev, 6, "LUKS header version %u is not "
			"supported; not mapped", s->version);
		free(s);
		return -1;
	}
	const char *why = "invalid", *why2 = "not found";
	s->json = luks2_check(v, 0, luks_magic, &s->hdr_size, &why);
	if (!s->json) {
		/* The secondary copy sits at one of the allowed sizes. */
		for (uint64_t off = 16384; off <= (4u << 20) && !s->json; off *= 2) {
			s->json = luks2_check(v, off, luks2_magic2, &s->hdr_size,
					      &why2);
			s->hdr_off = off;
		}
		if (!s->json) {
			bm_warn(v->ctx, v->dev, 0, "LUKS2 header: %s; secondary "
				"copy: %s; not mapped", why, why2);
			free(s);
			return -1;
		}
		bm_warn(v->ctx, v->dev, 0, "LUKS2 primary header: %s; using "
			"the secondary copy at %#llx", why,
			(unsigned long long)s->hdr_off);
	}
	*state = s;
	return 1;
}

static void emit_clip(struct bm_volume *v, uint64_t off, uint64_t len,
		      const char *name, unsigned flags)
{
	if (len == 0)
		return;
	if (off >= v->size || len > v->size - off) {
		bm_warn(v->ctx, v->dev, off, "LUKS %s (%#llx bytes) runs past "
			"the end of the volume (truncated image?): %s", name,
			(unsigned long long)len,
			off >= v->size ? "not mapped" : "clipped");
		if (off >= v->size)
			return;
		len = v->size - off;
	}
	bm_emit_flags(v, off, len, bm_object(v->ctx, 'm', v->dev, name), flags);
}

static void payload_note(struct bm_volume *v, uint64_t off, uint64_t len)
{
	bm_debug(v->ctx, "%s: LUKS encrypted payload at %#llx, %llu bytes: "
		 "bmapgen does not decrypt, its contents are not mapped",
		 v->dev, (unsigned long long)off, (unsigned long long)len);
}

/* Returns -1 when something was not mapped (warned): the volume is then
 * not taken as understood (bmaptool output copies all of it). */
static int luks1_walk(struct bm_volume *v, struct luks_state *s)
{
	int rc = 0;
	const uint8_t *h = s->phdr;
	uint64_t payload = (uint64_t)bm_be32(h + 104) * LUKS_SECTOR;
	uint64_t keybytes = bm_be32(h + 108);
	uint64_t hdr_end = LUKS_ALIGN;

	/* Key slots: active or not, their areas are reserved. */
	for (unsigned i = 0; i < 8; i++) {
		const uint8_t *k = h + 208 + 48 * i;
		uint32_t active = bm_be32(k);
		uint64_t off = (uint64_t)bm_be32(k + 40) * LUKS_SECTOR;
		uint64_t len = keybytes * bm_be32(k + 44); /* < 2^42 */
		if (active != 0x00AC71F3 && active != 0x0000DEAD) {
			bm_warn(v->ctx, v->dev, 208 + 48 * i, "LUKS1 key slot %u "
				"has an invalid state; not mapped", i);
			rc = -1;
			continue;
		}
		len = (len + LUKS_ALIGN - 1) / LUKS_ALIGN * LUKS_ALIGN;
		if (off < LUKS1_HDR || (payload && off + len > payload)) {
			bm_warn(v->ctx, v->dev, 208 + 48 * i, "LUKS1 key slot %u "
				"area overlaps the header or payload; not mapped", i);
			rc = -1;
			continue;
		}
		if (off < hdr_end)
			hdr_end = off;
		emit_clip(v, off, len, "luks keyslots", 0);
	}
	emit_clip(v, 0, hdr_end, "luks header", 0);
	if (payload == 0) {
		bm_debug(v->ctx, "%s: LUKS1 header without payload (detached "
			 "header)", v->dev);
	} else if (payload >= v->size) {
		bm_warn(v->ctx, v->dev, 104, "LUKS1 payload offset %#llx is past "
			"the end of the volume", (unsigned long long)payload);
		rc = -1;
	} else {
		payload_note(v, payload, v->size - payload);
		emit_clip(v, payload, v->size - payload, "encrypted payload", 0);
	}
	return rc;
}

static int luks2_walk(struct bm_volume *v, struct luks_state *s)
{
	int rc = 0;
	const char *j = s->json, *end = j + strlen(j);
	uint64_t hs = s->hdr_size, ks_size = 0;

	emit_clip(v, 0, hs, "luks header", 0);
	emit_clip(v, hs, hs, "luks header", BM_RANGE_COPY);

	const char *config = jget(j, end, "config");
	if (config && jnum(jget(config, end, "keyslots_size"), end, &ks_size) &&
	    bm_in_range(2 * hs, ks_size, UINT64_MAX)) {
		emit_clip(v, 2 * hs, ks_size, "luks keyslots", 0);
	} else {
		bm_warn(v->ctx, v->dev, BM_NO_OFFSET, "LUKS2 config has no "
			"valid keyslots_size; only the key slots' own areas "
			"are mapped");
		ks_size = 0;
		rc = -1;
	}

	/* Key slot areas outside config.keyslots_size (should not exist). */
	const char *slots = jget(j, end, "keyslots");
	const char *key;
	size_t kl;
	for (size_t i = 0; slots && i < 64; i++) {
		const char *ks = jmember(slots, end, i, &key, &kl);
		if (!ks)
			break;
		const char *area = jget(ks, end, "area");
		uint64_t off, len;
		if (!area || !jnum(jget(area, end, "offset"), end, &off) ||
		    !jnum(jget(area, end, "size"), end, &len) ||
		    !bm_in_range(off, len, UINT64_MAX)) {
			bm_warn(v->ctx, v->dev, BM_NO_OFFSET, "LUKS2 key slot "
				"%.*s has no valid area; not mapped", (int)kl, key);
			rc = -1;
			continue;
		}
		if (ks_size && off >= 2 * hs && off + len <= 2 * hs + ks_size)
			continue;
		emit_clip(v, off, len, "luks keyslots", 0);
	}

	const char *segs = jget(j, end, "segments");
	for (size_t i = 0; segs && i < 64; i++) {
		const char *seg = jmember(segs, end, i, &key, &kl);
		uint64_t off, len;
		if (!seg)
			break;
		const char *size = jget(seg, end, "size");
		bool dyn = size && jstreq(size, end, "dynamic");
		if (!jnum(jget(seg, end, "offset"), end, &off) || !size ||
		    (!dyn && !jnum(size, end, &len))) {
			bm_warn(v->ctx, v->dev, BM_NO_OFFSET, "LUKS2 segment %.*s "
				"has no valid offset/size; not mapped", (int)kl, key);
			rc = -1;
			continue;
		}
		if (off >= v->size) {
			bm_warn(v->ctx, v->dev, BM_NO_OFFSET, "LUKS2 segment %.*s "
				"starts past the end of the volume", (int)kl, key);
			rc = -1;
			continue;
		}
		if (dyn)
			len = v->size - off;
		if (jstreq(jget(seg, end, "type"), end, "crypt")) {
			payload_note(v, off, len);
			emit_clip(v, off, len, "encrypted payload", 0);
		} else {
			bm_warn(v->ctx, v->dev, off, "LUKS2 segment %.*s is not "
				"encrypted (reencryption in progress?); its "
				"contents are not mapped", (int)kl, key);
			emit_clip(v, off, len, "luks unencrypted segment", 0);
		}
	}
	if (!segs) {
		bm_warn(v->ctx, v->dev, BM_NO_OFFSET, "LUKS2 metadata has no "
			"segments; payload not mapped");
		rc = -1;
	}
	return rc;
}

static int luks_walk(struct bm_volume *v, void *state)
{
	struct luks_state *s = state;

	bm_debug(v->ctx, "%s: LUKS%d", v->dev, s->version);
	int rc = s->version == 1 ? luks1_walk(v, s) : luks2_walk(v, s);
	free(s->json);
	free(s);
	return rc;
}

const struct bm_prober bm_luks_prober = {
	.name = "crypto_LUKS",
	.kind = BM_PROBE_OTHER,
	.probe = luks_probe,
	.walk = luks_walk,
};
