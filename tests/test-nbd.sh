#!/bin/bash
# NBD input through libnbd, against nbdkit serving a raw image:
#  - the map over nbd+unix:// and nbd:// (TCP) equals the map of the
#    file; the guest bytes read equal the file (tests/diskcat);
#  - bmapgen only reads: nbdkit's log filter sees no Write, Zero or Trim,
#    and a read-only export (-r) works;
#  - -v reports the bytes fetched, and they are what the log shows read;
#  - lookup works on a URI; an unreachable server is exit status 2.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
DISKCAT=${DISKCAT:-${BUILDDIR:-build}/tests/diskcat}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
command -v nbdkit >/dev/null || { echo "SKIP - no nbdkit"; exit 77; }
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }
export BMAPGEN DISKCAT

mkdir tree
head -c 2000000 /dev/urandom > tree/blob
seq 1 100000 > tree/seq
mke2fs -q -F -F -t ext4 -d tree fs.img 24M > /dev/null
truncate -s 32M disk.img
sfdisk -q disk.img <<SF
label: gpt
start=2048, size=49152
SF
dd if=fs.img of=disk.img bs=1M seek=1 conv=notrunc status=none
"$BMAPGEN" disk.img > file.map

nbdkit -r -U - --filter=log file disk.img logfile="$T/nbd.log" \
	--run '"$BMAPGEN" -v "$uri" > unix.map 2> unix.err; echo $? > unix.st'
[ "$(cat unix.st)" = 0 ] && cmp -s unix.map file.map && ok "nbd+unix:// map equals the file's" ||
	{ bad "nbd+unix:// map differs (exit $(cat unix.st))"; cat unix.err; }
if grep -Eq ' (Write|Zero|Trim) ' nbd.log; then bad "bmapgen sent writes"; else ok "only reads sent"; fi
fetched=$(sed -n 's/.*fetched \([0-9]*\) bytes.*/\1/p' unix.err)
logged=$(python3 -c '
import re, sys
print(sum(int(m.group(1), 16) for m in re.finditer(r" Read id=\d+ offset=0x[0-9a-f]+ count=0x([0-9a-f]+)", open(sys.argv[1]).read())))' nbd.log)
[ -n "$fetched" ] && [ "$fetched" = "$logged" ] && ok "-v reports $fetched bytes fetched (nbdkit log: $logged)" ||
	bad "-v fetched '$fetched' bytes, nbdkit log shows $logged"

nbdkit -r -U - file disk.img --run '"$DISKCAT" "$uri" > cat.img'
cmp -s cat.img disk.img && ok "guest bytes over NBD" || bad "guest bytes over NBD differ"

port=$((20000 + RANDOM % 20000))
nbdkit -r -i 127.0.0.1 -p $port file disk.img \
	--run '"$BMAPGEN" "$uri" > tcp.map; echo "$uri" > tcp.uri' || true
grep -q '^nbd://' tcp.uri 2>/dev/null && cmp -s tcp.map file.map && ok "nbd:// (TCP) map" ||
	bad "nbd:// (TCP) map differs"

nbdkit -r -U - file disk.img --run '"$BMAPGEN" lookup "$uri" 0x200 > lk.out'
grep -q 'gpt header' lk.out && ok "lookup over NBD" || bad "lookup over NBD"

st=0; "$BMAPGEN" "nbd+unix:///?socket=$T/nothing" > /dev/null 2> bad.err || st=$?
[ $st = 2 ] && ok "unreachable server: exit 2" || bad "unreachable server: exit $st"
exit $fail
