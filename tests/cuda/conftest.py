"""The CUDA tests run under Numba's simulator (NUMBA_ENABLE_CUDASIM=1) or on a real GPU:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda

Anywhere else (the plain `pytest` run) they are skipped, except the device-error
tests, which need neither: they check the errors raised when CUDA is missing.
"""
import os
import sys

import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def cuda_usable() -> bool:
    if SIMULATOR:
        return True
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:
        return False


USABLE = cuda_usable()
NEEDS_NO_GPU = {"test_device_errors.py"}

if SIMULATOR:
    # The simulator runs each CUDA thread as a Python thread and syncthreads()
    # as a barrier; with the default 5 ms GIL switch interval every barrier
    # waits out the interval, which makes shared-memory kernels ~5x slower.
    sys.setswitchinterval(1e-4)


def pytest_collection_modifyitems(config, items):
    if USABLE:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1")
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        path = str(item.fspath)
        if path.startswith(here) and os.path.basename(path) not in NEEDS_NO_GPU:
            item.add_marker(skip)
