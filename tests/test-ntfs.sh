#!/bin/bash
# NTFS image tests: volumes made with mkntfs and filled through ntfs-3g
# (FUSE), mapped with bmapgen and checked three ways:
#   - tagscan (tests/oracle): every tagged file sector in the image is
#     mapped to the right file, nothing misattributed;
#   - tests/ntfs-check.py: every file's, stream's and directory's runs as
#     ntfsinfo prints them are mapped to it and nothing else is; every
#     cluster in use in $Bitmap is mapped; content markers of resident and
#     non-resident alternate data streams land in the right `f` object;
#   - a few greps for the objects that must be there;
#   - (A only) record-via-NBD, tests/oracle/nbdrecord.py: the reads the
#     libguestfs appliance's ntfs-3g makes for a sample of files and
#     directories must be theirs (about a minute under TCG).
# Images: (A) a bare volume with the tagtree "ntfs" profile plus a
# compressed directory, resident and non-resident ADSs, attribute lists
# (40 streams, 12 long hard-link names), DOS names, symlinks (reparse
# points), a 5000-entry directory; (B) a nearly full volume with a file
# fragmented into an attribute list; (C) a Windows-like MBR disk (System
# Reserved NTFS + C: NTFS); (D) $MFTMirr out of step with $MFT, and a
# truncated volume.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
SRCDIR=${SRCDIR:-.}
BMAPGEN=$(realpath "$BMAPGEN")
# Under ASan: full stacks, so that only the library's own leak on a
# failed mount is suppressed (tests/lsan-ntfs.supp; see tests/lsan.supp),
# and a leak aborts (exit 1 alone would pass for a warning)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0:abort_on_error=1
export LSAN_OPTIONS=suppressions=$(realpath "$(dirname "$0")")/lsan-ntfs.supp
SRCDIR=$(realpath "$SRCDIR")
ORACLE=$SRCDIR/tests/oracle
CHECK=$SRCDIR/tests/ntfs-check.py

if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
	echo "SKIP: needs root and FUSE (ntfs-3g)"; exit 77
fi
for t in mkntfs ntfs-3g ntfsinfo ntfscat sfdisk setfattr; do
	command -v "$t" > /dev/null || { echo "SKIP: no $t"; exit 77; }
done

T=$(mktemp -d)
cleanup() { mountpoint -q "$T/mnt" 2>/dev/null && umount "$T/mnt"; rm -rf "$T"; }
trap cleanup EXIT
cd "$T"
mkdir mnt
fail=0

ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }

mkfs_ntfs() { mkntfs -F -Q -s 512 -c 4096 "$@" > /dev/null 2>&1; }

run_bmapgen() { # map image...; status must be 0
	local map=$1; shift
	local st=0
	"$BMAPGEN" "$@" > "$map" 2> "$map.err" || st=$?
	if [ "$st" != 0 ]; then
		bad "bmapgen $* exited $st:"; cat "$map.err"
	fi
}

list_paths() { (cd mnt && find . -mindepth 1 | sed 's/^\.//') > "$1"; }

# Tagscan: NTFS keeps data of up to ~700 bytes resident in the 1 KiB MFT
# record, so files below one record are checked as inline.
tagscan() { # name manifest map device root image...
	local name=$1 man=$2 map=$3 dev=$4 root=$5; shift 5
	if python3 "$ORACLE/tagscan.py" --inline-max 1024 --manifest "$man" \
		--map "$map" --device "$dev" --root "$root" "$@" > ts.out; then
		ok "$name: tagscan"
	else
		cat ts.out; bad "$name: tagscan"
	fi
}

ntfscheck() { # name args...
	local name=$1; shift
	if python3 "$CHECK" "$@" > nc.out; then
		ok "$name: ntfs-check ($(tail -1 nc.out | sed 's/^ntfs-check: //'))"
	else
		cat nc.out; bad "$name: ntfs-check"
	fi
}

has() { # name map regex
	if grep -qE "$3" "$2"; then ok "$1"; else bad "$1: no /$3/ in map"; fi
}

# --- A: tagged tree, compressed directory, ADS, 5000 entries
truncate -s 192M a.img
mkfs_ntfs -L bmt-a a.img
ntfs-3g a.img mnt
python3 "$ORACLE/tagtree.py" gen --manifest a.json --profile ntfs mnt/tags \
	> /dev/null
mkdir mnt/compressed mnt/ads mnt/ads/dir mnt/dir5000
setfattr -h -v 0x00000800 -n system.ntfs_attrib_be mnt/compressed
python3 - <<'EOF'
import json, os, random
r = random.Random(7)
def rnd(n):
    return bytes(r.getrandbits(8) for _ in range(n))
# compressed: compressible, incompressible, mixed compression units
open("mnt/compressed/text.txt", "wb").write(b"compressible line\n" * 20000)
open("mnt/compressed/random.bin", "wb").write(rnd(150000))
open("mnt/compressed/mixed.bin", "wb").write(b"A" * 70000 + rnd(70000) + b"B" * 70000)
# alternate data streams (ntfs-3g maps user.* xattrs to named $DATA)
markers = {}
def put(path, data, stream=None, marker=None):
    full = "mnt" + path
    if stream is None:
        open(full, "wb").write(data)
    else:
        os.setxattr(full, "user." + stream, data)
    if marker:
        markers[marker] = path + (":" + stream if stream else "")
put("/ads/both-resident", b"DATAMARK-1 small resident data", None, "DATAMARK-1")
put("/ads/both-resident", b"ADSMARK-1 resident stream", "s1", "ADSMARK-1")
put("/ads/big-main", b"DATAMARK-2" + rnd(9000), None, "DATAMARK-2")
put("/ads/big-main", b"ADSMARK-2 resident stream", "s2", "ADSMARK-2")
put("/ads/big-stream", b"DATAMARK-3 resident", None, "DATAMARK-3")
put("/ads/big-stream", b"ADSMARK-3" + rnd(20000), "s3", "ADSMARK-3")
put("/ads/big-stream", b"ADSMARK-4 second resident stream", "str\u00f6m", "ADSMARK-4")
put("/ads/dir", b"ADSMARK-5 stream of a directory", "d5", "ADSMARK-5")
# attribute lists: 40 streams (resident ones end up in extension records)
# and 12 long hard-link names
os.mkdir("mnt/al")
put("/al/many-streams", b"DATAMARK-6" + rnd(10000), None, "DATAMARK-6")
for i in range(40):
    put("/al/many-streams", b"STREAMMARK-%02d" % i + rnd(5000 if i % 2 else 100),
        "stream-%02d" % i, "STREAMMARK-%02d" % i)
open("mnt/al/many-links", "wb").write(rnd(3000))
for i in range(12):
    os.link("mnt/al/many-links", "mnt/al/link-%02d-" % i + "x" * 200)
json.dump(markers, open("markers.json", "w"))
for i in range(5000):
    open("mnt/dir5000/entry-%05d" % i, "wb").write(b"x" * (i % 50))
EOF
# a DOS 8.3 second name (must not show up as a path) and ntfs-3g's
# reparse-point symlinks
echo dos > "mnt/ads/long file name.txt"
setfattr -h -v 'LONGFI~1.TXT' -n system.ntfs_dos_name "mnt/ads/long file name.txt"
ln -s "long file name.txt" mnt/ads/symlink
ln -s dir mnt/ads/dirlink
list_paths a.paths
umount mnt
run_bmapgen a.map a.img
tagscan "A tagtree" a.json a.map /dev/sda /tags a.img
ntfscheck "A" --fs a.img --map a.map --device /dev/sda --paths a.paths \
	--sample 40 --bitmap --content markers.json --image a.img
# every path once more, but only those of the extras (cheap)
grep -v '^/tags/\|^/dir5000/' a.paths > a.extra
ntfscheck "A extras, all paths" --fs a.img --map a.map --device /dev/sda \
	--paths a.extra
n=$(grep '^1 [0-9a-f]* [0-9a-f]* f /dev/sda /dir5000/entry-' a.map |
	awk '{print $6}' | sort -u | wc -l)
[ "$n" = 5000 ] && ok "A 5000 entries mapped" || bad "A 5000 entries: $n"
has "A directory index" a.map ' d /dev/sda /dir5000$'
has "A compressed file" a.map ' f /dev/sda /compressed/mixed.bin$'
has "A reparse point" a.map ' f /dev/sda /ads/symlink$'
for f in /al/many-streams /al/many-links; do
	# (no pipe into grep -q: with pipefail, ntfsinfo's SIGPIPE would fail)
	ntfsinfo -f -F $f a.img > info.txt
	if grep -q 'ATTRIBUTE_LIST' info.txt; then
		ok "A $f has an attribute list"
	else
		bad "A $f has no attribute list (test setup)"
	fi
done
if grep -q 'LONGFI~1' a.map; then bad "A DOS name mapped"; else ok "A DOS name not a path"; fi
for m in '\$MFT' '\$MFTMirr' '\$LogFile' '\$Bitmap' '\$AttrDef' '\$Secure' \
	'\$UpCase' 'boot sector' 'backup boot sector'; do
	has "A <ntfs ${m//\\/}>" a.map " m /dev/sda <ntfs $m>\$"
done

# Record-via-NBD (tests/oracle/nbdrecord.py): the appliance's ntfs-3g
# reads a sample of A (resident files, hard links, streams, an attribute
# list, compressed files, the 5000-entry directory) and every byte it
# reads must be the object's, its directories', metadata, or another
# MFT record in the same 4 KiB page (99.9 %); the object's own MFT record
# must never be another's, and nothing of a file may stay unread.  Then
# maps shifted by 4 KiB, by +-1 KiB, and with only the 1 KiB MFT records
# moved by one record (invisible to the strict figure) must fail on the
# same recording.
shift_map() { # map out bytes [records-only]
	python3 - "$@" <<'EOF'
import sys
src, dst, by, rec = sys.argv[1], sys.argv[2], int(sys.argv[3]), len(sys.argv) > 4
with open(src, "rb") as f, open(dst, "wb") as o:
    for line in f:
        w = line.split(b" ", 5)
        if len(w) >= 5 and w[3] in ((b"f", b"d") if rec else (b"f", b"d", b"m")):
            s, e = int(w[1], 16), int(w[2], 16)
            if not rec or e - s == 1024:
                w[1], w[2] = b"%x" % (s + by), b"%x" % (e + by)
                line = b" ".join(w)
        o.write(line)
EOF
}
also=()
for p in /tags/size-30 /tags/size-512 /tags/links/small-original \
	/tags/many-links-elsewhere/small-link /tags/links/original \
	/tags/links/hardlink-1 /tags/sparse/holes /ads/both-resident \
	/ads/big-main /ads/big-stream /al/many-streams /al/many-links \
	/compressed/mixed.bin /compressed/text.txt /dir5000; do
	also+=(--also "$p")
done
st=0
t0=$SECONDS
python3 "$ORACLE/nbdrecord.py" --keep rec --map a.map --max-objects 60 \
	"${also[@]}" a.img > nbd.out 2>&1 || st=$?
if [ $st = 0 ]; then
	ok "A nbdrecord: $(grep -E '^  (agreement|strict|own MFT|file ranges)' nbd.out |
		tr -s ' ' | tr '\n' ';') ($((SECONDS - t0)) s)"
else
	bad "A nbdrecord: exit $st ($((SECONDS - t0)) s)"
fi
cat nbd.out
if [ -f rec/objects.json ]; then
	for sh in 4096 1024 -1024 1024-records; do
		case $sh in
		*-records) shift_map a.map a-$sh.map "${sh%-records}" records
			what="with only its 1 KiB records shifted by one" ;;
		*) shift_map a.map a-$sh.map "$sh"; what="shifted by $sh bytes" ;;
		esac
		st=0
		python3 "$ORACLE/nbdrecord.py" --replay rec --map a-$sh.map \
			--max-objects 60 "${also[@]}" a.img > nbd-$sh.out 2>&1 || st=$?
		if [ $st = 1 ]; then
			ok "A nbdrecord rejects the map $what: $(grep -E \
				'^  (agreement|strict|own MFT|file ranges)' nbd-$sh.out | tr -s ' ' | tr '\n' ';')"
		else
			bad "A nbdrecord: exit $st on the map $what"
			cat nbd-$sh.out
		fi
	done
fi

# --- B: a file fragmented into more runs than one MFT record holds
truncate -s 32M b.img
mkfs_ntfs b.img
ntfs-3g b.img mnt
python3 - <<'EOF'
import os
os.mkdir("mnt/fill")
for i in range(1600):
    open("mnt/fill/%d" % i, "wb").write(os.urandom(4096))
# fill the rest (1 MiB, then 4 KiB writes: no big free extent left),
# then free every other 4 KiB file: only 4 KiB holes remain
with open("mnt/filler", "wb", buffering=0) as f:
    for n in (1 << 20, 4096):
        try:
            while True:
                f.write(os.urandom(n))
        except OSError:
            pass
for i in range(0, 1600, 2):
    os.unlink("mnt/fill/%d" % i)
with open("mnt/fragmented.bin", "wb") as f:
    f.write(os.urandom(4096 * 760))
EOF
list_paths b.paths
umount mnt
ntfsinfo -f -F /fragmented.bin b.img > info.txt
if grep -q 'ATTRIBUTE_LIST' info.txt; then
	ok "B has an attribute list"
else
	bad "B: the fragmented file has no attribute list (test setup)"
fi
run_bmapgen b.map b.img
ntfscheck "B" --fs b.img --map b.map --device /dev/sda --paths b.paths \
	--sample 50 --bitmap
echo /fragmented.bin > b.one
ntfscheck "B fragmented file" --fs b.img --map b.map --device /dev/sda \
	--paths b.one

# --- C: Windows-like MBR disk: System Reserved (100 MiB) + C:
P1=2048; N1=204800; P2=$((P1 + N1)); N2=$((409600 - 2048))
truncate -s $((P1 * 512 + N1 * 512 + N2 * 512)) c.img
printf 'label: dos\nstart=%d, size=%d, type=7, bootable\nstart=%d, size=%d, type=7\n' \
	$P1 $N1 $P2 $N2 | sfdisk -q c.img
truncate -s $((N1 * 512)) c1.img
truncate -s $((N2 * 512)) c2.img
mkfs_ntfs -L "System Reserved" -p $P1 -H 255 -S 63 c1.img
mkfs_ntfs -L "Windows" -p $P2 -H 255 -S 63 c2.img
ntfs-3g c1.img mnt
mkdir -p mnt/Boot/en-US
head -c 400000 /dev/urandom > mnt/bootmgr
head -c 28000 /dev/urandom > mnt/Boot/BCD
umount mnt
ntfs-3g c2.img mnt
python3 "$ORACLE/tagtree.py" gen --manifest c.json --profile small mnt \
	> /dev/null
list_paths c2.paths
umount mnt
dd if=c1.img of=c.img bs=512 seek=$P1 conv=notrunc,sparse status=none
dd if=c2.img of=c.img bs=512 seek=$P2 conv=notrunc,sparse status=none
run_bmapgen c.map c.img
tagscan "C tagtree on C:" c.json c.map /dev/sda2 / c.img
ntfscheck "C System Reserved" --fs c1.img --offset $((P1 * 512)) \
	--map c.map --device /dev/sda1 --bitmap
ntfscheck "C C:" --fs c2.img --offset $((P2 * 512)) --map c.map \
	--device /dev/sda2 --paths c2.paths --bitmap
has "C bootmgr" c.map ' f /dev/sda1 /bootmgr$'
has "C backup boot sector of C:" c.map ' m /dev/sda2 <ntfs backup boot sector>$'

# --- D: damaged volumes.  (1) a timestamp of $LogFile changed in $MFT
# only, so $MFTMirr no longer matches (as after a crash): libntfs-3g
# refuses it, bmapgen must still map everything, cleanly.  (2) $Volume
# marked dirty: everything mapped, plus the fs-needs-recovery finding.
# (3) truncated: must warn (exit 1), not crash.
cat > damage.py <<'EOF'
import struct, sys
path, rec_no, attr_type, byte = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 16), int(sys.argv[4])
d = bytearray(open(path, "rb").read())
cs = d[13] * struct.unpack_from("<H", d, 11)[0]
rec = struct.unpack_from("<Q", d, 0x30)[0] * cs + rec_no * 1024
off = struct.unpack_from("<H", d, rec + 20)[0]
while True:            # to the attribute, then BYTE of its value
    t, l = struct.unpack_from("<II", d, rec + off)
    if t == attr_type:
        d[rec + off + struct.unpack_from("<H", d, rec + off + 20)[0] + byte] ^= 1
        break
    off += l
open(path, "wb").write(d)
EOF
cp b.img d.img
python3 damage.py d.img 2 10 0        # $LogFile's $STANDARD_INFORMATION
if ntfsinfo -f -m d.img > /dev/null 2>&1; then
	bad "D: libntfs-3g accepts the damaged volume (test setup)"
fi
run_bmapgen d.map d.img
ntfscheck "D mirror mismatch" --fs b.img --map d.map --device /dev/sda \
	--paths b.one --bitmap
cp b.img d2.img
python3 damage.py d2.img 3 70 10      # $VOLUME_INFORMATION flags: dirty
st=0
"$BMAPGEN" d2.img > d2.map 2> d2.err || st=$?
if [ $st = 1 ] && grep -q 'marked dirty' d2.err; then
	ok "D dirty: reported"
else
	bad "D dirty: exit $st"; cat d2.err
fi
ntfscheck "D dirty, mapped all the same" --fs b.img --map d2.map \
	--device /dev/sda --paths b.one --bitmap
head -c 3M b.img > e.img
st=0
"$BMAPGEN" e.img > e.map 2> e.err || st=$?
if [ $st = 1 ] && grep -q 'ntfs' e.err; then
	ok "D truncated: warned"
else
	bad "D truncated: exit $st"; cat e.err
fi

# --- E: a file named "a:b" beside a file a with a stream b (ntfs-3g allows
# ':' in POSIX-namespace names): both are "/a:b", so the name is reported
truncate -s 16M c.img
mkfs_ntfs c.img
ntfs-3g c.img mnt
head -c 9000 /dev/urandom > mnt/a
head -c 9000 /dev/urandom > 'mnt/a:b'
setfattr -n user.b -v "0x$(head -c 5000 /dev/urandom | od -An -tx1 -v | tr -d ' \n')" mnt/a
umount mnt
st=0
"$BMAPGEN" c.img > c.map 2> c.err || st=$?
if [ $st = 1 ] && grep -q "entry \"a:b\" has ':' in its name and the directory has an entry \"a\"" c.err; then
	ok "E: a name holding ':' reported"
else
	bad "E: a name holding ':': exit $st"; cat c.err
fi

exit $fail
