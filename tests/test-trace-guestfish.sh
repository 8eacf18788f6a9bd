#!/bin/bash
# trace with a real client: the Linux kernel in the libguestfs appliance
# mounts an ext4 image served by nbdkit (log filter) and reads one file;
# the trace must name that file (and the filesystem metadata a mount
# reads), and none of the files it did not read.  Slow (one appliance
# launch under TCG, ~1-2 min); skipped without guestfish.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
command -v guestfish >/dev/null && command -v nbdkit >/dev/null ||
	{ echo "SKIP - needs guestfish and nbdkit"; exit 77; }
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
fail=0
mkdir tree
# Files far apart (a 4 MiB gap file between them) so that read-ahead of
# one does not reach the next.
head -c 300000 /dev/urandom > tree/alpha
head -c 4000000 /dev/urandom > tree/gap1
head -c 300000 /dev/urandom > tree/bravo
head -c 4000000 /dev/urandom > tree/gap2
head -c 300000 /dev/urandom > tree/charlie
mke2fs -q -F -F -t ext4 -d tree fs.img 48M > /dev/null
"$BMAPGEN" fs.img > fs.map
sum=$(nbdkit -r -U - --filter=log file fs.img logfile="$T/g.log" --run \
	'guestfish -- add "" protocol:nbd server:unix:$unixsocket format:raw readonly:true : run : mount-ro /dev/sda / : checksum md5 /bravo')
[ "$sum" = "$(md5sum < tree/bravo | cut -d' ' -f1)" ] ||
	{ echo "FAIL - guestfish did not read /bravo ($sum)"; exit 1; }
"$BMAPGEN" trace --map fs.map g.log > trace.out
grep -qx 'read f /dev/sda /bravo' trace.out && echo "ok - trace names /bravo" ||
	{ echo "FAIL - /bravo not in the trace"; fail=1; }
grep -qx 'read m /dev/sda <superblock>' trace.out && echo "ok - trace names the superblock" ||
	{ echo "FAIL - the superblock read by mount is not in the trace"; fail=1; }
# The appliance also probes scattered blocks (blkid looks for signatures
# at fixed offsets), which may land in other files: those get a few
# blocks, the file read gets all of its bytes.
python3 - trace.out <<'PY' || fail=1
import sys
cov = {}
obj = None
for line in open(sys.argv[1]):
    if line.startswith(' '):
        for r in line.split():
            s, e = (int(x, 16) for x in r.split('-'))
            cov.setdefault(obj, set()).update(range(s // 1024, (e + 1023) // 1024))
    else:
        obj = line.strip()
kib = {o: len(b) for o, b in cov.items()}
b = kib.get('read f /dev/sda /bravo', 0)
others = {o: k for o, k in kib.items() if ' f ' in o and not o.endswith('/bravo')}
if b < 300000 // 1024 or any(k > 16 for k in others.values()):
    print('FAIL - traced KiB: /bravo %d, others %s' % (b, others)); sys.exit(1)
print('ok - /bravo traced in full (%d KiB), other files at most 16 KiB (%s)' % (b, others))
PY
exit $fail
