#!/usr/bin/python3
"""Turn a directory tree into an mkfs.xfs protofile (mkfs.xfs -p), for
XFS images the running kernel cannot mount (v4 filesystems).

    xfs_proto.py SRCDIR MANIFEST_IN MANIFEST_OUT > PROTO

Protofile entries are whitespace separated, so names with whitespace (or
non-UTF-8 bytes) are left out; MANIFEST_OUT is the tagtree manifest
without the files, paths and directories that were left out.  Hard links
become separate copies (both paths stay in the manifest: each copy's tags
are then covered by one of the file's paths).

SPDX-License-Identifier: GPL-2.0-or-later
"""

import json
import os
import stat
import sys


def ok(name):
    return name and not any(c.isspace() for c in name) and "$" not in name


def emit(src, rel, depth, out, kept):
    for name in sorted(os.listdir(src)):
        p = os.path.join(src, name)
        r = rel + "/" + name
        if not ok(name):
            continue
        st = os.lstat(p)
        ind = " " * depth
        if stat.S_ISDIR(st.st_mode):
            out.append("%s%s d--755 0 0" % (ind, name))
            kept.add(r)
            emit(p, r, depth + 1, out, kept)
            out.append("%s$" % ind)
        elif stat.S_ISLNK(st.st_mode):
            t = os.readlink(p)
            if ok(t):
                out.append("%s%s l--777 0 0 %s" % (ind, name, t))
        elif stat.S_ISREG(st.st_mode):
            out.append("%s%s ---644 0 0 %s" % (ind, name, os.path.abspath(p)))
            kept.add(r)


def main():
    src, min_, mout = sys.argv[1:4]
    out = ["/dev/null", "0 0", "d--755 0 0"]
    kept = {"/"}
    emit(src, "", 1, out, kept)
    out.append("$")
    print("\n".join(out))
    with open(min_, encoding="utf-8") as f:
        m = json.load(f)
    files = []
    for e in m["files"]:
        e["paths"] = [p for p in e["paths"] if p in kept]
        # hard links became separate copies: each is one of the paths
        e.pop("links", None)
        if e["paths"]:
            e["path"] = e["paths"][0]
            files.append(e)
    m["files"] = files
    m["dirs"] = [d for d in m["dirs"] if d in kept]
    m["symlinks"] = []
    with open(mout, "w", encoding="utf-8") as f:
        json.dump(m, f)


if __name__ == "__main__":
    main()
