#!/bin/bash
# Both ground-truth oracles on three disks (tests/oracle/README.md):
#
#   gpt.img  built here: GPT, p2 = ext4 (mke2fs -d) with the default tree
#   mbr.img  built here: MBR, logical p5 = ext2 (1 KiB blocks, small tree),
#            logical p6 = ext3 (default tree written by the kernel through
#            a loop mount: really fragmented files)
#   lvm.img  committed (tests/images/mk-oracle-lvm.sh, made in the
#            libguestfs appliance): GPT + LVM, LV root = ext4 in two
#            segments, LV data = xfs, each with the small tree
#
# Each disk alone: bmapgen exits 0 without warnings and tagscan finds
# every tag mapped to its file (recall 100 %, nothing misattributed).
# The three disks as one VM: tagscan again (disk numbering), then one
# record-via-NBD run (one appliance launch for all three) whose
# agreement must reach 99.9 % on every disk with no file range missing.
# Then a deliberately broken map per disk (the tree partition's or LV's
# objects moved by one sector, i.e. an off-by-one partition offset) must
# fail tagscan and, replayed against the same NBD recording, nbdrecord.
. "$(dirname "$0")/lib.sh"

t0=$SECONDS
build_gpt_ext4 "$T/gpt"
build_mbr_ext "$T/mbr"
unpack_lvm "$T/lvm"
echo "# images built in $((SECONDS - t0)) s"

# --- each disk alone --------------------------------------------------
run_bmapgen "$T/gpt.map" "$T/gpt.img"
tagscan_pass gpt-ext4 --manifest "$T/gpt.json" --map "$T/gpt.map" \
	--device /dev/sda2 "$T/gpt.img"
run_bmapgen "$T/mbr.map" "$T/mbr.img"
tagscan_pass mbr-ext2 --manifest "$T/mbr-ext2.json" --map "$T/mbr.map" \
	--device /dev/sda5 "$T/mbr.img"
tagscan_pass mbr-ext3 --manifest "$T/mbr-ext3.json" --map "$T/mbr.map" \
	--device /dev/sda6 "$T/mbr.img"
run_bmapgen "$T/lvm.map" "$T/lvm.img"
tagscan_pass lvm-root --manifest "$T/lvm-root.json" --map "$T/lvm.map" \
	--device /dev/orvg/root --root /tree "$T/lvm.img"
tagscan_pass lvm-data --manifest "$T/lvm-data.json" --map "$T/lvm.map" \
	--device /dev/orvg/data --root /tree "$T/lvm.img"

# --- all three as disks 1-3 of one VM ----------------------------------
disks=("$T/gpt.img" "$T/mbr.img" "$T/lvm.img")
run_bmapgen "$T/all.map" "${disks[@]}"
tagscan_pass all-gpt-ext4 --manifest "$T/gpt.json" --map "$T/all.map" \
	--device /dev/sda2 "${disks[@]}"
tagscan_pass all-mbr-ext3 --manifest "$T/mbr-ext3.json" --map "$T/all.map" \
	--device /dev/sdb6 "${disks[@]}"
tagscan_pass all-lvm-root --manifest "$T/lvm-root.json" --map "$T/all.map" \
	--device /dev/orvg/root --root /tree "${disks[@]}"
nbdrecord_pass all --map "$T/all.map" --max-objects 450 "${disks[@]}"

# --- broken maps must fail ---------------------------------------------
break_map "$T/gpt.map" /dev/sda2 "$T/gpt-broken.map"
tagscan_fails gpt-ext4-broken --manifest "$T/gpt.json" --map "$T/gpt-broken.map" \
	--device /dev/sda2 "$T/gpt.img"
break_map "$T/mbr.map" /dev/sda6 "$T/mbr-broken.map"
tagscan_fails mbr-ext3-broken --manifest "$T/mbr-ext3.json" --map "$T/mbr-broken.map" \
	--device /dev/sda6 "$T/mbr.img"
break_map "$T/lvm.map" /dev/orvg/root "$T/lvm-broken.map"
tagscan_fails lvm-root-broken --manifest "$T/lvm-root.json" --map "$T/lvm-broken.map" \
	--device /dev/orvg/root --root /tree "$T/lvm.img"
if [ -f "$T/rec-all/objects.json" ]; then
	for dev in /dev/sda2 /dev/sdb6 /dev/orvg/root; do
		b=$T/all-broken-$(basename "$dev").map
		break_map "$T/all.map" "$dev" "$b"
		nbdrecord_replay_fails all "$b" "${disks[@]}"
	done
fi
echo "# $((SECONDS - t0)) s in all"
oracle_done
