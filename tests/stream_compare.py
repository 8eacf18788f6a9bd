#!/usr/bin/python3
"""Compare a --stream JSON Lines map with a normal -f jsonl map.

    stream_compare.py NORMAL.jsonl STREAM.jsonl

The streaming map writes each range as it is mapped: unsorted, an object
may come in many records, touching ranges are not joined.  Normalised
(per object, per disk and roles: the union of its ranges), both maps
must say exactly the same: every object owns the same bytes with the
same roles.  The disk and volume records must be the same too.  Exit 0
if they agree, 1 (with the first differences) if not.

SPDX-License-Identifier: GPL-2.0-or-later
"""

import json
import sys

from ext_check import merge  # same directory


def key(rec):
    """An object's identity: type, device and the exact name bytes."""
    def name(field):
        if field + '_hex' in rec:
            return bytes.fromhex(rec[field + '_hex'])
        v = rec.get(field)
        return None if v is None else v.encode()
    return (rec['type'], name('dev'), name('path') or name('name'))


def load(path, stream):
    objs, others = {}, []
    header = None
    with open(path, 'rb') as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line.decode('utf-8', 'strict'))
            kind = rec.get('record')
            if kind == 'header':
                header = rec
            elif kind == 'object':
                if stream and ('id' in rec or len(rec['ranges']) != 1):
                    sys.exit('%s:%d: a stream record has an id or not '
                             'one range' % (path, n))
                for r in rec['ranges']:
                    k = (key(rec), r['disk'], tuple(r['roles']))
                    objs.setdefault(k, []).append((r['start'], r['end']))
            else:
                others.append(json.dumps(rec, sort_keys=True))
    if header is None or header.get('stream', False) != stream:
        sys.exit('%s: header missing or "stream" not %s' % (path, stream))
    return {k: merge(v) for k, v in objs.items()}, sorted(others)


def main():
    normal, nother = load(sys.argv[1], False)
    stream, sother = load(sys.argv[2], True)
    bad = 0
    for k in sorted(set(normal) | set(stream), key=repr):
        a, b = normal.get(k), stream.get(k)
        if a != b:
            bad += 1
            if bad <= 10:
                print('differ: %r\n  normal %r\n  stream %r'
                      % (k, (a or [])[:4], (b or [])[:4]))
    if nother != sother:
        bad += 1
        print('disk/volume records differ')
    nfiles = sum(1 for k in normal if k[0][0] == 'f')
    print('%d object/role keys (%d of files), %d differ'
          % (len(normal), nfiles, bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
