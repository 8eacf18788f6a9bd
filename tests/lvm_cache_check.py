#!/usr/bin/python3
"""Check a bmapgen map of dm-cache LVs against their cache metadata.

    lvm_cache_check.py MAP PVSEGS.json EXTENT.txt DISKS DIRTY.txt
                       LV:POOL[:MSTART:DSTART]... IMAGE...

An independent reader of dm-cache's metadata (linux
drivers/md/dm-cache-metadata.c, persistent-data btrees and arrays; no
checksums, no bmapgen code): for each LV, the cache pool POOL's metadata
and data sub-LVs (POOL_cmeta, POOL_cdata in LVM's PV segment report) or,
with MSTART:DSTART (sectors), one cache volume POOL holding both (lvm2's
--cachevol).  Its count of dirty blocks must equal dm-cache's own
(DIRTY.txt: "vgt-LV: N" from dmsetup status before deactivation).

Then, per cache block of 64 KiB (or whatever the superblock says), with
O the origin chunk's disk range and C the cache block's, and "objects"
the `f`, `d` and `m` objects of /dev/vgt/LV with their offsets inside
the chunk:
  valid and clean   objects in C = objects in O (C is a copy)
  valid and dirty   no object in O (its origin copy is stale; what C
                    holds is checked by the tags, tests/test-lvm.sh)
  not valid         no object in C
(Of two cache blocks naming one origin block, which the kernel never
writes, the later is taken, as bmapgen does.)
Exit status 0 when all hold, 1 otherwise.
SPDX-License-Identifier: GPL-2.0-or-later
"""

import json
import struct
import sys

BLOCK = 4096


def le32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def le64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


def btree(meta, root, out):
    """(key, value) pairs of the persistent-data btree at ROOT."""
    b = meta[root * BLOCK:(root + 1) * BLOCK]
    flags, nr, mx = le32(b, 4), le32(b, 16), le32(b, 20)
    for i in range(nr):
        k, v = le64(b, 32 + 8 * i), le64(b, 32 + 8 * mx + 8 * i)
        if flags & 1:
            btree(meta, v, out)
        else:
            out.append((k, v))
    return out


def array(meta, root):
    """index -> le64 value of the dm-array at ROOT."""
    vals = {}
    for k, blk in btree(meta, root, []):
        a = meta[blk * BLOCK:(blk + 1) * BLOCK]
        mx, nr = le32(a, 4), le32(a, 8)
        for j in range(nr):
            vals[k * mx + j] = le64(a, 24 + 8 * j)
    return vals


def main():
    mapf, pvsegf, extf, disks, dirtyf = sys.argv[1:6]
    specs = [a for a in sys.argv[6:] if ":" in a]
    images = [open(p, "rb").read() for p in sys.argv[6 + len(specs):]]
    disk_of = {n: i for i, n in enumerate(disks.split(","))}
    es = int(open(extf).read().strip().rstrip("B"))
    where = {}  # LV -> (disk index, byte offset); one segment each
    for p in json.load(open(pvsegf))["report"][0]["pvseg"]:
        name = p["lv_name"].strip("[]")
        if name:
            assert name not in where, "%s has several segments" % name
            where[name] = (disk_of[p["pv_name"]],
                           int(p["pe_start"].rstrip("B")) + int(p["pvseg_start"]) * es)
    kdirty = {}
    for line in open(dirtyf):
        name, n = line.split()
        kdirty[name.rstrip(":").split("-", 1)[1]] = int(n)
    objs = {}  # (disk 1-based, byte) ranges per LV: list of (start, end, obj)
    for line in open(mapf, "rb"):
        w = line.rstrip(b"\n").split(b" ", 5)
        if len(w) == 6 and w[3] in (b"f", b"d", b"m"):
            dev = w[4].decode()
            objs.setdefault(dev, []).append((int(w[0]), int(w[1], 16), int(w[2], 16),
                                             w[3] + b" " + w[5]))
    errors = []
    for spec in specs:
        lv, pool, *cv = spec.split(":")
        if cv:
            d, base = where[pool]
            mdisk, moff = d, base + int(cv[0]) * 512
            ddisk, doff = d, base + int(cv[1]) * 512
        else:
            mdisk, moff = where[pool + "_cmeta"]
            ddisk, doff = where[pool + "_cdata"]
        odisk, ooff = where[lv + "_corig"]
        meta = images[mdisk][moff:moff + 64 * BLOCK * 256]
        sb = meta[:BLOCK]
        assert le64(sb, 32) == 0o6142003, "%s: no dm-cache superblock" % lv
        version, clean = le32(sb, 40), le32(sb, 4) & 1
        chunk = le32(sb, 232) * 512
        ncb = le32(sb, 240)
        mapping = array(meta, le64(sb, 192))
        bits = {}
        if version == 2 and clean:
            for i, word in array(meta, le64(sb, 284)).items():
                bits[i] = word
        table = {}  # origin chunk -> (cache block, dirty)
        for cb in range(ncb):
            v = mapping.get(cb, 0)
            if not v & 1:
                continue
            if not clean:
                dirty = True
            elif version == 1:
                dirty = bool(v & 2)
            else:
                dirty = bool(bits.get(cb // 64, 0) >> (cb % 64) & 1)
            table[v >> 16] = (cb, dirty)
        ndirty = sum(1 for _, dt in table.values() if dt)
        if ndirty != kdirty.get(lv):
            errors.append("%s: %d dirty blocks in the metadata, dm-cache said %s"
                          % (lv, ndirty, kdirty.get(lv)))
        mine = objs.get("/dev/vgt/" + lv, [])

        def inside(disk, start):
            """objects of the LV in [start, start + chunk) of DISK (1-based),
            with offsets relative to START"""
            return sorted((max(s, start) - start, min(e, start + chunk) - start, o)
                          for d, s, e, o in mine
                          if d == disk and s < start + chunk and e > start)
        used = set()
        nclean = 0
        for ob, (cb, dirty) in sorted(table.items()):
            used.add(cb)
            o_objs = inside(odisk + 1, ooff + ob * chunk)
            c_objs = inside(ddisk + 1, doff + cb * chunk)
            if dirty and o_objs:
                errors.append("%s: origin chunk %d is stale (dirty in cache block %d) "
                              "but mapped: %s" % (lv, ob, cb, o_objs[0]))
            if not dirty:
                nclean += 1
                if o_objs != c_objs:
                    errors.append("%s: clean cache block %d is not mapped as a copy of "
                                  "origin chunk %d" % (lv, cb, ob))
        for cb in range(ncb):
            if cb not in used and inside(ddisk + 1, doff + cb * chunk):
                errors.append("%s: unused cache block %d mapped" % (lv, cb))
        print("%s: metadata v%d, %d cache blocks of %d KiB: %d valid (%d dirty, %d clean)"
              % (lv, version, ncb, chunk >> 10, len(table), ndirty, nclean))
    for e in errors[:20]:
        print("  " + e)
    print("lvm_cache_check: %d errors" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
