#!/bin/bash
# Build the md-RAID test images (tests/images/md-*.img.xz) in the
# libguestfs appliance (this host kernel has no md driver).
#
#   tests/images/mk-md.sh [OUTDIR]      (default: tests/images)
#
#   md-r1-{a,b}   raid1, metadata 1.0, internal bitmap, on partition 1 of
#                 two disks (the partition runs to the disk's end, so the
#                 disk shows the superblock at the same place); ext4
#   md-r5lvm      raid5, metadata 1.2, 64 KiB chunk, left-symmetric, on
#                 three partitions of one disk; LVM (vgmd/lv) on top; ext4
#   md-r10f-{a,b,c} raid10 far layout (f2), 1.2, 64 KiB chunk, whole disks
#   md-r0         raid0, 1.2, 32 KiB chunk, members of 8 and 15 MiB
#                 (two zones) on two partitions of one disk; ext4
#   md-r5deg      raid5 like md-r5lvm but ext4 directly, then member 2
#                 (partition 2) zeroed: degraded
#   md-r090       raid1, metadata 0.90, on two partitions of one disk, the
#                 second ending at the disk's end; ext4
#
# Every filesystem holds the "small" tagged tree (tests/oracle/tagtree.py,
# seed 1; manifest md-tree.json) under /tree.  (raid5 parity repeats a
# tag wherever the stripe's other data sector is zero: tests/test-md.sh
# blanks parity before scanning for tags.)  UUIDs are fixed; superblock
# timestamps vary.
set -euo pipefail
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$SRCDIR/tests/images}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

python3 "$SRCDIR/tests/oracle/tagtree.py" gen --manifest "$T/tree.json" \
	--profile small --seed 1 "$T/tree" >/dev/null
cp "$T/tree.json" "$OUT/md-tree.json"

disks="r1-a:12 r1-b:12 r5lvm:40 r10f-a:10 r10f-b:10 r10f-c:10 r0:24 r5deg:32 r090:24"
for d in $disks; do
	rm -f "$T/md-${d%%:*}.img"
	truncate -s "${d##*:}M" "$T/md-${d%%:*}.img"
done

U=11111111:22222222:33333333 # array UUID prefix
G=/dev/disk/guestfs
mdc="udevadm settle; mdadm --create --run --assume-clean --homehost=bmt"
sh() { printf 'debug sh "%s 2>&1"\n' "$*"; }
mkext4() { # device, n: ext4 with fixed uuid, then the tree under /tree
	sh "mkfs.ext4 -q -F -U 5ad0c2a0-0000-4000-8000-00000000000$2 -E hash_seed=5ad0c2a0-0000-4000-8000-00000000010$2,nodiscard $1"
	echo "mount $1 /"
	echo "copy-in $T/tree /"
	echo "umount /"
}
part() { # disk, then start:end sector pairs
	local d=$1 i=0
	shift
	echo "part-init $d mbr"
	for p; do
		i=$((i + 1))
		echo "part-add $d p ${p%%:*} ${p##*:}"
		echo "part-set-mbr-id $d $i 0xfd"
	done
}

{
	# In the appliance the disks are named by label (/dev/disk/guestfs/
	# LABEL, LABELn for partitions; the appliance's own disk may sit among
	# the sdX): da, db, ... in this order.
	l=a
	for d in $disks; do
		echo "add $T/md-${d%%:*}.img format:raw label:d$l"
		l=$(echo $l | tr a-h b-i)
	done
	echo run
	# sda, sdb: raid1 1.0 with bitmap on partitions running to the end
	part /dev/sda 2048:24575
	part /dev/sdb 2048:24575
	sh "$mdc /dev/md0 --metadata=1.0 --level=1 --raid-devices=2 --bitmap=internal --uuid=$U:00000001 --name=r1 $G/da1 $G/db1"
	mkext4 /dev/md0 1
	sh "mdadm --stop /dev/md0"
	# sdc: raid5 1.2 on three partitions, LVM on top
	part /dev/sdc 2048:28671 28672:55295 55296:81919
	sh "$mdc /dev/md1 --metadata=1.2 --level=5 --chunk=64 --raid-devices=3 --uuid=$U:00000002 --name=r5lvm $G/dc1 $G/dc2 $G/dc3"
	sh "pvcreate -y /dev/md1 && vgcreate vgmd /dev/md1 && lvcreate -y -Wn -n lv -l 100%FREE vgmd"
	mkext4 /dev/vgmd/lv 2
	sh "vgchange -an vgmd; mdadm --stop /dev/md1"
	# sdd, sde, sdf: raid10 far 2 on whole disks
	sh "$mdc /dev/md2 --metadata=1.2 --level=10 --layout=f2 --chunk=64 --raid-devices=3 --uuid=$U:00000003 --name=r10f $G/dd $G/de $G/df"
	mkext4 /dev/md2 3
	sh "mdadm --stop /dev/md2"
	# sdg: raid0 of unequal members
	part /dev/sdg 2048:18431 18432:49151
	sh "$mdc /dev/md3 --metadata=1.2 --level=0 --chunk=32 --raid-devices=2 --uuid=$U:00000004 --name=r0 $G/dg1 $G/dg2"
	mkext4 /dev/md3 4
	sh "mdadm --detail /dev/md3; mdadm --stop /dev/md3"
	# sdh: raid5, then partition 2 zeroed
	part /dev/sdh 2048:22527 22528:43007 43008:63487
	sh "$mdc /dev/md4 --metadata=1.2 --level=5 --chunk=64 --raid-devices=3 --uuid=$U:00000005 --name=r5deg $G/dh1 $G/dh2 $G/dh3"
	mkext4 /dev/md4 5
	sh "mdadm --stop /dev/md4; dd if=/dev/zero of=$G/dh2 bs=64k 2>/dev/null; sync; true"
	# sdi: raid1 0.90, partition 2 ending at the disk's end
	part /dev/sdi 2048:24575 24576:49151
	sh "$mdc /dev/md5 --metadata=0.90 --level=1 --raid-devices=2 --uuid=$U:00000006 $G/di1 $G/di2"
	mkext4 /dev/md5 6
	sh "mdadm --stop /dev/md5; sync"
} > "$T/md.fish"
guestfish -f "$T/md.fish" > "$T/md.log" 2>&1 || { cat "$T/md.log"; exit 1; }
cat "$T/md.log"

for d in $disks; do
	xz -9 -c "$T/md-${d%%:*}.img" > "$OUT/md-${d%%:*}.img.xz"
done
ls -l "$OUT"/md-*
