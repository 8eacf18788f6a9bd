#!/bin/bash
# `bmapgen check`: each finding on an image crafted to have it (sfdisk,
# sgdisk, hand-written MBR entries, debugfs -w), absent on clean images;
# exit status, --werror and JSON output.
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
expect() { # name image-args... -- id [id...]: each id must be reported
	local name=$1; shift
	local args=()
	while [ "$1" != "--" ]; do args+=("$1"); shift; done; shift
	"$BMAPGEN" check "${args[@]}" > out 2> err
	for id in "$@"; do
		if grep -q "^[a-z]* $id[ :]" out; then echo "ok - $name: $id"
		else echo "FAIL - $name: no $id in:"; cat out err; fail=1; fi
	done
}
absent() { # name image-args... : no warning or error
	local name=$1; shift
	"$BMAPGEN" check "$@" > out 2> err; local st=$?
	if [ $st = 0 ] && ! grep -q "^\(warning\|error\)" out; then echo "ok - $name: clean"
	else echo "FAIL - $name: exit $st:"; cat out err; fail=1; fi
}
mbr() { # image entry...: write MBR entries "index type start count"
	python3 - "$@" <<'PY'
import struct, sys
img = sys.argv[1]
with open(img, 'r+b') as f:
    f.seek(0); s = bytearray(f.read(512))
    for e in sys.argv[2:]:
        i, t, st, n = (int(x, 0) for x in e.split(':'))
        s[446 + 16 * i:462 + 16 * i] = struct.pack('<B3xB3xII', 0, t, st, n)
    s[510:512] = b'\x55\xaa'
    f.seek(0); f.write(s)
PY
}

# clean: the demo image, a plain MBR disk, a GPT disk with an ESP
xz -dc "$SRCDIR/tests/images/demo.img.xz" > demo.img
absent "demo" demo.img
truncate -s 64M clean.img
printf 'label: dos\nstart=2048, size=32768, type=83\n' | sfdisk -q clean.img
mke2fs -q -F -t ext4 -E offset=$((2048 * 512)) clean.img 16M
absent "MBR + ext4" clean.img
truncate -s 64M esp.img
printf 'label: gpt\nstart=2048, size=8192, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q esp.img
absent "GPT with ESP, --uefi" --uefi esp.img

# partition table findings
truncate -s 16M ov.img
mbr ov.img 0:0x83:2048:8192 1:0x83:8192:4096
expect "overlap" ov.img -- partition-overlap
truncate -s 16M past.img
mbr past.img 0:0x83:2048:65536
expect "past the end" past.img -- past-end
truncate -s 16M mis.img
mbr mis.img 0:0x83:63:8192
expect "misaligned" mis.img -- partition-misaligned
truncate -s 32M lo.img
mbr lo.img 0:0x05:2048:8192
python3 - <<'PY'
import struct
with open('lo.img', 'r+b') as f:       # EBR: logical runs past the extended
    e = bytearray(512)
    e[446:462] = struct.pack('<B3xB3xII', 0, 0x83, 2048, 16384)
    e[510:512] = b'\x55\xaa'
    f.seek(2048 * 512); f.write(e)
PY
expect "logical outside extended" lo.img -- logical-outside-extended
cp esp.img gb.img
dd if=/dev/zero of=gb.img bs=512 seek=$((64 * 2048 - 1)) count=1 conv=notrunc status=none
expect "GPT backup damaged" gb.img -- gpt-backup-bad
cp esp.img gp.img
printf 'X' | dd of=gp.img bs=1 seek=$((512 + 40)) conv=notrunc status=none
expect "GPT primary damaged" gp.img -- gpt-primary-bad
cp esp.img pm.img
python3 - <<'PY'
import struct
with open('pm.img', 'r+b') as f:       # protective entry too short
    f.seek(446 + 12); f.write(struct.pack('<I', 1000))
PY
expect "protective MBR mismatch" pm.img -- pmbr-mismatch
cp esp.img hy.img
sgdisk -h 1 hy.img >/dev/null 2>&1
expect "hybrid MBR" hy.img -- hybrid-mbr
cp esp.img mm.img
python3 - <<'PY'
import struct, zlib
with open('mm.img', 'r+b') as f:       # backup array differs, CRCs valid
    size = f.seek(0, 2); last = size // 512 - 1
    f.seek(last * 512); h = bytearray(f.read(92))
    alba, n, esz = struct.unpack_from('<Q', h, 72)[0], *struct.unpack_from('<II', h, 80)
    f.seek(alba * 512); arr = bytearray(f.read(n * esz))
    arr[56] ^= 1                      # a name byte of entry 1
    f.seek(alba * 512); f.write(arr)
    struct.pack_into('<I', h, 88, zlib.crc32(arr))
    struct.pack_into('<I', h, 16, 0)
    struct.pack_into('<I', h, 16, zlib.crc32(h))
    f.seek(last * 512); f.write(h)
PY
expect "GPT primary/backup mismatch" mm.img -- gpt-mismatch

# filesystem vs container
truncate -s 64M big.img
printf 'label: dos\nstart=2048, size=20480, type=83\n' | sfdisk -q big.img
mke2fs -q -F -t ext4 -E offset=$((2048 * 512)) big.img 20M
expect "fs larger than partition" big.img -- fs-larger-than-volume
for fs in xfs btrfs vfat; do           # the same for the other walkers
	truncate -s 400M $fs.big
	printf 'label: dos\nstart=2048, size=409600, type=83\n' | sfdisk -q $fs.big
	truncate -s 350M $fs.fs
	case $fs in
	xfs) mkfs.xfs -q -f $fs.fs ;;
	btrfs) mkfs.btrfs -q -f $fs.fs >/dev/null ;;
	vfat) mkfs.vfat -F 32 $fs.fs >/dev/null ;;
	esac
	dd if=$fs.fs of=$fs.big bs=1M seek=1 count=200 conv=notrunc status=none
	expect "$fs larger than partition" $fs.big -- fs-larger-than-volume
done
truncate -s 200M small.img
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q small.img
mke2fs -q -F -t ext2 -E offset=$((2048 * 512)) small.img 8M
expect "fs much smaller" small.img -- fs-much-smaller
mke2fs -q -F -t ext4 rec.img 16M
debugfs -w -R "feature needs_recovery" rec.img >/dev/null 2>&1
expect "needs recovery" rec.img -- fs-needs-recovery

# XFS log: clean after unmount, dirty after a shutdown that skips the
# unmount record (xfs_io -x shutdown), before and after the log ring has
# wrapped (cycle 2).  xfs_logprint -t is the independent judge of the
# state and of the head block the finding names.
xfslog() { # name image: compare check's verdict with xfs_logprint's
	local st head
	st=$(xfs_logprint -t "$2" 2>/dev/null | sed -n 's/.*head: \([0-9]*\) state: <\(.*\)>.*/\2 \1/p')
	"$BMAPGEN" check "$2" > out 2> err
	case "$st" in
	"CLEAN "*) if ! grep -q fs-needs-recovery out; then echo "ok - $1: clean log"
		else echo "FAIL - $1: xfs_logprint says $st, check says:"; cat out; fail=1; fi ;;
	"DIRTY "*) head=${st#DIRTY }
		if grep -q "fs-needs-recovery.*xfs log is dirty.*block $head of the log" out; then
			echo "ok - $1: dirty log, head $head"
		else echo "FAIL - $1: xfs_logprint says $st, check says:"; cat out; fail=1; fi ;;
	*) echo "FAIL - $1: xfs_logprint gave '$st'"; fail=1 ;;
	esac
}
xfschurn() { # image rounds files: create and delete files to fill the log
	mount -o loop "$1" mnt || return 1
	for r in $(seq "$2"); do
		mkdir mnt/r$r; (cd mnt/r$r && seq "$3" | xargs touch); sync
		rm -rf mnt/r$r; sync
	done
}
xfsdirty() { # image: commit changes to the log, then shut down
	mount -o loop "$1" mnt && mkdir mnt/x && (cd mnt/x && seq 500 | xargs touch) &&
		sync && xfs_io -x -c shutdown mnt && umount mnt
}
mkdir -p mnt
truncate -s 320M xl.img; mkfs.xfs -q -f xl.img
xfschurn xl.img 1 1000 && umount mnt
cp --sparse=always xl.img xld.img
xfslog "xfs unmounted" xl.img
xfsdirty xld.img
xfslog "xfs shut down" xld.img
# 64 MiB log: 10 000 creates and deletes log about 5 MiB, 16 rounds wrap it.
xfschurn xl.img 16 10000 && umount mnt
cp --sparse=always xl.img xld.img
xfslog "xfs wrapped log, unmounted" xl.img
xfsdirty xld.img
xfs_logprint -t xld.img | grep -q 'LSN cycle 2 ' && echo "ok - xfs log wrapped" ||
	{ echo "FAIL - xfs log did not wrap"; fail=1; }
xfslog "xfs wrapped log, shut down" xld.img
rm -f xl.img xld.img

# RAID: a raid5 with one member zeroed (made in the appliance: mk-md.sh)
xz -dc "$SRCDIR/tests/images/md-r5deg.img.xz" > r5deg.img
expect "degraded md array" r5deg.img -- raid-degraded

# LVM: set A (made in the appliance: mk-lvm.sh) without its third PV
for i in 1 2; do xz -dc "$SRCDIR/tests/images/lvm-a$i.img.xz" > lvm-a$i.img; done
expect "missing PV" lvm-a1.img lvm-a2.img -- lvm-pv-missing

# two files claiming one block
mkdir tree; seq 1 3000 > tree/a; seq 1 3000 > tree/b
mke2fs -q -F -t ext2 -b 1024 -d tree sh.img 8M
blk=$(debugfs -R "bmap /a 0" sh.img 2>/dev/null)
debugfs -w -R "sif /b block[0] $blk" sh.img >/dev/null 2>&1
expect "shared blocks" sh.img -- shared-blocks
mkdir tree2; seq 1 3000 > tree2/a; ln tree2/a tree2/hardlink
mke2fs -q -F -t ext2 -d tree2 hl.img 8M
absent "hard links are not shared blocks" hl.img

# boot readiness
expect "ESP missing" --uefi demo.img -- esp-missing
expect "required file missing" --require /etc/nope demo.img -- required-missing
"$BMAPGEN" check --require /etc/fstab demo.img > out && ! grep -q required out &&
	echo "ok - required file present" || { echo "FAIL - /etc/fstab"; fail=1; }
expect "boot files above a limit" --boot-below 1M demo.img -- boot-above-limit
"$BMAPGEN" check --boot-below 1G demo.img > out && echo "ok - boot files below 1G" ||
	{ echo "FAIL - boot below 1G"; cat out; fail=1; }

# exit status, --werror, JSON
"$BMAPGEN" check mis.img > /dev/null; st=$?
[ $st = 1 ] && echo "ok - warnings exit 1" || { echo "FAIL - warnings exit $st"; fail=1; }
"$BMAPGEN" check --werror mis.img > /dev/null; st=$?
[ $st = 2 ] && echo "ok - --werror exit 2" || { echo "FAIL - --werror exit $st"; fail=1; }
"$BMAPGEN" check ov.img > /dev/null; st=$?
[ $st = 2 ] && echo "ok - errors exit 2" || { echo "FAIL - errors exit $st"; fail=1; }
"$BMAPGEN" check --json ov.img | jq -e '.[] | select(.id == "partition-overlap") | .severity == "error"' >/dev/null &&
	echo "ok - JSON findings" || { echo "FAIL - JSON"; fail=1; }
# a bad option value is an error, not a check quietly turned off
st=0; "$BMAPGEN" check --boot-below abc demo.img > /dev/null 2> bad.err || st=$?
[ $st = 2 ] && grep -q "boot-below wants a byte offset" bad.err &&
	echo "ok - --boot-below abc refused" || { echo "FAIL - --boot-below abc: exit $st"; fail=1; }
# non-ASCII text stays UTF-8 in JSON (it was written byte by byte as
# \u00XX: "café" read back as "cafÃ©")
cafe="/caf$(printf '\xc3\xa9')"
"$BMAPGEN" check --json --require "$cafe" ov.img 2> /dev/null |
	jq -r '.[].message' | grep -qxF "$cafe is on no filesystem" &&
	echo "ok - JSON findings keep UTF-8" || { echo "FAIL - JSON findings garble UTF-8"; fail=1; }
echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
