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
		ok "$label: nbdrecord rejects the broken map ($(grep -E '^  agreement' "$T/nbd-broken.out" | tr -s ' '))"
	else
		bad "$label: nbdrecord exit $st on a broken map"
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

oracle_done() {
	if [ $fail = 0 ]; then echo "PASS"; else echo "FAILED"; fi
	exit $fail
}
