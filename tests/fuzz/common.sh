# shellcheck shell=bash
# Shared by run-fuzz.sh and campaign.sh (sourced): the seeds, each
# target's corpus directories and the libFuzzer options they both use.

# libFuzzer options of every run: inputs up to 4 MiB (larger disks are
# packed sparse: sparse.h), 2 GiB of RSS, 20 s per input.
# shellcheck disable=SC2034 # used by the scripts that source this
FUZZ_OPTS=(-max_len=4194304 -rss_limit_mb=2048 -timeout=20)
FUZZ_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# fuzz_seeds BUILD SRC: make BUILD/fuzz-seeds with make-seeds.sh unless
# it is there (made again when it predates the maps/ and qcow2/
# subdirectories).
fuzz_seeds() {
	local s=$1/fuzz-seeds
	[ -f "$s.done" ] && [ -d "$s/maps" ] && return 0
	rm -rf "$s"
	BMAPGEN="$1/bmapgen" "$2/tests/fuzz/make-seeds.sh" "$s" && touch "$s.done"
}

# fuzz_corpus BUILD SRC TARGET: set FUZZ_DIRS to the target's corpus
# directories: its work directory (created), its seeds (the map and log
# readers get maps, the qcow2 layer qcow2 files, the rest every seed,
# read recursively) and its committed seeds in tests/fuzz/seeds/TARGET;
# and FUZZ_ENV to its sanitizer settings (run it with env "${FUZZ_ENV[@]}"):
# the leak suppressions of tests/lsan.supp, or, for the targets that
# reach libntfs-3g, full stacks and tests/lsan-ntfs.supp, so that only
# the library's own leak is suppressed, not bmapgen's.
fuzz_corpus() {
	local s=$1/fuzz-seeds
	mkdir -p "$1/fuzz-work/$3"
	FUZZ_DIRS=("$1/fuzz-work/$3")
	case $3 in
	fuzz-mapread | fuzz-trace) FUZZ_DIRS+=("$s/maps") ;;
	fuzz-qcow2) FUZZ_DIRS+=("$s/qcow2") ;;
	*) FUZZ_DIRS+=("$s") ;;
	esac
	[ -d "$2/tests/fuzz/seeds/$3" ] && FUZZ_DIRS+=("$2/tests/fuzz/seeds/$3")
	case $3 in
	fuzz-ntfs | fuzz-all)
		FUZZ_ENV=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
			"LSAN_OPTIONS=suppressions=$FUZZ_SRC/tests/lsan-ntfs.supp") ;;
	*) FUZZ_ENV=("LSAN_OPTIONS=suppressions=$FUZZ_SRC/tests/lsan.supp") ;;
	esac
	return 0
}
