#!/bin/sh
# The fuzz targets' sparse multi-disk input (tests/fuzz/sparse.h) read by
# two independent readers, the C one the targets use (sparse-digest) and
# tests/fuzz/sparse.py, over crafted edge cases; then pack/unpack round
# trips of real and sparse disks against sha256sum of the originals.
set -u
T="$BUILDDIR/sparse-test"; rm -rf "$T"; mkdir -p "$T"
PY="$SRCDIR/tests/fuzz/sparse.py"; DIG="$BUILDDIR/tests/sparse-digest"
fail=0
/usr/bin/python3 - "$T" <<'PYEOF' || exit 1
import os, random, struct, sys
T = sys.argv[1]
r = random.Random(7)
def D(size): return b"D" + struct.pack("<Q", size)
def C(off, data, n=None):
    return b"C" + struct.pack("<QI", off, len(data) if n is None else n) + data
def rnd(n): return bytes(r.getrandbits(8) for _ in range(n))
M = b"BMSPARSE"
cases = {
    "raw": rnd(5000),
    "raw-short": b"BMSPAR",
    "empty": b"",
    "no-disk": M,
    "chunk-before-disk": M + C(0, rnd(600)) + D(4096) + C(512, rnd(100)),
    "two-disks": M + D(300000) + C(0, rnd(1000)) + C(70000, rnd(100000))
        + C(250000, rnd(60000)) + D(131072) + C(65535, rnd(3)),
    "overlap-dropped": M + D(65536) + C(1000, rnd(2000)) + C(2999, rnd(10))
        + C(500, rnd(10)) + C(3000, rnd(10)),
    "past-end": M + D(10000) + C(9990, rnd(100)) + C(10000, rnd(5))
        + C(2**64 - 1, rnd(5)),
    "cut-chunk": M + D(8192) + C(100, rnd(50), n=4000),
    "cut-disk-record": M + D(8192) + C(0, rnd(10)) + b"D\x01\x02",
    "unknown-tag": M + D(8192) + C(0, rnd(10)) + b"X" + C(4000, rnd(10)),
    "nine-disks": M + b"".join(D(1000 + i) + C(i, rnd(7)) for i in range(9)),
    "huge-disk": M + D(2**64 - 1) + C(2**50, rnd(10)) + D(2**40 + 1) + D(2**40),
    "zero-length": M + D(4096) + C(0, b"") + C(0, rnd(4)),
}
for name, data in cases.items():
    with open(os.path.join(T, name + ".in"), "wb") as f:
        f.write(data)
PYEOF
n=0
for f in "$T"/*.in; do
	n=$((n + 1))
	"$DIG" "$f" > "$f.c" || { echo "FAIL - $(basename "$f"): sparse-digest exit $?"; fail=$((fail + 1)); continue; }
	/usr/bin/python3 "$PY" digest "$f" > "$f.py"
	if ! cmp -s "$f.c" "$f.py"; then
		echo "FAIL - $(basename "$f"): the readers disagree"; diff "$f.c" "$f.py"
		fail=$((fail + 1))
	fi
done
# the rules give these disk counts and sizes (sparse.h)
expect() {
	got=$(cut -d' ' -f1,2 "$T/$1.in.c" | tr '\n' ' ')
	[ "$got" = "$2" ] || { echo "FAIL - $1: disks '$got', expected '$2'"; fail=$((fail + 1)); }
}
expect raw "1 5000 "
expect raw-short "1 6 "
expect empty "1 0 "
expect no-disk ""
expect two-disks "1 300000 2 131072 "
expect nine-disks "1 1000 2 1001 3 1002 4 1003 5 1004 6 1005 7 1006 8 1007 "
expect huge-disk "1 1099511627776 2 1099511627776 3 1099511627776 "
# Round trips: the demo image, and a 5 GiB sparse file with data at its
# start, mid-sector, past 4 GiB (offsets need 64 bits) and at its end.
xz -dc "$SRCDIR/tests/images/demo.img.xz" > "$T/demo.img"
truncate -s 5G "$T/holes.img"
printf 'start' | dd of="$T/holes.img" conv=notrunc status=none
printf 'x' | dd of="$T/holes.img" bs=1 seek=1000000001 conv=notrunc status=none
head -c 1500 /dev/urandom | tr '\0' z | dd of="$T/holes.img" bs=1 seek=4294967297 conv=notrunc status=none
printf 'end' | dd of="$T/holes.img" bs=1 seek=$((5 * 1024 * 1024 * 1024 - 3)) conv=notrunc status=none
/usr/bin/python3 "$PY" pack "$T/pack.in" "$T/demo.img" "$T/holes.img"
xz -dc "$SRCDIR/tests/images/demo.img.xz" | /usr/bin/python3 "$PY" pack "$T/pipe.in" -
n=$((n + 1))
"$DIG" "$T/pipe.in" > "$T/pipe.c"
want="1 $(stat -c %s "$T/demo.img") $(sha256sum < "$T/demo.img" | cut -d' ' -f1)"
[ "$(cat "$T/pipe.c")" = "$want" ] || { echo "FAIL - pack from a pipe: $(cat "$T/pipe.c") != $want"; fail=$((fail + 1)); }
n=$((n + 1))
(cd "$T" && /usr/bin/python3 "$PY" unpack pack.in out) > "$T/unpacked"
# (the 5 GiB files are compared by their packed forms: pack reads only
# their data, and the sizes must match)
/usr/bin/python3 "$PY" pack "$T/holes.in" "$T/holes.img"
/usr/bin/python3 "$PY" pack "$T/out2.in" "$T/out2.img"
if ! cmp -s "$T/demo.img" "$T/out1.img" || ! cmp -s "$T/holes.in" "$T/out2.in" ||
	[ "$(stat -c %s "$T/out2.img")" != "$(stat -c %s "$T/holes.img")" ]; then
	echo "FAIL - pack/unpack round trip differs"; fail=$((fail + 1))
fi
# and the bytes past 4 GiB and at the end are where they were written
for at in 4294967297:1500 $((5 * 1024 * 1024 * 1024 - 3)):3; do
	o=${at%:*}; c=${at#*:}
	if [ "$(tail -c +$((o + 1)) "$T/out2.img" | head -c "$c" | sha256sum)" != \
		"$(tail -c +$((o + 1)) "$T/holes.img" | head -c "$c" | sha256sum)" ] ||
		[ "$(tail -c +$((o + 1)) "$T/out2.img" | head -c "$c" | tr -d '\0' | wc -c)" != "$c" ]; then
		echo "FAIL - round trip: bytes at $o"; fail=$((fail + 1))
	fi
done
# the packed form holds the data, not the holes
sz=$(stat -c %s "$T/pack.in")
[ "$sz" -lt $(( $(stat -c %s "$T/demo.img") + 8192 )) ] || { echo "FAIL - packed size $sz"; fail=$((fail + 1)); }
"$DIG" "$T/pack.in" | head -1 > "$T/pack.c"
[ "$(cat "$T/pack.c")" = "1 $(stat -c %s "$T/demo.img") $(sha256sum < "$T/demo.img" | cut -d' ' -f1)" ] ||
	{ echo "FAIL - packed demo image digest"; fail=$((fail + 1)); }
# --zero-files and --meta-only: which 4 KiB blocks of a disk of 0xff
# bytes keep their data, given a map with metadata, a directory and a file
head -c 65536 /dev/zero | tr '\0' '\377' > "$T/ff.img"
printf '%s\n' "1 0 10000 p /dev/sda1" "1 1000 1800 m /dev/sda1 <x>" \
	"1 2000 4000 f /dev/sda1 /a" "1 8000 8001 d /dev/sda1 /" > "$T/ff.map"
for how in zero-files:0-2000,4000-10000 meta-only:1000-2000,8000-9000; do
	n=$((n + 1))
	/usr/bin/python3 "$PY" pack "--${how%%:*}" "$T/ff.map" "$T/ff.in" "$T/ff.img"
	(cd "$T" && /usr/bin/python3 "$PY" unpack ff.in ffout > /dev/null)
	got=$(/usr/bin/python3 - "$T/ffout1.img" <<'PYEOF'
import sys
b = open(sys.argv[1], "rb").read()
runs, start = [], None
for o in range(0, len(b) + 4096, 4096):
    full = o < len(b) and b[o:o + 4096] == b"\xff" * 4096
    if full and start is None:
        start = o
    if not full and start is not None:
        runs.append("%x-%x" % (start, o))
        start = None
print(",".join(runs))
PYEOF
)
	[ "$got" = "${how#*:}" ] || { echo "FAIL - pack --${how%%:*}: data kept in $got, want ${how#*:}"; fail=$((fail + 1)); }
done
echo "$((n - fail)) passed, $fail failed"
rm -rf "$T"
[ $fail = 0 ]
