#!/usr/bin/env python3
"""bmapgen benchmark (make bench; not part of make check).

Builds and caches (as root) large content-tagged images -- ext4, XFS,
btrfs and NTFS holding the same tree of BENCH_FILES files in BENCH_DIRS
directories, and a GPT disk with an LVM VG whose two LVs hold the ext4
and XFS filesystems (gpt-lvm; layout made in the libguestfs appliance by
mk-gpt-lvm.sh) -- then times, in the same run:
  - bmapgen, cold (page cache dropped) and warm;
  - the filesystem's own metadata dumper, which reads every metadata
    block once (e2image -Q, xfs_metadump, btrfs-image, ntfsclone
    --metadata): the practical floor;
  - per-file extraction with the filesystem's own debugger, what a user
    would otherwise script (debugfs "blocks PATH" for ext4, xfs_db
    "path PATH" + "bmap" for XFS), on an evenly spread sample of files
    (--alt-files), scaled to the whole tree;
  - the record-via-NBD method (tests/oracle/nbdrecord.py) on the small
    oracle image, scaled per file;
and prints ratios, peak RSS, bytes read (bmapgen -v) and, with
--callgrind, an instruction count that does not depend on machine load.
It also checks each map with the tag scanner (recall, misattribution).

usage: bench.py [--cache DIR] [--files N] [--dirs N] [--fs ext4,xfs,...]
                [--callgrind] [--nbd]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, 'tests', 'oracle'))
import tagtree  # noqa: E402

BMAPGEN = os.environ.get('BMAPGEN', os.path.join(SRC, 'build', 'bmapgen'))


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def bench_plan(nfiles, ndirs, seed=7):
    """NFILES small files over NDIRS directories (two levels), sizes
    drawn like a real root filesystem: mostly under 16 KiB, 1 % up to
    256 KiB (about 1.4 GiB for 200 000 files)."""
    p = tagtree.Plan('bench', seed)
    p.frag_chunk = 4096
    per = max(1, nfiles // ndirs)
    n = 0
    for d in range(ndirs):
        top = f'/d{d // 100:03d}/s{d % 100:02d}'
        for i in range(per):
            r = p.rng.random()
            size = (p.rng.randrange(0, 600) if r < 0.3 else
                    p.rng.randrange(600, 16384) if r < 0.99 else
                    p.rng.randrange(16384, 1 << 18))
            p.file(f'{top}/f{i}', size)
            n += 1
            if n >= nfiles:
                return p
    return p


def build_tree(cache, nfiles, ndirs):
    tree = os.path.join(cache, f'tree-{nfiles}-{ndirs}')
    man = tree + '.json'
    if not os.path.exists(man):
        plan = bench_plan(nfiles, ndirs)
        shutil.rmtree(tree, ignore_errors=True)
        tagtree.generate(tree, plan, fsync=False)
        with open(man + '.tmp', 'w') as f:
            json.dump(tagtree.manifest(plan), f)
        os.rename(man + '.tmp', man)
    return tree, man


def tree_bytes(tree):
    return sum(os.path.getsize(os.path.join(r, f))
               for r, _, fs in os.walk(tree) for f in fs)


def build_image(cache, fs, tree, size):
    img = os.path.join(cache, f'{fs}.img')
    if os.path.exists(img):
        return img
    if fs == 'gpt-lvm':
        sh(os.path.join(HERE, 'mk-gpt-lvm.sh'),
           build_image(cache, 'ext4', tree, size),
           build_image(cache, 'xfs', tree, size), img)
        return img
    tmp = img + '.tmp'
    if os.path.exists(tmp):
        os.unlink(tmp)
    sh('truncate', '-s', str(size), tmp)
    if fs == 'ext4':
        sh('mke2fs', '-q', '-F', '-t', 'ext4', '-d', tree, tmp)
    elif fs == 'btrfs':
        sh('mkfs.btrfs', '-q', '-f', '--rootdir', tree, tmp)
    else:
        mnt = tempfile.mkdtemp()
        try:
            if fs == 'xfs':
                sh('mkfs.xfs', '-q', '-f', tmp)
                sh('mount', '-o', 'loop', tmp, mnt)
            elif fs == 'ntfs':
                sh('mkntfs', '-q', '-F', '-Q', tmp)
                sh('ntfs-3g', tmp, mnt)
            sh('cp', '-a', tree + '/.', mnt)
        finally:
            subprocess.run(['umount', mnt])
            os.rmdir(mnt)
    os.rename(tmp, img)
    return img


def drop_caches():
    subprocess.run(['sync'])
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')


def timed(cmd, cold, out=subprocess.DEVNULL):
    """Run CMD; return (wall seconds, peak RSS KiB, stderr).  GNU time
    forks CMD from its own small process: the peak RSS of a child forked
    straight from this (large) Python process would include Python's."""
    if cold:
        drop_caches()
    with tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile('r') as rss:
        t0 = time.monotonic()
        subprocess.run(['/usr/bin/time', '-f', '%M', '-o', rss.name] + cmd,
                       stdout=out, stderr=err)
        dt = time.monotonic() - t0
        err.seek(0)
        kib = rss.read().split()
        return (dt, int(kib[-1]) if kib and kib[-1].isdigit() else 0,
                err.read().decode('utf-8', 'replace'))


def floor_cmd(fs, img, out):
    if fs == 'gpt-lvm':
        # the same two filesystems' dumpers, one after the other, on
        # the cached images that were copied into the LVs
        d = os.path.dirname(img)
        return ['sh', '-c', 'e2image -Q "$1" "$3.1" && xfs_metadump -o "$2" '
                '"$3.2"; s=$?; rm -f "$3.1" "$3.2"; exit $s', 'floor',
                os.path.join(d, 'ext4.img'), os.path.join(d, 'xfs.img'), out]
    return {
        'ext4': ['e2image', '-Q', img, out],
        'xfs': ['xfs_metadump', '-o', img, out],
        'btrfs': ['btrfs-image', img, out],
        'ntfs': ['ntfsclone', '--metadata', '--ignore-fs-check', '--force',
                 '--overwrite', out, img],
    }[fs]


def alt_cmd(fs, img, paths, tmp):
    """One debugger run extracting the block map of every file in PATHS
    (None when FS has no such tool)."""
    if fs == 'ext4':
        with open(tmp, 'w') as f:
            f.writelines(f'blocks "{p}"\n' for p in paths)
        return ['debugfs', '-f', tmp, img]
    if fs == 'xfs':
        cmd = ['xfs_db', '-r']
        for p in paths:
            cmd += ['-c', f'path {p}', '-c', 'bmap']
        return cmd + [img]
    return None


def best(f, n=3):
    """Fastest of N runs (noise on a shared machine only adds time)."""
    return min((f() for _ in range(n)), key=lambda r: r[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', default=os.path.join(SRC, 'build', 'bench'))
    ap.add_argument('--files', type=int, default=200000)
    ap.add_argument('--dirs', type=int, default=10000)
    ap.add_argument('--fs', default='ext4,xfs,btrfs,ntfs,gpt-lvm')
    ap.add_argument('--callgrind', action='store_true')
    ap.add_argument('--alt-files', type=int, default=2000,
                    help='files sampled for per-file extraction (0: skip)')
    ap.add_argument('--nbd', action='store_true',
                    help='also time record-via-NBD on the small oracle image')
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench.py needs root (loop mounts, drop_caches)')
    os.makedirs(a.cache, exist_ok=True)
    tree, man = build_tree(a.cache, a.files, a.dirs)
    size = max(4 << 30, tree_bytes(tree) * 3)
    with open(man, encoding='utf-8') as f:
        paths = [e['path'] for e in json.load(f)['files']]
    rows = []
    for fs in a.fs.split(','):
        img = build_image(a.cache, fs, tree, size)
        mapf = os.path.join(a.cache, fs + '.map')
        with open(mapf, 'w') as out:
            cold = timed([BMAPGEN, '-v', img], True, out)
        warm = best(lambda: timed([BMAPGEN, img], False))
        dump = os.path.join(a.cache, fs + '.meta')
        fcold = timed(floor_cmd(fs, img, dump), True)
        fwarm = best(lambda: timed(floor_cmd(fs, img, dump), False))
        os.unlink(dump) if os.path.exists(dump) else None
        m = re.search(r'(\d+) reads, (\d+) bytes read', cold[2])
        reads, nbytes = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        # files stored inside metadata: btrfs inlines up to 2 KiB in
        # leaves, NTFS keeps data resident in 1 KiB MFT records
        inline = {'btrfs': '2049', 'ntfs': '1024'}.get(fs, '60')
        # gpt-lvm holds the tree twice: each LV must map its own copy
        devs = (['/dev/bvg/root', '/dev/bvg/data'] if fs == 'gpt-lvm'
                else [None])
        scanimg = img
        if fs == 'btrfs':
            # mkfs.btrfs --rootdir leaves stale copies of inline data in
            # the free space of leaves, which the scanner counts as
            # misses: zero it as tests/test-btrfs.sh does, in a copy
            # (zeroing breaks the leaves' checksums)
            scanimg = img + '.scrubbed'
            sh('cp', '--sparse=always', img, scanimg)
            sh(sys.executable, os.path.join(SRC, 'tests', 'btrfs_extra.py'),
               '--scrub-leaves', img, scanimg)
        try:
            for dev in devs:
                scan = subprocess.run(
                    [sys.executable,
                     os.path.join(SRC, 'tests', 'oracle', 'tagscan.py'),
                     '--inline-max', inline, '--manifest', man, '--map', mapf]
                    + (['--device', dev] if dev else []) + [scanimg],
                    capture_output=True, text=True)
                if scan.returncode:
                    break
        finally:
            if scanimg != img:
                os.unlink(scanimg)
        row = dict(fs=fs, cold=cold[0], warm=warm[0], floor_cold=fcold[0],
                   floor_warm=fwarm[0], rss_mib=cold[1] / 1024,
                   reads=reads, mib_read=nbytes / (1 << 20),
                   tags='ok' if scan.returncode == 0 else 'FAIL')
        if a.callgrind:
            cg = subprocess.run(['valgrind', '--tool=callgrind',
                                 '--callgrind-out-file=/dev/null', BMAPGEN, img],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
            m = re.search(r'Collected : (\d+)', cg.stderr)
            row['instructions'] = int(m.group(1)) if m else None
        sample = paths[::max(1, len(paths) // a.alt_files)][:a.alt_files] \
            if a.alt_files else []
        cmd = alt_cmd(fs, img, sample, os.path.join(a.cache, 'alt.cmds'))
        if cmd:
            # warm, like bmapgen's warm figure it is compared with
            t = timed(cmd, False)[0]
            row['alt'] = (cmd[0], len(sample), t, t * len(paths) / len(sample))
        rows.append(row)
        if scan.returncode:
            print(scan.stdout[-2000:], file=sys.stderr)

    print(f'\n{a.files} files in {a.dirs} directories; times are seconds '
          '(best of 3 warm)')
    print(f'{"fs":6} {"cold":>7} {"floor":>7} {"ratio":>6} {"warm":>7} '
          f'{"floor":>7} {"ratio":>6} {"RSS MiB":>8} {"reads":>8} '
          f'{"MiB read":>9} {"tags":>5}' + ('  instructions' if a.callgrind else ''))
    for r in rows:
        print(f'{r["fs"]:6} {r["cold"]:7.2f} {r["floor_cold"]:7.2f} '
              f'{r["cold"] / r["floor_cold"]:6.2f} {r["warm"]:7.2f} '
              f'{r["floor_warm"]:7.2f} {r["warm"] / r["floor_warm"]:6.2f} '
              f'{r["rss_mib"]:8.1f} {r["reads"]:8d} {r["mib_read"]:9.1f} '
              f'{r["tags"]:>5}' +
              (f'  {r.get("instructions")}' if a.callgrind else ''))
    for r in rows:
        if 'alt' in r:
            tool, n, t, scaled = r['alt']
            print(f'{r["fs"]}: {tool} per file, {n} sampled: {t:.2f} s '
                  f'({t / n * 1000:.2f} ms/file); for all {a.files} files '
                  f'{scaled:.1f} s = {scaled / r["warm"]:.0f}x bmapgen warm')
    if a.nbd:
        small = os.path.join(a.cache, 'nbd-small')
        os.makedirs(small, exist_ok=True)
        sm = os.path.join(small, 'm.json')
        st = os.path.join(small, 'tree')
        if not os.path.exists(st):
            sh(sys.executable, os.path.join(SRC, 'tests', 'oracle', 'tagtree.py'),
               'gen', '--no-fsync', '--manifest', sm, '--profile', 'small', st)
        simg = os.path.join(small, 'ext4.img')
        if not os.path.exists(simg):
            sh('truncate', '-s', '64M', simg)
            sh('mke2fs', '-q', '-F', '-t', 'ext4', '-d', st, simg)
        nfiles = sum(len(fs) for _, _, fs in os.walk(st))
        smap = os.path.join(small, 'ext4.map')
        with open(smap, 'w') as out:
            bt = timed([BMAPGEN, simg], False, out)[0]
        t0 = time.monotonic()
        subprocess.run([sys.executable,
                        os.path.join(SRC, 'tests', 'oracle', 'nbdrecord.py'),
                        '--map', smap, simg], stdout=subprocess.DEVNULL)
        nt = time.monotonic() - t0
        print(f'\nrecord-via-NBD on {nfiles} files: {nt:.1f} s '
              f'({nt / max(nfiles, 1) * 1000:.0f} ms/file); bmapgen {bt:.3f} s; '
              f'per image {nt / bt:.0f}x; at {a.files} files (scaled) '
              f'{nt / max(nfiles, 1) * a.files / max(r["warm"] for r in rows):.0f}x')
    print('\ntargets: cold and warm ratio <= 1.5, RSS < 256 MiB, '
          'record-via-NBD >= 300x')


if __name__ == '__main__':
    main()
