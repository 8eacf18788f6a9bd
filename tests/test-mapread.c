/* Unit test for the map reader: parsing good and hostile lines (junk,
 * overflowing numbers, start >= end, NUL bytes, over-long lines,
 * terminal escapes), sniffing, joining pieces into extents, and the
 * interval index against a brute-force scan on random maps.  Also feeds
 * random mutations of a valid map through the parser (run under ASan in
 * `make check`).  Usage: test-mapread [FILE...] parses FILEs (a fuzzing
 * entry point). */
#include <stdlib.h>
#include <string.h>

#include "output/mapread.h"
#include "check.h"

static void parse_text(struct bm_map *m, const char *text, size_t len)
{
	FILE *f = fmemopen((void *)text, len, "r");
	bm_map_init(m);
	CHECK(f && bm_map_parse(m, f, "test") == 0, "parse");
	if (f)
		fclose(f);
	bm_map_finish(m);
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

int main(int argc, char **argv)
{
	if (argc > 1) { /* fuzzing entry point */
		for (int i = 1; i < argc; i++) {
			struct bm_map m;
			bm_map_init(&m);
			FILE *f = fopen(argv[i], "r");
			if (f) {
				bm_map_parse(&m, f, argv[i]);
				fclose(f);
			}
			bm_map_finish(&m);
			struct bm_map_hits h = { 0 };
			bm_map_query(&m, 1, 0, UINT64_MAX, &h);
			free(h.idx);
			bm_map_free(&m);
		}
		return 0;
	}

	const char good[] =
		"1 0 1000 v /dev/sda\n"
		"1 100 200 p /dev/sda1\n"
		"1 200 400 p /dev/sda1\n"          /* touches: joined */
		"1 180 190 f /dev/sda1 /a b\\nc\n"
		"\n# comment\n"
		"2 0 10 v /dev/sdb\n"
		"1 300 200 f /dev/sda1 /backwards\n" /* start > end */
		"1 10000000000000000 10000000000000001 f /dev/sda1 /big\n"
		"0 0 10 v /dev/sdz\n"                /* disk 0 */
		"1 0 10 x /dev/sda\n"                /* unknown type */
		"1 0 10 f\n"                         /* no device */
		"1 0g 10 f /dev/sda1 /x\n"
		"1 0 10 f /dev/sda1 /esc\x1b[31m\x9b\n"
		"1 500 600 m /dev/sda1 <sb>";        /* no final newline */
	struct bm_map m;
	parse_text(&m, good, sizeof good - 1);
	CHECK(m.bad_lines == 6, "bad lines %zu", m.bad_lines);
	CHECK(m.nobj == 6, "objects %zu", m.nobj);
	struct bm_map_hits h = { 0 };
	bm_map_query(&m, 1, 0x1f0, 0x1f1, &h);
	CHECK(h.n == 2, "hits at 0x1f0: %zu", h.n);
	bool joined = false;
	for (size_t i = 0; i < h.n; i++)
		if (m.text[m.rec[h.idx[i]].obj][0] == 'p')
			joined = m.rec[h.idx[i]].start == 0x100 &&
				 m.rec[h.idx[i]].end == 0x400;
	CHECK(joined, "partition pieces joined into 100-400");
	bm_map_query(&m, 1, 0x185, 0x186, &h);
	CHECK(h.n == 3, "hits at 0x185: %zu", h.n);
	bm_map_query(&m, 2, 0, 1, &h);
	CHECK(h.n == 1 && !strcmp(m.text[m.rec[h.idx[0]].obj], "v /dev/sdb"),
	      "disk 2");
	bm_map_query(&m, 3, 0, 1, &h);
	CHECK(h.n == 0, "disk 3 empty");
	bool esc = false;
	for (size_t i = 0; i < m.nobj; i++) {
		for (const char *p = m.text[i]; *p; p++)
			CHECK((unsigned char)*p >= 0x20 &&
			      (unsigned char)*p != 0x7f && (unsigned char)*p != 0x9b,
			      "raw control byte in %s", m.text[i]);
		if (strstr(m.text[i], "/esc\\x1b[31m\\x9b"))
			esc = true;
	}
	CHECK(esc, "escape sequence re-escaped");
	bm_map_free(&m);

	CHECK(bm_map_sniff("1 0 200 v /dev/sda\n", 19), "sniff map");
	CHECK(!bm_map_sniff("\xeb\x63\x90\x00", 4), "sniff MBR");
	CHECK(!bm_map_sniff("1 0 200 v /dev/sda", 18), "sniff no newline");
	/* comments and blank lines first (bm_map_parse skips them too) */
	static const char cm[] = "# map of disk.img\n\n1 0 200 v /dev/sda\n";
	CHECK(bm_map_sniff(cm, sizeof cm - 1), "sniff after a comment");
	static const char cb[] = "# only a comment\n\n";
	CHECK(!bm_map_sniff(cb, sizeof cb - 1), "sniff comments only");

	/* An over-long line, and NUL bytes. */
	size_t big = 200000;
	char *t = malloc(big + 64);
	memset(t, 'a', big);
	memcpy(t, "1 0 10 f /dev/sda1 /", 20);
	memcpy(t + big, "\n1 0 10 f /x\0y\n1 0 10 v /dev/sda\n", 33);
	parse_text(&m, t, big + 33);
	CHECK(m.bad_lines == 2 && m.nobj == 1, "long line: %zu bad, %zu obj",
	      m.bad_lines, m.nobj);
	bm_map_free(&m);

	/* Random maps: index query = brute force. */
	for (int round = 0; round < 50; round++) {
		struct bm_map r;
		bm_map_init(&r);
		struct bm_str b = { 0 };
		int n = 1 + (int)(rnd() % 400);
		for (int i = 0; i < n; i++) {
			uint64_t s = rnd() % 5000, l = 1 + rnd() % (i % 7 ? 50 : 3000);
			bm_str_printf(&b, "%u %llx %llx f /dev/sda /o%u\n",
				      1 + (unsigned)(rnd() % 2),
				      (unsigned long long)s,
				      (unsigned long long)(s + l),
				      (unsigned)(rnd() % 60));
		}
		parse_text(&r, b.s, b.len);
		for (int q = 0; q < 200; q++) {
			uint32_t d = 1 + (uint32_t)(rnd() % 2);
			uint64_t a = rnd() % 8200, e = a + 1 + rnd() % 300;
			bm_map_query(&r, d, a, e, &h);
			size_t want = 0;
			for (size_t i = 0; i < r.nrec; i++)
				want += r.rec[i].disk == d && r.rec[i].start < e &&
					r.rec[i].end > a;
			bool ok = h.n == want;
			for (size_t i = 0; i < h.n; i++) {
				const struct bm_maprec *x = &r.rec[h.idx[i]];
				ok = ok && x->disk == d && x->start < e && x->end > a;
			}
			CHECK(ok, "round %d query %d: %zu hits, want %zu", round,
			      q, h.n, want);
		}
		/* Extents of one object never touch after joining. */
		for (size_t i = 0; i < r.nrec; i++)
			for (size_t j = i + 1; j < r.nrec; j++)
				if (r.rec[i].obj == r.rec[j].obj &&
				    r.rec[i].disk == r.rec[j].disk)
					CHECK(r.rec[j].start > r.rec[i].end ||
					      r.rec[i].start > r.rec[j].end,
					      "unjoined extents");
		/* Mutations of this text must parse without harm. */
		for (int k = 0; k < 20; k++) {
			size_t pos = rnd() % b.len;
			b.s[pos] = (char)rnd();
			struct bm_map x;
			parse_text(&x, b.s, b.len);
			bm_map_query(&x, 1, 0, UINT64_MAX, &h);
			bm_map_free(&x);
		}
		bm_str_free(&b);
		bm_map_free(&r);
	}
	free(h.idx);
	free(t);
	CHECK_DONE();
}
