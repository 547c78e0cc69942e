"""The CUDA backend: backend.py implements the contract on numba-cuda device arrays
with the kernels of kernels.py, optimizer_kernels.py and linalg.py; memory.py is its caching allocator.

`load()` returns the backend when numba-cuda and a GPU (or Numba's simulator,
NUMBA_ENABLE_CUDASIM=1) are present, else raises one RuntimeError saying what
is missing. Until then nothing here imports numba-cuda, so `import minigrad`
works without it. On a GPU, buffers come from the caching allocator in
memory.py, so a training step allocates nothing after the first.
"""
from __future__ import annotations

from . import backend as _impl

BACKEND = None  # the CUDABackend, once load() succeeded


# -------------------------------------------------------------- availability
def _import_cuda():
    """numba-cuda's `cuda` module, or a RuntimeError saying it is not installed."""
    try:
        import numba_cuda  # noqa: F401  (numba's own numba.cuda is deprecated)
        from numba import cuda as numba_cuda_module
    except ImportError:
        raise RuntimeError("device 'cuda': numba-cuda is not installed "
                           "(pip install minigrad[cuda])") from None
    return numba_cuda_module


def _gpu_problem(cu) -> str | None:
    """Why no GPU can be used (None if one can; the simulator always can)."""
    try:
        if cu.is_available():
            return None
        reason = cu.cuda_error()
    except Exception as e:  # a broken driver must not escape as a stack of errors
        reason = e
    reason = " ".join(str(reason or "no device").split())
    return reason


def load():
    """The CUDA backend, ready to use; or one RuntimeError naming what is missing."""
    global BACKEND
    if BACKEND is None:
        cu = _import_cuda()
        from numba.core import config
        if not config.ENABLE_CUDASIM:  # the simulator has no device memory to manage
            from . import memory
            memory.install()  # before the first context, which takes its manager
        problem = _gpu_problem(cu)
        if problem is not None:
            raise RuntimeError(f"device 'cuda': no CUDA GPU/driver found ({problem}); "
                               f"use device='cpu', or NUMBA_ENABLE_CUDASIM=1 to simulate")
        from . import kernels, layer_kernels, layer_ops, linalg, optimizer_kernels
        _impl.bind(cu, kernels, linalg, optimizer_kernels)
        layer_ops.bind(kernels, layer_kernels)
        BACKEND = _impl.CUDABackend()
    return BACKEND
