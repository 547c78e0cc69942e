"""The CUDA tests run under Numba's simulator (NUMBA_ENABLE_CUDASIM=1) or on a real GPU:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda

Anywhere else (the plain `pytest` run) they are skipped, except the files of
NEEDS_NO_GPU, which need neither (device errors, launch geometry, PTX
compilation), and all but the CUDA half of the files of EITHER_DEVICE, whose
tests take a `device` parameter and run on each backend in turn.
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
NEEDS_NO_GPU = {"test_device_errors.py", "test_launch.py", "test_kernels_compile.py"}
EITHER_DEVICE = {"test_elementwise.py", "test_nan.py", "test_strided_ops.py",
                 "test_tensor_indexing.py"}
DEVICES = ["cpu", "cuda"]


def pytest_collection_modifyitems(config, items):
    if USABLE:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1")
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        path = str(item.fspath)
        name = os.path.basename(path)
        if not path.startswith(here) or name in NEEDS_NO_GPU:
            continue
        callspec = getattr(item, "callspec", None)
        if name in EITHER_DEVICE and (callspec is None or callspec.params.get("device") != "cuda"):
            continue
        item.add_marker(skip)
