/* A libext2fs io_manager that reads through a bmapgen volume, so the
 * same ext2/3/4 code works on a partition, an LV or an md array.  Writes
 * are refused: the filesystem is only ever opened read-only.
 *
 * libext2fs names a channel by a string; ours is "bmvol:<pointer>" and
 * the pointer is the volume (state lives in the handle, not in statics).
 * A small direct-mapped block cache absorbs libext2fs' habit of reading
 * the same block (inode table, directory, extent node) several times.
 * Ranges the walker marks as read in full (the used parts of the inode
 * tables, which libext2fs reads a block at a time in directory order)
 * are read in large aligned chunks into a second bounded cache.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "../bmapgen.h"
#include "ext.h"

#define CACHE_SLOTS 256
#define CHUNK_BYTES (64u << 10)
#define CHUNK_SLOTS 256 /* 16 MiB */

struct ext_chan {
	struct bm_volume *v;
	uint64_t *tag;  /* block number + 1 per slot; 0 = empty */
	uint8_t *data;  /* CACHE_SLOTS * block_size */
	int cache_bs;
	uint64_t last_error; /* volume offset of the last failed read */
	/* Ranges read in chunks (block numbers at cache_bs), sorted by
	 * start when SEQ_SORTED. */
	struct seq {
		uint64_t blk, n;
	} *seq;
	size_t nseq, capseq;
	bool seq_sorted;
	/* Chunk cache: slot i holds blocks [clo[i], chi[i]) (chi 0: empty)
	 * in cdata + i * CHUNK_BYTES; allocated on first use. */
	uint64_t clo[CHUNK_SLOTS], chi[CHUNK_SLOTS];
	uint8_t *cdata;
	unsigned nchunks; /* slots in use: bm_cache_slots(CHUNK_SLOTS) */
};

uint64_t bm_ext_io_last_error(io_channel io)
{
	struct ext_chan *c = io->private_data;
	return c->last_error;
}

void bm_ext_io_clear_error(io_channel io)
{
	struct ext_chan *c = io->private_data;
	c->last_error = BM_NO_OFFSET;
}

static void cache_reset(struct ext_chan *c, int bs)
{
	free(c->tag);
	free(c->data);
	c->tag = bm_calloc(CACHE_SLOTS, sizeof *c->tag);
	c->data = bm_malloc((size_t)CACHE_SLOTS * (size_t)bs);
	c->cache_bs = bs;
	/* Block numbers change meaning with the block size. */
	c->nseq = 0;
	memset(c->chi, 0, sizeof c->chi);
}

void bm_ext_io_add_seq(io_channel io, uint64_t blk, uint64_t n)
{
	struct ext_chan *c = io->private_data;
	if (io->block_size != c->cache_bs || n == 0)
		return;
	if (c->nseq == c->capseq) {
		c->capseq = c->capseq ? 2 * c->capseq : 64;
		c->seq = bm_reallocarray(c->seq, c->capseq, sizeof *c->seq);
	}
	c->seq[c->nseq++] = (struct seq){ blk, n };
	c->seq_sorted = false;
}

static int seq_cmp(const void *a, const void *b)
{
	const struct seq *x = a, *y = b;
	return x->blk < y->blk ? -1 : x->blk > y->blk;
}

/* The marked range holding BLOCK (the last one starting at or before
 * it), or NULL. */
static const struct seq *seq_find(struct ext_chan *c, uint64_t block)
{
	if (!c->seq_sorted) {
		bm_qsort(c->seq, c->nseq, sizeof *c->seq, seq_cmp);
		c->seq_sorted = true;
	}
	size_t lo = 0, hi = c->nseq;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->seq[mid].blk <= block)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || block - c->seq[lo - 1].blk >= c->seq[lo - 1].n)
		return NULL;
	return &c->seq[lo - 1];
}

/* Copy single block BLOCK from the chunk cache, reading its chunk (an
 * aligned CHUNK_BYTES window clipped to the marked range and to the
 * volume) on a miss.  Returns false to fall back to reading the block
 * alone: not marked, or the chunk did not read (the single read then
 * reports exactly which block failed). */
static bool chunk_read(struct ext_chan *c, uint64_t block, void *data)
{
	uint64_t bs = (uint64_t)c->cache_bs, per = CHUNK_BYTES / bs;
	if (per < 2 || !c->nseq)
		return false;
	size_t slot = (size_t)(block / per % c->nchunks);
	if (block < c->clo[slot] || block >= c->chi[slot]) {
		const struct seq *r = seq_find(c, block);
		if (!r)
			return false;
		uint64_t lo = block / per * per, hi = lo + per;
		uint64_t rend = r->blk + r->n < r->blk ? UINT64_MAX
						       : r->blk + r->n;
		uint64_t vend = c->v->size / bs;
		if (lo < r->blk)
			lo = r->blk;
		if (hi > rend)
			hi = rend;
		if (hi > vend)
			hi = vend;
		if (block < lo || block >= hi)
			return false;
		if (!c->cdata)
			c->cdata = bm_malloc((size_t)c->nchunks * CHUNK_BYTES);
		c->chi[slot] = 0;
		if (bm_read(c->v, c->cdata + slot * (size_t)CHUNK_BYTES,
			    (size_t)((hi - lo) * bs), lo * bs) < 0)
			return false;
		c->clo[slot] = lo;
		c->chi[slot] = hi;
	}
	memcpy(data, c->cdata + slot * (size_t)CHUNK_BYTES +
			     (size_t)((block - c->clo[slot]) * bs),
	       (size_t)bs);
	return true;
}

static errcode_t ext_io_open(const char *name, int flags, io_channel *chan)
{
	void *ptr = NULL;
	if (!name || sscanf(name, "bmvol:%p", &ptr) != 1 || !ptr)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EXT2_ET_RO_FILSYS;
	io_channel io = NULL;
	errcode_t err = ext2fs_get_memzero(sizeof *io, &io);
	if (err)
		return err;
	struct ext_chan *c = bm_calloc(1, sizeof *c);
	c->nchunks = bm_cache_slots(CHUNK_SLOTS, CHUNK_BYTES);
	c->v = ptr;
	c->last_error = BM_NO_OFFSET;
	cache_reset(c, 1024);
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = bm_ext_io_manager(c->v);
	err = ext2fs_get_mem(strlen(name) + 1, &io->name);
	if (err) {
		free(c->tag);
		free(c->data);
		free(c);
		ext2fs_free_mem(&io);
		return err;
	}
	strcpy(io->name, name);
	io->block_size = 1024;
	io->refcount = 1;
	io->private_data = c;
	*chan = io;
	return 0;
}

static errcode_t ext_io_close(io_channel io)
{
	if (--io->refcount > 0)
		return 0;
	struct ext_chan *c = io->private_data;
	free(c->tag);
	free(c->data);
	free(c->seq);
	free(c->cdata);
	free(c);
	ext2fs_free_mem(&io->name);
	ext2fs_free_mem(&io);
	return 0;
}

static errcode_t ext_io_set_blksize(io_channel io, int blksize)
{
	struct ext_chan *c = io->private_data;
	if (blksize <= 0 || blksize > 65536)
		return EXT2_ET_INVALID_ARGUMENT;
	io->block_size = blksize;
	cache_reset(c, blksize);
	return 0;
}

static errcode_t ext_io_read_blk64(io_channel io, unsigned long long block,
				   int count, void *data)
{
	struct ext_chan *c = io->private_data;
	uint64_t len, off;
	/* count < 0 means -count bytes (libext2fs convention). */
	if (count < 0)
		len = (uint64_t)-(int64_t)count;
	else if (!bm_mul((uint64_t)count, (uint64_t)io->block_size, &len))
		return EXT2_ET_LLSEEK_FAILED;
	if (!bm_mul(block, (uint64_t)io->block_size, &off) ||
	    !bm_in_range(off, len, c->v->size)) {
		memset(data, 0, len);
		c->last_error = off;
		return EXT2_ET_SHORT_READ;
	}
	bool single = len == (uint64_t)io->block_size &&
		      c->cache_bs == io->block_size;
	size_t slot = (size_t)(block % CACHE_SLOTS);
	if (single && c->tag[slot] == block + 1) {
		memcpy(data, c->data + slot * (size_t)c->cache_bs, len);
		return 0;
	}
	if (single && chunk_read(c, block, data))
		return 0;
	if (bm_read(c->v, data, len, off) < 0) {
		memset(data, 0, len);
		c->last_error = off;
		return EXT2_ET_SHORT_READ;
	}
	if (single) {
		memcpy(c->data + slot * (size_t)c->cache_bs, data, len);
		c->tag[slot] = block + 1;
	}
	return 0;
}

static errcode_t ext_io_read_blk(io_channel io, unsigned long block,
				 int count, void *data)
{
	return ext_io_read_blk64(io, block, count, data);
}

static errcode_t ext_io_write_blk(io_channel io, unsigned long block,
				  int count, const void *data)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t ext_io_write_blk64(io_channel io, unsigned long long block,
				    int count, const void *data)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t ext_io_write_byte(io_channel io, unsigned long offset,
				   int count, const void *data)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t ext_io_flush(io_channel io)
{
	return 0; /* nothing is ever dirty */
}

static errcode_t ext_io_set_option(io_channel io, const char *option,
				   const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;
}

/* libext2fs takes a non-const io_manager; this table is never written.
 * The volume is passed via the channel name, not this table. */
static struct struct_io_manager ext_io_manager_table = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "bmapgen volume I/O manager",
	.open = ext_io_open,
	.close = ext_io_close,
	.set_blksize = ext_io_set_blksize,
	.read_blk = ext_io_read_blk,
	.write_blk = ext_io_write_blk,
	.flush = ext_io_flush,
	.write_byte = ext_io_write_byte,
	.set_option = ext_io_set_option,
	.read_blk64 = ext_io_read_blk64,
	.write_blk64 = ext_io_write_blk64,
};

io_manager bm_ext_io_manager(struct bm_volume *v)
{
	(void)v;
	return &ext_io_manager_table;
}

char *bm_ext_io_name(struct bm_volume *v)
{
	return bm_asprintf("bmvol:%p", (void *)v);
}
