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

#include "bmapgen.h"

/* An ntfs_device whose operations read through bm_read(V) and refuse
 * every write (EROFS); its private part (dev->d_private) is one malloc'd
 * block.  NULL (errno set) on failure. */
struct ntfs_device *bm_ntfs_device_new(struct bm_volume *v);
/* Free a device that is not mounted (after a failed ntfs_device_mount).
 * A mounted one is freed by ntfs_umount(), except its private part:
 * free(dev->d_private), saved before unmounting. */
void bm_ntfs_device_free(struct ntfs_device *dev);

#endif
