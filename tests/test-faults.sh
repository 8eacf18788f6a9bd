#!/bin/bash
# Faults and the read-only guarantee (issue 9):
#  - I/O errors on chosen metadata blocks (nbdkit's ddrescue filter over
#    NBD): a message naming the offset, the rest mapped, exit status 1;
#  - random I/O errors (nbdkit's error filter): never a crash, every
#    non-zero exit explained;
#  - a truncated image: what is there is mapped, the rest reported;
#  - images are byte-identical after mapping; a 0444 image maps as an
#    unprivileged user;
#  - a FIFO as the image, a file named like an NBD URI, a signature at
#    the end of a small volume.
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
cd "$T"
fail=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }
xz -dc "$SRCDIR/tests/images/demo.img.xz" > demo.img
part=$((2048 * 512))
# /boot's directory block, from debugfs
dd if=demo.img of=fs.img bs=512 skip=2048 count=24576 status=none
bs=$(dumpe2fs -h fs.img 2>/dev/null | awk '/^Block size/ {print $3}')
rootblk=$(debugfs -R "blocks /boot" fs.img 2>/dev/null | awk '{print $1}')
rootoff=$((part + rootblk * bs))
printf '# Mapfile\n0x0 +\n0x%x 0x%x +\n0x%x 0x%x -\n0x%x 0x%x +\n' \
	0 $rootoff $rootoff $bs $((rootoff + bs)) $((16 * 1024 * 1024 - rootoff - bs)) > bad.map
nbdkit -U - --filter=ddrescue file file=demo.img ddrescue-mapfile=bad.map \
	--run "'$BMAPGEN' \"\$uri\" > io.map 2> io.err"; st=$?
[ $st = 1 ] && ok "unreadable /boot directory: exit 1" || bad "exit $st"
grep -q "offset 0x$(printf %x $((rootoff - part)))" io.err && ok "message names the offset" ||
	{ bad "offset 0x$(printf %x $((rootoff - part))) not in the message"; cat io.err; }
grep -q " p /dev/sda1$" io.map && grep -q "<superblock>$" io.map && grep -q " f /dev/sda1 /etc/fstab$" io.map &&
	ok "rest of the image still mapped" || { bad "rest not mapped"; cat io.err; }

# random read errors: 20% of requests fail
for i in 1 2 3 4 5; do
	nbdkit -U - --filter=error file file=demo.img error-pread-rate=20% \
		--run "'$BMAPGEN' \"\$uri\" > r.map 2> r.err"; st=$?
	if [ $st -gt 2 ] || grep -q "Sanitizer\|runtime error" r.err; then
		bad "random errors run $i: exit $st"; cat r.err
	elif [ $st != 0 ] && ! [ -s r.err ]; then
		bad "random errors run $i: exit $st without a message"
	fi
done
ok "random I/O errors: no crash, exits explained"

# truncated: the image ends in the middle of the partition
cp demo.img short.img
truncate -s 6M short.img
"$BMAPGEN" short.img > short.map 2> short.err; st=$?
[ $st = 1 ] && ok "truncated image: exit 1" || { bad "truncated exit $st"; cat short.err; }
grep -q "past the end\|clipped\|beyond" short.err && ok "truncation reported" || { bad "truncation not reported"; cat short.err; }
grep -q " m /dev/sda <gpt header>$" short.map && grep -q " p /dev/sda1$" short.map &&
	ok "what is there is mapped" || bad "truncated: nothing mapped"

# read-only: hashes before and after, with every input kind
mkdir -p tree && seq 1 5000 > tree/f
mkntfs -q -F -Q ntfs.img 16M >/dev/null 2>&1 || truncate -s 16M ntfs.img
truncate -s 64M xfs.img && mkfs.xfs -q -f xfs.img 2>/dev/null
truncate -s 64M btrfs.img && mkfs.btrfs -q -f --rootdir tree btrfs.img >/dev/null 2>&1
before=$(sha256sum demo.img ntfs.img xfs.img btrfs.img short.img)
for f in demo.img ntfs.img xfs.img btrfs.img short.img; do "$BMAPGEN" "$f" > /dev/null 2>&1; done
"$BMAPGEN" check demo.img > /dev/null 2>&1
"$BMAPGEN" -f json demo.img > /dev/null 2>&1
after=$(sha256sum demo.img ntfs.img xfs.img btrfs.img short.img)
[ "$before" = "$after" ] && ok "images unchanged after mapping" || bad "an image changed"

# unprivileged, on a read-only file
cp demo.img ro.img && chmod 0444 ro.img
"$BMAPGEN" ro.img > root.map 2>/dev/null
setpriv --reuid=nobody --regid=nogroup --clear-groups "$BMAPGEN" ro.img > user.map 2> user.err; st=$?
[ $st = 0 ] && cmp -s root.map user.map && ok "0444 image as user nobody" ||
	{ bad "as nobody: exit $st"; cat user.err; }
# Inputs that are not images: a FIFO is refused at once (open() used to
# wait for a writer); a file whose name starts with "nbd+" is a file,
# not an NBD URI (only a scheme followed by :// is one)
mkfifo fifo
st=0; timeout 20 "$BMAPGEN" fifo > /dev/null 2> fifo.err || st=$?
[ $st = 2 ] && grep -q "fifo is not a regular file or block device" fifo.err &&
	ok "FIFO named as the image: refused" || { bad "FIFO image: exit $st"; cat fifo.err; }
cp demo.img nbd+demo.img
st=0; "$BMAPGEN" nbd+demo.img > plus.map 2> plus.err || st=$?
[ $st = 0 ] && cmp -s plus.map root.map && ok "a file named nbd+demo.img is a file" ||
	{ bad "nbd+demo.img: exit $st"; cat plus.err; }
# libblkid looks at the end of a volume too, for signatures it keeps
# there: on a volume of 1 to 2 MiB its last MiB was never copied to it
# (Intel Matrix RAID: the signature 1 KiB before the end; blkid -p says
# isw_raid_member)
for kib in 1536 2560; do
	truncate -s ${kib}K isw$kib.img
	printf 'Intel Raid ISM Cfg Sig. ' | dd of=isw$kib.img bs=1 seek=$((kib * 1024 - 1024)) conv=notrunc status=none
	st=0; "$BMAPGEN" isw$kib.img > /dev/null 2> isw.err || st=$?
	[ $st = 1 ] && grep -q "contains isw_raid_member, which bmapgen does not map" isw.err &&
		ok "$kib KiB volume with a signature at its end: named" ||
		{ bad "$kib KiB isw: exit $st"; cat isw.err; }
done
echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
