"""Keep freed memory in the process for the next step, instead of handing it back to the kernel.

A batched Theorem 5 step allocates and frees some megabytes of temporaries (the (seeds, n, n) arrays
of ``luckbench.sim.batched``). With glibc's default malloc settings, blocks of 128 KiB and more are
mapped from the kernel and unmapped again when freed; the threshold adapts only partway, and the
heap is trimmed whenever more than twice that threshold lies free at its top, so the pages of every
step are faulted in and zeroed afresh. Measured on 2 cores, the full float64 protocol42 grid
(``luckbench sim protocol42``): 188 million page faults, 287 s in the kernel and 16 min 45 s wall
with the defaults; 0.48 million, 15 s and 14 min 24 s with the settings below, same results to the bit.
"""
from __future__ import annotations

import ctypes
import functools
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit: blocks below it come from the heap
TRIM_THRESHOLD = 256 << 20  # free memory the heap keeps at its top (a step churns some tens of MB at most)


def _user_tuned() -> bool:
    """Whether the environment already sets glibc's malloc parameters (then they are left alone)."""
    return any(k.startswith("MALLOC_") for k in os.environ) or "malloc" in os.environ.get("GLIBC_TUNABLES", "")


@functools.cache
def reuse_heap() -> bool:
    """Set glibc's mmap threshold to MMAP_THRESHOLD and its trim threshold to TRIM_THRESHOLD for this
    process, once (forked workers inherit it). This turns off glibc's dynamic threshold adjustment.
    Nothing is done off glibc, or when the environment sets ``MALLOC_*`` or malloc tunables. Returns whether
    the settings apply."""
    if _user_tuned():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError, TypeError):  # no mallopt (macOS), no dlopen(NULL) (Windows)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
