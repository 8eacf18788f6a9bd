#!/bin/bash
# Ground truth for FAT and exFAT on a GPT disk, built at test time.
#
#   p1  EFI system partition, FAT32, 75 MiB: the "fat" tagged tree
#       (ids from 1) copied with mtools after fragmenting the free space
#   p2  basic data, FAT16, 24 MiB: the "small"-sized subset of a second
#       "fat" tree (ids from 100001)
#   p3  basic data, exFAT, 40 MiB: a third tree (ids from 200001) written
#       through exfat-fuse on a loop device (fsync'ed interleaved appends:
#       FAT-chained files next to NoFatChain ones)
#
# bmapgen's map must pass tagscan for each tree and record-via-NBD for
# the disk (the appliance kernel mounts vfat and exfat); moving p1's
# objects by one sector must make both fail.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C.UTF-8 MTOOLS_SKIP_CHECK=1

img=$T/disk.img
truncate -s 150M "$img"
sgdisk -o -n 1:2048:+75M -t 1:EF00 -n 2:0:+24M -t 2:0700 -n 3:0:+40M -t 3:0700 \
	"$img" >/dev/null
# where sgdisk put them (its own view, not bmapgen's)
part() { sgdisk -i "$1" "$img" | sed -n "s/^$2 sector: \([0-9]*\).*/\1/p"; }
p1s=$(part 1 First); p1e=$(part 1 Last)
p2s=$(part 2 First); p2e=$(part 2 Last)
p3s=$(part 3 First); p3e=$(part 3 Last)
echo "p1 $p1s-$p1e, p2 $p2s-$p2e, p3 $p3s-$p3e"

# mtools stores characters outside the BMP as one wrong UTF-16 unit:
# rename them in the tree and the manifest first (mtools' limit).
bmp_only() { # manifest tree
	python3 - "$1" "$2" <<'PY'
import json, os, sys
man, tree = sys.argv[1], sys.argv[2]
m = json.load(open(man))
bmp = lambda p: "".join(c if ord(c) < 0x10000 else "_" for c in p)
for f in m["files"]:
    for p in f["paths"]:
        if bmp(p) != p:
            os.rename(tree + p, tree + bmp(p))
    f["paths"] = [bmp(p) for p in f["paths"]]
    f["path"] = bmp(f["path"])
json.dump(m, open(man, "w"))
PY
}
# Fill the filesystem with small files and delete every other one, so
# the tree copied afterwards is fragmented.
fragment() { # mtools-image n size
	mkdir -p "$T/fill"
	python3 -c 'import sys
for i in range(1, int(sys.argv[2]) + 1):
    open("%s/z%d" % (sys.argv[1], i), "wb").write(bytes(int(sys.argv[3])))' \
		"$T/fill" "$2" "$3"
	mmd -i "$1" ::/fill
	mcopy -Q -i "$1" "$T"/fill/z* ::/fill/
	for i in $(seq 1 2 "$2"); do echo "::/fill/z$i"; done | xargs mdel -i "$1"
	rm -rf "$T/fill"
}

# p1: FAT32 ESP
python3 "$ORACLE/tagtree.py" gen --profile fat --seed 11 --no-fsync \
	--manifest "$T/p1.json" "$T/tree1" >/dev/null
bmp_only "$T/p1.json" "$T/tree1"
mkfs.fat -F 32 -n ESP --offset "$p1s" "$img" $(((p1e - p1s + 1) / 2)) >/dev/null 2>&1
fragment "$img@@$((p1s * 512))" 300 1024
mcopy -s -Q -i "$img@@$((p1s * 512))" "$T"/tree1/* ::/
rm -rf "$T/tree1"

# p2: FAT16, a subset of the tree that fits
python3 "$ORACLE/tagtree.py" gen --profile fat --seed 12 --first-id 100001 \
	--no-fsync --manifest "$T/p2.json" "$T/tree2" >/dev/null
bmp_only "$T/p2.json" "$T/tree2"
python3 - "$T/p2.json" "$T/tree2" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1]))
keep = []
for f in m["files"]:
    p = f["path"]
    if p.startswith("/big/") or (p.startswith("/many/f") and int(p[7:]) >= 500):
        os.remove(sys.argv[2] + p)
    else:
        keep.append(f)
m["files"] = keep
json.dump(m, open(sys.argv[1], "w"))
PY
mkfs.fat -F 16 -s 2 --offset "$p2s" "$img" $(((p2e - p2s + 1) / 2)) >/dev/null 2>&1
fragment "$img@@$((p2s * 512))" 200 1024
mcopy -s -Q -i "$img@@$((p2s * 512))" "$T"/tree2/* ::/
rm -rf "$T/tree2"

# p3: exFAT through FUSE on a loop device of the partition's bytes
loop=$(losetup -f --show -o $((p3s * 512)) --sizelimit $(((p3e - p3s + 1) * 512)) "$img")
LOOPS+=("$loop")
mkfs.exfat "$loop" >/dev/null
mkdir "$T/mnt"
mount.exfat-fuse "$loop" "$T/mnt" 2>/dev/null
MOUNTS+=("$T/mnt")
python3 "$ORACLE/tagtree.py" gen --profile fat --seed 13 --first-id 200001 \
	--manifest "$T/p3.json" "$T/mnt" >/dev/null
umount "$T/mnt"
MOUNTS=()
losetup -d "$loop"
LOOPS=()

run_bmapgen "$T/disk.map" "$img"
tagscan_pass gpt-fat32 --manifest "$T/p1.json" --map "$T/disk.map" \
	--device /dev/sda1 "$img"
tagscan_pass gpt-fat16 --manifest "$T/p2.json" --map "$T/disk.map" \
	--device /dev/sda2 "$img"
tagscan_pass gpt-exfat --manifest "$T/p3.json" --map "$T/disk.map" \
	--device /dev/sda3 "$img"
nbdrecord_pass gpt-fat --map "$T/disk.map" --max-objects 300 "$img"

break_map "$T/disk.map" /dev/sda1 "$T/broken.map"
tagscan_fails gpt-fat32-broken --manifest "$T/p1.json" --map "$T/broken.map" \
	--device /dev/sda1 "$img"
nbdrecord_replay_fails gpt-fat "$T/broken.map" "$img"
oracle_done
