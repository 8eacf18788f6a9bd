#!/bin/bash
# Build the md-RAID test images (tests/images/md-*.img.xz) in the
# libguestfs appliance (this host kernel has no md driver).
#
#   [MD_SETS="base extra"] tests/images/mk-md.sh [OUTDIR]
#                                       (default: tests/images)
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
#   md-r6         raid6, metadata 1.1, 16 KiB chunk, five GPT partitions
#   md-r10n3      raid10 near=3 on four partitions
#   md-r10o2      raid10 offset=2 on three partitions
#   md-lin        linear over partitions of 4, 6 and 5 MiB
#   md-r4         raid4, metadata 1.0, 32 KiB chunk, three partitions
#
# Every filesystem holds the "small" tagged tree (tests/oracle/tagtree.py,
# seed 1; manifest md-tree.json) under /tree.  (raid5 parity repeats a
# tag wherever the stripe's other data sector is zero: tests/test-md.sh
# blanks parity before scanning for tags.)  UUIDs are fixed; superblock
# timestamps vary.
# shellcheck source=tests/images/appliance.sh
. "$(dirname "$0")/appliance.sh"

small_tree md-tree.json

# Sets (MD_SETS, default all): "base" the images above, "extra" more
# layouts (see below).  name:MiB:label; in the appliance the disks are
# named by label (/dev/disk/guestfs/LABEL, LABELn for partitions): its
# own disk may sit among the sdX.
SETS=${MD_SETS:-base extra}
disks=
case " $SETS " in *" base "*)
	disks="r1-a:12:da r1-b:12:db r5lvm:40:dc r10f-a:10:dd r10f-b:10:de"
	disks="$disks r10f-c:10:df r0:24:dg r5deg:32:dh r090:24:di" ;;
esac
case " $SETS " in *" extra "*)
	disks="$disks r6:48:ea r10n3:40:eb r10o2:34:ec lin:20:ed r4:28:ee" ;;
esac
for d in $disks; do
	n=${d%%:*}
	rm -f "$T/md-$n.img"
	truncate -s "$(echo "$d" | cut -d: -f2)M" "$T/md-$n.img"
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
gdev() { # label: the disk's name for guestfish (sda, sdb, ... by order)
	local i=0 d
	for d in $disks; do
		if [ "${d##*:}" = "$1" ]; then
			printf '/dev/sd%s\n' "$(echo abcdefghijklmnopqrstuvwxyz | cut -c$((i + 1)))"
			return
		fi
		i=$((i + 1))
	done
}
part() { # [gpt] disk, then start:end sector pairs, then start:end sector pairs
	local t=mbr d i=0
	[ "$1" = gpt ] && { t=gpt; shift; }
	d=$1
	shift
	echo "part-init $d $t"
	for p; do
		i=$((i + 1))
		echo "part-add $d p ${p%%:*} ${p##*:}"
		if [ $t = mbr ]; then echo "part-set-mbr-id $d $i 0xfd"; fi
	done
}

base() {
	# raid1 1.0 with bitmap on partitions running to the end
	part "$(gdev da)" 2048:24575
	part "$(gdev db)" 2048:24575
	sh "$mdc /dev/md0 --metadata=1.0 --level=1 --raid-devices=2 --bitmap=internal --uuid=$U:00000001 --name=r1 $G/da1 $G/db1"
	mkext4 /dev/md0 1
	sh "mdadm --stop /dev/md0"
	# raid5 1.2 on three partitions, LVM on top
	part "$(gdev dc)" 2048:28671 28672:55295 55296:81919
	sh "$mdc /dev/md1 --metadata=1.2 --level=5 --chunk=64 --raid-devices=3 --uuid=$U:00000002 --name=r5lvm $G/dc1 $G/dc2 $G/dc3"
	sh "pvcreate -y /dev/md1 && vgcreate vgmd /dev/md1 && lvcreate -y -Wn -n lv -l 100%FREE vgmd"
	mkext4 /dev/vgmd/lv 2
	sh "vgchange -an vgmd; mdadm --stop /dev/md1"
	# raid10 far 2 on whole disks
	sh "$mdc /dev/md2 --metadata=1.2 --level=10 --layout=f2 --chunk=64 --raid-devices=3 --uuid=$U:00000003 --name=r10f $G/dd $G/de $G/df"
	mkext4 /dev/md2 3
	sh "mdadm --stop /dev/md2"
	# raid0 of unequal members
	part "$(gdev dg)" 2048:18431 18432:49151
	sh "$mdc /dev/md3 --metadata=1.2 --level=0 --chunk=32 --raid-devices=2 --uuid=$U:00000004 --name=r0 $G/dg1 $G/dg2"
	mkext4 /dev/md3 4
	sh "mdadm --detail /dev/md3; mdadm --stop /dev/md3"
	# raid5, then partition 2 zeroed
	part "$(gdev dh)" 2048:22527 22528:43007 43008:63487
	sh "$mdc /dev/md4 --metadata=1.2 --level=5 --chunk=64 --raid-devices=3 --uuid=$U:00000005 --name=r5deg $G/dh1 $G/dh2 $G/dh3"
	mkext4 /dev/md4 5
	sh "mdadm --stop /dev/md4; dd if=/dev/zero of=$G/dh2 bs=64k 2>/dev/null; sync; true"
	# raid1 0.90, partition 2 ending at the disk's end
	part "$(gdev di)" 2048:24575 24576:49151
	sh "$mdc /dev/md5 --metadata=0.90 --level=1 --raid-devices=2 --uuid=$U:00000006 $G/di1 $G/di2"
	mkext4 /dev/md5 6
	sh "mdadm --stop /dev/md5; sync"
}

# More layouts: raid6 (1.1 superblock, 16 KiB chunk, left-symmetric) on
# five GPT partitions; raid10 near=3 on four partitions; raid10 offset=2
# on three; linear over partitions of 4, 6 and 5 MiB; raid4 with a 1.0
# superblock.
extra() {
	part gpt "$(gdev ea)" 2048:18431 18432:34815 34816:51199 51200:67583 67584:83967
	sh "$mdc /dev/md6 --metadata=1.1 --level=6 --chunk=16 --raid-devices=5 --uuid=$U:00000007 --name=r6 $G/ea1 $G/ea2 $G/ea3 $G/ea4 $G/ea5"
	mkext4 /dev/md6 7
	sh "mdadm --stop /dev/md6"
	part "$(gdev eb)" 2048:20479 20480:38911 38912:57343 57344:75775
	sh "$mdc /dev/md7 --metadata=1.2 --level=10 --layout=n3 --chunk=32 --raid-devices=4 --uuid=$U:00000008 --name=r10n3 $G/eb1 $G/eb2 $G/eb3 $G/eb4"
	mkext4 /dev/md7 8
	sh "mdadm --stop /dev/md7"
	part "$(gdev ec)" 2048:22527 22528:43007 43008:63487
	sh "$mdc /dev/md8 --metadata=1.2 --level=10 --layout=o2 --chunk=64 --raid-devices=3 --uuid=$U:00000009 --name=r10o2 $G/ec1 $G/ec2 $G/ec3"
	mkext4 /dev/md8 9
	sh "mdadm --stop /dev/md8"
	part "$(gdev ed)" 2048:10239 10240:22527 22528:32767
	sh "$mdc /dev/md9 --metadata=1.2 --level=linear --raid-devices=3 --uuid=$U:0000000a --name=lin $G/ed1 $G/ed2 $G/ed3"
	mkext4 /dev/md9 a
	sh "mdadm --detail /dev/md9; mdadm --stop /dev/md9"
	part "$(gdev ee)" 2048:18431 18432:34815 34816:51199
	sh "$mdc /dev/md10 --metadata=1.0 --level=4 --chunk=32 --raid-devices=3 --uuid=$U:0000000b --name=r4 $G/ee1 $G/ee2 $G/ee3"
	mkext4 /dev/md10 b
	sh "mdadm --stop /dev/md10; sync"
}

{
	for d in $disks; do
		echo "add $T/md-${d%%:*}.img format:raw label:${d##*:}"
	done
	echo run
	case " $SETS " in *" base "*) base ;; esac
	case " $SETS " in *" extra "*) extra ;; esac
} > "$T/md.fish"
guestfish -f "$T/md.fish" > "$T/md.log" 2>&1 || { cat "$T/md.log"; exit 1; }
cat "$T/md.log"

for d in $disks; do
	xz -9 -c "$T/md-${d%%:*}.img" > "$OUT/md-${d%%:*}.img.xz"
done
ls -l "$OUT"/md-*
