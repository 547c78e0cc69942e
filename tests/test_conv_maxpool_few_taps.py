"""Predict's fused conv + 2x2 max pool for convs of few taps (layer_kernels.py's
conv_maxpool_few_taps, a first layer on grayscale images): against a float64
reference, against the im2col + GEMM + maxpool_forward way it replaces (same
winners, same arg), NaN handling, and which convs take it; and the 16-lane twin of
its pooled weight gradient (maxpool2x2_conv_weight_grad16) against the scalar kernel."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get_backend
from minigrad.backends.cpu import kernels as K
from minigrad.backends.cpu import layer_kernels as LK
from minigrad.backends.cpu import layer_ops
from minigrad.backends.cpu.simd import host_has_avx512

pytestmark = pytest.mark.skipif(not host_has_avx512(), reason="the kernel runs on AVX-512 only")
B = get_backend("cpu")


def conv_pool_reference(x, w):
    """The 'valid' conv in float64, tap by tap, then 2x2 max pooling (floor)."""
    kh, kw, _, f = w.shape
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    z = np.zeros((x.shape[0], oh, ow, f))
    for p in range(kh):
        for q in range(kw):
            z += np.einsum("nhwc,cf->nhwf", x[:, p:p + oh, q:q + ow].astype(float),
                           w[p, q].astype(float))
    ph, pw = oh // 2, ow // 2
    return z[:, :2 * ph, :2 * pw].reshape(x.shape[0], ph, 2, pw, 2, f).max(axis=(2, 4))


def fused(x, w, monkeypatch, few_taps=True, padding="valid"):
    """ops.conv2d_maxpool without a backward, the kernel on or off: (y, launched)."""
    launched = []
    real = B._launch

    def recording(kernel, *args):
        launched.append(kernel)
        real(kernel, *args)
    monkeypatch.setattr(B, "_launch", recording)
    if not few_taps:
        monkeypatch.setattr(layer_ops.LayerOps, "_few_taps", staticmethod(lambda *a: False))
    with mg.no_grad():
        y = mg.ops.conv2d_maxpool(mg.Tensor(x), mg.Tensor(w), padding=padding).numpy()
    monkeypatch.undo()
    return y, launched


@pytest.mark.parametrize("x_shape,w_shape,padding", [
    ((5, 28, 28, 1), (3, 3, 1, 32), "valid"), ((3, 11, 9, 2), (2, 2, 2, 16), "valid"),
    ((4, 12, 13, 1), (3, 3, 1, 48), "valid"),
    ((3, 10, 11, 3), (3, 3, 3, 32), "same"),    # RGB, padded first: 27 taps
    ((2, 9, 8, 2), (2, 2, 2, 16), "same")])     # an even kernel pads after only
def test_few_taps_matches_float64_and_the_im2col_way(x_shape, w_shape, padding, rng,
                                                     monkeypatch):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    got, launched = fused(x, w, monkeypatch, padding=padding)
    assert LK.conv_maxpool_few_taps in launched
    geom = mg.ops.conv2d_geometry(x.shape, w.shape[:2], 1, padding, 1, "conv")
    xp = np.pad(x, [(0, 0), (geom.pad_top, geom.oh + w.shape[0] - 1 - x.shape[1] -
                             geom.pad_top), (geom.pad_left, geom.ow + w.shape[1] - 1 -
                                             x.shape[2] - geom.pad_left), (0, 0)])
    np.testing.assert_allclose(got, conv_pool_reference(xp, w), rtol=1e-5, atol=1e-5)
    want, launched = fused(x, w, monkeypatch, few_taps=False, padding=padding)
    assert LK.conv_maxpool_few_taps not in launched
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    pgeom = mg.ops.pool2d_geometry((x.shape[0], geom.oh, geom.ow, w.shape[3]), 2, None,
                                   "valid", "pool")
    _, arg = B.conv2d_maxpool_forward(x, w, geom, pgeom)   # the winners, as maxpool_forward's
    monkeypatch.setattr(layer_ops.LayerOps, "_few_taps", staticmethod(lambda *a: False))
    _, want_arg = B.conv2d_maxpool_forward(x, w, geom, pgeom)
    np.testing.assert_array_equal(arg, want_arg)


def test_a_nan_input_wins_its_windows_as_in_maxpool_forward(rng, monkeypatch):
    x = rng.standard_normal((2, 10, 10, 1)).astype(np.float32)
    x[0, 3, 4, 0] = np.nan
    w = rng.standard_normal((3, 3, 1, 16)).astype(np.float32)
    got, _ = fused(x, w, monkeypatch)
    want, _ = fused(x, w, monkeypatch, few_taps=False)
    assert np.isnan(got).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["taps", "filters", "stride", "dilation", "pool", "float64"])
def test_other_convs_keep_the_im2col_way(case, rng, monkeypatch):
    x = rng.standard_normal((2, 12, 12, 4 if case == "taps" else 1))   # 36 taps: > 27
    w = rng.standard_normal((3, 3, x.shape[3], 24 if case == "filters" else 16))
    if case != "float64":
        x, w = x.astype(np.float32), w.astype(np.float32)
    kw = {"stride": {"stride": 2}, "dilation": {"dilation": 2},
          "pool": {"pool_size": 3}}.get(case, {})
    launched = []
    real = B._launch
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                          real(kernel, *a)))
    with mg.no_grad():
        mg.ops.conv2d_maxpool(mg.Tensor(x), mg.Tensor(w), **kw)
    assert launched and LK.conv_maxpool_few_taps not in launched


@pytest.mark.parametrize("channels,padding", [(1, "valid"), (3, "same")])
@pytest.mark.parametrize("first_layer", [True, False])
def test_training_takes_it_too_with_the_same_gradients(first_layer, channels, padding, rng,
                                                       monkeypatch):
    """A training step's forward takes the kernel as well; a first layer's weight
    gradient then reads the input instead of im2col columns (any other layer's makes
    them); output and gradients as by the conv's output and the columns."""
    x = rng.standard_normal((6, 14, 14, channels)).astype(np.float32)
    w = rng.standard_normal((3, 3, channels, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    side = 7 if padding == "same" else 6
    g = rng.standard_normal((6, side, side, 16)).astype(np.float32)
    results = []
    for few_taps in (True, False):
        launched = []
        real = B._launch
        monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                              real(kernel, *a)))
        if not few_taps:   # im2col and GEMMs throughout
            monkeypatch.setattr(layer_ops.LayerOps, "_few_taps", staticmethod(lambda *a: False))
            monkeypatch.setattr(layer_ops, "FEW_TAPS_CONV", False)
        tx = mg.Tensor(x, requires_grad=not first_layer)
        tw, tb = mg.Tensor(w, requires_grad=True), mg.Tensor(b, requires_grad=True)
        y = mg.ops.conv2d_maxpool(tx, tw, tb, activation="relu", padding=padding)
        (y * mg.Tensor(g)).sum().backward()
        monkeypatch.undo()
        assert (LK.conv_maxpool_few_taps in launched) == few_taps
        if few_taps and first_layer:   # the weight gradient read the input: no columns
            assert LK.maxpool2x2_conv_weight_grad16 in launched
            assert not {K.im2col, K.im2col_3x3x1, K.im2col_3x3x3, K.im2col_taps} & \
                set(launched)
        results.append([y.numpy(), tw.grad.numpy(), tb.grad.numpy()] +
                       ([] if first_layer else [tx.grad.numpy()]))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("f", [16, 32, 48])
@pytest.mark.parametrize("source", ["input", "columns"])
def test_the_16_lane_weight_gradient_gives_the_scalar_kernels_bits(f, source, rng):
    """maxpool2x2_conv_weight_grad16 against kernels.maxpool2x2_conv_weight_grad on the
    same arguments: a 3x3 conv read from its input (strided taps) or from its columns,
    windows counted across images and chunks (3 * 6 * 7 = 126 pooled pixels in 64
    chunks), a NaN input and a NaN pooled gradient: the same bits."""
    n, h, wd, kh, kw = 3, 14, 16, 3, 3
    oh, ow = h - kh + 1, wd - kw + 1          # the conv grid, 12 x 14
    poh, pow_ = oh // 2, ow // 2               # its 2x2 windows, 6 x 7
    x = rng.standard_normal((n, h, wd, 1)).astype(np.float32)
    x[1, 5, 6, 0] = np.nan
    gy = rng.standard_normal((n, poh, pow_, f)).astype(np.float32)
    gy[2, 3, 4, 5] = np.nan
    cell = rng.integers(0, 4, gy.shape)
    i, j = np.arange(poh)[:, None, None], np.arange(pow_)[None, :, None]
    arg = ((2 * i + cell // 2) * ow + 2 * j + cell % 2).astype(np.int32)
    if source == "input":
        src, sb, sy, sx = x.reshape(-1), h * wd, wd, 1
        taps = np.array([p * wd + q for p in range(kh) for q in range(kw)], np.int64)
    else:
        cols = np.stack([x[:, p:p + oh, q:q + ow, 0] for p in range(kh) for q in range(kw)],
                        axis=-1)
        src, sb, sy, sx = np.ascontiguousarray(cols).reshape(-1), oh * ow * 9, ow * 9, 9
        taps = np.arange(9, dtype=np.int64)
    got, want = np.empty((64, 9, f), np.float32), np.empty((64, 9, f), np.float32)
    for kernel, out in ((LK.maxpool2x2_conv_weight_grad16, got),
                        (K.maxpool2x2_conv_weight_grad, want)):
        B._launch(kernel, gy, arg, src, sb, sy, sx, taps, ow, 2, 2, out)
    assert np.isnan(want).any() and np.isfinite(want).any()
    np.testing.assert_array_equal(got, want)
