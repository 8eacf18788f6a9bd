#!/usr/bin/python3
"""Check a bmapgen map of an XFS filesystem against xfs_db (xfsprogs).

    xfs_dbcheck.py --image IMG --map MAP [--offset BYTES] [--disk N]
                   [--device DEV] [--sample N] [--max-blocks N]

xfs_db is an independent reader of the filesystem.  Two checks:

 1. Block ownership: "blockget -n" then "blockuse -n" over every AG gives
    the type and owner of every fs block (data/dir/symlink/attr blocks
    and bmap btree blocks with their inode and path, AG btrees, log,
    inode chunks, free space).  Every used block must be covered by the
    right object of the map, and no file or directory object may cover a
    block xfs_db attributes to another inode or to free space.  Blocks
    shared by reflink ("rldata") are reported with one owner only, so
    other file objects there are tolerated (check 2 covers them).
    On filesystems of more than --max-blocks blocks only the first 256
    blocks of each AG are checked this way.
 2. Extents: "inode N" + "bmap" for a sample of --sample inodes (all
    files when 0): every extent must be covered by the file's object.

Exit status 0 when everything matches, 1 otherwise.
SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracle"))
from bmapfile import BMap  # noqa: E402

META = {
    "btbno": "xfs free space btree", "btcnt": "xfs free space btree",
    "btino": "xfs inode btree", "btfino": "xfs free inode btree",
    "btrmap": "xfs rmap btree", "btrefc": "xfs refcount btree",
    "btrefcnt": "xfs refcount btree", "log": "xfs log",
    "inode": "xfs inodes", "rtbitmap": "xfs rt bitmap",
    "rtsum": "xfs rt summary", "quota": "xfs quota",
}
FILE_TYPES = {"data", "rldata", "dir", "symlink", "attr", "btbmapd",
              "btbmapa", "btbmap"}
# "unknown": blocks no structure claims (e.g. data of an inode whose
# realtime flag a test flipped)
FREE_TYPES = {"free1", "free2", "freelist", "unknown"}


LOGDEV = []


def xfs_db(img, cmds):
    args = ["xfs_db", "-r"] + LOGDEV
    for c in cmds:
        args += ["-c", c]
    args.append(img)
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # blockget exits non-zero when it finds inconsistencies (the rt
    # test flips an inode's realtime flag); its output is still usable
    if r.returncode != 0 and not r.stdout:
        sys.exit("xfs_db failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout.decode("utf-8", "surrogateescape")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--offset", type=int, default=0, help="fs offset in the image")
    ap.add_argument("--disk", type=int, default=1)
    ap.add_argument("--device")
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--max-blocks", type=int, default=4 << 20)
    ap.add_argument("--rt-file", action="append", default=[],
                    help="a realtime file: its extents are not on this device")
    ap.add_argument("--logdev", help="external log device (xfs_db -l)")
    ap.add_argument("--manifest", help="tagtree manifest: its directories must be `d` objects")
    ap.add_argument("--links", help="hard links seen by the kernel: lines 'INODE PATH' "
                    "(find -links +1 -printf '%%i /%%P\\n' on the mounted filesystem)")
    a = ap.parse_args()
    if a.logdev:
        LOGDEV[:] = ["-l", a.logdev]

    geo = {}
    for line in xfs_db(a.image, ["sb 0", "print blocksize sectsize agblocks agcount "
                                 "agblklog dblocks rootino logstart"]).splitlines():
        k, _, v = line.partition(" = ")
        geo[k.strip()] = int(v)
    bs, ss = geo["blocksize"], geo["sectsize"]
    agb, agc, agbl, dblocks = geo["agblocks"], geo["agcount"], geo["agblklog"], geo["dblocks"]
    bmap = BMap(a.map)
    errors = []
    stats = {}

    def objs_at(start, end, types=("f", "d", "m")):
        """[(a, b, [Obj])] pieces of [start, end) of the image."""
        return [(x, y, [bmap.objects[o] for o in s
                        if a.device is None or bmap.objects[o].dev == a.device])
                for x, y, s in bmap.split(a.disk, start, end, types)]

    def err(msg):
        errors.append(msg)

    def byteoff(agno, agbno):
        return a.offset + (agno * agb + agbno) * bs

    # inode -> all its names (hard links have several)
    inodes = []
    names = {}
    # "%*llu name" lines; a newline in a name continues on the next line
    raw = []
    nc = re.compile(r"^\s*(\d+) (.*)$")
    for line in xfs_db(a.image, ["blockget -n", "ncheck"]).split("\n"):
        m = nc.match(line)
        if m:
            raw.append([int(m.group(1)), m.group(2)])
        elif raw and line:
            raw[-1][1] += "\n" + line
    for ino, name in raw:
        p = "/" + name
        if p.endswith("/."):
            p = p[:-2] or "/"
        if ino not in names:
            inodes.append((ino, p))
        names.setdefault(ino, set()).add(p)
    names.setdefault(geo["rootino"], set()).add("/")
    # ncheck prints one name per inode; the manifest knows hard links
    if a.manifest:
        with open(a.manifest, encoding="utf-8") as f:
            groups = {}
            for e in json.load(f)["files"]:
                for p in e["paths"]:
                    groups[p] = set(e["paths"])
        for ino in names:
            for p in list(names[ino]):
                names[ino] |= groups.get(p, set())

    # ncheck names an inode once; the kernel's list adds its other names
    if a.links:
        with open(a.links, encoding="utf-8") as f:
            for line in f:
                ino, _, p = line.rstrip("\n").partition(" ")
                names.setdefault(int(ino), set()).add(p)

    # 1. block ownership
    full = dblocks <= a.max_blocks
    cmds = ["blockget -n"]
    for agno in range(agc):
        n = min(agb, dblocks - agno * agb)
        cmds += ["fsblock %d" % (agno << agbl), "blockuse -n -c %d" % (n if full else min(n, 256))]
    pat = re.compile(r"block \d+ \((\d+)/(\d+)\) type (\S+)(?: inode (\d+)(?: (.*))?)?$")
    # runs of contiguous blocks of one type and owner, checked as ranges
    runs = []
    for line in xfs_db(a.image, cmds).splitlines():
        m = pat.match(line.strip("\n"))
        if not m:
            continue
        agno, agbno, typ, ino = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
        stats[typ] = stats.get(typ, 0) + 1
        r = runs[-1] if runs else None
        if (r and r[0] == agno and r[1] + r[2] == agbno and r[3] == typ and r[4] == ino
                and typ not in ("sb", "agf", "agi", "agfl")):
            r[2] += 1
        else:
            runs.append([agno, agbno, 1, typ, ino])
    for agno, agbno, nblk, typ, ino in runs:
        start = byteoff(agno, agbno)
        end = start + nblk * bs
        pieces = objs_at(start, end)
        fd = {(o.type, o.path) for _, _, os_ in pieces for o in os_ if o.type in "fd"}
        if typ in FILE_TYPES:
            ok = names.get(int(ino), set())
            path = sorted(ok)[0] if ok else None
            if path is None:
                err("block %d/%d (%s, inode %s): xfs_db knows no path" % (agno, agbno, typ, ino))
                continue
            for x, y, os_ in pieces:
                if not any(o.type in "fd" and o.path in ok for o in os_):
                    err("block %d/%d (%s of %s): bytes 0x%x-0x%x not mapped to it"
                        % (agno, agbno, typ, path, x, y))
                    break
            others = {p for t, p in fd if p not in ok}
            if others and typ != "rldata":
                err("block %d/%d (%s of %s) also mapped to %s" % (agno, agbno, typ, path, sorted(others)))
        elif typ in ("sb", "agf", "agi", "agfl"):
            # the AG header sectors in this block (several per block, or
            # several blocks for them with small blocks)
            want = ["xfs superblock", "xfs agf", "xfs agi", "xfs agfl"]
            agstart = byteoff(agno, 0)
            for i, w in enumerate(want):
                s0 = agstart + i * ss
                if not (start <= s0 < end):
                    continue
                for x, y, os_ in objs_at(s0, s0 + ss, ("m",)):
                    if not any(o.path == w for o in os_):
                        err("AG %d header sector %d not mapped as <%s>" % (agno, i, w))
                        break
            if fd:
                err("AG %d header block mapped to %s" % (agno, sorted(fd)))
        elif typ in META:
            for x, y, os_ in pieces:
                if not any(o.type == "m" and o.path == META[typ] for o in os_):
                    err("block %d/%d (%s) bytes 0x%x-0x%x not mapped as <%s>"
                        % (agno, agbno, typ, x, y, META[typ]))
                    break
            # inline file data and shortform directories live in inodes
            if fd and typ != "inode":
                err("block %d/%d (%s) mapped to %s" % (agno, agbno, typ, sorted(fd)))
        elif typ in FREE_TYPES:
            if any(os_ for _, _, os_ in pieces):
                err("free block %d/%d (%s) mapped to %s" % (
                    agno, agbno, typ, sorted({repr(o) for _, _, os_ in pieces for o in os_})))
        else:
            err("block %d/%d: unexpected xfs_db type %s" % (agno, agbno, typ))

    # 2. extents of sampled inodes
    if a.sample and len(inodes) > a.sample:
        step = len(inodes) / a.sample
        inodes = [inodes[int(i * step)] for i in range(a.sample)]
    next = 0
    cmds = []
    for ino, _ in inodes:
        cmds += ["echo @@ %d" % ino, "inode %d" % ino, "bmap"]
    cur = None
    ext_re = re.compile(r"(data|attr) offset \d+ startblock \d+ \((\d+)/(\d+)\) count (\d+) flag (\d)")
    for line in xfs_db(a.image, cmds).splitlines() if cmds else []:
        if line.startswith("@@ "):
            cur = int(line.split()[1])
            continue
        m = ext_re.match(line.strip())
        if not m or cur is None:
            continue
        next += 1
        agno, agbno, cnt = int(m.group(2)), int(m.group(3)), int(m.group(4))
        start = byteoff(agno, agbno)
        ok = names[cur]
        path = sorted(ok)[0]
        if m.group(1) == "data" and ok & set(a.rt_file):
            continue
        for x, y, os_ in objs_at(start, start + cnt * bs, ("f", "d")):
            if not any(o.path in ok for o in os_):
                err("inode %d %s: %s extent %d/%d+%d: 0x%x-0x%x not mapped to it"
                    % (cur, path, m.group(1), agno, agbno, cnt, x, y))
                break

    # 3. every metadata structure of the filesystem's features is there,
    # and every directory is a `d` object
    feats = set(re.split(r"[ ,=]+", xfs_db(a.image, ["version"]).strip()))
    want = ["xfs superblock", "xfs agf", "xfs agi", "xfs agfl", "xfs free space btree",
            "xfs inode btree", "xfs inodes"]
    if geo["logstart"]:
        want.append("xfs log")
    for feat, obj in (("FINOBT", "xfs free inode btree"), ("RMAPBT", "xfs rmap btree"),
                      ("REFLINK", "xfs refcount btree"), ("QUOTA", "xfs quota")):
        if feat in feats:
            want.append(obj)
    have = {o.path for o in bmap.objects_of("m")}
    for w in want:
        if w not in have:
            err("no <%s> object" % w)
    dirs = {o.path for o in bmap.objects_of("d")}
    if a.manifest:
        with open(a.manifest, encoding="utf-8") as f:
            for d in json.load(f)["dirs"]:
                if d not in dirs:
                    err("directory %s is not a `d` object" % d)

    print("xfs_dbcheck: %d blocks checked%s (%s); %d inodes, %d extents sampled; %d errors" % (
        sum(stats.values()), "" if full else " (AG starts only)",
        ", ".join("%s %d" % kv for kv in sorted(stats.items())), len(inodes), next, len(errors)))
    for e in errors[:30]:
        print("  " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
