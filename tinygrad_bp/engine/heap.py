"""The C library's heap settings for training with Tensors.

A training step allocates the same arrays at every step and frees them all when its
graph dies. With glibc's defaults, arrays of 128 KiB and more (a 64 x 256 float64
array is exactly that) make the heap grow at every step and shrink again when the
step's graph is freed; the next step then touches fresh pages from the system, a page
fault per 4 KiB. On a 2-64-64-1 network at batch 256 that made an eager step 1.5x
slower, and a training run's steps 1.3x slower, than the same numpy work without
faults.

`keep_heap()` raises glibc's mmap threshold to 4 MiB and its trim threshold to
16 MiB, once per process, so that freed memory is reused by the next step: the
process keeps up to 16 MiB more than it needs between steps. `Tensor.backward` and
a traced step call it. It does nothing on other C libraries, when
``TINYGRAD_BP_KEEP_MALLOC=1`` is set, or when the process sets glibc's own
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_TOP_PAD_``
(the user's settings win).
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["keep_heap"]

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 16 << 20
_OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")

_lock = threading.Lock()
_result: bool | None = None


def keep_heap() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once); whether they are set."""
    global _result
    if _result is not None:
        return _result
    with _lock:
        if _result is None:
            _result = _set_thresholds()
    return _result


def _set_thresholds() -> bool:
    if (
        not sys.platform.startswith("linux")
        or os.environ.get("TINYGRAD_BP_KEEP_MALLOC") == "1"
        or any(name in os.environ for name in _OWN_SETTINGS)
    ):
        return False
    import ctypes  # about 2 ms, once

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (musl's does nothing)
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # both together: setting either one alone freezes glibc's adaptive mmap threshold
    # at 128 KiB, and larger arrays then fault on every step
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
