# shellcheck shell=bash
# Sourced by the tests/images/mk-*.sh generators: strict mode; SRCDIR;
# OUT, the output directory (the script's first argument, default
# tests/images); the libguestfs appliance under TCG (this host's KVM
# fails); a temporary directory T, removed at exit; and
#   small_tree MANIFEST   the "small" tagged tree (tests/oracle/tagtree.py,
#                         seed 1) in $T/tree, its manifest copied to
#                         $OUT/MANIFEST
set -euo pipefail
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$SRCDIR/tests/images}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

small_tree() {
	python3 "$SRCDIR/tests/oracle/tagtree.py" gen --manifest "$T/tree.json" \
		--profile small --seed 1 "$T/tree" >/dev/null
	cp "$T/tree.json" "$OUT/$1"
}
