"""Every backend function, run on the CPU and the CUDA backend on the same inputs.

The CPU backend is the reference: outputs must agree to float32 rounding
(reductions and matmuls sum in another order), integer outputs (max-pool
argmax, one-hot) and the dropout mask exactly.
"""
import inspect

import numpy as np
import pytest

from minigrad.backends import cpu, get_backend
from minigrad.utils import same_or_valid

try:
    CUDA = get_backend("cuda")
except RuntimeError as e:  # no GPU and no simulator: conftest skips the folder anyway
    pytest.skip(str(e), allow_module_level=True)
F32, F64 = np.float32, np.float64
R = np.random.default_rng(7)


def rand(*shape, dtype=F32):
    return R.standard_normal(shape).astype(dtype)


class Host:
    """An array argument passed to both backends as a NumPy array (not moved first)."""

    def __init__(self, a):
        self.a = a


def conv_geom(x_shape, w_shape, stride, padding, dilation):
    (_, h, w, _), (kh, kw, _, _) = x_shape, w_shape
    oh, pt, _ = same_or_valid(h, kh, stride, dilation, padding)
    ow, pl, _ = same_or_valid(w, kw, stride, dilation, padding)
    return stride, stride, pt, pl, dilation, dilation, oh, ow


def pool_geom(x_shape, pool, stride, padding):
    _, h, w, _ = x_shape
    oh, pt, _ = same_or_valid(h, pool, stride, 1, padding)
    ow, pl, _ = same_or_valid(w, pool, stride, 1, padding)
    return pool, pool, stride, stride, pt, pl, oh, ow


# conv configs: (x shape, w shape, stride, padding, dilation). The first has
# N*OH*OW = 72 rows, enough for the weight gradient's split-K path.
CONVS = [((2, 6, 6, 1), (3, 3, 1, 2), 1, "same", 1),
         ((1, 5, 5, 2), (3, 3, 2, 2), 2, "same", 1),
         ((1, 6, 5, 1), (2, 2, 1, 2), 1, "valid", 2),
         ((1, 5, 6, 2), (2, 3, 2, 1), 2, "valid", 1)]


def conv_cases():
    out = []
    for xs, ws, s, pad, d in CONVS:
        x, w = rand(*xs), rand(*ws)
        g = conv_geom(xs, ws, s, pad, d)
        y, cols = cpu.conv2d_forward(x, w, *g)
        gy = rand(*y.shape)
        tag = f"{xs}-{ws}-s{s}-{pad}-d{d}"
        out += [("conv2d_forward", (x, w) + g, None, tag),
                ("conv2d_backward_input", (gy, w, xs) + g[:6], None, tag),
                ("conv2d_backward_weight", (gy, cols, ws), None, tag)]
    return out


def conv_pool_cases():
    """Fused conv + act + pool; the second config is small enough for the CPU's direct
    kernel (cols None), whose backward then gets no columns."""
    out = []
    for (xs, ws, s, pad, d), relu, pool in [(CONVS[0], True, (2, 2, "valid")),
                                            (CONVS[2], False, (3, 2, "same")),
                                            (CONVS[1], True, (2, 1, "valid"))]:
        x, w, b = rand(*xs), rand(*ws), rand(ws[3])
        g = conv_geom(xs, ws, s, pad, d)
        pg = pool_geom((xs[0], g[6], g[7], ws[3]), *pool)
        y, arg, cols = cpu.conv2d_maxpool_forward(x, w, b, relu, g, pg)
        tag = f"{xs}-{ws}-relu{relu}-pool{pool}"
        gy = rand(*y.shape) * (y > 0 if relu else 1)
        out += [("conv2d_maxpool_forward", (x, w, b, relu, g, pg), None, tag),
                ("conv2d_maxpool_forward", (x, w, None, False, g, pg), None, tag + "-nobias"),
                ("conv2d_maxpool_backward", (gy, arg, x, cols, w, True, True, g, pg), None, tag),
                ("conv2d_maxpool_backward", (gy, arg, x, cols, w, True, False, g, pg), None,
                 tag + "-x-only")]
    return out


def pool_cases():
    out = []
    # integer-valued inputs make ties, which must go to the first element on both
    ties = np.round(rand(2, 5, 5, 2) * 2)
    for x, pool, stride, pad in [(rand(2, 4, 4, 2), 2, 2, "valid"), (ties, 2, 2, "valid"),
                                 (rand(1, 5, 5, 2), 3, 2, "same"), (ties, 3, 1, "same")]:
        g = pool_geom(x.shape, pool, stride, pad)
        y, arg = cpu.maxpool2d_forward(x, *g)
        tag = f"{x.shape}-p{pool}-s{stride}-{pad}"
        out += [("maxpool2d_forward", (x,) + g, None, tag),
                ("maxpool2d_backward", (rand(*y.shape), arg, x.shape), None, tag)]
    return out


def cases():
    x = rand(2, 3, 4)
    pos = np.abs(x) + 0.1
    y_act = np.maximum(rand(3, 5), 0)  # a ReLU output, zeros included
    sig = 1 / (1 + np.exp(-rand(3, 5)))
    th = np.tanh(rand(3, 5))
    sm = cpu.softmax_forward(rand(3, 5))
    lsm = cpu.log_softmax_forward(rand(2, 3, 4))
    logits = rand(4, 5)
    target = cpu.softmax_forward(rand(4, 5))
    bounded = np.array([-1.5, -1.0, -0.2, 0.0, 0.7, 1.0, 2.0], F32)
    p, g = rand(3, 4), rand(3, 4)
    m, v = rand(3, 4), np.abs(rand(3, 4))
    # (name, args, indices of arguments updated in place, id)
    return [
        ("asarray", (x,), None, "passthrough"),
        ("asarray", (x, F64), None, "cast"),
        ("asarray", (Host(x), F64), None, "host"),
        ("to_numpy", (x,), None, ""),
        ("zeros", ((2, 3), F32), None, ""),
        ("constant", (0.25, F64), None, ""),
        ("full", ((3, 2), 1.5, F64), None, ""),
        ("add", (x, rand(4)), None, "row"),
        ("add", (rand(2, 1, 4), rand(3, 1)), None, "both"),
        ("add", (x, np.asarray(2.5, F32)), None, "0-d"),
        ("add", (rand(3), rand(3, dtype=F64)), None, "promote"),
        ("subtract", (rand(3, 1), x), None, ""),
        ("multiply", (x, F32(3.0)), None, "scalar"),
        ("multiply", (rand(1, 3, 1), rand(2, 1, 4)), None, ""),
        ("divide", (x, pos), None, ""),
        ("divide", (rand(4), rand(5, 1)), None, ""),
        ("negative", (x,), None, ""),
        ("exp", (x,), None, ""),
        ("log", (pos,), None, ""),
        ("sqrt", (pos,), None, ""),
        ("power", (pos, F32(3.0)), None, "cube"),
        ("power", (pos, F32(-0.5)), None, "rsqrt"),
        ("matmul", (rand(5, 7), rand(7, 3)), None, "tiles"),
        ("matmul", (rand(3, 100), rand(100, 2)), None, "split-k"),
        ("matmul", (rand(2, 3, dtype=F64), rand(3, 6, dtype=F64)), None, "f64"),
        ("sum", (x,), None, "all"),
        ("sum", (x, 1), None, "axis1"),
        ("sum", (x, (0, 2), True), None, "keepdims"),
        ("sum", (x, -1), None, "last"),
        ("sum", (rand(50, 3), 0), None, "long"),
        ("reshape", (x, (4, -1)), None, ""),
        ("transpose", (x,), None, "reverse"),
        ("transpose", (x, (1, 0, 2)), None, "perm"),
        ("sum_to_shape", (x, (3, 1)), None, "lead+keep"),
        ("sum_to_shape", (x, (4,)), None, "lead"),
        ("sum_to_shape", (x, (2, 3, 4)), None, "same"),
        ("sum_to_shape", (x, (1, 3, 1)), None, "ones"),
        ("clip", (bounded, -1.0, 1.0), None, ""),
        ("clip_mask", (bounded, -1.0, 1.0), None, ""),
        ("one_hot", (Host(np.array([2, 0, 3, 3])), 4, F32), None, ""),
        ("take", (rand(5, 2, 3), np.array([4, 0, 0, 2])), None, "rows"),
        ("take", (np.array([7, 1, 3]), np.array([2, 1])), None, "labels"),
        # ties: the first maximum wins on both
        ("count_correct", (np.array([1, 0, 2, 2]),
                           np.array([[0, 1, 0], [2, 2, 0], [1, 0, 3], [0, 1, 0]], F32),
                           "sparse"), None, "sparse"),
        ("count_correct", (np.eye(3, dtype=F32)[[0, 2, 1, 1]], rand(4, 3), "categorical"),
         None, "categorical"),
        ("count_correct", (np.array([[1], [0], [1]], F32), np.array([[.7], [.2], [.5]], F32),
                           "binary"), None, "binary"),
        *conv_cases(),
        ("bias_act", (rand(2, 3, 3, 4), rand(4), True), (0,), "relu"),
        ("bias_act", (rand(5, 4), rand(4), False), (0,), "bias"),
        ("bias_act", (rand(5, 4), None, True), (0,), "relu-only"),
        ("bias_act_backward", (y_act, rand(3, 5), True), None, "bias"),
        ("bias_act_backward", (y_act, rand(3, 5), False), None, "nobias"),
        ("bias_grad", (rand(2, 3, 3, 4),), None, ""),
        *pool_cases(),
        *conv_pool_cases(),
        ("relu_forward", (x,), None, ""),
        ("relu_backward", (y_act, rand(3, 5)), None, ""),
        ("sigmoid_forward", (x * 30,), None, "wide"),
        ("sigmoid_backward", (sig, rand(3, 5)), None, ""),
        ("tanh_forward", (x,), None, ""),
        ("tanh_backward", (th, rand(3, 5)), None, ""),
        ("softmax_forward", (rand(3, 5) * 10,), None, ""),
        ("softmax_forward", (x,), None, "3-d"),
        ("softmax_backward", (sm, rand(3, 5)), None, ""),
        ("log_softmax_forward", (x,), None, ""),
        ("log_softmax_backward", (lsm, rand(2, 3, 4)), None, ""),
        ("softmax_cross_entropy_forward", (logits, target), None, ""),
        ("softmax_cross_entropy_backward", (target, cpu.one_hot(np.arange(4), 5, F32),
                                            rand(4)), None, ""),
        ("dropout", (rand(5, 7), 0.3, 2**62 + 12345), None, ""),
        ("adam_update", (p, g, m, v, 0.01, 0.9, 0.999, 1e-7), (0, 2, 3), ""),
        ("sgd_update", (p, g, rand(3, 4), 0.1, 0.0, False), (0, 2), "plain"),
        ("sgd_update", (p, g, rand(3, 4), 0.1, 0.9, False), (0, 2), "momentum"),
        ("sgd_update", (p, g, rand(3, 4), 0.1, 0.9, True), (0, 2), "nesterov"),
        # merge layers (issue 12): NaN propagates as np.maximum, ties go to the first
        ("maximum", (x, rand(4)), None, "broadcast"),
        ("maximum", (np.array([1, np.nan, 2, 3], F32), np.array([np.nan, 1, 2, -1], F32)),
         None, "nan-ties"),
        ("minimum", (rand(3, 1), x), None, ""),
        ("extremum_backward", (x, rand(4), rand(2, 3, 4), True), None, "max"),
        ("extremum_backward", (rand(3, 1), x, rand(2, 3, 4), False), None, "min"),
        ("extremum_backward", (np.ones(3, F32), np.ones(3, F32), rand(3), True), None, "ties"),
        ("concatenate", ([x, rand(2, 3, 2)], -1), None, "last"),
        ("concatenate", ([x, rand(1, 3, 4), rand(3, 3, 4)], 0), None, "first"),
        ("concatenate", ([rand(2, 1, 2, dtype=F64), rand(2, 2, 2, dtype=F64)], 1), None, "f64"),
        ("split", (x, [1, 3], 2), None, "last"),
        ("split", (x, [1, 1], 0), None, "first"),
    ]


CASES = cases()
EXACT = {"constant", "dropout", "one_hot", "reshape", "transpose", "asarray", "to_numpy", "zeros", "full",
         "negative", "relu_forward", "relu_backward", "clip", "clip_mask", "maxpool2d_forward",
         "maximum", "minimum", "extremum_backward", "concatenate", "split"}
# integer outputs (argmax) are compared exactly whatever the function


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
        if w is None and name == "conv2d_maxpool_forward":
            continue  # the CPU's direct kernel keeps no columns; the GPU always does
        if w is None:
            assert g is None
            continue
        assert isinstance(g, np.ndarray), type(g)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if name in EXACT or w.dtype.kind in "iu":
            np.testing.assert_array_equal(g, w)
        else:
            tol = 1e-5 if w.dtype == F32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_empty():
    a = CUDA.empty((2, 3), F64)
    assert CUDA.to_numpy(a).shape == (2, 3) and CUDA.to_numpy(a).dtype == F64


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


def _public(module):
    return {n for n, f in vars(module).items() if not n.startswith("_") and callable(f)
            and not inspect.ismodule(f) and not inspect.isclass(f)}


def test_every_cpu_function_is_mirrored_and_covered():
    names = _public(cpu)
    assert "conv2d_forward" in names and "dropout" in names  # the scan sees functions
    missing = names - _public(CUDA)
    assert not missing, f"the CUDA backend lacks {sorted(missing)}"
    untested = names - {c[0] for c in CASES} - {"empty"}
    assert not untested, f"no parity case for {sorted(untested)}"
    for n in names:
        f, g = getattr(cpu, n), getattr(CUDA, n)
        fixed = [inspect.isfunction(h) and not any(
            p.kind == p.VAR_POSITIONAL for p in inspect.signature(h).parameters.values())
            for h in (f, g)]
        if all(fixed):
            assert list(inspect.signature(f).parameters) == \
                list(inspect.signature(g).parameters), n


def test_one_hot_of_a_label_out_of_range_is_a_nan_row():
    out = CUDA.to_numpy(CUDA.one_hot(CUDA.asarray(np.array([1, 3, -1])), 3, F32))
    np.testing.assert_array_equal(out[0], [0, 1, 0])
    assert np.isnan(out[1:]).all()
