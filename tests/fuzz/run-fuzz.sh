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
# shellcheck source=tests/fuzz/common.sh
. "$SRC/tests/fuzz/common.sh"
fuzz_seeds "$B" "$SRC"
mkdir -p "$B/fuzz-crashes"
fail=0; n=0
for t in "$B"/tests/fuzz/fuzz-*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	name=$(basename "$t")
	fuzz_corpus "$B" "$SRC" "$name"
	n=$((n + 1))
	if env "${FUZZ_ENV[@]}" "$t" -max_total_time="$SECS" "${FUZZ_OPTS[@]}" \
		-artifact_prefix="$B/fuzz-crashes/$name-" \
		"${FUZZ_DIRS[@]}" > "$B/fuzz-work/$name.log" 2>&1; then
		echo "ok - $name ($(grep -o 'exec/s: [0-9]*' "$B/fuzz-work/$name.log" | tail -1))"
	else
		echo "FAIL - $name: see $B/fuzz-work/$name.log"
		grep -m3 -A15 'ERROR: \|runtime error' "$B/fuzz-work/$name.log"
		fail=$((fail + 1))
	fi
done
echo "$((n - fail)) passed, $fail failed"
[ "$fail" = 0 ]
