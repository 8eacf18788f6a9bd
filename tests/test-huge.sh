#!/bin/bash
# An 8 EiB disk (the demo image extended with zeroes by nbdkit's truncate
# filter, served over NBD) maps in bounded time and memory: the v line
# spans all of it, the partition and its files are found, and the
# protective MBR that no longer covers the disk is reported.
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
xz -dc "$SRCDIR/tests/images/demo.img.xz" > demo.img
size=$((2**63 - 512))
timeout 120 nbdkit -U - --filter=truncate file demo.img truncate=$size \
	--run "/usr/bin/time -f '%M %U %S' -o usage '$BMAPGEN' \"\$uri\" > huge.map 2> huge.err"
st=$?
[ $st = 1 ] && echo "ok - exit 1" || { echo "FAIL - exit $st"; cat huge.err; fail=1; }
grep -q "^1 1000000 $(printf %x $size) v /dev/sda$" huge.map && echo "ok - v line to 8 EiB" ||
	{ echo "FAIL - v line"; tail -3 huge.map; fail=1; }
grep -q " f /dev/sda1 /etc/fstab$" huge.map && echo "ok - files found" || { echo "FAIL - files"; fail=1; }
grep -q "protective MBR entry covers" huge.err && echo "ok - protective MBR mismatch reported" ||
	{ echo "FAIL - no protective MBR message"; cat huge.err; fail=1; }
read -r rss user sys < <(tail -1 usage)
echo "bmapgen: ${rss} KiB peak RSS, ${user}+${sys} s CPU"
[ "$rss" -lt 262144 ] && echo "ok - memory bounded" || { echo "FAIL - RSS $rss KiB"; fail=1; }
python3 -c "import sys; sys.exit(0 if $user + $sys < 10 else 1)" && echo "ok - time bounded" || { echo "FAIL - CPU"; fail=1; }
echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
