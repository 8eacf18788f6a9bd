#!/usr/bin/python3
"""Third, independent check of a bmapgen map of a btrfs filesystem, from
btrfs-progs' own reading of it (`btrfs inspect-internal dump-tree`).

    btrfs_dumptree_check.py --map MAP [--subvol ID=/prefix ...]
                            [--sample N] [--min-compressed K] DEVICE...

DEVICE... are the filesystem's devices in disk order (disk 1, 2, ...),
devid k on disk k unless --devid-disk DEVID=DISK says otherwise; the
first one is given to dump-tree (which finds the others itself when
they are block devices).

Checks:
  * every tree block dump-tree prints, at every RAID/DUP copy, is
    covered by an `m` object (start and last byte);
  * for a sample of file extents of the listed subvolumes (the top-level
    one by default), the referenced part of an uncompressed extent, or
    the whole on-disk extent of a compressed one, or the inline data in
    its leaf, at every copy, is covered by an `f` object with that file's
    path (start, middle, last byte); likewise directory items (DIR_ITEM,
    DIR_INDEX) by a `d` object of their directory.  Compressed extents carry no visible tags, so this is the
    check for them (--min-compressed: fail if fewer were seen).

The logical -> physical mapping is computed here from the chunk items
dump-tree prints (SINGLE, DUP, RAID0/1/1C3/1C4/10/5/6), independently of
bmapgen's code.  Exit 0 all good, 1 a check failed, 2 usage/tool error.

SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import os
import random
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "oracle"))
from bmapfile import BMap  # noqa: E402

HDR_SIZE = 101  # struct btrfs_header
FE_INLINE = 21  # offset of inline data in struct btrfs_file_extent_item
RE_BLOCK = re.compile(r"^(leaf|node) (\d+) (items|level) ")
RE_TREE = re.compile(r"^(?:fs tree|file tree|\S+ tree) key \((\S+) ROOT_ITEM (\d+)\)")
RE_ITEM = re.compile(r"^\titem \d+ key \((\S+) (\S+) (\d+)\) itemoff (\d+) itemsize (\d+)")
RE_CHUNK_LEN = re.compile(r"length (\d+) owner \d+ stripe_len (\d+) type (\S+)")
RE_NSTRIPES = re.compile(r"num_stripes (\d+) sub_stripes (\d+)")
RE_STRIPE = re.compile(r"stripe \d+ devid (\d+) offset (\d+)")
RE_REF = re.compile(r"^\t\tindex \d+ namelen (\d+) name: (.*)$")
RE_FE_TYPE = re.compile(r"type (\d) \((\w+)\)")
RE_DISK = re.compile(r"(?:extent|prealloc) data disk byte (\d+) nr (\d+)")
RE_OFF = re.compile(r"(?:extent|prealloc) data offset (\d+) nr (\d+)(?: ram (\d+))?")
RE_COMP = re.compile(r"extent compression (\d+)")


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
        sys.exit(2)
    return p.stdout.decode("utf-8", errors="surrogateescape")


class Chunk:
    def __init__(self, logical, length, stripe_len, typ):
        self.logical, self.length, self.stripe_len = logical, length, stripe_len
        self.type = typ.upper()
        self.stripes = []
        self.sub = 1

    def profile(self):
        for p in ("RAID10", "RAID1C3", "RAID1C4", "RAID1", "RAID0", "RAID5",
                  "RAID6", "DUP"):
            if re.search(r"\b%s\b" % p, self.type.replace("|", " ")):
                return p
        return "SINGLE"

    def locate(self, logical):
        """[(devid, physical, bytes contiguous there)] for every data copy."""
        off = logical - self.logical
        left = self.length - off
        prof = self.profile()
        n = len(self.stripes)
        if prof in ("SINGLE", "DUP", "RAID1", "RAID1C3", "RAID1C4"):
            return [(d, o + off, left) for d, o in self.stripes]
        sl = self.stripe_len
        nr, within = divmod(off, sl)
        left = min(left, sl - within)
        if prof == "RAID0":
            row, i = divmod(nr, n)
            return [(self.stripes[i][0], self.stripes[i][1] + row * sl + within, left)]
        if prof == "RAID10":
            groups = n // self.sub
            row, g = divmod(nr, groups)
            return [(self.stripes[g * self.sub + k][0],
                     self.stripes[g * self.sub + k][1] + row * sl + within, left)
                    for k in range(self.sub)]
        ndata = n - (1 if prof == "RAID5" else 2)
        row, i = divmod(nr, ndata)
        dev = (row + i) % n
        return [(self.stripes[dev][0], self.stripes[dev][1] + row * sl + within, left)]


def parse(dump):
    chunks, blocks, trees = [], set(), {}
    cur_tree = None
    item = None
    leaf = None
    ch = None
    for line in dump.splitlines():
        m = RE_BLOCK.match(line)
        if m:
            blocks.add(int(m.group(2)))
            leaf = int(m.group(2))
            continue
        m = RE_TREE.match(line)
        if m and not line.startswith("\t"):
            t = m.group(1)
            cur_tree = 5 if t == "FS_TREE" else (int(t) if t.isdigit() else t)
            trees.setdefault(cur_tree, {"refs": {}, "extents": [], "dirs": []})
            continue
        m = RE_ITEM.match(line)
        if m:
            item = (m.group(1), m.group(2), int(m.group(3)))
            # logical address and size of the item's data in its leaf
            idata = (leaf + HDR_SIZE + int(m.group(4)), int(m.group(5)))
            ch = None
            if item[1] == "CHUNK_ITEM":
                ch = Chunk(item[2], 0, 0, "")
                chunks.append(ch)
            elif item[1] == "EXTENT_DATA" and isinstance(cur_tree, int):
                trees[cur_tree]["extents"].append({"ino": int(item[0]), "off": item[2],
                                                   "item": idata})
            elif item[1] in ("DIR_ITEM", "DIR_INDEX") and isinstance(cur_tree, int) \
                    and item[0].isdigit():
                trees[cur_tree]["dirs"].append((int(item[0]), idata))
            continue
        if item is None:
            continue
        if ch is not None:
            m = RE_CHUNK_LEN.search(line)
            if m:
                ch.length, ch.stripe_len, ch.type = int(m.group(1)), int(m.group(2)), m.group(3)
            m = RE_NSTRIPES.search(line)
            if m:
                ch.sub = int(m.group(2))
            m = RE_STRIPE.search(line)
            if m:
                ch.stripes.append((int(m.group(1)), int(m.group(2))))
            continue
        if not isinstance(cur_tree, int):
            continue
        t = trees[cur_tree]
        if item[1] == "INODE_REF" and item[0].isdigit():
            m = RE_REF.match(line)
            if m and len(m.group(2).encode("utf-8", "surrogateescape")) == int(m.group(1)):
                t["refs"].setdefault(int(item[0]), []).append((item[2], m.group(2)))
        elif item[1] == "EXTENT_DATA" and t["extents"]:
            e = t["extents"][-1]
            for rx, keys in ((RE_FE_TYPE, ("type", "kind")), (RE_DISK, ("disk", "disk_nr")),
                             (RE_OFF, ("eoff", "nr", "ram")), (RE_COMP, ("comp",))):
                m = rx.search(line)
                if m:
                    for k, v in zip(keys, m.groups()):
                        if v is not None:
                            e[k] = int(v) if v.isdigit() else v
    chunks.sort(key=lambda c: c.logical)
    return chunks, blocks, trees


def find_chunk(chunks, logical):
    for c in chunks:
        if c.logical <= logical < c.logical + c.length:
            return c
    return None


def copies(chunks, logical, length):
    """[(devid, phys, len)] pieces of [logical, logical+length) at every copy."""
    out = []
    while length > 0:
        c = find_chunk(chunks, logical)
        if c is None:
            return None
        locs = c.locate(logical)
        step = min(length, min(l for _, _, l in locs))
        out.extend((d, p, step) for d, p, _ in locs)
        logical += step
        length -= step
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--map", required=True)
    ap.add_argument("--subvol", action="append", default=[],
                    help="ID=/prefix: also check files of this subvolume")
    ap.add_argument("--devid-disk", action="append", default=[])
    ap.add_argument("--sample", type=int, default=60)
    ap.add_argument("--min-compressed", type=int, default=0)
    ap.add_argument("devices", nargs="+")
    a = ap.parse_args()

    devdisk = {i + 1: i + 1 for i in range(len(a.devices))}
    for s in a.devid_disk:
        k, v = s.split("=")
        devdisk[int(k)] = int(v)
    subvols = {5: ""}
    for s in a.subvol:
        k, v = s.split("=", 1)
        subvols[int(k)] = v.rstrip("/")

    sup = run(["btrfs", "inspect-internal", "dump-super", a.devices[0]])
    nodesize = int(re.search(r"^nodesize\s+(\d+)", sup, re.M).group(1))
    chunks, blocks, trees = parse(run(["btrfs", "inspect-internal", "dump-tree", a.devices[0]]))
    bmap = BMap(a.map)
    bad = []

    # Coverage questions are collected and answered in one sweep per disk
    # at the end (a sweep per question is quadratic).
    pending = []

    def check(devid, phys, length, want, msg):
        disk = devdisk.get(devid)
        if disk is None:
            return  # a device we were not given
        pending.append((disk, (phys, phys + length // 2, phys + length - 1), want, msg))

    # tree blocks
    nb = 0
    for b in sorted(blocks):
        locs = copies(chunks, b, nodesize)
        if not locs:
            bad.append("tree block %d: no chunk" % b)
            continue
        for d, p, l in locs:
            nb += 1
            check(d, p, l, lambda o: o.type == "m",
                  "tree block %d copy on devid %d at 0x%x not mapped as m" % (b, d, p))

    # file extents
    rnd = random.Random(1)
    stats = {"regular": 0, "prealloc": 0, "compressed": 0, "inline": 0,
             "dir items": 0, "copies": 0}
    for tid, prefix in subvols.items():
        t = trees.get(tid)
        if t is None:
            bad.append("subvolume %d not in dump-tree output" % tid)
            continue

        def paths(ino, depth=0):
            """Every path of INO (hard links: several)."""
            if ino == 256:
                return {prefix or "/"}
            if depth > 200:
                return set()
            out = set()
            for parent, name in t["refs"].get(ino, ()):
                out |= {pp.rstrip("/") + "/" + name for pp in paths(parent, depth + 1)}
            return out

        cands = [e for e in t["extents"] if e.get("disk")]
        comp = [e for e in cands if e.get("comp")]
        pre = [e for e in cands if e.get("kind") == "prealloc"]
        plain = [e for e in cands if not e.get("comp") and e.get("kind") != "prealloc"]
        inl = [e for e in t["extents"] if e.get("kind") == "inline"]
        pick = comp[:a.sample] + pre[:a.sample] + rnd.sample(plain, min(len(plain), a.sample))
        pick += rnd.sample(inl, min(len(inl), a.sample))
        for e in pick:
            ps = paths(e["ino"])
            if not ps:
                continue
            p = sorted(ps)[0]
            if e.get("kind") == "inline":
                lo, ln = e["item"][0] + FE_INLINE, e["item"][1] - FE_INLINE
                stats["inline"] += 1
            elif e.get("comp"):
                lo, ln = e["disk"], e["disk_nr"]
                stats["compressed"] += 1
            else:
                lo, ln = e["disk"] + e["eoff"], e["nr"]
                stats["prealloc" if e.get("kind") == "prealloc" else "regular"] += 1
            locs = copies(chunks, lo, ln)
            if not locs:
                bad.append("%s: extent at %d: no chunk" % (p, lo))
                continue
            for d, ph, l in locs:
                stats["copies"] += 1
                check(d, ph, l, lambda o, ps=ps: o.type == "f" and o.path in ps,
                      "%s: extent logical %d (%d bytes%s) piece at devid %d 0x%x not mapped to it"
                      % (p, lo, ln, ", compressed" if e.get("comp") else "", d, ph))

        # directory items: in the leaves, mapped to their directory
        dirs = t["dirs"]
        for ino, (lo, ln) in rnd.sample(dirs, min(len(dirs), a.sample)):
            ps = paths(ino)
            if not ps:
                continue
            stats["dir items"] += 1
            for d, ph, l in copies(chunks, lo, ln) or ():
                check(d, ph, l, lambda o, ps=ps: o.type == "d" and o.path in ps,
                      "dir %s: item at logical %d not mapped to it (devid %d 0x%x)"
                      % (sorted(ps)[0], lo, d, ph))

    answers = {}
    for disk in {q[0] for q in pending}:
        pts = sorted({p for q in pending if q[0] == disk for p in q[1]})
        for p, objs in bmap.covering(disk, pts):
            answers[(disk, p)] = [bmap.objects[o] for o in objs]
    for disk, pts, want, msg in pending:
        if not all(any(want(o) for o in answers[(disk, p)]) for p in pts):
            bad.append(msg)

    print("dump-tree check: %d tree blocks (%d copies), extents %s" % (len(blocks), nb, stats))
    if stats["compressed"] < a.min_compressed:
        bad.append("only %d compressed extents checked, wanted %d" % (stats["compressed"], a.min_compressed))
    for b in bad[:30]:
        print("  BAD " + b)
    if bad:
        print("dump-tree check: FAIL (%d problems)" % len(bad))
        return 1
    print("dump-tree check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
