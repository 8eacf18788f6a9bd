#!/usr/bin/python3
"""Extra content-tagged files for the btrfs tests, added to a tagtree
manifest: the layouts tagtree.py does not make on its own.

    btrfs_extra.py --manifest M.json DIR

DIR is the (mounted btrfs) directory the manifest's tree was written to.
Adds, under DIR/extra:
  many-extents   600 KiB written 4 KiB at a time from the end to the
                 start with an fsync after each block: 150+ extents...
                 and 600 blocks of a second file interleaved (so at least
                 500 extents per file on any allocator)
  prealloc       1 MiB fallocate()d, tagged data written in the middle
                 (the rest stays a preallocated, unwritten range)
  partial        1 MiB whose middle 64 KiB is rewritten later: the first
                 extent is then referenced in two parts (the stale middle
                 holds no tags, so an unreferenced part carries none)
  reflink-src    512 KiB, cloned to reflink-copy with FICLONE (same
                 extents, two inodes: both paths are in the manifest)
  rewrite        (returned for the snapshot test: see --rewrite)

    btrfs_extra.py --rewrite PATH OFFSET LENGTH

rewrites bytes of PATH in place with the same content (copy-on-write
puts them in a new extent).

    btrfs_extra.py --prefixes IN.json OUT.json PREFIX...

writes a manifest whose files have their paths under every PREFIX (a
tree that is visible in a subvolume and in its snapshot), for
tagscan.py --root /.

    btrfs_extra.py --scrub-leaves DEVICE IMG...

zeroes the free space inside every live leaf (between the item headers
and the item data, as `btrfs inspect-internal dump-tree DEVICE` shows
them) in the images (devid k = IMG k).  Leaves keep stale bytes there
(items moved by splits and shifts), including stale copies of inline
file data whose tags can land sector-aligned next to another file's
inline data and fool the scanner.  Sound as a test step: no file's live
data is in a leaf's free space.

    btrfs_extra.py --zero-parity MAP IMG...

zeroes, in the images (disk 1, 2, ...), the ranges MAP gives to
<btrfs raid parity>: RAID5/6 parity of a partly used row equals the data
unit beside it, tags included, and those derived copies belong to no
file.  Sound as a test step: data wrongly mapped as parity loses its only
copy there and tagscan then reports it absent.

SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import fcntl
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "oracle"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tagtree  # noqa: E402

FICLONE = 0x40049409
BLK = 4096


def entry(fid, path, size, data, kind="regular"):
    return {"id": fid, "path": path, "paths": [path], "size": size,
            "data": data, "kind": kind}


def add(man, root, seed):
    files = man["files"]
    fid = max(e["id"] for e in files) + 1
    os.makedirs(root + "/extra", exist_ok=True)
    new = []

    # many extents: two files written block by block, interleaved, each
    # block fsync'ed, the first one backwards
    n = 600
    a = entry(fid, "/extra/many-extents", n * BLK, [[0, n * BLK]], "fragmented")
    b = entry(fid + 1, "/extra/many-extents-b", n * BLK, [[0, n * BLK]], "fragmented")
    fid += 2
    ca, cb = tagtree.Content(seed, a["id"]), tagtree.Content(seed, b["id"])
    fa = os.open(root + a["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    fb = os.open(root + b["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fa, n * BLK)
    for i in range(n):
        off = (n - 1 - i) * BLK
        os.pwrite(fa, ca.get(off, BLK), off)
        os.fsync(fa)
        os.pwrite(fb, cb.get(i * BLK, BLK), i * BLK)
        os.fsync(fb)
    os.close(fa)
    os.close(fb)
    new += [a, b]

    # preallocated range with data in the middle
    e = entry(fid, "/extra/prealloc", 1 << 20, [[256 << 10, 512 << 10]], "sparse")
    fid += 1
    fd = os.open(root + e["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.posix_fallocate(fd, 0, 1 << 20)
    os.fsync(fd)
    os.pwrite(fd, tagtree.Content(seed, e["id"]).get(256 << 10, 256 << 10), 256 << 10)
    os.fsync(fd)
    os.close(fd)
    new.append(e)

    # partial references: the middle is written as filler first
    e = entry(fid, "/extra/partial", 1 << 20, [[0, 1 << 20]])
    fid += 1
    c = tagtree.Content(seed, e["id"])
    mid = (512 << 10, 64 << 10)
    data = bytearray(c.get(0, 1 << 20))
    data[mid[0]:mid[0] + mid[1]] = b"\xaa" * mid[1]
    fd = os.open(root + e["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, bytes(data))
    os.fsync(fd)
    os.pwrite(fd, c.get(mid[0], mid[1]), mid[0])
    os.fsync(fd)
    os.close(fd)
    new.append(e)

    # reflink
    e = entry(fid, "/extra/reflink-src", 512 << 10, [[0, 512 << 10]])
    fid += 1
    with open(root + e["path"], "wb") as f:
        f.write(tagtree.Content(seed, e["id"]).get(0, 512 << 10))
        f.flush()
        os.fsync(f.fileno())
    with open(root + e["path"], "rb") as src, \
            open(root + "/extra/reflink-copy", "wb") as dst:
        fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
    e["paths"].append("/extra/reflink-copy")
    new.append(e)

    for x in new:
        x["tagged_sectors"] = sum(1 for _ in tagtree.tagged_sectors(x))
    files.extend(new)


def rewrite(path, off, length):
    fd = os.open(path, os.O_RDWR)
    data = os.pread(fd, length, off)
    os.pwrite(fd, data, off)
    os.fsync(fd)
    os.close(fd)


def prefixes(src, dst, pre):
    man = tagtree.load_manifest(src)
    for e in man["files"]:
        e["paths"] = [p.rstrip("/") + q for p in pre for q in e["paths"]]
        if "links" in e:  # each prefix's copy has its own hard links
            e["links"] = [[p.rstrip("/") + q for q in g]
                          for p in pre for g in e["links"]]
        e["path"] = e["paths"][0]
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(man, f, indent=1, ensure_ascii=False)


def scrub_leaves(device, imgs):
    import re
    import subprocess
    import btrfs_dumptree_check as dt
    out = subprocess.run(["btrfs", "inspect-internal", "dump-tree", device],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=True).stdout.decode(
                             "utf-8", "surrogateescape")
    chunks, _, _ = dt.parse(out)
    leaf_re = re.compile(r"^leaf (\d+) items (\d+) ")
    item_re = re.compile(r"^\titem \d+ key .* itemoff (\d+) itemsize")
    leaves = {}
    cur = None
    for line in out.splitlines():
        m = leaf_re.match(line)
        if m:
            cur = int(m.group(1))
            leaves[cur] = [int(m.group(2)), None]
            continue
        if line.startswith("node "):
            cur = None
            continue
        m = item_re.match(line)
        if m and cur is not None:
            off = int(m.group(1))
            if leaves[cur][1] is None or off < leaves[cur][1]:
                leaves[cur][1] = off
    files = [open(i, "r+b") for i in imgs]
    for leaf, (n, low) in leaves.items():
        start = dt.HDR_SIZE + 25 * n
        end = dt.HDR_SIZE + (low if low is not None else 0)
        if low is None or end <= start:
            continue
        for devid, phys, _ in dt.copies(chunks, leaf + start, end - start) or ():
            if 1 <= devid <= len(files):
                files[devid - 1].seek(phys)
                files[devid - 1].write(bytes(end - start))
    for f in files:
        f.close()


def zero_parity(mapfile, imgs):
    from bmapfile import BMap
    b = BMap(mapfile)
    par = [o.idx for o in b.objects if o.type == "m" and o.path == "btrfs raid parity"]
    for oi in par:
        for disk, start, end in b.ranges_of(oi):
            with open(imgs[disk - 1], "r+b") as f:
                f.seek(start)
                left = end - start
                while left:
                    n = min(left, 1 << 20)
                    f.write(bytes(n))
                    left -= n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scrub-leaves", nargs="+", metavar="ARG")
    ap.add_argument("--zero-parity", nargs="+", metavar="ARG")
    ap.add_argument("--prefixes", nargs="+", metavar="ARG")
    ap.add_argument("--manifest")
    ap.add_argument("--rewrite", nargs=3, metavar=("PATH", "OFFSET", "LENGTH"))
    ap.add_argument("dir", nargs="?")
    a = ap.parse_args()
    if a.scrub_leaves:
        scrub_leaves(a.scrub_leaves[0], a.scrub_leaves[1:])
        return 0
    if a.zero_parity:
        zero_parity(a.zero_parity[0], a.zero_parity[1:])
        return 0
    if a.prefixes:
        prefixes(a.prefixes[0], a.prefixes[1], a.prefixes[2:])
        return 0
    if a.rewrite:
        rewrite(a.rewrite[0], int(a.rewrite[1]), int(a.rewrite[2]))
        return 0
    man = tagtree.load_manifest(a.manifest)
    add(man, a.dir.rstrip("/"), man.get("seed", 0))
    with open(a.manifest, "w", encoding="utf-8") as f:
        json.dump(man, f, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
