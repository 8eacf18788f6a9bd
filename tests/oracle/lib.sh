# Shared helpers of the oracle tests (sourced).
#
# BMAPGEN, SRCDIR: from meson (tests/meson.build) or the environment.
# Each check prints "ok - ..." or "FAIL - ..." and sets fail=1; the
# test exits with $fail at the end (oracle_done).
set -euo pipefail
BMAPGEN=${BMAPGEN:-build/bmapgen}
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ORACLE=$SRCDIR/tests/oracle
T=$(mktemp -d /var/tmp/oracle-test.XXXXXX)
LOOPS=()
MOUNTS=()
cleanup() {
	local m l
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }

# Run bmapgen IMAGE... > MAP; it must exit 0 with no warnings.
run_bmapgen() { # map image...
	local map=$1 st=0
	shift
	"$BMAPGEN" "$@" > "$map" 2> "$map.err" || st=$?
	if [ $st = 0 ] && [ ! -s "$map.err" ]; then
		ok "bmapgen $(basename "$1"): exit 0, no warnings ($(wc -l < "$map") lines)"
	else
		bad "bmapgen $(basename "$1"): exit $st"
		head -20 "$map.err"
	fi
}

# tagscan must pass (recall 100 %, nothing misattributed or absent).
tagscan_pass() { # label tagscan-args...
	local label=$1 out
	shift
	if out=$(python3 "$ORACLE/tagscan.py" "$@"); then
		ok "$label: tagscan $(echo "$out" | grep -E '^  (recall|misattributed)' | tr -s ' ' | tr '\n' ';')"
	else
		bad "$label: tagscan"
		echo "$out"
	fi
}

# tagscan must FAIL (the deliberately broken map).
tagscan_fails() { # label tagscan-args...
	local label=$1 st=0
	shift
	python3 "$ORACLE/tagscan.py" "$@" > "$T/broken.out" || st=$?
	if [ $st = 1 ]; then
		ok "$label: tagscan rejects it ($(grep -E '^  recall' "$T/broken.out" | tr -s ' '))"
	else
		bad "$label: tagscan exit $st on a broken map"
		cat "$T/broken.out"
	fi
}

# nbdrecord must pass; the recording is kept in $T/rec-LABEL for replays.
nbdrecord_pass() { # label nbdrecord-args...
	local label=$1 st=0
	shift
	local t0=$SECONDS
	python3 "$ORACLE/nbdrecord.py" --keep "$T/rec-$label" "$@" > "$T/nbd-$label.out" 2>&1 || st=$?
	if [ $st = 0 ]; then
		ok "$label: nbdrecord $(grep -E '^  agreement' "$T/nbd-$label.out" | tr -s ' ') ($((SECONDS - t0)) s)"
	else
		bad "$label: nbdrecord exit $st ($((SECONDS - t0)) s)"
	fi
	cat "$T/nbd-$label.out"
}

# Replaying that recording against a broken map must fail.
nbdrecord_replay_fails() { # label map images...
	local label=$1 map=$2 st=0
	shift 2
	python3 "$ORACLE/nbdrecord.py" --replay "$T/rec-$label" --map "$map" "$@" \
		> "$T/nbd-broken.out" 2>&1 || st=$?
	if [ $st = 1 ]; then
		ok "$label: nbdrecord rejects $(basename "$map") ($(grep -E '^ +(agreement|disk [0-9]+ |file ranges unread)' "$T/nbd-broken.out" | tr -s ' ' | tr '\n' ';'))"
	else
		bad "$label: nbdrecord exit $st on $(basename "$map")"
		cat "$T/nbd-broken.out"
	fi
}

# Emulate an off-by-one-sector partition offset in bmapgen: every
# object of device DEV moves by 512 bytes.
break_map() { # map dev out
	python3 - "$@" <<'PY'
import sys
src, dev, dst = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
with open(src, "rb") as f, open(dst, "wb") as o:
    for line in f:
        w = line.split(b" ", 5)
        if len(w) >= 5 and w[4].rstrip(b"\n") == dev and w[3] in (b"f", b"d", b"m"):
            w[1] = b"%x" % (int(w[1], 16) + 512)
            w[2] = b"%x" % (int(w[2], 16) + 512)
            line = b" ".join(w)
        o.write(line)
PY
}

# --- test images -------------------------------------------------

# GPT disk OUT.img: p1 (4 MiB) empty ext2, p2 (64 MiB) ext4 made by
# mke2fs -d with the "default" tagged tree (OUT.json, seed 11, ids from
# 200001: distinct from every other tree the tests put on one VM).
build_gpt_ext4() { # out
	local out=$1
	export E2FSPROGS_FAKE_TIME=1700000000
	python3 "$ORACLE/tagtree.py" gen --profile default --seed 11 --first-id 200001 \
		--no-fsync --manifest "$out.json" "$out.tree"
	mke2fs -q -F -t ext2 -b 4096 -U 0a7e1a5e-0000-4000-8000-000000000001 \
		-E hash_seed=0a7e1a5e-0000-4000-8000-000000000002,root_owner=0:0 \
		"$out.p1" 4M > /dev/null
	mke2fs -q -F -t ext4 -b 4096 -U 0a7e1a5e-0000-4000-8000-000000000003 \
		-E hash_seed=0a7e1a5e-0000-4000-8000-000000000004,root_owner=0:0 \
		-d "$out.tree" "$out.p2" 64M > /dev/null
	rm -f "$out.img"
	truncate -s 72M "$out.img"
	printf '%s\n' 'label: gpt' 'label-id: 0A7E1A5E-0000-4000-8000-0000000000AA' \
		'start=2048, size=8192, type=linux, uuid=0A7E1A5E-0000-4000-8000-0000000000A1, name=empty' \
		'start=10240, size=131072, type=linux, uuid=0A7E1A5E-0000-4000-8000-0000000000A2, name=tree' |
		sfdisk -q "$out.img"
	dd if="$out.p1" of="$out.img" bs=512 seek=2048 conv=notrunc,sparse status=none
	dd if="$out.p2" of="$out.img" bs=512 seek=10240 conv=notrunc,sparse status=none
	rm -rf "$out.p1" "$out.p2" "$out.tree"
}

# MBR disk OUT.img: p1 primary 2 MiB (no filesystem), p2 extended,
# logical p5 ext2 with 1 KiB blocks (mke2fs -d, "small" tree, ids from
# 300001: OUT-ext2.json), logical p6 ext3 with 4 KiB blocks whose "default"
# tree (ids from 400001: OUT-ext3.json) the kernel writes through a
# loop mount of the partition, so /frag is really fragmented.
build_mbr_ext() { # out
	local out=$1 p5s p5n p6s p6n loop
	export E2FSPROGS_FAKE_TIME=1700000000
	rm -f "$out.img"
	truncate -s 112M "$out.img"
	printf '%s\n' 'label: dos' 'label-id: 0x0a7e1a5e' 'start=2048, size=4096, type=83' \
		'start=8192, size=219136, type=5' 'start=10240, size=40960, type=83' \
		'start=53248, size=174080, type=83' | sfdisk -q "$out.img"
	# where sfdisk put them (its own view, not bmapgen's)
	read -r p5s p5n <<<"$(sfdisk -d "$out.img" | awk '/img5 :/ {gsub(",", ""); print $4, $6}')"
	read -r p6s p6n <<<"$(sfdisk -d "$out.img" | awk '/img6 :/ {gsub(",", ""); print $4, $6}')"
	python3 "$ORACLE/tagtree.py" gen --profile small --seed 5 --first-id 300001 \
		--no-fsync --manifest "$out-ext2.json" "$out.tree"
	mke2fs -q -F -t ext2 -b 1024 -U 0a7e1a5e-0000-4000-8000-000000000005 \
		-E hash_seed=0a7e1a5e-0000-4000-8000-000000000006,root_owner=0:0 \
		-d "$out.tree" "$out.p5" $((p5n / 2))k > /dev/null
	dd if="$out.p5" of="$out.img" bs=512 seek="$p5s" conv=notrunc,sparse status=none
	rm -rf "$out.p5" "$out.tree"
	mke2fs -q -F -t ext3 -b 4096 -U 0a7e1a5e-0000-4000-8000-000000000007 \
		-E hash_seed=0a7e1a5e-0000-4000-8000-000000000008,root_owner=0:0,offset=$((p6s * 512)) \
		"$out.img" $((p6n / 8)) > /dev/null
	loop=$(losetup -f --show -o $((p6s * 512)) --sizelimit $((p6n * 512)) "$out.img")
	LOOPS+=("$loop")
	mkdir -p "$out.mnt"
	mount -t ext3 "$loop" "$out.mnt"
	MOUNTS+=("$out.mnt")
	python3 "$ORACLE/tagtree.py" gen --profile default --seed 6 --first-id 400001 \
		--manifest "$out-ext3.json" "$out.mnt"
	umount "$out.mnt"
	MOUNTS=()
	losetup -d "$loop"
	LOOPS=()
	rmdir "$out.mnt"
}

# The committed GPT + LVM image (tests/images/mk-oracle-lvm.sh), sparse.
unpack_lvm() { # out
	xz -dc "$SRCDIR/tests/images/oracle-gpt-lvm.img.xz" |
		dd of="$1.img" bs=64k conv=sparse status=none
	cp "$SRCDIR/tests/images/oracle-gpt-lvm.root.json" "$1-root.json"
	cp "$SRCDIR/tests/images/oracle-gpt-lvm.data.json" "$1-data.json"
}

oracle_done() {
	if [ $fail = 0 ]; then echo "PASS"; else echo "FAILED"; fi
	exit $fail
}
