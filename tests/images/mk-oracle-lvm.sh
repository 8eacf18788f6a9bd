#!/bin/bash
# Build the ground-truth harness's multi-layer image in the libguestfs
# appliance (this host kernel has no device-mapper):
#
#   tests/images/mk-oracle-lvm.sh [OUTDIR]     (default: tests/images)
#
# oracle-gpt-lvm.img.xz: a 112 MiB GPT disk; partition 1 (1 MiB..) is an
# LVM PV of VG "orvg" (4 MiB extents) with
#   root  ext4, 40 MiB in two segments (4 MiB, then 36 MiB after "gap")
#   gap   4 MiB, no filesystem
#   data  xfs, 48 MiB (below mkfs.xfs's 300 MiB minimum: its fstests override)
# root holds the "small" tagged tree (seed 1, ids from 1) under /tree,
# data the "small" tree (seed 2, ids from 100001) under /tree; their
# manifests are oracle-gpt-lvm.root.json and oracle-gpt-lvm.data.json.
# The tree's /frag files are rewritten in the appliance by interleaved
# 4 KiB writes with fsync (from a tmpfs copy, so no stale tags are left
# in the filesystems) to fragment them.  Images are deterministic up to
# the GPT/LVM/filesystem UUIDs and timestamps; the oracle test
# (tests/oracle/test-oracle-lvm.sh) checks whatever they contain.
# shellcheck source=tests/images/appliance.sh
. "$(dirname "$0")/appliance.sh"

gen() { # name seed first-id
	mkdir -p "$T/$1"
	python3 "$SRCDIR/tests/oracle/tagtree.py" gen --manifest "$T/$1.json" \
		--profile small --seed "$2" --first-id "$3" --no-fsync "$T/$1/tree"
}
gen root 1 1
gen data 2 100001

fill() { # lv tree
	cat <<EOF
mount /dev/orvg/$1 /
copy-in $T/$2/tree /
debug sh "mkdir -p /tmp/stage && mount -t tmpfs none /tmp/stage && cp -a /sysroot/tree/frag /tmp/stage/ && rm -f /sysroot/tree/frag/* && sync && for k in \$(seq 0 7); do for f in /tmp/stage/frag/*; do dd if=\$f of=/sysroot/tree/frag/\${f##*/} bs=4096 skip=\$k seek=\$k count=1 conv=notrunc,fsync status=none; done; done && touch -d @1700000000 /sysroot/tree/frag/* && cmp /tmp/stage/frag/file-a /sysroot/tree/frag/file-a && cmp /tmp/stage/frag/file-b /sysroot/tree/frag/file-b && umount /tmp/stage && echo frag ok"
umount /
EOF
}

rm -f "$T/disk.img"
truncate -s 112M "$T/disk.img"
{
	echo "add $T/disk.img format:raw"
	echo run
	echo "part-init /dev/sda gpt"
	echo "part-add /dev/sda p 2048 -2048"
	echo 'debug sh "pvcreate -y /dev/sda1 && vgcreate -s 4m orvg /dev/sda1 && lvcreate -y -Wn -n root -L 4m orvg && lvcreate -y -Wn -n gap -L 4m orvg && lvextend -L 40m orvg/root && lvcreate -y -Wn -n data -L 48m orvg && mkfs.ext4 -q /dev/orvg/root && TEST_DIR=/tmp TEST_DEV=x QA_CHECK_FS=1 mkfs.xfs -q /dev/orvg/data 2>&1"'
	fill root root
	fill data data
	echo 'debug sh "lvs -o lv_name,seg_pe_ranges,segtype orvg; vgchange -an orvg; sync"'
} > "$T/build.fish"
guestfish -f "$T/build.fish" > "$T/build.log" 2>&1 || { cat "$T/build.log"; exit 1; }
cat "$T/build.log"
grep -c "frag ok" "$T/build.log" | grep -qx 2 || { echo "fragmenting failed"; exit 1; }

cp "$T/root.json" "$OUT/oracle-gpt-lvm.root.json"
cp "$T/data.json" "$OUT/oracle-gpt-lvm.data.json"
xz -9 -T1 -c "$T/disk.img" > "$OUT/oracle-gpt-lvm.img.xz"
ls -l "$OUT"/oracle-gpt-lvm.*
