"""Every backend function, run on the CPU and the CUDA backend on the same inputs
(the cases are in parity_cases.py; tests/test_backend_contract.py checks that every
contract function has one).

The CPU backend is the reference: outputs must agree to float32 rounding
(reductions and matmuls sum in another order), integer outputs (max-pool
argmax, one-hot) and the dropout mask exactly, NaN where NaN.
"""
import numpy as np
import pytest

from minigrad.backends import get_backend
from parity_cases import CASES, EXACT, F32, Host, rand, strided_run

cpu = get_backend("cpu")
try:
    CUDA = get_backend("cuda")
except RuntimeError as e:  # no GPU and no simulator: conftest skips the folder anyway
    pytest.skip(str(e), allow_module_level=True)


def run(backend, name, args, inplace):
    """Call backend.name with copies of args (arrays moved to the backend); host outputs."""
    moved = [backend.asarray(a.copy()) if isinstance(a, np.ndarray) else
             a.a.copy() if isinstance(a, Host) else a for a in args]
    out = getattr(backend, name)(*moved)
    if inplace:
        out = tuple(moved[i] for i in inplace)
    return tuple(np.asarray(backend.to_numpy(o)) if o is not None else None
                 for o in (out if isinstance(out, tuple) else (out,)))


@pytest.mark.parametrize("name,args,inplace", [c[:3] for c in CASES],
                         ids=[f"{c[0]}-{c[3]}" if c[3] else c[0] for c in CASES])
def test_parity(name, args, inplace):
    want = run(cpu, name, args, inplace)
    got = run(CUDA, name, args, inplace)
    assert len(got) == len(want)
    for w, g in zip(want, got):
        if w is None:
            assert g is None
            continue
        assert isinstance(g, np.ndarray), type(g)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if name == "empty":
            continue  # uninitialised: shape and dtype only
        if name in EXACT or w.dtype.kind in "iub":
            np.testing.assert_array_equal(g, w)
        else:
            tol = 1e-5 if w.dtype == F32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)  # NaN where NaN


def test_results_stay_on_device():
    a = CUDA.asarray(rand(2, 3))
    for out in (CUDA.add(a, a), CUDA.sum(a, 0), CUDA.matmul(a, CUDA.transpose(a)),
                CUDA.relu_forward(a), CUDA.zeros((2,), F32)):
        assert CUDA.is_device_array(out) and not isinstance(out, np.ndarray)


def test_reshape_rejects_bad_shapes():
    a = CUDA.asarray(rand(2, 3))
    with pytest.raises(ValueError):
        CUDA.reshape(a, (4, -1))
    with pytest.raises(ValueError):
        CUDA.reshape(a, (5,))


def test_dropout_mask_matches_cpu_on_large_seed_and_zero_rate():
    x = np.ones(64, F32)
    for rate, seed in [(0.5, 0), (0.9, 2**63 - 2), (0.0, 17)]:
        np.testing.assert_array_equal(CUDA.to_numpy(CUDA.dropout(CUDA.asarray(x), rate, seed)),
                                      cpu.dropout(x, rate, seed))
    # with an offset (a shard of a global batch): the whole array's mask from there on
    whole = cpu.dropout(np.ones(96, F32), 0.5, 9)
    np.testing.assert_array_equal(CUDA.to_numpy(CUDA.dropout(CUDA.asarray(x), 0.5, 9, 32)),
                                  whole[32:])
    np.testing.assert_array_equal(cpu.dropout(x, 0.5, 9, 32), whole[32:])


def test_one_hot_of_a_label_out_of_range_is_a_nan_row():
    out = CUDA.to_numpy(CUDA.one_hot(CUDA.asarray(np.array([1, 3, -1])), 3, F32))
    np.testing.assert_array_equal(out[0], [0, 1, 0])
    assert np.isnan(out[1:]).all()


@pytest.mark.parametrize("name,args,inplace", [c[:3] for c in CASES],
                         ids=[f"{c[0]}-{c[3]}" if c[3] else c[0] for c in CASES])
def test_strided_device_arrays(name, args, inplace):
    """Every entry point on sliced (non-contiguous) device arrays: the same results,
    and in-place updates land in the caller's strided array."""
    strided_run(CUDA, name, args, inplace)
