#!/usr/bin/python3
"""Crafted images with cycles and absurd values for tests/test-absurd.sh.

usage: absurd.py CASE OUT.img HEALTHY.img [FS.img [ARGS]]

Every disk has a healthy FAT partition (HEALTHY.img, holding /KEEP.TXT)
next to the damaged object, so the test can check that the rest of the
image is still mapped.  FS.img, when given, is a filesystem image made by
the test (mke2fs, mkfs.xfs, mkfs.btrfs) that this script damages in
place first.  Offsets and field layouts are from the on-disk format
specifications (UEFI 2.10 ch. 5, lvm2's format_text, md's md_p.h, XFS
xfs_format.h, btrfs ctree.h, ext4 ext4.h / ext4_extents.h).
"""
import mmap
import re
import struct
import subprocess
import sys
import zlib

SEC = 512
MiB = 1 << 20


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), as XFS and btrfs use it."""
    tab = crc32c.tab
    if tab is None:
        tab = crc32c.tab = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            tab.append(c)
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = tab[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c.tab = None


def lvm_crc(data, init=0xF597A6CF):
    """lvm2's calc_crc: CRC-32 without the inversions, seed 0xf597a6cf."""
    return zlib.crc32(data, init ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def mbr_entry(img, base, i, ptype, start, count):
    struct.pack_into('<4xB3xII', img, base + 446 + 16 * i, ptype, start, count)
    img[base + 510:base + 512] = b'\x55\xaa'


def disk_with(parts, size, healthy):
    """An MBR disk: PARTS = [(type, start_lba, bytes-or-None)] primaries;
    the healthy FAT goes in the last slot given as 'H'."""
    img = bytearray(size)
    for i, (t, lba, data) in enumerate(parts):
        if data == 'H':
            data = healthy
        n = len(data) // SEC if isinstance(data, (bytes, bytearray)) else data
        mbr_entry(img, 0, i, t, lba, n)
        if isinstance(data, (bytes, bytearray)):
            img[lba * SEC:lba * SEC + len(data)] = data
    return img


# ---------------------------------------------------------------- tables

def ebr_loop(healthy):
    """Extended partition whose second EBR links back to the first."""
    img = disk_with([(0x0C, 2048, 'H'), (0x05, 16384, 8192)], 16 * MiB, healthy)
    e1, e2 = 16384, 16384 + 4096
    mbr_entry(img, e1 * SEC, 0, 0x83, 2048, 1024)    # sda5
    mbr_entry(img, e1 * SEC, 1, 0x05, 4096, 4096)    # -> EBR 2
    mbr_entry(img, e2 * SEC, 0, 0x83, 2048, 1024)    # sda6
    mbr_entry(img, e2 * SEC, 1, 0x05, 0, 4096)       # -> EBR 1 again
    return img


def gpt(img, parts, nent=128, last_usable=None, header_only_primary=None):
    """Write a GPT (both copies) with PARTS = [(first, last)] LBAs."""
    total = len(img) // SEC
    esz = 128
    arr = bytearray(128 * esz)
    for i, (a, b) in enumerate(parts):
        e = i * esz
        arr[e:e + 16] = b'\xaf' * 16
        arr[e + 16:e + 32] = bytes([i + 1]) * 16
        struct.pack_into('<QQ', arr, e + 32, a, b)
    acrc = zlib.crc32(arr)
    asec = len(arr) // SEC
    for copy in (0, 1):
        my, alt = (1, total - 1) if copy == 0 else (total - 1, 1)
        alba = 2 if copy == 0 else total - 1 - asec
        h = bytearray(92)
        h[0:8] = b'EFI PART'
        struct.pack_into('<II', h, 8, 0x10000, 92)
        lu = last_usable if last_usable is not None else total - asec - 2
        struct.pack_into('<QQQQ', h, 24, my, alt, 2 + asec, lu)
        h[56:72] = b'\x42' * 16
        struct.pack_into('<QIII', h, 72, alba, 128, esz, acrc)
        if copy == 0 and header_only_primary:
            header_only_primary(h)
        struct.pack_into('<I', h, 16, 0)
        struct.pack_into('<I', h, 16, zlib.crc32(h))
        img[my * SEC:my * SEC + 92] = h
        img[alba * SEC:alba * SEC + len(arr)] = arr
    mbr_entry(img, 0, 0, 0xEE, 1, min(total - 1, 0xFFFFFFFF))


def gpt_disk(healthy, extra, **kw):
    img = bytearray(16 * MiB)
    n = len(healthy) // SEC
    img[2048 * SEC:2048 * SEC + len(healthy)] = healthy
    gpt(img, [(2048, 2048 + n - 1)] + extra, **kw)
    return img


def gpt_nument(healthy):
    """Primary header: 2^32-1 entries (valid header CRC); backup sane."""
    def f(h):
        struct.pack_into('<I', h, 80, 0xFFFFFFFF)
    return gpt_disk(healthy, [], header_only_primary=f)


def gpt_lastlba(healthy):
    """A second entry ending at LBA 2^64-2, and last usable LBA 2^64-2."""
    big = (1 << 64) - 2
    return gpt_disk(healthy, [(big - 1000, big)], last_usable=big)


# ---------------------------------------------------------------- LVM

PV_SIZE = 4 * MiB


def lvm_pv(text, uuid=b'PV' + b'0' * 30):
    pv = bytearray(PV_SIZE)
    lab = bytearray(512)
    lab[0:8] = b'LABELONE'
    struct.pack_into('<Q', lab, 8, 1)
    struct.pack_into('<I', lab, 20, 32)
    lab[24:32] = b'LVM2 001'
    lab[32:64] = uuid
    struct.pack_into('<QQQQQQQQ', lab, 64, PV_SIZE, 1 << 18, 0, 0, 0, 4096,
                     64 * 1024, 0)
    struct.pack_into('<I', lab, 16, lvm_crc(bytes(lab[20:])))
    pv[512:1024] = lab
    t = text.encode() + b'\0'
    m = bytearray(512)
    m[4:20] = b' LVM2 x[5A%r0N*>'
    struct.pack_into('<IQQ', m, 20, 1, 4096, 64 * 1024)
    struct.pack_into('<QQI', m, 40, 512, len(t), lvm_crc(t))
    struct.pack_into('<I', m, 0, lvm_crc(bytes(m[4:])))
    pv[4096:4608] = m
    pv[4096 + 512:4096 + 512 + len(t)] = t
    return pv


def lvm_text(lvs, extent_size=128, pe_count=56):
    return ('vg {\nid = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"\n'
            'seqno = 3\nextent_size = %d\n'
            'physical_volumes {\npv0 { id = '
            '"PV0000-0000-0000-0000-0000-0000-000000"\n'
            'pe_start = 512 pe_count = %d }\n}\n'
            'logical_volumes {\n%s}\n}\n'
            'contents = "Text Format Volume Group"\nversion = 1\n'
            % (extent_size, pe_count, lvs))


def lv(name, count, pe, start=0):
    return ('%s { status = ["READ", "WRITE", "VISIBLE"] segment_count = 1\n'
            '  segment1 { start_extent = %d extent_count = %d '
            'type = "striped" stripe_count = 1 stripes = ["pv0", %d] }\n}\n'
            % (name, start, count, pe))


def lvm_disk(healthy, text):
    pv = lvm_pv(text)
    return disk_with([(0x8E, 2048, pv), (0x0C, 2048 + PV_SIZE // SEC, 'H')],
                     16 * MiB, healthy)


def lvm_overlap(healthy):
    """Two LVs sharing physical extents 10-14."""
    return lvm_disk(healthy, lvm_text(lv('good', 4, 0) + lv('a', 5, 10) +
                                      lv('b', 5, 12)))


def lvm_past_pv(healthy):
    return lvm_disk(healthy, lvm_text(lv('good', 4, 0) + lv('past', 10, 50)))


def lvm_count(healthy):
    return lvm_disk(healthy, lvm_text(lv('good', 4, 0) +
                                      lv('huge', 0xFFFFFFFF, 4)))


def lvm_size(healthy):
    """The largest extent size lvm2 accepts (2^32-1 sectors) times
    2^32-1 extents: an LV size past 2^64 bytes."""
    return lvm_disk(healthy, lvm_text(lv('good', 1, 0) +
                                      lv('huge', 0xFFFFFFFF, 4),
                                      extent_size=0xFFFFFFFF))


def lvm_extent_size(healthy):
    """An extent size of 2^53 sectors (2^62 bytes): no usable VG."""
    return lvm_disk(healthy, lvm_text(lv('good', 4, 0),
                                      extent_size=(1 << 62) // 512))


# ---------------------------------------------------------------- md

def md_sb1(role, level, disks, size, data_size, chunk=128, events=5):
    """A v1.2 superblock (at 4 KiB; md_p.h struct mdp_superblock_1)."""
    b = bytearray(1024)
    struct.pack_into('<II', b, 0, 0xA92B4EFC, 1)
    b[16:32] = b'\x11' * 16                    # set_uuid
    b[32:36] = b'bm:0'                         # set_name
    struct.pack_into('<Q', b, 64, 1700000000)  # ctime
    struct.pack_into('<iIQII', b, 72, level, 0, size, chunk, disks)
    struct.pack_into('<QQQ', b, 128, 2048, data_size, 8)
    struct.pack_into('<I', b, 160, role)       # dev_number
    b[168:184] = bytes([role + 1]) * 16        # device_uuid
    struct.pack_into('<Q', b, 200, events)
    struct.pack_into('<I', b, 220, disks)      # max_dev
    for i in range(disks):
        struct.pack_into('<H', b, 256 + 2 * i, i)
    n = 256 + 2 * disks
    s = sum(struct.unpack_from('<%dI' % (n // 4), b, 0))
    if n % 4:
        s += struct.unpack_from('<H', b, n - 2)[0]
    struct.pack_into('<I', b, 216, ((s & 0xFFFFFFFF) + (s >> 32)) & 0xFFFFFFFF)
    return b


def md_disk(healthy, sb_a, sb_b):
    m = 4 * MiB
    a, b = bytearray(m), bytearray(m)
    a[4096:4096 + len(sb_a)] = sb_a
    b[4096:4096 + len(sb_b)] = sb_b
    return disk_with([(0xFD, 2048, a), (0xFD, 2048 + m // SEC, b),
                      (0x0C, 2048 + 2 * m // SEC, 'H')], 16 * MiB, healthy)


def md_geometry(healthy):
    """Members of one array (same UUID) that disagree on level/disks."""
    ds = 4 * MiB // SEC - 2048
    return md_disk(healthy, md_sb1(0, 1, 2, ds, ds),
                   md_sb1(1, 5, 3, 2 * ds, ds))


def md_array_size(healthy):
    """Members agree on an array size near 2^64 bytes; data areas sane."""
    ds = 4 * MiB // SEC - 2048
    huge = (1 << 55) - 1
    return md_disk(healthy, md_sb1(0, 1, 2, huge, ds),
                   md_sb1(1, 1, 2, huge, ds))


def md_size(healthy):
    """Array and data size near 2^64 bytes."""
    huge = (1 << 55) - 1
    return md_disk(healthy, md_sb1(0, 1, 2, huge, huge),
                   md_sb1(1, 1, 2, huge, huge))


# ---------------------------------------------------------------- filesystems

def fs_disk(out, healthy, fs):
    """Write OUT: an MBR disk with FS (an mmap) as partition 1 and the
    healthy FAT as partition 2, sparsely (filesystem images are mostly
    zeros)."""
    p1, n1 = 2048, len(fs) // SEC
    p2 = p1 + n1
    mbr = bytearray(SEC)
    mbr_entry(mbr, 0, 0, 0x83, p1, n1)
    mbr_entry(mbr, 0, 1, 0x0C, p2, len(healthy) // SEC)
    chunk = 1 << 16
    with open(out, 'wb') as f:
        f.truncate((p2 + 2048) * SEC + len(healthy))
        f.write(mbr)
        for o in range(0, len(fs), chunk):
            c = fs[o:o + chunk]
            if c.count(0) != len(c):
                f.seek(p1 * SEC + o)
                f.write(c)
        f.seek(p2 * SEC)
        f.write(healthy)


def ext_extent_cycle(fs):
    """The first extent-tree index block of /sparse re-made as an index
    node (depth 1) whose only entry points to itself.  The test passes
    the block number (debugfs 'stat' of the file) in argv[5]."""
    blk = int(sys.argv[5])
    bs = 1024 << struct.unpack_from('<I', fs, 1024 + 24)[0]
    o = blk * bs
    # ext4_extent_header: magic, entries, max, depth, generation
    magic, ent, mx, depth = struct.unpack_from('<HHHH', fs, o)
    assert magic == 0xF30A, 'not an extent block'
    struct.pack_into('<HHHH', fs, o, 0xF30A, 1, mx, 1)
    # ext4_extent_idx: ei_block, ei_leaf_lo, ei_leaf_hi, unused
    struct.pack_into('<IIHH', fs, o + 12, 0, blk, 0, 0)
    # the inode's root claims depth 2 so the self-pointer is followed
    ino_off = int(sys.argv[6])
    struct.pack_into('<H', fs, ino_off + 40 + 6, 2)


def ext_inodes_count(fs):
    struct.pack_into('<I', fs, 1024 + 0, 0xFFFFFFF0)


def xfs_sb_crc(fs):
    sb = bytearray(fs[0:512])
    struct.pack_into('>I', sb, 224, 0)
    c = crc32c(bytes(sb))
    struct.pack_into('<I', fs, 224, c)


def xfs_agcount(fs):
    struct.pack_into('>I', fs, 88, 0xFFFFFFFF)
    xfs_sb_crc(fs)


def xfs_btree_cycle(fs):
    """AG 0's by-block free-space btree: root made an interior node
    (level 1) whose only pointer is the root itself; the AGF says 2
    levels.  CRCs recomputed, so only the cycle is wrong."""
    bs, = struct.unpack_from('>I', fs, 4)
    ss, = struct.unpack_from('>H', fs, 102)
    agf = ss
    root, = struct.unpack_from('>I', fs, agf + 16)
    struct.pack_into('>I', fs, agf + 28, 2)
    a = bytearray(fs[agf:agf + ss])
    struct.pack_into('>I', a, 216, 0)
    struct.pack_into('<I', fs, agf + 216, crc32c(bytes(a)))
    o = root * bs
    struct.pack_into('>HH', fs, o + 4, 1, 1)
    maxrecs = (bs - 56) // 12
    struct.pack_into('>II', fs, o + 56, 0, 1)
    struct.pack_into('>I', fs, o + 56 + 8 * maxrecs, root)
    b = bytearray(fs[o:o + bs])
    struct.pack_into('>I', b, 52, 0)
    struct.pack_into('<I', fs, o + 52, crc32c(bytes(b)))


def btrfs_csum(fs, o, ns):
    struct.pack_into('<I', fs, o, crc32c(bytes(fs[o + 32:o + ns])))
    fs[o + 4:o + 32] = bytes(28)


def btrfs_phys(fs, logical):
    """Physical offset of LOGICAL, from the chunk tree as btrfs-progs
    prints it (single-profile test images: one stripe per chunk)."""
    out = subprocess.run(['btrfs', 'inspect-internal', 'dump-tree', '-t',
                          'chunk', sys.argv[4]], capture_output=True,
                         text=True, check=True).stdout
    lo = ln = None
    for line in out.splitlines():
        m = re.search(r'CHUNK_ITEM (\d+)\)', line)
        if m:
            lo = int(m.group(1))
        m = re.search(r'^\s+length (\d+)', line)
        if m:
            ln = int(m.group(1))
        m = re.search(r'stripe 0 devid \d+ offset (\d+)', line)
        if m and lo is not None and lo <= logical < lo + ln:
            return int(m.group(1)) + logical - lo
    raise SystemExit('no chunk for %#x' % logical)


def btrfs_sb_csum(fs):
    o = 65536
    struct.pack_into('<I', fs, o, crc32c(bytes(fs[o + 32:o + 4096])))
    fs[o + 4:o + 32] = bytes(28)


def btrfs_tree_cycle(fs):
    """The root tree's root block made a level-1 node whose only key
    pointer is itself (superblock root_level 1); checksums recomputed."""
    sb = 65536
    root, = struct.unpack_from('<Q', fs, sb + 0x50)
    ns, = struct.unpack_from('<I', fs, sb + 0x94)
    o = btrfs_phys(fs, root)
    gen, = struct.unpack_from('<Q', fs, o + 0x50)
    struct.pack_into('<IB', fs, o + 0x60, 1, 1)   # nritems 1, level 1
    # btrfs_key_ptr: key (objectid, type, offset), blockptr, generation
    struct.pack_into('<QBQQQ', fs, o + 0x65, 1, 132, 0, root, gen)
    btrfs_csum(fs, o, ns)
    fs[sb + 0xC6] = 1                               # root_level
    btrfs_sb_csum(fs)


def btrfs_nritems(fs):
    """The root tree's root leaf claims 2^32-1 items; checksum valid."""
    sb = 65536
    root, = struct.unpack_from('<Q', fs, sb + 0x50)
    ns, = struct.unpack_from('<I', fs, sb + 0x94)
    o = btrfs_phys(fs, root)
    struct.pack_into('<I', fs, o + 0x60, 0xFFFFFFFF)
    btrfs_csum(fs, o, ns)


def btrfs_leaf_items(fs, o):
    """(key objectid, type, offset, data offset, size) of the leaf at
    physical O: btrfs_item after the 0x65-byte header, data offsets
    relative to the end of the header."""
    n, = struct.unpack_from('<I', fs, o + 0x60)
    for i in range(n):
        oid, t, off, do, sz = struct.unpack_from('<QBQII', fs, o + 0x65 + 25 * i)
        yield oid, t, off, o + 0x65 + do, sz


def btrfs_root_item(fs, objectid):
    """Physical offsets of the root tree leaf and of the ROOT_ITEM of
    tree OBJECTID in it (a small filesystem: the root tree is a leaf)."""
    sb = 65536
    o = btrfs_phys(fs, struct.unpack_from('<Q', fs, sb + 0x50)[0])
    for oid, t, _, d, _ in btrfs_leaf_items(fs, o):
        if oid == objectid and t == 132:
            return o, d
    raise SystemExit('no root item for tree %d' % objectid)


def btrfs_extent_cycle(fs):
    """The extent tree's root block made a level-1 node whose only key
    pointer is itself.  Trees other than fs trees are walked for their
    blocks only, skipping blocks already mapped: the cycle must still be
    reported, not taken for a block mapped before."""
    ns, = struct.unpack_from('<I', fs, 65536 + 0x94)
    leaf, ri = btrfs_root_item(fs, 2)
    root, = struct.unpack_from('<Q', fs, ri + 176)   # root_item.bytenr
    o = btrfs_phys(fs, root)
    gen, = struct.unpack_from('<Q', fs, o + 0x50)
    struct.pack_into('<IB', fs, o + 0x60, 1, 1)
    struct.pack_into('<QBQQQ', fs, o + 0x65, 1, 168, 0, root, gen)
    btrfs_csum(fs, o, ns)
    fs[ri + 238] = 1                                 # root_item.level
    btrfs_csum(fs, leaf, ns)


def btrfs_dot_name(fs):
    """The DIR_INDEX entry of /x renamed ".": a second name for the
    directory itself, which must be reported and not walked."""
    ns, = struct.unpack_from('<I', fs, 65536 + 0x94)
    _, ri = btrfs_root_item(fs, 5)
    o = btrfs_phys(fs, struct.unpack_from('<Q', fs, ri + 176)[0])
    assert fs[o + 0x64] == 0, 'the fs tree is a leaf'
    done = 0
    for oid, t, _, d, sz in btrfs_leaf_items(fs, o):
        # btrfs_dir_item: location key (17), transid, data_len, name_len,
        # type, then the name
        if oid == 256 and t == 96 and sz == 30 + 1 and fs[d + 30] == ord('x'):
            fs[d + 30] = ord('.')
            done += 1
    assert done == 1, 'one DIR_INDEX entry named x'
    btrfs_csum(fs, o, ns)


def fat_deep(fs):
    """A chain of 1500 directories below the root of a FAT16 filesystem
    (mkfs.vfat -F 16 -s 2: 1 KiB clusters), each named with 255 CJK
    characters (765 bytes of UTF-8): its paths would grow to 1.1 MB,
    and all of them together to 860 MB.  Each directory is one cluster
    (its long-name entries, 21 slots, then the 8.3 entry); the FATs are
    rewritten.  (Microsoft FAT spec: directory entries, LFN slots with
    the 8.3 name's checksum.)"""
    bps, spc, res, nfats, rootent = struct.unpack_from('<HBHBH', fs, 11)
    fatsz, = struct.unpack_from('<H', fs, 22)
    cs = bps * spc
    root = (res + nfats * fatsz) * bps
    data = root + rootent * 32
    name = ('\u4e00' * 255).encode('utf-16-le') + b'\0\0' + b'\xff' * 24

    def dirent(sfn, cluster):
        s = 0
        for c in sfn:
            s = (((s & 1) << 7) + (s >> 1) + c) & 0xFF
        out = b''
        for i in range(20, 0, -1):  # 20 slots of 13 UTF-16 units
            u = name[(i - 1) * 26:i * 26]
            e = bytearray(32)
            e[0] = i | (0x40 if i == 20 else 0)
            e[1:11], e[11], e[13] = u[0:10], 0x0F, s
            e[14:26], e[28:32] = u[10:22], u[22:26]
            out += bytes(e)
        e = bytearray(32)
        e[0:11], e[11] = sfn, 0x10
        struct.pack_into('<H', e, 26, cluster)
        return out + bytes(e)

    depth = 1500
    fat = bytearray(fs[res * bps:(res + fatsz) * bps])
    free = next(c for c in range(2, len(fat) // 2)
                if struct.unpack_from('<H', fat, 2 * c)[0] == 0)
    first = root + next(i for i in range(0, rootent * 32, 32)
                        if fs[root + i] == 0)
    fs[first:first + 21 * 32] = dirent(b'DEEP0000   ', free)
    for level in range(depth):
        c = free + level
        struct.pack_into('<H', fat, 2 * c, 0xFFFF)
        d = b'' if level == depth - 1 else \
            dirent(b'D%07d   ' % (level + 1), c + 1)
        o = data + (c - 2) * cs
        fs[o:o + cs] = d.ljust(cs, b'\0')
    for i in range(nfats):
        o = (res + i * fatsz) * bps
        fs[o:o + len(fat)] = fat


def fat_warnings(fs):
    """50 000 files whose clusters lie outside the data area, in a
    directory below 160 nested 8.3 directories (a 2080-byte path), in a
    4 MiB FAT16 of 512-byte clusters (mkfs.vfat -F 16 -s 1): each file
    is a warning quoting its path.  Every message was kept, each in a
    buffer of twice its size; the FATs are rewritten."""
    bps, spc, res, nfats, rootent = struct.unpack_from('<HBHBH', fs, 11)
    fatsz, = struct.unpack_from('<H', fs, 22)
    cs = bps * spc
    root = (res + nfats * fatsz) * bps
    data = root + rootent * 32
    fat = bytearray(fs[res * bps:(res + fatsz) * bps])

    def ent(name, attr, cluster, size=0):
        return struct.pack('<11sB10xHHHI', name, attr, 0, 0, cluster, size)

    def at(c):
        return data + (c - 2) * cs

    levels, nfiles, per = 160, 50000, cs // 32
    fs[root:root + 32] = ent(b'D0000000   ', 0x10, 2)
    for k in range(levels):
        c = 2 + k
        d = ent(b'.          ', 0x10, c) + ent(b'..         ', 0x10, c - 1 if k else 0)
        if k + 1 < levels:
            d += ent(b'D%07d   ' % (k + 1), 0x10, c + 1)
            struct.pack_into('<H', fat, 2 * c, 0xFFFF)
        fs[at(c):at(c) + cs] = d.ljust(cs, b'\0')
    # the deepest directory goes on over the clusters after the others
    chain = [2 + levels - 1] + [2 + levels + i for i in range((nfiles + 2) // per)]
    for i, c in enumerate(chain):
        struct.pack_into('<H', fat, 2 * c, chain[i + 1] if i + 1 < len(chain) else 0xFFFF)
        if i:
            fs[at(c):at(c) + cs] = bytes(cs)
    for i in range(nfiles):
        slot = i + 2  # after . and ..
        o = at(chain[slot // per]) + slot % per * 32
        fs[o:o + 32] = ent(b'F%07dTXT' % i, 0x20, 0xFFF0, 512)
    for i in range(nfats):
        o = (res + i * fatsz) * bps
        fs[o:o + len(fat)] = fat


TABLE_CASES = {
    'ebr-loop': ebr_loop, 'gpt-nument': gpt_nument,
    'gpt-lastlba': gpt_lastlba, 'lvm-overlap': lvm_overlap,
    'lvm-past-pv': lvm_past_pv, 'lvm-count': lvm_count,
    'lvm-size': lvm_size, 'lvm-extent-size': lvm_extent_size, 'md-geometry': md_geometry, 'md-size': md_size,
    'md-array-size': md_array_size,
}
FS_CASES = {
    'ext-extent-cycle': ext_extent_cycle,
    'ext-inodes-count': ext_inodes_count,
    'xfs-agcount': xfs_agcount, 'xfs-btree-cycle': xfs_btree_cycle,
    'btrfs-tree-cycle': btrfs_tree_cycle, 'btrfs-nritems': btrfs_nritems,
    'btrfs-extent-cycle': btrfs_extent_cycle, 'btrfs-dot-name': btrfs_dot_name,
    'fat-deep': fat_deep, 'fat-warnings': fat_warnings,
}


def main():
    case, out, hpath = sys.argv[1:4]
    healthy = open(hpath, 'rb').read()
    if case in TABLE_CASES:
        with open(out, 'wb') as f:
            f.write(TABLE_CASES[case](healthy))
        return
    # the filesystem image is damaged in place, through a mapping
    with open(sys.argv[4], 'r+b') as f:
        fs = mmap.mmap(f.fileno(), 0)
        FS_CASES[case](fs)
        fs_disk(out, healthy, fs)
        fs.close()


if __name__ == '__main__':
    main()
