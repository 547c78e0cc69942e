"""Asking for 'cuda' where it cannot run gives one clear RuntimeError; unknown devices a
ValueError. These need no GPU and no simulator: each case runs in a fresh interpreter
where numba-cuda is hidden or the GPU check is made to fail."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

import minigrad as mg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A plain install: numba's own (deprecated) numba.cuda, no numba_cuda, and not the
# finder numba-cuda installs to redirect numba.cuda to itself.
HIDE_NUMBA_CUDA = """
import sys, importlib.abc
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "NumbaCudaFinder"]
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "numba_cuda" or name.startswith("numba_cuda."):
            raise ModuleNotFoundError("No module named 'numba_cuda'", name=name)
sys.meta_path.insert(0, Block())
"""

NO_GPU = """
from numba import cuda
cuda.is_available = lambda: False
cuda.cuda_error = lambda: "CUDA driver library cannot be found."
"""


# the no-GPU cases fake numba-cuda's GPU check, so they need numba-cuda (CI installs it)
needs_numba_cuda = pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                                      reason="needs numba-cuda: pip install minigrad[cuda]")


def run_python(prelude: str, body: str):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    code = textwrap.dedent(prelude) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


WAYS = [
    "mg.Tensor([1.0], device='cuda')",
    "mg.backends.get_backend('cuda')",
    "mg.Tensor([1.0]).to('cuda')",
    "mg.Sequential([mg.layers.Dense(2, input_shape=(3,))]).compile(loss='mse', device='cuda')",
]


@pytest.mark.parametrize("prelude,expected", [
    (HIDE_NUMBA_CUDA, "numba-cuda is not installed (pip install minigrad[cuda])"),
    pytest.param(NO_GPU, "no CUDA GPU/driver found (CUDA driver library cannot be found.)",
                 marks=needs_numba_cuda),
], ids=["no-numba-cuda", "no-gpu"])
def test_one_clear_runtime_error(prelude, expected):
    """Every way of asking for 'cuda' (one interpreter, each way tried in turn)."""
    r = run_python(prelude, f"""
        import minigrad as mg
        for how in {WAYS!r}:
            try:
                exec(how)
            except RuntimeError as e:
                chained = e.__cause__ is not None or (
                    e.__context__ is not None and not e.__suppress_context__)
                print("MESSAGE:", e, "| CHAINED:", chained)
            else:
                print("NO ERROR")
        """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(WAYS), r.stdout
    for line in lines:
        # one message, and no stack of driver/import errors chained behind it
        assert line.startswith(f"MESSAGE: device 'cuda': {expected}"), line
        assert line.endswith("| CHAINED: False"), line


@needs_numba_cuda
def test_uncaught_error_is_a_short_traceback():
    r = run_python(NO_GPU, "import minigrad as mg\nmg.Tensor([1.0], device='cuda')\n")
    assert r.returncode != 0
    assert r.stderr.count("Traceback") == 1
    assert r.stderr.strip().splitlines()[-1].startswith("RuntimeError: device 'cuda': no CUDA")
    assert "CudaSupportError" not in r.stderr


def test_cpu_still_works_without_numba_cuda():
    r = run_python(HIDE_NUMBA_CUDA, """
        import numpy as np, minigrad as mg
        t = mg.Tensor(np.ones(3, 'f4'), requires_grad=True)
        (t * t).sum().backward()
        print(t.grad.numpy().tolist())
        """)
    assert r.returncode == 0, r.stderr
    assert "[2.0, 2.0, 2.0]" in r.stdout


def test_the_check_is_patchable_in_process(monkeypatch):
    """load() asks _gpu_problem; with a failing check get_backend raises, nothing cached."""
    import minigrad.backends.cuda as cuda_backend
    monkeypatch.setattr(cuda_backend, "BACKEND", None)
    monkeypatch.setattr(cuda_backend, "_import_cuda", lambda: object())
    monkeypatch.setattr(cuda_backend, "_gpu_problem", lambda cu: "no device")
    with pytest.raises(RuntimeError, match=r"^device 'cuda': no CUDA GPU/driver found "
                                           r"\(no device\)"):
        mg.backends.get_backend("cuda")
    assert cuda_backend.BACKEND is None


@pytest.mark.parametrize("make", [
    lambda: mg.Tensor([1.0], device="tpu"),
    lambda: mg.backends.get_backend("tpu"),
    lambda: mg.Tensor([1.0]).to("tpu"),
    lambda: mg.Sequential([mg.layers.Dense(2, input_shape=(3,))]).compile(loss="mse",
                                                                         device="tpu"),
])
def test_unknown_device_is_a_value_error(make):
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        make()


def test_device_must_be_a_string():
    with pytest.raises(TypeError):
        mg.Tensor([1.0], device=0)


def test_allocator_tests_skip_cleanly_without_numba_cuda():
    """README's `pytest` in a plain install: the allocator tests skip, not error at
    collection (numba's own deprecated numba.cuda lacks numba-cuda's driver bindings)."""
    r = run_python(HIDE_NUMBA_CUDA, f"""
        import sys, pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rs",
                              {os.path.join(ROOT, "tests", "test_cuda_memory.py")!r}]))
        """)
    assert r.returncode == 5, r.stdout + r.stderr  # "no tests ran"; a collection error is 2
    assert "1 skipped" in r.stdout and "needs numba-cuda" in r.stdout, r.stdout
    assert "error" not in r.stdout.lower(), r.stdout
