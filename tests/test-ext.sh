#!/bin/bash
# ext2/3/4 image tests: build filesystems from scratch (mke2fs -d with a
# fixed UUID and hash seed, loop mounts for fragmentation and
# preallocation), put them behind GPT and MBR-with-logical-partitions
# tables, map them with bmapgen and check every file's and directory's
# blocks against debugfs (tests/ext_check.py).
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
SRCDIR=${SRCDIR:-.}
T=$(mktemp -d)
cleanup() { mountpoint -q "$T/mnt" 2>/dev/null && umount "$T/mnt"; rm -rf "$T"; }
trap cleanup EXIT
cd "$T"
fail=0
UUID=5d1b2c3e-1111-4a2b-9c3d-0123456789ab
SEED=6a0e5f2c-2222-4b3c-8d4e-0123456789ab
mkfs() { mke2fs -q -F -F -U "$UUID" -E hash_seed=$SEED,root_owner=0:0 "$@"; }

check() { # name map fsimage fsoffset device tree [expected-status]
	if python3 "$SRCDIR/tests/ext_check.py" "$2" "$3" "$4" "$5" "$6"; then
		echo "ok - $1"
	else
		echo "FAIL - $1"; fail=1
	fi
}

run_bmapgen() { # map image... ; status must be 0
	local map=$1; shift
	local st=0
	"$BMAPGEN" "$@" > "$map" 2> "$map.err" || st=$?
	if [ "$st" != 0 ]; then
		echo "FAIL - bmapgen $* exited $st:"; cat "$map.err"; fail=1
	fi
}

# --- A: ext2, 1 KiB blocks, a sparse file reaching triple-indirect blocks
mkdir -p a/dir
seq 1 20000 > a/dir/seq
head -c 300000 /dev/urandom > a/indirect        # needs IND + DIND
truncate -s 80M a/tind                           # 1K blocks: >64 MiB = TIND
printf 'tail data' | dd of=a/tind bs=1M seek=75 conv=notrunc status=none
printf 'head' | dd of=a/tind conv=notrunc status=none
ln -s "$(printf 'x%.0s' $(seq 1 100))" a/slowlink   # > 60 bytes: a block
ln -s short a/fastlink
mkfs -t ext2 -b 1024 -d a a.img 32M
debugfs -R "stat /tind" a.img 2>/dev/null | grep -q '(TIND)' ||
	{ echo "FAIL - /tind has no triple-indirect block"; fail=1; }
run_bmapgen a.map a.img
check "ext2 1K triple indirect" a.map a.img 0 /dev/sda a

# --- B: ext4 (extents, inline data, htree dir, fragmented and
# preallocated files) behind a GPT
mkdir -p b/big b/inl
for i in $(seq 1 10000); do : > "b/big/entry-$i"; done
for i in $(seq 1 20); do echo "small $i" > "b/inl/s$i"; done
mkdir -p b/inldir/sub && echo tiny > b/inldir/sub/tiny  # inline directories
head -c 2000000 /dev/urandom > b/two-mb
printf 'name with space' > "b/with space"
printf 'utf8' > "b/caf$(printf '\xc3\xa9')"
mkfs -t ext4 -O inline_data,metadata_csum -I 256 -d b b.img 64M
mkdir mnt
mount -o loop b.img mnt
for i in $(seq 1 64); do      # interleaved appends: fragmented files
	head -c 4096 /dev/urandom >> mnt/frag1; sync mnt/frag1
	head -c 4096 /dev/urandom >> mnt/frag2; sync mnt/frag2
done
fallocate -l 1M mnt/prealloc
printf 'written' | dd of=mnt/prealloc conv=notrunc status=none
umount mnt
cp -a b b.tree && head -c 1 /dev/null > b.tree/frag1 && : > b.tree/frag2 && : > b.tree/prealloc
truncate -s 100M b.disk
sfdisk -q b.disk <<SF
label: gpt
start=2048, size=$((64*2048))
start=$((2048 + 64*2048))
SF
dd if=b.img of=b.disk bs=1M seek=1 conv=notrunc status=none
run_bmapgen b.map b.disk
check "GPT + ext4" b.map b.img $((2048*512)) /dev/sda1 b.tree
next=$(debugfs -R "stat /frag1" b.img 2>/dev/null | grep -o '([0-9]*-[0-9]*):' | wc -l)
if [ "$next" -lt 3 ]; then
	echo "FAIL - frag1 has $next extents, not fragmented: the test image is wrong"; fail=1
fi

# --- C: MBR with a primary ext2 and logical ext3 and ext2 partitions
mkdir -p c1 c5 c6
seq 1 5000 > c1/p1file; seq 1 7000 > c5/p5file; seq 1 9000 > c6/p6file
mkfs -t ext2 -d c1 c1.img 8M
mkfs -t ext3 -d c5 c5.img 8M
mkfs -t ext2 -b 2048 -d c6 c6.img 8M
truncate -s 40M c.disk
sfdisk -q c.disk <<SF
label: dos
start=2048, size=16384, type=83
start=20480, type=5
start=22528, size=16384, type=83
start=40960, size=16384, type=83
SF
p5=$(sfdisk -d c.disk | awk -F'[=,]' '/c.disk5/{gsub(/ /,"",$2); print $2}')
p6=$(sfdisk -d c.disk | awk -F'[=,]' '/c.disk6/{gsub(/ /,"",$2); print $2}')
dd if=c1.img of=c.disk bs=512 seek=2048 conv=notrunc status=none
dd if=c5.img of=c.disk bs=512 seek="$p5" conv=notrunc status=none
dd if=c6.img of=c.disk bs=512 seek="$p6" conv=notrunc status=none
run_bmapgen c.map c.disk
check "MBR primary ext2" c.map c1.img $((2048*512)) /dev/sda1 c1
check "MBR logical ext3" c.map c5.img $((p5*512)) /dev/sda5 c5
check "MBR logical ext2" c.map c6.img $((p6*512)) /dev/sda6 c6
for obj in "m /dev/sda <ebr>" "p /dev/sda2" "p /dev/sda5" "p /dev/sda6" "m /dev/sda5 <journal>"; do
	grep -q " $obj\$" c.map || { echo "FAIL - no '$obj' in the map"; fail=1; }
done

# --- D: xattrs, written by the kernel: a value too large for a block in
# an inode of its own (ea_inode), and 128-byte inodes whose equal xattrs
# share one block (the kernel's mbcache); then an entry renamed to hold
# a '/' (no metadata_csum: no directory block checksum to fix)
mkdir -p d/etc && echo hello > d/f && echo a > d/a && echo b > d/b
echo real > d/etc/passwd && echo evil > d/etcXpasswd
mkfs -t ext4 -O ea_inode,^metadata_csum -I 128 -b 4096 -d d d.img 16M > /dev/null 2>&1
mount -o loop d.img mnt
setfattr -n user.big -v "0x$(head -c 20000 /dev/urandom | od -An -tx1 -v | tr -d ' \n')" mnt/f
setfattr -n user.same -v shared mnt/a
setfattr -n user.same -v shared mnt/b
umount mnt
run_bmapgen d.map d.img
ea=0 eabad=0
for i in $(seq 12 40); do
	debugfs -R "stat <$i>" d.img 2>/dev/null | grep -q "Flags: 0x2[0-9a-f]\{5\}$" || continue
	ea=$i
	for b in $(debugfs -R "blocks <$i>" d.img 2>/dev/null); do
		python3 - d.map $((b * 4096)) <<'PY' || { echo "FAIL - EA inode $i block $b is not /f's"; fail=1; eabad=1; }
import sys
off = int(sys.argv[2])
ok = any(f[3] == 'f' and f[5] == '/f' and int(f[1], 16) <= off < int(f[2], 16)
         for f in (l.rstrip('\n').split(' ', 5) for l in open(sys.argv[1])))
sys.exit(0 if ok else 1)
PY
	done
done
[ "$ea" = 0 ] && { echo "FAIL - ea_inode: the test image has no EA inode"; fail=1; }
[ "$ea" != 0 ] && [ $eabad = 0 ] && echo "ok - ea_inode: the blocks of EA inode $ea are /f's"
xb=$(debugfs -R "stat /a" d.img 2>/dev/null | sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')
[ -n "$xb" ] && [ "$xb" != 0 ] &&
	[ "$(debugfs -R "stat /b" d.img 2>/dev/null | sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')" = "$xb" ] ||
	{ echo "FAIL - /a and /b do not share an xattr block: the test image is wrong"; fail=1; }
st=0; "$BMAPGEN" check d.img > d.check 2>&1 || st=$?
if [ $st = 0 ] && ! grep -q shared-blocks d.check; then
	echo "ok - check: the xattr block /a and /b share is no cross-link"
else
	echo "FAIL - check: exit $st (a shared xattr block taken for a cross-link?)"; cat d.check; fail=1
fi
python3 - d.img <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.find(b'etcXpasswd')
d[i + 3] = ord('/')
open(sys.argv[1], 'wb').write(d)
PY
st=0; "$BMAPGEN" d.img > d2.map 2> d2.err || st=$?
real=$(debugfs -R "blocks /etc/passwd" d.img 2>/dev/null)
if [ $st = 1 ] && grep -q "etc/passwd.*not mapped" d2.err &&
	[ "$(awk '$6 == "/etc/passwd"' d2.map | wc -l)" = 1 ] &&
	grep -q "^1 $(printf %x $((real * 4096))) [0-9a-f]* f /dev/sda /etc/passwd$" d2.map; then
	echo "ok - a name holding '/' is reported, not mapped over /etc/passwd"
else
	echo "FAIL - a name holding '/': exit $st"; cat d2.err; grep passwd d2.map; fail=1
fi

# --- every byte of each disk is covered by its v line
for m in a.map b.map c.map; do
	python3 - "$m" <<'PY' || fail=1
import sys
end = 0
for line in open(sys.argv[1], 'rb'):
    f = line.split(b' ', 5)
    if f[3] == b'v':
        s, e = int(f[1], 16), int(f[2], 16)
        if s != end:
            print('FAIL - v gap at', hex(end), 'in', sys.argv[1]); sys.exit(1)
        end = e
PY
done
exit $fail
