#!/bin/bash
# FAT12 (floppy), FAT16, FAT32 (GPT disk with an ESP) and exFAT images
# with content-tagged trees, checked by the tag oracle (tagscan.py); the
# FAT metadata layout is checked against mtools' minfo.  Images are built
# at test time: FAT with mtools (no mount needed), exFAT with mkfs.exfat
# and a FUSE mount (exfat-fuse; skipped without root, /dev/fuse or a
# loop device).
#
# mtools is also what makes the FAT images fragmented: the disk is first
# filled with small files, every other one is deleted, and the tree is
# copied into the holes.
#
# SPDX-License-Identifier: GPL-2.0-or-later
set -u
: "${BMAPGEN:?}" "${SRCDIR:?}"

for t in mkfs.fat mcopy mmd mdel minfo sgdisk python3; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done

export LC_ALL=C.UTF-8 MTOOLS_SKIP_CHECK=1
T=$(mktemp -d /tmp/bmapgen-fat.XXXXXX)
MNT=
LOOP=
cleanup() {
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }
ORACLE="$SRCDIR/tests/oracle"

# The tagged tree.  mtools stores a character outside the BMP as one
# (wrong) UTF-16 unit, so such names are renamed first: that is mtools'
# limit, not ours (the exFAT test keeps them).
python3 "$ORACLE/tagtree.py" gen --no-fsync --manifest "$T/all.json" \
	--profile fat "$T/tree" >/dev/null || { echo "tagtree failed"; exit 1; }
python3 - "$T" <<'EOF'
import json, os, sys, shutil
T = sys.argv[1]
m = json.load(open(T + "/all.json"))
def bmp(p):
    return "".join(c if ord(c) < 0x10000 else "_" for c in p)
for f in m["files"]:
    new = [bmp(p) for p in f["paths"]]
    for old, n in zip(f["paths"], new):
        if old != n:
            os.rename(T + "/tree" + old, T + "/tree" + n)
    f["paths"] = new
    f["path"] = bmp(f["path"])
json.dump(m, open(T + "/fat.json", "w"))
# A floppy-sized subset: no multi-MiB files, 100 of the many entries,
# one of the fragmented files.
shutil.copytree(T + "/tree", T + "/small")
keep = []
for f in m["files"]:
    p = f["path"]
    drop = (p.startswith("/big/") or p.startswith("/frag/file-b") or
            p.startswith("/frag/file-c") or
            (p.startswith("/many/f") and int(p[7:]) >= 100))
    if drop:
        os.remove(T + "/small" + p)
    else:
        keep.append(f)
m["files"] = keep
json.dump(m, open(T + "/small.json", "w"))
EOF
[ $? = 0 ] || { echo "manifest rewrite failed"; exit 1; }

# fragment IMG@@OFF N SIZE: fill with N files of SIZE bytes, delete every
# other one, so that later files are split over the holes.
fragment() {
	mkdir -p "$T/fill"
	python3 -c 'import sys
for i in range(1, int(sys.argv[2]) + 1):
    open("%s/z%d" % (sys.argv[1], i), "wb").write(bytes(int(sys.argv[3])))' \
		"$T/fill" "$2" "$3"
	mmd -i "$1" ::/fill && mcopy -Q -i "$1" "$T"/fill/z* ::/fill/ &&
		for i in $(seq 1 2 "$2"); do echo "::/fill/z$i"; done |
		xargs mdel -i "$1"
	rm -rf "$T/fill"
}

# minfo field
mi() { sed -n "s/^$2[:=] *\([0-9]*\).*/\1/p" "$1" | head -1; }

# check_meta NAME MAP DEV MINFO-OUTPUT PART-OFFSET: the FATs and the
# FAT12/16 root directory where the boot sector (read by mtools) says.
check_meta() {
	local name=$1 map=$2 dev=$3 info=$4 base=$5
	local bps res nfats fatsz roots
	bps=$(mi "$info" "sector size")
	res=$(mi "$info" "reserved (boot) sectors")
	nfats=$(mi "$info" "fats")
	fatsz=$(mi "$info" "sectors per fat")
	[ -z "$fatsz" ] || [ "$fatsz" = 0 ] && fatsz=$(mi "$info" "Big fatlen")
	roots=$(mi "$info" "max available root directory slots")
	local fs=$((base + res * bps)) fe=$((base + (res + nfats * fatsz) * bps))
	grep -q "^1 $(printf %x $fs) $(printf %x $fe) m $dev <fat table>$" "$map" ||
		fail "$name: no <fat table> line at $(printf %x $fs)-$(printf %x $fe)"
	grep -q "^1 $(printf %x $base) $(printf %x $((base + bps))) m $dev <fat boot sector>$" "$map" ||
		fail "$name: no <fat boot sector> line"
	if [ -n "$roots" ] && [ "$roots" != 0 ]; then
		local re=$((fe + (roots * 32 + bps - 1) / bps * bps))
		grep -q "^1 $(printf %x $fe) $(printf %x $re) d $dev /$" "$map" ||
			fail "$name: fixed root directory not mapped as d / at $(printf %x $fe)-$(printf %x $re)"
	else
		grep -q " d $dev /$" "$map" || fail "$name: no d / line"
	fi
}

# run NAME IMG MANIFEST DEV [bmapgen status expected: 0]
run() {
	local name=$1 img=$2 man=$3 dev=$4
	"$BMAPGEN" "$img" >"$T/$name.map" 2>"$T/$name.err"
	local rc=$?
	if [ $rc != 0 ]; then
		fail "$name: bmapgen exit status $rc"
		cat "$T/$name.err"
	fi
	if ! python3 "$ORACLE/tagscan.py" --manifest "$man" --map "$T/$name.map" \
		--device "$dev" "$img" >"$T/$name.scan"; then
		fail "$name: tag check"
		tail -25 "$T/$name.scan"
	else
		echo "$name ($SECONDS s): $(grep -E 'recall' "$T/$name.scan" | tr -s ' ')," \
			"fragments of the most fragmented file:" \
			"$(awk '$4 == "f" {print $6}' "$T/$name.map" | sort | uniq -c | sort -rn | awk 'NR==1{print $1}')"
	fi
}

# FAT12: a 1.44 MB floppy.
img=$T/floppy.img
mkfs.fat -C -F 12 "$img" 1440 >/dev/null
fragment "$img" 60 1024
mcopy -s -Q -i "$img" "$T"/small/* ::/ || fail "mcopy floppy"
minfo -i "$img" :: >"$T/floppy.info"
run fat12 "$img" "$T/small.json" /dev/sda
check_meta fat12 "$T/fat12.map" /dev/sda "$T/floppy.info" 0

# FAT16, 60 MB, 2 KiB clusters.
img=$T/fat16.img
truncate -s 60M "$img"
mkfs.fat -F 16 -s 4 "$img" >/dev/null
fragment "$img" 400 2048
mcopy -s -Q -i "$img" "$T"/tree/* ::/ || fail "mcopy fat16"
minfo -i "$img" :: >"$T/fat16.info"
run fat16 "$img" "$T/fat.json" /dev/sda
check_meta fat16 "$T/fat16.map" /dev/sda "$T/fat16.info" 0

# FAT32: a GPT disk whose partition 1 is an EFI system partition.
img=$T/esp.img
truncate -s 80M "$img"
sgdisk -o -n 1:2048:+75M -t 1:EF00 "$img" >/dev/null || fail "sgdisk"
mkfs.fat -F 32 -n ESP --offset 2048 "$img" $((75 * 1024)) >/dev/null 2>&1
fragment "$img@@1M" 400 512
mcopy -s -Q -i "$img@@1M" "$T"/tree/* ::/ || fail "mcopy esp"
minfo -i "$img@@1M" :: >"$T/esp.info"
run fat32 "$img" "$T/fat.json" /dev/sda1
check_meta fat32 "$T/fat32.map" /dev/sda1 "$T/esp.info" $((1 << 20))
for o in "fat fsinfo" "fat backup boot sector"; do
	grep -q " m /dev/sda1 <$o>$" "$T/fat32.map" || fail "fat32: no <$o>"
done

# Damage: a cluster chain that loops, one that leaves the data area and
# a subdirectory pointing at its parent.  bmapgen must finish, map the
# rest, warn about each and exit 1.  The FAT16 layout is computed here
# from the boot sector, independently of bmapgen.
img=$T/bad.img
mkfs.fat -C -F 16 "$img" 20480 >/dev/null
head -c 5000 /dev/urandom >"$T/f5000"
mcopy -Q -i "$img" "$T/f5000" ::/loop.bin && mcopy -Q -i "$img" "$T/f5000" ::/out.bin &&
	mcopy -Q -i "$img" "$T/f5000" ::/good.bin && mmd -i "$img" ::/a && mmd -i "$img" ::/a/b &&
	mcopy -Q -i "$img" "$T/f5000" "::/Long File Name.txt" ||
	fail "mtools (damage image)"
python3 - "$img" <<'EOF2'
import struct, sys
f = open(sys.argv[1], "r+b")
b = f.read(512)
bps, spc, res, nfats, roots = struct.unpack_from("<HBHBH", b, 11)
fatsz = struct.unpack_from("<H", b, 22)[0]
root = (res + nfats * fatsz) * bps
data = root + (roots * 32 + bps - 1) // bps * bps
cs = bps * spc
def dirent(off, n, name):
    f.seek(off)
    d = f.read(n * 32)
    for i in range(0, len(d), 32):
        if d[i:i + 11] == name:
            return off + i, struct.unpack_from("<H", d, i + 26)[0]
    raise SystemExit("no entry %r" % name)
def setfat(c, v):
    for k in range(nfats):
        f.seek((res + k * fatsz) * bps + 2 * c)
        f.write(struct.pack("<H", v))
def getfat(c):
    f.seek(res * bps + 2 * c)
    return struct.unpack("<H", f.read(2))[0]
_, c = dirent(root, roots, b"LOOP    BIN")
last = c
while getfat(last) < 0xFFF8:
    last = getfat(last)
setfat(last, c)                      # loop back to the first cluster
_, c = dirent(root, roots, b"OUT     BIN")
setfat(c, 0xFFF0)                    # past the last cluster
_, a = dirent(root, roots, b"A          ")
boff, _ = dirent(data + (a - 2) * cs, cs // 32, b"B          ")
f.seek(boff + 26)
f.write(struct.pack("<H", a))        # /a/b starts where /a does
soff, _ = dirent(root, roots, b"LONGFI~1TXT")
f.seek(soff - 32 + 13)               # long name checksum no longer matches
c = f.read(1)[0]
f.seek(soff - 32 + 13)
f.write(bytes([c ^ 0x55]))
EOF2
"$BMAPGEN" "$img" >"$T/bad.map" 2>"$T/bad.err"
rc=$?
[ $rc = 1 ] || fail "damaged FAT: exit status $rc, want 1"
for w in "/loop.bin: cluster .* already in use" "/out.bin: cluster chain leaves the data area" \
	"/a/b: directory starts at cluster .*directory cycle"; do
	grep -q "$w" "$T/bad.err" || fail "damaged FAT: no warning like '$w'"
done
grep -q " f /dev/sda /good.bin$" "$T/bad.map" || fail "damaged FAT: /good.bin not mapped"
grep -q " f /dev/sda /LONGFI~1.TXT$" "$T/bad.map" ||
	fail "damaged FAT: orphaned long name not replaced by the 8.3 name"
[ "$(grep -c ' f /dev/sda /loop.bin$' "$T/bad.map")" = 1 ] || fail "damaged FAT: /loop.bin not mapped once"
echo "damaged fat16 ($SECONDS s): $(wc -l <"$T/bad.err") warnings"

# exFAT through a FUSE mount (tagtree writes with fsync between small
# appends: fragmented files use FAT chains, the others NoFatChain).
if command -v mkfs.exfat >/dev/null && command -v mount.exfat-fuse >/dev/null &&
	[ "$(id -u)" = 0 ] && [ -c /dev/fuse ]; then
	img=$T/exfat.img
	truncate -s 64M "$img"
	mkfs.exfat "$img" >/dev/null
	LOOP=$(losetup -f --show "$img" 2>/dev/null)
	mkdir -p "$T/mnt"
	if [ -n "$LOOP" ] && mount.exfat-fuse "$LOOP" "$T/mnt" 2>/dev/null; then
		MNT=$T/mnt
		python3 "$ORACLE/tagtree.py" gen --manifest "$T/exfat.json" \
			--profile fat "$T/mnt" >/dev/null || fail "tagtree on exfat"
		echo dots > "$T/mnt/zq" # renamed ".." on disk below
		umount "$MNT" && MNT=
		losetup -d "$LOOP" && LOOP=
		run exfat "$img" "$T/exfat.json" /dev/sda
		# Metadata where dump.exfat (exfatprogs) says it is.
		dump.exfat "$img" >"$T/exfat.dump" 2>/dev/null
		dx() { sed -n "s/^$1:[[:space:]]*\([0-9]*\).*/\1/p" "$T/exfat.dump" | head -1; }
		bps=$((1 << $(dx "Sector Size Bits")))
		cs=$((bps << $(dx "Sector per Cluster bits")))
		heap=$(($(dx "Cluster Heap Offset (sector offset)") * bps))
		fo=$(($(dx "FAT Offset(sector offset)") * bps))
		fl=$(($(dx "FAT Length(sectors)") * bps))
		clus() { # first-cluster bytes -> "start end" in hex
			printf '%x %x' $((heap + ($1 - 2) * cs)) \
				$((heap + ($1 - 2) * cs + ($2 + cs - 1) / cs * cs))
		}
		for l in "1 0 $(printf %x $((12 * bps))) m /dev/sda <exfat boot region>" \
			"1 $(printf %x $((12 * bps))) $(printf %x $((24 * bps))) m /dev/sda <exfat backup boot region>" \
			"1 $(printf %x $fo) $(printf %x $((fo + fl))) m /dev/sda <exfat fat table>" \
			"1 $(clus "$(dx "Bitmap start cluster")" "$(dx "Bitmap size")") m /dev/sda <exfat allocation bitmap>" \
			"1 $(clus "$(dx "Upcase table start cluster")" "$(dx "Upcase table size")") m /dev/sda <exfat upcase table>"; do
			grep -qxF "$l" "$T/exfat.map" || fail "exfat: no line '$l'"
		done
		grep -q " d /dev/sda /$" "$T/exfat.map" || fail "exfat: no d /"
		# The entry set of /zq renamed "..", its checksum made good
		# (exFAT spec 6.3.3: EntrySetChecksum over the set, bytes 2-3
		# skipped): not a usable name, so not mapped (a path "/.."
		# would point elsewhere).
		cp "$img" "$T/dots.img"
		python3 - "$T/dots.img" <<'PY' || fail "exfat: no entry set for /zq"
import mmap, sys
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    i = m.find(b"\xc1\x00z\x00q\x00")
    assert i > 0 and i % 32 == 0 and m[i - 64] == 0x85
    m[i + 2:i + 6] = b".\x00.\x00"
    s, n = i - 64, 32 * (m[i - 63] + 1)
    c = 0
    for k in range(n):
        if k not in (2, 3):
            c = (((c << 15) | (c >> 1)) + m[s + k]) & 0xFFFF
    m[s + 2:s + 4] = c.to_bytes(2, "little")
PY
		st=0; "$BMAPGEN" "$T/dots.img" >"$T/dots.map" 2>"$T/dots.err" || st=$?
		if [ $st = 1 ] && grep -q "invalid file name" "$T/dots.err" &&
			! grep -q " /\.\.\$" "$T/dots.map"; then
			echo "exfat: an entry named '..' is reported, not mapped"
		else
			fail "exfat: an entry named '..': exit $st"
		fi
	else
		echo "exfat: SKIP (cannot loop/FUSE mount)"
		[ -n "$LOOP" ] && losetup -d "$LOOP" && LOOP=
	fi
else
	echo "exfat: SKIP (needs exfatprogs, exfat-fuse, root, /dev/fuse)"
fi

exit $status
