#!/usr/bin/python3
"""Rewrite the layout field of every md 1.x superblock in disk images,
checksum included: seeds for the RAID geometry code (src/layers/raid.c)
in layouts the project's images, built with mdadm's defaults, do not
have (raid5 left/right asymmetric, right symmetric, parity 0/N; the
raid6 _6 layouts; raid10 far sets).  The data no longer reads as the
filesystem it was: these seeds are for the geometry, the original
images' seeds keep the filesystems.

    md_relayout.py LAYOUT IMAGE...

LAYOUT is a number (0x prefix for hex).  Superblocks are found at every
512-byte boundary (magic 0xa92b4efc, major version 1), as the members
are partitions.  Fields and checksum from the kernel's md_p.h
(struct mdp_superblock_1) and calc_sb_1_csum().
"""
import mmap
import struct
import sys

MAGIC = struct.pack('<I', 0xa92b4efc)


def csum(b, off):
    max_dev, = struct.unpack_from('<I', b, off + 220)
    size = 256 + 2 * max_dev
    if off + size > len(b):
        return None
    s = 0
    for i in range(0, size - size % 4, 4):
        s += 0 if i == 216 else struct.unpack_from('<I', b, off + i)[0]
    if size % 4 == 2:
        s += struct.unpack_from('<H', b, off + size - 2)[0]
    return ((s & 0xffffffff) + (s >> 32)) & 0xffffffff


def main():
    layout = int(sys.argv[1], 0)
    for path in sys.argv[2:]:
        n = 0
        with open(path, 'r+b') as f:
            m = mmap.mmap(f.fileno(), 0)
            i = m.find(MAGIC)
            # each find starts past the last hit: ends
            while i >= 0:
                if i % 512 == 0 and struct.unpack_from('<I', m, i + 4)[0] == 1:
                    c = csum(m, i)
                    if c is not None and c == struct.unpack_from('<I', m, i + 216)[0]:
                        struct.pack_into('<I', m, i + 76, layout)
                        struct.pack_into('<I', m, i + 216, csum(m, i))
                        n += 1
                i = m.find(MAGIC, i + 4)
            m.close()
        if n == 0:
            sys.exit('%s: no md 1.x superblock' % path)


if __name__ == '__main__':
    main()
