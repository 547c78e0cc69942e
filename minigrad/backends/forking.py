"""What a fork of this process needs: whether the copy could run beside the state of
Numba, CUDA and Python's threads, and its death with the parent. Used by
initialize(num_processes=N) (distribution/local_group.py) and by the cold first
compile on two processes (backends/cpu/compile_ahead.py)."""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading


def fork_hazard() -> tuple | None:
    """Why a fork now would leave the copy unable to run, or None:
    ("threads", names) where other Python threads run (a lock one holds stays held in
    the copy for ever), ("cuda",) once a CUDA context exists, ("omp",) once GNU
    OpenMP (Numba's 'omp' threading layer) has started (it kills the copy)."""
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        return ("threads", others)
    cuda = sys.modules.get("numba.cuda.cudadrv.driver")
    if cuda is not None and getattr(getattr(cuda, "driver", None), "is_initialized", False):
        return ("cuda",)
    from numba.np.ufunc import parallel
    if getattr(parallel, "_is_initialized", False):
        import numba
        if numba.threading_layer() == "omp":
            return ("omp",)
    return None


def die_with_parent(parent: int, code: int) -> None:
    """Linux, in a forked child: this process gets SIGKILL when `parent` ends, however
    it ends (exits with `code` at once if it already has)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:   # the parent ended before prctl took effect
        os._exit(code)
