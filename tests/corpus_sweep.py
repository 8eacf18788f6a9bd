#!/usr/bin/env python3
"""Robustness sweep: run bmapgen over every image in ../shared/corpus.

The corpus holds real images from other projects, many deliberately
corrupt (e2fsprogs' fsck tests, btrfs-progs' fuzz crashers) and some not
disk images at all.  Each is decompressed, one at a time, into a sparse
temporary file (many expand to GiBs of zeros), then mapped by bmapgen
(meant to be the ASan/UBSan build).  Asserted for each image:
  - no signal, no sanitizer report, exit status 0, 1 or 2;
  - a non-zero exit comes with a message on stderr;
  - under 10 s of CPU time (--timeout) and 1 GiB peak RSS.
Exit 1 if any image fails.  usage: corpus_sweep.py [--jobs N] [--only SUBSTR]
    [--timeout S] CORPUSDIR
"""
import argparse
import bz2
import concurrent.futures
import gzip
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

BMAPGEN = os.environ.get('BMAPGEN', 'build/bmapgen')
CHUNK = 1 << 20
ZERO = bytes(CHUNK)


def sparse_copy(src, dst_path):
    """Copy a stream to DST_PATH, seeking over zero chunks (sparse)."""
    with open(dst_path, 'wb') as out:
        size = 0
        while True:
            buf = src.read(CHUNK)
            if not buf:
                break
            if buf == ZERO[:len(buf)]:
                out.seek(len(buf), os.SEEK_CUR)
            else:
                out.write(buf)
            size += len(buf)
        out.truncate(size)


def members(path, compression):
    """Yield (name, stream) for each image inside PATH."""
    if compression in ('tar.xz', 'tar.bz2'):
        with tarfile.open(path, 'r:*') as t:
            for m in t:
                if m.isfile():
                    yield f'{path}:{m.name}', t.extractfile(m)
        return
    opener = {'gz': gzip.open, 'xz': lzma.open, 'bz2': bz2.open,
              'none': open}[compression]
    with opener(path, 'rb') as f:
        yield path, f


def run_one(name, img, timeout):
    """Map IMG; return None if all is well, else what went wrong.

    Time is CPU time (user + system) of bmapgen, so a loaded machine does
    not fail the sweep; a wall-clock limit of 6x catches hangs."""
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = 'detect_leaks=1:abort_on_error=0:exitcode=99'
    env['LSAN_OPTIONS'] = 'suppressions=' + os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'lsan.supp')
    env['UBSAN_OPTIONS'] = 'halt_on_error=1:print_stacktrace=1:exitcode=99'
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen([BMAPGEN, img], stdout=subprocess.DEVNULL,
                             stderr=errf, env=env)
        deadline = time.monotonic() + 6 * timeout
        while True:
            wpid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if wpid:
                break
            if time.monotonic() > deadline:
                p.kill()
                os.wait4(p.pid, 0)
                return f'HANG (> {6 * timeout} s wall clock)'
            time.sleep(0.01)
        p.returncode = 0  # reaped here; keep Popen from waiting again
        errf.seek(0)
        err = errf.read().decode('utf-8', 'replace')
    cpu = ru.ru_utime + ru.ru_stime
    rss = ru.ru_maxrss  # KiB
    if os.WIFSIGNALED(status):
        return f'SIGNAL {os.WTERMSIG(status)}: {err[-2000:]}'
    rc = os.WEXITSTATUS(status)
    if 'Sanitizer' in err or 'runtime error' in err or rc == 99:
        return f'SANITIZER (exit {rc}): {err[-3000:]}'
    if rc not in (0, 1, 2):
        return f'EXIT {rc}: {err[-2000:]}'
    if rc != 0 and not err.strip():
        return f'EXIT {rc} without a message'
    if cpu > timeout:
        return f'SLOW: {cpu:.1f} s CPU > {timeout} s'
    if rss > 1024 * 1024:
        return f'RSS {rss // 1024} MiB > 1 GiB'
    return None


def check(entry, corpus, tmpdir, timeout):
    path, compression = entry
    results = []
    try:
        for name, stream in members(os.path.join(corpus, path), compression):
            fd, img = tempfile.mkstemp(dir=tmpdir)
            os.close(fd)
            try:
                sparse_copy(stream, img)
                res = run_one(name, img, timeout)
                results.append((name, res))
            finally:
                os.unlink(img)
    except (OSError, EOFError, lzma.LZMAError, tarfile.TarError) as e:
        results.append((path, None))  # undecompressable: not our concern
        print(f'note: cannot decompress {path}: {e}', file=sys.stderr)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('corpus')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--only', default='')
    ap.add_argument('--timeout', type=float, default=10.0)
    a = ap.parse_args()
    entries = []
    with open(os.path.join(a.corpus, 'INDEX.tsv')) as f:
        next(f)
        for line in f:
            cols = line.rstrip('\n').split('\t')
            if a.only in cols[0]:
                entries.append((cols[0], cols[3]))
    tmpdir = tempfile.mkdtemp(prefix='bmapgen-sweep-')
    bad = 0
    n = 0
    try:
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
            futs = [ex.submit(check, e, a.corpus, tmpdir, a.timeout)
                    for e in entries]
            for fu in concurrent.futures.as_completed(futs):
                for name, res in fu.result():
                    n += 1
                    if res:
                        bad += 1
                        print(f'FAIL {name}: {res}')
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print(f'{n - bad} passed, {bad} failed')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
