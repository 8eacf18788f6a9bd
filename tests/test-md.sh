#!/bin/bash
# md-RAID tests on the images made by tests/images/mk-md.sh (in the
# libguestfs appliance: this kernel has no md driver).
#
# For each array: bmapgen must map it (without warnings, except the
# degraded one, which must warn about the missing member); the tagged tree
# on the array must be found with 100 % recall and nothing misattributed
# (tests/oracle/tagscan.py, on the array's device), every copy of a
# mirrored sector must be mapped; the array's `l` footprint on each member
# must match the data area mdadm --examine (an independent reader)
# reports.  Then robustness: damaged copies must not crash bmapgen.
# With BM_NBDRECORD=1 also the record-via-NBD oracle (slow).
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
SRCDIR=${SRCDIR:-.}
IMG=$SRCDIR/tests/images
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }

for f in "$IMG"/md-*.img.xz; do
	xz -dc "$f" > "$T/$(basename "$f" .xz)"
done
cd "$T"

# In a 3-member raid5, P = D1 xor D2 repeats a data sector verbatim where
# the other data sector is zero, so tags also appear in parity chunks,
# which belong to no file.  tagscan then reads copies of the raid5 images
# with the parity chunks zeroed (placed by md_check.py from mdadm --examine
# and the textbook left-symmetric rule, independently of bmapgen).
have_mdadm=
command -v mdadm > /dev/null && command -v sfdisk > /dev/null && have_mdadm=1

# set, device, expected exit status, tagscan extra args, copies check,
# parity to blank
while read -r set dev want extra copies blank; do
	imgs=$(ls md-$set.img md-$set-?.img 2>/dev/null || true)
	if [ -z "$imgs" ]; then
		bad "$set: no images"
		continue
	fi
	st=0
	# shellcheck disable=SC2086
	"$BMAPGEN" $imgs > $set.map 2> $set.err || st=$?
	if [ "$want" = 0 ]; then
		if [ $st = 0 ] && [ ! -s $set.err ]; then
			ok "$set: bmapgen exit 0, no warnings"
		else
			bad "$set: bmapgen exit $st"; cat $set.err
		fi
	else
		if [ $st = 1 ] && grep -q "missing (degraded)" $set.err; then
			ok "$set: bmapgen exit 1, degraded array warned"
		else
			bad "$set: bmapgen exit $st, expected 1 and a warning"
			cat $set.err
		fi
	fi
	[ "$extra" = - ] && extra=
	scan=$imgs
	if [ "$blank" = blank ]; then
		if [ -z "$have_mdadm" ]; then
			echo "ok - SKIP $set tags (mdadm or sfdisk not installed)"
			continue
		fi
		scan=
		for i in $imgs; do
			python3 "$SRCDIR/tests/md_check.py" blank-parity "$i" "bl-$i"
			scan="$scan bl-$i"
		done
	fi
	out=
	# shellcheck disable=SC2086
	if out=$(python3 "$SRCDIR/tests/oracle/tagscan.py" --json \
		--manifest "$IMG/md-tree.json" --map $set.map --device "$dev" \
		--root /tree $extra $scan); then
		ok "$set: $dev tags: $(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("recall %s%%, %d ok, %d misattributed, %d copies, %d absent" % (r["recall"], r["ok"], r["misattributed"], r["copies"], r["absent"]))')"
	else
		bad "$set: $dev tags"
		# shellcheck disable=SC2086
		python3 "$SRCDIR/tests/oracle/tagscan.py" --manifest "$IMG/md-tree.json" \
			--map $set.map --device "$dev" --root /tree $extra $scan | head -30 || true
		continue
	fi
	case $copies in
	all) # every tagged sector found twice, each occurrence mapped
		r=$(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("ok" if r["copies"] == r["expected_sectors"] and r["ok"] >= 2 * r["expected_sectors"] else "%d of %d sectors seen twice" % (r["copies"], r["expected_sectors"]))')
		if [ "$r" = ok ]; then ok "$set: every copy mapped"; else bad "$set: $r"; fi
		;;
	some) # degraded: part of the data is gone with the zeroed member
		r=$(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("ok" if r["absent"] > 0 and r["ok"] > 0 else "absent %d ok %d" % (r["absent"], r["ok"]))')
		if [ "$r" = ok ]; then ok "$set: present data mapped, missing member's data absent"; else bad "$set: $r"; fi
		;;
	esac
done <<'EOF'
r1 /dev/md/r1 0 - all -
r5lvm /dev/vgmd/lv 0 - - blank
r10f /dev/md/r10f 0 - all -
r0 /dev/md/r0 0 - - -
r5deg /dev/md/r5deg 1 --allow-absent some blank
r090 /dev/md0 0 - all -
r6 /dev/md/r6 0 - - blank
r10n3 /dev/md/r10n3 0 - all -
r10o2 /dev/md/r10o2 0 - all -
lin /dev/md/lin 0 - - -
r4 /dev/md/r4 0 - - blank
EOF

# The `l` footprint of each array on each member, against mdadm --examine
# of the member (partitions cut out of the disk images with dd).
if [ -n "$have_mdadm" ]; then
	if python3 "$SRCDIR/tests/md_check.py" > md_check.out 2>&1; then
		ok "md footprints = mdadm --examine data areas ($(grep -c '^ok' md_check.out) members)"
	else
		bad "md footprints"; cat md_check.out
	fi
else
	echo "ok - SKIP md footprints (mdadm or sfdisk not installed)"
fi

# The second oracle, opt-in (about 15 minutes under TCG): the kernel in the
# libguestfs appliance reads every file and directory of the clean arrays
# over NBD (tests/oracle/nbdrecord.py); the reads must agree with the map.
# The appliance assembles the arrays itself and names them after their
# superblocks with the host prefix (/dev/md/bmt:r1) and the 0.90 one by its
# preferred minor (/dev/md/5_0); the map's device names are translated.
nbdcheck() { # name, images...: one appliance run over all their arrays
	local name=$1
	shift
	"$BMAPGEN" "$@" > $name.map 2> $name.err || true
	sed -e 's# /dev/md/\(r1\|r10f\|r0\|r6\|r10n3\|r10o2\|lin\|r4\) # /dev/md/bmt:\1 #' \
	    -e 's# /dev/md0 # /dev/md/5_0 #' $name.map > $name-app.map
	if python3 "$SRCDIR/tests/oracle/nbdrecord.py" --map $name-app.map \
		--max-objects 0 "$@" > $name.nbd 2>&1; then
		ok "nbdrecord $name: $(grep agreement $name.nbd)"
	else
		bad "nbdrecord $name"; cat $name.nbd
	fi
}
if [ "${BM_NBDRECORD:-0}" = 1 ]; then
	nbdcheck base md-r1-a.img md-r1-b.img md-r10f-a.img md-r10f-b.img \
		md-r10f-c.img md-r0.img md-r090.img md-r5lvm.img
	nbdcheck extra md-r6.img md-r10n3.img md-r10o2.img md-lin.img md-r4.img
fi

# An array name from the superblock is untrusted: "host:a b" names the
# array /dev/md/a b, which a virt-bmap line must write as one field
# (/dev/md/a\x20b) so that it does not run into the path; JSON keeps it.
python3 - <<'PYEOF'
import struct
for src, dst in (("md-r1-a.img", "named-a.img"), ("md-r1-b.img", "named-b.img")):
    d = bytearray(open(src, "rb").read())
    n = 0
    for off in range(0, len(d), 4096):
        if struct.unpack_from("<II", d, off) != (0xa92b4efc, 1):
            continue
        d[off + 32:off + 64] = b"host:a b".ljust(32, b"\0")
        # sb_csum (md_p.h): 32-bit sum over 256 + 2 * max_dev bytes with
        # the field zeroed, the carry folded in
        struct.pack_into("<I", d, off + 216, 0)
        size = 256 + 2 * struct.unpack_from("<I", d, off + 220)[0]
        s = sum(struct.unpack_from("<%dI" % (size // 4), d, off))
        struct.pack_into("<I", d, off + 216, ((s & 0xffffffff) + (s >> 32)) & 0xffffffff)
        n += 1
    assert n == 1, (src, n)
    open(dst, "wb").write(d)
PYEOF
"$BMAPGEN" named-a.img named-b.img > named.map 2> named.err || true
"$BMAPGEN" -f json named-a.img named-b.img > named.json 2> /dev/null || true
if [ "$(awk '$4 == "l" {print $5}' named.map | sort -u)" = '/dev/md/a\x20b' ] &&
	! grep -q ' /dev/md/a ' named.map &&
	jq -e '[.volumes[].dev] | index("/dev/md/a b")' named.json > /dev/null; then
	ok "array named 'a b': one virt-bmap field /dev/md/a\\x20b, JSON dev '/dev/md/a b'"
else
	bad "array named 'a b'"; grep md/a named.map | head -3; cat named.err
fi
rm -f named-a.img named-b.img

# Damage: flip bits in superblocks and at random; bmapgen must not crash.
python3 - <<'PYEOF'
import random
rng = random.Random(5)
srcs = {"r1": open("md-r1-a.img", "rb").read(),
        "r10f": open("md-r10f-a.img", "rb").read()}
for i in range(30):
    name = "r1" if i % 2 else "r10f"
    b = bytearray(srcs[name])
    if name == "r1":  # 1.0 superblock near the end, bitmap before it
        region = (len(b) - 16384, len(b))
    else:             # 1.2 superblock at 4 KiB, bitmap after it
        region = (4096, 4096 + 8192)
    if i >= 20:
        region = (0, len(b))
    for _ in range(rng.choice([1, 3, 16])):
        b[rng.randrange(*region)] ^= 1 << rng.randrange(8)
    open("dmg%02d-%s.img" % (i, name), "wb").write(b)
PYEOF
crashes=0
for f in dmg*.img; do
	case $f in
	*-r1.img) others=md-r1-b.img ;;
	*) others="md-r10f-b.img md-r10f-c.img" ;;
	esac
	st=0
	# shellcheck disable=SC2086
	timeout 20 "$BMAPGEN" "$f" $others > /dev/null 2> dmg.err || st=$?
	# (a sanitizer build reports with exit 1: look at its messages too)
	if [ $st -gt 2 ] || grep -q "Sanitizer\|runtime error" dmg.err; then
		echo "  $f: exit $st"; head -5 dmg.err; crashes=$((crashes + 1))
	fi
	rm -f "$f"
done
if [ $crashes = 0 ]; then ok "30 damaged images: no crash"; else bad "$crashes damaged images crashed"; fi

exit $fail
