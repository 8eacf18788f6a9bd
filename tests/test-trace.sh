#!/bin/bash
# lookup and trace against an independent source of truth:
#  - lookup: at a block debugfs says belongs to a file, the first object
#    named is that file (then partition, then disk); the same from the
#    image directly and from a saved map;
#  - trace: an NBD client (libnbd from Python) reads exactly the blocks
#    debugfs lists for two of three files and writes one block of a
#    fourth through nbdkit's log filter; the trace must name exactly
#    those files, with the right directions.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
command -v nbdkit >/dev/null || { echo "SKIP - no nbdkit"; exit 77; }
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "SKIP - no python3-libnbd"; exit 77; }

mkdir tree
for f in alpha bravo charlie delta; do head -c 50000 /dev/urandom > tree/$f; done
mke2fs -q -F -F -t ext4 -b 4096 -d tree fs.img 16M > /dev/null
truncate -s 24M disk.img
sfdisk -q disk.img <<SF
label: gpt
start=2048, size=32768
SF
dd if=fs.img of=disk.img bs=1M seek=1 conv=notrunc status=none
"$BMAPGEN" disk.img > disk.map

# "blocks" of a file as byte ranges in disk.img: "start end" per block
ranges() {
	debugfs -R "blocks /$1" fs.img 2>/dev/null | tr ' ' '\n' | grep . |
		while read -r b; do echo $((1048576 + b * 4096)) $((1048576 + b * 4096 + 4096)); done
}
ranges alpha > alpha.r; ranges charlie > charlie.r; ranges delta > delta.r
[ -s alpha.r ] && [ -s charlie.r ] || { echo "FAIL - debugfs listed no blocks"; exit 1; }

# --- lookup
read -r s e < alpha.r
for src in disk.img disk.map; do
	"$BMAPGEN" lookup "$src" $((s + 100)) > lk.out
	if sed -n 2p lk.out | grep -q ' f /dev/sda1 /alpha$' &&
	   sed -n 3p lk.out | grep -q ' p /dev/sda1$' &&
	   sed -n 4p lk.out | grep -q ' v /dev/sda$'; then
		echo "ok - lookup $src: file, partition, disk"
	else
		echo "FAIL - lookup $src:"; cat lk.out; fail=1
	fi
done
"$BMAPGEN" lookup disk.map 0x200+1s > lk.out || true
grep -q ' m /dev/sda <gpt header>' lk.out && ! grep -q ' f ' lk.out &&
	echo "ok - lookup gpt header" || { echo "FAIL - lookup 0x200:"; cat lk.out; fail=1; }
if "$BMAPGEN" lookup disk.map 1T > /dev/null 2>&1; then
	echo "FAIL - lookup past the end succeeded"; fail=1
fi

# --- trace: read alpha and charlie block by block, write one delta block
cp disk.img rw.img
nbdkit -U - --filter=log file rw.img logfile="$T/nbd.log" --run "/usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for name in (\"alpha.r\", \"charlie.r\"):
    for line in open(name):
        s, e = map(int, line.split())
        h.pread(e - s, s)
s, e = map(int, open(\"delta.r\").readline().split())
h.pwrite(b\"x\" * 4096, s)
' \"\$uri\""
grep -q ' Read id=' nbd.log || { echo "FAIL - nbdkit log has no reads"; fail=1; }
"$BMAPGEN" trace --map disk.map nbd.log > trace.out
grep '^[a-z]' trace.out | sort -u > got
printf '%s\n' "read f /dev/sda1 /alpha" "read f /dev/sda1 /charlie" \
	"write f /dev/sda1 /delta" > want
if diff want got; then
	echo "ok - trace names exactly the files read and written"
else
	echo "FAIL - trace:"; cat trace.out; fail=1
fi
# Every traced range is a range the client asked for.
python3 - trace.out alpha.r charlie.r delta.r <<'PY' || fail=1
import sys
asked = set()
for f in sys.argv[2:]:
    for line in open(f):
        s, e = map(int, line.split()); asked.add((s, e))
got = set()
for line in open(sys.argv[1]):
    if line.startswith(' '):
        for r in line.split():
            s, e = (int(x, 16) for x in r.split('-')); got.add((s, e))
extra = got - asked
if extra or len(got) < 3:
    print('FAIL - trace ranges not asked for:', sorted(extra)[:5]); sys.exit(1)
print('ok - trace ranges are the requests')
PY
# The same trace from the image itself (mapping on the fly), from stdin.
"$BMAPGEN" trace --map disk.img < nbd.log > trace2.out
cmp -s trace.out trace2.out && echo "ok - trace from image = trace from map" ||
	{ echo "FAIL - trace from the image differs"; fail=1; }
exit $fail
