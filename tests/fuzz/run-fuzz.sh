#!/bin/bash
# Run every libFuzzer target for SECONDS each (default 10), seeded from
# the project's demo image and, when present, the shared corpus's small
# images.  Crashes are saved under BUILD/fuzz-crashes/ and fail the run:
# turn each into a regression input under tests/fuzz/regress/.
# usage: run-fuzz.sh BUILD_FUZZ_DIR [SECONDS]
set -u
B=${1:?build dir}; SECS=${2:-10}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
seeds="$B/fuzz-seeds"
if [ ! -d "$seeds" ]; then
	mkdir -p "$seeds"
	xz -dc "$SRC/tests/images/demo.img.xz" > "$seeds/demo.img"
	cp "$SRC"/tests/fuzz/regress/* "$seeds/" 2>/dev/null
	corpus="$SRC/../shared/corpus"
	if [ -d "$corpus" ]; then
		# small images only: the targets read the whole input
		awk -F'\t' 'NR > 1 && $3 <= 4194304 && ($4 == "xz" || $4 == "gz") {print $1 "\t" $4}' \
			"$corpus/INDEX.tsv" | while IFS=$'\t' read -r p c; do
			n=$(echo "$p" | tr '/' '_')
			case $c in
			xz) xz -dc "$corpus/$p" > "$seeds/$n" 2>/dev/null ;;
			gz) gzip -dc "$corpus/$p" > "$seeds/$n" 2>/dev/null ;;
			esac
		done
	fi
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
	n=$((n + 1))
	if "$t" -max_total_time="$SECS" -max_len=4194304 -rss_limit_mb=2048 \
		-timeout=20 -artifact_prefix="$B/fuzz-crashes/$name-" \
		"$work" "$seeds" "${extra[@]}" > "$B/fuzz-work/$name.log" 2>&1; then
		echo "ok - $name ($(grep -o 'exec/s: [0-9]*' "$B/fuzz-work/$name.log" | tail -1))"
	else
		echo "FAIL - $name: see $B/fuzz-work/$name.log"
		grep -m3 -A15 'ERROR: \|runtime error' "$B/fuzz-work/$name.log"
		fail=$((fail + 1))
	fi
done
echo "$((n - fail)) passed, $fail failed"
[ "$fail" = 0 ]
