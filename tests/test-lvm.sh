#!/bin/bash
# LVM2 tests on the images made by tests/images/mk-lvm.sh in the
# libguestfs appliance (this kernel has no device-mapper).
#
# For each image set (A, B; C has a dm-cache and a writecache LV):
# bmapgen must map it without warnings; every LV's `l` object must equal
# LVM's own PV segment report (tests/lvm_check.py);
# the tagged tree in every LV must be found with 100 % recall and nothing
# misattributed (tests/oracle/tagscan.py, per LV device); on mirrored LVs
# every tagged sector must be found, and mapped, twice; record-via-NBD
# (tests/oracle/nbdrecord.py: the kernel's own reads) must agree.  Then:
# a missing PV, and damaged copies of the images (no crash).
. "$(dirname "$0")/oracle/lib.sh"
IMG=$SRCDIR/tests/images

for f in "$IMG"/lvm-*.img.xz; do
	xz -dc "$f" | dd of="$T/$(basename "$f" .xz)" bs=64k conv=sparse status=none
done
cd "$T"

# Parity chunks repeat data sectors where the stripe's other data is
# zero; they belong to no file, so tags are scanned in copies with the
# parity blanked (placed by lvm_check.py from LVM's report and md's
# rules, independently of bmapgen).  Stripe sizes as in mk-lvm.sh.
python3 "$SRCDIR/tests/lvm_check.py" blank-parity "$IMG/lvm-a.pvsegs.json" \
	"$IMG/lvm-a.extent.txt" "$(cat "$IMG/lvm-a.disks.txt")" r5=raid5:32 lvm-a?.img
python3 "$SRCDIR/tests/lvm_check.py" blank-parity "$IMG/lvm-b.pvsegs.json" \
	"$IMG/lvm-b.extent.txt" "$(cat "$IMG/lvm-b.disks.txt")" \
	r4=raid4:16,r5ra=raid5_ra:16,r6=raid6:16,r6nc=raid6_nc:16 lvm-b?.img
# The origins (lin, th1) lost /tree/big after their snapshots were taken.
python3 - "$IMG/lvm-tree.json" origin.json <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["files"] = [f for f in m["files"] if not f["path"].startswith("/big/")]
json.dump(m, open(sys.argv[2], "w"))
EOF

tagcheck() { # set lv [extra tagscan args]
	local set=$1 lv=$2 man=$IMG/lvm-tree.json
	shift 2
	local out
	case $lv in lin|th1) man=origin.json ;; esac
	if out=$(python3 "$SRCDIR/tests/oracle/tagscan.py" --json \
		--manifest "$man" --map "$set.map" \
		--device "/dev/vgt/$lv" --root /tree "$@" bl-lvm-$set?.img); then
		ok "$set: /dev/vgt/$lv tags: $(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("recall %s%%, %d ok, %d misattributed, %d copies" % (r["recall"], r["ok"], r["misattributed"], r["copies"]))')"
	else
		bad "$set: /dev/vgt/$lv tags"
		python3 "$SRCDIR/tests/oracle/tagscan.py" --manifest "$man" \
			--map "$set.map" --device "/dev/vgt/$lv" --root /tree \
			"$@" bl-lvm-$set?.img | head -30 || true
		return 1
	fi
	TAGJSON=$out
}

copies_all() { # set lv: every tagged sector found and mapped twice
	local n
	n=$(echo "$TAGJSON" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("ok" if r["copies"] == r["expected_sectors"] and r["ok"] >= 2 * r["expected_sectors"] else "%d copies of %d sectors" % (r["copies"], r["expected_sectors"]))')
	if [ "$n" = ok ]; then ok "$1: /dev/vgt/$2 every copy mapped"; else bad "$1: /dev/vgt/$2: $n"; fi
}

for set in a b; do
	run_bmapgen $set.map lvm-$set?.img
	if python3 "$SRCDIR/tests/lvm_check.py" $set.map "$IMG/lvm-$set.pvsegs.json" \
		"$IMG/lvm-$set.lvs.json" "$IMG/lvm-$set.extent.txt" \
		"$(cat "$IMG/lvm-$set.disks.txt")" > $set.lcheck; then
		ok "$set: l objects = LVM extent footprint ($(grep -c '^ok' $set.lcheck) LVs)"
	else
		bad "$set: l objects"; grep FAIL $set.lcheck
	fi
done

for lv in lin s2 s3 r5 th1 th2 th1snap oldsnap; do tagcheck a $lv || true; done
tagcheck a r1 && copies_all a r1
for lv in r0 r4 r5ra r6 r6nc; do tagcheck b $lv || true; done
tagcheck b r10 && copies_all b r10
tagcheck b mir && copies_all b mir

# Set C: a cached LV (writethrough: the origin is always current) maps
# through its origin.  The writecache LV's filesystem is all in its cache
# volume (mk-lvm.sh filled it, and less than the high watermark was
# never written back): mapped through the committed entries of the
# cache's table.  No warning for either.
st=0
"$BMAPGEN" lvm-c?.img > c.map 2> c.err || st=$?
if [ $st = 0 ] && [ ! -s c.err ] && grep -q " m /dev/vgt/wc <writecache metadata>$" c.map; then
	ok "c: bmapgen exit 0, no warning, writecache metadata mapped"
else
	bad "c: bmapgen exit $st"; cat c.err
fi
if python3 "$SRCDIR/tests/lvm_check.py" c.map "$IMG/lvm-c.pvsegs.json" \
	"$IMG/lvm-c.lvs.json" "$IMG/lvm-c.extent.txt" \
	"$(cat "$IMG/lvm-c.disks.txt")" > c.lcheck; then
	ok "c: l objects = LVM extent footprint ($(grep -c '^ok' c.lcheck) LVs)"
else
	bad "c: l objects"; grep FAIL c.lcheck
fi
# Cache data and the writecache volume hold copies of origin blocks,
# which belong to no file: blanked before scanning (from LVM's report).
python3 "$SRCDIR/tests/lvm_check.py" blank-lvs "$IMG/lvm-c.pvsegs.json" \
	"$IMG/lvm-c.extent.txt" "$(cat "$IMG/lvm-c.disks.txt")" \
	cpool_cpool_cdata,fast_cvol lvm-c?.img
tagcheck c cached || true
# The writecache LV's tags: in the cache volume (wc's own; stale copies
# on its origin, if any, would be found unmapped), with the other LV and
# its cache blanked.
for i in 1 2; do ln -sf lvm-c$i.img lvm-cw$i.img; done
python3 "$SRCDIR/tests/lvm_check.py" blank-lvs "$IMG/lvm-c.pvsegs.json" \
	"$IMG/lvm-c.extent.txt" "$(cat "$IMG/lvm-c.disks.txt")" \
	cpool_cpool_cdata,cached_corig lvm-cw?.img
cp c.map cw.map
tagcheck cw wc || true

# The oracle must notice a map that is off by one sector.
break_map b.map /dev/vgt/r6 broken-b.map
tagscan_fails "b: /dev/vgt/r6 shifted" --manifest "$IMG/lvm-tree.json" \
	--map broken-b.map --device /dev/vgt/r6 --root /tree bl-lvm-b?.img

# The kernel's view: what it reads for each file and directory.
if [ "${LVM_NO_NBD:-}" != 1 ]; then
	nbdrecord_pass lvm-a --map a.map --max-objects 80 lvm-a?.img
	nbdrecord_pass lvm-b --map b.map --max-objects 80 lvm-b?.img
	# The writecache LV: the kernel reads its blocks from the cache
	# volume.  (Not the dm-cache LV: the kernel reads cached blocks from
	# the cache's copy, which bmapgen does not map; see README.)
	awk '!($5 == "/dev/vgt/cached" && ($4 == "f" || $4 == "d"))' c.map > c-wc.map
	nbdrecord_pass lvm-c-wc --map c-wc.map --max-objects 0 lvm-c?.img
	break_map c-wc.map /dev/vgt/wc broken-c-wc.map
	nbdrecord_replay_fails lvm-c-wc broken-c-wc.map lvm-c?.img
fi

# A missing PV: map set A without its third disk.  Warned (exit 1), and
# the LVs wholly on the first two PVs (s2, r1) map exactly as they do
# with every PV present (that map is checked against the tags above).
st=0
"$BMAPGEN" lvm-a1.img lvm-a2.img > miss.map 2> miss.err || st=$?
if [ $st = 1 ] && grep -q "is missing" miss.err; then
	ok "missing PV warned"
else
	bad "missing PV: exit $st"; cat miss.err
fi
objects_of() { # map dev: every object of DEV with its merged ranges
	python3 - "$@" <<'EOF'
import sys
objs = {}
for line in open(sys.argv[1], "rb"):
    w = line.rstrip(b"\n").split(b" ", 5)
    if len(w) >= 5 and w[4] == sys.argv[2].encode():
        objs.setdefault(b" ".join(w[3:]), []).append((int(w[0]), int(w[1], 16), int(w[2], 16)))
for k in sorted(objs):
    out = []
    for r in sorted(objs[k]):
        if out and out[-1][0] == r[0] and out[-1][2] >= r[1]:
            out[-1][2] = max(out[-1][2], r[2])
        else:
            out.append(list(r))
    sys.stdout.buffer.write(k + b" " + repr(out).encode() + b"\n")
EOF
}
for lv in s2 r1; do
	objects_of a.map /dev/vgt/$lv > full.$lv
	objects_of miss.map /dev/vgt/$lv > miss.$lv
	if [ -s full.$lv ] && cmp -s full.$lv miss.$lv; then
		ok "missing PV: /dev/vgt/$lv mapped as with all PVs ($(wc -l < miss.$lv) lines)"
	else
		bad "missing PV: /dev/vgt/$lv differs"; diff full.$lv miss.$lv | head
	fi
done

# Damage: flip bits in the label, PV header, metadata area header and
# text, and at random places of the first PV; bmapgen must not crash or
# hang (exit 0..2).
crashes=0
for i in $(seq 0 29); do
	cp --sparse=always lvm-a1.img dmg.img
	python3 - "$i" <<'EOF2'
import random, sys
i = int(sys.argv[1])
rng = random.Random(i)
regions = [(0x200, 0x400), (0x1000, 0x1200), (0x1200, 0x100000), (0, 48 << 20)]
lo, hi = regions[i % 4]
with open("dmg.img", "r+b") as f:
    for _ in range(rng.choice([1, 4, 32])):
        off = rng.randrange(lo, hi)
        f.seek(off)
        b = f.read(1) or b"\0"
        f.seek(off)
        f.write(bytes([b[0] ^ (1 << rng.randrange(8))]))
EOF2
	st=0
	timeout 20 "$BMAPGEN" dmg.img lvm-a2.img lvm-a3.img > /dev/null 2>&1 || st=$?
	if [ $st -gt 2 ]; then
		echo "  damage $i: exit $st"; crashes=$((crashes + 1))
	fi
done
rm -f dmg.img
if [ $crashes = 0 ]; then ok "30 damaged images: no crash"; else bad "$crashes damaged images crashed"; fi

oracle_done
