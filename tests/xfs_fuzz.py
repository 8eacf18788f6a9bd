#!/usr/bin/python3
"""Mutation test for a filesystem walker: damage bytes of the metadata a
map says are there (m and d objects, small files), run bmapgen on the
damaged image and require a clean outcome: exit status 0, 1 or 2, no
sanitizer report, no crash, done within 30 s.  Each mutation is undone
before the next one.

    xfs_fuzz.py IMAGE MAP BMAPGEN ITERATIONS [SEED]

Exit status 1 if any run failed.  SPDX-License-Identifier: GPL-2.0-or-later
"""
import os, random, subprocess, sys
def main():
    img, mapf, exe, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    rng = random.Random(seed)
    ranges = []
    for line in open(mapf, 'rb'):
        p = line.split(b' ', 5)
        if p[3] == b'm' and b'<xfs log>' in p[5]:
            continue
        if p[3] in (b'm', b'd') or (p[3] == b'f' and int(p[2],16)-int(p[1],16) < 4096):
            ranges.append((int(p[1],16), int(p[2],16)))
    fd = os.open(img, os.O_RDWR)
    bad = 0
    for it in range(n):
        k = rng.choice([1, 2, 4, 16, 64])
        saved = []
        for _ in range(k):
            s, e = rng.choice(ranges)
            off = rng.randrange(s, e)
            old = os.pread(fd, 1, off)
            saved.append((off, old))
            mode = rng.random()
            if mode < 0.4: v = bytes([rng.randrange(256)])
            elif mode < 0.55: v = b'\xff'
            elif mode < 0.7: v = b'\x00'
            else:
                off &= ~3
                v = rng.choice([b'\xff\xff\xff\xff', b'\x00\x00\x00\x00', b'\x7f\xff\xff\xff', b'\x00\x00\x10\x00', rng.randbytes(4)])
                old = os.pread(fd, 4, off)
                saved[-1] = (off, old)
            os.pwrite(fd, v, off)
        try:
            r = subprocess.run([exe, img], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
            err = r.stderr.decode(errors='replace')
            if r.returncode not in (0, 1, 2) or 'Sanitizer' in err or 'runtime error' in err:
                bad += 1
                print("iter", it, "rc", r.returncode, "muts", [(hex(o), v) for o, v in saved][:8])
                print('\n'.join(l for l in err.splitlines() if 'Sanitizer' in l or 'runtime error' in l or '#' in l)[:3000])
                if bad > 5: break
        except subprocess.TimeoutExpired:
            bad += 1
            print("iter", it, "TIMEOUT", [(hex(o), v) for o, v in saved][:8])
        for off, old in reversed(saved):
            os.pwrite(fd, old, off)
    print("xfs_fuzz: %d runs, %d failed" % (n, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
