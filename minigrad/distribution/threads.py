"""Threads per process: the machine's cores shared among the processes on it.

Two processes each running a thread per core would fight over the cores (and
their spinning thread pools slow each other many times over), so under MPI
each process takes cores ÷ processes-on-this-machine threads, for Numba's
kernels and for the BLAS NumPy's matmul calls (OpenBLAS; any BLAS threadpoolctl knows, where it
is installed).
"""
from __future__ import annotations

import ctypes
import os

import numba

from ..backends.cpu.blas import loaded_blas_libraries

_BLAS_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
                 "scipy_openblas_set_num_threads")


def default_threads(local_processes: int) -> int:
    """Cores this process may use ÷ processes on this machine (at least 1). A
    process the launcher bound to some cores already sees only those."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    if usable < (os.cpu_count() or usable):   # bound: these cores are this process's own
        return usable
    return max(1, usable // max(1, local_processes))


def set_threads(n: int) -> int:
    """Use `n` threads in Numba's kernels and in the BLAS; returns the number set
    (Numba's is capped at NUMBA_NUM_THREADS, fixed when Numba started)."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    _set_blas_threads(n)
    return n


def _set_blas_threads(n: int) -> None:
    try:
        from threadpoolctl import threadpool_limits  # when installed: every BLAS it knows
        threadpool_limits(n, user_api="blas")
        return
    except ImportError:
        pass
    for path in loaded_blas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                break


def current_threads() -> tuple:
    """(Numba's threads, the BLAS's threads or None if unknown): for tests and reports."""
    blas = None
    for path in loaded_blas_libraries():
        lib = ctypes.CDLL(path)
        for name in ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
                     "scipy_openblas_get_num_threads"):
            getter = getattr(lib, name, None)
            if getter is not None:
                blas = int(getter())
                break
    return numba.get_num_threads(), blas
