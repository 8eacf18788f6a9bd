/* bmapgen - map the bytes of a disk image to the files that own them.
 *
 * The core contract every layer and parser builds on:
 *
 *  - A *volume* is an address space: it has a size, can READ bytes at an
 *    offset, and can MAP a range of itself to ranges of its parent volume(s).
 *    Mapping recurses down to an image volume, which reports (disk, offset,
 *    length) ranges of the image.  A layer that keeps copies (RAID1, DUP)
 *    maps one range to several, marking the extra ones BM_RANGE_COPY.
 *  - A *prober* (one per format, libblkid style, registry in probe.c) looks
 *    at a volume, says whether its format is there (verifying more than a
 *    magic number) and then walks it: a partition table creates child
 *    volumes and probes them; a filesystem emits objects.
 *  - An *object* is what a byte belongs to: ('f', "/dev/sda1", "/etc/fstab").
 *    Walkers emit (volume, range, object); bm_emit() maps the range down to
 *    the image in one place and hands it to the map store.
 *
 * All state lives in the bm_ctx handle and in volumes; there are no
 * mutable statics.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BMAPGEN_H
#define BMAPGEN_H

#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct bm_ctx;
struct bm_volume;
struct bm_prober;

/* ------------------------------------------------------------------ */
/* Image ranges                                                        */

/* Flags (roles) carried by a mapped range.  virt-bmap output ignores
 * them; JSON output reports them. */
enum {
	BM_RANGE_COPY = 1u << 0,       /* a redundant copy (RAID1 leg >= 2, DUP) */
	BM_RANGE_PARITY = 1u << 1,     /* RAID parity/syndrome */
	BM_RANGE_INLINE = 1u << 2,     /* file data stored inside metadata */
	BM_RANGE_COMPRESSED = 1u << 3, /* compressed extent as stored */
	BM_RANGE_UNWRITTEN = 1u << 4,  /* preallocated, reads as zeroes */
	BM_RANGE_METADATA = 1u << 5,   /* a file's own mapping blocks */
	BM_RANGE_SHARED = 1u << 6,     /* may be several files' at once:
					* reference-counted (ext xattr
					* blocks and EA inodes) */
};

/* Called once per image range a volume range maps to. */
typedef int (*bm_range_cb)(void *opaque, unsigned disk, uint64_t off,
			   uint64_t len, unsigned flags);

/* ------------------------------------------------------------------ */
/* Volumes                                                             */

struct bm_volume_ops {
	const char *kind; /* "disk", "partition", "lv", "md", ... */
	/* Read LEN bytes at volume offset OFF into BUF.  The caller
	 * (bm_read) has already checked OFF+LEN <= size.  Return 0, or -1
	 * with errno set (EIO for unreadable, ENODATA for a missing
	 * member, ...).  Must not print. */
	int (*read)(struct bm_volume *v, void *buf, size_t len, uint64_t off);
	/* Map [OFF, OFF+LEN) (already within size) to the parent(s) by
	 * calling bm_volume_map() on them, OR-ing FLAGS into what they
	 * report; the image volume calls CB.  Return 0 or -1. */
	int (*map)(struct bm_volume *v, uint64_t off, uint64_t len,
		   unsigned flags, bm_range_cb cb, void *opaque);
	/* Free PRIV (not the volume itself).  May be NULL. */
	void (*destroy)(struct bm_volume *v);
	/* Optional, disks only: [OFF, OFF+LEN) (within size) will be read
	 * soon; start fetching it (a raw image asks the kernel to read it
	 * ahead).  A hint: it changes no result.  May be NULL. */
	void (*prefetch)(struct bm_volume *v, uint64_t off, uint64_t len);
};

struct bm_volume {
	const struct bm_volume_ops *ops;
	void *priv;
	struct bm_ctx *ctx;
	uint64_t size;           /* bytes */
	char *dev;               /* device name printed in maps: /dev/sda1 */
	char *type;              /* what the prober found: "gpt", "ext4", ... */
	struct bm_volume *parent; /* NULL for disks; first parent otherwise */
	unsigned depth;          /* layers above the disk (loop guard) */
	unsigned disk;           /* 1-based disk index of the first parent */
	unsigned sector_size;    /* logical sector size (512 unless known) */
	bool probed;             /* bm_probe_volume already ran on it */
	char *part_type;         /* partition type: GPT type GUID, "0x83" */
	uint64_t fs_size;        /* bytes the filesystem on it says it spans */
	/* The prober that recognised the contents (NULL: nothing did). */
	const struct bm_prober *prober;
	/* Its walk stopped early or warned: what it did not map is not
	 * known (bmaptool output copies the volume's non-zero blocks). */
	bool walk_failed;
	struct bm_volume *next;  /* ctx->volumes list */
};

/* Create a volume and link it into CTX (owned by CTX; freed with it).
 * DEV is copied. */
struct bm_volume *bm_volume_new(struct bm_ctx *ctx,
				const struct bm_volume_ops *ops, void *priv,
				uint64_t size, const char *dev,
				struct bm_volume *parent);

/* A contiguous slice [START, START+SIZE) of PARENT (partitions, linear
 * LV segments on one PV, ...).  Clipped to the parent with a warning. */
struct bm_volume *bm_volume_slice(struct bm_volume *parent, uint64_t start,
				  uint64_t size, const char *dev);

/* Read through V.  Out-of-range or failing reads return -1 (errno set);
 * they do not print: the caller names the object in its bm_warn(). */
int bm_read(struct bm_volume *v, void *buf, size_t len, uint64_t off);

/* SHA-256 of V's bytes [OFF, END), read in pieces of BUFLEN into BUF,
 * as lowercase hex.  Returns 0, or -1 (errno set) with *BAD the offset
 * of the read that failed. */
int bm_volume_sha256(struct bm_volume *v, uint64_t off, uint64_t end,
		     uint8_t *buf, size_t buflen, char hex[65], uint64_t *bad);

/* Map through V: range checked, then v->ops->map. */
int bm_volume_map(struct bm_volume *v, uint64_t off, uint64_t len,
		  unsigned flags, bm_range_cb cb, void *opaque);

/* Hint that [OFF, OFF+LEN) of V will be read soon: the range is mapped
 * down to the disks (first copies only) and each disk's prefetch op is
 * called, so a walker can have the kernel fetch many scattered metadata
 * blocks in large, parallel reads before it reads them one by one.
 * Clipped to V; changes no result; quiet.  It goes through V's map op,
 * so not on a btrfs logical volume (its map notes RAID5/6 rows for
 * parity): btrfs hints its devices' volumes. */
void bm_volume_prefetch(struct bm_volume *v, uint64_t off, uint64_t len);

/* Name of partition N of a volume named DEV: "/dev/sda" -> "/dev/sda1",
 * "/dev/md0" -> "/dev/md0p1", "/dev/md/root" -> "/dev/md/root1".
 * Returns a malloc'd string. */
char *bm_partition_name(const char *dev, unsigned n);

/* A volume over a memory buffer (tests and fuzzers); disk index DISK. */
struct bm_volume *bm_volume_memory(struct bm_ctx *ctx, const void *buf,
				   size_t size, const char *dev, unsigned disk);

/* ------------------------------------------------------------------ */
/* Objects and the map store                                           */

/* Object types, as printed: v disk, p partition, l logical volume,
 * d directory, f file, m metadata (name in angle brackets). */
typedef uint32_t bm_obj;
#define BM_OBJ_NONE UINT32_MAX

/* Intern an object.  PATH may be NULL ('v', 'p', 'l').  For 'm' the
 * name is given without brackets ("superblock") and printed as
 * "<superblock>".  Strings are copied; PATH may hold any bytes (they are
 * escaped on output). */
bm_obj bm_object(struct bm_ctx *ctx, char type, const char *dev,
		 const char *path);

/* A walker is done with 'f'/'d' object O: nothing will be emitted to it
 * any more (call it only where that is sure: after the last emit for a
 * file's object, with no other name or owner able to emit to it later).
 * A no-op unless streaming; then O's memory is freed and the id must not
 * be used again (bm_object() with the same name gives a new one).
 * Other object types are kept. */
void bm_object_release(struct bm_ctx *ctx, bm_obj o);

/* Emit: bytes [OFF, OFF+LEN) of volume V belong to OBJ.  Maps the range
 * down to the image(s) and stores it.  A range past the end of V is
 * clipped with a warning.  Returns 0 or -1. */
int bm_emit(struct bm_volume *v, uint64_t off, uint64_t len, bm_obj obj);
int bm_emit_flags(struct bm_volume *v, uint64_t off, uint64_t len, bm_obj obj,
		  unsigned flags);

/* Store an image range directly (the image layer's 'v' line). */
int bm_store_add(struct bm_ctx *ctx, unsigned disk, uint64_t off,
		 uint64_t len, bm_obj obj, unsigned flags);

/* ------------------------------------------------------------------ */
/* Diagnostics and exit status                                        */

enum bm_status {
	BM_OK = 0,      /* mapped cleanly */
	BM_WARN = 1,    /* mapped, with warnings (something not mapped) */
	BM_FAILED = 2,  /* could not map */
};

/* "bmapgen: DEV: offset 0xOFF: message" on stderr; raises the exit
 * status to BM_WARN.  DEV may be NULL; OFF may be BM_NO_OFFSET. */
#define BM_NO_OFFSET UINT64_MAX
void bm_warn(struct bm_ctx *ctx, const char *dev, uint64_t off,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The map holds as many ranges or names as it may, or its work budget
 * is spent (mapstore.c: budgets that grow with the bytes the images
 * take where they are stored; each warned once): walkers stop mapping
 * files, whose ranges would be dropped anyway. */
bool bm_ctx_full(const struct bm_ctx *ctx);
/* Spend N steps of the map's work budget (mapstore.c: 2^28 plus one per
 * 64 bytes of the images, at most 2^33), for loops whose work the range
 * budget does not bound (RAID mapping: ranges merge).  False once it is
 * spent: warned once, and the map is full. */
bool bm_ctx_spend(struct bm_ctx *ctx, uint64_t n);
/* Warnings and errors so far (a walk that raised any did not map all it
 * should have: bm_volume.walk_failed). */
size_t bm_ctx_warnings(const struct bm_ctx *ctx);
/* A directory PATH of DEV (at OFF, or BM_NO_OFFSET) longer than
 * BM_PATH_MAX bytes is mapped but its entries are not walked: true, and
 * warned, for such a PATH.  Each filesystem walker asks once per
 * directory. */
bool bm_dir_too_deep(struct bm_ctx *ctx, const char *dev, uint64_t off,
		     const char *path);
/* Same, raising the status to BM_FAILED (the image or a whole disk could
 * not be mapped). */
void bm_fail(struct bm_ctx *ctx, const char *dev, uint64_t off,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A finding for `bmapgen check`: a stable ID ("gpt-backup-bad"), a
 * severity, the object and offset.  Printed like bm_warn; a warning or
 * error raises the exit status to BM_WARN, info does not (and is printed
 * only with -v).  bm_warn/bm_fail record findings "map-warning" and
 * "map-error". */
enum bm_severity { BM_SEV_INFO = 0, BM_SEV_WARNING = 1, BM_SEV_ERROR = 2 };
void bm_finding(struct bm_ctx *ctx, const char *id, enum bm_severity sev,
		const char *dev, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
struct bm_finding_info {
	char *id;
	enum bm_severity severity;
	char *dev;
	uint64_t off;
	char *msg;
};
size_t bm_finding_count(const struct bm_ctx *ctx);
const struct bm_finding_info *bm_finding_get(const struct bm_ctx *ctx,
					     size_t i);

/* -v output (only when verbose). */
void bm_debug(struct bm_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* Probers                                                             */

enum bm_prober_kind {
	BM_PROBE_CONTAINER, /* image formats, partition tables */
	BM_PROBE_MEMBER,    /* LVM PV, md member: assembled later */
	BM_PROBE_FS,        /* filesystems */
	BM_PROBE_OTHER,     /* swap, LUKS, ... */
};

struct bm_prober {
	const char *name;
	enum bm_prober_kind kind;
	/* Is this format on V?  Return 1 (yes, *STATE may be set for walk),
	 * 0 (no) or -1 (it is, but broken: the prober has warned; no other
	 * prober is tried).  Must read little and verify more than a magic
	 * number (checksums, field ranges). */
	int (*probe)(struct bm_volume *v, void **state);
	/* Map what is on V (emit objects, create and bm_probe_volume()
	 * child volumes).  Owns and frees STATE.  Return 0, or -1 when the
	 * walk stopped early (after bm_warn()). */
	int (*walk)(struct bm_volume *v, void *state);
	/* Optional: after all disks are probed, build volumes that span
	 * several members (VGs, md arrays, multi-device btrfs) and probe
	 * them.  Called repeatedly while any assembler returns > 0 (the
	 * number of volumes it created). */
	int (*assemble)(struct bm_ctx *ctx);
	/* Optional: free this prober's per-context slot (bm_ctx_slot). */
	void (*slot_free)(void *slot);
};

/* The ordered registry (probe.c). */
extern const struct bm_prober *const bm_probers[];

/* Per-context storage for a prober (e.g. PVs waiting for their VG). */
void **bm_ctx_slot(struct bm_ctx *ctx, const struct bm_prober *p);

/* Count one more WHAT made by prober P in this context (its slot holds
 * the count: P's slot_free must be free()).  False past MAX, after one
 * warning naming DEV: tables nested inside their own partitions would
 * otherwise multiply volumes at every level. */
bool bm_ctx_budget(struct bm_ctx *ctx, const struct bm_prober *p,
		   uint64_t max, const char *dev, const char *what);

/* Identify and walk what is on V (first matching prober wins).  Nothing
 * recognised: libblkid is asked, and a known-but-unsupported format is
 * reported as not mapped.  Returns the matching prober or NULL. */
const struct bm_prober *bm_probe_volume(struct bm_volume *v);

/* ------------------------------------------------------------------ */
/* Context                                                             */

struct bm_options {
	int verbose;               /* > 0: -v; < 0: no diagnostics (fuzzers) */
	const char *output_format; /* "virt-bmap" */
	const char *input_format;  /* NULL or "auto" (probe), "raw", "qcow2" */
};

struct bm_ctx *bm_ctx_new(const struct bm_options *opts);
void bm_ctx_free(struct bm_ctx *ctx);
int bm_ctx_status(const struct bm_ctx *ctx);
bool bm_ctx_verbose(const struct bm_ctx *ctx);

/* Open image PATH as the next disk (index 1, 2, ...), named /dev/sda,
 * /dev/sdb, ...; emits its 'v' object.  NULL on failure (after
 * bm_fail()). */
struct bm_volume *bm_open_disk(struct bm_ctx *ctx, const char *path);

/* Probe every disk, then run the assemblers until nothing new appears. */
void bm_map_all(struct bm_ctx *ctx);
/* Just the assembly rounds (bm_map_all's second half). */
void bm_assemble_all(struct bm_ctx *ctx);

/* Streaming JSON Lines output (--stream): from now on every mapped
 * range is written to OUT at once as an object record with one range,
 * not stored (the bm_store_* accessors below then see nothing).  Memory
 * then stays bounded when walkers release objects.  Call right after
 * bm_ctx_new(), before bm_open_disk(). */
void bm_ctx_stream(struct bm_ctx *ctx, FILE *out);
/* Write the last pending range and the disk and volume records.
 * Returns 0, or -1 if a write to OUT failed. */
int bm_ctx_stream_end(struct bm_ctx *ctx);

/* Number of disks, and disk I (1-based). */
unsigned bm_disk_count(const struct bm_ctx *ctx);
struct bm_volume *bm_disk(const struct bm_ctx *ctx, unsigned i);
/* Where disk I was read from (the IMAGE argument) and as what ("raw",
 * "qcow2", "nbd"); NULL if there is no disk I. */
const char *bm_disk_source(const struct bm_ctx *ctx, unsigned i);
const char *bm_disk_format(const struct bm_ctx *ctx, unsigned i);

/* For assemblers: true during a "final" round, run once nothing more can
 * be found by complete assembly.  Build incomplete things (degraded
 * arrays, VGs with missing PVs) only then, with a warning; if that
 * creates volumes, normal rounds resume. */
bool bm_assembly_final(const struct bm_ctx *ctx);

/* Every volume created so far, in creation order (for assemblers). */
struct bm_volume *bm_volumes(const struct bm_ctx *ctx);

/* ------------------------------------------------------------------ */
/* The map store, as the writers see it (mapstore.c)                   */

struct bm_range {
	uint64_t start, end; /* image bytes, end exclusive */
	uint32_t disk;       /* 1-based */
	bm_obj obj;
	uint32_t flags;
};

struct bm_objinfo {
	char type;
	const char *dev;
	const char *path; /* NULL for v/p/l; the bare name for m */
};

size_t bm_store_count(const struct bm_ctx *ctx);
const struct bm_range *bm_store_ranges(struct bm_ctx *ctx); /* sorted */
size_t bm_object_count(const struct bm_ctx *ctx);
const struct bm_objinfo *bm_object_info(const struct bm_ctx *ctx, bm_obj o);

/* An object as printed in virt-bmap maps: "TYPE DEV [PATH]", escaped,
 * metadata names in angle brackets.  malloc'd. */
char *bm_object_text(const struct bm_objinfo *o);

/* Output writers (src/output/). */
int bm_write_virtbmap(struct bm_ctx *ctx, FILE *out);
/* JSON (one document) or JSON Lines (LINES: one record per line). */
int bm_write_json(struct bm_ctx *ctx, FILE *out, bool lines);
/* bmaptool's bmap 2.0 XML for disk 1 (reads the image for checksums). */
int bm_write_bmaptool(struct bm_ctx *ctx, FILE *out);

#endif
