#!/bin/sh
# Make the demo image that `make run` maps: a 16 MiB GPT disk with an
# ext4 partition holding a few files and directories.  Deterministic:
# fixed UUIDs, hash seed, timestamps and contents.
# usage: make-demo.sh OUTPUT.img
set -eu
out=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/etc" "$tmp/root/boot/grub" "$tmp/root/home/alice"
printf 'UUID=5d1b2c3e-1111-4a2b-9c3d-0123456789ab / ext4 defaults 0 1\n' > "$tmp/root/etc/fstab"
printf 'demo\n' > "$tmp/root/etc/hostname"
seq 1 40000 > "$tmp/root/boot/vmlinuz-demo"
seq 1 3000 | sed 's/^/menuentry /' > "$tmp/root/boot/grub/grub.cfg"
seq 1 200 | sed 's/^/note /' > "$tmp/root/home/alice/notes.txt"
ln -s ../boot/vmlinuz-demo "$tmp/root/etc/kernel"
find "$tmp/root" -exec touch -h -d @1700000000 {} +
export E2FSPROGS_FAKE_TIME=1700000000
mke2fs -q -F -t ext4 -b 1024 -U 5d1b2c3e-1111-4a2b-9c3d-0123456789ab \
	-E hash_seed=6a0e5f2c-2222-4b3c-8d4e-0123456789ab,root_owner=0:0 \
	-d "$tmp/root" "$tmp/fs.img" 12M >/dev/null
rm -f "$out"
truncate -s 16M "$out"
sfdisk -q "$out" >/dev/null <<SF
label: gpt
label-id: 0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0
start=2048, size=24576, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-4333-8444-555555555555, name=root
SF
dd if="$tmp/fs.img" of="$out" bs=512 seek=2048 conv=notrunc status=none
