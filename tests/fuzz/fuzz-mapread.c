/* libFuzzer target: the virt-bmap map reader (lookup, trace) over an
 * untrusted map, then queries over the whole range of each disk seen
 * and at the edges of every extent. */
#include <stdlib.h>
#include <string.h>

#include "output/mapread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)(uintptr_t)data, size ? size : 1, "r");
	if (!f)
		return 0;
	struct bm_map m;
	bm_map_init(&m);
	if (size)
		bm_map_parse(&m, f, "fuzz");
	fclose(f);
	bm_map_sniff((const char *)data, size);
	bm_map_finish(&m);
	struct bm_map_hits h = { 0 };
	for (size_t i = 0; i < m.nrec && i < 64; i++) {
		const struct bm_maprec *r = &m.rec[i];
		bm_map_query(&m, r->disk, 0, UINT64_MAX, &h);
		bm_map_query(&m, r->disk, r->start, r->start + 1, &h);
		bm_map_query(&m, r->disk, r->end - 1, r->end, &h);
		for (size_t k = 0; k < h.n; k++)
			(void)bm_map_rank(&m, m.rec[h.idx[k]].obj);
	}
	free(h.idx);
	bm_map_free(&m);
	return 0;
}
