#!/bin/bash
# XFS walker tests (issue 5).  Builds XFS images at test time (mkfs.xfs +
# loop mount as root; mkfs.xfs -p protofiles for v4, which this kernel
# cannot mount), fills them with tagtree.py's content-tagged trees plus
# XFS specifics (reflink copies, preallocation, long xattrs, a file with
# thousands of extents, a 100 000-entry directory) and checks every map
# with three independent oracles:
#   tagscan.py     tags found in the raw image vs the map (recall/misattr.)
#   xfs_dbcheck.py xfs_db's blockget/blockuse owner of every block, and
#                  xfs_db "inode N; bmap" extents, vs the map
# plus: bmapgen must exit 0 (no warning) on these clean images.
#
# SPDX-License-Identifier: GPL-2.0-or-later
set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BMAPGEN=${BMAPGEN:-${BUILDDIR:-$SRCDIR/build}/bmapgen}
ORACLE=$SRCDIR/tests/oracle

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root for loop mounts"
	exit 77
fi
for t in mkfs.xfs xfs_db xfs_io setfattr python3; do
	if ! command -v $t >/dev/null; then
		echo "SKIP: $t missing"
		exit 77
	fi
done

T=$(mktemp -d /tmp/bmapgen-xfs.XXXXXX)
MNT=$T/mnt
mkdir -p "$MNT"
cleanup() {
	mountpoint -q "$MNT" && umount "$MNT"
	rm -rf "$T"
}
trap cleanup EXIT

# ONLY="v5 v4 ..." runs a subset (development)
want() {
	[ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]
}

failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}

# check NAME IMAGE MANIFEST [xfs_dbcheck options...]
check() {
	local name=$1 img=$2 man=$3
	shift 3
	local map=$T/$name.map
	local start end
	start=$(date +%s.%N)
	"$BMAPGEN" "$img" >"$map" 2>"$T/$name.err"
	local rc=$?
	end=$(date +%s.%N)
	echo "== $name: bmapgen exit $rc, $(wc -l <"$map") lines, $(awk "BEGIN{printf \"%.2f\", $end - $start}") s"
	if [ $rc -ne 0 ]; then
		head -20 "$T/$name.err"
		fail "$name: bmapgen exit status $rc"
	fi
	grep -q " d /dev/sda /$" "$map" || fail "$name: no root directory"
	if [ -n "$man" ]; then
		python3 "$ORACLE/tagscan.py" --manifest "$man" --map "$map" "$img" \
			>"$T/$name.tagscan" 2>&1 || {
			cat "$T/$name.tagscan"
			fail "$name: tagscan"
		}
		tail -3 "$T/$name.tagscan"
		set -- --manifest "$man" "$@"
	fi
	# hard links the kernel saw (xfs_links), which ncheck names once
	[ -f "$T/$name.links" ] && set -- --links "$T/$name.links" "$@"
	# (the output stays in $T/NAME.dbcheck for scenario checks)
	python3 "$SRCDIR/tests/xfs_dbcheck.py" --image "$img" --map "$map" "$@" \
		>"$T/$name.dbcheck"
	rc=$?
	cat "$T/$name.dbcheck"
	[ $rc -eq 0 ] || fail "$name: xfs_dbcheck"
}

# xfs_links NAME: record the hard links of the filesystem mounted on $MNT
# for NAME's check (inode and path)
xfs_links() {
	find "$MNT" -xdev -type f -links +1 -printf '%i /%P\n' >"$T/$1.links"
}

# same_ranges NAME PATH1 PATH2: in NAME's map, the two names of one file
# have the same (non-empty) ranges
same_ranges() {
	local map=$T/$1.map a b
	a=$(awk -v p="$2" '$4 == "f" && $6 == p {print $2, $3}' "$map" | sort)
	b=$(awk -v p="$3" '$4 == "f" && $6 == p {print $2, $3}' "$map" | sort)
	if [ -n "$a" ] && [ "$a" = "$b" ]; then
		echo "   $3: the same $(echo "$a" | wc -l) ranges as $2"
	else
		fail "$1: $2 and $3 (hard links) map differently"
	fi
}

# add_path MANIFEST SRC DST: DST (a reflink copy of SRC) holds SRC's tags.
add_path() {
	python3 - "$@" <<'EOF'
import json, sys
m, src, dst = sys.argv[1:]
j = json.load(open(m, encoding="utf-8"))
for e in j["files"]:
    if src in e["paths"]:
        e["paths"].append(dst)
json.dump(j, open(m, "w", encoding="utf-8"))
EOF
}

# many_extents FILE COUNT: write COUNT separate 4 KiB pieces (holes between)
many_extents() {
	python3 - "$@" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(int(sys.argv[2])):
    os.pwrite(fd, (b"extent %d " % i).ljust(4096, b"x"), i * 8192)
os.close(fd)
EOF
}

# many_entries DIR COUNT: a directory with COUNT (empty) files
many_entries() {
	python3 - "$@" <<'EOF'
import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
for i in range(int(sys.argv[2])):
    os.close(os.open("%s/entry-%06d-with-a-longer-name" % (d, i), os.O_CREAT | os.O_WRONLY, 0o644))
EOF
}

# xfs_extras DIR: XFS specifics on a mounted filesystem
xfs_extras() {
	local d=$1
	mkdir -p "$d/xfs"
	# preallocated (unwritten) ranges, alone and around written data
	xfs_io -f -c "falloc 0 3m" "$d/xfs/prealloc" >/dev/null
	xfs_io -f -c "falloc 0 2m" -c "pwrite 512k 64k" "$d/xfs/prealloc-mixed" >/dev/null
	# sparse file with a hole at the start
	xfs_io -f -c "pwrite 5m 8k" "$d/xfs/sparse" >/dev/null
	# long xattrs: shortform, leaf, node (many names), remote values
	echo x >"$d/xfs/xattr-small"
	setfattr -n user.a -v b "$d/xfs/xattr-small"
	echo x >"$d/xfs/xattr-remote"
	setfattr -n user.big -v "$(head -c 60000 /dev/zero | tr '\0' v)" "$d/xfs/xattr-remote"
	echo x >"$d/xfs/xattr-many"
	python3 -c '
import os, sys
for i in range(1, 401):
    os.setxattr(sys.argv[1], "user.attribute-number-%d" % i, b"value %0100d" % i)
' "$d/xfs/xattr-many"
	mkdir -p "$d/xfs/dir-with-xattrs"
	setfattr -n user.dir -v "$(head -c 2000 /dev/zero | tr '\0' d)" "$d/xfs/dir-with-xattrs"
	# a file with thousands of extents (bmbt of depth >= 2), and a
	# second name for it (same_ranges)
	many_extents "$d/xfs/many-extents" "${EXTENTS:-6000}"
	ln "$d/xfs/many-extents" "$d/xfs/many-extents-link"
	# long symlink (remote), short one (inline)
	ln -s "$(printf 'component-%03d/' $(seq 1 60))" "$d/xfs/symlink-remote"
	ln -s short "$d/xfs/symlink-local"
}

# ---------------------------------------------------------------- images

# 1. v5 defaults: tagged tree, reflink copies, XFS extras, 100 000 entries
if want v5; then
img=$T/v5.img
truncate -s 512M "$img"
mkfs.xfs -q -f "$img"
mount -o loop "$img" "$MNT"
python3 "$ORACLE/tagtree.py" gen --manifest "$T/v5.json" "$MNT" >/dev/null
cp --reflink=always "$MNT/big/eight-mib" "$MNT/reflink-copy"
add_path "$T/v5.json" /big/eight-mib /reflink-copy
# partial overwrite: the copy shares the rest of the blocks
cp --reflink=always "$MNT/big/three-mib-odd" "$MNT/reflink-partial"
xfs_io -c "pwrite -S 0 0 64k" "$MNT/reflink-partial" >/dev/null
add_path "$T/v5.json" /big/three-mib-odd /reflink-partial
xfs_extras "$MNT"
many_entries "$MNT/huge-dir" 100000
xfs_links v5
umount "$MNT"
check v5 "$img" "$T/v5.json" --sample 3000
same_ranges v5 /xfs/many-extents /xfs/many-extents-link
sample_ino=$(xfs_db -r -c "blockget -n" -c "ncheck" "$img" | awk '$2=="xfs/many-extents"{print $1}')
[ -n "$sample_ino" ] && {
	lvl=$(xfs_db -r -c "inode $sample_ino" -c "print u3.bmbt.level" "$img" | awk '{print $3}')
	echo "   many-extents: bmbt root level $lvl"
	[ "${lvl:-0}" -ge 1 ] || fail "v5: many-extents file is not in btree format"
}
rm -f "$img"
fi

# 2. v5 with every optional btree, 1 KiB blocks, large extent counters,
#    4 AGs: 1 KiB blocks make the bmbt deep and the directories node/btree
if want v5-1k; then
img=$T/v5-1k.img
truncate -s 320M "$img"
mkfs.xfs -q -f -b size=1024 -m rmapbt=1,reflink=1 -i nrext64=1 -d agcount=4 "$img"
mount -o loop "$img" "$MNT"
python3 "$ORACLE/tagtree.py" gen --manifest "$T/v5-1k.json" "$MNT" >/dev/null
cp --reflink=always "$MNT/big/eight-mib" "$MNT/reflink-copy"
add_path "$T/v5-1k.json" /big/eight-mib /reflink-copy
EXTENTS=3000 xfs_extras "$MNT"
many_entries "$MNT/huge-dir" 20000
xfs_links v5-1k
umount "$MNT"
check v5-1k "$img" "$T/v5-1k.json" --sample 2000
same_ranges v5-1k /xfs/many-extents /xfs/many-extents-link
rm -f "$img"
fi

# 3. 64 KiB blocks, 4 KiB sectors, many AGs (directory blocks of 64 KiB)
if want v5-64k; then
img=$T/v5-64k.img
truncate -s 2G "$img"
mkfs.xfs -q -f -b size=65536 -s size=4096 -d agcount=16 "$img"
mount -o loop "$img" "$MNT"
python3 "$ORACLE/tagtree.py" gen --profile small --manifest "$T/v5-64k.json" "$MNT" >/dev/null
many_entries "$MNT/huge-dir" 5000
umount "$MNT"
check v5-64k "$img" "$T/v5-64k.json"
rm -f "$img"
fi

# 4. 4 KiB sectors, 8 KiB directory blocks, two AGs (mkfs.xfs 6.1 refuses
#    a single AG: "at least 2 superblocks")
if want v5-4ks; then
img=$T/v5-4ks.img
truncate -s 320M "$img"
mkfs.xfs -q -f -s size=4096 -n size=8192 -d agcount=2 "$img"
mount -o loop "$img" "$MNT"
python3 "$ORACLE/tagtree.py" gen --profile small --manifest "$T/v5-4ks.json" "$MNT" >/dev/null
many_entries "$MNT/huge-dir" 5000
umount "$MNT"
check v5-4ks "$img" "$T/v5-4ks.json"
rm -f "$img"
fi

# 4b. user, group and project quota (tests/images/mk-xfs-quota.sh: made
#     in the appliance, this kernel has no XFS quota): the data blocks of
#     the three quota inodes, sparse files of dquot chunks, must be
#     `m <xfs quota>` (xfs_dbcheck: every block xfs_db's blockuse calls
#     "quota"; and the object must exist when the QUOTA feature is on)
if want quota; then
img=$T/quota.img
xz -dc "$SRCDIR/tests/images/xfs-quota.img.xz" >"$img"
qino=$(xfs_db -r -c "sb 0" -c "print uquotino gquotino pquotino" "$img" | awk '{print $3}' | xargs)
echo "   quota inodes: $qino"
[ "$(echo "$qino" | wc -w)" = 3 ] && [[ "$qino" =~ ^[0-9\ ]+$ ]] ||
	fail "quota: want three quota inodes, have '$qino'"
check quota "$img" "$SRCDIR/tests/images/xfs-quota-tree.json"
grep -q "(.*quota [1-9][0-9]*.*); .*; 0 errors" "$T/quota.dbcheck" ||
	fail "quota: xfs_dbcheck saw no quota blocks"
rm -f "$img"
fi

# 5. v4 (-m crc=0) through a protofile: 4 KiB and 512-byte blocks
if want v4; then
mkdir -p "$T/tree"
python3 "$ORACLE/tagtree.py" gen --manifest "$T/tree.json" "$T/tree" >/dev/null
many_entries "$T/tree/huge-dir" 3000
python3 "$SRCDIR/tests/xfs_proto.py" "$T/tree" "$T/tree.json" "$T/v4.json" >"$T/v4.proto"
for bs in 4096 512; do
	img=$T/v4-$bs.img
	truncate -s 320M "$img"
	if mkfs.xfs -q -f -m crc=0 -b size=$bs -p "$T/v4.proto" "$img" 2>"$T/mkfs.err"; then
		check v4-$bs "$img" "$T/v4.json"
	else
		cat "$T/mkfs.err"
		fail "mkfs.xfs -m crc=0 -b size=$bs failed"
	fi
	rm -f "$img"
done
rm -rf "$T/tree"
fi

# 6. more than 2 TiB (sparse image), files in high AGs
if want huge; then
img=$T/huge.img
truncate -s 3T "$img"
mkfs.xfs -q -f -K -l size=64m "$img"
mount -o loop "$img" "$MNT"
python3 "$ORACLE/tagtree.py" gen --profile small --manifest "$T/huge.json" "$MNT" >/dev/null
for i in $(seq 1 6); do
	mkdir "$MNT/spread-$i"
	head -c 100000 /dev/urandom >"$MNT/spread-$i/file"
done
umount "$MNT"
check huge "$img" "$T/huge.json"
top=$(python3 -c 'import sys; print(max(int(l.split()[1], 16) for l in open(sys.argv[1]) if " f " in l))' "$T/huge.map")
echo "   highest file data at byte $top"
[ "$top" -gt $((2 << 40)) ] || fail "huge: no file data mapped beyond 2 TiB"
rm -f "$img"
fi

# 7. damage: a corrupted AGF and inode must give warnings, not crashes
if want bad; then
img=$T/bad.img
truncate -s 320M "$img"
mkfs.xfs -q -f "$img"
mount -o loop "$img" "$MNT"
echo data >"$MNT/file"
umount "$MNT"
agbytes=$(( $(xfs_db -r -c "sb 0" -c "print agblocks" "$img" | awk '{print $3}') * 4096 ))
printf 'XXXX' | dd of="$img" bs=1 seek=$((agbytes + 512)) conv=notrunc status=none
"$BMAPGEN" "$img" >"$T/bad.map" 2>"$T/bad.err"
rc=$?
echo "== damaged AGF: exit $rc: $(head -1 "$T/bad.err")"
[ $rc -eq 1 ] || fail "damaged AGF: exit status $rc, want 1"
grep -q "/file" "$T/bad.map" || fail "damaged AGF: file not mapped"
# a damaged inode (v5): CRC mismatch reported, the file still mapped
ino=$(xfs_db -r -c "blockget -n" -c "ncheck" "$img" 2>/dev/null | awk '$2=="file"{print $1}')
ioff=$(xfs_db -r -c "convert ino $ino byte" "$img" 2>/dev/null | sed 's/.*(\(.*\)).*/\1/')
printf 'Z' | dd of="$img" bs=1 seek=$((ioff + 140)) conv=notrunc status=none
"$BMAPGEN" "$img" >"$T/bad.map" 2>"$T/bad.err"
echo "== damaged inode: $(grep -m1 "inode: CRC" "$T/bad.err")"
grep -q "inode: CRC mismatch" "$T/bad.err" || fail "inode CRC mismatch not reported"
grep -q " f /dev/sda /file$" "$T/bad.map" || fail "damaged inode: file not mapped"
# unknown incompat feature: refused with a message
cp "$img" "$T/bad2.img"
printf '\x00\x00\x80\x00' | dd of="$T/bad2.img" bs=1 seek=216 conv=notrunc status=none
"$BMAPGEN" "$T/bad2.img" >"$T/bad2.map" 2>"$T/bad2.err"
rc=$?
echo "== unknown incompat feature: exit $rc: $(head -1 "$T/bad2.err")"
grep -q "unsupported incompatible features" "$T/bad2.err" || fail "unknown incompat not refused"
grep -q " f /dev/sda" "$T/bad2.map" && fail "unknown incompat: files were mapped"
fi

# 8. realtime device and external log (v5): the rt bitmap/summary inodes'
#    blocks are mapped, a realtime file's data (on the rt device, not an
#    image here) is reported as not mapped, there is no internal log.
#    mkfs.xfs cannot create realtime files from a protofile and this
#    kernel has no XFS_RT, so a regular file's realtime flag is set with
#    xfs_db -x (its old blocks become unowned).
if want rt; then
img=$T/rt.img
truncate -s 320M "$img"
truncate -s 64M "$T/rtdev.img"
truncate -s 80M "$T/logdev.img"
mkdir -p "$T/rttree/sub"
head -c 300000 /dev/urandom >"$T/rttree/sub/rtfile"
head -c 5000 /dev/urandom >"$T/rttree/small"
printf '/dev/null\n0 0\nd--755 0 0\n sub d--755 0 0\n  rtfile ---644 0 0 %s\n $\n small ---644 0 0 %s\n$\n' \
	"$T/rttree/sub/rtfile" "$T/rttree/small" >"$T/rt.proto"
mkfs.xfs -q -f -r rtdev="$T/rtdev.img" -l logdev="$T/logdev.img",size=64m \
	-p "$T/rt.proto" "$img"
ino=$(xfs_db -r -l "$T/logdev.img" -c "blockget -n" -c "ncheck" "$img" | awk '$2=="sub/rtfile"{print $1}')
xfs_db -x -l "$T/logdev.img" -c "inode $ino" -c "write core.realtime 1" "$img" >/dev/null
"$BMAPGEN" "$img" >"$T/rt.map" 2>"$T/rt.err"
rc=$?
echo "== rt: exit $rc: $(head -1 "$T/rt.err")"
[ $rc -eq 1 ] || fail "rt: exit status $rc, want 1 (rt data not mapped)"
grep -q "realtime blocks are on the realtime device, not mapped" "$T/rt.err" ||
	fail "rt: no warning about the realtime file"
grep -q "<xfs rt bitmap>" "$T/rt.map" || fail "rt: no rt bitmap"
grep -q "<xfs rt summary>" "$T/rt.map" || fail "rt: no rt summary"
grep -q "<xfs log>" "$T/rt.map" && fail "rt: an external log was mapped"
python3 "$SRCDIR/tests/xfs_dbcheck.py" --image "$img" --map "$T/rt.map" \
	--logdev "$T/logdev.img" --rt-file /sub/rtfile || fail "rt: xfs_dbcheck"
rm -rf "$img" "$T/rtdev.img" "$T/logdev.img" "$T/rttree"
fi

# 9. XFS in a GPT partition (the walker reads through the partition volume)
if want part && command -v sgdisk >/dev/null; then
img=$T/part.img
truncate -s 400M "$img"
loop=$(losetup -f --show -o $((2048 * 512)) --sizelimit $(( (819200 - 2048 - 33) * 512 )) "$img")
mkfs.xfs -q -f "$loop"
mount "$loop" "$MNT"
python3 "$ORACLE/tagtree.py" gen --profile small --manifest "$T/part.json" "$MNT" >/dev/null
umount "$MNT"
# the partition table last: mkfs.xfs -f wipes signatures it sees (GPT too)
sgdisk -n 1:2048:0 -t 1:8300 "$img" >/dev/null
"$BMAPGEN" "$img" >"$T/part.map" 2>"$T/part.err"
rc=$?
echo "== part: bmapgen exit $rc, $(wc -l <"$T/part.map") lines"
[ $rc -eq 0 ] || { head "$T/part.err"; fail "part: bmapgen exit status $rc"; }
grep -q " d /dev/sda1 /$" "$T/part.map" || fail "part: no /dev/sda1 root directory"
python3 "$ORACLE/tagscan.py" --device /dev/sda1 --manifest "$T/part.json" --map "$T/part.map" "$img" \
	>"$T/part.tagscan" 2>&1 || { cat "$T/part.tagscan"; fail "part: tagscan"; }
tail -1 "$T/part.tagscan"
python3 "$SRCDIR/tests/xfs_dbcheck.py" --image "$loop" --map "$T/part.map" --device /dev/sda1 \
	--offset $((2048 * 512)) --manifest "$T/part.json" || fail "part: xfs_dbcheck"
losetup -d "$loop"
rm -f "$img"
fi

# 10. mutations: damaged metadata must give a clean exit, never a crash
#     or a hang (xfs_fuzz.py; a sanitizer build makes this stronger)
if want fuzz; then
img=$T/fuzz.img
truncate -s 320M "$img"
mkfs.xfs -q -f -b size=1024 -m rmapbt=1 "$img"
mount -o loop "$img" "$MNT"
python3 "$ORACLE/tagtree.py" gen --profile small --manifest "$T/fuzz.json" "$MNT" >/dev/null
EXTENTS=1500 xfs_extras "$MNT"
many_entries "$MNT/huge-dir" 3000
umount "$MNT"
"$BMAPGEN" "$img" >"$T/fuzz.map" 2>/dev/null
python3 "$SRCDIR/tests/xfs_fuzz.py" "$img" "$T/fuzz.map" "$BMAPGEN" ${FUZZ_RUNS:-60} 1 ||
	fail "fuzz"
rm -f "$img"
fi

# 11. names: a block directory whose ".." entry names a file, and an
#     entry renamed to hold a '/' (xfs_db; the name fails the block's
#     verifier, so its CRC is left bad): reported, not followed or mapped
#     ("fi/e1" in /d would print as a file of a directory /d/fi)
if want names; then
img=$T/names.img
truncate -s 32M "$img"
TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f "$img"
mount -o loop "$img" "$MNT"
mkdir "$MNT/d"
for i in $(seq 20); do echo "$i" > "$MNT/d/file$i"; done
echo victim > "$MNT/victim"
victim=$(stat -c %i "$MNT/victim")
umount "$MNT"
"$BMAPGEN" "$img" >/dev/null 2>&1 || fail "names: the clean image does not map cleanly"
cp "$img" "$T/dotdot.img"
xfs_db -x -c "path /d" -c "dblock 0" -c "write bu[1].inumber $victim" "$T/dotdot.img" >/dev/null 2>&1
rc=0; "$BMAPGEN" "$T/dotdot.img" >/dev/null 2>"$T/dotdot.err" || rc=$?
[ $rc = 1 ] && grep -q "/d: entry \"..\" names inode $victim, not the directory's parent" "$T/dotdot.err" &&
	echo "   names: a '..' naming a file reported" || fail "names: '..' naming a file (exit $rc)"
cp "$img" "$T/slash.img"
xfs_db -x -c "path /d" -c "dblock 0" -c 'write -c bu[2].name "fi/e1"' "$T/slash.img" >/dev/null 2>&1
rc=0; "$BMAPGEN" "$T/slash.img" >"$T/slash.map" 2>"$T/slash.err" || rc=$?
[ $rc = 1 ] && grep -q "with '/' or NUL in its name: not mapped" "$T/slash.err" &&
	! grep -q "/d/fi/e1" "$T/slash.map" &&
	echo "   names: a name holding '/' reported, not mapped" || fail "names: '/' in a name (exit $rc)"
rm -f "$img" "$T/dotdot.img" "$T/slash.img"
fi

[ $failed -eq 0 ] && echo "PASS"
exit $failed
