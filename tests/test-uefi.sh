#!/bin/bash
# A UEFI-style disk: GPT with an EFI System Partition (FAT32, filled with
# mtools), an ext4 root and swap.  The whole disk must map cleanly: tag
# recall 100 % and nothing misattributed on both filesystems, the swap
# area named, and `check --uefi` clean.
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
O=$SRCDIR/tests/oracle
python3 "$O/tagtree.py" gen --no-fsync --profile fat --seed 11 --first-id 1 --manifest esp.json esp >/dev/null
python3 "$O/tagtree.py" gen --no-fsync --profile small --seed 12 --first-id 100001 --manifest root.json root >/dev/null
# ESP: 64 MiB FAT32, files copied with mtools (no vfat in the host kernel)
truncate -s 64M esp.img && mkfs.vfat -F 32 -n ESP esp.img >/dev/null
(cd esp && MTOOLS_SKIP_CHECK=1 mcopy -s -i ../esp.img ./* ::/)
mke2fs -q -F -t ext4 -d root root.img 48M
truncate -s 16M swap.img && mkswap -q swap.img
truncate -s 140M disk.img
sfdisk -q disk.img <<SF
label: gpt
start=2048, size=131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP
start=133120, size=98304, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
start=231424, size=32768, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name=swap
SF
dd if=esp.img of=disk.img bs=512 seek=2048 conv=notrunc status=none
dd if=root.img of=disk.img bs=512 seek=133120 conv=notrunc status=none
dd if=swap.img of=disk.img bs=512 seek=231424 conv=notrunc status=none
"$BMAPGEN" disk.img > disk.map 2> disk.err; st=$?
[ $st = 0 ] && echo "ok - mapped cleanly" || { echo "FAIL - exit $st"; cat disk.err; fail=1; }
python3 "$O/tagscan.py" --manifest esp.json --map disk.map --device /dev/sda1 disk.img > esp.scan &&
	echo "ok - ESP: $(grep recall esp.scan | xargs)" || { echo "FAIL - ESP"; cat esp.scan; fail=1; }
python3 "$O/tagscan.py" --manifest root.json --map disk.map --device /dev/sda2 disk.img > root.scan &&
	echo "ok - root: $(grep recall root.scan | xargs)" || { echo "FAIL - root"; cat root.scan; fail=1; }
for o in "m /dev/sda3 <swap header>" "m /dev/sda3 <swap area>" "m /dev/sda1 <fat table>" "d /dev/sda1 /" "m /dev/sda2 <inode table>"; do
	grep -q " $o\$" disk.map && echo "ok - $o" || { echo "FAIL - no $o"; fail=1; }
done
"$BMAPGEN" check --uefi disk.img > check.out; st=$?
[ $st = 0 ] && echo "ok - check --uefi clean" || { echo "FAIL - check exit $st"; cat check.out; fail=1; }
echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
