#!/bin/bash
# bmaptool output: flash with the real `bmaptool copy --bmap` onto a
# target full of random garbage (a used device, not a zeroed sparse
# file), then check the copy with independent tools: e2fsck -fn, every
# file read back with debugfs rdump and compared, the boot-loader bytes
# in the GPT gap and an unrecognised partition byte for byte; then XFS,
# btrfs, NTFS and FAT32 copies through xfs_repair -n, btrfs check,
# ntfsfix -n and fsck.vfat -n, read back and compared.  Reports
# bytes written by bmapgen's bmap against `bmaptool create`'s.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
T=$(mktemp -d)
trap 'mountpoint -q "$T/mnt" && umount "$T/mnt"; rm -rf "$T"' EXIT
cd "$T"
fail=0
command -v bmaptool >/dev/null || { echo "SKIP - no bmaptool"; exit 77; }

mkfs() { mke2fs -q -F -F -E root_owner=0:0 "$@" > /dev/null; }

# Fill FILE (which must exist with the right size) with garbage.
garbage() { head -c "$(stat -c %s "$1")" /dev/urandom > "$1.g" && mv "$1.g" "$1"; }

flash() { # name image target-size -> $1.out, $1.bmap
	local name=$1 img=$2 st=0
	"$BMAPGEN" -f bmaptool -o "$name.bmap" "$img" 2> "$name.err" || st=$?
	if [ "$st" != 0 ]; then
		echo "FAIL - $name: bmapgen exited $st"; cat "$name.err"; fail=1
		return 1
	fi
	truncate -s "$(stat -c %s "$img")" "$name.out"
	garbage "$name.out"
	if ! bmaptool -q copy --bmap "$name.bmap" "$img" "$name.out" 2> "$name.cerr"; then
		echo "FAIL - $name: bmaptool copy:"; cat "$name.cerr"; fail=1
		return 1
	fi
	bmaptool -q create -o "$name.ref.bmap" "$img"
	local ours theirs
	ours=$(sed -n 's/.*<MappedBlocksCount> *\([0-9]*\).*/\1/p' "$name.bmap")
	theirs=$(sed -n 's/.*<MappedBlocksCount> *\([0-9]*\).*/\1/p' "$name.ref.bmap")
	echo "# $name: bmapgen bmap writes $((ours * 4)) KiB, bmaptool create $((theirs * 4)) KiB"
}

# copy_nonzero WHAT IMG: bmapgen reports a problem (exit 1) and the bmap
# it writes makes bmaptool copy every non-zero 4 KiB block of IMG
copy_nonzero() {
	local what=$1 img=$2 st=0
	"$BMAPGEN" -f bmaptool -o "$img.bmap" "$img" 2> "$img.err" || st=$?
	truncate -s "$(stat -c %s "$img")" "$img.out"
	garbage "$img.out"
	if [ $st = 1 ] && bmaptool -q copy --bmap "$img.bmap" "$img" "$img.out" 2> /dev/null &&
		python3 - "$img" "$img.out" <<'PY'
import sys
a, b = open(sys.argv[1], 'rb'), open(sys.argv[2], 'rb')
while True:
    x, y = a.read(4096), b.read(4096)
    if not x:
        sys.exit(0)
    if x.count(0) != len(x) and x != y:
        sys.exit(1)
PY
	then
		echo "ok - $what: every non-zero block copied"
	else
		echo "FAIL - $what: exit $st, non-zero blocks not copied"; fail=1
	fi
}

fscheck() { # name fs-image-of-copy source-tree
	if e2fsck -fn "$2" > "$2.fsck" 2>&1; then
		echo "ok - $1: e2fsck -fn clean"
	else
		echo "FAIL - $1: e2fsck -fn:"; head -20 "$2.fsck"; fail=1
	fi
	rm -rf "$2.dump" && mkdir "$2.dump"
	debugfs -R "rdump / $2.dump" "$2" 2>/dev/null
	rm -rf "$2.dump/lost+found"
	if diff -r "$3" "$2.dump" > "$2.diff" 2>&1; then
		echo "ok - $1: every file reads back identical"
	else
		echo "FAIL - $1: files differ:"; head -20 "$2.diff"; fail=1
	fi
}

# --- A: a bare ext4 filesystem with assorted files (extents, htree,
# inline data, a sparse file, a fragmented file written through a mount)
mkdir -p a/dir/sub a/many
head -c 3000000 /dev/urandom > a/big
seq 1 100000 > a/dir/seq
for i in $(seq 1 600); do echo "file $i" > "a/many/f$i"; done
truncate -s 20M a/sparse
printf 'middle' | dd of=a/sparse bs=1M seek=10 conv=notrunc status=none
ln -s big a/link
printf 'x' > a/dir/sub/tiny
mkfs -t ext4 -O metadata_csum -d a a.img 64M
flash a a.img && fscheck "ext4 image" a.out a

# --- B: GPT disk: ext4 (48 MiB in a 64 MiB partition, data after it:
# a hash tree, a shrunk filesystem), a boot loader in the gap before
# partition 1, an unrecognised partition with data, an empty partition
truncate -s 96M b.disk
sfdisk -q b.disk <<SF
label: gpt
start=2048, size=$((64*2048))
start=$((2048 + 64*2048)), size=$((8*2048))
start=$((2048 + 72*2048))
SF
mkdir -p b
head -c 1000000 /dev/urandom > b/blob
seq 1 30000 > b/text
mkfs -t ext4 -d b b.img 48M
dd if=b.img of=b.disk bs=1M seek=1 conv=notrunc status=none
head -c 200000 /dev/urandom > trailer            # after the filesystem
dd if=trailer of=b.disk bs=1M seek=55 conv=notrunc status=none
head -c 20000 /dev/urandom > loader              # like GRUB's core.img
dd if=loader of=b.disk bs=512 seek=40 conv=notrunc status=none
head -c 300000 /dev/urandom > unknown            # not a filesystem
dd if=unknown of=b.disk bs=1M seek=65 conv=notrunc status=none
if flash b b.disk; then
	dd if=b.out of=b.out.fs bs=1M skip=1 count=48 status=none
	fscheck "GPT + ext4" b.out.fs b
	cmp <(head -c 20000 loader) <(dd if=b.out bs=512 skip=40 count=40 status=none | head -c 20000) &&
		echo "ok - GPT gap (boot loader) copied" ||
		{ echo "FAIL - boot loader bytes in the GPT gap not copied"; fail=1; }
	cmp unknown <(dd if=b.out bs=1M skip=65 status=none | head -c 300000) &&
		echo "ok - unrecognised partition copied" ||
		{ echo "FAIL - unrecognised partition not copied"; fail=1; }
	cmp trailer <(dd if=b.out bs=1M skip=55 status=none | head -c 200000) &&
		echo "ok - data after the filesystem in its partition copied" ||
		{ echo "FAIL - data after the filesystem in its partition not copied"; fail=1; }
	pt() { sfdisk -d "$1" | sed -e '/^device:/d' -e 's/^[^ ]* :/P :/'; }
	pt b.disk > b.pt && pt b.out > b.out.pt && diff b.pt b.out.pt >/dev/null &&
		echo "ok - partition table" ||
		{ echo "FAIL - partition table differs"; fail=1; }
fi

# --- an ext4 that cannot be opened (an incompat feature libext2fs does
# not know; 4 KiB blocks, one group: no backup superblock to fall back
# on): reported (exit 1), and every non-zero block of it copied, not
# taken as understood free space
mkfs -t ext4 -b 4096 -O metadata_csum -d a u.img 64M
python3 - u.img <<'PY'
import struct, sys
def crc32c(data, crc=0xFFFFFFFF):   # ext4 stores ~crc32c(~0, sb[:1020])
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc
with open(sys.argv[1], 'r+b') as f:
    f.seek(1024)
    sb = bytearray(f.read(1024))
    v, = struct.unpack_from('<I', sb, 0x60)
    struct.pack_into('<I', sb, 0x60, v | 0x10000000)
    struct.pack_into('<I', sb, 0x3FC, crc32c(sb[:0x3FC]))
    f.seek(1024)
    f.write(sb)
PY
copy_nonzero "an ext4 that cannot be opened" u.img

# --- a map that fills up (a budget spent) leaves the filesystems walked
# after it unmapped without a word of their own: no filesystem is then
# taken as understood.  Partition 1: an ext4 with 60 000 hard links
# below a 3765-byte path (the names budget); partition 2: a FAT with a
# 200 KB file, walked after the map is full.  Its data was left out.
truncate -s 24M full1.img
mkfs -t ext4 -b 4096 full1.img
mkdir -p mnt
mount -o loop full1.img mnt
python3 "$SRCDIR/tests/deep_links.py" mnt 60000
umount mnt
truncate -s 8M full2.img
mkfs.vfat full2.img > /dev/null
head -c 200000 /dev/urandom > payload
mcopy -i full2.img payload ::/PAYLOAD.BIN
truncate -s 34M full.disk
printf 'start=2048, size=%d, type=83\nstart=%d, size=%d, type=c\n' \
	$((24 * 2048)) $((2048 + 24 * 2048)) $((8 * 2048)) | sfdisk -q full.disk
dd if=full1.img of=full.disk bs=1M seek=1 conv=notrunc status=none
dd if=full2.img of=full.disk bs=1M seek=25 conv=notrunc status=none
copy_nonzero "a full map (FAT walked after it)" full.disk

# --- a btrfs whose fs tree leaf fails its checksum: the walk warns and
# maps no file, so the filesystem is not taken as understood: its
# non-zero blocks (the files' data) are copied
if command -v mkfs.btrfs > /dev/null; then
	mkdir -p bt && head -c 3000000 /dev/urandom > bt/blob
	truncate -s 200M bt.img
	mkfs.btrfs -q -f -m single -d single --rootdir bt bt.img > /dev/null 2>&1
	leaf=$(btrfs inspect-internal dump-tree -t 5 bt.img 2>/dev/null |
		awk '/^leaf/ && !n++ {print $2}') || true
	btrfs inspect-internal dump-tree -t chunk bt.img > bt.chunks 2>/dev/null || true
	phys=$(python3 - "${leaf:-0}" bt.chunks <<'PY'
import re, sys
leaf, text = int(sys.argv[1]), open(sys.argv[2]).read()
for m in re.finditer(r"CHUNK_ITEM (\d+)\).*?length (\d+).*?stripe 0 devid \d+ offset (\d+)", text, re.S):
    lo, ln, ph = (int(x) for x in m.groups())
    if lo <= leaf < lo + ln:
        print(ph + leaf - lo)
PY
)
	if [ -n "$phys" ]; then
		printf 'garbage!' | dd of=bt.img bs=1 seek=$((phys + 200)) conv=notrunc 2> /dev/null
		copy_nonzero "a btrfs whose walk warned" bt.img
	else
		echo "FAIL - btrfs: no fs tree leaf found (test setup)"; fail=1
	fi
fi

# --- the bmap file checksum is what bmaptool computes: corrupting one
# range checksum must make bmaptool refuse
[ -f a.bmap ] && python3 - a.bmap <<'PY'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r'chksum="([0-9a-f])', t)
d = '0' if m.group(1) != '0' else '1'
open(sys.argv[1], 'w').write(t[:m.start(1)] + d + t[m.end(1):])
PY
if bmaptool -q copy --bmap a.bmap a.img a.out2 2>/dev/null; then
	echo "FAIL - bmaptool accepted a bmap with a damaged range checksum"; fail=1
else
	echo "ok - bmaptool rejects a damaged bmap"
fi
# --- C: the other filesystems, each checked by its own checker and read
# back through the kernel (xfs, btrfs), ntfs-3g or mtools
mkdir -p c/d
head -c 2500000 /dev/urandom > c/big
seq 1 50000 > c/d/seq
for i in $(seq 1 300); do echo "small $i" > "c/d/f$i"; done
readback() { # name mounted-dir
	if diff -r c "$2" > "$1.rdiff" 2>&1; then
		echo "ok - $1: every file reads back identical"
	else
		echo "FAIL - $1: files differ:"; head -10 "$1.rdiff"; fail=1
	fi
}
checker() { # name command...
	local name=$1; shift
	if "$@" > "$name.chk" 2>&1; then echo "ok - $name: $1 clean"
	else echo "FAIL - $name: $*:"; tail -15 "$name.chk"; fail=1; fi
}
mkdir -p mnt
truncate -s 320M x.img && mkfs.xfs -q -f x.img
mount -o loop x.img mnt && cp -a c/. mnt/ && umount mnt
if flash xfs x.img; then
	checker xfs xfs_repair -n -f xfs.out
	mount -o loop,ro,norecovery xfs.out mnt && { readback xfs mnt; umount mnt; }
fi
truncate -s 128M btrfs.img && mkfs.btrfs -q -f --rootdir c btrfs.img >/dev/null
if flash btrfs btrfs.img; then
	checker btrfs btrfs check --readonly btrfs.out
	mount -o loop,ro btrfs.out mnt && { readback btrfs mnt; umount mnt; }
fi
truncate -s 64M ntfs.img && mkntfs -q -F -Q ntfs.img >/dev/null 2>&1
ntfs-3g ntfs.img mnt && cp -r c/. mnt/ && umount mnt
if flash ntfs ntfs.img; then
	checker ntfs ntfsfix -n ntfs.out
	ntfs-3g -o ro ntfs.out mnt && { readback ntfs mnt; umount mnt; }
fi
truncate -s 64M vfat.img && mkfs.vfat -F 32 vfat.img >/dev/null
(cd c && MTOOLS_SKIP_CHECK=1 mcopy -s -i ../vfat.img ./* ::/)
if flash vfat vfat.img; then
	checker vfat fsck.vfat -n vfat.out
	rm -rf vfat.rb && mkdir vfat.rb
	(cd vfat.rb && MTOOLS_SKIP_CHECK=1 mcopy -s -i ../vfat.out ::/* .)
	readback vfat vfat.rb
fi

exit $fail
