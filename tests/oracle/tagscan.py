#!/usr/bin/python3
"""Check a bmapgen map against the tags physically present in an image.

    tagscan.py --manifest M.json --map MAP [--device DEV] [--root /sub]
               [--disk N] [--inline-max BYTES] [--allow-absent] [--json]
               IMAGE...

Several IMAGEs are disks N, N+1, ... (N = --disk, default 1) of one VM,
numbered as in the map.  The scanner trusts no parser: it reads every
image byte (skipping holes of sparse image files) and finds every
"BMT:<id>:<sector>:" tag written by tagtree.py.  A tag at a 512-byte
aligned offset is where that file sector physically lies, through any
partition / LVM / RAID layer.

For each aligned tag of a file of at least --inline-max bytes (default
60: smaller files may be stored inline in metadata), the first and last
byte the file has in that sector must be covered by an `f` object whose
path is one of the file's paths (under --root, on --device if given):
  ok             covered by the right file
  misattributed  covered by an `f` object of another path (also: a
                 wrong `f` object overlapping the right one)
  missed         not covered by the right file
Every occurrence counts, so a tag seen twice (RAID1, DUP) must be mapped
twice.  Sectors of such files that carry a tag but were found nowhere are
"absent" (compressed or encrypted data, or a broken test image).

Small files (< --inline-max bytes) and tags at unaligned offsets (inline
data in inodes, btrfs leaves, NTFS MFT records) are reported separately:
the tag must lie inside a range mapped to that file; a miss there is
listed but does not fail the check; misattribution does.

Exit status: 0 recall 100 % and nothing misattributed or absent; 1
otherwise; 2 on usage/IO errors.

SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tagtree  # noqa: E402
from bmapfile import BMap, MapError  # noqa: E402

SECTOR = tagtree.SECTOR
TAG_RE = re.compile(rb"BMT:(\d{1,9}):(\d{1,9}):")
CHUNK = 16 << 20
CHECK = 16    # filler bytes after a tag compared with the manifest's
OVERLAP = 64  # longer than any tag + CHECK


def data_segments(fd, size):
    """(start, end) of the non-hole parts of a file (whole file if the
    filesystem cannot tell)."""
    pos = 0
    segs = []
    try:
        while pos < size:
            try:
                d = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break  # ENXIO: only a hole left
            h = os.lseek(fd, d, os.SEEK_HOLE)
            segs.append((d, min(h, size)))
            pos = h
    except (AttributeError, OSError):
        return [(0, size)]
    return segs


def scan_image(path):
    """Yield (offset, id, sector, CHECK bytes after the tag) of every tag
    in the image file."""
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        done = 0  # everything before this offset has been scanned
        for start, end in data_segments(fd, size):
            # align down so a tag straddling a segment start is not lost,
            # but never scan a byte twice (a tag would count twice)
            pos = max(start - start % SECTOR, done)
            done = end
            while pos < end:
                n = min(CHUNK, end - pos)
                buf = os.pread(fd, n + OVERLAP, pos)
                for m in TAG_RE.finditer(buf):
                    if m.start() >= n:
                        break  # belongs to the next chunk
                    yield (pos + m.start(), int(m.group(1)), int(m.group(2)),
                           buf[m.end():m.end() + CHECK])
                pos += n


def floor_pct(a, b):
    if b == 0:
        return 0.0
    return int(a * 10000 // b) / 100.0


def check(args):
    man = tagtree.load_manifest(args.manifest)
    bmap = BMap(args.map)
    root = (args.root or "/").rstrip("/")
    files = {}
    seed = man.get("seed", 1)
    for e in man["files"]:
        paths = [root + p for p in e["paths"]]
        sectors = dict(tagtree.tagged_sectors(e))
        files[e["id"]] = {
            "entry": e, "paths": set(paths), "sectors": sectors,
            "links": [set(root + p for p in g) for g in e.get("links", ())],
            "small": e["size"] < args.inline_max,
            "filler": tagtree.Content(seed, e["id"]).filler,
        }

    # 1. scan
    hits = []  # (disk, offset, id, sector)
    unknown = 0
    foreign = 0
    for i, img in enumerate(args.images):
        disk = args.disk + i
        for off, fid, s, after in scan_image(img):
            f = files.get(fid)
            if f is None or s not in f["sectors"]:
                unknown += 1
                continue
            # the filler must be this tree's (same id in another tree
            # made with another seed: not ours)
            t = len(tagtree.tag(fid, s))
            n = min(CHECK, f["sectors"][s] - t)
            if off % SECTOR:
                # inline data may continue elsewhere after its first
                # inline-max bytes (ext4: i_block, then an xattr)
                n = min(n, max(0, args.inline_max - t))
            if after[:n] != f["filler"][t:t + n]:
                foreign += 1
                continue
            hits.append((disk, off, fid, s))

    def span(off, fid, s):
        """Bytes known to be this file's at OFF: the whole sector for an
        aligned tag of a normal file; only the tag itself for unaligned
        (inline) tags and small files, whose sector may hold other data."""
        if off % SECTOR or files[fid]["small"]:
            return len(tagtree.tag(fid, s))
        return files[fid]["sectors"][s]

    # 2. what covers the first and last byte each tag's sector has
    points = {}
    for disk, off, fid, s in hits:
        n = span(off, fid, s)
        pts = points.setdefault(disk, set())
        pts.add(off)
        pts.add(off + n - 1)
    cover = {}
    for disk, pts in points.items():
        for p, objs in bmap.covering(disk, sorted(pts), types=("f",)):
            cover[(disk, p)] = objs

    def classify(disk, off, fid, n):
        """'ok', 'mis', 'elsewhere' or 'missed' for one occurrence."""
        f = files[fid]
        verdict = []
        for p in (off, off + n - 1):
            wrong = other_dev = False
            named = set()
            for oi in cover.get((disk, p), ()):
                o = bmap.objects[oi]
                if o.path in f["paths"]:
                    if args.device is None or o.dev == args.device:
                        named.add(o.path)
                    else:
                        other_dev = True
                else:
                    wrong = True
            if wrong:
                return "mis"
            # a hard-linked file's bytes belong to each of its names
            # (manifest "links": the name groups of one inode; other
            # paths, e.g. reflink copies or snapshots, are alternatives)
            right = bool(named) and (not args.every_name or all(
                g <= named for g in f["links"] if g & named))
            verdict.append("ok" if right else ("elsewhere" if other_dev else "missed"))
        if "missed" in verdict:
            return "missed"
        if "elsewhere" in verdict:
            return "elsewhere"
        return "ok"

    # 3. per file
    res = {fid: {"ok": 0, "mis": 0, "strict_mis": 0, "missed": 0, "elsewhere": 0,
                 "small_ok": 0, "small_missed": 0, "seen": {}}
           for fid in files}
    mis_examples = []
    missed_examples = []
    for disk, off, fid, s in hits:
        f = files[fid]
        r = res[fid]
        aligned = off % SECTOR == 0
        strict = aligned and not f["small"]
        c = classify(disk, off, fid, span(off, fid, s))
        if c != "elsewhere":  # unaligned (inline) copies count as present
            r["seen"][s] = r["seen"].get(s, 0) + 1
        if c == "mis":
            r["mis"] += 1
            r["strict_mis"] += 1 if strict else 0
            if len(mis_examples) < 20:
                objs = [repr(bmap.objects[o]) for o in cover.get((disk, off), ())]
                mis_examples.append("disk %d 0x%x %s sector %d -> %s" % (
                    disk, off, f["entry"]["path"], s, "; ".join(objs) or "?"))
        elif c == "elsewhere":
            r["elsewhere"] += 1
        elif strict:
            r[c] += 1
            if c == "missed" and len(missed_examples) < 20:
                missed_examples.append("disk %d 0x%x %s sector %d" % (
                    disk, off, f["entry"]["path"], s))
        else:
            r["small_ok" if c == "ok" else "small_missed"] += 1

    tot = {"ok": 0, "mis": 0, "missed": 0, "elsewhere": 0, "absent": 0,
           "small_ok": 0, "small_missed": 0, "copies": 0, "expected": 0,
           "small_files": 0, "small_absent": 0, "untaggable": 0}
    per_file = []
    absent_examples = []
    for fid, f in sorted(files.items()):
        r = res[fid]
        e = f["entry"]
        expected = len(f["sectors"])
        if expected == 0:
            tot["untaggable"] += 1 if e["size"] else 0
        absent = 0
        copies = 0
        if f["small"]:
            tot["small_files"] += 1
            if expected and r["small_ok"] + r["small_missed"] + r["mis"] == 0:
                tot["small_absent"] += 1
        else:
            tot["expected"] += expected
            absent = sum(1 for s in f["sectors"] if s not in r["seen"])
            copies = sum(1 for c in r["seen"].values() if c > 1)
            if absent and len(absent_examples) < 20:
                absent_examples.append("%s: %d of %d tagged sectors" % (
                    e["path"], absent, expected))
        for k in ("ok", "mis", "missed", "elsewhere", "small_ok", "small_missed"):
            tot[k] += r[k]
        tot["absent"] += absent
        tot["copies"] += copies
        status = "ok"
        if r["mis"]:
            status = "misattributed"
        elif r["missed"]:
            status = "missed"
        elif absent and not args.allow_absent:
            status = "absent"
        elif f["small"] and r["small_missed"]:
            status = "small-unmapped"
        per_file.append({
            "id": fid, "path": e["path"], "paths": e["paths"], "size": e["size"],
            "small": f["small"], "expected": expected, "ok": r["ok"],
            "misattributed": r["mis"], "missed": r["missed"], "absent": absent,
            "copies": copies, "elsewhere": r["elsewhere"],
            "small_ok": r["small_ok"], "small_unmapped": r["small_missed"],
            "status": status})

    strict_total = tot["ok"] + tot["missed"] + sum(
        r["strict_mis"] for r in res.values())
    recall = floor_pct(tot["ok"], strict_total)
    passed = (tot["ok"] == strict_total and strict_total > 0 and tot["mis"] == 0
              and (tot["absent"] == 0 or args.allow_absent))
    return {
        "images": args.images, "map": args.map, "device": args.device,
        "root": args.root or "/", "recall": recall, "strict_hits": strict_total,
        "ok": tot["ok"], "misattributed": tot["mis"], "missed": tot["missed"],
        "absent": tot["absent"], "expected_sectors": tot["expected"],
        "copies": tot["copies"], "elsewhere": tot["elsewhere"],
        "unknown_tags": unknown, "foreign_tags": foreign, "small_files": tot["small_files"],
        "small_ok": tot["small_ok"], "small_unmapped": tot["small_missed"],
        "small_absent": tot["small_absent"], "untaggable": tot["untaggable"],
        "files": per_file, "pass": passed,
        "examples": {"misattributed": mis_examples, "missed": missed_examples,
                     "absent": absent_examples},
    }


def print_table(r, out=sys.stdout):
    w = out.write
    nfiles = len(r["files"])
    bad = [f for f in r["files"] if f["status"] not in ("ok",)]
    w("tagscan: %s (map %s, device %s, root %s)\n" % (
        " ".join(r["images"]), r["map"], r["device"] or "any", r["root"]))
    w("  %-22s %s\n" % ("files", "%d (%d small < inline-max, %d untaggable)" % (
        nfiles, r["small_files"], r["untaggable"])))
    w("  %-22s %d sectors, %d occurrences found, %d seen more than once\n" % (
        "tagged data", r["expected_sectors"], r["strict_hits"], r["copies"]))
    w("  %-22s %.2f %% (%d/%d)\n" % ("recall", r["recall"], r["ok"], r["strict_hits"]))
    w("  %-22s %d\n" % ("misattributed", r["misattributed"]))
    w("  %-22s %d\n" % ("missed", r["missed"]))
    w("  %-22s %d sectors\n" % ("absent from image", r["absent"]))
    w("  %-22s %d ok, %d unmapped, %d files not found\n" % (
        "small/inline tags", r["small_ok"], r["small_unmapped"], r["small_absent"]))
    if r["elsewhere"]:
        w("  %-22s %d (right path, other device)\n" % ("elsewhere", r["elsewhere"]))
    if r["foreign_tags"]:
        w("  %-22s %d (known id, other filler: another tree)\n" % ("foreign tags", r["foreign_tags"]))
    if r["unknown_tags"]:
        w("  %-22s %d (not in manifest: stale data?)\n" % ("unknown tags", r["unknown_tags"]))
    for kind in ("misattributed", "missed", "absent"):
        for ex in r["examples"][kind][:10]:
            w("    %s: %s\n" % (kind, ex))
    shown = 0
    for f in bad:
        if shown >= 10:
            w("    ... %d more files not ok\n" % (len(bad) - shown))
            break
        w("    file %s: %s\n" % (f["path"], f["status"]))
        shown += 1
    w("  %-22s %s\n" % ("RESULT", "PASS" if r["pass"] else "FAIL"))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tagscan.py", description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--device", help="only `f` objects of this device count as right")
    ap.add_argument("--any-name", dest="every_name", action="store_false",
                    help="a hard-linked file's bytes may be mapped under one of its "
                    "names (default: under every name)")
    ap.add_argument("--root", help="the tree was copied under this directory")
    ap.add_argument("--disk", type=int, default=1, help="disk number of the first IMAGE")
    ap.add_argument("--inline-max", type=int, default=60,
                    help="files smaller than this may be inline (default 60)")
    ap.add_argument("--allow-absent", action="store_true",
                    help="do not fail when tagged sectors are not in the image")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("images", nargs="+", metavar="IMAGE")
    args = ap.parse_args(argv)
    try:
        r = check(args)
    except (OSError, MapError, ValueError) as e:
        print("tagscan: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        json.dump(r, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_table(r)
    return 0 if r["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
