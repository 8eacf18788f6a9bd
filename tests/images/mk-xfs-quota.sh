#!/bin/bash
# Build tests/images/xfs-quota.img.xz in the libguestfs appliance: this
# host kernel has no XFS quota support, and quota inodes are only made
# by a quota mount.
#
#   tests/images/mk-xfs-quota.sh [OUTDIR]     (default: tests/images)
#
# A 64 MiB XFS v5 (whole disk, fixed UUID; mkfs.xfs allows less than
# 300 MB only under fstests' variables) mounted with uquota,gquota,pquota:
#   /        the "small" tagged tree, seed 1 (manifest:
#            xfs-quota-tree.json)
#   /owned   files of uids/gids 1000, 1001, 70000 and 4000000, project
#            4242: ids far apart put their dquots in distant blocks of
#            the quota files (30 dquots per 4 KiB block), so the user and
#            group quota files have holes
# plus limits for user 123456 and group 999999 (dquots without usage).
# shellcheck source=tests/images/appliance.sh
. "$(dirname "$0")/appliance.sh"

small_tree xfs-quota-tree.json
truncate -s 64M "$T/xfs-quota.img"
head -c 8192 /dev/urandom > "$T/blob"
cat > "$T/quota.sh" <<'EOF'
set -e
xfs_quota -x -c 'project -s -p /sysroot/owned 4242' /sysroot
xfs_quota -x -c 'limit -u bhard=100m 123456' -c 'limit -g bhard=50m 999999' /sysroot
xfs_quota -x -c 'report -ugp -n' /sysroot
EOF
sh() { printf 'debug sh "%s 2>&1"\n' "$*"; }
{
	echo run
	sh "TEST_DIR=/tmp TEST_DEV=/dev/null QA_CHECK_FS=1 mkfs.xfs -q -f -m uuid=5ad0c2a0-0000-4000-8000-0000000000f1 /dev/sda"
	echo "mount-options uquota,gquota,pquota /dev/sda /"
	echo "copy-in $(printf "%s " "$T"/tree/*)/"
	echo "mkdir /owned"
	for id in 1000 1001 70000 4000000; do
		echo "upload $T/blob /owned/$id"
		echo "chown $id $id /owned/$id"
	done
	# (debug sh loses inner quotes: the xfs_quota commands go in a
	# script, uploaded and removed again)
	echo "upload $T/quota.sh /quota.sh"
	sh "sh /sysroot/quota.sh"
	echo "rm /quota.sh"
	echo "umount /"
} > "$T/script"
guestfish -a "$T/xfs-quota.img" -f "$T/script"
xz -9 -c "$T/xfs-quota.img" > "$OUT/xfs-quota.img.xz"
echo "wrote $OUT/xfs-quota.img.xz"
