"""Reading bmapgen / virt-bmap maps, shared by the oracles.

A line is "DISK START END TYPE DEVICE [PATH]" (hex, END exclusive).  The
device and path are escaped by bmapgen: "\\\\", "\\n", "\\t", "\\xHH";
PATH may contain spaces (it is the rest of the line); metadata paths are
"<name>".

SPDX-License-Identifier: GPL-2.0-or-later
"""

import bisect
import heapq
import re

_ESC = re.compile(rb"\\(\\|n|t|x[0-9a-fA-F]{2})")


def unescape(b):
    """Undo bmapgen's path escaping; returns bytes."""
    def rep(m):
        s = m.group(1)
        if s == b"\\":
            return b"\\"
        if s == b"n":
            return b"\n"
        if s == b"t":
            return b"\t"
        return bytes([int(s[1:], 16)])
    return _ESC.sub(rep, b)


class MapError(Exception):
    pass


class Obj:
    __slots__ = ("type", "dev", "path", "idx")

    def __init__(self, typ, dev, path, idx):
        self.type, self.dev, self.path, self.idx = typ, dev, path, idx

    def __repr__(self):
        if self.path is None:
            return "%s %s" % (self.type, self.dev)
        return "%s %s %s" % (self.type, self.dev, self.path)


class BMap:
    """All ranges of a map, with point/range queries per disk.

    Paths and devices are kept as str (UTF-8, undecodable bytes as
    surrogateescape) so they compare with manifest paths."""

    def __init__(self, path):
        self.objects = []
        self._objidx = {}
        self.ranges = {}  # disk -> list of (start, end, objidx), sorted
        with open(path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip(b"\n")
                if not line.strip():
                    continue
                parts = line.split(b" ", 5)
                if len(parts) < 5:
                    raise MapError("%s:%d: bad line" % (path, lineno))
                try:
                    disk = int(parts[0])
                    start = int(parts[1], 16)
                    end = int(parts[2], 16)
                except ValueError:
                    raise MapError("%s:%d: bad numbers" % (path, lineno))
                typ = parts[3].decode("ascii", "replace")
                if typ not in ("v", "p", "l", "d", "f", "m") or end < start:
                    raise MapError("%s:%d: bad type/range" % (path, lineno))
                dev = unescape(parts[4]).decode("utf-8", "surrogateescape")
                p = None
                if len(parts) == 6:
                    raw = parts[5]
                    if typ == "m" and raw.startswith(b"<") and raw.endswith(b">"):
                        raw = raw[1:-1]
                    p = unescape(raw).decode("utf-8", "surrogateescape")
                key = (typ, dev, p)
                oi = self._objidx.get(key)
                if oi is None:
                    oi = len(self.objects)
                    self._objidx[key] = oi
                    self.objects.append(Obj(typ, dev, p, oi))
                self.ranges.setdefault(disk, []).append((start, end, oi))
        for d in self.ranges:
            self.ranges[d].sort()
        self._sweepers = {}

    def object(self, typ, dev, path):
        i = self._objidx.get((typ, dev, path))
        return None if i is None else self.objects[i]

    def objects_of(self, types):
        return [o for o in self.objects if o.type in types]

    def ranges_of(self, objidx):
        """[(disk, start, end)] of one object."""
        out = []
        for d, rs in self.ranges.items():
            for s, e, o in rs:
                if o == objidx:
                    out.append((d, s, e))
        return out

    def ranges_by_object(self, types=("f", "d", "m")):
        out = {}
        for d, rs in self.ranges.items():
            for s, e, o in rs:
                if self.objects[o].type in types:
                    out.setdefault(o, []).append((d, s, e))
        return out

    def covering(self, disk, points, types=("f", "d", "m")):
        """For sorted POINTS on DISK, yield (point, [objidx covering it]).

        A sweep: ranges enter a heap (by end) when their start is
        reached and leave when their end is passed, so overlapping
        objects (virt-bmap prints each piece once per object) are all
        reported."""
        rs = [r for r in self.ranges.get(disk, ())
              if self.objects[r[2]].type in types]
        i = 0
        heap = []
        for p in points:
            while i < len(rs) and rs[i][0] <= p:
                heapq.heappush(heap, (rs[i][1], rs[i][2]))
                i += 1
            while heap and heap[0][0] <= p:
                heapq.heappop(heap)
            yield p, [o for _, o in heap]

    def intervals(self, disk, types=("f", "d", "m")):
        """Elementary non-overlapping intervals [(start, end, objset)] of
        DISK covering all ranges of the given types (for range queries)."""
        key = (disk, tuple(types))
        if key in self._sweepers:
            return self._sweepers[key]
        rs = [r for r in self.ranges.get(disk, ())
              if self.objects[r[2]].type in types]
        bounds = sorted({x for r in rs for x in r[:2]})
        out = []
        i = 0
        heap = []
        for a, b in zip(bounds, bounds[1:]):
            while i < len(rs) and rs[i][0] <= a:
                heapq.heappush(heap, (rs[i][1], rs[i][2]))
                i += 1
            while heap and heap[0][0] <= a:
                heapq.heappop(heap)
            if heap:
                objs = frozenset(o for _, o in heap)
                if out and out[-1][1] == a and out[-1][2] == objs:
                    out[-1] = (out[-1][0], b, objs)
                else:
                    out.append((a, b, objs))
        starts = [x[0] for x in out]
        self._sweepers[key] = (starts, out)
        return self._sweepers[key]

    def split(self, disk, start, end, types=("f", "d", "m")):
        """Split [start, end) of DISK into [(a, b, objset)] pieces
        (objset empty where nothing of TYPES is mapped)."""
        starts, iv = self.intervals(disk, types)
        out = []
        pos = start
        k = bisect.bisect_right(starts, start) - 1
        if k < 0:
            k = 0
        while pos < end:
            if k < len(iv) and iv[k][1] <= pos:
                k += 1
                continue
            if k >= len(iv) or iv[k][0] >= end:
                out.append((pos, end, frozenset()))
                break
            a, b, objs = iv[k]
            if a > pos:
                out.append((pos, a, frozenset()))
                pos = a
                continue
            nb = min(b, end)
            out.append((pos, nb, objs))
            pos = nb
            k += 1
        return out
