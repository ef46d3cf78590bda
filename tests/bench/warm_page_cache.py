#!/usr/bin/env python3
"""Warm the page cache with GGUF files in 2 MiB folios.

A file read with cat/read() lands in the page cache as small folios, and every mapping of it
is then made of 4 KiB pages. Dropping the file's cached pages and faulting them back through a
MADV_HUGEPAGE mapping (what ds4 does when it is the first to read a model) makes the kernel
read it in 2 MiB folios, which ds4's (2 MiB-aligned, MADV_HUGEPAGE) mapping and llama.cpp's
mapping then map with one PMD entry each: fewer TLB misses while decode streams the weights
(2-6% faster decode measured on the dev VM). Needs a kernel and filesystem with large folios
(Linux >= 6.x, ext4/xfs); elsewhere it is just a cold read.

usage: warm_page_cache.py FILE...
"""
import mmap
import os
import sys


def warm(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # clean pages only: nothing is lost
        m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        try:
            if hasattr(mmap, "MADV_HUGEPAGE"):
                m.madvise(mmap.MADV_HUGEPAGE)
            x = 0
            for off in range(0, len(m), 1 << 16):  # readahead fills the rest of each folio
                x ^= m[off]
        finally:
            m.close()
    finally:
        os.close(fd)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    for p in sys.argv[1:]:
        warm(p)
