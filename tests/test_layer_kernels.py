"""The CPU backend's normalisation, average-pool, grouped-conv, embedding-gradient,
pad/crop and batched-matmul functions against short NumPy references (float64),
and their sums' bits against the thread count."""
import numba
import numpy as np
import pytest

from minigrad.backends import get_backend
from minigrad.backends.contract import ConvGeometry, PoolGeometry
from minigrad.utils import same_or_valid

B = get_backend("cpu")
F32 = dict(rtol=2e-5, atol=2e-5)


# --------------------------------------------------------------- normalisation
@pytest.mark.parametrize("shape", [(1, 3), (7, 5), (4, 6, 6, 8), (300, 2), (2, 3)])
def test_batchnorm_stats(shape, rng):
    x = (rng.standard_normal(shape) * 3 + 100).astype(np.float32)  # far from 0: cancellation
    mean, var = B.batchnorm_stats(x)
    x64 = x.reshape(-1, shape[-1]).astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(0), rtol=1e-6)
    np.testing.assert_allclose(var, x64.var(0), rtol=1e-4, atol=1e-6)
    assert mean.dtype == var.dtype == np.float32 and mean.shape == (shape[-1],)


def test_batchnorm_stats_of_a_constant_channel_is_exactly_zero_variance():
    x = np.full((50, 2), 3.7, np.float32)
    mean, var = B.batchnorm_stats(x)
    np.testing.assert_array_equal(var, 0)
    np.testing.assert_array_equal(mean, np.float32(3.7))


def bn_reference(x, gy, gamma, eps):
    """Batch norm with batch statistics and its gradients, written from the formulas."""
    x, gy = x.reshape(-1, x.shape[-1]), gy.reshape(-1, x.shape[-1])
    n = len(x)
    mean, var = x.mean(0), x.var(0)
    xhat = (x - mean) / np.sqrt(var + eps)
    dgamma, dbeta = (gy * xhat).sum(0), gy.sum(0)
    dxhat = gy * gamma
    dx = (n * dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0)) / (n * np.sqrt(var + eps))
    return xhat, dx, dgamma, dbeta


@pytest.mark.parametrize("shape", [(6, 4), (2, 5, 5, 3), (513, 7)])
def test_batchnorm_forward_and_backward(shape, rng):
    x = rng.standard_normal(shape) * 2 + 1
    gy = rng.standard_normal(shape)
    gamma, beta, eps = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1]), 1e-3
    mean, var = B.batchnorm_stats(x)
    invstd = 1 / np.sqrt(var + eps)
    y = B.scale_shift(x, gamma * invstd, beta - mean * gamma * invstd)
    xhat, dx, dgamma, dbeta = bn_reference(x, gy, gamma, eps)
    np.testing.assert_allclose(y.reshape(-1, shape[-1]), xhat * gamma + beta, rtol=1e-10)
    s_g, s_gx = B.norm_param_sums(x, gy, mean, invstd, False)
    np.testing.assert_allclose(s_g, dbeta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s_gx, dgamma, rtol=1e-10, atol=1e-12)
    gx = B.batchnorm_backward_input(x, gy, mean, invstd, gamma * invstd, s_g, s_gx)
    np.testing.assert_allclose(gx.reshape(-1, shape[-1]), dx, rtol=1e-8, atol=1e-10)


def test_scale_shift_without_shift(rng):
    x, s = rng.standard_normal((3, 4)), rng.standard_normal(4)
    np.testing.assert_array_equal(B.scale_shift(x, s, None), x * s)


@pytest.mark.parametrize("shape", [(5, 8), (2, 3, 16), (1, 1)])
def test_layernorm_forward_and_backward(shape, rng):
    x = rng.standard_normal(shape) * 3 + 2
    gy = rng.standard_normal(shape)
    gamma, beta, eps = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1]), 1e-3
    y, mean, invstd = B.layernorm_forward(x, gamma, beta, eps)
    m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    xhat = (x - m) / np.sqrt(v + eps)
    np.testing.assert_allclose(y, xhat * gamma + beta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean, m[..., 0], rtol=1e-12)
    g = gy * gamma
    k = shape[-1]
    want = (k * g - g.sum(-1, keepdims=True) - xhat * (g * xhat).sum(-1, keepdims=True)) / (
        k * np.sqrt(v + eps))
    np.testing.assert_allclose(B.layernorm_backward_input(x, gy, mean, invstd, gamma), want,
                               rtol=1e-8, atol=1e-10)
    s_g, s_gx = B.norm_param_sums(x, gy, mean, invstd, True)
    np.testing.assert_allclose(s_g, gy.reshape(-1, k).sum(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s_gx, (gy * xhat).reshape(-1, k).sum(0), rtol=1e-10, atol=1e-12)


def test_sums_do_not_depend_on_the_thread_count(rng, parallel_builds):
    """Fixed chunks reduced in a fixed order: the same bits on 1 thread and on all
    (the parallel builds, forced: these inputs are small)."""
    x = rng.standard_normal((4097, 6)).astype(np.float32) * 5 + 3
    gy = rng.standard_normal((4097, 6)).astype(np.float32)
    xg = rng.standard_normal((3, 9, 9, 4)).astype(np.float32)
    geom = ConvGeometry(1, 1, 1, 1, 1, 1, 9, 9)
    gyg = rng.standard_normal((3, 9, 9, 4)).astype(np.float32)

    def run():
        mean, var = B.batchnorm_stats(x)
        sums = B.norm_param_sums(x, gy, mean, var + 1, False)
        gw = B.grouped_conv2d_backward_weight(xg, gyg, (3, 3, 1, 4), geom, 4)
        return [mean, var, *sums, gw]

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = run()
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- average pool
def pool_geom(xs, p, s, padding):
    _, h, w, _ = xs
    oh, pt, _ = same_or_valid(h, p, s, 1, padding)
    ow, pl, _ = same_or_valid(w, p, s, 1, padding)
    return PoolGeometry(p, p, s, s, pt, pl, oh, ow)


def ref_avgpool(x, g):
    """Each window's mean over its in-bounds cells, and the adjoint, by loops."""
    n, h, w, c = x.shape
    y = np.zeros((n, g.oh, g.ow, c))
    counts = np.zeros((g.oh, g.ow))
    for i in range(g.oh):
        for j in range(g.ow):
            y0, x0 = i * g.sh - g.pad_top, j * g.sw - g.pad_left
            ys, xs = slice(max(y0, 0), min(y0 + g.ph, h)), slice(max(x0, 0), min(x0 + g.pw, w))
            counts[i, j] = (ys.stop - ys.start) * (xs.stop - xs.start)
            y[:, i, j] = x[:, ys, xs].mean(axis=(1, 2))
    return y, counts


@pytest.mark.parametrize("xs,p,s,pad", [((2, 6, 6, 3), 2, 2, "valid"), ((1, 5, 5, 2), 2, 2, "same"),
                                        ((2, 5, 7, 1), 3, 2, "same"), ((1, 6, 5, 2), 3, 1, "same"),
                                        ((1, 4, 4, 2), 4, 4, "valid"), ((1, 7, 7, 1), 3, 3, "valid")])
def test_avgpool(xs, p, s, pad, rng):
    x = rng.standard_normal(xs)
    g = pool_geom(xs, p, s, pad)
    y, counts = ref_avgpool(x, g)
    np.testing.assert_allclose(B.avgpool2d_forward(x, g), y, rtol=1e-12)
    gy = rng.standard_normal(y.shape)
    # the adjoint: <avgpool(x), gy> = <x, avgpool_backward(gy)> for every x
    gx = B.avgpool2d_backward(gy, xs, g)
    probe = rng.standard_normal(xs)
    np.testing.assert_allclose((ref_avgpool(probe, g)[0] * gy).sum(), (probe * gx).sum(),
                               rtol=1e-10)
    if pad == "same" and (xs[1] % s or p > s):
        assert counts.min() < p * p  # the padding really was left out of some windows


# -------------------------------------------------------- grouped convolution
def conv_geom(xs, ws, s, pad, d):
    (_, h, w, _), (kh, kw) = xs, ws[:2]
    oh, pt, _ = same_or_valid(h, kh, s, d, pad)
    ow, pl, _ = same_or_valid(w, kw, s, d, pad)
    return ConvGeometry(s, s, pt, pl, d, d, oh, ow)


def ref_grouped(x, w, geom, groups):
    """The grouped conv as `groups` ordinary convs (B.conv2d_forward, itself tested
    against NumPy in test_kernels.py) on channel slices, concatenated."""
    cg, fg = w.shape[2], w.shape[3] // groups
    return np.concatenate([B.conv2d_forward(np.ascontiguousarray(x[..., g * cg:(g + 1) * cg]),
                                            np.ascontiguousarray(w[..., g * fg:(g + 1) * fg]),
                                            geom)[0] for g in range(groups)], axis=-1)


@pytest.mark.parametrize("xs,ws,s,pad,d,groups", [
    ((2, 6, 6, 4), (3, 3, 1, 4), 1, "same", 1, 4),      # depthwise
    ((2, 6, 6, 4), (3, 3, 1, 8), 2, "valid", 1, 4),     # depthwise, multiplier 2
    ((1, 7, 6, 6), (3, 2, 2, 9), 1, "same", 1, 3),
    ((1, 8, 8, 4), (3, 3, 2, 4), 1, "valid", 2, 2),
    ((2, 5, 5, 3), (2, 2, 3, 2), 2, "same", 1, 1),
])
def test_grouped_conv(xs, ws, s, pad, d, groups, rng):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    g = conv_geom(xs, ws, s, pad, d)
    y = B.grouped_conv2d_forward(x, w, g, groups)
    np.testing.assert_allclose(y, ref_grouped(x, w, g, groups), rtol=1e-10, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gx = B.grouped_conv2d_backward_input(gy, w, xs, g, groups)
    gw = B.grouped_conv2d_backward_weight(x, gy, ws, g, groups)
    # adjoints: <conv(x', w), gy> = <x', gx> and <conv(x, w'), gy> = <w', gw>
    x2, w2 = rng.standard_normal(xs), rng.standard_normal(ws)
    np.testing.assert_allclose((ref_grouped(x2, w, g, groups) * gy).sum(), (x2 * gx).sum(),
                               rtol=1e-10)
    np.testing.assert_allclose((ref_grouped(x, w2, g, groups) * gy).sum(), (w2 * gw).sum(),
                               rtol=1e-10)


# -------------------------------------------------- embedding, pad, batched matmul
def test_take_backward_adds_each_use(rng):
    g = rng.standard_normal((7, 2, 3))
    idx = np.array([4, 0, 4, 1, 4, 0, 6])
    want = np.zeros((8, 2, 3))
    np.add.at(want, idx, g)
    np.testing.assert_allclose(B.take_backward(g, idx, 8), want, rtol=1e-12)


def test_pad_and_crop_are_adjoint(rng):
    x = rng.standard_normal((2, 3, 4))
    widths = ((0, 1), (2, 0), (1, 3))
    p = B.pad(x, widths)
    assert p.shape == (3, 5, 8)
    np.testing.assert_array_equal(p[:2, 2:, 1:5], x)
    assert p.sum() == pytest.approx(x.sum())
    np.testing.assert_array_equal(B.crop(p, widths), x)


def test_batched_matmul(rng):
    a, b = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 5, 2))
    np.testing.assert_allclose(B.batched_matmul(a, b), np.einsum("bmk,bkn->bmn", a, b),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="batched_matmul"):
        B.batched_matmul(a, b[:3])
