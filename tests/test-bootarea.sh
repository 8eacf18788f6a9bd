#!/bin/bash
# Named boot areas: GRUB's boot.img and core.img (made with the real
# grub-mkimage) after an MBR and in a GPT BIOS boot partition, another
# loader's code and post-MBR gap, and none on a zeroed MBR.  Expected
# offsets come from the files written, not from bmapgen.
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
has() { # map line-regex description
	if grep -q "$2" "$1"; then echo "ok - $3"; else echo "FAIL - $3: no /$2/ in $1"; fail=1; fi
}
hasnt() {
	if grep -q "$2" "$1"; then echo "FAIL - $3"; fail=1; else echo "ok - $3"; fi
}
used_end() { # file start: end offset of the last non-zero 512-byte sector, + start
	python3 -c "
import sys
d = open(sys.argv[1], 'rb').read().rstrip(b'\0')
print('%x' % (int(sys.argv[2]) + (len(d) + 511) // 512 * 512))" "$1" "$2"
}
grub-mkimage -O i386-pc -o core.img -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos part_gpt ext2
boot=/usr/lib/grub/i386-pc/boot.img

# GRUB on an MBR disk: boot.img code in sector 0, core.img from sector 1
truncate -s 8M mbr.img
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q mbr.img
dd if=$boot of=mbr.img bs=440 count=1 conv=notrunc status=none
dd if=core.img of=mbr.img bs=512 seek=1 conv=notrunc status=none
"$BMAPGEN" mbr.img > mbr.map
has mbr.map "^1 0 1b8 m /dev/sda <mbr boot code>$" "boot.img code named"
has mbr.map "^1 200 $(used_end core.img 512) m /dev/sda <grub core.img>$" "core.img after the MBR"

# another loader: code without GRUB's strings, data in sector 5
truncate -s 8M other.img
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q other.img
printf 'LOADER CODE' | dd of=other.img conv=notrunc status=none
printf 'stage2' | dd of=other.img bs=512 seek=5 conv=notrunc status=none
"$BMAPGEN" other.img > other.map
has other.map "^1 200 c00 m /dev/sda <post-mbr gap>$" "post-mbr gap up to its last used sector"
hasnt other.map "grub" "no GRUB names for another loader"

# GRUB on GPT: boot.img in the protective MBR, core.img in the BIOS boot partition
truncate -s 16M gpt.img
printf 'label: gpt\nstart=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\nstart=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' | sfdisk -q gpt.img
dd if=$boot of=gpt.img bs=440 count=1 conv=notrunc status=none
dd if=core.img of=gpt.img bs=512 seek=2048 conv=notrunc status=none
"$BMAPGEN" gpt.img > gpt.map
has gpt.map "^1 0 1b8 m /dev/sda <mbr boot code>$" "boot.img in the protective MBR"
has gpt.map "^1 100000 $(used_end core.img $((2048 * 512))) m /dev/sda1 <grub core.img>$" "core.img in the BIOS boot partition"

# nothing to name
truncate -s 8M zero.img
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q zero.img
"$BMAPGEN" zero.img > zero.map
hasnt zero.map "boot code\|gap\|core.img" "zeroed boot code and gap: nothing named"
echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
