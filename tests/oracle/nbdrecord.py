#!/usr/bin/python3
"""Record-via-NBD: the Linux kernel as the oracle (virt-bmap's method).

    nbdrecord.py --map MAP [--threshold 99.9] [--max-objects N]
                 [--keep DIR] [--json] IMAGE...

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
             its filesystem, over all bytes read (goal >= --threshold %)
  unread     bytes of the file's own ranges the kernel did not read: when
             the kernel read less than the file's data from the mapped
             ranges this is "missing" (a failure); when it read enough,
             the rest is "extra" (RAID copies it did not choose, blocks
             past EOF): reported, not a failure

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


def select_objects(bmap, max_objects):
    """(dev, path, type) to read: directories first, then files evenly
    spread over the sorted list, at most MAX_OBJECTS (0: all)."""
    dirs = sorted((o.dev, o.path) for o in bmap.objects_of("d") if o.path)
    files = sorted((o.dev, o.path) for o in bmap.objects_of("f") if o.path)
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
    return [(d, p, "d") for d, p in dirs] + [(d, p, "f") for d, p in files], total


def make_script(objs, devices, out):
    """The appliance side.  Writes results to /sysroot/out."""
    S = []
    a = S.append
    a(b"exec >/sysroot/out 2>&1")
    a(b"M=$(readlink -f /dev/disk/guestfs/bmmark)")
    a(b"echo BMDEV mark $M")
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
        a(b"if mount -o ro,noload \"$d\" %s 2>/dev/null || mount -o ro,norecovery \"$d\" %s "
          b"2>/dev/null || mount -o ro \"$d\" %s; then echo BMMOUNT %d ok; else echo BMMOUNT %d "
          b"failed; fi" % (shq(mp), shq(mp), shq(mp), i, i))
    # readahead again: LVs/md arrays may have appeared late
    a(b"for b in /dev/sd* /dev/dm-* /dev/md* /dev/md/*; do [ -b \"$b\" ] && "
      b"blockdev --setra 0 \"$b\"; done; blockdev --getra \"$M\"")
    # classify (builtins only), then one stat for all regular files
    a(b"set --")
    for k, (dev, path, typ, di) in enumerate(objs):
        p = shq("/tmp/bm/%d" % di + ("" if path == "/" else path))
        a(b"if [ -L %s ]; then echo BMTYPE %d link; elif [ -d %s ]; then echo BMTYPE %d dir; "
          b"elif [ -f %s ]; then echo BMTYPE %d file; set -- \"$@\" %s; else echo BMTYPE %d "
          b"other; fi" % (p, k, p, k, p, k, p, k))
    a(b"stat --printf 'BMSTAT %i %s %b %h\\n' -- \"$@\" > /tmp/bmstat")
    a(b"cat /tmp/bmstat")
    a(b"exec 4</tmp/bmstat")
    a(b"echo BMSTART")
    for k, (dev, path, typ, di) in enumerate(objs):
        p = shq("/tmp/bm/%d" % di + ("" if path == "/" else path))
        # every object: drop caches, marker, read; objects that are not
        # a directory or regular file still get their marker (empty window)
        a(b"echo 3 > /proc/sys/vm/drop_caches; read -r x < \"$M\"")
        a(b"if [ -L %s ]; then :; elif [ -d %s ]; then set -- %s/* %s/.*; "
          b"elif [ -f %s ]; then read -r _t ino size blocks nl <&4; "
          b"if [ \"$size\" -gt %d ]; then cat %s > /dev/null; "
          b"else while read -r x; do :; done < %s; fi; fi"
          % (p, p, p, p, p, SMALL_READ, p, p))
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


def ancestors(path):
    out = ["/"]
    parts = [x for x in path.split("/") if x]
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return out


def analyse(args, bmap, objs, reads, marks, out):
    types, stats, mounts = {}, [], {}
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
    if "BMEND" not in out:
        raise RunError("appliance script did not finish:\n" + out[-3000:])
    nmark = len(objs) + 1
    ours = marks[-nmark:]
    if len(marks) < nmark or any(off != 0 for _, off, _ in ours):
        raise RunError("expected %d marker reads at offset 0, found %d" % (nmark, len(marks)))
    # per object: inode and size
    info = {}
    si = 0
    for k in range(len(objs)):
        if types.get(k) == "file":
            if si >= len(stats):
                raise RunError("stat output short")
            info[k] = stats[si]
            si += 1
    # hard link groups: same device and inode
    alias = {}
    for k, st in info.items():
        alias.setdefault((objs[k][0], st[0]), []).append(objs[k][1])

    by_obj = bmap.ranges_by_object(("f", "d"))
    perdisk = {}
    tot = {"read": 0, "self": 0, "chain": 0, "meta": 0, "other": 0,
           "missing": 0, "extra": 0, "dir_unread": 0}
    per = []
    bad_examples = []
    # all reads, time ordered, with their disk
    allreads = sorted((t, d, off, cnt) for d, rs in reads.items() for t, off, cnt in rs)
    ri = 0
    while ri < len(allreads) and allreads[ri][0] < ours[0][0]:
        ri += 1
    for k, (dev, path, typ, di) in enumerate(objs):
        t_end = ours[k + 1][0]
        win = []
        while ri < len(allreads) and allreads[ri][0] < t_end:
            win.append(allreads[ri])
            ri += 1
        kind = types.get(k, "missing")
        if kind in ("link", "other", "missing"):
            per.append({"dev": dev, "path": path, "type": typ, "skipped": kind})
            continue
        if kind == "file":
            names = set(alias.get((dev, info[k][0]), [path]))
            selfobjs = {o.idx for o in bmap.objects if o.type == "f" and o.dev == dev
                        and o.path in names}
        else:
            selfobjs = {o.idx for o in bmap.objects if o.type == "d" and o.dev == dev
                        and o.path == path}
        chain = set(ancestors(path))
        r = {"read": 0, "self": 0, "chain": 0, "meta": 0, "other": 0}
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
                    if cls == "other" and len(bad_examples) < 20:
                        bad_examples.append("%s %s: disk %d 0x%x-0x%x: %s" % (
                            dev, path, d, a, b,
                            "; ".join(repr(bmap.objects[o]) for o in oset) or "unmapped"))
                r[cls] += n
                pd = perdisk.setdefault(d, dict.fromkeys(("read", "self", "chain", "meta", "other"), 0))
                pd["read"] += n
                pd[cls] += n
        # the object's own ranges the kernel did not read
        own = []
        for oi in selfobjs:
            own += by_obj.get(oi, [])
        unread = 0
        own_read = 0
        for d, s, e in own:
            cov = 0
            for a, b in merge(readset.get(d, [])):
                lo, hi = max(a, s), min(b, e)
                if lo < hi:
                    cov += hi - lo
            unread += (e - s) - cov
            own_read += cov
        entry = {"dev": dev, "path": path, "type": kind, **r, "unread": unread}
        if kind == "file":
            ino, size, blocks, nl = info[k]
            need = min((size + 511) // 512 * 512, blocks * 512)
            missing = min(unread, max(0, need - own_read))
            entry.update(size=size, missing=missing, extra=unread - missing)
            tot["missing"] += missing
            tot["extra"] += unread - missing
        else:
            tot["dir_unread"] += unread
        for c in r:
            tot[c] += r[c]
        per.append(entry)
    good = tot["self"] + tot["chain"] + tot["meta"]
    agreement = 100.0 if tot["read"] == 0 else int(good * 10000 // tot["read"]) / 100.0
    disks = {}
    for d, pd in sorted(perdisk.items()):
        g = pd["self"] + pd["chain"] + pd["meta"]
        disks[d] = dict(pd, agreement=int(g * 10000 // pd["read"]) / 100.0 if pd["read"] else 100.0,
                        image=args.images[d - 1] if d <= len(args.images) else "?")
    nread = sum(1 for p in per if "skipped" not in p)
    failed_mounts = [objs_dev for objs_dev, st in mounts.items() if st != "ok"]
    ok = (agreement >= args.threshold and tot["missing"] == 0 and nread > 0
          and not failed_mounts
          and all(x["agreement"] >= args.threshold for x in disks.values()))
    return {"agreement": agreement, "threshold": args.threshold, **tot,
            "objects_read": nread,
            "files_read": sum(1 for p in per if p.get("type") == "file"),
            "dirs_read": sum(1 for p in per if p.get("type") == "dir"),
            "skipped": sum(1 for p in per if "skipped" in p),
            "failed_mounts": failed_mounts, "disks": disks,
            "examples": bad_examples, "objects": per, "pass": ok}


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
    w("  %-22s %.2f %% (file %.1f %%, dir chain %.1f %%, metadata %.1f %%; goal %.2f %%)\n" % (
        "agreement", res["agreement"], 100.0 * res["self"] / rd, 100.0 * res["chain"] / rd,
        100.0 * res["meta"] / rd, res["threshold"]))
    if len(res["disks"]) > 1:
        for d, x in sorted(res["disks"].items(), key=lambda kv: int(kv[0])):
            w("  %-22s %.2f %% of %s (%s)\n" % ("  disk %s" % d, x["agreement"], mib(x["read"]),
                                                 x["image"]))
    w("  %-22s %d bytes\n" % ("not attributed", res["other"]))
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
    sel, total = select_objects(bmap, args.max_objects)
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
            make_script(objs, devices, os.path.join(work, "s.sh"))
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
    res.update(images=args.images, map=args.map, elapsed=elapsed,
               selected=len(objs), map_objects=total)
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_table(res)
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
