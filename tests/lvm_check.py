#!/usr/bin/python3
"""Check bmapgen's LVM `l` objects against LVM's own report.

    lvm_check.py MAP PVSEGS.json LVS.json EXTENT.txt DISKS

PVSEGS.json is `pvs --segments --reportformat json --units b -o
pv_name,pe_start,pvseg_start,pvseg_size,lv_name`, LVS.json `lvs -a
--reportformat json -o lv_name,lv_parent,segtype,...`, EXTENT.txt the
VG's extent size in bytes (`vgs -o vg_extent_size --units b`), DISKS the
comma-separated PV device names of disks 1, 2, ... as LVM saw them.

Expected footprint of a visible LV: every PV segment of the LV and of the
hidden LVs whose lv_parent chain leads to it; of a hidden LV: its own PV
segments.  A thin LV has no PV segments: its object must lie inside its
pool's data LV and be non-empty.  bmapgen's `l /dev/VG/LV` (hidden:
`l /dev/VG/[LV]`) ranges must equal the expected ones exactly.

SPDX-License-Identifier: GPL-2.0-or-later
"""

import json
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


def main():
    mapf, pvsegf, lvsf, extf, disks = sys.argv[1:6]
    disk_of = {n: i + 1 for i, n in enumerate(disks.split(","))}
    es = int(open(extf).read().strip().rstrip("B"))
    pvsegs = json.load(open(pvsegf))["report"][0]["pv"]
    lvs = json.load(open(lvsf))["report"][0]["lv"]

    def bare(n):
        return n.strip("[]")

    parent = {bare(l["lv_name"]): bare(l["lv_parent"]) for l in lvs}
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

    def root_of(n):
        seen = set()
        while parent.get(n) and n not in seen:
            seen.add(n)
            n = parent[n]
        return n

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
        if n in hidden:
            dev = "/dev/%s/[%s]" % (vg, n)
            exp = merge(own.get(n, []))
        else:
            dev = "/dev/%s/%s" % (vg, n)
            exp = merge(r for m in names if root_of(m) == n
                        for r in own.get(m, []))
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
