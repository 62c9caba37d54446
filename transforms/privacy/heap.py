"""Keep freed memory in the process while the engine works on large arrays.

The searches allocate and free arrays of the frequency table's length many times per node
(tens of MB each at 10M plays). glibc's malloc serves an allocation that large with a fresh
`mmap` and returns it with `munmap` when freed, so every temporary array is faulted in and
zeroed page by page again: measured on the 10M search, 158-170 of 460 CPU-seconds were the
kernel's (page faults), and the search took 451-484 s. With large blocks served from the
heap and freed memory kept there for reuse, the same search took 315 s (14.7 s in the
kernel), same nodes, same result, peak memory within the run-to-run spread.

Applied once per process by the engine (`Engine.load`) and the cell suppression
(`tables.protect`), with glibc's `mallopt`; elsewhere (another libc) it does nothing. The
memory stays with the process until it ends (a stage's task process, or the CLI's run), which
is what a batch step wants. `EXPORT_ENGINE_KEEP_FREED_MEMORY=0` leaves malloc's defaults.
DuckDB allocates through its own allocator and is not affected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

#: Return memory to the system only when this much is free at the top of the heap (mallopt
#: takes an int: about 2 GB is the most it accepts).
TRIM_THRESHOLD = 2**31 - 1
#: Grow the heap by this much more than asked, so growing is rare (address space only).
TOP_PAD = 256 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed memory for reuse (once per
    process). Returns whether the setting is in effect."""
    kept = False
    if os.environ.get("EXPORT_ENGINE_KEEP_FREED_MEMORY", "1").strip() not in ("0", "false", "no"):
        kept = _mallopt({M_MMAP_MAX: 0, M_TRIM_THRESHOLD: TRIM_THRESHOLD, M_TOP_PAD: TOP_PAD})
    log.debug("engine: freed memory kept in the process for reuse: %s", kept)
    return kept


def _mallopt(settings: dict[int, int]) -> bool:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):  # glibc's parameters only
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in settings.items())
