"""How a process of shortship keeps the memory it frees (glibc's malloc; elsewhere nothing).

glibc hands an allocation above its mmap threshold (128 KiB at first) straight to the kernel and
gives it back on free, and gives back the free top of its heaps above the trim threshold: every
later allocation of that memory is a page fault per 4 KiB page, each page zeroed by the kernel.
A transcoding worker allocates and frees the same large sizes over and over (its byte ranges
of 32 MiB, their decoded pieces, its per-block arrays), and so does a page renderer: given to
both, `keep_freed` took a 1M-order run from 2.55 to 1.70 million page faults. (DuckDB allocates
through its own jemalloc, which these thresholds do not reach: the run's process is left alone.) `keep_freed` raises both
thresholds for the process so that freed memory is used again instead: the memory a process
holds at its peak does not grow (what it keeps was its own a moment before), the kernel's work
goes.

It calls mallopt(3) through ctypes on glibc only; on any other C library (musl, macOS,
Windows), or if the call fails, it does nothing: the same results, the default allocator."""
from __future__ import annotations

import os
import sys

# mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MIB = 1 << 20


def keep_freed(mmap_threshold: int = 64 * MIB, trim_threshold: int = 256 * MIB, top_pad: int = 16 * MIB) -> bool:
    """Raise this process's mmap and trim thresholds (glibc only). Returns whether all three
    were taken (an older glibc caps the mmap threshold at 32 MiB: then that)."""
    try:
        if not sys.platform.startswith("linux") or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        took = [mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 or mallopt(_M_MMAP_THRESHOLD, 32 * MIB) == 1,
                mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1,
                mallopt(_M_TOP_PAD, top_pad) == 1]
        return all(took)
    except (OSError, AttributeError, ValueError):
        return False
