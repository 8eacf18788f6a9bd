/* Core-private state: the context handle.  Layers and parsers use the
 * accessors in bmapgen.h, not these fields.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_INTERNAL_H
#define BM_INTERNAL_H

#include "bmapgen.h"

#define BM_MAX_PROBERS 64
#define BM_MAX_DEPTH 16 /* layers stacked above a disk before we refuse */

struct bm_ctx {
	struct bm_options opts;
	int status;
	struct bm_volume *volumes, **vol_tail;
	struct bm_volume **disks;
	unsigned ndisks;
	struct bm_diskinfo {
		char *source;       /* the IMAGE argument */
		const char *format; /* "raw", "qcow2", "nbd" (static) */
		uint64_t stored;    /* bytes its files take: the budgets */
	} *diskinfo;                /* [ndisks] */
	void *slots[BM_MAX_PROBERS];
	bool final_round; /* see bm_assembly_final() */
	struct bm_finding_info *findings;
	size_t nfindings, capfindings;
	size_t finding_bytes; /* what the kept messages take */
	size_t nwarnings; /* findings of severity warning or error */

	/* Interned objects: open-addressing hash of indexes into objs. */
	struct bm_objinfo *objs;
	size_t nobjs, capobjs;
	uint32_t *objhash; /* BM_OBJ_NONE = empty */
	size_t hashcap;

	/* Mapped ranges, sorted on demand. */
	struct bm_range *ranges;
	size_t nranges, capranges;
	bool sorted;
	bool store_full; /* the range budget was reached (warned once) */
	uint64_t budget_bytes; /* disk_bytes(), summed over */
	unsigned budget_disks; /* this many disks */
	uint64_t steps; /* work spent (bm_ctx_spend) */
	bool steps_full; /* the work budget was spent (warned once) */
	uint64_t name_bytes; /* what the live objects' names take */
	bool names_full; /* the name budget was reached (warned once) */

	/* Streaming (bm_ctx_stream): ranges are written to STREAM as they
	 * come instead of being stored; PEND holds the last one while the
	 * next may continue it.  Released object slots go on FREESLOTS and
	 * come back with their generation (GENS) raised: an id is
	 * slot | generation << 24, so a stale id is recognised. */
	FILE *stream;
	int stream_err;
	struct bm_range pend;
	bool have_pend;
	uint8_t *gens;       /* [capobjs] */
	uint32_t *freeslots;
	size_t nfree, capfree;
};

void bm_store_free(struct bm_ctx *ctx);

/* JSON Lines streaming (output/json.c): the header, one object record
 * per range, and at the end the disk and volume records. */
void bm_json_stream_begin(struct bm_ctx *ctx);
/* Append S as a JSON string literal (valid UTF-8 kept, controls and
 * quotes escaped).  True if S held bytes that are not valid UTF-8
 * (written as U+FFFD). */
bool bm_json_string(struct bm_str *b, const char *s);
void bm_json_stream_range(struct bm_ctx *ctx, const struct bm_range *r);
void bm_json_stream_end(struct bm_ctx *ctx);

#endif
