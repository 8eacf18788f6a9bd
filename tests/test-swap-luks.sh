#!/bin/bash
# Linux swap (mkswap), BitLocker (a synthesised Windows 7 header), LUKS1
# and LUKS2 (cryptsetup luksFormat on plain files: no device-mapper
# needed) and damaged variants.  Expected offsets come from the tools
# that wrote them (mkswap's size, cryptsetup luksDump) or the documented
# layout, not from bmapgen.
#
# SPDX-License-Identifier: GPL-2.0-or-later
set -u
: "${BMAPGEN:?}"

T=$(mktemp -d /tmp/bmapgen-swapluks.XXXXXX)
trap 'rm -rf "$T"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }
hex() { printf %x "$1"; }

# expect NAME MAP LINE...: each line must be in the map.
expect() {
	local name=$1 map=$2
	shift 2
	for l in "$@"; do
		grep -qxF "$l" "$map" || { fail "$name: missing line '$l'"; cat "$map"; }
	done
}

# bmapgen IMG > MAP; status must be WANT (0 clean, 1 warned).
map() {
	"$BMAPGEN" -v "$1" >"$2" 2>"$2.err"
	local rc=$?
	[ "$rc" = "$3" ] || { fail "$1: exit status $rc, want $3"; cat "$2.err"; }
}

# Swap: 10 MiB file, 4 KiB pages.
if command -v mkswap >/dev/null; then
	truncate -s 10M "$T/swap.img"
	mkswap "$T/swap.img" >/dev/null 2>&1 || fail mkswap
	map "$T/swap.img" "$T/swap.map" 0
	expect swap "$T/swap.map" "1 0 1000 m /dev/sda <swap header>" \
		"1 1000 a00000 m /dev/sda <swap area>"
	# A truncated swap area is mapped to the end, with a warning.
	head -c 4M "$T/swap.img" >"$T/swapcut.img"
	map "$T/swapcut.img" "$T/swapcut.map" 1
	expect swapcut "$T/swapcut.map" "1 1000 400000 m /dev/sda <swap area>"
	# Holding a hibernation image: the kernel writes "S1SUSPEND" and
	# its NUL over the magic (kernel/power/swap.c); still a swap area,
	# said with -v.
	cp "$T/swap.img" "$T/hib.img"
	printf 'S1SUSPEND\0' | dd of="$T/hib.img" bs=1 seek=4086 conv=notrunc 2>/dev/null
	map "$T/hib.img" "$T/hib.map" 0
	expect hibernation "$T/hib.map" "1 1000 a00000 m /dev/sda <swap area>"
	grep -q "holds a hibernation image" "$T/hib.map.err" || fail "swap: hibernation image not noted"
else
	echo "swap: SKIP (no mkswap)"
fi

# BitLocker (Windows 7 layout), synthesised from the documented header
# fields (libbde's format notes): boot sector with the BitLocker GUID and
# three FVE metadata block offsets, blocks that agree, a volume header
# copy of 16 sectors after block 1.  64 MiB, sparse.
python3 - "$T/bde.img" <<'EOF2'
import struct, sys
M = 1 << 20
f = open(sys.argv[1], "wb")
f.truncate(64 * M)
offs = [33 * M, 34 * M, 35 * M]
vh = offs[0] + 65536
boot = bytearray(512)
boot[0:3] = b"\xeb\x58\x90"
boot[3:11] = b"-FVE-FS-"
struct.pack_into("<HB", boot, 11, 512, 8)
boot[0xA0:0xB0] = bytes.fromhex("3bd66749292ed84a8399f6a339e3d001")
struct.pack_into("<3Q", boot, 0xB0, *offs)
boot[510:512] = b"\x55\xaa"
f.write(boot)
blk = bytearray(64 + 48)
blk[0:8] = b"-FVE-FS-"
struct.pack_into("<HH", blk, 8, 58, 2)
struct.pack_into("<Q", blk, 16, 64 * M)
struct.pack_into("<I", blk, 28, 16)
struct.pack_into("<4Q", blk, 32, offs[0], offs[1], offs[2], vh)
struct.pack_into("<III", blk, 64, 48, 1, 48)
for o in offs:
    f.seek(o)
    f.write(blk)
EOF2
map "$T/bde.img" "$T/bde.map" 0
expect bitlocker "$T/bde.map" \
	"1 0 2000 m /dev/sda <bitlocker boot sectors>" \
	"1 2000 2100000 m /dev/sda <encrypted payload>" \
	"1 2100000 2110000 m /dev/sda <bitlocker metadata>" \
	"1 2110000 2112000 m /dev/sda <bitlocker volume header>" \
	"1 2112000 2200000 m /dev/sda <encrypted payload>" \
	"1 2200000 2210000 m /dev/sda <bitlocker metadata>" \
	"1 2310000 4000000 m /dev/sda <encrypted payload>"
"$BMAPGEN" "$T/bde.img" 2>"$T/bde.quiet" >/dev/null
[ -s "$T/bde.quiet" ] && fail "bitlocker: stderr not empty without -v"
# Encrypted "used disk space only" (encrypt on write): another identifier
# GUID in the boot sector, the same layout (it was taken for Vista's)
cp "$T/bde.img" "$T/bdeeow.img"
printf '\x3b\x4d\xa8\x92\x80\xdd\x0e\x4d\x9e\x4e\xb1\xe3\x28\x4e\xae\xd8' |
	dd of="$T/bdeeow.img" bs=1 seek=160 conv=notrunc 2>/dev/null
map "$T/bdeeow.img" "$T/bdeeow.map" 0
cmp -s "$T/bde.map" "$T/bdeeow.map" || fail "bitlocker used-space-only: mapped differently"

# BitLocker, Windows Vista layout: NTFS-like boot sector ("\xeb\x52\x90",
# 4 KiB clusters) whose MFT-mirror field holds the cluster of FVE metadata
# block 1; version-1 blocks list all three offsets.  The first 16 sectors
# stay plain and Vista reserves 16 KiB per block.
python3 - "$T/bdev.img" <<'EOF2'
import struct, sys
M = 1 << 20
f = open(sys.argv[1], "wb")
f.truncate(64 * M)
offs = [33 * M, 34 * M, 35 * M]
boot = bytearray(512)
boot[0:3] = b"\xeb\x52\x90"
boot[3:11] = b"-FVE-FS-"
struct.pack_into("<HB", boot, 11, 512, 8)
struct.pack_into("<QQQ", boot, 40, 64 * M // 512 - 1, 4, offs[0] // 4096)
boot[510:512] = b"\x55\xaa"
f.write(boot)
blk = bytearray(64 + 48)
blk[0:8] = b"-FVE-FS-"
struct.pack_into("<HHHH", blk, 8, 0, 1, 4, 4)
struct.pack_into("<3Q", blk, 32, *offs)
struct.pack_into("<III", blk, 64, 48, 1, 48)
for o in offs:
    f.seek(o)
    f.write(blk)
EOF2
map "$T/bdev.img" "$T/bdev.map" 0
expect "bitlocker vista" "$T/bdev.map" \
	"1 0 2000 m /dev/sda <bitlocker boot sectors>" \
	"1 2000 2100000 m /dev/sda <encrypted payload>" \
	"1 2100000 2104000 m /dev/sda <bitlocker metadata>" \
	"1 2104000 2200000 m /dev/sda <encrypted payload>" \
	"1 2200000 2204000 m /dev/sda <bitlocker metadata>" \
	"1 2204000 2300000 m /dev/sda <encrypted payload>" \
	"1 2300000 2304000 m /dev/sda <bitlocker metadata>" \
	"1 2304000 4000000 m /dev/sda <encrypted payload>"
# A Vista header naming a cluster without a metadata block: a warning.
python3 -c "
import sys; f = open(sys.argv[1], 'r+b'); f.seek(56); f.write((7).to_bytes(8, 'little'))" "$T/bdev.img"
"$BMAPGEN" "$T/bdev.img" >/dev/null 2>"$T/bdev.err"; st=$?
[ $st = 1 ] && grep -q "Vista.*offset 0x38\|offset 0x38.*Vista" "$T/bdev.err" ||
	fail "bitlocker vista, bad cluster: exit $st, $(cat "$T/bdev.err")"

if ! command -v cryptsetup >/dev/null; then
	echo "luks: SKIP (no cryptsetup)"
	exit $status
fi
head -c 32 /dev/urandom >"$T/key"
fmt() { # TYPE IMG: fast key derivation, a plain file, no device-mapper
	truncate -s 20M "$2"
	cryptsetup luksFormat --type "$1" -q --key-file "$T/key" \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$2" >/dev/null 2>&1 ||
		fail "luksFormat $1"
}
size=$((20 << 20))

# LUKS2: header + secondary copy, key-slot area, payload to the end.
fmt luks2 "$T/l2.img"
cryptsetup luksDump "$T/l2.img" >"$T/l2.dump"
hdr=$(sed -n 's/^Metadata area:[[:space:]]*\([0-9]*\) \[bytes\].*/\1/p' "$T/l2.dump")
ks=$(sed -n 's/^Keyslots area:[[:space:]]*\([0-9]*\) \[bytes\].*/\1/p' "$T/l2.dump")
off=$(sed -n 's/^[[:space:]]*offset: \([0-9]*\) \[bytes\].*/\1/p' "$T/l2.dump" | head -1)
if [ -z "$hdr" ] || [ -z "$ks" ] || [ -z "$off" ]; then
	fail "cannot read luksDump output"
	cat "$T/l2.dump"
else
	map "$T/l2.img" "$T/l2.map" 0
	expect luks2 "$T/l2.map" \
		"1 0 $(hex $((2 * hdr))) m /dev/sda <luks header>" \
		"1 $(hex $((2 * hdr))) $(hex $((2 * hdr + ks))) m /dev/sda <luks keyslots>" \
		"1 $(hex "$off") $(hex $size) m /dev/sda <encrypted payload>"
	grep -q "does not decrypt" "$T/l2.map.err" || fail "luks2: no -v note"
	# A clean volume gives no warning without -v.
	"$BMAPGEN" "$T/l2.img" 2>"$T/l2.quiet" >/dev/null
	[ -s "$T/l2.quiet" ] && fail "luks2: stderr not empty without -v"
	# Damaged primary JSON area: the secondary header is used, warned.
	cp "$T/l2.img" "$T/l2bad.img"
	printf X | dd of="$T/l2bad.img" bs=1 seek=5000 conv=notrunc 2>/dev/null
	map "$T/l2bad.img" "$T/l2bad.map" 1
	grep -q "secondary" "$T/l2bad.map.err" || fail "luks2: damage not reported"
	expect luks2bad "$T/l2bad.map" \
		"1 $(hex "$off") $(hex $size) m /dev/sda <encrypted payload>"
	# A segment size that does not parse, in both copies (checksums
	# made good): reported, and the volume is then not taken as
	# understood: bmaptool output copies its (ciphertext) blocks.
	cp "$T/l2.img" "$T/l2size.img"
	head -c 1048576 /dev/urandom | dd of="$T/l2size.img" bs=1 seek="$off" conv=notrunc 2>/dev/null
	python3 - "$T/l2size.img" "$hdr" <<'PY'
import hashlib, sys
hs = int(sys.argv[2])
with open(sys.argv[1], 'r+b') as f:
    for base in (0, hs):
        f.seek(base)
        h = bytearray(f.read(hs))
        i = h.find(b'"size":"dynamic"')
        assert i > 0
        h[i:i + 16] = b'"size":"dynamix"'
        h[448:512] = bytes(64)
        h[448:480] = hashlib.sha256(bytes(h)).digest()
        f.seek(base)
        f.write(h)
PY
	map "$T/l2size.img" "$T/l2size.map" 1
	grep -q "segment 0 has no valid offset/size" "$T/l2size.map.err" ||
		fail "luks2: bad segment size not reported"
	"$BMAPGEN" -f bmaptool "$T/l2size.img" 2>/dev/null |
		python3 -c '
import re, sys
first, last = int(sys.argv[1]) // 4096, (int(sys.argv[1]) + 1048576) // 4096 - 1
r = [tuple(int(x) for x in m.split("-")) if "-" in m else (int(m), int(m))
     for m in re.findall(r"<Range[^>]*> *([0-9-]+) *</Range>", sys.stdin.read())]
sys.exit(0 if any(a <= first and last <= b for a, b in r) else 1)' "$off" ||
		fail "luks2: bad segment size: bmaptool output does not copy the ciphertext"
fi

# LUKS1: payload offset in sectors, key material offsets in sectors.
fmt luks1 "$T/l1.img"
cryptsetup luksDump "$T/l1.img" >"$T/l1.dump"
poff=$(sed -n 's/^Payload offset:[[:space:]]*\([0-9]*\).*/\1/p' "$T/l1.dump")
k0=$(sed -n 's/^[[:space:]]*Key material offset:[[:space:]]*\([0-9]*\).*/\1/p' "$T/l1.dump" | head -1)
if [ -z "$poff" ] || [ -z "$k0" ]; then
	fail "cannot read luksDump output (LUKS1)"
else
	map "$T/l1.img" "$T/l1.map" 0
	expect luks1 "$T/l1.map" \
		"1 0 $(hex $((k0 * 512))) m /dev/sda <luks header>" \
		"1 $(hex $((poff * 512))) $(hex $size) m /dev/sda <encrypted payload>"
	grep -q "^1 $(hex $((k0 * 512))) [0-9a-f]* m /dev/sda <luks keyslots>$" "$T/l1.map" ||
		fail "luks1: key slots not mapped from $(hex $((k0 * 512)))"
fi

exit $status
