"""The CUDA tests run under Numba's simulator (NUMBA_ENABLE_CUDASIM=1) or on a real GPU:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda

Anywhere else (the plain `pytest` run) they are skipped, except the device-error
tests, which need neither: they check the errors raised when CUDA is missing.
"""
import os

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
# No sys.setswitchinterval speed-up for the simulator here: at 0.1 ms its CUDA
# threads (Python threads) interleave 50x more often, and one CI run then got
# a wrong value from a kernel whose shared-memory use is correct on review
# (not reproduced in 10 reruns). The default interval costs ~2 minutes.
NEEDS_NO_GPU = {"test_device_errors.py"}



def pytest_collection_modifyitems(config, items):
    if USABLE:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1")
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        path = str(item.fspath)
        if path.startswith(here) and os.path.basename(path) not in NEEDS_NO_GPU:
            item.add_marker(skip)
