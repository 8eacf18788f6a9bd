#!/bin/bash
# Ground truth for a GPT + ext4 disk built at test time.
#
# The "default" tagged tree (tests/oracle/tagtree.py: every size class,
# awkward names, a 40-deep tree, 2500 entries in one directory, hard
# links, symlinks, sparse files) goes into ext4 with mke2fs -d, which is
# written into partition 2 of a GPT disk (partition 1 is a small empty
# ext4, so the tree's partition does not start at the first usable LBA).
# bmapgen's map must pass both oracles: tagscan (recall 100 %, nothing
# misattributed) and record-via-NBD (agreement >= 99.9 %, no file range
# the kernel did not need).  A copy of the map with partition 2's
# objects moved by one sector (an off-by-one partition offset) must fail
# both.
. "$(dirname "$0")/lib.sh"

export E2FSPROGS_FAKE_TIME=1700000000
python3 "$ORACLE/tagtree.py" gen --profile default --seed 1 --no-fsync \
	--manifest "$T/tree.json" "$T/tree"
mke2fs -q -F -t ext2 -b 4096 -U 0a7e1a5e-0000-4000-8000-000000000001 \
	-E hash_seed=0a7e1a5e-0000-4000-8000-000000000002,root_owner=0:0 \
	"$T/p1.img" 4M > /dev/null
mke2fs -q -F -t ext4 -b 4096 -U 0a7e1a5e-0000-4000-8000-000000000003 \
	-E hash_seed=0a7e1a5e-0000-4000-8000-000000000004,root_owner=0:0 \
	-d "$T/tree" "$T/p2.img" 64M > /dev/null
truncate -s 72M "$T/disk.img"
sfdisk -q "$T/disk.img" <<EOF
label: gpt
label-id: 0A7E1A5E-0000-4000-8000-0000000000AA
start=2048, size=8192, type=linux, uuid=0A7E1A5E-0000-4000-8000-0000000000A1, name=empty
start=10240, size=131072, type=linux, uuid=0A7E1A5E-0000-4000-8000-0000000000A2, name=tree
EOF
dd if="$T/p1.img" of="$T/disk.img" bs=512 seek=2048 conv=notrunc,sparse status=none
dd if="$T/p2.img" of="$T/disk.img" bs=512 seek=10240 conv=notrunc,sparse status=none
rm -f "$T/p1.img" "$T/p2.img"
rm -rf "$T/tree"

run_bmapgen "$T/disk.map" "$T/disk.img"
tagscan_pass gpt-ext4 --manifest "$T/tree.json" --map "$T/disk.map" \
	--device /dev/sda2 "$T/disk.img"
nbdrecord_pass gpt-ext4 --map "$T/disk.map" --max-objects 300 "$T/disk.img"

break_map "$T/disk.map" /dev/sda2 "$T/broken.map"
tagscan_fails gpt-ext4-broken --manifest "$T/tree.json" --map "$T/broken.map" \
	--device /dev/sda2 "$T/disk.img"
nbdrecord_replay_fails gpt-ext4 "$T/broken.map" "$T/disk.img"
oracle_done
