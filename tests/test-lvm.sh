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

lcheck() { # set: every LV's `l` object = LVM's PV segment report
	if python3 "$SRCDIR/tests/lvm_check.py" $1.map "$IMG/lvm-$1.pvsegs.json" \
		"$IMG/lvm-$1.lvs.json" "$IMG/lvm-$1.extent.txt" \
		"$(cat "$IMG/lvm-$1.disks.txt")" > $1.lcheck; then
		ok "$1: l objects = LVM extent footprint ($(grep -c '^ok' $1.lcheck) LVs)"
	else
		bad "$1: l objects"; grep FAIL $1.lcheck
	fi
}

tagcheck() { # set lv [extra tagscan args]
	local set=$1 lv=$2 man=$IMG/lvm-tree.json
	shift 2
	local out
	case $lv in lin|th1) man=origin.json ;; esac
	case $set in d) man=$IMG/lvm-d.tree.json ;; esac
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

copies_some() { # set lv: some tagged sectors found and mapped twice
	local n
	n=$(echo "$TAGJSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["copies"])')
	if [ "$n" -gt 0 ]; then ok "$1: /dev/vgt/$2: $n copies mapped"; else bad "$1: /dev/vgt/$2: no copies"; fi
}

copies_all() { # set lv: every tagged sector found and mapped twice
	local n
	n=$(echo "$TAGJSON" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("ok" if r["copies"] == r["expected_sectors"] and r["ok"] >= 2 * r["expected_sectors"] else "%d copies of %d sectors" % (r["copies"], r["expected_sectors"]))')
	if [ "$n" = ok ]; then ok "$1: /dev/vgt/$2 every copy mapped"; else bad "$1: /dev/vgt/$2: $n"; fi
}

for set in a b; do
	run_bmapgen $set.map lvm-$set?.img
	lcheck $set
done

for lv in lin s2 s3 r5 th1 th2 th1snap oldsnap; do tagcheck a $lv || true; done
tagcheck a r1 && copies_all a r1
for lv in r0 r4 r5ra r6 r6nc; do tagcheck b $lv || true; done
tagcheck b r10 && copies_all b r10
tagcheck b mir && copies_all b mir

# Set C: a cached LV (writethrough: the origin is always current, and
# the pool holds copies of its hot blocks).  The writecache LV's
# filesystem is all in its cache
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
lcheck c
# The cache pool's data holds copies of the cached LV's blocks: each
# must be mapped as a copy (tagscan counts every occurrence).  The
# writecache volume (the other LV's) is blanked (from LVM's report).
python3 "$SRCDIR/tests/lvm_check.py" blank-lvs "$IMG/lvm-c.pvsegs.json" \
	"$IMG/lvm-c.extent.txt" "$(cat "$IMG/lvm-c.disks.txt")" \
	fast_cvol lvm-c?.img
tagcheck c cached && copies_some c cached
# Block by block against the pool's metadata (tests/lvm_cache_check.py:
# its own reader; a writethrough cache has no dirty blocks)
echo "vgt-cached: 0" > c.dirty
if python3 "$SRCDIR/tests/lvm_cache_check.py" c.map "$IMG/lvm-c.pvsegs.json" \
	"$IMG/lvm-c.extent.txt" "$(cat "$IMG/lvm-c.disks.txt")" c.dirty \
	cached:cpool_cpool lvm-c1.img lvm-c2.img > c.cachecheck; then
	ok "c: cache blocks: $(head -1 c.cachecheck)"
else
	bad "c: cache blocks"; cat c.cachecheck
fi
# The writecache LV's tags: in the cache volume (wc's own; stale copies
# on its origin, if any, would be found unmapped), with the other LV and
# its cache blanked.
for i in 1 2; do ln -sf lvm-c$i.img lvm-cw$i.img; done
python3 "$SRCDIR/tests/lvm_check.py" blank-lvs "$IMG/lvm-c.pvsegs.json" \
	"$IMG/lvm-c.extent.txt" "$(cat "$IMG/lvm-c.disks.txt")" \
	cpool_cpool_cdata,cached_corig lvm-cw?.img
cp c.map cw.map
tagcheck cw wc || true

# Set D: writeback dm-cache LVs with dirty blocks (mk-lvm.sh; dm-cache's
# own count of them in lvm-d.dirty.txt): a cache pool with metadata
# format 2, one with format 1, a cache volume.  Every tag must be found
# where the map puts its file (dirty blocks: in the cache alone, clean
# ones in both), and the stale origin copies of dirty blocks (sectors of
# 0xaa, written before the tags) must not be mapped to any file.
if awk '{if ($2 > 0) n++} END {exit n != 3}' "$IMG/lvm-d.dirty.txt"; then
	ok "d: the image has dirty cache blocks ($(tr '\n' ' ' < "$IMG/lvm-d.dirty.txt"))"
else
	bad "d: lvm-d.dirty.txt"; cat "$IMG/lvm-d.dirty.txt"
fi
run_bmapgen d.map lvm-d?.img
lcheck d
for i in 1 2; do ln -sf lvm-d$i.img bl-lvm-d$i.img; done
for lv in wb wb1 cv; do tagcheck d $lv || true; done
# Block by block against the caches' metadata, read by
# tests/lvm_cache_check.py, whose dirty counts must be dm-cache's (cv's
# cache volume: metadata at sector 0, data at 6144, from its LVM text)
if python3 "$SRCDIR/tests/lvm_cache_check.py" d.map "$IMG/lvm-d.pvsegs.json" \
	"$IMG/lvm-d.extent.txt" "$(cat "$IMG/lvm-d.disks.txt")" \
	"$IMG/lvm-d.dirty.txt" wb:wpool_cpool wb1:wpool1_cpool cv:cvfast_cvol:0:6144 \
	lvm-d1.img lvm-d2.img > d.cachecheck; then
	ok "d: cache blocks: $(head -3 d.cachecheck | tr '\n' ';')"
else
	bad "d: cache blocks"; cat d.cachecheck
fi
if out=$(python3 - d.map lvm-d1.img lvm-d2.img <<'EOF'
import sys
AA = b"\xaa" * 512
imgs = [open(p, "rb").read() for p in sys.argv[2:]]
stale = sum(1 for b in imgs for o in range(0, len(b), 512) if b[o:o + 512] == AA)
mapped = 0
for line in open(sys.argv[1], "rb"):
    w = line.split(b" ", 5)
    if len(w) == 6 and w[3] == b"f":
        b = imgs[int(w[0]) - 1]
        for o in range(int(w[1], 16) // 512 * 512, int(w[2], 16), 512):
            mapped += b[o:o + 512] == AA
print("%d stale sectors, %d of them mapped to files" % (stale, mapped))
sys.exit(0 if stale and not mapped else 1)
EOF
); then
	ok "d: $out"
else
	bad "d: $out"
fi

# The oracle must notice a map that is off by one sector.
break_map b.map /dev/vgt/r6 broken-b.map
tagscan_fails "b: /dev/vgt/r6 shifted" --manifest "$IMG/lvm-tree.json" \
	--map broken-b.map --device /dev/vgt/r6 --root /tree bl-lvm-b?.img

# The kernel's view: what it reads for each file and directory.
if [ "${LVM_NO_NBD:-}" != 1 ]; then
	nbdrecord_pass lvm-a --map a.map --max-objects 80 lvm-a?.img
	nbdrecord_pass lvm-b --map b.map --max-objects 80 lvm-b?.img
	# The writecache LV: the kernel reads its blocks from the cache
	# volume.  (Not the dm-cache LVs: their policy promotes blocks while
	# the appliance reads, into its overlay, so the kernel reads from
	# places the image at rest does not have; tags check them above.)
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
