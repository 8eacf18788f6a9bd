/* ext2/3/4 internals shared by ext.c and ext_io.c.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_EXT_H
#define BM_EXT_H

#include <ext2fs/ext2fs.h>

#include "../bmapgen.h"

/* The io_manager reading through a volume, and the channel name that
 * makes ext2fs_open2() open volume V with it. */
io_manager bm_ext_io_manager(struct bm_volume *v);
char *bm_ext_io_name(struct bm_volume *v);
/* Volume offset of the last read that failed on IO (BM_NO_OFFSET: none),
 * so messages can name where a libext2fs error came from. */
uint64_t bm_ext_io_last_error(io_channel io);
void bm_ext_io_clear_error(io_channel io);
/* Blocks [BLK, BLK+N) (at the current block size) will be read in full,
 * a block at a time in any order: read them in large chunks. */
void bm_ext_io_add_seq(io_channel io, uint64_t blk, uint64_t n);

#endif
