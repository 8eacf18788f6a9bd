#!/bin/bash
# Seed inputs for the fuzz targets, written to DIR.  A seed is a raw disk
# or, for anything larger than the fuzzers' -max_len (4 MiB), the disk's
# non-zero sectors in the sparse multi-disk container of sparse.h: a real
# XFS, btrfs or NTFS filesystem, an LVM volume group over three PVs or an
# md array spans hundreds of MiB, but its metadata is a few hundred KiB.
# Without such seeds a fuzzer only ever sees a truncated superblock.
#
#  - the demo image and the regression inputs;
#  - virt-bmap maps of the demo image and of the packed disks (below),
#    for fuzz-mapread and fuzz-trace;
#  - ../shared/corpus (when present): every image, raw if small, packed
#    from the decompressor's output otherwise (one at a time);
#  - the project's LVM and md images, one seed per multi-disk set, and
#    md arrays rewritten to the raid5/6/10 layouts they lack;
#  - qcow2 files of the demo image (qemu-img), for fuzz-qcow2;
#  - partition tables with logical partitions (an EBR chain going back,
#    two extended partitions, EBR slots 3-4, type-0 entries) and a stale
#    GPT; a LUKS2 header with its JSON area;
#  - fresh XFS (v5, v4, 1 KiB blocks with rmap and reflink, 8 KiB
#    directory blocks, and one written by the kernel with a bmap-btree
#    file), btrfs (default, DUP metadata, mixed block groups, RAID0/10/
#    5/6/1C3 over several devices, xxhash/sha256/blake2 checksums) and
#    NTFS filesystems holding every directory format (short form to
#    B+tree), symlinks, hard links and multi-extent files.
#    The mounts need root; without it those seeds are left out (said).
#
# Disks that pack larger than 256 KiB lose their file data (smaller
# inputs fuzz faster, and data is opaque to every walker): BMAPGEN (a
# bmapgen binary) maps them, the whole 4 KiB blocks of "f" ranges are
# packed as zeros, and the seed is kept only if bmapgen then maps the
# unpacked seed exactly as the original (the metadata survived).
#
# usage: [BMAPGEN=...] make-seeds.sh DIR
set -u
D=${1:?usage: make-seeds.sh DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MAX=4194304
PACK() { /usr/bin/python3 "$SRC/tests/fuzz/sparse.py" pack "$@"; }
PACK_UNPACK() { /usr/bin/python3 "$SRC/tests/fuzz/sparse.py" unpack "$@"; }
# Text and qcow2 seeds go to subdirectories, so that fuzz-mapread and
# fuzz-trace get only maps, fuzz-qcow2 only qcow2 files (seed_dir);
# libFuzzer reads the disk targets' DIR recursively.
mkdir -p "$D/maps" "$D/qcow2"
T=$(mktemp -d)
LOOPS=()
cleanup() {
	mountpoint -q "$T/mnt" 2>/dev/null && umount "$T/mnt"
	for l in "${LOOPS[@]}"; do losetup -d "$l"; done
	rm -rf "$T"
}
trap cleanup EXIT
# keep NAME FILE: FILE becomes the seed NAME if it fits in -max_len
keep() {
	if [ -s "$2" ] && [ "$(stat -c %s "$2")" -le $MAX ]; then
		mv "$2" "$D/$1"
	else
		rm -f "$2"
	fi
}

# pack_disks NAME DISK...: the seed NAME from DISKs, without file data
# if need be (see above)
pack_disks() {
	name=$1; shift
	PACK "$T/packed" "$@" || return
	if [ "$(stat -c %s "$T/packed")" -gt 262144 ] && [ -n "${BMAPGEN:-}" ]; then
		"$BMAPGEN" "$@" > "$T/map1" 2>/dev/null
		# the map itself is a seed for fuzz-mapread and fuzz-trace
		cp "$T/map1" "$D/maps/${name%.sparse}.map"
		# metadata and directories only, else without file data; kept
		# when the map stays the same: ranges, devices and paths
		local how
		for how in --meta-only --zero-files; do
			PACK "$how" "$T/map1" "$T/packed" "$@"
			if same_map "$T/packed"; then
				keep "$name" "$T/packed"
				return
			fi
		done
		echo "make-seeds: $name: its map changed without file data; left out" >&2
		rm -f "$T/packed"
		return
	fi
	keep "$name" "$T/packed"
}

# same_map PACKED: does bmapgen map PACKED's disks as $T/map1?
same_map() {
	mkdir -p "$T/un"
	# shellcheck disable=SC2046 # one word per disk file (no spaces in $T)
	set -- $(PACK_UNPACK "$1" "$T/un/disk")
	"$BMAPGEN" "$@" > "$T/map2" 2>/dev/null
	rm -f "$@"
	cmp -s "$T/map1" "$T/map2"
}

# (the demo disk is 16 MiB: packed, like every disk over -max_len)
xz -dc "$SRC/tests/images/demo.img.xz" > "$T/demo.img"
[ -n "${BMAPGEN:-}" ] && "$BMAPGEN" "$T/demo.img" > "$D/maps/demo.map" 2>/dev/null
pack_disks demo.sparse "$T/demo.img"
rm -f "$T/demo.img"
cp "$SRC"/tests/fuzz/regress/* "$D/" 2>/dev/null

corpus="$SRC/../shared/corpus"
if [ -d "$corpus" ]; then
	awk -F'\t' 'NR > 1 {print $1 "\t" $3 "\t" $4}' "$corpus/INDEX.tsv" |
	while IFS=$'\t' read -r p size c; do
		n=$(echo "$p" | tr '/' '_')
		case $c in
		xz) cat="xz -dc" ;;
		gz) cat="gzip -dc" ;;
		bz2) cat="bzip2 -dc" ;;
		none) cat="cat" ;;
		*) continue ;; # tar files: several images, tests unpack them
		esac
		if [ "$size" -le $MAX ]; then
			$cat "$corpus/$p" > "$T/raw" 2>/dev/null && keep "$n" "$T/raw"
		else
			$cat "$corpus/$p" 2>/dev/null | PACK "$T/packed" - &&
				keep "$n.sparse" "$T/packed"
		fi
	done
fi

# the corpus's and the regression inputs' qcow files, for fuzz-qcow2
for f in "$D"/*.qcow "$D"/*.qcow2; do
	[ -f "$f" ] && mv "$f" "$D/qcow2/"
done

# The project's images, one seed per multi-disk set: lvm-a1..a3 are one
# VG, md-r1-a/-b one array; the others (and xfs-quota) are one disk each.
for f in "$SRC"/tests/images/{lvm,md,oracle,xfs}-*.img.xz; do
	basename "$f" .img.xz | sed -E 's/^(lvm-[a-z])[0-9]+$/\1/; s/^(md-.*)-[a-z]$/\1/'
done | sort -u | while read -r set; do
	rm -f "$T"/set-*
	i=0
	for f in "$SRC/tests/images/$set".img.xz "$SRC/tests/images/$set"[0-9].img.xz \
		"$SRC/tests/images/$set"-[a-z].img.xz; do
		[ -f "$f" ] || continue
		i=$((i + 1))
		xz -dc "$f" > "$T/set-$i.img"
	done
	pack_disks "$set.sparse" "$T"/set-*.img
	# md layouts mdadm's defaults do not give, for the RAID geometry
	# (md_relayout.py): raid5 left/right asymmetric, right symmetric,
	# parity 0 and N; raid6 those and the _6 layouts; raid10 far sets
	case $set in
	md-r5deg) layouts="0 1 3 4 5" ;;
	md-r6) layouts="0 1 3 4 5 16 17 18 19 20" ;;
	md-r10f) layouts="0x20201 0x40201" ;;
	*) layouts= ;;
	esac
	# (from the seed just packed: without file data, it stays small)
	for l in $layouts; do
		[ -f "$D/$set.sparse" ] || break
		mkdir -p "$T/lay"
		# shellcheck disable=SC2046 # one word per disk file
		set -- $(PACK_UNPACK "$D/$set.sparse" "$T/lay/disk")
		/usr/bin/python3 "$SRC/tests/fuzz/md_relayout.py" "$l" "$@" &&
			PACK "$T/packed" "$@" && keep "$set-layout$l.sparse" "$T/packed"
		rm -f "$@"
	done
done
rm -f "$T"/set-*

# qcow2 files of the demo image for fuzz-qcow2: plain, compressed, small
# clusters, version 2 and subclusters (extended L2 entries).
if command -v qemu-img > /dev/null; then
	xz -dc "$SRC/tests/images/demo.img.xz" > "$T/demo.img"
	q=0
	for o in "" "-c" "-o cluster_size=4096" "-o compat=0.10" \
		"-o extended_l2=on,cluster_size=65536"; do
		q=$((q + 1))
		# shellcheck disable=SC2086
		qemu-img convert $o -O qcow2 "$T/demo.img" "$T/q.qcow2" 2>/dev/null &&
			keep "qcow2/demo-$q.qcow2" "$T/q.qcow2"
	done
	rm -f "$T/demo.img"
fi

# Partition tables read as Linux reads them (mbr.c's EBR walk was never
# reached by fuzzing: no seed had logical partitions): an EBR chain going
# back on disk, two extended partitions (a logical in an EBR's third
# slot), a type-0 entry with sectors, a GPT under a newer DOS table.
if command -v sfdisk > /dev/null; then
	mbr() { /usr/bin/python3 "$SRC/tests/mbr_write.py" "$@"; }
	rm -f "$T/pt.img" && truncate -s 64M "$T/pt.img"
	printf 'label: dos\nstart=2048, size=120000, type=5\nstart=4096, size=2000, type=83\nstart=80000, size=20000, type=83\nstart=40000, size=20000, type=83\n' |
		sfdisk -q "$T/pt.img" && pack_disks pt-ebr-backwards.sparse "$T/pt.img"
	rm -f "$T/pt.img" && truncate -s 32M "$T/pt.img"
	mbr "$T/pt.img" 0 0 0x05 2048 20000 1 0x0f 30000 20000 2 0x00 60000 1000 &&
		mbr "$T/pt.img" 2048 0 0x83 2048 4000 1 0x05 8000 4000 &&
		mbr "$T/pt.img" 10048 3 0x83 100 200 &&
		mbr "$T/pt.img" 30000 2 0x83 1000 4000 &&
		pack_disks pt-two-extended.sparse "$T/pt.img"
	if command -v sgdisk > /dev/null; then
		rm -f "$T/pt.img" && truncate -s 16M "$T/pt.img"
		sgdisk -n 1:2048:+4M "$T/pt.img" > /dev/null 2>&1 &&
			mbr "$T/pt.img" 0 0 0x0c 20480 8192 &&
			pack_disks pt-stale-gpt.sparse "$T/pt.img"
	fi
	rm -f "$T/pt.img"
fi

# LUKS2 (luks.c's JSON reader: no corpus image has its JSON area), two
# keyslots; the keyslot area (random key material bmapgen never reads)
# zeroed to keep the seed small.
if command -v cryptsetup > /dev/null; then
	rm -f "$T/l2.img" && truncate -s 4M "$T/l2.img"
	printf pw2 > "$T/k2"
	if printf pw | cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 \
			--pbkdf-force-iterations 1000 --luks2-metadata-size 16k \
			--luks2-keyslots-size 1m -q --key-file=- "$T/l2.img" 2> /dev/null &&
		printf pw | cryptsetup luksAddKey --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
			--key-file=- "$T/l2.img" "$T/k2" 2> /dev/null; then
		dd if=/dev/zero of="$T/l2.img" bs=1k seek=32 count=1024 conv=notrunc status=none
		pack_disks luks2.sparse "$T/l2.img"
	fi
	rm -f "$T/l2.img" "$T/k2"
fi

# A tree with every directory size class (XFS short form, block, leaf,
# node; btrfs and NTFS index roots and B+trees), symlinks short and long,
# a hard link and small and multi-block files.  Names and contents are
# short so that the packed seeds stay small.
tree="$T/tree"
mkdir -p "$tree"/d5 "$tree"/d60 "$tree"/d600/sub "$tree"/empty
for i in 1 2 3 4 5; do echo "$i" > "$tree/d5/f$i"; done
for i in $(seq 60); do echo "$i" > "$tree/d60/a-longer-file-name-$i"; done
for i in $(seq 600); do : > "$tree/d600/n$i"; done
head -c 20000 /dev/urandom > "$tree/d600/sub/multi"
printf 'tiny' > "$tree/inline"
ln -s d5/f1 "$tree/short-link"
ln -s "$(printf 'long/%.0s' $(seq 60))" "$tree/long-link"
ln "$tree/d5/f2" "$tree/hard-link"

# mounted_copy IMG MOUNT-COMMAND...: the tree copied in by the kernel (or
# ntfs-3g), plus a file of many extents (every other 4 KiB block, synced
# in turn).
mounted_copy() {
	img=$1; shift
	mkdir -p "$T/mnt"
	"$@" "$img" "$T/mnt" || return 1
	cp -a "$tree" "$T/mnt/copy"
	for i in $(seq 0 2 40); do
		dd if=/dev/urandom of="$T/mnt/fragmented" bs=4096 seek=$i count=1 \
			conv=notrunc,fsync status=none
	done
	umount "$T/mnt"
}

if [ "$(id -u)" != 0 ]; then
	echo "make-seeds: not root: no fresh XFS, btrfs or NTFS seeds (loop mounts)" >&2
	exit 0
fi

# XFS from a protofile is not mounted, so its log stays one record long
# (a mounted one is stamped through and packs to MiBs).
echo '{"files": [], "dirs": []}' > "$T/m.json"
/usr/bin/python3 "$SRC/tests/xfs_proto.py" "$tree" "$T/m.json" /dev/null > "$T/proto"
xfs=0
for opts in "" "-m crc=0" "-b size=1024 -m rmapbt=1,reflink=1" "-n size=8192 -s size=4096"; do
	xfs=$((xfs + 1))
	truncate -s 300M "$T/x.img"
	# shellcheck disable=SC2086
	mkfs.xfs -q -f $opts -p "$T/proto" "$T/x.img" > /dev/null 2>&1 &&
		pack_disks "xfs-$xfs.sparse" "$T/x.img"
	rm -f "$T/x.img"
done

btrfs=0
for opts in "" "-m dup" "-M"; do
	btrfs=$((btrfs + 1))
	truncate -s 256M "$T/b.img"
	# shellcheck disable=SC2086
	if mkfs.btrfs -q -f $opts --rootdir "$tree" "$T/b.img" > /dev/null 2>&1; then
		mounted_copy "$T/b.img" mount -o loop > /dev/null 2>&1
		pack_disks "btrfs-$btrfs.sparse" "$T/b.img"
	fi
	rm -f "$T/b.img"
done

truncate -s 32M "$T/n.img"
if mkntfs -F -Q -s 512 -c 4096 "$T/n.img" > /dev/null 2>&1; then
	mounted_copy "$T/n.img" ntfs-3g > /dev/null 2>&1
	pack_disks ntfs.sparse "$T/n.img"
fi
rm -f "$T/n.img"

# XFS written by the kernel: a file of 300 extents, too many for the
# inode (a bmap btree: the protofile seeds have none), written with zeros
# (its btree blocks are file-owned "f" ranges, which --meta-only would
# drop); the log then formatted afresh (xfs_db logformat), else it packs
# to 2 MB.
truncate -s 300M "$T/x.img"
if mkfs.xfs -q -f "$T/x.img" > /dev/null 2>&1 &&
	mount -o loop "$T/x.img" "$T/mnt" 2> /dev/null; then
	cp -a "$tree" "$T/mnt/copy"
	/usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(300):
    os.pwrite(fd, bytes(4096), i * 8192)
os.close(fd)' "$T/mnt/btree-extents"
	ln "$T/mnt/btree-extents" "$T/mnt/btree-link"
	umount "$T/mnt"
	# packed whole (pack_disks would drop the "f" btree blocks)
	xfs_db -x -c "logformat -c 1" "$T/x.img" > /dev/null 2>&1 &&
		PACK "$T/packed" "$T/x.img" && keep xfs-bmbt.sparse "$T/packed"
fi
rm -f "$T/x.img"

# Multi-device btrfs: every striped profile (RAID0, RAID10, RAID5, RAID6)
# and RAID1C3, made on loop devices and filled through a mount, and the
# checksum types other than crc32c (mkfs --rootdir takes one device).
# Smaller trees: each device of each copy adds to the seed.
btrfs_multi() { # NAME N MKFS-OPTIONS...
	local name=$1 n=$2 i l imgs=()
	shift 2
	for i in $(seq "$n"); do
		truncate -s 128M "$T/m$i.img"
		imgs+=("$T/m$i.img")
		l=$(losetup -f --show "$T/m$i.img") || break
		LOOPS+=("$l") # (detached at exit too)
	done
	local ok=
	[ ${#LOOPS[@]} = "$n" ] &&
		mkfs.btrfs -q -f "$@" "${LOOPS[@]}" > /dev/null 2>&1 &&
		mount "${LOOPS[0]}" "$T/mnt" 2> /dev/null && {
		cp -a "$tree/d5" "$tree/d60" "$tree/long-link" "$T/mnt/"
		head -c 300000 /dev/urandom > "$T/mnt/data"
		umount "$T/mnt" && ok=1
	}
	for l in "${LOOPS[@]}"; do losetup -d "$l"; done
	LOOPS=()
	[ -n "$ok" ] && pack_disks "$name.sparse" "${imgs[@]}"
	rm -f "${imgs[@]}"
}
btrfs_multi btrfs-raid0 2 -d raid0 -m raid0
btrfs_multi btrfs-raid10 4 -d raid10 -m raid10
btrfs_multi btrfs-raid5 3 -d raid5 -m raid5
btrfs_multi btrfs-raid6 4 -d raid6 -m raid6
btrfs_multi btrfs-raid1c3 3 -d raid1c3 -m raid1c3
for csum in xxhash sha256 blake2; do
	truncate -s 128M "$T/b.img"
	mkfs.btrfs -q -f --csum "$csum" --rootdir "$tree/d60" "$T/b.img" > /dev/null 2>&1 &&
		pack_disks "btrfs-$csum.sparse" "$T/b.img"
	rm -f "$T/b.img"
done
exit 0
