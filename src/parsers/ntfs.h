/* NTFS through libntfs-3g: what ntfs.c and ntfs_dev.c share.
 *
 * libntfs-3g's headers expect a few system headers to be included first
 * (they are normally built with the package's config.h), so every NTFS
 * source includes them through this file.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_PARSERS_NTFS_H
#define BM_PARSERS_NTFS_H

#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <sys/stat.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/volume.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/runlist.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/logfile.h>

#include "bmapgen.h"

/* An ntfs_device whose operations read through bm_read(V) and refuse
 * every write (EROFS); its private part (dev->d_private) is one malloc'd
 * block.  NULL (errno set) on failure. */
struct ntfs_device *bm_ntfs_device_new(struct bm_volume *v);
/* Serve reads of [FROM, FROM+LEN) from [TO, TO+LEN) instead (volume
 * offsets; ignored unless both are inside the volume).  Used to mount a
 * volume whose $MFTMirr differs from $MFT: libntfs-3g then sees $MFT's
 * records in the mirror. */
void bm_ntfs_device_redirect(struct ntfs_device *dev, uint64_t from,
			     uint64_t to, uint64_t len);
/* Free a device that is not mounted (after a failed ntfs_device_mount).
 * A mounted one is freed by ntfs_umount(), except its private part:
 * free(dev->d_private), saved before unmounting. */
void bm_ntfs_device_free(struct ntfs_device *dev);

/* State of one volume's walk (ntfs.c), shared with ntfs_inode.c. */
struct bm_ntfs_walk {
	struct bm_volume *v;
	struct bm_ctx *ctx;
	ntfs_volume *nv;
	uint64_t cs;        /* cluster size */
	uint64_t rs;        /* MFT record size */
	uint64_t nrecs;     /* records in $MFT */
	struct bm_u64set dirs; /* directories entered: cycle guard */
	struct bm_u64set seen; /* base records mapped */
	uint64_t names_left;   /* directory entries we still accept */
	/* MFT records emitted as a file's or directory's own: cut out of
	 * <ntfs $MFT>. */
	uint64_t *claimed;
	size_t nclaimed, capclaimed;
};

/* Map the inode MREF names (ntfs_inode.c): its attributes' clusters and
 * the MFT records of its resident streams.  PATH is "/dir/file" or, with
 * SYS, the metadata name of a system file.  Sets *IS_DIR.  0, or -1 when
 * it could not be opened (warned). */
int bm_ntfs_map_inode(struct bm_ntfs_walk *w, uint64_t mref, const char *path,
		      bool sys, bool *is_dir);
/* Emit what is left of $MFT (the records no file or directory took) as
 * <ntfs $MFT>.  Call once, after every inode is mapped. */
void bm_ntfs_mft_emit_rest(struct bm_ntfs_walk *w);
/* The volume offset of MFT record MFT_NO (through $MFT's runlist), for
 * messages; BM_NO_OFFSET if no run holds it. */
uint64_t bm_ntfs_record_off(const struct bm_ntfs_walk *w, uint64_t mft_no);
/* Bytes of $MFT's data that lie on the volume. */
uint64_t bm_ntfs_mft_bytes(const struct bm_ntfs_walk *w);

#endif
