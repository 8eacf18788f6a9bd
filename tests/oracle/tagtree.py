#!/usr/bin/python3
"""Content-tagged directory trees: exact ground truth for file data.

Every 512-byte sector of every regular file starts with a tag naming the
file and the sector's index in the file:

    BMT:<file-id>:<sector>:<filler to the end of the sector>

so a scanner that reads a raw disk image (tagscan.py) knows where every
file sector physically lies without parsing anything.  The manifest
(JSON) records, per file id, its size, its paths (hard links share an
id) and its data ranges (holes of sparse files carry no tags).

    tagtree.py gen --manifest M.json [--profile P] [--seed N] DIR

DIR is created if needed; it may be an empty mount point (an existing
lost+found is left alone).  Writing straight into a loop-mounted
filesystem makes the "fragmented" files really fragmented (interleaved
small appends, each followed by fsync).

Profiles:
  default  everything: sizes 0 / < 60 bytes / one sector / odd / multi-MiB,
           names with spaces, non-ASCII, backslash and tab, a deep tree, a
           directory with 2500 entries, hard links, symlinks, sparse and
           fragmented files (about 30 MiB)
  fat      only names valid on VFAT; no symlinks, hard links, sparse files
  ntfs     no symlinks
  small    a few MiB: a bit of everything, for fast tests

Python 3 standard library only.  SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import json
import os
import random
import sys

SECTOR = 512
MAGIC = b"BMT:"
FIXED_TIME = 1700000000  # mtime/atime of everything, for reproducible images


def tag(file_id, sector):
    return b"BMT:%d:%d:" % (file_id, sector)


def tag_fits(file_id, sector, nbytes):
    """Does the whole tag of SECTOR fit in the NBYTES the file has there?"""
    return nbytes >= len(tag(file_id, sector))


def tagged_sectors(entry):
    """Sectors of a manifest file entry that carry a complete tag.
    Yields (sector index, bytes of the file in that sector)."""
    size = entry["size"]
    fid = entry["id"]
    for start, end in entry["data"]:
        # data ranges are sector aligned at their start (block aligned)
        s = start // SECTOR
        while s * SECTOR < end:
            n = min(SECTOR, size - s * SECTOR)
            if tag_fits(fid, s, n):
                yield s, n
            s += 1


_ALNUM = b"abcdefghijklmnopqrstuvwxyz0123456789"
_FILL = bytes(_ALNUM[i % len(_ALNUM)] for i in range(256))


class Content:
    """The bytes of file FID: sector k is tag(FID, k) + filler."""

    def __init__(self, seed, fid):
        rng = random.Random(seed * 1000003 + fid)
        # Printable filler, never all zeroes (mke2fs -d turns zero blocks
        # into holes), never looking like a tag.
        self.filler = rng.randbytes(SECTOR - 1).translate(_FILL) + b"\n"
        self.fid = fid

    def get(self, off, length):
        """Bytes [OFF, OFF+LENGTH) of the file (sector-aligned OFF)."""
        assert off % SECTOR == 0
        out = []
        s = off // SECTOR
        left = length
        while left > 0:
            t = tag(self.fid, s)
            sec = t + self.filler[len(t):]
            out.append(sec[:left])
            left -= len(sec[:left])
            s += 1
        return b"".join(out)


# ---------------------------------------------------------------------------
# Tree description: a list of actions, deterministic for a (profile, seed).

MIB = 1 << 20


class Plan:
    def __init__(self, profile, seed, first_id=1):
        self.profile = profile
        self.seed = seed
        self.rng = random.Random(seed)
        self.files = []      # dicts: id, path, paths, size, data, kind
        self.dirs = ["/"]
        self.symlinks = []   # dicts: path, target
        self.frag = []       # (ids) written interleaved
        self.next_id = first_id

    def mkdir(self, path):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = "/" + "/".join(parts[:i])
            if p not in self.dirs:
                self.dirs.append(p)

    def file(self, path, size, data=None, kind="regular"):
        self.mkdir(os.path.dirname(path))
        fid = self.next_id
        self.next_id += 1
        if data is None:
            data = [[0, size]] if size else []
        e = {"id": fid, "path": path, "paths": [path], "size": size,
             "data": data, "kind": kind}
        self.files.append(e)
        return e

    def hardlink(self, entry, path):
        self.mkdir(os.path.dirname(path))
        entry["paths"].append(path)
        # the names of one inode: its bytes belong to each of them
        entry["links"] = [list(entry["paths"])]

    def symlink(self, path, target):
        self.mkdir(os.path.dirname(path))
        self.symlinks.append({"path": path, "target": target})


def names_for(profile):
    """Awkward but legal file names for the profile."""
    common = ["with space.txt", "café menu.txt", "ünïcödé ファイル.bin",
              "dash -- opt", "semi;colon&amp", "percent%20x", "x" * 200,
              "[brackets] (parens) {braces}", "comma,plus+equals=", "#hash!"]
    if profile == "fat":
        return common
    more = ["  two leading spaces", "emoji-\U0001F642.dat", "trailing space ",
            "quote'n\"dq", "a:colon", "star*q?", "lt<gt>", "pipe|bar"]
    if profile != "ntfs":
        more += ["back\\slash", "tab\there", "new\nline"]
    return common + more


def build_plan(profile, seed, first_id=1):
    p = Plan(profile, seed, first_id)
    rng = p.rng
    small = profile == "small"
    fat = profile == "fat"

    # sizes: empty, untaggable, < 60 bytes (ext4 inline), around a sector,
    # odd, block sized
    sizes = [0, 1, 30, 59, 511, 512, 513, 1000, 1024, 4095, 4096, 4097,
             12345, 65537]
    if small:
        sizes = [0, 30, 512, 1000, 4097, 65537]
    for s in sizes:
        p.file("/size-%d" % s, s)
    # multi-MiB
    if small:
        p.file("/big/one-mib-plus", MIB + 7)
    else:
        p.file("/big/three-mib-odd", 3 * MIB + 123)
        p.file("/big/eight-mib", 8 * MIB)

    # names
    names = names_for(profile)
    if small:
        names = names[:4]
    for i, n in enumerate(names):
        p.file("/names/" + n, 100 + 300 * i)
    p.file("/names/ünïcödé dir/inner file", 2000)

    # deep tree
    depth = 8 if small else 40
    deep = "/deep/" + "/".join("d%02d" % i for i in range(1, depth + 1))
    p.file(deep + "/leaf.bin", 2000)
    p.file("/deep/d01/d02/mid.bin", 700)

    # a directory with many entries (ext4 htree, xfs node/btree dirs,
    # btrfs big dir items, FAT long chains)
    many = 40 if small else 2500
    for i in range(many):
        p.file("/many/f%04d" % i, rng.randint(40, 3000))

    # hard links
    if not fat:
        e = p.file("/links/original", 20000)
        p.hardlink(e, "/links/hardlink-1")
        if not small:
            p.hardlink(e, "/links/sub/hardlink-2")
            e2 = p.file("/links/small-original", 300)
            p.hardlink(e2, "/many-links-elsewhere/small-link")
    # symlinks
    if profile not in ("fat", "ntfs"):
        p.symlink("/links/sym-short", "original")
        if not small:
            p.symlink("/links/sym-long", "../" + "/".join(["long-target-component"] * 12))
            p.symlink("/links/sym-dangling", "/does/not/exist")
            p.symlink("/links/sym-dir", "../deep")

    # sparse files: data ranges block (64 KiB) aligned so holes are real
    if not fat:
        K = 1024
        p.file("/sparse/holes", 4 * MIB + 4096 + 100,
               data=[[0, 64 * K], [MIB, MIB + 8 * K],
                     [4 * MIB, 4 * MIB + 4096 + 100]], kind="sparse")
        if not small:
            p.file("/sparse/leading-hole", 2 * MIB + 4096,
                   data=[[2 * MIB, 2 * MIB + 4096]], kind="sparse")
            p.file("/sparse/trailing-hole", 3 * MIB,
                   data=[[0, 4096]], kind="sparse")

    # fragmented: interleaved appends of 4 KiB (whole blocks: no
    # copy-on-write of partial blocks), fsync after each
    nfrag, chunks = (2, 8) if small else (3, 48)
    ids = []
    for i in range(nfrag):
        e = p.file("/frag/file-%c" % (ord("a") + i), chunks * 4096, kind="fragmented")
        ids.append(e)
    p.frag = ids
    p.frag_chunk = 4096
    return p


# ---------------------------------------------------------------------------
# Writing


def write_file(root, entry, seed):
    c = Content(seed, entry["id"])
    path = root + entry["path"]
    with open(path, "wb") as f:
        for start, end in entry["data"]:
            f.seek(start)
            pos = start
            while pos < end:
                n = min(end - pos, 1 << 20)
                f.write(c.get(pos, n))
                pos += n
        f.truncate(entry["size"])


def generate(root, plan, fsync=True):
    root = root.rstrip("/") or "/"
    if root == "/":
        sys.exit("tagtree: refusing to write into /")
    os.makedirs(root, exist_ok=True)
    for d in plan.dirs[1:]:
        os.makedirs(root + d, exist_ok=True)
    frag_ids = {e["id"] for e in plan.frag}
    for e in plan.files:
        if e["id"] in frag_ids:
            continue
        write_file(root, e, plan.seed)
    # interleaved appends
    handles = []
    for e in plan.frag:
        handles.append((e, Content(plan.seed, e["id"]),
                        open(root + e["path"], "wb")))
    pos = 0
    size = plan.frag[0]["size"] if plan.frag else 0
    while pos < size:
        for e, c, f in handles:
            f.write(c.get(pos, plan.frag_chunk))
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        pos += plan.frag_chunk
    for e, c, f in handles:
        f.close()
    for e in plan.files:
        for extra in e["paths"][1:]:
            os.link(root + e["path"], root + extra)
    for s in plan.symlinks:
        os.symlink(s["target"], root + s["path"])
    # fixed times, children before parents
    for e in plan.files:
        for q in e["paths"]:
            os.utime(root + q, (FIXED_TIME, FIXED_TIME))
    for s in plan.symlinks:
        try:
            os.utime(root + s["path"], (FIXED_TIME, FIXED_TIME),
                     follow_symlinks=False)
        except (NotImplementedError, OSError):
            pass
    for d in sorted(plan.dirs, key=lambda x: -x.count("/")):
        if d != "/":
            os.utime(root + d, (FIXED_TIME, FIXED_TIME))


def manifest(plan):
    files = []
    for e in plan.files:
        f = dict(e)
        f["tagged_sectors"] = sum(1 for _ in tagged_sectors(e))
        files.append(f)
    return {
        "format": "bmapgen-tagtree",
        "version": 1,
        "profile": plan.profile,
        "seed": plan.seed,
        "first_id": plan.files[0]["id"] if plan.files else 1,
        "sector_size": SECTOR,
        "tag": "BMT:<id>:<sector>:",
        "files": files,
        "dirs": plan.dirs,
        "symlinks": plan.symlinks,
    }


def load_manifest(path):
    with open(path, encoding="utf-8") as f:
        m = json.load(f)
    if m.get("format") != "bmapgen-tagtree":
        raise SystemExit("%s: not a tagtree manifest" % path)
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tagtree.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="write a tagged tree and its manifest")
    g.add_argument("--manifest", required=True)
    g.add_argument("--profile", default="default",
                   choices=["default", "fat", "ntfs", "small"])
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--first-id", type=int, default=1,
                   help="id of the first file (several trees in one image)")
    g.add_argument("--no-fsync", action="store_true",
                   help="skip the fsync between fragmenting appends")
    g.add_argument("dir")
    m = sub.add_parser("manifest", help="write only the manifest")
    m.add_argument("--manifest", required=True)
    m.add_argument("--profile", default="default",
                   choices=["default", "fat", "ntfs", "small"])
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--first-id", type=int, default=1)
    a = ap.parse_args(argv)
    plan = build_plan(a.profile, a.seed, a.first_id)
    if a.cmd == "gen":
        generate(os.path.abspath(a.dir), plan, fsync=not a.no_fsync)
    with open(a.manifest, "w", encoding="utf-8") as f:
        json.dump(manifest(plan), f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
