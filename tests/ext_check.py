#!/usr/bin/env python3
"""Check bmapgen's map of an ext2/3/4 filesystem against debugfs.

debugfs (e2fsprogs) is an independent reader: for every file and
directory of the source tree we ask it for the inode's blocks (data,
indirect and extent-tree blocks) or, for inline data and fast symlinks,
the inode's place in the inode table, and compare with the ranges the map
gives that path.  Exit 1 on any difference.

usage: ext_check.py MAP FSIMAGE FSOFFSET DEVICE TREE
  FSIMAGE   the filesystem alone (what was written into the disk image)
  FSOFFSET  byte offset of the filesystem within the disk image that was
            mapped (for the map's absolute offsets)
  DEVICE    device name in the map (/dev/sda1)
  TREE      the source directory that was copied into the filesystem
"""
import os
import re
import subprocess
import sys
import tempfile


def parse_map(path, device):
    objs = {}
    with open(path, 'rb') as f:
        for line in f:
            parts = line.rstrip(b'\n').split(b' ', 5)
            if len(parts) < 6 or parts[3] not in (b'f', b'd'):
                continue
            if parts[4].decode() != device:
                continue
            key = (parts[3].decode(), parts[5].decode('utf-8', 'surrogateescape'))
            objs.setdefault(key, []).append((int(parts[1], 16), int(parts[2], 16)))
    return {k: merge(v) for k, v in objs.items()}


def merge(ranges):
    out = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [tuple(r) for r in out]


def debugfs(image, cmds):
    with tempfile.NamedTemporaryFile('w', delete=False) as f:
        f.write('\n'.join(cmds) + '\n')
        name = f.name
    try:
        return subprocess.run(['debugfs', '-f', name, image],
                              capture_output=True, text=True,
                              errors='surrogateescape').stdout
    finally:
        os.unlink(name)


def main():
    mapfile, fsimage, fsoff, device, tree = sys.argv[1:6]
    fsoff = int(fsoff)
    objs = parse_map(mapfile, device)
    paths = [('d', '/')]
    for root, dirs, files in os.walk(tree):
        rel = '/' + os.path.relpath(root, tree)
        rel = '/' if rel == '/.' else rel
        for d in dirs:
            p = os.path.join(root, d)
            t = 'f' if os.path.islink(p) else 'd'
            paths.append((t, os.path.join(rel, d)))
        for fn in files:
            p = os.path.join(root, fn)
            if os.path.islink(p) or os.path.isfile(p):
                paths.append(('f', os.path.join(rel, fn)))
    cmds = ['stats'] + [f'stat "{p}"' for _, p in paths] + \
           [f'imap "{p}"' for _, p in paths]
    out = debugfs(fsimage, cmds)
    bs = int(re.search(r'Block size:\s+(\d+)', out).group(1))
    isz = int(re.search(r'Inode size:\s+(\d+)', out).group(1))
    sections = re.split(r'^debugfs: ', out, flags=re.M)
    stat = {}
    imap = {}
    for sec in sections:
        m = re.match(r'(stat|imap) "(.*)"\n', sec)
        if not m:
            continue
        (stat if m.group(1) == 'stat' else imap)[m.group(2)] = sec
    bad = 0
    checked = 0
    for t, p in paths:
        s = stat.get(p, '')
        expect = []
        if 'Size of inline data' in s or 'Fast link dest' in s:
            m = re.search(r'located at block (\d+), offset (0x[0-9a-f]+)', imap.get(p, ''))
            off = fsoff + int(m.group(1)) * bs + int(m.group(2), 16)
            expect = [(off, off + isz)]
        else:
            m = re.search(r'\n(?:BLOCKS|EXTENTS):\n(.*?)\n', s + '\n', re.S)
            if m:
                for item in m.group(1).split(', '):
                    item = item.strip()
                    if not item or item.startswith('(TOTAL'):
                        continue
                    rng = item.split(':', 1)[1]
                    if '[' in rng:  # debugfs marks uninit extents "[u]"?
                        rng = rng.split('[')[0]
                    a, _, b = rng.partition('-')
                    a = int(a)
                    b = int(b) if b else a
                    expect.append((fsoff + a * bs, fsoff + (b + 1) * bs))
            fa = re.search(r'File ACL: (\d+)', s)
            if fa and int(fa.group(1)):
                blk = int(fa.group(1))
                expect.append((fsoff + blk * bs, fsoff + (blk + 1) * bs))
        expect = merge(expect)
        got = objs.get((t, p), [])
        checked += 1
        if got != expect:
            bad += 1
            if bad <= 20:
                print(f'MISMATCH {t} {p}: map {[(hex(a), hex(b)) for a, b in got][:6]} '
                      f'debugfs {[(hex(a), hex(b)) for a, b in expect][:6]}')
    extra = [k for k in objs if k[1] != '/lost+found' and k not in set(paths)]
    for k in extra[:10]:
        print('EXTRA object in map:', k)
    print(f'{checked} objects checked against debugfs, {bad} mismatched, '
          f'{len(extra)} extra')
    return 1 if bad or extra else 0


if __name__ == '__main__':
    sys.exit(main())
