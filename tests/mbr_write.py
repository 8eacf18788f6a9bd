#!/usr/bin/python3
"""Write DOS partition-table entries into a disk image, for tests that
need tables no partitioning tool writes (an EBR's third slot, type-0
entries, two extended partitions).

usage: mbr_write.py IMG SECTOR [SLOT TYPE START COUNT]...

Each entry goes to slot SLOT (0-3) of the table in sector SECTOR (512
bytes: the MBR at 0, an EBR elsewhere) with status 0, no CHS, and LBA
START and COUNT (relative as the table's kind says); the 55 AA signature
is set.  Numbers may be written in any base Python reads (0x...)."""
import struct
import sys


def main():
    img, sector, rest = sys.argv[1], int(sys.argv[2], 0), sys.argv[3:]
    if len(rest) % 4:
        sys.exit(__doc__)
    with open(img, 'r+b') as f:
        f.seek(sector * 512)
        s = bytearray(f.read(512).ljust(512, b'\0'))
        for i in range(0, len(rest), 4):
            slot, typ, start, count = (int(x, 0) for x in rest[i:i + 4])
            s[446 + 16 * slot:462 + 16 * slot] = struct.pack(
                '<B3sB3sII', 0, b'\0' * 3, typ, b'\0' * 3, start, count)
        s[510:512] = b'\x55\xaa'
        f.seek(sector * 512)
        f.write(s)


if __name__ == '__main__':
    main()
