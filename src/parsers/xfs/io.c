/* XFS walker: cached reads, CRC checks, block-number conversions.
 *
 * XFS addresses data-device blocks as "fs blocks": the AG number in the
 * high bits and the block within the AG in the low sb_agblklog bits
 * (xfs_format.h, XFS_FSB_TO_AGNO/XFS_FSB_TO_AGBNO).  Since sb_agblocks need
 * not be a power of two, the byte offset is (agno * agblocks + agbno) *
 * blocksize, not fsb * blocksize.
 *
 * Metadata is small and scattered (AG headers, btree blocks, inode
 * chunks, directory blocks), so reads go through a direct-mapped cache of
 * 64 KiB pages: one large read serves the four AG header sectors, a whole
 * inode chunk or several directory blocks.  Every metadata block is at
 * most 64 KiB and block aligned, so it always lies in one page.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "xfs.h"

#define PAGE_SHIFT 16
#define PAGE_BYTES (1u << PAGE_SHIFT)
#define CACHE_SLOTS 256 /* 16 MiB */

struct bm_xfs_cache {
	uint8_t *mem;
	unsigned slots; /* a power of two, <= CACHE_SLOTS */
	uint64_t pageno[CACHE_SLOTS];
	uint32_t len[CACHE_SLOTS]; /* 0: slot empty */
};

void bm_xfs_cache_free(struct bm_xfs *fs)
{
	if (fs->cache) {
		free(fs->cache->mem);
		free(fs->cache);
		fs->cache = NULL;
	}
}

/* Read LEN bytes at volume offset OFF, through the page cache. */
int bm_xfs_read(struct bm_xfs *fs, void *buf, size_t len, uint64_t off)
{
	struct bm_volume *v = fs->vol;
	uint8_t *out = buf;

	if (!bm_in_range(off, len, v->size)) {
		errno = ERANGE;
		return -1;
	}
	if (!fs->cache) {
		/* No bigger than the volume (small images, fuzzing). */
		unsigned slots = 1, max = bm_cache_slots(CACHE_SLOTS, PAGE_BYTES);

		while (slots < max &&
		       ((uint64_t)slots << PAGE_SHIFT) < v->size)
			slots *= 2;
		fs->cache = bm_calloc(1, sizeof(*fs->cache));
		fs->cache->slots = slots;
		fs->cache->mem = bm_malloc((size_t)slots * PAGE_BYTES);
	}
	/* Terminates: each pass consumes at least one byte of LEN. */
	while (len > 0) {
		uint64_t pageno = off >> PAGE_SHIFT;
		unsigned slot = (unsigned)(pageno & (fs->cache->slots - 1));
		uint64_t pstart = pageno << PAGE_SHIFT;
		uint8_t *page = fs->cache->mem + (size_t)slot * PAGE_BYTES;
		size_t in = (size_t)(off - pstart), n;

		if (fs->cache->len[slot] == 0 ||
		    fs->cache->pageno[slot] != pageno) {
			uint64_t plen = v->size - pstart;

			if (plen > PAGE_BYTES)
				plen = PAGE_BYTES;
			fs->cache->len[slot] = 0;
			if (bm_read(v, page, (size_t)plen, pstart) < 0) {
				/* A bad sector elsewhere in the page must not
				 * fail this read: go direct. */
				n = len < PAGE_BYTES - in ? len : PAGE_BYTES - in;
				if (bm_read(v, out, n, off) < 0)
					return -1;
				goto next;
			}
			fs->cache->pageno[slot] = pageno;
			fs->cache->len[slot] = (uint32_t)plen;
		}
		n = fs->cache->len[slot] - in;
		if (n > len)
			n = len;
		memcpy(out, page + in, n);
	next:
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* CRC32C of BUF with the 4-byte little-endian field at CRCOFF as zero. */
bool bm_xfs_crc_ok(const uint8_t *buf, size_t len, size_t crcoff)
{
	static const uint8_t zero[4];
	uint32_t crc;

	if (crcoff + 4 > len)
		return false;
	crc = bm_crc32c(0, buf, crcoff);
	crc = bm_crc32c(crc, zero, 4);
	crc = bm_crc32c(crc, buf + crcoff + 4, len - crcoff - 4);
	return crc == bm_le32(buf + crcoff);
}

/* Warn about a CRC mismatch; a badly damaged image could have millions,
 * so only the first few are reported individually. */
void bm_xfs_crc_warn(struct bm_xfs *fs, uint64_t off, const char *what)
{
	fs->crc_errors++;
	if (fs->crc_errors <= 20)
		bm_warn(fs->ctx, fs->dev, off, "xfs: %s: CRC mismatch", what);
	else if (fs->crc_errors == 21)
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: further CRC mismatches not reported");
}

uint64_t bm_xfs_ag_length(const struct bm_xfs *fs, uint32_t agno)
{
	/* super.c checked (agcount-1)*agblocks < dblocks <= agcount*agblocks */
	if (agno + 1 < fs->agcount)
		return fs->agblocks;
	return fs->dblocks - (uint64_t)(fs->agcount - 1) * fs->agblocks;
}

/* Byte offset of COUNT blocks at AGNO/AGBNO; false if they leave the AG. */
bool bm_xfs_agb_to_off(const struct bm_xfs *fs, uint32_t agno, uint64_t agbno,
		       uint64_t count, uint64_t *off)
{
	uint64_t end;

	if (agno >= fs->agcount || !bm_add(agbno, count, &end) ||
	    end > bm_xfs_ag_length(fs, agno))
		return false;
	/* Cannot overflow: the sum is < dblocks, which fits the volume. */
	*off = ((uint64_t)agno * fs->agblocks + agbno) << fs->blocklog;
	return true;
}

bool bm_xfs_fsb_to_off(const struct bm_xfs *fs, uint64_t fsb, uint64_t count,
		       uint64_t *off)
{
	uint64_t agno = fsb >> fs->agblklog;

	if (agno >= fs->agcount)
		return false;
	return bm_xfs_agb_to_off(fs, (uint32_t)agno,
				 fsb & ((UINT64_C(1) << fs->agblklog) - 1),
				 count, off);
}

int bm_xfs_emit_fsb(struct bm_xfs *fs, uint64_t fsb, uint64_t count,
		    bm_obj obj, unsigned flags, const char *what)
{
	uint64_t off;

	if (count == 0)
		return 0;
	if (!bm_xfs_fsb_to_off(fs, fsb, count, &off)) {
		bm_warn(fs->ctx, fs->dev, BM_NO_OFFSET,
			"xfs: %s: blocks %llu+%llu outside the filesystem, "
			"not mapped",
			what, (unsigned long long)fsb,
			(unsigned long long)count);
		return -1;
	}
	return bm_emit_flags(fs->vol, off, count << fs->blocklog, obj, flags);
}
