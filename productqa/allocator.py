"""Keep freed memory in the process for the next training step (glibc's malloc, Linux).

A CPU training step allocates and frees thousands of activation and gradient tensors, most of them
a few MB. glibc hands every block above its mmap threshold (128 KB at first) straight back to the
kernel when it is freed, and trims the heap's top, so the next step asks for the same memory again and
the kernel zeroes each page on its first touch. Measured on 2 cores (docs/benchmarks.md, training speed): with
gradient checkpointing on, ~1.04x; without it, where each step frees more, 02_train on the demo took
141 s instead of 150 s (x1.07) at the same peak RSS, and the 12-step bench gained more. The same settings
can be given as environment variables (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_); doing it here
works however the script is started. Elsewhere (macOS, Windows, musl) this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_LARGEST_HEAP_BLOCK = 32 * 2**20  # the highest mmap threshold glibc accepts on 64-bit
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int: the largest is "never give the heap's top back"


def keep_freed_memory() -> bool:
    """Serve blocks up to 32 MB from the heap and never trim it: freed activations are reused, not
    refaulted. Larger blocks (a plain stack's full-vocabulary logits) stay mmapped and go back to the
    kernel when freed, so the heap cannot grow by the largest tensors' fragments.
    True where glibc took the settings."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _LARGEST_HEAP_BLOCK)) and \
        bool(libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
