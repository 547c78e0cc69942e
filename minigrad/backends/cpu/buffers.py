"""Reuse of the large temporaries a training step makes, with safe ownership."""
from __future__ import annotations

import ctypes
import math
import mmap
import threading
import weakref

import numpy as np


class BufferPool:
    """Hands out large arrays again once nothing uses them any more.

    A training step makes the same big temporaries every time (im2col columns,
    conv outputs, their gradients); fresh ones would be page-faulted in each
    step (about 15% of a step here).

    Ownership without reference counts: each array handed out reads the
    pool's memory through a fresh ctypes array over it, its owner token. The
    array and every view derived from it (reshapes, slices, transposes, what a
    Function saves for backward, what the user keeps) hold the token alive: a
    view keeps its base alive, and a NumPy array made from a buffer keeps the
    exporting object alive (the buffer protocol's contract). The pool holds
    only a weak reference to the token, so a buffer is free exactly when
    nothing can read or write it any more. This rests on those documented
    guarantees and on weak references, not on CPython's reference counts; an
    interpreter that collects later only delays reuse, it never reuses early.
    """

    MIN_BYTES = 1 << 18   # smaller arrays come from malloc's own free lists
    MAX_BUFFERS = 48

    def __init__(self):
        self._buffers: list = []   # [memory (uint8 array), weakref to its token or None]
        self._lock = threading.Lock()  # two threads must never claim one free buffer

    def empty(self, shape, dtype) -> np.ndarray:
        shape, dtype = tuple(shape), np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.MIN_BYTES:
            return np.empty(shape, dtype)
        with self._lock:
            entry = next((e for e in self._buffers
                          if e[0].size == nbytes and not _in_use(e)), None)
            if entry is None:
                if len(self._buffers) >= self.MAX_BUFFERS:  # shapes changed: drop the free
                    self._buffers = [e for e in self._buffers if _in_use(e)]
                entry = [_allocate(nbytes), None]
                self._buffers.append(entry)
            token = (ctypes.c_byte * nbytes).from_buffer(entry[0])
            entry[1] = weakref.ref(token)
        return np.frombuffer(token, dtype).reshape(shape)

    def in_use(self) -> int:
        """How many pooled buffers are held by someone (for tests)."""
        with self._lock:
            return sum(_in_use(e) for e in self._buffers)


HUGE_PAGE = 2 << 20
USE_HUGE_PAGES = hasattr(mmap, "MADV_HUGEPAGE")  # benchmarks/huge_pages.py turns it off


def _allocate(nbytes: int) -> np.ndarray:
    """Fresh memory for a buffer: from 2 MB up on Linux, its own private mapping,
    started on a 2 MB boundary and advised for transparent huge pages; else np.empty's.

    THP's usual setting ("madvise") backs memory with 2 MB pages only where
    advised, and NumPy advises only arrays of 4 MB and up, on malloc's alignment, so
    most buffers (im2col blocks, conv outputs) were on 4 KB pages, whose TLB misses
    cost more on a VM. Measured by benchmarks/huge_pages.py (fresh processes,
    alternating): training 3-5% and predict 4-8% faster, peak RSS 338 -> 357 MB (a
    huge page is resident whole). Smaller buffers would each take a whole huge page
    for nothing. Not MAP_SHARED (mmap's default): shared memory gets no THP."""
    if not USE_HUGE_PAGES or nbytes < HUGE_PAGE:
        return np.empty(nbytes, np.uint8)
    region = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        region.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # THP compiled out of this kernel: plain pages, as np.empty's
        pass
    raw = np.frombuffer(region, np.uint8)
    start = -raw.ctypes.data % HUGE_PAGE
    return raw[start:start + nbytes]


def _in_use(entry) -> bool:
    return entry[1] is not None and entry[1]() is not None
