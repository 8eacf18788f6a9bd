# shellcheck shell=bash
# Shared by run-fuzz.sh and campaign.sh (sourced): the seeds, each
# target's corpus directories and the libFuzzer options they both use.

# libFuzzer options of every run: inputs up to 4 MiB (larger disks are
# packed sparse: sparse.h), 2 GiB of RSS, 20 s per input.
# shellcheck disable=SC2034 # used by the scripts that source this
FUZZ_OPTS=(-max_len=4194304 -rss_limit_mb=2048 -timeout=20)
# leaks inside libraries on their own error paths (tests/lsan.supp)
LSAN_OPTIONS=suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/lsan.supp
export LSAN_OPTIONS

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
# read recursively) and its committed seeds in tests/fuzz/seeds/TARGET.
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
	return 0
}
