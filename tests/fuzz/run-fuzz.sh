#!/bin/bash
# Run every libFuzzer target for SECONDS each (default 10), seeded by
# make-seeds.sh (the demo image, the project's LVM and md sets, fresh
# XFS/btrfs/NTFS filesystems and, when present, the shared corpus; large
# disks packed sparse).  Crashes are saved under BUILD/fuzz-crashes/ and
# fail the run: turn each into a regression input under
# tests/fuzz/regress/.
# usage: run-fuzz.sh BUILD_FUZZ_DIR [SECONDS]
set -u
B=${1:?build dir}; SECS=${2:-10}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
seeds="$B/fuzz-seeds"
# (made again when they predate the maps/ and qcow2/ subdirectories)
if [ ! -f "$seeds.done" ] || [ ! -d "$seeds/maps" ]; then
	rm -rf "$seeds"
	BMAPGEN="$B/bmapgen" "$SRC/tests/fuzz/make-seeds.sh" "$seeds" && touch "$seeds.done"
fi
mkdir -p "$B/fuzz-crashes"
fail=0; n=0
for t in "$B"/tests/fuzz/fuzz-*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	name=$(basename "$t")
	work="$B/fuzz-work/$name"
	mkdir -p "$work"
	# committed seeds of one target (inputs that are not disk images)
	extra=()
	[ -d "$SRC/tests/fuzz/seeds/$name" ] && extra=("$SRC/tests/fuzz/seeds/$name")
	# the map and log readers get maps, the qcow2 layer qcow2 files
	case $name in
	fuzz-mapread | fuzz-trace) sd=$seeds/maps ;; fuzz-qcow2) sd=$seeds/qcow2 ;; *) sd=$seeds ;;
	esac
	n=$((n + 1))
	if "$t" -max_total_time="$SECS" -max_len=4194304 -rss_limit_mb=2048 \
		-timeout=20 -artifact_prefix="$B/fuzz-crashes/$name-" \
		"$work" "$sd" "${extra[@]}" > "$B/fuzz-work/$name.log" 2>&1; then
		echo "ok - $name ($(grep -o 'exec/s: [0-9]*' "$B/fuzz-work/$name.log" | tail -1))"
	else
		echo "FAIL - $name: see $B/fuzz-work/$name.log"
		grep -m3 -A15 'ERROR: \|runtime error' "$B/fuzz-work/$name.log"
		fail=$((fail + 1))
	fi
done
echo "$((n - fail)) passed, $fail failed"
[ "$fail" = 0 ]
