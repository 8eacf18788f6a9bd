#!/usr/bin/python3
"""Check the `l` footprints of md arrays in bmapgen maps against mdadm.

Run by tests/test-md.sh in the directory holding the md-*.img test images
and their maps (SET.map).  For every member of every array (whole disk
images, or partitions found with sfdisk and cut out with dd), `mdadm
--examine` (an independent superblock reader) gives the data offset and
the size md uses; the array's `l` object must cover exactly
[member start + data offset, + used bytes) on that disk, one range per
member and nothing else:

  raid1, raid4/5/6  used = "Used Dev Size" (rounded down to the chunk for
                  raid4/5/6: md's stripes; parity chunks included)
  raid0           used = "Avail Dev Size" rounded down to the chunk
  linear          used = "Avail Dev Size" (rounded down to "Rounding")
  raid10          the rows md(4)'s layout pictures put chunks in (see
                  raid10_ranges)

Prints one "ok"/"FAIL" line per member; exit 1 on any failure.

    md_check.py blank-parity SRC DST   (see blank_parity())
SPDX-License-Identifier: GPL-2.0-or-later
"""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile

SETS = [  # set, array device in the map, members zeroed on purpose
    ("r1", "/dev/md/r1"),
    ("r5lvm", "/dev/md/r5lvm"),
    ("r10f", "/dev/md/r10f"),
    ("r0", "/dev/md/r0"),
    ("r5deg", "/dev/md/r5deg"),
    ("r090", "/dev/md0"),
    ("r6", "/dev/md/r6"),
    ("r10n3", "/dev/md/r10n3"),
    ("r10o2", "/dev/md/r10o2"),
    ("lin", "/dev/md/lin"),
    ("r4", "/dev/md/r4"),
]


def members(img):
    """(start, size) of the places on IMG that may be md members."""
    size = os.path.getsize(img)
    r = subprocess.run(["sfdisk", "-J", img], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        return [(0, size)]
    pt = json.loads(r.stdout)["partitiontable"]
    ss = pt.get("sectorsize", 512)
    return [(p["start"] * ss, p["size"] * ss) for p in pt["partitions"]]


def examine(img, start, size, tmp):
    """mdadm --examine of bytes [start, start+size) of IMG, as a dict."""
    with open(img, "rb") as f, open(tmp, "wb") as o:
        f.seek(start)
        left = size
        while left:
            b = f.read(min(left, 1 << 20))
            if not b:
                break
            o.write(b)
            left -= len(b)
    r = subprocess.run(["mdadm", "--examine", tmp], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    info = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*([A-Za-z ]+?) : (.*)$", line)
        if m:
            info[m.group(1)] = m.group(2).strip()
    return info


def num(s):
    return int(s.split()[0])


def chunk_bytes(info):
    c = info.get("Chunk Size", "0K")
    m = re.match(r"(\d+)K", c)
    return int(m.group(1)) * 1024 if m else 0


def expected(info):
    """(data offset, used bytes) on this member."""
    v = info["Version"]
    level = info["Raid Level"]
    chunk = chunk_bytes(info)
    # mdadm leaves out a zero data offset (1.0) and a used size equal to
    # the available size
    if v.startswith("0.9"):
        off = 0
        unit = 1024  # 0.90 sizes are in KiB
    else:
        off = num(info.get("Data Offset", "0")) * 512
        unit = 512
    if level in ("raid1", "raid5", "raid4", "raid6"):
        used = num(info.get("Used Dev Size") or info["Avail Dev Size"]) * unit
        if chunk and level != "raid1":
            used -= used % chunk
    elif level == "raid0":
        used = num(info["Avail Dev Size"]) * unit
        used -= used % chunk
    elif level == "linear":
        used = num(info["Avail Dev Size"]) * unit
        m = re.match(r"(\d+)K", info.get("Rounding", "0K"))
        r = int(m.group(1)) * 1024 if m else 0
        if r:
            used -= used % r
    elif level == "raid10":
        used = num(info.get("Used Dev Size") or info["Avail Dev Size"]) * unit
    else:
        raise ValueError("level " + level)
    return off, used


def raid10_ranges(info, off, used):
    """Member byte ranges a raid10 member's chunks occupy, from md(4)'s
    description of the layouts (near: the copies of a chunk on consecutive
    devices, row by row; far: one more copy of each chunk on the next
    device, in the far half; offset: in the next row, on the next device).
    Array size as md's raid10_size: floor(chunks per device / far) x
    devices / near.  (mdadm's printed "Array Size" is not rounded so.)"""
    chunk = chunk_bytes(info)
    n = int(info["Raid Devices"])
    role = int(info["Device Role"].split()[-1])
    lay = dict((k, int(v)) for k, v in re.findall(r"(near|far|offset)=(\d+)",
                                                  info.get("Layout", "")))
    nc, fc, fo = lay.get("near", 1), lay.get("far", 1), lay.get("offset", 1)
    if (fc > 1 or fo > 1) and nc != 1:
        raise ValueError("layout " + info.get("Layout", "?"))
    copies = nc * fc * fo
    cpd = used // chunk
    arr = cpd // (fc * fo) * n // nc
    per_dev = -(-arr * copies // n)
    stride = per_dev // fc
    rows = set()
    for c in range(arr):
        if fo > 1:  # offset: chunk row r -> rows fo*r, copies below
            m, r = c % n, (c // n) * fo
            for f in range(fo):
                if (m + f) % n == role:
                    rows.add(r + f)
        elif fc > 1:  # far: copy f on device m+f, f strides further
            m, r = c % n, c // n
            for f in range(fc):
                if (m + f) % n == role:
                    rows.add(r + f * stride)
        else:  # near: slots c*nc .. c*nc+nc-1 row by row
            for k in range(nc):
                slot = c * nc + k
                if slot % n == role:
                    rows.add(slot // n)
    out = []
    for r in sorted(rows):
        a = off + r * chunk
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], a + chunk)
        else:
            out.append((a, a + chunk))
    return out


def footprint(mapfile, dev):
    """{disk: [(start, end)]} of `l` objects DEV, adjacent ranges merged."""
    out = {}
    with open(mapfile, encoding="utf-8", errors="replace") as f:
        for line in f:
            w = line.split(" ", 5)
            if len(w) < 5 or w[3] != "l" or w[4].rstrip("\n") != dev:
                continue
            d, s, e = int(w[0]), int(w[1], 16), int(w[2], 16)
            out.setdefault(d, []).append((s, e))
    for d, rs in out.items():
        rs.sort()
        merged = []
        for s, e in rs:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        out[d] = merged
    return out


def blank_parity(src, dst):
    """Copy disk image SRC to DST with the parity chunks of its raid4 and
    left-symmetric raid5/6 members zeroed.  P (and Q, whose first data
    coefficient is 1) repeat a data sector verbatim wherever the stripe's
    other data sectors are zero, so a tag would appear in parity, which
    belongs to no file.  Parity places come from mdadm --examine (role,
    data offset, chunk, used size) and the textbook rules: raid4 P on the
    last member; left-symmetric stripe s has P on member n-1 - s mod n and
    raid6's Q on the next one."""
    with open(src, "rb") as f:
        img = bytearray(f.read())
    with tempfile.TemporaryDirectory() as td:
        tmp = os.path.join(td, "member")
        for start, size in members(src):
            info = examine(src, start, size, tmp)
            if info is None:
                continue
            level = info["Raid Level"]
            if level not in ("raid4", "raid5", "raid6"):
                continue
            if level != "raid4" and info.get("Layout") != "left-symmetric":
                raise ValueError("layout " + info.get("Layout", "?"))
            n = int(info["Raid Devices"])
            role = int(info["Device Role"].split()[-1])
            chunk = chunk_bytes(info)
            off, used = expected(info)
            for s in range(used // chunk):
                if level == "raid4":
                    par = (n - 1,)            # P on the last member
                else:
                    p = n - 1 - s % n         # P rotates backwards
                    par = (p, (p + 1) % n) if level == "raid6" else (p,)
                if role in par:
                    a = start + off + s * chunk
                    img[a:a + chunk] = bytes(chunk)
    with open(dst, "wb") as f:
        f.write(img)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "blank-parity":
        blank_parity(sys.argv[2], sys.argv[3])
        return 0
    fail = 0
    with tempfile.TemporaryDirectory() as td:
        tmp = os.path.join(td, "member")
        for name, dev in SETS:
            imgs = sorted(glob.glob("md-%s.img" % name) +
                          glob.glob("md-%s-?.img" % name))
            if not imgs:
                continue
            fp = footprint(name + ".map", dev)
            want = {}
            for disk, img in enumerate(imgs, 1):
                for start, size in members(img):
                    info = examine(img, start, size, tmp)
                    if info is None:
                        print("ok %s: %s at 0x%x: no md superblock" % (name, img, start))
                        continue
                    off, used = expected(info)
                    if info["Raid Level"] == "raid10":
                        rs = raid10_ranges(info, start + off, used)
                    else:
                        rs = [(start + off, start + off + used)]
                    want.setdefault(disk, []).extend(rs)
            for disk in sorted(set(want) | set(fp)):
                w = sorted(want.get(disk, []))
                g = fp.get(disk, [])
                if w == g:
                    print("ok %s: disk %d: %s" % (name, disk, " ".join(
                        "%x-%x" % r for r in w)))
                else:
                    print("FAIL %s: disk %d: mdadm %s, bmapgen %s" % (name, disk, " ".join(
                        "%x-%x" % r for r in w), " ".join("%x-%x" % r for r in g)))
                    fail = 1
    return fail


if __name__ == "__main__":
    sys.exit(main())
