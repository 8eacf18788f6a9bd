#!/bin/bash
# qcow2 input, against QEMU's own reader (qemu-img):
#  - images made by `qemu-img convert -O qcow2` of a GPT+ext4 disk (v3,
#    v2 (compat=0.10), compressed with deflate and zstd, extended L2
#    entries, 512-byte and 2 MiB clusters): the guest bytes bmapgen reads
#    equal the raw image (tests/diskcat), and the map equals the raw
#    image's map;
#  - backing chains (raw <- qcow2 <- qcow2) written by `qemu-img convert
#    -B` with relative backing names, run from another directory, and a
#    backing file shorter than the overlay: guest bytes equal
#    `qemu-img convert -O raw` of the top, maps equal the raw's;
#  - --input-format=raw maps the qcow2 file itself;
#  - a backing loop, a missing backing file and damaged headers and
#    tables fail cleanly (exit 1 or 2, no crash); a FIFO named as the
#    backing file is not opened, nor a block device named by an image
#    file (as root: one named by a qcow2 image on a loop device is).
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
DISKCAT=${DISKCAT:-${BUILDDIR:-build}/tests/diskcat}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
command -v qemu-img >/dev/null || { echo "SKIP - no qemu-img"; exit 77; }
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }

mkdir -p tree/d
head -c 3000000 /dev/urandom > tree/random
seq 1 200000 > tree/d/seq             # compressible
for i in $(seq 1 300); do echo "$i" > "tree/d/f$i"; done
mke2fs -q -F -F -t ext4 -d tree fs.img 40M > /dev/null
truncate -s 48M raw.img
sfdisk -q raw.img <<SF
label: gpt
start=2048, size=81920
SF
dd if=fs.img of=raw.img bs=1M seek=1 conv=notrunc status=none
"$BMAPGEN" raw.img > raw.map

same() { # name image reference-raw reference-map
	if "$DISKCAT" "$2" | cmp -s - "$3"; then ok "$1: guest bytes"; else bad "$1: guest bytes differ"; fi
	local st=0
	"$BMAPGEN" "$2" > "$2.map" 2> "$2.err" || st=$?
	if [ $st = 0 ] && cmp -s "$2.map" "$4"; then ok "$1: map equals raw map"
	else bad "$1: map differs from the raw image's (exit $st)"; head -3 "$2.err"; fi
}

n=0
for o in "" "-o compat=0.10" "-c" "-c -o compression_type=zstd" \
	"-o extended_l2=on" "-c -o extended_l2=on,cluster_size=128k" \
	"-o cluster_size=512" "-o cluster_size=2M"; do
	n=$((n + 1))
	qemu-img convert -O qcow2 $o raw.img q$n.qcow2
	same "convert $o" q$n.qcow2 raw.img raw.map
done
"$BMAPGEN" -f json q3.qcow2 > q3.json
grep -q '"input_format":"qcow2"' q3.json && ok "json input_format" || bad "json does not say qcow2"

# --- backing chains with relative names, modified through a loop mount
mkdir -p imgs other
cp fs.img imgs/base.img                          # raw base: the fs alone
cp fs.img v1.img
mkdir mnt
mount -o loop v1.img mnt
head -c 500000 /dev/urandom > mnt/new1; rm mnt/d/f7; echo changed > mnt/d/f8
umount mnt
cp v1.img v2.img
mount -o loop v2.img mnt
head -c 700000 /dev/urandom > mnt/new2; mkdir mnt/newdir; echo x > mnt/newdir/y
umount mnt
(cd imgs && qemu-img convert -O qcow2 -B base.img -F raw ../v1.img mid.qcow2 &&
	qemu-img convert -O qcow2 -c -B mid.qcow2 -F qcow2 ../v2.img top.qcow2)
qemu-img info imgs/top.qcow2 | grep -q 'backing file: mid.qcow2' ||
	bad "top.qcow2 does not name its backing file relatively"
"$BMAPGEN" v2.img > v2.map
(cd other && DISKCAT_DIR=1 "$DISKCAT" ../imgs/top.qcow2) | cmp -s - v2.img &&
	ok "chain: guest bytes (from another directory)" || bad "chain: guest bytes differ"
qemu-img convert -O raw imgs/top.qcow2 top.raw
cmp -s top.raw v2.img || bad "qemu-img's view of the chain differs from v2.img"
(cd other && "$BMAPGEN" ../imgs/top.qcow2) > top.map
cmp -s top.map v2.map && ok "chain: map equals raw map" || bad "chain: map differs"

# a backing file shorter than the overlay: the rest reads as zeroes
head -c 1000000 /dev/urandom > short.raw
qemu-img create -q -f qcow2 -b short.raw -F raw grown.qcow2 4M
qemu-img convert -O raw grown.qcow2 grown.raw
"$DISKCAT" grown.qcow2 | cmp -s - grown.raw && ok "short backing file" || bad "short backing file"

# zero clusters (v3) and subclusters (extended L2): partial writes and
# write -z over a backing file, through qemu-io
for o in "cluster_size=64k" "extended_l2=on,cluster_size=64k"; do
	rm -f z.qcow2
	qemu-img create -q -f qcow2 -o "$o" -b short.raw -F raw z.qcow2 4M
	qemu-io -f qcow2 -c "write -P 0x11 4k 4k" -c "write -z 64k 8k" \
		-c "write -P 0x22 130k 2k" -c "write -z 256k 64k" \
		-c "write -P 0x33 900k 300k" -c "write -z 960k 4k" z.qcow2 > /dev/null
	qemu-img convert -O raw z.qcow2 z.raw
	"$DISKCAT" z.qcow2 | cmp -s - z.raw && ok "zero (sub)clusters, $o" ||
		bad "zero (sub)clusters, $o: guest bytes differ"
done

# --input-format=raw: the qcow2 file as bytes
"$DISKCAT" --input-format=raw q1.qcow2 | cmp -s - q1.qcow2 && ok "--input-format=raw" ||
	bad "--input-format=raw does not read the file as is"
st=0; "$BMAPGEN" --input-format=qcow2 raw.img > /dev/null 2>&1 || st=$?
[ $st = 2 ] && ok "--input-format=qcow2 on a raw image fails" || bad "forced qcow2 on raw: exit $st"

# --- hostile images
qemu-img create -q -f qcow2 -b loop2.qcow2 -F qcow2 -u loop1.qcow2 1M
qemu-img create -q -f qcow2 -b loop1.qcow2 -F qcow2 -u loop2.qcow2 1M
st=0; "$BMAPGEN" loop1.qcow2 > /dev/null 2> loop.err || st=$?
[ $st = 2 ] && grep -q loop loop.err && ok "backing loop refused" || bad "backing loop: exit $st"
qemu-img create -q -f qcow2 -b missing.img -F raw -u orphan.qcow2 1M
st=0; "$BMAPGEN" orphan.qcow2 > /dev/null 2>&1 || st=$?
[ $st = 2 ] && ok "missing backing file" || bad "missing backing file: exit $st"
# A backing name is the image's word: a FIFO is not opened (open() would
# block), nor a block device named by an image file (a disk of this
# host); a qcow2 image on a block device may have one (an LV chain).
mkfifo fifo
qemu-img create -q -f qcow2 -b fifo -F raw -u fifo.qcow2 1M
st=0; timeout 20 "$BMAPGEN" fifo.qcow2 > /dev/null 2> fifo.err || st=$?
[ $st = 2 ] && grep -q "backing file fifo: not a regular file or block device" fifo.err &&
	ok "FIFO backing file refused" || bad "FIFO backing file: exit $st"
if [ "$(id -u)" = 0 ] && truncate -s 8M bdev.raw && mkfs.vfat bdev.raw > /dev/null &&
	echo hi > hi.txt && MTOOLS_SKIP_CHECK=1 mcopy -i bdev.raw hi.txt ::/HI.TXT &&
	base=$(losetup -f --show bdev.raw); then
	qemu-img create -q -f qcow2 -b "$base" -F raw -u dev.qcow2 8M
	st=0; "$BMAPGEN" dev.qcow2 > /dev/null 2> dev.err || st=$?
	[ $st = 2 ] && grep -q "a block device, named by an image file" dev.err &&
		ok "block-device backing file of an image file refused" ||
		bad "block-device backing of an image file: exit $st"
	truncate -s 1M dev.qcow2 # whole sectors for the loop device
	top=$(losetup -f --show dev.qcow2)
	st=0; "$BMAPGEN" "$top" > dev.map 2> dev.err || st=$?
	[ $st = 0 ] && grep -q " f /dev/sda /HI.TXT$" dev.map &&
		ok "qcow2 on a block device, backed by a block device" ||
		{ bad "qcow2 on a block device: exit $st"; cat dev.err; }
	losetup -d "$top" "$base"
fi
python3 - q3.qcow2 q5.qcow2 "$BMAPGEN" <<'PY' || fail=1
import random, struct, subprocess, sys
rnd = random.Random(7)
crashes = 0
for src in sys.argv[1:3]:
    data = bytearray(open(src, 'rb').read())
    l1 = struct.unpack('>Q', data[40:48])[0]
    for i in range(60):
        d = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            # damage the header, the L1 table or somewhere in the file
            where = rnd.choice([rnd.randrange(0, 112), l1 + rnd.randrange(0, 64),
                                rnd.randrange(0, len(d))])
            d[where] = rnd.randrange(256)
        open('fuzz.qcow2', 'wb').write(d)
        r = subprocess.run([sys.argv[3], 'fuzz.qcow2'], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        if r.returncode not in (0, 1, 2):
            crashes += 1
            open('crash-%d.qcow2' % crashes, 'wb').write(d)
print(('FAIL - %d damaged images crashed bmapgen' % crashes) if crashes
      else 'ok - 120 damaged qcow2 images: no crash')
sys.exit(1 if crashes else 0)
PY
exit $fail
