#!/bin/bash
# LVM2 tests on the images made by tests/images/mk-lvm.sh (in the
# libguestfs appliance: this kernel has no device-mapper).
#
# For each image set: bmapgen must map it without warnings; every LV's
# `l` object must equal LVM's own PV segment report (tests/lvm_check.py);
# the tagged tree in every LV must be found with 100 % recall and nothing
# misattributed (tests/oracle/tagscan.py, per LV device), and on mirrored
# LVs every tagged sector must be found (and mapped) twice.
# Then robustness: damaged copies of the images must not crash bmapgen.
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
SRCDIR=${SRCDIR:-.}
IMG=$SRCDIR/tests/images
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }

for f in "$IMG"/lvm-*.img.xz; do
	xz -dc "$f" > "$T/$(basename "$f" .xz)"
done
cd "$T"

tagcheck() { # set lv [extra tagscan args]
	local set=$1 lv=$2
	shift 2
	local out
	if out=$(python3 "$SRCDIR/tests/oracle/tagscan.py" --json \
		--manifest "$IMG/lvm-tree.json" --map "$set.map" \
		--device "/dev/vgt/$lv" --root /tree "$@" lvm-$set?.img); then
		ok "$set: /dev/vgt/$lv tags: $(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("recall %s%%, %d ok, %d misattributed, %d copies" % (r["recall"], r["ok"], r["misattributed"], r["copies"]))')"
	else
		bad "$set: /dev/vgt/$lv tags"
		python3 "$SRCDIR/tests/oracle/tagscan.py" --manifest "$IMG/lvm-tree.json" \
			--map "$set.map" --device "/dev/vgt/$lv" --root /tree \
			"$@" lvm-$set?.img | head -30 || true
		return 0
	fi
	TAGJSON=$out
}

copies_all() { # set lv: every tagged sector found and mapped twice
	local n
	n=$(echo "$TAGJSON" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("ok" if r["copies"] == r["expected_sectors"] and r["ok"] >= 2 * r["expected_sectors"] else "%d copies of %d sectors" % (r["copies"], r["expected_sectors"]))')
	if [ "$n" = ok ]; then ok "$1: /dev/vgt/$2 every copy mapped"; else bad "$1: /dev/vgt/$2: $n"; fi
}

for set in a b; do
	st=0
	"$BMAPGEN" lvm-$set?.img > $set.map 2> $set.err || st=$?
	if [ $st = 0 ] && [ ! -s $set.err ]; then
		ok "$set: bmapgen exit 0, no warnings"
	else
		bad "$set: bmapgen exit $st"; cat $set.err
	fi
	disks=$(ls lvm-$set?.img | awk '{printf "%s/dev/sd%c", NR>1?",":"", 96+NR}')
	if python3 "$SRCDIR/tests/lvm_check.py" $set.map "$IMG/lvm-$set.pvsegs.json" \
		"$IMG/lvm-$set.lvs.json" "$IMG/lvm-$set.extent.txt" "$disks" > $set.lcheck; then
		ok "$set: l objects = LVM extent footprint ($(grep -c '^ok' $set.lcheck) LVs)"
	else
		bad "$set: l objects"; grep FAIL $set.lcheck
	fi
done

for lv in lin s2 s3 r1 r5 th1 th2 th1snap oldsnap; do tagcheck a $lv; done
tagcheck a r1 && copies_all a r1
for lv in r0 r4 r5ra r6 r6nc r10 mir; do tagcheck b $lv; done
tagcheck b r10 && copies_all b r10
tagcheck b mir && copies_all b mir

# A missing PV: map set A without its third disk.  Warned (exit 1), and
# the LVs wholly on the first two PVs still map completely.
st=0
"$BMAPGEN" lvm-a1.img lvm-a2.img > miss.map 2> miss.err || st=$?
if [ $st = 1 ] && grep -q "is missing" miss.err; then
	ok "missing PV warned"
else
	bad "missing PV: exit $st"; cat miss.err
fi
for lv in lin s2 r1; do
	if python3 "$SRCDIR/tests/oracle/tagscan.py" --manifest "$IMG/lvm-tree.json" \
		--map miss.map --device /dev/vgt/$lv --root /tree \
		--allow-absent lvm-a1.img lvm-a2.img > miss.$lv.txt; then
		ok "missing PV: /dev/vgt/$lv still mapped"
	else
		bad "missing PV: /dev/vgt/$lv"; head -20 miss.$lv.txt
	fi
done

# Damage: flip bytes in the label, PV header, metadata area header and
# text, and at random places; bmapgen must not crash (exit 0..2).
python3 - <<'EOF'
import random, shutil
rng = random.Random(4)
src = open("lvm-a1.img", "rb").read()
for i in range(40):
    b = bytearray(src)
    if i < 10:
        region = (0x200, 0x400)
    elif i < 20:
        region = (0x1000, 0x1200)
    elif i < 30:
        region = (0x1200, 0x10000)
    else:
        region = (0, len(b))
    for _ in range(rng.choice([1, 4, 32])):
        b[rng.randrange(*region)] ^= 1 << rng.randrange(8)
    open("dmg%02d.img" % i, "wb").write(b)
EOF
crashes=0
for i in $(seq -w 0 39); do
	st=0
	timeout 20 "$BMAPGEN" dmg$i.img lvm-a2.img lvm-a3.img > /dev/null 2>&1 || st=$?
	if [ $st -gt 2 ]; then
		echo "  dmg$i.img: exit $st"; crashes=$((crashes + 1))
	fi
	rm -f dmg$i.img
done
if [ $crashes = 0 ]; then ok "40 damaged images: no crash"; else bad "$crashes damaged images crashed"; fi

exit $fail
