#!/bin/bash
# Batch mode on a directory of test images with a failing one among them:
# exit status, summary, one output per image equal to a single run's,
# skipping of up-to-date outputs, --force, and --shard partitioning.
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }
mkdir "$T/imgs"
xz -dc "$SRCDIR/tests/images/demo.img.xz" > "$T/imgs/demo.img"
truncate -s 4M "$T/imgs/blank.img"
mke2fs -q -F -t ext2 "$T/imgs/ext2.img" 2M >/dev/null 2>&1
ln -s /nonexistent/image "$T/imgs/broken.img"
"$BMAPGEN" --batch -j 2 -o "$T/out" "$T/imgs" 2> "$T/err"; st=$?
[ $st = 2 ] && ok "exit 2 with a failing image" || bad "exit $st"
grep -q "4 images (4 mapped, 0 up to date).* 1 failed" "$T/err" && ok "summary" || { bad "summary"; cat "$T/err"; }
grep -q "broken.img" "$T/err" && ok "failing image named" || bad "failing image not named"
for i in demo blank ext2; do
	"$BMAPGEN" "$T/imgs/$i.img" > "$T/$i.single" 2>/dev/null
	cmp -s "$T/$i.single" "$T/out/$i.img.bmap" && ok "$i output" || bad "$i output differs"
done
[ ! -e "$T/out/broken.img.bmap" ] && ok "no output for the failure" || bad "output for failure"
"$BMAPGEN" --batch -o "$T/out" "$T/imgs" 2> "$T/err2"
grep -q "3 up to date" "$T/err2" && ok "up-to-date outputs skipped" || { bad "skip"; cat "$T/err2"; }
touch "$T/imgs/blank.img"
"$BMAPGEN" --batch -o "$T/out" "$T/imgs" 2> "$T/err3"
grep -q "(2 mapped, 2 up to date)" "$T/err3" && ok "touched image remapped" || { bad "remap"; cat "$T/err3"; }
"$BMAPGEN" --batch --force -o "$T/out" "$T/imgs" 2> "$T/err4"
grep -q "(4 mapped, 0 up to date)" "$T/err4" && ok "--force" || { bad "--force"; cat "$T/err4"; }
total=0
for s in 1 2 3; do
	"$BMAPGEN" --batch --force --shard $s/3 -o "$T/shard$s" "$T/imgs" 2>/dev/null
	n=$(ls "$T/shard$s" 2>/dev/null | grep -c '\.bmap$')
	total=$((total + n))
done
[ $total = 3 ] && ok "shards partition the images" || bad "shards hold $total maps, not 3"
# Another file put in an image's place with the same size and mtime
# (cp -p of a copy): mapped again, not taken as up to date
cp "$T/imgs/blank.img" "$T/blank2.img"
mkfs.vfat "$T/blank2.img" > /dev/null 2>&1
touch -r "$T/imgs/blank.img" "$T/blank2.img"
mv "$T/blank2.img" "$T/imgs/blank.img"
"$BMAPGEN" --batch -o "$T/out" "$T/imgs" 2> "$T/err5"
grep -q "(2 mapped, 2 up to date)" "$T/err5" && grep -q " m /dev/sda <fat" "$T/out/blank.img.bmap" &&
	ok "an image replaced by a file of its size and mtime remapped" || { bad "replaced image"; cat "$T/err5"; }
# With -o, two images of one name in different directories would share
# an output file: both reported, neither mapped
mkdir -p "$T/x" "$T/y"
cp "$T/imgs/ext2.img" "$T/x/disk.img"
cp "$T/imgs/blank.img" "$T/y/disk.img"
"$BMAPGEN" --batch -o "$T/out2" "$T/x/disk.img" "$T/y/disk.img" 2> "$T/err6"; st=$?
[ $st = 2 ] && [ "$(grep -c "would also write" "$T/err6")" = 2 ] && [ ! -e "$T/out2/disk.img.bmap" ] &&
	ok "one output name for two images refused" || { bad "output name clash: exit $st"; cat "$T/err6"; }
# ... in every shard, whichever shard each image falls in
sh=0
for s in 1 2; do
	"$BMAPGEN" --batch --shard $s/2 -o "$T/out3" "$T/x/disk.img" "$T/y/disk.img" 2>> "$T/err7" || sh=$((sh + 1))
done
[ $sh -ge 1 ] && [ ! -e "$T/out3/disk.img.bmap" ] && ok "a clash refused across shards" ||
	{ bad "a clash across shards mapped"; cat "$T/err7"; }
# one image named twice is mapped once, no clash
"$BMAPGEN" --batch -o "$T/out4" "$T/x/disk.img" "$T/x/disk.img" 2> "$T/err8"; st=$?
[ $st = 0 ] && grep -q "1 images (1 mapped" "$T/err8" && ok "an image named twice mapped once" ||
	{ bad "an image named twice: exit $st"; cat "$T/err8"; }
# a directory's images: "data.tmpl.img" is one, a leftover temporary
# output "disk.img.bmap.tmpAbC123" is not
mkdir "$T/t2"
cp "$T/imgs/ext2.img" "$T/t2/data.tmpl.img"
echo partial > "$T/t2/disk.img.bmap.tmpAbC123"
"$BMAPGEN" --batch -o "$T/out5" "$T/t2" 2> "$T/err9"
grep -q "1 images (1 mapped" "$T/err9" && [ -e "$T/out5/data.tmpl.img.bmap" ] &&
	ok "a directory's images: .tmpl kept, temporary outputs skipped" ||
	{ bad "directory expansion"; cat "$T/err9"; }
echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
