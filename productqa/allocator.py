"""Keep freed memory in the process for the next training step (glibc's malloc, Linux).

A CPU training step allocates and frees hundreds of activation and gradient tensors of a few MB to
a few hundred MB. glibc hands every block above its mmap threshold (at most 32 MB) straight back to
the kernel when it is freed, and trims the heap's top, so the next step asks for the same memory again
and the kernel zeroes each page on its first touch. Measured with bench/train_bench.py on 2 cores
(README, training speed): ~1.6x the tokens/s of the length-grouped cpu preset, for ~0.3 GB more peak
RSS. The same settings can be given as environment variables (MALLOC_MMAP_MAX_=0 ...); doing it here
works however the script is started. Elsewhere (macOS, Windows, musl) this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int: the largest is "never give the heap's top back"


def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and never trim it: freed memory is reused, not refaulted.
    True where glibc took the settings."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
