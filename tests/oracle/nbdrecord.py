#!/usr/bin/python3
"""Record-via-NBD: the Linux kernel as the oracle (virt-bmap's method).

    nbdrecord.py --map MAP [--threshold 99.9] [--max-objects N]
                 [--also PATH]... [--page auto|BYTES]
                 [--remount auto|every|never] [--keep DIR]
                 [--replay DIR] [--json] IMAGE...

Each IMAGE (disks 1, 2, ... of the map) is served read-only by nbdkit
with the log filter; one more nbdkit serves a small "marker" disk.  The
libguestfs appliance attaches them over NBD, sets readahead to 0 on every
block device, mounts every filesystem the map has files on (read-only,
no journal replay) and runs one shell script that, for each file and
directory of the map:

    echo 3 > /proc/sys/vm/drop_caches   # forget data, inodes, dentries
    read a byte of the marker disk       # one logged read = "object k starts"
    read the file / list the directory

Reads on the image disks logged after marker k and before marker k+1 (the
logs share the host clock; each step waits for the previous one) are what
the kernel needed to read object k.  They are split along the map:

  agreement  bytes bmapgen attributes to the object itself (any hard link
             name of it), to a directory on its path, or to metadata of
             its filesystem, plus same-page neighbours where --page is in
             force, over all bytes read (goal >= --threshold %)
  strict     the same without same-page neighbours (always reported)
  same-page  NTFS (--page auto: 4096 there): the kernel reads the 1 KiB
  neighbours MFT records of a 4 KiB page together, three of them other
             files'.  Bytes of another MFT record (recognised by content:
             "FILE", its number at 0x2c) in a page that holds the
             object's bytes, or its own record (number = stat's inode),
             count; the object's own record and all data must be
             attributed right, so a map shifted by a record still fails
  unread     bytes of the file's own ranges the kernel did not read: when
             the kernel read less than the file's data from the mapped
             ranges this is "missing" (a failure); when it read enough,
             the rest is "extra" (RAID copies it did not choose, blocks
             past EOF): reported, not a failure

NTFS is mounted by ntfs-3g (FUSE) in the appliance; its own inode cache
survives drop_caches, so FUSE filesystems are remounted (outside every
object's window, after an "idle" marker read) after the stat and before
a hard link seen before (--remount auto) or before every object.

The appliance runs under TCG unless LIBGUESTFS_BACKEND* are set; launch
costs ~30 s, each object ~0.1 s, so trees with many files are sampled
down to --max-objects (all directories first, then files evenly spread;
default 400, 0 = everything).

Exit status: 0 pass, 1 agreement below threshold or missing bytes, 2
could not run (missing tools, appliance failure: a test failure too).

SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bmapfile import BMap, MapError  # noqa: E402

SMALL_READ = 16384  # files up to this size are read with a shell builtin
# A read of the marker disk at offset 0 starts an object's window; one at
# IDLE_OFF ends it early: what follows (remounting a FUSE filesystem) is
# nobody's.
IDLE_OFF = 0x80000
LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (?:connection=\d+ )?"
                    r"Read id=\d+ offset=0x([0-9a-f]+) count=0x([0-9a-f]+)")


class RunError(Exception):
    pass


def disk_label(n):
    """Label of disk N (1-based) in the appliance: bmdiska, bmdiskb, ...,
    bmdiskaa (libguestfs labels are alphabetic)."""
    s = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(ord("a") + r) + s
    return "bmdisk" + s


def disk_index(letters):
    n = 0
    for c in letters:
        n = n * 26 + (ord(c) - ord("a") + 1)
    return n


def appliance_device(dev):
    """Where the map's device is inside the appliance.  /dev/sdX[N] are
    found through the libguestfs drive labels (the appliance disk may come
    first); everything else (/dev/VG/LV, /dev/mdN) is used as named."""
    m = re.match(r"^/dev/sd([a-z]+)(\d*)$", dev)
    if m:
        return "/dev/disk/guestfs/%s%s" % (disk_label(disk_index(m.group(1))), m.group(2))
    return dev


def shq(s):
    """Single-quote for sh (bytes in, bytes out)."""
    if isinstance(s, str):
        s = s.encode("utf-8", "surrogateescape")
    return b"'" + s.replace(b"'", b"'\\''") + b"'"


def parse_log(path):
    """[(time, offset, count)] of the reads in an nbdkit log."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LOG_RE.match(line)
            if not m:
                continue
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
            out.append((t.timestamp(), int(m.group(2), 16), int(m.group(3), 16)))
    return out


def select_objects(bmap, max_objects, also=()):
    """(dev, path, type) to read: directories first, then files evenly
    spread over the sorted list, at most MAX_OBJECTS (0: all); plus the
    files and directories whose path is in ALSO."""
    dirs = sorted((o.dev, o.path) for o in bmap.objects_of("d") if o.path)
    sobj = set()
    for v in stream_objects(bmap, ntfs_devices(bmap)).values():
        sobj |= v
    files = sorted((o.dev, o.path) for o in bmap.objects_of("f")
                   if o.path and o.idx not in sobj)
    total = len(dirs) + len(files)
    if max_objects and total > max_objects:
        nd = min(len(dirs), max_objects // 3)
        if nd < len(dirs):
            step = len(dirs) / nd
            dirs = [dirs[int(i * step)] for i in range(nd)]
        nf = max_objects - len(dirs)
        if nf < len(files):
            # files of small directories first (the big, sparse,
            # fragmented, oddly named ones), then an even spread over
            # the crowded directories
            count = {}
            for d, p in files:
                k = (d, p.rsplit("/", 1)[0])
                count[k] = count.get(k, 0) + 1
            rare = [f for f in files if count[(f[0], f[1].rsplit("/", 1)[0])] <= 50]
            crowd = [f for f in files if count[(f[0], f[1].rsplit("/", 1)[0])] > 50]
            if len(rare) >= nf:
                step = len(rare) / nf
                files = [rare[int(i * step)] for i in range(nf)]
            else:
                nc = nf - len(rare)
                step = len(crowd) / nc
                files = sorted(rare + [crowd[int(i * step)] for i in range(nc)])
    if also:
        want = set(also)
        dirs = sorted(set(dirs) | {(o.dev, o.path) for o in bmap.objects_of("d")
                                   if o.path in want})
        files = sorted(set(files) | {(o.dev, o.path) for o in bmap.objects_of("f")
                                     if o.path in want})
    return [(d, p, "d") for d, p in dirs] + [(d, p, "f") for d, p in files], total


def make_script(objs, devices, out, remount="auto"):
    """The appliance side.  Writes results to /sysroot/out.

    Filesystems mounted through FUSE (NTFS: ntfs-3g) are unmounted and
    mounted again (REMOUNT "auto") after the stat of all files and before
    a file whose inode an earlier object opened (another hard link), or
    ("every") before every object: the driver keeps its own inode / MFT
    record cache, which drop_caches does not reach, so a file it has seen
    would be served without reading the disk.  A remount happens after an
    "idle" marker read, outside every object's window.  On FUSE the named
    streams are read too (getfattr: ntfs-3g shows them as user.*)."""
    S = []
    a = S.append
    a(b"exec >/sysroot/out 2>&1")
    a(b"M=$(readlink -f /dev/disk/guestfs/bmmark)")
    a(b"echo BMDEV mark $M")
    a(b"command -v getfattr >/dev/null && GF=1 || GF=")
    a(b"for b in /dev/sd* /dev/dm-* /dev/md* /dev/md/*; do [ -b \"$b\" ] && "
      b"blockdev --setra 0 \"$b\"; done; blockdev --getra \"$M\"")
    for i, (dev, adev) in enumerate(devices):
        mp = "/tmp/bm/%d" % i
        a(b"mkdir -p " + shq(mp))
        a(b"d=" + shq(adev))
        m = re.match(r"^/dev/md/(.+)$", dev)
        if m:
            # mdadm in the appliance may name a foreign array
            # /dev/md/HOST:NAME or /dev/md/NAME_0
            q = shq(m.group(1))
            a(b"if [ ! -b \"$d\" ]; then for c in /dev/md/*:%s /dev/md/%s_*; do "
              b"if [ -b \"$c\" ]; then d=$c; break; fi; done; fi" % (q, q))
        a(b"echo BMDEV %d \"$d\"" % i)
        a(b"o=; for x in ro,noload ro,norecovery ro; do if mount -o $x \"$d\" %s 2>/dev/null; "
          b"then o=$x; break; fi; done" % shq(mp))
        a(b"if [ -n \"$o\" ]; then echo BMMOUNT %d ok; else mount -o ro \"$d\" %s; "
          b"echo BMMOUNT %d failed; fi" % (i, shq(mp), i))
        # the filesystem type the kernel reports (fuseblk: ntfs-3g)
        a(b"D%d=$d O%d=$o T%d=; while read -r _d _m _t _r; do [ \"$_m\" = %s ] && T%d=$_t; "
          b"done < /proc/mounts" % (i, i, i, shq(mp), i))
        a(b"echo BMFS %d \"$T%d\" \"$O%d\" $(readlink -f /sbin/mount.$(blkid -o value -s TYPE "
          b"\"$d\" 2>/dev/null) 2>/dev/null)" % (i, i, i))
    # readahead again: LVs/md arrays may have appeared late
    a(b"for b in /dev/sd* /dev/dm-* /dev/md* /dev/md/*; do [ -b \"$b\" ] && "
      b"blockdev --setra 0 \"$b\"; done; blockdev --getra \"$M\"")
    # classify (builtins only), then one stat for all files and directories
    a(b"set --")
    for k, (dev, path, typ, di) in enumerate(objs):
        p = shq("/tmp/bm/%d" % di + ("" if path == "/" else path))
        a(b"if [ -L %s ]; then echo BMTYPE %d link; elif [ -d %s ]; then echo BMTYPE %d dir; "
          b"K%d=d; set -- \"$@\" %s; elif [ -f %s ]; then echo BMTYPE %d file; K%d=f; "
          b"set -- \"$@\" %s; else echo BMTYPE %d other; fi" % (p, k, p, k, k, p, p, k, k, p, k))
    a(b"stat --printf 'BMSTAT %i %s %b %h\\n' -- \"$@\" > /tmp/bmstat")
    a(b"cat /tmp/bmstat")
    a(b"exec 4</tmp/bmstat")
    a(b"echo BMSTART")
    a(b"SEEN=")
    # remount DEVICE-INDEX: idle marker, then a fresh FUSE driver
    a(b"remount() { eval \"t=\\$T$1 d=\\$D$1 o=\\$O$1\"; case $t in fuse*) "
      b"dd if=\"$M\" of=/dev/null bs=512 skip=%d count=1 iflag=direct 2>/dev/null; "
      b"umount /tmp/bm/$1 && mount -o $o \"$d\" /tmp/bm/$1 || echo BMREMOUNT $1 failed;; "
      b"esac; }" % (IDLE_OFF // 512))
    # streams DEVICE-INDEX FILE: read the named streams on FUSE (ntfs-3g)
    a(b"streams() { eval \"t=\\$T$1\"; case $t in fuse*) [ -n \"$GF\" ] && getfattr "
      b"--absolute-names -d -m '^user\\.' -- \"$2\" >/dev/null 2>&1;; esac; }")
    if remount != "never":
        for i in range(len(devices)):
            a(b"remount %d" % i)  # forget what the stat above opened
    for k, (dev, path, typ, di) in enumerate(objs):
        p = shq("/tmp/bm/%d" % di + ("" if path == "/" else path))
        # every object: drop caches, marker, read; objects that are not
        # a directory or regular file still get their marker (empty window).
        # Nothing before the marker may touch the filesystem.
        a(b"case \"$K%d\" in [fd]) read -r _t ino size blocks nl <&4;; esac" % k)
        if remount == "every":
            a(b"remount %d" % di)
        elif remount == "auto":
            a(b"if [ \"$K%d\" = f ]; then case \"$SEEN\" in *\" %d:$ino \"*) remount %d;; esac; "
              b"SEEN=\"$SEEN %d:$ino \"; fi" % (k, di, di, di))
        a(b"echo 3 > /proc/sys/vm/drop_caches; read -r x < \"$M\"")
        a(b"case \"$K%d\" in d) set -- %s/* %s/.*; streams %d %s;; "
          b"f) if [ \"$size\" -gt %d ]; then cat %s > /dev/null; "
          b"else while read -r x; do :; done < %s; fi; streams %d %s;; esac"
          % (k, p, p, di, p, SMALL_READ, p, p, di, p))
    a(b"echo 3 > /proc/sys/vm/drop_caches; read -r x < \"$M\"")
    a(b"echo BMEND")
    for i in range(len(devices)):
        a(b"umount /tmp/bm/%d 2>/dev/null" % i)
    a(b"exit 0")
    with open(out, "wb") as f:
        f.write(b"\n".join(S) + b"\n")


def start_nbdkit(image, sock, log, errlog):
    for stale in (sock, log):  # a reused --keep directory
        if os.path.lexists(stale):
            os.unlink(stale)
    p = subprocess.Popen(
        ["nbdkit", "-f", "-r", "-U", sock, "--filter=log", "file", image,
         "logfile=" + log],
        stdout=subprocess.DEVNULL, stderr=errlog)
    for _ in range(200):
        if os.path.exists(sock):
            return p
        if p.poll() is not None:
            raise RunError("nbdkit failed for %s" % image)
        time.sleep(0.05)
    p.kill()
    raise RunError("nbdkit did not start for %s" % image)


def record(args, bmap, objs, work):
    """Run the appliance; return (reads per disk, marker reads, results)."""
    for tool in ("nbdkit", "guestfish"):
        if not shutil.which(tool):
            raise RunError("%s not installed" % tool)
    env = dict(os.environ)
    env.setdefault("LIBGUESTFS_BACKEND", "direct")
    env.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    if os.path.lexists(os.path.join(work, "out")):
        os.unlink(os.path.join(work, "out"))
    mark = os.path.join(work, "mark.img")
    with open(mark, "wb") as f:
        f.write(b"\n" * (1 << 20))
    procs = []
    errlog = open(os.path.join(work, "nbdkit.err"), "wb")
    gf = []
    try:
        for i, img in enumerate(args.images, 1):
            sock = os.path.join(work, "d%d.sock" % i)
            procs.append(start_nbdkit(os.path.abspath(img), sock,
                                      os.path.join(work, "d%d.log" % i), errlog))
            gf.append('add-drive "" protocol:nbd server:unix:%s format:raw '
                      'readonly:true label:%s' % (sock, disk_label(i)))
        sock = os.path.join(work, "mark.sock")
        procs.append(start_nbdkit(mark, sock, os.path.join(work, "mark.log"), errlog))
        gf.append('add-drive "" protocol:nbd server:unix:%s format:raw '
                  'readonly:true label:bmmark' % sock)
        gf += ["run",
               'debug sh "mount -t tmpfs tmpfs /sysroot"',
               "upload %s /s.sh" % os.path.join(work, "s.sh"),
               'debug sh "sh /sysroot/s.sh"',
               "download /out %s" % os.path.join(work, "out")]
        with open(os.path.join(work, "s.gf"), "w") as f:
            f.write("\n".join(gf) + "\n")
        t0 = time.time()
        r = subprocess.run(["guestfish", "-f", os.path.join(work, "s.gf")],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=args.timeout)
        elapsed = time.time() - t0
        if r.returncode != 0:
            raise RunError("guestfish failed (%d):\n%s" % (
                r.returncode, r.stdout.decode("utf-8", "replace")[-3000:]))
    except subprocess.TimeoutExpired:
        raise RunError("guestfish timed out after %d s" % args.timeout)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        errlog.close()
    reads = {i: parse_log(os.path.join(work, "d%d.log" % i))
             for i in range(1, len(args.images) + 1)}
    marks = parse_log(os.path.join(work, "mark.log"))
    with open(os.path.join(work, "out"), "rb") as f:
        out = f.read().decode("utf-8", "replace")
    return reads, marks, out, elapsed


class PageView:
    """Which pages of a device the kernel read whole, and what is in them.

    Pages are aligned to the device (partition, LV segment) start, which
    the map gives as the p/v/l range holding the offset.  On NTFS the
    neighbours in a page are recognised by their content: MFT records
    start with "FILE" and carry their own number (at 0x2c; extension
    records their base record's at 0x20), so a record the kernel read for
    an object is told apart from its neighbours without trusting the map."""

    def __init__(self, bmap, images, ntfs):
        self.images, self.ntfs, self.files = images, ntfs, {}
        self.spans = {}  # (disk, dev) -> sorted [(start, end)]
        for d, rs in bmap.ranges.items():
            for st, en, oi in rs:
                o = bmap.objects[oi]
                if o.type in ("p", "v", "l"):
                    self.spans.setdefault((d, o.dev), []).append((st, en))
        for key, iv in self.spans.items():  # bmapgen splits them at objects
            self.spans[key] = merge(iv)
        self.recsize = {}
        self.slotcache = {}

    def _read(self, d, off, n):
        f = self.files.get(d)
        if f is None:
            f = self.files[d] = open(self.images[d - 1], "rb")
        f.seek(off)
        return f.read(n)

    def base(self, d, dev, off):
        for st, en in self.spans.get((d, dev), ()):
            if st <= off < en:
                return st
        return 0

    def record_size(self, d, base):
        """MFT record size from the NTFS boot sector at BASE (1024 if none)."""
        rs = self.recsize.get((d, base))
        if rs is None:
            b = self._read(d, base, 512)
            rs = 1024
            if len(b) == 512 and b[3:11] == b"NTFS    ":
                cs = int.from_bytes(b[11:13], "little") * b[13]
                c = b[0x40] - 256 if b[0x40] > 127 else b[0x40]
                v = c * cs if c > 0 else 1 << -c if c < 0 else 0
                if 256 <= v <= 65536:
                    rs = v
            self.recsize[(d, base)] = rs
        return rs

    def slots(self, d, start, n, rs):
        """[(offset, record number, base record number)] of the MFT
        records (by content) in the RS-aligned slots of [START, START+N)."""
        key = (d, start, n, rs)
        out = self.slotcache.get(key)
        if out is None:
            out = []
            data = self._read(d, start, n)
            for i in range(0, len(data) - 0x30 + 1, rs):
                if data[i:i + 4] == b"FILE":
                    num = int.from_bytes(data[i + 0x2c:i + 0x30], "little")
                    base = int.from_bytes(data[i + 0x20:i + 0x26], "little")
                    out.append((start + i, num, base))
            self.slotcache[key] = out
        return out

    def close(self):
        for f in self.files.values():
            f.close()


def ancestors(path):
    out = ["/"]
    parts = [x for x in path.split("/") if x]
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return out


def analyse(args, bmap, objs, reads, marks, out):
    types, stats, mounts, fstypes = {}, [], {}, {}
    remount_failed = 0
    for line in out.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "BMTYPE" and len(w) == 3:
            types[int(w[1])] = w[2]
        elif w[0] == "BMSTAT" and len(w) == 5:
            stats.append(tuple(int(x) for x in w[1:]))
        elif w[0] == "BMMOUNT" and len(w) == 3:
            mounts[int(w[1])] = w[2]
        elif w[0] == "BMFS" and len(w) >= 2:
            fstypes[int(w[1])] = " ".join(w[2:])
        elif w[0] == "BMREMOUNT":
            remount_failed += 1
    if "BMEND" not in out:
        raise RunError("appliance script did not finish:\n" + out[-3000:])
    nmark = len(objs) + 1
    # the appliance may probe the marker disk while booting: ours are
    # the last NMARK reads at offset 0, and the idle markers among them
    starts = [m for m in marks if m[1] == 0]
    if len(starts) < nmark:
        raise RunError("expected %d marker reads at offset 0, found %d" % (nmark, len(starts)))
    ours = starts[-nmark:]
    idles = [t for t, off, _ in marks if off == IDLE_OFF and t >= ours[0][0]]
    # per file and directory: inode (= MFT record number on NTFS) and size
    info = {}
    si = 0
    for k in range(len(objs)):
        if types.get(k) in ("file", "dir"):
            if si >= len(stats):
                raise RunError("stat output short")
            info[k] = stats[si]
            si += 1
    # hard link groups: same device and inode
    alias = {}
    for k, st in info.items():
        if types[k] == "file":
            alias.setdefault((objs[k][0], st[0]), []).append(objs[k][1])

    by_obj = bmap.ranges_by_object(("f", "d"))
    dirobj = {(o.dev, o.path): o.idx for o in bmap.objects if o.type == "d"}
    pages = page_sizes(args, bmap)
    ntfs = ntfs_devices(bmap)
    streams = stream_objects(bmap, ntfs)
    view = PageView(bmap, args.images, ntfs)
    CLS = ("read", "self", "chain", "meta", "page", "other")
    perdisk = {}
    tot = {"read": 0, "self": 0, "chain": 0, "meta": 0, "page": 0, "other": 0,
           "ownrec": 0, "idle": 0, "missing": 0, "extra": 0, "dir_unread": 0}
    per = []
    bad_examples = []
    # all reads, time ordered, with their disk
    allreads = sorted((t, d, off, cnt) for d, rs in reads.items() for t, off, cnt in rs)
    ri = 0
    while ri < len(allreads) and allreads[ri][0] < ours[0][0]:
        ri += 1
    ii = 0
    for k, (dev, path, typ, di) in enumerate(objs):
        t_next = ours[k + 1][0]
        # an idle marker before the next object's ends this window early
        while ii < len(idles) and idles[ii] < ours[k][0]:
            ii += 1
        t_end = idles[ii] if ii < len(idles) and idles[ii] < t_next else t_next
        win = []
        while ri < len(allreads) and allreads[ri][0] < t_end:
            win.append(allreads[ri])
            ri += 1
        while ri < len(allreads) and allreads[ri][0] < t_next:
            tot["idle"] += allreads[ri][3]  # remounting: nobody's
            ri += 1
        kind = types.get(k, "missing")
        if kind in ("link", "other", "missing"):
            per.append({"dev": dev, "path": path, "type": typ, "skipped": kind})
            continue
        ino = None
        streamobjs = set()
        if kind == "file":
            ino = info[k][0]
            names = set(alias.get((dev, ino), [path]))
            selfobjs = {o.idx for o in bmap.objects if o.type == "f" and o.dev == dev
                        and o.path in names}
            # NTFS named streams ("f /path:stream") are the file's too
            for oi in selfobjs:
                streamobjs |= streams.get(oi, set())
            selfobjs |= streamobjs
        else:
            ino = info[k][0]
            selfobjs = {o.idx for o in bmap.objects if o.type == "d" and o.dev == dev
                        and o.path == path}
            for oi in selfobjs:
                streamobjs |= streams.get(oi, set())
            selfobjs |= streamobjs
        chain = set(ancestors(path))
        # pages holding bytes of the object or of a directory on its path
        pg = pages.get(dev, 0)
        near = set()  # (disk, page start)
        if pg:
            for oi in list(selfobjs) + [dirobj[(dev, c)] for c in chain if (dev, c) in dirobj]:
                for d, s, e in by_obj.get(oi, []):
                    bs = view.base(d, dev, s)
                    near.update((d, bs + p * pg) for p in range((s - bs) // pg,
                                                                 (e - 1 - bs) // pg + 1))
        r = dict.fromkeys(CLS, 0)
        r["ownrec"] = 0
        readset = {}
        for t, d, off, cnt in win:
            r["read"] += cnt
            readset.setdefault(d, []).append((off, off + cnt))
            for a, b, oset in bmap.split(d, off, off + cnt):
                n = b - a
                cls = "other"
                if oset & selfobjs:
                    cls = "self"
                else:
                    for oi in oset:
                        o = bmap.objects[oi]
                        if o.dev != dev:
                            continue
                        if o.type == "d" and o.path in chain:
                            cls = "chain"
                            break
                        if o.type == "m":
                            cls = "meta"
                parts = [(cls, a, b)]
                if cls == "other" and pg:
                    parts = neighbours(view, d, dev, a, b, pg, near, ino, dev in ntfs)
                pd = perdisk.setdefault(d, dict.fromkeys(CLS, 0))
                for c, lo, hi in parts:
                    if c != "page" and len(bad_examples) < 20:
                        bad_examples.append("%s %s: disk %d 0x%x-0x%x%s: %s" % (
                            dev, path, d, lo, hi,
                            " (its own MFT record)" if c == "ownrec" else "",
                            "; ".join(repr(bmap.objects[o]) for o in oset) or "unmapped"))
                    if c == "ownrec":
                        r["ownrec"] += hi - lo
                        c = "other"
                    r[c] += hi - lo
                    pd["read"] += hi - lo
                    pd[c] += hi - lo
        # the object's own ranges the kernel did not read; named streams
        # apart: getfattr read them whole
        unread, own_read = coverage(selfobjs - streamobjs, by_obj, readset)
        s_unread, _ = coverage(streamobjs, by_obj, readset)
        entry = {"dev": dev, "path": path, "type": kind, **r, "unread": unread + s_unread}
        if kind == "file":
            ino, size, blocks, nl = info[k]
            need = min((size + 511) // 512 * 512, blocks * 512)
            missing = min(unread, max(0, need - own_read)) + s_unread
            entry.update(size=size, missing=missing, extra=unread + s_unread - missing)
            tot["missing"] += missing
            tot["extra"] += entry["extra"]
        else:
            entry.update(missing=s_unread)
            tot["missing"] += s_unread
            tot["dir_unread"] += unread
        for c in r:
            tot[c] += r[c]
        per.append(entry)
    view.close()

    def pct(x, paged=False):
        g = x["self"] + x["chain"] + x["meta"] + (x["page"] if paged else 0)
        return 100.0 if x["read"] == 0 else int(g * 10000 // x["read"]) / 100.0
    # "agreement" decides: same-page neighbours count only on devices
    # where a page size is in force (page_sizes), and the strict figure is
    # always reported beside it
    strict, paged = pct(tot), pct(tot, True)
    agreement = paged if pages else strict
    disks = {}
    for d, pd in sorted(perdisk.items()):
        disks[d] = dict(pd, agreement=pct(pd, True), strict_agreement=pct(pd),
                        image=args.images[d - 1] if d <= len(args.images) else "?")
    nread = sum(1 for p in per if "skipped" not in p)
    failed_mounts = [i for i, st in mounts.items() if st != "ok"]
    ok = (agreement >= args.threshold and tot["missing"] == 0 and nread > 0
          and not failed_mounts and not remount_failed and tot["ownrec"] == 0
          and all(x["agreement"] >= args.threshold for x in disks.values()))
    return {"agreement": agreement, "strict_agreement": strict, "page_agreement": paged,
            "pages": pages, "fstypes": fstypes, "remount_failed": remount_failed,
            "threshold": args.threshold, **tot,
            "objects_read": nread,
            "files_read": sum(1 for p in per if p.get("type") == "file"),
            "dirs_read": sum(1 for p in per if p.get("type") == "dir"),
            "skipped": sum(1 for p in per if "skipped" in p),
            "failed_mounts": failed_mounts, "disks": disks,
            "examples": bad_examples, "objects": per, "pass": ok}


def page_sizes(args, bmap):
    """{device: page size} where same-page neighbours count as agreement.

    --page auto: 4096 on NTFS volumes (the map has <ntfs ...> metadata),
    whose 1 KiB MFT records lie four to a page: ntfs-3g reads one record
    through the block device's page cache, so the kernel reads the three
    neighbours too, and they belong to other files.  Elsewhere (ext, XFS,
    btrfs, FAT) only strict agreement counts.  --page N: N on every
    device; --page 0: nowhere."""
    if args.page == "auto":
        return {o.dev: 4096 for o in bmap.objects_of("m")
                if o.path and o.path.startswith("ntfs ")}
    n = int(args.page)
    if n <= 0:
        return {}
    return {o.dev: n for o in bmap.objects_of(("f", "d"))}


def ntfs_devices(bmap):
    return {o.dev for o in bmap.objects_of("m") if o.path and o.path.startswith("ntfs ")}


def stream_objects(bmap, ntfs):
    """{file or directory object: {its named-stream objects}} on NTFS
    devices, where bmapgen names a stream "f /path:stream"."""
    base = {(o.dev, o.path): o.idx for o in bmap.objects_of(("f", "d")) if o.dev in ntfs}
    out = {}
    for o in bmap.objects_of("f"):
        if o.dev not in ntfs or not o.path:
            continue
        i = o.path.rfind(":")
        if i > 0 and "/" not in o.path[i:] and (o.dev, o.path[:i]) in base:
            out.setdefault(base[(o.dev, o.path[:i])], set()).add(o.idx)
    return out


def coverage(objset, by_obj, readset):
    """(bytes unread, bytes read) of the ranges of the objects in OBJSET."""
    unread = done = 0
    for oi in objset:
        for d, s, e in by_obj.get(oi, []):
            cov = 0
            for a, b in merge(readset.get(d, [])):
                lo, hi = max(a, s), min(b, e)
                if lo < hi:
                    cov += hi - lo
            unread += (e - s) - cov
            done += cov
    return unread, done


def neighbours(view, d, dev, a, b, pg, near, ino, ntfs):
    """Split [A, B) on disk D, which the map gives to nobody relevant,
    into ("page", lo, hi) same-page neighbours, ("other", lo, hi) and
    ("ownrec", lo, hi): the object's own MFT record by content, which a
    right map gives to the object or to metadata, never to another.

    A page counts when it holds, per the map, bytes of the object or of a
    directory on its path (NEAR), or, on NTFS, the object's own MFT record
    by content (inode INO).  On NTFS only other MFT records (by content)
    in such a page are neighbours: the object's own record, file data and
    everything else must be attributed right, so a map shifted by a
    fraction of a page still fails."""
    parts = []

    def add(c, lo, hi):
        if parts and parts[-1][0] == c and parts[-1][2] == lo:
            parts[-1] = (c, parts[-1][1], hi)
        else:
            parts.append((c, lo, hi))
    bs = view.base(d, dev, a)
    p = bs + (a - bs) // pg * pg
    while p < b:
        lo, hi = max(a, p), min(b, p + pg)
        if not ntfs:
            add("page" if (d, p) in near else "other", lo, hi)
        else:
            rs = view.record_size(d, bs)
            recs = view.slots(d, p, pg, rs) if rs < pg else []
            own = {off for off, n, bn in recs if ino is not None and ino in (n, bn)}
            ok = {off for off, n, bn in recs if off not in own} \
                if own or (d, p) in near else set()
            x = lo
            while x < hi:
                slot = bs + (x - bs) // rs * rs
                y = min(hi, slot + rs)
                add("ownrec" if slot in own else "page" if slot in ok else "other", x, y)
                x = y
        p += pg
    return parts


def merge(iv):
    out = []
    for a, b in sorted(iv):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def print_table(res, out=sys.stdout):
    w = out.write
    mib = lambda n: "%.2f MiB" % (n / 1048576.0)  # noqa: E731
    rd = res["read"] or 1
    w("nbdrecord: %s (map %s)\n" % (" ".join(res["images"]), res["map"]))
    w("  %-22s %d (files %d, dirs %d; %d skipped; %d of %d objects in the map)\n" % (
        "objects read", res["objects_read"], res["files_read"], res["dirs_read"],
        res["skipped"], res["selected"], res["map_objects"]))
    w("  %-22s %s in %.0f s (appliance)\n" % ("kernel read", mib(res["read"]), res["elapsed"]))
    if res["pages"]:
        w("  %-22s %.2f %% (file %.1f %%, dir chain %.1f %%, metadata %.1f %%, same-page "
          "neighbours %.2f %%; goal %.2f %%)\n" % (
              "agreement", res["agreement"], 100.0 * res["self"] / rd,
              100.0 * res["chain"] / rd, 100.0 * res["meta"] / rd, 100.0 * res["page"] / rd,
              res["threshold"]))
        w("  %-22s %.2f %% (without same-page neighbours; reported, not the goal)\n" % (
            "strict agreement", res["strict_agreement"]))
        w("  %-22s %d bytes (page %s)\n" % (
            "same-page neighbours", res["page"],
            ", ".join("%d on %s" % (n, dev) for dev, n in sorted(res["pages"].items()))))
    else:
        w("  %-22s %.2f %% (file %.1f %%, dir chain %.1f %%, metadata %.1f %%; goal %.2f %%)\n" % (
            "agreement", res["agreement"], 100.0 * res["self"] / rd, 100.0 * res["chain"] / rd,
            100.0 * res["meta"] / rd, res["threshold"]))
    if len(res["disks"]) > 1:
        for d, x in sorted(res["disks"].items(), key=lambda kv: int(kv[0])):
            w("  %-22s %.2f %% of %s (%s)%s\n" % (
                "  disk %s" % d, x["agreement"], mib(x["read"]), x["image"],
                ", strict %.2f %%" % x["strict_agreement"] if x["page"] else ""))
    w("  %-22s %d bytes\n" % ("not attributed", res["other"]))
    if res["pages"]:
        bad = sum(1 for p in res["objects"] if p.get("ownrec"))
        w("  %-22s %d bytes in %d objects (must be 0)\n" % (
            "own MFT record lost", res["ownrec"], bad))
    fuse = sorted(t for t in res["fstypes"].values() if t.startswith("fuse"))
    if fuse:
        w("  %-22s %s (remount %s; %d bytes read while remounting, not counted)\n" % (
            "FUSE drivers", "; ".join(fuse), res.get("remount", "?"), res["idle"]))
    if res["remount_failed"]:
        w("  %-22s %d\n" % ("remounts failed", res["remount_failed"]))
    w("  %-22s %d bytes missing, %d bytes extra/copies\n" % (
        "file ranges unread", res["missing"], res["extra"]))
    w("  %-22s %d bytes\n" % ("dir ranges unread", res["dir_unread"]))
    if res["failed_mounts"]:
        w("  %-22s %s\n" % ("mount failed", res["failed_mounts"]))
    for ex in res["examples"][:10]:
        w("    not attributed: %s\n" % ex)
    miss = [p for p in res["objects"] if p.get("missing")]
    for p in miss[:10]:
        w("    missing: %s %s: %d bytes\n" % (p["dev"], p["path"], p["missing"]))
    if len(miss) > 10:
        w("    ... %d more files with missing bytes\n" % (len(miss) - 10))
    w("  %-22s %s\n" % ("RESULT", "PASS" if res["pass"] else "FAIL"))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="nbdrecord.py", description=__doc__.split("\n")[0])
    ap.add_argument("--map", required=True)
    ap.add_argument("--threshold", type=float, default=99.9)
    ap.add_argument("--max-objects", type=int, default=400)
    ap.add_argument("--also", action="append", default=[], metavar="PATH",
                    help="read this file or directory too (repeatable)")
    ap.add_argument("--page", default="auto", metavar="BYTES|auto",
                    help="count reads in the same BYTES-aligned page as the "
                    "object's (or its directories') bytes as same-page "
                    "neighbours (agreement); auto: 4096 on NTFS, else 0")
    ap.add_argument("--remount", choices=("auto", "every", "never"), default="auto",
                    help="when to remount FUSE (ntfs-3g) filesystems: after the "
                    "stat and before a hard link seen before (auto), before "
                    "every object, or never")
    ap.add_argument("--timeout", type=int, default=900, help="appliance time limit (s)")
    ap.add_argument("--keep", help="keep logs and scripts in this directory")
    ap.add_argument("--replay", metavar="DIR",
                    help="do not run the appliance: analyse the recording "
                    "kept in DIR (by --keep) against --map")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("images", nargs="+", metavar="IMAGE")
    args = ap.parse_args(argv)
    try:
        bmap = BMap(args.map)
    except (OSError, MapError) as e:
        print("nbdrecord: %s" % e, file=sys.stderr)
        return 2
    if args.page != "auto" and not re.match(r"^\d+$", args.page):
        ap.error("--page: a number of bytes or auto")
    sel, total = select_objects(bmap, args.max_objects, args.also)
    devs = []
    for dev, _, _ in sel:
        if dev not in devs:
            devs.append(dev)
    devices = [(d, appliance_device(d)) for d in devs]
    objs = [(dev, path, typ, devs.index(dev)) for dev, path, typ in sel]
    if args.replay:
        work = os.path.abspath(args.replay)
        try:
            with open(os.path.join(work, "objects.json"), encoding="utf-8") as f:
                objs = [tuple(o) for o in json.load(f)]
            reads = {i: parse_log(os.path.join(work, "d%d.log" % i))
                     for i in range(1, len(args.images) + 1)}
            marks = parse_log(os.path.join(work, "mark.log"))
            with open(os.path.join(work, "out"), "rb") as f:
                out = f.read().decode("utf-8", "replace")
            res = analyse(args, bmap, objs, reads, marks, out)
        except (RunError, OSError) as e:
            print("nbdrecord: %s" % e, file=sys.stderr)
            return 2
        elapsed = 0.0
    elif args.keep:
        os.makedirs(args.keep, exist_ok=True)
        work = os.path.abspath(args.keep)
    else:
        work = tempfile.mkdtemp(prefix="nbdrecord.")
    try:
        if args.replay:
            pass
        elif not objs:
            raise RunError("the map has no files or directories")
        else:
            make_script(objs, devices, os.path.join(work, "s.sh"), args.remount)
            with open(os.path.join(work, "objects.json"), "w", encoding="utf-8") as f:
                json.dump(objs, f)
            reads, marks, out, elapsed = record(args, bmap, objs, work)
            res = analyse(args, bmap, objs, reads, marks, out)
    except (RunError, OSError) as e:
        print("nbdrecord: %s" % e, file=sys.stderr)
        if not args.keep:
            print("nbdrecord: (use --keep DIR to keep the logs)", file=sys.stderr)
        return 2
    finally:
        if not args.keep and not args.replay:
            shutil.rmtree(work, ignore_errors=True)
    res.update(images=args.images, map=args.map, elapsed=elapsed, remount=args.remount,
               selected=len(objs), map_objects=total)
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_table(res)
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
