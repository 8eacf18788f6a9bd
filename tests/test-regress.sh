#!/bin/sh
# Replay every fuzzer-found input under tests/fuzz/regress/ through
# bmapgen (the sanitizer build under make check): it must exit 0, 1 or 2
# within 60 s, without a sanitizer report.  Sparse multi-disk inputs
# (tests/fuzz/sparse.h) are unpacked into sparse files first.
# Full stacks, so that only libntfs-3g's own leak on a failed mount is
# suppressed (tests/lsan-ntfs.supp; see tests/lsan.supp)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$SRCDIR/tests/lsan-ntfs.supp
fail=0; n=0
T="$BUILDDIR/regress-disks"
for f in "$SRCDIR"/tests/fuzz/regress/*; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	set -- "$f"
	if printf BMSPARSE | cmp -s -n 8 - "$f"; then
		rm -rf "$T"; mkdir -p "$T"
		# shellcheck disable=SC2046 # one word per disk file
		set -- $(/usr/bin/python3 "$SRCDIR/tests/fuzz/sparse.py" unpack "$f" "$T/disk")
		if [ $# = 0 ]; then
			echo "skip - $(basename "$f"): no disk in it"
			n=$((n - 1))
			continue
		fi
	fi
	# a hang found by the fuzzer fails too (timeout: exit 124)
	timeout 60 "$BMAPGEN" "$@" > /dev/null 2> "$BUILDDIR/regress.err"
	st=$?
	if [ $st -gt 2 ] || grep -q 'Sanitizer\|runtime error' "$BUILDDIR/regress.err"; then
		echo "FAIL - $(basename "$f"): exit $st"; head -20 "$BUILDDIR/regress.err"
		fail=$((fail + 1))
	fi
done
rm -rf "$T"
echo "$((n - fail)) passed, $fail failed"
[ $fail = 0 ]
