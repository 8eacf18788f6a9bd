#!/bin/bash
# The nbdkit filter: a client reads exactly the blocks debugfs lists for
# two files through `nbdkit --filter=bmaptrace.so`; the live trace must
# name those files, and a write must show as a write.
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
fail=0
FILTER=$BUILDDIR/bmaptrace.so
[ -f "$FILTER" ] || { echo "FAIL - $FILTER not built"; exit 1; }
# The sanitizer build's filter needs the ASan runtime loaded first into
# (uninstrumented) nbdkit; nbdkit's own allocations are not ours to check.
preload=()
if ldd "$FILTER" | grep -q libasan; then
	preload=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0)
fi
xz -dc "$SRCDIR/tests/images/demo.img.xz" > demo.img
"$BMAPGEN" demo.img > demo.bmap
dd if=demo.img of=fs.img bs=512 skip=2048 count=24576 status=none
bs=$(dumpe2fs -h fs.img 2>/dev/null | awk '/^Block size/ {print $3}')
reads=""
for f in /etc/fstab /boot/vmlinuz-demo; do
	for b in $(debugfs -R "blocks $f" fs.img 2>/dev/null); do
		reads="${reads}h.pread($bs, $((2048 * 512 + b * bs))); "
	done
done
# a write to a block of /home/alice/notes.txt (on a copy)
wb=$(debugfs -R "blocks /home/alice/notes.txt" fs.img 2>/dev/null | awk '{print $1}')
cp demo.img rw.img
${preload[@]+"${preload[@]}"} nbdkit -U - --filter="$FILTER" file rw.img bmap=demo.bmap bmaptrace-output=trace.txt \
	--run "env -u LD_PRELOAD /usr/bin/python3 -m nbd -u \"\$uri\" -c '$reads h.pwrite(b\"x\" * $bs, $((2048 * 512 + wb * bs)))'"
st=$?
[ $st = 0 ] && echo "ok - nbdkit with the filter ran" || { echo "FAIL - nbdkit exit $st"; fail=1; }
for want in "read f /dev/sda1 /etc/fstab" "read f /dev/sda1 /boot/vmlinuz-demo" "write f /dev/sda1 /home/alice/notes.txt"; do
	grep -q "^$want\$" trace.txt && echo "ok - $want" || { echo "FAIL - no '$want' in:"; head -20 trace.txt; fail=1; }
done
echo "summary: $([ $fail = 0 ] && echo pass || echo FAIL)"
exit $fail
