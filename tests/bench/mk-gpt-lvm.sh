#!/bin/bash
# The benchmark's GPT+LVM layout, from two finished filesystem images:
#
#   tests/bench/mk-gpt-lvm.sh EXT4.IMG XFS.IMG OUT.IMG
#
# OUT.IMG is a sparse GPT disk whose partition 1 (1 MiB..) is the only PV
# of VG "bvg" (4 MiB extents) holding two linear LVs, "root" (EXT4.IMG's
# bytes) and "data" (XFS.IMG's bytes).  This host kernel has no
# device-mapper, so the layout is made in the libguestfs appliance
# (empty LVs, ~30 s) and the filesystems are copied in here, at the
# offsets LVM itself reports (pvs pe_start, lvs seg_pe_ranges): copying a
# 4 GiB filesystem through the appliance under TCG would take far longer.
set -euo pipefail
[ $# = 3 ] || { echo "usage: $0 EXT4.IMG XFS.IMG OUT.IMG" >&2; exit 2; }
EXT4=$1 XFS=$2 OUT=$3
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
MiB=$((1 << 20)) EXTENT=$((4 << 20))
lvsize() { # bytes rounded up to whole extents
	local s; s=$(stat -c %s "$1")
	echo $(((s + EXTENT - 1) / EXTENT * EXTENT))
}
rs=$(lvsize "$EXT4") ds=$(lvsize "$XFS")
# guestfish -a needs no absolute path, but the appliance's messages are
# clearer with one
OUT=$(realpath -m "$OUT")
rm -f "$OUT.tmp"
truncate -s $((rs + ds + 64 * MiB)) "$OUT.tmp"
log=$(guestfish --rw -a "$OUT.tmp" <<EOF
run
part-init /dev/sda gpt
part-add /dev/sda p 2048 -2048
debug sh "udevadm settle; pvcreate -y /dev/sda1 >/dev/null && vgcreate -s 4m bvg /dev/sda1 >/dev/null && lvcreate -y -Wn -n root -L ${rs}b bvg >/dev/null && lvcreate -y -Wn -n data -L ${ds}b bvg >/dev/null && echo pe_start \$(pvs --noheadings --units b --nosuffix -o pe_start /dev/sda1) && lvs --noheadings -o lv_name,seg_pe_ranges bvg && vgchange -an bvg >/dev/null"
EOF
)
echo "$log"
pe_start=$(echo "$log" | awk '$1 == "pe_start" { print $2 }')
copy() { # lv image
	local r first
	r=$(echo "$log" | awk -v lv="$1" '$1 == lv { print $2 }')
	# one linear segment: "/dev/sda1:FIRST-LAST"
	[[ $r =~ ^/dev/sda1:([0-9]+)-([0-9]+)$ ]] || { echo "unexpected segments for $1: '$r'" >&2; exit 1; }
	first=${BASH_REMATCH[1]}
	local off=$((MiB + pe_start + first * EXTENT))
	echo "$1: $2 at byte $off"
	dd if="$2" of="$OUT.tmp" bs=1M seek=$((off / MiB)) conv=sparse,notrunc status=none
}
[ -n "$pe_start" ] || { echo "no pe_start from the appliance" >&2; exit 1; }
copy root "$EXT4"
copy data "$XFS"
mv "$OUT.tmp" "$OUT"
