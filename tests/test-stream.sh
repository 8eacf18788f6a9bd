#!/bin/bash
# --stream (issue 8): JSON Lines written while mapping, memory bounded by
# the tree's depth, not by its number of files.
#  1. the streamed map, normalised (per object and roles the union of its
#     ranges; tests/stream_compare.py), says exactly what the normal
#     -f jsonl map says, on ext4 (tagtree's default tree: hard links,
#     sparse files, symlinks, odd names, a 40-deep tree), XFS and btrfs
#     (the same tree copied in), FAT32 and exFAT (the fat profile), NTFS
#     (the ntfs profile, plus an alternate data stream on a hard-linked
#     file); and on two flat ext4 images of 2 000 and 40 000 small files;
#  2. peak RSS: --stream mapping 40 000 files needs at most 2 MiB more
#     than mapping 2 000, while the normal mode needs over 4 MiB more
#     (so the measurement can tell the difference);
#  3. --stream is refused without -f jsonl and with --batch/check/lookup,
#     and -o FILE still appears only when complete.
# XFS, exFAT (exfat-fuse) and NTFS (ntfs-3g) need root and FUSE for their
# mounts and are skipped without them.  About 30-45 s.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
SRCDIR=${SRCDIR:-.}
T=$(mktemp -d)
MNT=$T/mnt
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
	mountpoint -q "$T/fast" 2>/dev/null && umount "$T/fast"
	[ -n "${LOOP:-}" ] && losetup -d "$LOOP"
	rm -rf "$T"
}
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# Under AddressSanitizer freed memory sits in a quarantine: RSS would not
# show what the program keeps.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0

# same IMAGE NAME: normal and streamed maps of IMAGE agree.
same() {
	"$BMAPGEN" -f jsonl "$1" > "$T/$2.n.jsonl" || [ $? = 1 ]
	local rc=0
	"$BMAPGEN" --stream -f jsonl "$1" > "$T/$2.s.jsonl" || rc=$?
	[ $rc -le 1 ] || fail "$2: --stream exit status $rc"
	if python3 "$SRCDIR/tests/stream_compare.py" "$T/$2.n.jsonl" \
		"$T/$2.s.jsonl" > "$T/$2.cmp"; then
		echo "ok: $2: $(tail -1 "$T/$2.cmp")"
	else
		cat "$T/$2.cmp"
		fail "$2: streamed map differs from the normal one"
	fi
}

# The comparison must be able to fail: drop one range, move another.
python3 "$SRCDIR/tests/oracle/tagtree.py" gen --manifest "$T/tt.json" \
	--no-fsync "$T/tt" > /dev/null
mke2fs -q -F -t ext4 -b 1024 -d "$T/tt" "$T/tt-ext4.img" 64M
same "$T/tt-ext4.img" ext4-tagtree
python3 - "$T/ext4-tagtree.s.jsonl" "$T/bad1.jsonl" "$T/bad2.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines(True)
i = max(k for k, l in enumerate(lines) if '"type":"f"' in l)
open(sys.argv[2], 'w').writelines(lines[:i] + lines[i + 1:])
r = json.loads(lines[i]); r['ranges'][0]['start'] += 512
open(sys.argv[3], 'w').writelines(lines[:i] + [json.dumps(r) + '\n'] + lines[i + 1:])
PY
for b in bad1 bad2; do
	if python3 "$SRCDIR/tests/stream_compare.py" "$T/ext4-tagtree.n.jsonl" \
		"$T/$b.jsonl" > /dev/null; then
		fail "stream_compare.py misses a broken stream ($b)"
	fi
done

# btrfs and FAT need no mount.
if command -v mkfs.btrfs > /dev/null; then
	truncate -s 256M "$T/tt-btrfs.img"
	mkfs.btrfs -q -f --rootdir "$T/tt" "$T/tt-btrfs.img" > /dev/null
	same "$T/tt-btrfs.img" btrfs-tagtree
fi
if command -v mkfs.fat > /dev/null && command -v mcopy > /dev/null; then
	python3 "$SRCDIR/tests/oracle/tagtree.py" gen --profile fat \
		--manifest "$T/ttf.json" --no-fsync "$T/ttf" > /dev/null
	truncate -s 64M "$T/tt-fat.img"
	mkfs.fat -F 32 "$T/tt-fat.img" > /dev/null
	mcopy -s -Q -i "$T/tt-fat.img" "$T"/ttf/* ::/
	same "$T/tt-fat.img" fat32-tagtree
fi
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$MNT"
	if command -v mkfs.xfs > /dev/null; then
		truncate -s 300M "$T/tt-xfs.img"
		mkfs.xfs -q -f "$T/tt-xfs.img"
		mount -o loop "$T/tt-xfs.img" "$MNT"
		cp -a "$T/tt/." "$MNT/"
		umount "$MNT"
		same "$T/tt-xfs.img" xfs-tagtree
	fi
	# exFAT: the kernel here has no exfat driver; exfat-fuse on a loop
	# device (as in test-fat.sh).
	if command -v mkfs.exfat > /dev/null &&
		command -v mount.exfat-fuse > /dev/null && [ -c /dev/fuse ]; then
		truncate -s 64M "$T/tt-exfat.img"
		mkfs.exfat "$T/tt-exfat.img" > /dev/null
		LOOP=$(losetup -f --show "$T/tt-exfat.img" 2> /dev/null || true)
		if [ -n "$LOOP" ] && mount.exfat-fuse "$LOOP" "$MNT" 2> /dev/null; then
			cp -r "$T/ttf/." "$MNT/"
			umount "$MNT"
			losetup -d "$LOOP" && LOOP=
			same "$T/tt-exfat.img" exfat-tagtree
		else
			[ -n "$LOOP" ] && losetup -d "$LOOP" && LOOP=
			echo "SKIP: exFAT (cannot loop/FUSE mount)"
		fi
	fi
	# NTFS through ntfs-3g (FUSE): hard links, alternate data streams.
	if command -v mkntfs > /dev/null && command -v ntfs-3g > /dev/null &&
		[ -c /dev/fuse ]; then
		python3 "$SRCDIR/tests/oracle/tagtree.py" gen --profile ntfs \
			--manifest "$T/ttn.json" --no-fsync "$T/ttn" > /dev/null
		truncate -s 96M "$T/tt-ntfs.img"
		mkntfs -q -F -Q "$T/tt-ntfs.img" > /dev/null 2>&1
		if ntfs-3g "$T/tt-ntfs.img" "$MNT" 2> /dev/null; then
			cp -a "$T/ttn/." "$MNT/"
			echo stream > "$MNT/ads"
			setfattr -n user.s1 -v "$(head -c 3000 /dev/zero | tr '\0' s)" \
				"$MNT/ads" 2> /dev/null || true
			ln "$MNT/ads" "$MNT/ads-link"
			umount "$MNT"
			same "$T/tt-ntfs.img" ntfs-tagtree
		else
			echo "SKIP: NTFS (cannot FUSE mount)"
		fi
	fi
else
	echo "SKIP: XFS and exFAT need root for loop mounts"
fi

# Flat trees of N small files (50 per directory, 3 levels).
gen() {
	python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, 'a%d' % (i // 2500), 'b%d' % (i // 50 % 50))
    if i % 50 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'file-with-a-longish-name-%06d' % i), 'wb') as f:
        f.write(b'x' * (i * 7919 % 3000 + 1))
PY
}
# rss ARGS...: peak RSS (KiB) of bmapgen ARGS, output to /dev/null.
# GNU time forks bmapgen from its own small process: a child forked from
# a big one (python, bash) would inherit that one's peak.
# The walkers' fixed-size read caches (16 MiB each: ext inode tables,
# XFS pages) fill as images grow until they reach their bound; cap them
# at 1 MiB so what is measured is the memory that grows per file.
rss() {
	local rc=0
	BMAPGEN_CACHE_MIB=1 /usr/bin/time -f %M -o "$T/rss" "$BMAPGEN" "$@" > /dev/null || rc=$?
	[ $rc -le 1 ] || fail "bmapgen $*: exit status $rc"
	tail -1 "$T/rss"
}
if [ ! -x /usr/bin/time ]; then
	echo "SKIP: the RSS check needs GNU time (/usr/bin/time)"
	exit $((FAILS != 0))
fi
# Creating and deleting 40 000 files on a disk filesystem shared with
# other jobs can take minutes: use a tmpfs when we may mount one.
F=$T
mkdir -p "$T/fast"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1g tmpfs "$T/fast"; then
	F=$T/fast
fi
declare -A RS RN
for n in 2000 40000; do
	gen "$F/flat$n" $n
	mke2fs -q -F -t ext4 -b 1024 -N $((n * 5 / 4 + 1000)) -d "$F/flat$n" \
		"$F/flat$n.img" $((n * 3 / 1024 + 40))M
	rm -rf "$F/flat$n"
	same "$F/flat$n.img" "ext4-flat$n"
	RS[$n]=$(rss --stream -f jsonl "$F/flat$n.img")
	RN[$n]=$(rss -f jsonl "$F/flat$n.img")
	echo "ext4 $n files: peak RSS --stream ${RS[$n]} KiB, normal ${RN[$n]} KiB"
	rm -f "$F/flat$n.img" "$T/ext4-flat$n".*
done
[ $((RS[40000] - RS[2000])) -le 2048 ] ||
	fail "--stream peak RSS grows with the file count: ${RS[2000]} -> ${RS[40000]} KiB"
[ $((RN[40000] - RN[2000])) -gt 4096 ] ||
	fail "normal mode RSS does not grow (${RN[2000]} -> ${RN[40000]} KiB): the RSS check proves nothing"

# Refusals, and -o.
for args in "--stream $T/tt-ext4.img" "--stream -f json $T/tt-ext4.img" \
	"--stream -f virt-bmap $T/tt-ext4.img" \
	"--batch --stream -f jsonl $T/tt-ext4.img" \
	"check --stream $T/tt-ext4.img" "lookup --stream $T/tt-ext4.img 0"; do
	rc=0
	# shellcheck disable=SC2086
	"$BMAPGEN" $args > /dev/null 2> "$T/err" || rc=$?
	if ! { [ $rc = 2 ] && grep -q -- --stream "$T/err"; }; then
		fail "bmapgen $args: exit $rc, $(cat "$T/err")"
	fi
done
"$BMAPGEN" --stream -f jsonl -o "$T/out.jsonl" "$T/tt-ext4.img"
cmp -s "$T/out.jsonl" "$T/ext4-tagtree.s.jsonl" || fail "-o differs from stdout"
ls "$T"/out.jsonl.tmp* > /dev/null 2>&1 && fail "-o left a temporary file"
rc=0
"$BMAPGEN" --stream -f jsonl -o "$T/none.jsonl" "$T/missing.img" 2> /dev/null || rc=$?
if ! { [ $rc = 2 ] && [ ! -e "$T/none.jsonl" ] &&
	! ls "$T"/none.jsonl.tmp* > /dev/null 2>&1; }; then
	fail "-o with an unreadable image: exit $rc or files left"
fi

if [ $FAILS -ne 0 ]; then
	echo "$FAILS failure(s)"
	exit 1
fi
echo "all stream tests passed"
