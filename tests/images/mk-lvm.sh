#!/bin/bash
# Build the LVM2 test images (tests/images/lvm-a-*.img.xz, lvm-b-*.img.xz)
# in the libguestfs appliance (this host kernel has no device-mapper).
#
#   [LVM_SETS="a b"] tests/images/mk-lvm.sh [OUTDIR]   (default: tests/images)
#
# Set A, 3 disks: a linear LV in three segments across two PVs, striped
# LVs of 2 and 3 stripes with non-default stripe sizes, raid1, raid5
# (32 KiB stripes), a thin pool with two thin LVs and a thin snapshot of
# the first, and an old-style (COW) snapshot of the linear LV.  After
# the snapshots, the first MiB of /tree/big/one-mib-plus is overwritten
# with zeroes in both origins, so snapshot and origin differ (COW
# exceptions, thin blocks no longer shared).
# Set B, 5 disks: raid0, raid4, raid5_ra, raid6 (zr), raid6_nc, raid10,
# and a mirror with a disk log.
# Set C, 2 disks: a cached LV (cache pool, writethrough) and a writecache
# LV (its filesystem, less than the high watermark, stays in the cache
# volume: nothing is written back before the VG is deactivated).
#
# Every LV holds an ext4 filesystem with the "small" tagged tree
# (tests/oracle/tagtree.py, seed 1; manifest lvm-tree.json) copied under
# /tree.  The LVM reports saved next to the images
# (lvm-X.pvsegs.json: every PV segment with its LV; lvm-X.lvs.json: LVs
# with parents and segment types) are the ground truth for the `l`
# objects (tests/lvm_check.py); lvm-X.disks.txt names the kernel devices
# of disks 1, 2, ... (the appliance's sdX order is not the drive order, so
# drives are labelled and addressed as /dev/disk/guestfs/da, db, ...).
# Images are deterministic up to LVM's
# uuids and timestamps.
# shellcheck source=tests/images/appliance.sh
. "$(dirname "$0")/appliance.sh"

small_tree lvm-tree.json
# GNU sparse archive: the tree's sparse file stays sparse in the LVs.
tar -C "$T" --sparse --numeric-owner -cf "$T/tree.tar" tree

fill() { # LV [mkfs options]: ext4 with the tree under /tree
	cat <<EOF
mkfs ext4 /dev/vgt/$1 ${2:-}
mount /dev/vgt/$1 /
tar-in $T/tree.tar /
umount /
EOF
}

report() { # set name: LVM's own reports, piped out of the appliance
	cat <<EOF
debug sh "lvs -a --reportformat json -o lv_name,lv_parent,segtype,seg_pe_ranges,lv_attr,origin,pool_lv vgt 2>/dev/null" | cat > $OUT/lvm-$1.lvs.json
debug sh "pvs --segments --reportformat json --units b -o pv_name,pe_start,pvseg_start,pvseg_size,lv_name 2>/dev/null" | cat > $OUT/lvm-$1.pvsegs.json
debug sh "vgs --noheadings --units b -o vg_extent_size vgt 2>/dev/null" | cat > $OUT/lvm-$1.extent.txt
debug sh "for l in /dev/disk/guestfs/d[a-e]; do readlink -f \$l; done | paste -sd," | cat > $OUT/lvm-$1.disks.txt
EOF
}

waitsync="while lvs --noheadings -o sync_percent vgt | grep -v 100.00 | grep -q [0-9]; do sleep 1; done"

SETS=${LVM_SETS:-a b c d}

# --- set A --------------------------------------------------------
if [[ " $SETS " == *" a "* ]]; then
for i in 1 2 3; do rm -f "$T/a$i.img"; truncate -s 48M "$T/a$i.img"; done
{
	for i in 1 2 3; do echo "add $T/a$i.img format:raw label:d$(printf "\\$((140 + i))")"; done
	echo run
	echo 'debug sh "udevadm settle; pvcreate -y /dev/disk/guestfs/da /dev/disk/guestfs/db /dev/disk/guestfs/dc && vgcreate -s 1m vgt /dev/disk/guestfs/da /dev/disk/guestfs/db /dev/disk/guestfs/dc && lvcreate -y -Wn -n lin -L 2m vgt /dev/disk/guestfs/da && lvcreate -y -Wn -n gap -L 1m vgt /dev/disk/guestfs/da && lvextend -L 4m vgt/lin /dev/disk/guestfs/db && lvextend -L 5m vgt/lin /dev/disk/guestfs/da && lvcreate -y -Wn -n s2 -i 2 -I 16k -L 4m vgt /dev/disk/guestfs/da /dev/disk/guestfs/db && lvcreate -y -Wn -n s3 -i 3 -I 8k -L 6m vgt && lvcreate -y -Wn --type raid1 -m 1 -n r1 -L 4m vgt /dev/disk/guestfs/da /dev/disk/guestfs/db && lvcreate -y -Wn --type raid5 -i 2 -I 32k -n r5 -L 4m vgt && lvcreate -y -Wn -L 20m --chunksize 64k -T vgt/pool /dev/disk/guestfs/dc && lvcreate -y -V 8m -T vgt/pool -n th1 && lvcreate -y -V 8m -T vgt/pool -n th2 2>&1"'
	echo "debug sh \"$waitsync\""
	# lin: 4 KiB blocks = the COW chunk, so no chunk is left half
	# overwritten in the origin (stale tags of the deleted file)
	fill lin blocksize:4096
	for lv in s2 s3 r1 r5 th1 th2; do fill $lv; done
	echo 'debug sh "lvcreate -y -kn -s -n th1snap vgt/th1 && lvcreate -y -s -c 4k -n oldsnap -L 6m vgt/lin /dev/disk/guestfs/dc 2>&1"'
	# Make origins and snapshots differ: the origins overwrite
	# /tree/big/one-mib-plus in place with zeroes (COW exceptions; thin
	# blocks no longer shared), the snapshots keep its tagged data.
	for lv in lin th1; do
		echo "mount /dev/vgt/$lv /"
		echo 'debug sh "dd if=/dev/zero of=/sysroot/tree/big/one-mib-plus bs=64k count=16 conv=notrunc,fsync 2>&1; sync"'
		echo "umount /"
	done
	report a
	echo 'debug sh "vgchange -an vgt; sync"'
} > "$T/a.fish"
guestfish -f "$T/a.fish" > "$T/a.log" 2>&1 || { cat "$T/a.log"; exit 1; }
! grep -i "error" "$T/a.log" || exit 1
fi

# --- set B --------------------------------------------------------
if [[ " $SETS " == *" b "* ]]; then
for i in 1 2 3 4 5; do rm -f "$T/b$i.img"; truncate -s 24M "$T/b$i.img"; done
{
	for i in 1 2 3 4 5; do echo "add $T/b$i.img format:raw label:d$(printf "\\$((140 + i))")"; done
	echo run
	echo 'debug sh "udevadm settle; pvcreate -y /dev/disk/guestfs/da /dev/disk/guestfs/db /dev/disk/guestfs/dc /dev/disk/guestfs/dd /dev/disk/guestfs/de && vgcreate -s 1m vgt /dev/disk/guestfs/da /dev/disk/guestfs/db /dev/disk/guestfs/dc /dev/disk/guestfs/dd /dev/disk/guestfs/de && lvcreate -y -Wn --type raid0 -i 2 -I 16k -n r0 -L 4m vgt && lvcreate -y -Wn --type raid4 -i 2 -I 16k -n r4 -L 4m vgt && lvcreate -y -Wn --type raid5_ra -i 2 -I 16k -n r5ra -L 4m vgt && lvcreate -y -Wn --type raid6 -i 3 -I 16k -n r6 -L 6m vgt && lvcreate -y -Wn --type raid6_nc -i 3 -I 16k -n r6nc -L 6m vgt && lvcreate -y -Wn --type raid10 -i 2 -m 1 -I 16k -n r10 -L 4m vgt && lvcreate -y -Wn --type mirror -m 1 --mirrorlog disk -n mir -L 4m vgt 2>&1"'
	echo "debug sh \"$waitsync\""
	for lv in r0 r4 r5ra r6 r6nc r10 mir; do fill $lv; done
	report b
	echo 'debug sh "vgchange -an vgt; sync"'
} > "$T/b.fish"
guestfish -f "$T/b.fish" > "$T/b.log" 2>&1 || { cat "$T/b.log"; exit 1; }
! grep -i "error" "$T/b.log" || exit 1
fi

# --- set C --------------------------------------------------------
if [[ " $SETS " == *" c "* ]]; then
for i in 1 2; do rm -f "$T/c$i.img"; truncate -s 32M "$T/c$i.img"; done
{
	for i in 1 2; do echo "add $T/c$i.img format:raw label:d$(printf "\\$((140 + i))")"; done
	echo run
	echo 'debug sh "udevadm settle; pvcreate -y /dev/disk/guestfs/da /dev/disk/guestfs/db && vgcreate -s 1m vgt /dev/disk/guestfs/da /dev/disk/guestfs/db && lvcreate -y -Wn -n cached -L 6m vgt /dev/disk/guestfs/da && lvcreate -y --type cache-pool -n cpool -L 4m vgt /dev/disk/guestfs/db && lvconvert -y --type cache --cachepool vgt/cpool --cachemode writethrough vgt/cached && lvcreate -y -Wn -n wc -L 6m vgt /dev/disk/guestfs/da && lvcreate -y -an -Zn -Wn -n fast -L 4m vgt /dev/disk/guestfs/db && lvconvert -y --type writecache --cachevol fast vgt/wc 2>&1"'
	for lv in cached wc; do fill $lv; done
	report c
	echo 'debug sh "vgchange -an vgt; sync"'
} > "$T/c.fish"
guestfish -f "$T/c.fish" > "$T/c.log" 2>&1 || { cat "$T/c.log"; exit 1; }
! grep -i "error" "$T/c.log" || exit 1
fi

# --- set D --------------------------------------------------------
# Writeback caches with dirty blocks (dm-cache: a cache pool with
# metadata format 2 and one with format 1, and a cache volume), made so
# that no stale copy holds a tag: the files are first written with their
# tags replaced by 0xaa (same sizes and holes), the LVs read ten times
# (the cache policy promotes hot blocks), and the tagged contents then
# written over the files in place (dd conv=notrunc,sparse from a scratch
# disk that is not kept), the LVs read five times more, and the VG
# deactivated at once: writes to cached blocks leave them dirty
# (dm-cache cleans them only when idle), the origin's copy untagged;
# blocks promoted after the writes are clean copies.  The dirty counts dm-cache reported just
# before deactivation go to lvm-d.dirty.txt; the manifest of this tree
# to lvm-d.tree.json.
if [[ " $SETS " == *" d "* ]]; then
for i in 1 2 3; do rm -f "$T/d$i.img"; truncate -s 48M "$T/d$i.img"; done
cp "$T/tree.json" "$OUT/lvm-d.tree.json"
rm -rf "$T/untagged"
mkdir "$T/untagged"
cp -a "$T/tree" "$T/untagged/"
python3 - "$T/untagged" <<'PYEOF'
import os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        if os.path.islink(p):
            continue
        data = open(p, "rb").read()
        with open(p, "r+b") as o:
            for off in range(0, len(data), 512):
                if data[off:off + 512].strip(b"\0"):
                    o.seek(off)
                    o.write(b"\xaa" * len(data[off:off + 512]))
PYEOF
tar -C "$T/untagged" --sparse --numeric-owner -cf "$T/untagged.tar" tree
# (debug sh drops inner quotes: the in-place copy is a script on the
# scratch disk)
cat > "$T/overwrite.sh" <<'SHEOF'
set -e
cd /tmp/s
for lv in wb wb1 cv; do
	mkdir -p /tmp/m-$lv
	mount /dev/vgt/$lv /tmp/m-$lv
	find tree -type f -print0 |
		xargs -0 -I{} dd if={} of=/tmp/m-$lv/{} bs=512 conv=notrunc,sparse status=none
done
sync
for lv in wb wb1 cv; do umount /tmp/m-$lv; done
# reading on promotes more blocks, clean ones (and keeps the caches busy)
for i in 1 2 3 4 5; do
	for lv in wb wb1 cv; do dd if=/dev/vgt/$lv of=/dev/null bs=1M 2>/dev/null; done
done
dmsetup status
vgchange -an vgt
SHEOF
tar -C "$T" --sparse --numeric-owner -cf "$T/scratch.tar" tree overwrite.sh
{
	for i in 1 2; do echo "add $T/d$i.img format:raw label:d$(printf "\\$((140 + i))")"; done
	echo "add $T/d3.img format:raw label:scratch"
	echo run
	echo 'debug sh "udevadm settle; pvcreate -y /dev/disk/guestfs/da /dev/disk/guestfs/db && vgcreate -s 1m vgt /dev/disk/guestfs/da /dev/disk/guestfs/db && lvcreate -y -Wn -n wb -L 8m vgt /dev/disk/guestfs/da && lvcreate -y --type cache-pool -n wpool -L 4m vgt /dev/disk/guestfs/db && lvconvert -y --type cache --cachepool vgt/wpool --cachemode writeback vgt/wb && lvcreate -y -Wn -n wb1 -L 8m vgt /dev/disk/guestfs/da && lvcreate -y --type cache-pool --cachemetadataformat 1 -n wpool1 -L 4m vgt /dev/disk/guestfs/db && lvconvert -y --type cache --cachepool vgt/wpool1 --cachemode writeback vgt/wb1 && lvcreate -y -Wn -n cv -L 8m vgt /dev/disk/guestfs/da && lvcreate -y -an -Zn -Wn -n cvfast -L 6m vgt /dev/disk/guestfs/db && lvconvert -y --type cache --cachevol cvfast --cachemode writeback vgt/cv 2>&1"'
	echo "mkfs ext4 /dev/disk/guestfs/scratch"
	echo "mount /dev/disk/guestfs/scratch /"
	echo "tar-in $T/scratch.tar /"
	echo "umount /"
	for lv in wb wb1 cv; do
		echo "mkfs ext4 /dev/vgt/$lv"
		echo "mount /dev/vgt/$lv /"
		echo "tar-in $T/untagged.tar /"
		echo "umount /"
	done
	echo 'debug sh "for i in 1 2 3 4 5 6 7 8 9 10; do dd if=/dev/vgt/wb of=/dev/null bs=1M; dd if=/dev/vgt/wb1 of=/dev/null bs=1M; dd if=/dev/vgt/cv of=/dev/null bs=1M; done 2>/dev/null"'
	report d
	# one command, so that the caches have no idle time to write their
	# dirty blocks back before the VG is deactivated
	echo "debug sh \"mkdir -p /tmp/s && mount -o ro /dev/disk/guestfs/scratch /tmp/s && sh /tmp/s/overwrite.sh 2>&1 && umount /tmp/s && sync\" | cat > $T/d.status"
} > "$T/d.fish"
guestfish -f "$T/d.fish" > "$T/d.log" 2>&1 || { cat "$T/d.log"; exit 1; }
! grep -i "error" "$T/d.log" || exit 1
# dmsetup status of a cache: field 15 is its count of dirty blocks
awk '$4 == "cache" {print $1, $15}' "$T/d.status" > "$OUT/lvm-d.dirty.txt"
rm -f "$T/d3.img"
fi

for f in "$T"/[abcd]?.img; do
	xz -9 -T1 -c "$f" > "$OUT/lvm-$(basename "$f").xz"
done
ls -l "$OUT"/lvm-*
