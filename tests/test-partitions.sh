#!/bin/bash
# Partition tables against the Linux kernel's own reading of them (this
# host's kernel has no DOS or GPT partition support, so the libguestfs
# appliance's, under TCG: one launch, ~30 s): every partition the kernel
# makes (/sys/block/sdX/sdXN/start and size, in 512-byte sectors) must
# be bmapgen's /dev/sdaN at the same place, and bmapgen must make no
# other.  The tables are the odd but valid ones: an EBR chain going back
# on disk (sfdisk writes it when a logical partition fills a gap), two
# extended partitions, a data partition in an EBR's third slot, a type-0
# entry with sectors, and a GPT left behind under a newer DOS table or
# under an 0xEE entry that does not start at LBA 1 (the kernel ignores
# both).  An extended partition is compared by its start only: the
# kernel's device for it is 2 sectors.  Skipped without guestfish.
set -u
for t in guestfish sfdisk sgdisk python3; do
	command -v $t > /dev/null || { echo "SKIP - no $t"; exit 77; }
done
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
IMAGES=()

# mbr IMG SECTOR [SLOT TYPE START COUNT]...: write entries and 55 AA
mbr() { python3 "$SRCDIR/tests/mbr_write.py" "$@"; }

# compare NAME IMG DRIVE: the kernel's partitions of DRIVE (sda, sdb...
# in kernel.txt) against bmapgen's of IMG
compare() {
	local name=$1 img=$2 drive=$3 bad=0 n=0 dev start size
	"$BMAPGEN" "$img" > "$name.map" 2> "$name.err"
	while read -r dev start size; do
		n=$((n + 1))
		local num=${dev#"$drive"} got want
		# bmapgen's pieces of the partition, joined
		got=$(awk -v d=/dev/sda"$num" '$4 == "p" && $5 == d {
			s = strtonum("0x" $2); e = strtonum("0x" $3)
			if (!n++ || s < lo) lo = s; if (e > hi) hi = e }
			END { if (n) printf "%x %x", lo, hi }' "$name.map")
		want=$(printf '%x %x' $((start * 512)) $(((start + size) * 512)))
		if [ "$size" -le 2 ]; then # an extended partition
			[ -n "$got" ] && [ "${got%% *}" = "${want%% *}" ] && continue
		else
			[ "$got" = "$want" ] && continue
		fi
		echo "  /dev/sda$num: kernel $want, bmapgen '$got'"
		bad=1
	done < <(awk -v d="$drive" '$1 ~ "^" d "[0-9]+$"' kernel.txt)
	local ours
	ours=$(awk '$4 == "p" {print $5}' "$name.map" | sort -u | wc -l)
	if [ "$ours" != "$n" ]; then
		echo "  bmapgen has $ours partitions, the kernel $n"
		bad=1
	fi
	if [ $bad = 0 ]; then
		echo "ok - $name: $n partitions, as the kernel's"
	else
		echo "FAIL - $name"
		cat "$name.map" "$name.err"
		fail=1
	fi
}

# EBR chain 2048 -> 77952 -> 37952: the third logical lies before the
# second on disk
truncate -s 64M back.img
sfdisk -q back.img <<'SF'
label: dos
start=2048, size=120000, type=5
start=4096, size=2000, type=83
start=80000, size=20000, type=83
start=40000, size=20000, type=83
SF
IMAGES+=(ebr-backwards back.img)

# Two extended partitions, one logical each (the kernel walks both and
# numbers on); in the second, the logical sits in the EBR's third slot
# and the link is empty.
truncate -s 32M two.img
mbr two.img 0 0 0x05 2048 20000 1 0x0f 30000 20000 2 0x83 60000 1000
mbr two.img 2048 0 0x83 2048 4000
mbr two.img 30000 2 0x83 1000 4000
IMAGES+=(two-extended two.img)

# A type-0 primary entry with sectors is a partition
truncate -s 8M type0.img
mbr type0.img 0 0 0 2048 1000 1 0x83 4096 2000
IMAGES+=(type-0 type0.img)

# A GPT under a newer DOS table: the DOS table counts
truncate -s 64M stale.img
sgdisk -n 1:2048:+8M -t 1:8300 stale.img > /dev/null
dd if=/dev/zero of=stale.img bs=446 count=1 conv=notrunc status=none
mbr stale.img 0 0 0x0c 40960 40960
IMAGES+=(stale-gpt stale.img)

# A GPT whose 0xEE entry starts at LBA 2: the kernel makes no partition
truncate -s 16M ee2.img
sgdisk -n 1:2048:+4M ee2.img > /dev/null
mbr ee2.img 0 0 0xee 2 32766
IMAGES+=(gpt-ee-lba2 ee2.img)

# One appliance for all; the kernel may name the drives in any order,
# so each has a label (/dev/disk/guestfs/imgX: letters only)
letters=abcdefghijklmnop
cmds=()
for ((i = 0; i < ${#IMAGES[@]}; i += 2)); do
	cmds+=(add "${IMAGES[i + 1]}" readonly:true label:"img${letters:i/2:1}" :)
done
guestfish -- "${cmds[@]}" run : debug sh \
	'for l in /dev/disk/guestfs/*; do d=$(readlink -f $l); echo label ${l##*/} ${d##*/}; done; for p in /sys/block/sd*/sd*[0-9]; do echo ${p##*/} $(cat $p/start) $(cat $p/size); done' \
	> kernel.txt 2> guestfish.err ||
	{ echo "FAIL - guestfish"; cat guestfish.err kernel.txt; exit 1; }
for ((i = 0; i < ${#IMAGES[@]}; i += 2)); do
	drive=$(awk -v n="img${letters:i/2:1}" '$1 == "label" && $2 == n {print $3}' kernel.txt)
	[ -n "$drive" ] || { echo "FAIL - no drive labelled ${IMAGES[i]}"; cat kernel.txt; fail=1; continue; }
	compare "${IMAGES[i]}" "${IMAGES[i + 1]}" "$drive"
done

echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
