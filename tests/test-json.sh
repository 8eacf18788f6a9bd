#!/bin/bash
# JSON and JSON Lines output on a real ext4 image with hostile names
# (invalid UTF-8, newline, quote, backslash, control characters):
#  - both are valid UTF-8 JSON that Python (strict) and jq accept;
#  - every file of the source tree appears as an f object whose exact
#    name bytes ("path", or "path_hex" when not UTF-8) are the file's;
#  - every object's ranges equal its pieces in the virt-bmap output,
#    joined (two writers over one store must agree), and each file's
#    ranges hold exactly its blocks as debugfs lists them;
#  - JSON Lines carries the same records as the JSON document.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
mkdir -p tree/dir
seq 1 50000 > tree/dir/numbers
head -c 200000 /dev/urandom > "tree/$(printf 'bad\xff\xfename')"
printf 'x' > "tree/$(printf 'new\nline')"
printf 'y' > "tree/$(printf 'q\"uote\\back\001ctl')"
printf 'z' > "tree/caf$(printf '\xc3\xa9')"
mke2fs -q -F -F -t ext4 -b 4096 -d tree fs.img 32M > /dev/null
"$BMAPGEN" fs.img > map.txt
"$BMAPGEN" -f json fs.img > map.json
"$BMAPGEN" -f jsonl -o map.jsonl fs.img
jq -e '.objects | length > 5' map.json > /dev/null
jq -e -s 'length > 5' map.jsonl > /dev/null
python3 - tree map.txt map.json map.jsonl fs.img <<'PY'
import json, os, re, subprocess, sys
tree, txt, js, jl, img = sys.argv[1:]
fail = 0
def bad(msg):
    global fail
    print('FAIL -', msg); fail = 1

raw = open(js, 'rb').read()
doc = json.loads(raw.decode('utf-8', 'strict'))
recs = [json.loads(l.decode('utf-8', 'strict')) for l in open(jl, 'rb')]
if recs[0].get('record') != 'header' or recs[0]['format'] != 'bmapgen-map':
    bad('jsonl header')
for kind, key in (('disk', 'disks'), ('volume', 'volumes'), ('object', 'objects')):
    got = [dict((k, v) for k, v in r.items() if k != 'record')
           for r in recs if r['record'] == kind]
    if got != doc[key]:
        bad('jsonl %s records differ from the json document' % kind)
if doc['disks'][0]['size'] != os.path.getsize(img):
    bad('disk size')

def name(o):
    if 'path_hex' in o:
        return bytes.fromhex(o['path_hex'])
    return o['path'].encode()

# Files of the tree, as bytes.
want = set()
for d, dirs, files in os.walk(tree.encode()):
    for f in files:
        want.add(os.path.join(d, f)[len(tree):])
got = {name(o): o for o in doc['objects'] if o['type'] == 'f'}
if set(got) != want:
    bad('file names: missing %r extra %r' % (want - set(got), set(got) - want))
for o in doc['objects']:
    if 'path_hex' in o and bytes.fromhex(o['path_hex']).decode('utf-8', 'replace') != o['path']:
        bad('path_hex does not match path for %r' % o['path'])

# virt-bmap pieces, unescaped, joined per object.
def unescape(s):
    out = bytearray(); i = 0
    while i < len(s):
        if s[i:i+1] == b'\\':
            c = s[i+1:i+2]
            if c == b'x':
                out.append(int(s[i+2:i+4], 16)); i += 4; continue
            out += {b'n': b'\n', b't': b'\t', b'\\': b'\\'}[c]; i += 2; continue
        out += s[i:i+1]; i += 1
    return bytes(out)
pieces = {}
for line in open(txt, 'rb'):
    f = line.rstrip(b'\n').split(b' ', 5)
    key = (f[3].decode(), unescape(f[4]), unescape(f[5]).strip(b'<>') if len(f) > 5 else None)
    pieces.setdefault(key, []).append((int(f[0]), int(f[1], 16), int(f[2], 16)))
def join(rs):
    out = []
    for d, s, e in sorted(rs):
        if out and out[-1][0] == d and s <= out[-1][2]:
            out[-1][2] = max(out[-1][2], e)
        else:
            out.append([d, s, e])
    return out
for o in doc['objects']:
    p = name(o) if o['type'] in 'fd' else (o['name'].encode() if o['type'] == 'm' else None)
    key = (o['type'], o['dev'].encode(), p)
    mine = join((r['disk'], r['start'], r['end']) for r in o['ranges'])
    if join(pieces.get(key, [])) != mine:
        bad('ranges of %r differ between json and virt-bmap' % (key,))

# Independent: debugfs block lists of the regular files (4K blocks).
for path, o in got.items():
    if b'\n' in path or b'\x01' in path:
        continue  # debugfs's command line cannot name these
    out = subprocess.run([b'debugfs', b'-R', b'blocks "' + path + b'"', img.encode()],
                         capture_output=True).stdout.split()
    blocks = sorted(int(b) for b in out)
    mine = sorted(b for r in o['ranges'] for b in range(r['start'] // 4096, r['end'] // 4096)
                  if 'data' in r['roles'])
    if blocks != mine:
        bad('blocks of %r: debugfs %s.. json %s..' % (path, blocks[:5], mine[:5]))
print('ok - json checks' if not fail else 'FAIL - json checks')
sys.exit(fail)
PY
