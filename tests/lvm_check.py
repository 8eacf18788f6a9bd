#!/usr/bin/python3
"""Check bmapgen's LVM `l` objects against LVM's own report.

    lvm_check.py MAP PVSEGS.json LVS.json EXTENT.txt DISKS
    lvm_check.py blank-parity PVSEGS.json EXTENT.txt DISKS LV=TYPE:CHUNK_KIB,...
                 IMAGE...
    lvm_check.py blank-lvs PVSEGS.json EXTENT.txt DISKS LV,... IMAGE...

PVSEGS.json is `pvs --segments --reportformat json --units b -o
pv_name,pe_start,pvseg_start,pvseg_size,lv_name`, LVS.json `lvs -a
--reportformat json -o lv_name,lv_parent,segtype,...`, EXTENT.txt the
VG's extent size in bytes (`vgs -o vg_extent_size --units b`), DISKS the
comma-separated PV device names of disks 1, 2, ... as LVM saw them.

Expected footprint of an LV: every PV segment of the LV and of the hidden
LVs whose lv_parent chain leads to it (a cache's origin and pool count as
its children).  A thin LV has no PV segments: its object must lie inside its
pool's data LV and be non-empty.  bmapgen's `l /dev/VG/LV` (hidden:
`l /dev/VG/[LV]`) ranges must equal the expected ones exactly.

blank-parity writes bl-IMAGE copies with the parity chunks of the listed
raid4/5/6 LVs zeroed: P (and Q, whose first coefficient is 1) repeat a
data sector verbatim wherever the stripe's other data sectors are zero,
so tags would appear in parity, which belongs to no file.  Members are
the LV's _rimage_N sub-LVs as LVM reports them; parity places follow md's
raid5.c rules for the dm-raid type (raid4 is md's PARITY_0 layout).
blank-lvs zeroes whole (hidden) LVs the same way: cache data holds copies
of origin blocks, which belong to no file either.

SPDX-License-Identifier: GPL-2.0-or-later
"""

import json
import os
import shutil
import sys


def merge(rs):
    out = []
    for d, s, e in sorted(rs):
        if out and out[-1][0] == d and out[-1][2] >= s:
            out[-1][2] = max(out[-1][2], e)
        else:
            out.append([d, s, e])
    return [tuple(x) for x in out]


def inside(small, big):
    for d, s, e in small:
        if not any(bd == d and bs <= s and e <= be for bd, bs, be in big):
            return False
    return True


def parity_members(typ, n, s):
    """Members holding P (and Q) in stripe row S of an N-member array."""
    if typ == "raid4":
        return (0,)
    if typ == "raid5_n":
        return (n - 1,)
    if typ in ("raid5", "raid5_ls", "raid5_la"):
        return (n - 1 - s % n,)
    if typ in ("raid5_rs", "raid5_ra"):
        return (s % n,)
    if typ in ("raid6", "raid6_zr"):
        p = s % n
        return (p, (p + 1) % n)
    if typ == "raid6_nr":
        p = n - 1 - (s + 1) % n
        return (p, (p + 1) % n)
    if typ == "raid6_nc":
        p = n - 1 - s % n
        return (p, (p + n - 1) % n)
    if typ == "raid6_n_6":
        return (n - 2, n - 1)
    raise ValueError("no parity rule for " + typ)


def blank_parity(argv):
    pvsegf, extf, disks, spec = argv[:4]
    images = argv[4:]
    disk_of = {n: i for i, n in enumerate(disks.split(","))}
    es = int(open(extf).read().strip().rstrip("B"))
    pvsegs = json.load(open(pvsegf))["report"][0]["pvseg"]
    blanks = []  # (image index, offset, length)
    for item in spec.split(","):
        lv, rest = item.split("=")
        typ, kib = rest.split(":")
        chunk = int(kib) * 1024
        members = []
        i = 0
        while True:
            segs = [p for p in pvsegs if p["lv_name"] == "[%s_rimage_%d]" % (lv, i)]
            if not segs:
                break
            if len(segs) != 1:
                raise ValueError("%s_rimage_%d: several PV segments" % (lv, i))
            p = segs[0]
            start = int(p["pe_start"].rstrip("B")) + int(p["pvseg_start"]) * es
            members.append((disk_of[p["pv_name"]], start, int(p["pvseg_size"]) * es))
            i += 1
        n = len(members)
        if n < 2:
            raise ValueError("%s: no raid images" % lv)
        rows = members[0][2] // chunk
        for s in range(rows):
            for m in parity_members(typ, n, s):
                d, start, _ = members[m]
                blanks.append((d, start + s * chunk, chunk))
    write_blanked(images, blanks)
    return 0


def write_blanked(images, blanks):
    """bl-IMAGE copies of IMAGES with BLANKS (disk index, offset,
    length) zeroed."""
    for i, img in enumerate(images):
        out = os.path.join(os.path.dirname(img), "bl-" + os.path.basename(img))
        shutil.copyfile(img, out)
        with open(out, "r+b") as f:
            for d, off, n in blanks:
                if d == i:
                    f.seek(off)
                    f.write(bytes(n))


def blank_lvs(argv):
    """bl-IMAGE copies with the PV segments of the named LVs zeroed."""
    pvsegf, extf, disks, names = argv[:4]
    disk_of = {n: i for i, n in enumerate(disks.split(","))}
    es = int(open(extf).read().strip().rstrip("B"))
    want = set(names.split(","))
    blanks = []
    for p in json.load(open(pvsegf))["report"][0]["pvseg"]:
        if p["lv_name"].strip("[]") in want:
            start = int(p["pe_start"].rstrip("B")) + int(p["pvseg_start"]) * es
            blanks.append((disk_of[p["pv_name"]], start, int(p["pvseg_size"]) * es))
    write_blanked(argv[4:], blanks)
    return 0


def main():
    if sys.argv[1] == "blank-parity":
        return blank_parity(sys.argv[2:])
    if sys.argv[1] == "blank-lvs":
        return blank_lvs(sys.argv[2:])
    mapf, pvsegf, lvsf, extf, disks = sys.argv[1:6]
    disk_of = {n: i + 1 for i, n in enumerate(disks.split(","))}
    es = int(open(extf).read().strip().rstrip("B"))
    pvsegs = json.load(open(pvsegf))["report"][0]["pvseg"]
    lvs = json.load(open(lvsf))["report"][0]["lv"]

    def bare(n):
        return n.strip("[]")

    parent = {bare(l["lv_name"]): bare(l["lv_parent"]) for l in lvs}
    # A cache's origin and pool have no lv_parent: they hang off the
    # cached LV as its origin and pool_lv.
    for l in lvs:
        if l["segtype"] in ("cache", "writecache"):
            for k in ("origin", "pool_lv"):
                if l.get(k):
                    parent[bare(l[k])] = bare(l["lv_name"])
    hidden = {bare(l["lv_name"]) for l in lvs if l["lv_name"].startswith("[")}
    segtype = {bare(l["lv_name"]): l["segtype"] for l in lvs}
    own = {}
    for p in pvsegs:
        if not p["lv_name"]:
            continue
        start = int(p["pe_start"].rstrip("B")) + int(p["pvseg_start"]) * es
        size = int(p["pvseg_size"]) * es
        own.setdefault(bare(p["lv_name"]), []).append(
            (disk_of[p["pv_name"]], start, start + size))

    def chain(n):
        """N and its ancestors."""
        out = [n]
        while parent.get(n) and parent[n] not in out:
            n = parent[n]
            out.append(n)
        return out

    vg = None
    got = {}
    for line in open(mapf, encoding="utf-8", errors="replace"):
        f = line.split(" ", 5)
        if len(f) < 5 or f[3] != "l":
            continue
        dev = f[4].rstrip("\n")
        vg = dev.split("/")[2]
        got.setdefault(dev, []).append((int(f[0]), int(f[1], 16), int(f[2], 16)))
    if vg is None:
        print("lvm_check: no l objects in the map")
        return 1
    fail = 0
    names = sorted(parent)
    for n in names:
        dev = ("/dev/%s/[%s]" if n in hidden else "/dev/%s/%s") % (vg, n)
        exp = merge(r for m in names if n in chain(m) for r in own.get(m, []))
        g = merge(got.get(dev, []))
        if segtype[n] == "thin":
            pool = [l for l in lvs if bare(l["lv_name"]) == n][0].get("pool_lv")
            data = merge(own.get(bare(pool) + "_tdata", []))
            ok = bool(g) and inside(g, data)
            what = "inside %s_tdata" % bare(pool)
        else:
            ok = g == exp
            what = "%d ranges" % len(exp)
        if ok:
            print("ok - %s (%s)" % (dev, what))
        else:
            fail = 1
            print("FAIL - %s: expected %s, got %s" % (
                dev, [(d, hex(s), hex(e)) for d, s, e in exp],
                [(d, hex(s), hex(e)) for d, s, e in g]))
    return fail


if __name__ == "__main__":
    sys.exit(main())
