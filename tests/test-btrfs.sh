#!/bin/bash
# btrfs walker tests (issue 11).  Images are built at test time with
# mkfs.btrfs --rootdir and by loop mounts (root needed), filled with
# content-tagged trees (tests/oracle/tagtree.py), then mapped by bmapgen
# and checked by
#   - tagscan.py: every tag found in the images (every RAID/DUP copy)
#     must lie in an `f` range of the right path, nothing misattributed;
#   - btrfs_dumptree_check.py: btrfs-progs' dump-tree of the same
#     filesystem: every tree block copy mapped as `m`, a sample of file
#     extents (all compressed ones) mapped to their file at every copy.
# Scenarios: single device DUP metadata (--rootdir), 64 KiB nodes,
# 64 KiB sectors (if mkfs allows), subvolumes + snapshot + rewrite +
# compress zstd/zlib/lzo + reflink + 600-extent file + prealloc + sparse +
# inline, raid1/raid1c3 over 3 images (and degraded: one image missing),
# raid1 over 2 partitions of one image, raid5, raid6, raid10, raid0.
#
# SPDX-License-Identifier: GPL-2.0-or-later
set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BMAPGEN=${BMAPGEN:-$SRCDIR/build/bmapgen}
ORACLE=$SRCDIR/tests/oracle
TESTS=$SRCDIR/tests

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (loop devices, mount)"
	exit 77
fi
for t in mkfs.btrfs btrfs losetup python3; do
	command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done

T=$(mktemp -d /tmp/bmapgen-btrfs.XXXXXX)
MNT=$T/mnt
mkdir -p "$MNT"
LOOPS=()
cleanup() {
	mountpoint -q "$MNT" && umount "$MNT"
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# attach VAR [LOSETUP-OPTIONS] IMG: sets VAR to a new loop device and
# remembers it for cleanup (not in $(...): the list must stay in this shell)
attach() {
	local var=$1 l
	shift
	l=$(losetup -f --show "$@") || return 1
	LOOPS+=("$l")
	printf -v "$var" %s "$l"
}
detach_all() {
	for l in "${LOOPS[@]}"; do losetup -d "$l"; done
	LOOPS=()
}

# run_bmapgen NAME EXPECTED_STATUS IMG...  -> $T/NAME.map
run_bmapgen() {
	local name=$1 want=$2 rc
	shift 2
	"$BMAPGEN" "$@" >"$T/$name.map" 2>"$T/$name.err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		fail "$name: bmapgen exit $rc, expected $want"
		sed 's/^/    /' "$T/$name.err" | head -20
		return 1
	fi
	if [ "$want" = 0 ] && [ -s "$T/$name.err" ]; then
		fail "$name: bmapgen warned"
		sed 's/^/    /' "$T/$name.err" | head -20
	fi
	return 0
}

# tagscan NAME MANIFEST ROOT IMG...  (files below $INLINE_MAX bytes may be
# inline in leaves: their tags are checked but not counted as absent)
INLINE_MAX=4096
tagscan() {
	local name=$1 man=$2 root=$3
	shift 3
	if ! python3 "$ORACLE/tagscan.py" --manifest "$man" --map "$T/$name.map" \
		--root "$root" --inline-max $INLINE_MAX "$@" >"$T/$name.scan"; then
		fail "$name: tagscan"
		sed 's/^/    /' "$T/$name.scan" | head -30
	else
		grep -E "recall|occurrences" "$T/$name.scan" | sed "s/^/  $name:/"
	fi
}

# dumptree NAME ARGS... (devices last)
dumptree() {
	local name=$1
	shift
	if ! python3 "$TESTS/btrfs_dumptree_check.py" --map "$T/$name.map" "$@" \
		>"$T/$name.dt" 2>&1; then
		fail "$name: dump-tree check"
		sed 's/^/    /' "$T/$name.dt" | head -30
	else
		sed "s/^/  $name: /" "$T/$name.dt" | head -3
	fi
}

gen() { python3 "$ORACLE/tagtree.py" gen --manifest "$1" --profile "$2" "$3" >/dev/null; }

# scrub DEV-FOR-DUMP-TREE DEV-OR-IMG...: zero the free space inside live
# leaves (stale inline copies there can fool tagscan; see btrfs_extra.py).
# After mapping: it invalidates the leaves' checksums.
scrub() {
	python3 "$TESTS/btrfs_extra.py" --scrub-leaves "$@" || fail "scrub $*"
}

# ---------------------------------------------------------------- rootdir
echo "== single device, DUP metadata, mkfs --rootdir"
gen "$T/m1.json" default "$T/tree1"
truncate -s 256M "$T/s1.img"
mkfs.btrfs -q --rootdir "$T/tree1" "$T/s1.img" >/dev/null 2>&1 || fail "mkfs rootdir"
if run_bmapgen rootdir 0 "$T/s1.img"; then
	dumptree rootdir --sample 200 "$T/s1.img"
	grep -q "<btrfs superblock>" "$T/rootdir.map" || fail "rootdir: no superblock"
	grep -q "^1 4000000 4001000 m /dev/sda <btrfs superblock>" "$T/rootdir.map" ||
		fail "rootdir: superblock mirror at 64 MiB not mapped"
fi
# the first copy of the fs tree root corrupted: its checksum fails and the
# DUP copy is used, so everything still maps
root=$(btrfs inspect-internal dump-tree -t fs "$T/s1.img" | awk '/^(node|leaf) [0-9]+ /{print $2; exit}')
phys=$(btrfs-map-logical -l "$root" "$T/s1.img" 2>/dev/null | awk '/^mirror 1 /{print $6; exit}')
if [ -n "$phys" ]; then
	printf 'garbage' | dd of="$T/s1.img" bs=1 seek=$((phys + 300)) conv=notrunc status=none
	run_bmapgen corrupt 0 "$T/s1.img"
else
	fail "could not locate the fs tree root (root $root)"
fi
scrub "$T/s1.img" "$T/s1.img"
tagscan rootdir "$T/m1.json" / "$T/s1.img"
[ -s "$T/corrupt.map" ] && tagscan corrupt "$T/m1.json" / "$T/s1.img"
rm -rf "$T/tree1"

echo "== 64 KiB nodes"
gen "$T/m2.json" small "$T/tree2"
truncate -s 256M "$T/n64.img"
mkfs.btrfs -q -n 65536 --rootdir "$T/tree2" "$T/n64.img" >/dev/null 2>&1 || fail "mkfs -n 64k"
if run_bmapgen n64 0 "$T/n64.img"; then
	dumptree n64 "$T/n64.img"
	scrub "$T/n64.img" "$T/n64.img"
	tagscan n64 "$T/m2.json" / "$T/n64.img"
fi

echo "== 4 KiB nodes"
truncate -s 256M "$T/n4.img"
mkfs.btrfs -q -n 4096 --rootdir "$T/tree2" "$T/n4.img" >/dev/null 2>&1 || fail "mkfs -n 4k"
if run_bmapgen n4 0 "$T/n4.img"; then
	dumptree n4 "$T/n4.img"
	scrub "$T/n4.img" "$T/n4.img"
	tagscan n4 "$T/m2.json" / "$T/n4.img"
fi
rm -f "$T/n4.img"

echo "== mixed block groups"
truncate -s 128M "$T/mx.img"
mkfs.btrfs -q -M --rootdir "$T/tree2" "$T/mx.img" >/dev/null 2>&1 || fail "mkfs -M"
if run_bmapgen mixed 0 "$T/mx.img"; then
	dumptree mixed "$T/mx.img"
	scrub "$T/mx.img" "$T/mx.img"
	tagscan mixed "$T/m2.json" / "$T/mx.img"
fi
rm -f "$T/mx.img"

echo "== superblock mirrors at 64 MiB and 256 GiB (300 GiB sparse image)"
truncate -s 300G "$T/big.img"
mkfs.btrfs -q --rootdir "$T/tree2" "$T/big.img" >/dev/null 2>&1 || fail "mkfs 300G"
if run_bmapgen big 0 "$T/big.img"; then
	for r in "10000 11000" "4000000 4001000" "4000000000 4000001000"; do
		grep -q "^1 $r m /dev/sda <btrfs superblock>" "$T/big.map" ||
			fail "big: superblock copy $r not mapped"
	done
fi
rm -f "$T/big.img"

echo "== 64 KiB sectors"
truncate -s 256M "$T/s64.img"
if mkfs.btrfs -q -s 65536 -n 65536 --rootdir "$T/tree2" "$T/s64.img" >/dev/null 2>&1; then
	if run_bmapgen s64 0 "$T/s64.img"; then
		dumptree s64 "$T/s64.img"
		scrub "$T/s64.img" "$T/s64.img"
		INLINE_MAX=65536 tagscan s64 "$T/m2.json" / "$T/s64.img"
	fi
else
	echo "  (mkfs.btrfs cannot make 64 KiB sectors here: skipped)"
fi
rm -f "$T/s64.img" "$T/n64.img"

echo "== checksum types"
for c in xxhash sha256 blake2; do
	truncate -s 256M "$T/c.img"
	if ! mkfs.btrfs -q -f --csum $c --rootdir "$T/tree2" "$T/c.img" >/dev/null 2>&1; then
		echo "  (mkfs.btrfs --csum $c failed: skipped)"
		continue
	fi
	if run_bmapgen csum-$c 0 "$T/c.img"; then
		dumptree csum-$c "$T/c.img"
		scrub "$T/c.img" "$T/c.img"
		tagscan csum-$c "$T/m2.json" / "$T/c.img"
	fi
done
rm -f "$T/c.img"

# ------------------------------------------------ subvolumes and friends
echo "== subvolumes, snapshot, rewrite, zstd/zlib, reflink, extents, prealloc"
truncate -s 512M "$T/f.img"
attach L "$T/f.img"
mkfs.btrfs -q "$L" >/dev/null 2>&1 || fail "mkfs features"
mount "$L" "$MNT" || fail "mount features"
btrfs -q subvolume create "$MNT/@" >/dev/null
btrfs -q subvolume create "$MNT/@home" >/dev/null
gen "$T/m3.json" small "$MNT/@/data"
python3 "$TESTS/btrfs_extra.py" --manifest "$T/m3.json" "$MNT/@/data" ||
	fail "btrfs_extra"
for c in zstd zlib lzo; do
	mkdir "$MNT/@/$c"
	btrfs property set "$MNT/@/$c" compression $c
	seq 1 300000 >"$MNT/@/$c/numbers.txt"
	yes "compressible line for $c" | head -c 3000000 >"$MNT/@/$c/lines.txt"
done
btrfs -q quota enable "$MNT" || fail "quota enable"
# a nested subvolume: in the snapshot it is an empty placeholder directory
btrfs -q subvolume create "$MNT/@/nested" >/dev/null
seq 1 100000 >"$MNT/@/nested/numbers"
mkdir -p "$MNT/@home/.snapshots/1"
btrfs -q subvolume snapshot "$MNT/@" "$MNT/@home/.snapshots/1/snapshot" >/dev/null
# rewrite in the original: the snapshot keeps the old extents
python3 "$TESTS/btrfs_extra.py" --rewrite "$MNT/@/data/extra/reflink-src" 65536 65536
python3 "$TESTS/btrfs_extra.py" --rewrite "$MNT/@/data/big/one-mib-plus" 0 131072 2>/dev/null
sync
SUBVOLS=()
for p in @ @home @/nested @home/.snapshots/1/snapshot; do
	SUBVOLS+=(--subvol "$(btrfs inspect-internal rootid "$MNT/$p")=/$p")
done
# a copy taken after an fsync but before the commit has a log tree
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"fsynced, not committed\n" * 4000)
os.fsync(fd)' "$MNT/@/fsynced.txt"
cp --sparse=always "$T/f.img" "$T/log.img"
umount "$MNT"
detach_all
if run_bmapgen log 1 "$T/log.img"; then
	grep -q "log tree is not empty" "$T/log.err" || fail "log: no warning"
	grep -q "<btrfs log tree>" "$T/log.map" || fail "log: log tree not mapped"
	grep -q "<btrfs log data>" "$T/log.map" || fail "log: fsync'ed data not mapped"
fi
rm -f "$T/log.img"
python3 "$TESTS/btrfs_extra.py" --prefixes "$T/m3.json" "$T/m3b.json" \
	/@/data /@home/.snapshots/1/snapshot/data
if run_bmapgen features 0 "$T/f.img"; then
	dumptree features --sample 100 --min-compressed 8 "${SUBVOLS[@]}" "$T/f.img"
	scrub "$T/f.img" "$T/f.img"
	tagscan features "$T/m3b.json" / "$T/f.img"
	for p in "/@/zstd/numbers.txt" "/@home/.snapshots/1/snapshot/zlib/lines.txt" "/@/lzo/lines.txt" \
		"/@/data/extra/many-extents" "/@/data/extra/prealloc"; do
		grep -qF " f /dev/sda $p" "$T/features.map" || fail "features: $p not mapped"
	done
	for t in superblock "root tree" "chunk tree" "extent tree" "dev tree" \
		"fs tree" "csum tree" "uuid tree" "free space tree" "quota tree" \
		"data reloc tree"; do
		grep -q "m /dev/sda <btrfs $t>" "$T/features.map" ||
			fail "features: no <btrfs $t>"
	done
	grep -q " f /dev/sda /@/nested/numbers$" "$T/features.map" ||
		fail "features: nested subvolume file not mapped"
	! grep -q "snapshot/nested/numbers" "$T/features.map" ||
		fail "features: nested subvolume mapped inside the snapshot too"
	n=$(grep -cF " f /dev/sda /@/data/extra/many-extents" "$T/features.map")
	[ "$n" -ge 100 ] || fail "features: many-extents has only $n ranges"
fi
rm -f "$T/f.img"

# ------------------------------------------------------- multi-device
# multi NAME NDEV MKFS-OPTIONS... : NDEV image files, tagged small tree
multi() {
	local name=$1 n=$2 i dev devs=() imgs=()
	shift 2
	for i in $(seq 1 "$n"); do
		truncate -s 300M "$T/$name$i.img"
		imgs+=("$T/$name$i.img")
		attach dev "$T/$name$i.img"
		devs+=("$dev")
	done
	mkfs.btrfs -q -f "$@" "${devs[@]}" >/dev/null 2>&1 || { fail "$name: mkfs $*"; detach_all; return 1; }
	mount "${devs[0]}" "$MNT" || { fail "$name: mount"; detach_all; return 1; }
	gen "$T/$name.json" small "$MNT/data"
	umount "$MNT"
	if run_bmapgen "$name" 0 "${imgs[@]}"; then
		dumptree "$name" "${devs[@]}"
		grep -q "f /dev/sda /data/" "$T/$name.map" || fail "$name: device column is not /dev/sda"
		# DEGRADE="i j": also map without the other images (before
		# the parity is zeroed: metadata may need rebuilding from it)
		local kept=()
		if [ -n "${DEGRADE:-}" ]; then
			for i in $DEGRADE; do kept+=("$T/$name$i.img"); done
			run_bmapgen "$name-degraded" 1 "${kept[@]}" &&
				grep -q "devices found" "$T/$name-degraded.err" ||
				fail "$name-degraded: no missing-device warning"
		fi
		scrub "${devs[0]}" "${devs[@]}"
		detach_all
		if grep -q "<btrfs raid parity>" "$T/$name.map"; then
			# parity of partly used rows repeats the data beside
			# it: derived bytes of no file (see btrfs_extra.py)
			python3 "$TESTS/btrfs_extra.py" --zero-parity "$T/$name.map" "${imgs[@]}"
		fi
		tagscan "$name" "$T/$name.json" /data "${imgs[@]}"
		# the degraded map still covers every tag on the images kept
		[ -n "${DEGRADE:-}" ] &&
			tagscan "$name-degraded" "$T/$name.json" /data --allow-absent "${kept[@]}"
	fi
	detach_all
}

echo "== raid1 data, raid1c3 metadata, 3 images, and degraded (image 3 missing)"
DEGRADE="1 2" multi r1c3 3 -d raid1 -m raid1c3
rm -f "$T"/r1c3?.img

echo "== raid5 data (3 images)"
multi r5 3 -d raid5 -m raid1
rm -f "$T"/r5?.img
echo "== raid5 data and metadata (3 images), and degraded (image 2 missing)"
DEGRADE="1 3" multi r5m 3 -d raid5 -m raid5
rm -f "$T"/r5m?.img
echo "== raid6 data (4 images)"
multi r6 4 -d raid6 -m raid1c4
rm -f "$T"/r6?.img
echo "== raid10 (4 images)"
multi r10 4 -d raid10 -m raid10
rm -f "$T"/r10?.img
echo "== raid0 data (3 images)"
multi r0 3 -d raid0 -m raid1
rm -f "$T"/r0?.img

echo "== raid1 over two partitions of one image"
if command -v sfdisk >/dev/null; then
	truncate -s 700M "$T/p.img"
	printf 'label: gpt\n,300M\n,300M\n' | sfdisk -q "$T/p.img" >/dev/null
	# one loop device per partition (no udev here for loopNpM nodes)
	attach P1 -o $((2048 * 512)) --sizelimit $((300 << 20)) "$T/p.img"
	attach P2 -o $(((2048 + 614400) * 512)) --sizelimit $((300 << 20)) "$T/p.img"
	if mkfs.btrfs -q -f -d raid1 -m raid1 "$P1" "$P2" >/dev/null 2>&1 &&
		mount "$P1" "$MNT"; then
		gen "$T/p.json" small "$MNT/data"
		umount "$MNT"
		if run_bmapgen parts 0 "$T/p.img"; then
			scrub "$P1" "$P1" "$P2"
			detach_all
			tagscan parts "$T/p.json" /data "$T/p.img"
			grep -q "f /dev/sda1 /data/" "$T/parts.map" ||
				fail "parts: device column is not /dev/sda1"
		fi
	else
		fail "parts: mkfs/mount"
		detach_all
	fi
	rm -f "$T/p.img"
fi

if [ "$failures" != 0 ]; then
	echo "btrfs: $failures failures"
	exit 1
fi
echo "btrfs: all passed"
exit 0
