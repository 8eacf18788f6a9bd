#!/bin/bash
# Ground truth for an MBR disk with ext2 and ext3 in logical partitions,
# built at test time.
#
#   p1  primary, 2 MiB, empty (type 0x83, no filesystem)
#   p2  extended
#   p5  logical ext2, 1 KiB blocks: the "small" tagged tree (ids from 1)
#       written by mke2fs -d, then dd'ed into the partition
#   p6  logical ext3, 4 KiB blocks: the "default" tagged tree (ids from
#       100001) written by the kernel through a loop mount of the
#       partition's byte range, so the /frag files are really fragmented
#       (interleaved 4 KiB appends with fsync) and the big directory is
#       an htree built by the kernel
#
# bmapgen's map must pass tagscan for both trees and record-via-NBD for
# the disk; moving p6's objects by one sector must make both fail.
. "$(dirname "$0")/lib.sh"

export E2FSPROGS_FAKE_TIME=1700000000
truncate -s 112M "$T/disk.img"
sfdisk -q "$T/disk.img" <<EOF
label: dos
label-id: 0x0a7e1a5e
start=2048, size=4096, type=83
start=8192, size=219136, type=5
start=10240, size=40960, type=83
start=53248, size=174080, type=83
EOF
# where sfdisk put them (its own view, not bmapgen's)
read -r p5s p5n <<<"$(sfdisk -d "$T/disk.img" | awk '/img5 :/ {gsub(",", ""); print $4, $6}')"
read -r p6s p6n <<<"$(sfdisk -d "$T/disk.img" | awk '/img6 :/ {gsub(",", ""); print $4, $6}')"
echo "p5 at sector $p5s ($p5n sectors), p6 at sector $p6s ($p6n sectors)"

python3 "$ORACLE/tagtree.py" gen --profile small --seed 5 --no-fsync \
	--manifest "$T/ext2.json" "$T/tree2"
mke2fs -q -F -t ext2 -b 1024 -U 0a7e1a5e-0000-4000-8000-000000000005 \
	-E hash_seed=0a7e1a5e-0000-4000-8000-000000000006,root_owner=0:0 \
	-d "$T/tree2" "$T/p5.img" $((p5n / 2))k > /dev/null
dd if="$T/p5.img" of="$T/disk.img" bs=512 seek="$p5s" conv=notrunc,sparse status=none
rm -rf "$T/p5.img" "$T/tree2"

mke2fs -q -F -t ext3 -b 4096 -U 0a7e1a5e-0000-4000-8000-000000000007 \
	-E hash_seed=0a7e1a5e-0000-4000-8000-000000000008,root_owner=0:0,offset=$((p6s * 512)) \
	"$T/disk.img" $((p6n / 8)) > /dev/null
loop=$(losetup -f --show -o $((p6s * 512)) --sizelimit $((p6n * 512)) "$T/disk.img")
LOOPS+=("$loop")
mkdir "$T/mnt"
mount -t ext3 "$loop" "$T/mnt"
MOUNTS+=("$T/mnt")
python3 "$ORACLE/tagtree.py" gen --profile default --seed 6 --first-id 100001 \
	--manifest "$T/ext3.json" "$T/mnt"
umount "$T/mnt"
MOUNTS=()
losetup -d "$loop"
LOOPS=()

run_bmapgen "$T/disk.map" "$T/disk.img"
tagscan_pass mbr-ext2 --manifest "$T/ext2.json" --map "$T/disk.map" \
	--device /dev/sda5 "$T/disk.img"
tagscan_pass mbr-ext3 --manifest "$T/ext3.json" --map "$T/disk.map" \
	--device /dev/sda6 "$T/disk.img"
nbdrecord_pass mbr-ext --map "$T/disk.map" --max-objects 300 "$T/disk.img"

break_map "$T/disk.map" /dev/sda6 "$T/broken.map"
tagscan_fails mbr-ext3-broken --manifest "$T/ext3.json" --map "$T/broken.map" \
	--device /dev/sda6 "$T/disk.img"
nbdrecord_replay_fails mbr-ext "$T/broken.map" "$T/disk.img"
oracle_done
