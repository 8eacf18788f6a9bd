#!/usr/bin/python3
"""Sparse multi-disk fuzz inputs (the format is described in sparse.h).

  sparse.py pack [--zero-files MAP | --meta-only MAP] OUT DISK...
                                 write the non-zero sectors of the disks
                                 (DISK may be - for standard input); with
                                 a virt-bmap MAP of them, the whole 4 KiB
                                 blocks of file data ("f" ranges) count
                                 as zeros (--zero-files), or every 4 KiB
                                 block but those holding metadata and
                                 directories ("m", "d" ranges) does
                                 (--meta-only: stale copies and free
                                 space go too)
  sparse.py unpack IN PREFIX     write PREFIX1.img, PREFIX2.img, ... as
                                 sparse files and print their names
  sparse.py digest IN            print "INDEX SIZE SHA256" per disk, as
                                 tests/sparse-digest (the C reader) does

This is the second, independent reader of the format: test-sparse.sh
checks that both agree, and test-regress.sh unpacks regression inputs
with it so that the bmapgen command line replays them.
"""
import errno
import hashlib
import os
import stat
import struct
import sys

MAGIC = b"BMSPARSE"
MAX_DISKS = 8
MAX_DISK = 1 << 40
SECTOR = 512
BLOCK = 1 << 20
DIGEST_MAX = 64 << 20  # larger disks: size only, as sparse-digest


def parse(data):
    """Return [(size, [(off, bytes), ...]), ...] by the rules of sparse.h."""
    if data[:8] != MAGIC:
        return [(len(data), [(0, data)] if data else [])]
    disks = []
    at = 8
    while at < len(data):
        tag = data[at]
        if tag == ord("D") and len(data) - at >= 9:
            (size,) = struct.unpack_from("<Q", data, at + 1)
            at += 9
            if len(disks) < MAX_DISKS:
                disks.append((min(size, MAX_DISK), []))
        elif tag == ord("C") and len(data) - at >= 13:
            off, n = struct.unpack_from("<QI", data, at + 1)
            at += 13
            n = min(n, len(data) - at)
            chunk = data[at:at + n]
            at += n
            if not disks:
                continue
            size, chunks = disks[-1]
            if off >= size or n == 0:
                continue
            if chunks and off < chunks[-1][0] + len(chunks[-1][1]):
                continue
            chunks.append((off, chunk[:size - off]))
        else:
            break
    return disks


class Runs:
    """Collect the runs of non-zero sectors of a disk fed in pieces."""

    def __init__(self, zero=()):
        self.chunks = []
        self.start, self.run = None, []
        self.zero = zero  # sorted (start, end) ranges that read as zeros

    def end_run(self):
        if self.run:
            self.chunks.append((self.start, b"".join(self.run)))
        self.start, self.run = None, []

    def feed(self, off, buf):
        end = off + len(buf)
        if any(s < end and e > off for s, e in self.zero):
            b = bytearray(buf)
            for s, e in self.zero:
                if s < end and e > off:
                    a, z = max(s, off) - off, min(e, end) - off
                    b[a:z] = bytes(z - a)
            buf = bytes(b)
        if self.run and self.start + SECTOR * len(self.run) != off:
            self.end_run()
        if buf.count(0) == len(buf):
            self.end_run()
            return
        for s in range(0, len(buf), SECTOR):
            sec = buf[s:s + SECTOR]
            if sec.count(0) == len(sec):
                self.end_run()
                continue
            if not self.run:
                self.start = off + s
            self.run.append(sec)


def scan(f, runs):
    """Feed F's data to RUNS and return its size.  Holes of a sparse
    file are skipped without reading them (SEEK_DATA/SEEK_HOLE; reads
    with pread, as the lseeks move the descriptor under F's buffer)."""
    fd = f.fileno()
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        off = 0
        while True:
            buf = f.read(BLOCK)
            if not buf:
                return off
            runs.feed(off, buf)
            off += len(buf)
    size, off = st.st_size, 0
    while off < size:
        try:
            data = os.lseek(fd, off, os.SEEK_DATA)
            hole = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break  # nothing but a hole up to the end
            data, hole = off, size  # no hole support: read it all
        while data < hole:
            buf = os.pread(fd, min(BLOCK, hole - data), data)
            if not buf:
                raise SystemExit("%s: short read at %d" % (f.name, data))
            runs.feed(data, buf)
            data += len(buf)
        off = hole
    return size


def file_blocks(mapfile):
    """{disk index: [(start, end), ...]} of the whole 4 KiB blocks inside
    the file ranges of a virt-bmap map."""
    zero = {}
    with open(mapfile, encoding="utf-8", errors="replace") as f:
        for line in f:
            w = line.split(" ", 4)
            if len(w) < 5 or w[3] != "f":
                continue
            s = (int(w[1], 16) + 4095) // 4096 * 4096
            e = int(w[2], 16) // 4096 * 4096
            if s < e:
                zero.setdefault(int(w[0]), []).append((s, e))
    return zero


def meta_only(mapfile):
    """{disk index: [(start, end), ...]}: all but the 4 KiB blocks that
    hold a byte of an "m" or "d" range of a virt-bmap map (disks without
    any are left alone)."""
    keep = {}
    with open(mapfile, encoding="utf-8", errors="replace") as f:
        for line in f:
            w = line.split(" ", 4)
            if len(w) < 5 or w[3] not in ("m", "d"):
                continue
            s = int(w[1], 16) // 4096 * 4096
            e = (int(w[2], 16) + 4095) // 4096 * 4096
            keep.setdefault(int(w[0]), []).append((s, e))
    zero = {}
    for d, rs in keep.items():
        at = 0
        for s, e in sorted(rs):
            if s > at:
                zero.setdefault(d, []).append((at, s))
            at = max(at, e)
        zero.setdefault(d, []).append((at, 1 << 64))
    return zero


def pack(out, paths, zero=None):
    if len(paths) > MAX_DISKS:
        raise SystemExit("at most %d disks" % MAX_DISKS)
    parts = [MAGIC]
    for i, p in enumerate(paths, 1):
        runs = Runs(sorted((zero or {}).get(i, ())))
        if p == "-":
            size = scan(sys.stdin.buffer, runs)
        else:
            with open(p, "rb") as f:
                size = scan(f, runs)
        runs.end_run()
        parts.append(struct.pack("<cQ", b"D", size))
        for off, b in runs.chunks:
            # a chunk's length is 32 bits: longer runs in pieces
            for at in range(0, len(b), 1 << 31):
                piece = b[at:at + (1 << 31)]
                parts.append(struct.pack("<cQI", b"C", off + at, len(piece)))
                parts.append(piece)
    with open(out, "wb") as o:
        o.write(b"".join(parts))


def unpack(path, prefix):
    with open(path, "rb") as f:
        disks = parse(f.read())
    for i, (size, chunks) in enumerate(disks, 1):
        name = "%s%d.img" % (prefix, i)
        with open(name, "wb") as o:
            o.truncate(size)
            for off, b in chunks:
                o.seek(off)
                o.write(b)
        print(name)


def digest(path):
    with open(path, "rb") as f:
        disks = parse(f.read())
    for i, (size, chunks) in enumerate(disks, 1):
        if size > DIGEST_MAX:
            print(i, size, "-")
            continue
        h = hashlib.sha256()
        at = 0
        for off, b in chunks:
            h.update(bytes(off - at))
            h.update(b)
            at = off + len(b)
        while at < size:
            n = min(size - at, BLOCK)
            h.update(bytes(n))
            at += n
        print(i, size, h.hexdigest())


def main():
    a = sys.argv[1:]
    if len(a) >= 5 and a[0] == "pack" and a[1] == "--zero-files":
        pack(a[3], a[4:], file_blocks(a[2]))
    elif len(a) >= 5 and a[0] == "pack" and a[1] == "--meta-only":
        pack(a[3], a[4:], meta_only(a[2]))
    elif len(a) >= 3 and a[0] == "pack":
        pack(a[1], a[2:])
    elif len(a) == 3 and a[0] == "unpack":
        unpack(a[1], a[2])
    elif len(a) == 2 and a[0] == "digest":
        digest(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
