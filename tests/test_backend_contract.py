"""The backend contract (minigrad/backends/contract.py) holds for both backends.

Runs in the plain CPU suite: reading the CUDA backend's class needs neither
numba-cuda nor a GPU. A backend missing a function, a signature that differs
from the contract, a public function outside the contract, or a contract
function without a parity case (tests/cuda/parity_cases.py) fails here.
"""
import importlib.util
import inspect
import os

import numpy as np
import pytest

from minigrad.backends import get_backend
from minigrad.backends.contract import Backend, contract_methods
from minigrad.backends.cpu.backend import CPUBackend
from minigrad.backends.cuda.backend import CUDABackend

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "parity_cases", os.path.join(HERE, "cuda", "parity_cases.py"))
parity_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity_cases)

BACKENDS = [CPUBackend, CUDABackend]
EXTRA_PUBLIC = {CPUBackend: set(), CUDABackend: {"cuda"}}  # CUDABackend.cuda: numba's module


def _parameters(fn) -> list:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_contract_is_large_and_documented():
    methods = contract_methods()
    assert len(methods) >= 50 and "conv2d_forward" in methods and "gelu_backward" in methods
    undocumented = [n for n, f in methods.items() if not (f.__doc__ or "").strip()]
    assert not undocumented, undocumented


def contract_problems(impl, extra_public=frozenset()) -> list:
    """What keeps impl from meeting the contract (empty when it does)."""
    problems = [f"missing {n}" for n in sorted(impl.__abstractmethods__)]
    for name, fn in contract_methods().items():
        if name not in impl.__abstractmethods__ and \
                _parameters(getattr(impl, name)) != _parameters(fn):
            problems.append(f"{name}{inspect.signature(getattr(impl, name))} differs from "
                            f"the contract's {name}{inspect.signature(fn)}")
    public = {n for n in dir(impl) if not n.startswith("_")} - {"name"}
    problems += [f"{n} is outside the contract"
                 for n in sorted(public - set(contract_methods()) - set(extra_public))]
    return problems


@pytest.mark.parametrize("impl", BACKENDS, ids=lambda c: c.__name__)
def test_both_backends_meet_the_contract(impl):
    """Every contract function, with the contract's signature, and nothing else public
    (a new backend function goes into the contract, and so into both backends)."""
    assert issubclass(impl, Backend)
    assert contract_problems(impl, EXTRA_PUBLIC[impl]) == []


def test_the_check_sees_each_kind_of_drift():
    class Drifted(CPUBackend):
        bias_grad = Backend.bias_grad                 # back to the abstract stub

        def dropout(self, x, rate, seed, scale):     # a different signature
            return x

        def relu6(self, x):                          # a function outside the contract
            return x
    Drifted.__abstractmethods__ = frozenset({"bias_grad"})
    problems = contract_problems(Drifted)
    assert problems[0] == "missing bias_grad"
    assert any(p.startswith("dropout(self, x, rate, seed, scale) differs") for p in problems)
    assert problems[-1] == "relu6 is outside the contract"


def test_every_contract_function_has_a_parity_case():
    covered = {case[0] for case in parity_cases.CASES}
    missing = set(contract_methods()) - covered
    assert not missing, f"no parity case in tests/cuda/parity_cases.py for {sorted(missing)}"


CPU_CASES = parity_cases.CASES


@pytest.mark.parametrize("name,args,inplace", [c[:3] for c in CPU_CASES],
                         ids=[f"{c[0]}-{c[3]}" if c[3] else c[0] for c in CPU_CASES])
def test_cpu_entry_points_accept_strided_arrays(name, args, inplace):
    """Every CPU entry point on non-contiguous arrays (a view of every other element):
    the same results, and in-place updates land in the caller's array."""
    parity_cases.strided_run(get_backend("cpu"), name, args, inplace)


def test_the_strided_check_sees_outputs_lost_in_a_copy(monkeypatch):
    """It fails for the old bug: on a column-major input, empty_like made a column-major
    output, reshape(-1) of it a copy, the kernel filled the copy and the caller got
    uninitialised memory."""
    def old_map_forward(self, op, x):
        out = np.zeros_like(x)  # the layout of x, as empty_like
        np.maximum(x.reshape(-1), 0, out=out.reshape(-1))
        return out
    monkeypatch.setattr(CPUBackend, "map_forward", old_map_forward)
    x = np.arange(-3.0, 3.0, dtype=np.float32).reshape(2, 3)
    with pytest.raises(AssertionError, match="column_major"):
        parity_cases.strided_run(get_backend("cpu"), "relu_forward", (x,), None)
