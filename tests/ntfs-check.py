#!/usr/bin/python3
"""Check a bmapgen map of an NTFS volume against ntfs-3g's own tools.

    ntfs-check.py --fs FSIMAGE --map MAP --device DEV [--offset BYTES]
                  [--disk N] [--paths LIST] [--sample N] [--bitmap]
                  [--content JSON --image DISKIMAGE]

FSIMAGE is the NTFS volume alone (what ntfsinfo/ntfscat read); it lies at
byte OFFSET of disk N of the map (0 for a bare filesystem image).

--paths LIST  one path per line (files and directories).  For each, the
              attributes and runlists that `ntfsinfo -v -F PATH` prints
              must match the map: every cluster run of the unnamed $DATA
              is mapped to `f PATH`, of a named one to `f PATH:NAME`, of
              any other attribute (a directory's $INDEX_ALLOCATION, an
              $ATTRIBUTE_LIST) to `d PATH` / `f PATH`; resident data and
              index roots are found in the file's MFT record; and nothing
              else is mapped to those objects (no bytes outside the
              inode's own runs and records).  --sample N checks every
              N-th path of long lists (ntfsinfo mounts the volume each
              time).
--bitmap      completeness: every cluster in use according to $Bitmap
              (ntfscat) is mapped to some f/d/m object of DEV.
--content     JSON {"marker": "PATH[:STREAM]"}: every occurrence of each
              marker in DISKIMAGE must be covered by that `f` object and
              by no other `f` object (resident ADS next to resident data).

Exit status 0 when everything matches, 1 otherwise.
SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "oracle"))
from bmapfile import BMap  # noqa: E402

ENV = dict(os.environ, LC_ALL="C.UTF-8")
ATTR_RE = re.compile(r"^Dumping attribute (\$\w+) \(0x[0-9a-f]+\) from mft "
                     r"record (\d+)")
RUN_RE = re.compile(r"^\s+0x([0-9a-f]+)\s+(0x[0-9a-f]+|<[A-Z_]+>)\s+"
                    r"0x([0-9a-f]+)\s*$")


def ntfsinfo(args, fs):
    r = subprocess.run(["ntfsinfo", "-f", "-v"] + args + [fs],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=ENV)
    if r.returncode != 0:
        raise SystemExit("ntfsinfo %s failed: %s" %
                         (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout.decode("utf-8", errors="surrogateescape")


def parse_attrs(text):
    """[{type, rec, resident, name, runs:[(lcn, len)]}] of an inode dump."""
    attrs = []
    cur = None
    in_runs = False
    for line in text.splitlines():
        m = ATTR_RE.match(line)
        if m:
            cur = {"type": m.group(1), "rec": int(m.group(2)),
                   "resident": None, "name": "", "runs": []}
            attrs.append(cur)
            in_runs = False
            continue
        if cur is None:
            continue
        s = line.strip()
        if s.startswith("Resident:"):
            cur["resident"] = s.split()[-1] == "Yes"
        elif s.startswith("Attribute name:"):
            v = s.split(":", 1)[1].strip()
            cur["name"] = v[1:-1] if v.startswith("'") else v
        elif s.startswith("Runlist:"):
            in_runs = True
        elif in_runs:
            m = RUN_RE.match(line)
            if m:
                if m.group(2).startswith("0x"):  # not <HOLE>, ...
                    cur["runs"].append((int(m.group(2), 16),
                                        int(m.group(3), 16)))
            else:
                in_runs = False
    return attrs


class Vol:
    def __init__(self, fs, offset):
        self.fs = fs
        self.offset = offset
        info = ntfsinfo(["-m"], fs)
        self.cs = int(re.search(r"Cluster Size:\s+(\d+)", info).group(1))
        self.rs = int(re.search(r"MFT Record Size:\s+(\d+)", info).group(1))
        self.nclusters = int(re.search(r"Volume Size in Clusters:\s+(\d+)",
                                       info).group(1))
        mft = parse_attrs(ntfsinfo(["-i", "0"], fs))
        self.mft_runs = [r for a in mft if a["type"] == "$DATA" and
                         not a["name"] for r in a["runs"]]

    def runs_bytes(self, runs):
        return [(self.offset + lcn * self.cs,
                 self.offset + (lcn + n) * self.cs) for lcn, n in runs]

    def record_bytes(self, rec):
        """Disk ranges of MFT record REC (through $MFT's runlist)."""
        out = []
        off, left = rec * self.rs, self.rs
        vcn_base = 0
        for lcn, n in self.mft_runs:
            beg, end = vcn_base * self.cs, (vcn_base + n) * self.cs
            vcn_base += n
            if left and beg <= off < end:
                k = min(end - off, left)
                out.append((self.offset + lcn * self.cs + off - beg,
                            self.offset + lcn * self.cs + off - beg + k))
                off += k
                left -= k
        return out


class Checker:
    def __init__(self, bmap, disk, dev):
        self.m = bmap
        self.disk = disk
        self.dev = dev
        self.errors = 0
        self.checked = 0

    def err(self, msg):
        self.errors += 1
        if self.errors <= 30:
            print("ntfs-check: " + msg)

    def obj(self, typ, path):
        return self.m.object(typ, self.dev, path)

    def covered(self, o, ranges):
        """Are RANGES fully covered by object O?"""
        for a, b in ranges:
            for x, y, objs in self.m.split(self.disk, a, b):
                if o.idx not in objs:
                    return False
        return True

    def touches(self, o, ranges):
        return any(o.idx in objs for a, b in ranges
                   for x, y, objs in self.m.split(self.disk, a, b))

    def outside(self, o, allowed):
        """Bytes of O's ranges not inside ALLOWED ranges."""
        allowed = sorted(allowed)
        bad = 0
        for d, s, e in self.m.ranges_of(o.idx):
            if d != self.disk:
                bad += e - s
                continue
            pos = s
            for a, b in allowed:
                if b <= pos or a >= e:
                    continue
                if a > pos:
                    bad += a - pos
                pos = max(pos, b)
            if pos < e:
                bad += e - pos
        return bad

    def check_path(self, vol, path):
        attrs = parse_attrs(ntfsinfo(["-F", path], vol.fs))
        is_dir = any(a["type"] == "$INDEX_ROOT" for a in attrs)
        main = self.obj("d" if is_dir else "f", path)
        if main is None:
            self.err("%s: not in the map" % path)
            return
        self.checked += 1
        # everything the inode owns: its records and all its runs
        allowed = []
        for rec in {a["rec"] for a in attrs}:
            allowed += vol.record_bytes(rec)
        for a in attrs:
            allowed += vol.runs_bytes(a["runs"])
        touched = {main.idx}
        for a in attrs:
            if a["type"] == "$DATA":
                name = path + ":" + a["name"] if a["name"] else path
                o = self.obj("f", name)
            else:
                # the index of a directory, and the attribute list, $EA,
                # ... of anything: the file's or directory's own
                o = main
            if o is None:
                self.err("%s: %s %s not in the map" %
                         (path, a["type"], a["name"]))
                continue
            touched.add(o.idx)
            if a["resident"]:
                if a["type"] not in ("$DATA", "$INDEX_ROOT"):
                    continue  # in the record, whoever it is mapped to
                if not self.touches(o, vol.record_bytes(a["rec"])):
                    self.err("%s: resident %s not mapped in MFT record "
                             "%d" % (path, a["type"], a["rec"]))
            elif not self.covered(o, vol.runs_bytes(a["runs"])):
                self.err("%s: runs of %s %s not all mapped to %s" %
                         (path, a["type"], a["name"], o))
        for i in touched:
            bad = self.outside(self.m.objects[i], allowed)
            if bad:
                self.err("%s: %d bytes mapped to %s outside the inode's "
                         "runs and records" % (path, bad,
                                               self.m.objects[i]))

    def check_bitmap(self, vol):
        r = subprocess.run(["ntfscat", "-f", vol.fs, "$Bitmap"],
                           stdout=subprocess.PIPE, env=ENV, check=True)
        bm = r.stdout
        mapped = 0
        missing = 0
        first = None
        starts, iv = self.m.intervals(self.disk)
        devobjs = {o.idx for o in self.m.objects if o.dev == self.dev}
        # runs of used clusters
        c = 0
        ncl = min(len(bm) * 8, vol.nclusters)  # the tail bits are padding
        while c < ncl:
            if not bm[c >> 3] & (1 << (c & 7)):
                c += 1
                continue
            e = c
            while e < ncl and bm[e >> 3] & (1 << (e & 7)):
                e += 1
            a = vol.offset + c * vol.cs
            b = vol.offset + e * vol.cs
            for x, y, objs in self.m.split(self.disk, a, b):
                if objs & devobjs:
                    mapped += y - x
                else:
                    missing += y - x
                    if first is None:
                        first = x
            c = e
        print("ntfs-check: $Bitmap: %d bytes in use mapped, %d not" %
              (mapped, missing))
        if missing:
            self.err("used clusters not mapped, first at disk offset 0x%x" %
                     first)

    def check_content(self, image, markers):
        data = open(image, "rb").read()
        for marker, path in markers.items():
            o = self.obj("f", path)
            n = 0
            for m in re.finditer(re.escape(marker.encode()), data):
                n += 1
                pos = m.start()
                objs = {self.m.objects[i] for i in
                        self.m.split(self.disk, pos, pos + len(marker))[0][2]
                        if self.m.objects[i].type == "f"}
                if o is None or objs != {o}:
                    self.err("marker %s at 0x%x: mapped to %s, expected %s"
                             % (marker, pos, sorted(map(str, objs)), path))
            if n == 0:
                self.err("marker %s not found in the image" % marker)
            self.checked += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fs", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--disk", type=int, default=1)
    ap.add_argument("--paths")
    ap.add_argument("--sample", type=int, default=1)
    ap.add_argument("--bitmap", action="store_true")
    ap.add_argument("--content")
    ap.add_argument("--image")
    a = ap.parse_args()

    vol = Vol(a.fs, a.offset)
    ck = Checker(BMap(a.map), a.disk, a.device)
    if a.paths:
        with open(a.paths, encoding="utf-8", errors="surrogateescape") as f:
            paths = [p.rstrip("\n") for p in f if p.strip()]
        for i, p in enumerate(paths):
            if i % a.sample == 0:
                ck.check_path(vol, p)
    if a.bitmap:
        ck.check_bitmap(vol)
    if a.content:
        with open(a.content, encoding="utf-8") as f:
            ck.check_content(a.image or a.fs, json.load(f))
    print("ntfs-check: %d objects checked, %d errors" %
          (ck.checked, ck.errors))
    return 1 if ck.errors else 0


if __name__ == "__main__":
    sys.exit(main())
