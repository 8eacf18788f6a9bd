#!/usr/bin/python3
"""Below DIR, a chain of 15 directories named with 250 letters each (a
path of 3765 bytes), holding an empty file f and COUNT hard links to it
named 0, 1, ...: every link is an object whose name is kept whole.  For
the names budget (test-absurd.sh, test-bmaptool.sh).

    deep_links.py DIR COUNT
"""
import os
import sys


def main():
    d, count = sys.argv[1], int(sys.argv[2])
    for i in range(15):
        d += "/" + chr(ord("a") + i) * 250
    os.makedirs(d)
    open(d + "/f", "w").close()
    for i in range(count):
        os.link(d + "/f", d + "/%d" % i)


if __name__ == '__main__':
    main()
