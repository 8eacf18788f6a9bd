#!/bin/bash
# Ground truth for a GPT + LVM + ext4/xfs disk made in the libguestfs
# appliance (tests/images/mk-oracle-lvm.sh, committed as
# tests/images/oracle-gpt-lvm.img.xz with the trees' manifests).
#
# LV orvg/root (ext4, two segments with LV "gap" between them) and
# orvg/data (xfs) each hold a "small" tagged tree under /tree (ids from
# 1 and from 100001).  bmapgen's map must pass tagscan for both and
# record-via-NBD for the disk; moving root's objects by one sector must
# make both fail.
. "$(dirname "$0")/lib.sh"
IMG=$SRCDIR/tests/images

# sparse unpack: the scanner skips holes
xz -dc "$IMG/oracle-gpt-lvm.img.xz" | dd of="$T/disk.img" bs=64k conv=sparse status=none

run_bmapgen "$T/disk.map" "$T/disk.img"
tagscan_pass lvm-root --manifest "$IMG/oracle-gpt-lvm.root.json" --map "$T/disk.map" \
	--device /dev/orvg/root --root /tree "$T/disk.img"
tagscan_pass lvm-data --manifest "$IMG/oracle-gpt-lvm.data.json" --map "$T/disk.map" \
	--device /dev/orvg/data --root /tree "$T/disk.img"
nbdrecord_pass lvm --map "$T/disk.map" --max-objects 300 "$T/disk.img"

break_map "$T/disk.map" /dev/orvg/root "$T/broken.map"
tagscan_fails lvm-root-broken --manifest "$IMG/oracle-gpt-lvm.root.json" \
	--map "$T/broken.map" --device /dev/orvg/root --root /tree "$T/disk.img"
if [ -d "$T/rec-lvm" ]; then
	nbdrecord_replay_fails lvm "$T/broken.map" "$T/disk.img"
fi
oracle_done
