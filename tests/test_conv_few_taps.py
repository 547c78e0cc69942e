"""A conv of few taps with no pool after it (a first layer: 3x3 on RGB, then batch
norm) by direct_conv.py's conv_few_taps and conv_weight_grad_few_taps instead of im2col
and GEMMs: against float64 references, the GEMM way, any thread count, the serial build,
and which convs take them."""
import numba
import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get_backend
from minigrad.backends.cpu import direct_conv as DC
from minigrad.backends.cpu import kernels as K
from minigrad.backends.cpu import layer_ops
from minigrad.backends.cpu.simd import host_has_avx512

pytestmark = pytest.mark.skipif(not host_has_avx512(), reason="the kernels run on AVX-512 only")
B = get_backend("cpu")


def references(x, w, gy, geom):
    """The conv and its weight gradient in float64, tap by tap, on the padded input."""
    kh, kw = w.shape[:2]
    pad = [(0, 0), (geom.pad_top, geom.oh + kh - 1 - x.shape[1] - geom.pad_top),
           (geom.pad_left, geom.ow + kw - 1 - x.shape[2] - geom.pad_left), (0, 0)]
    xp = np.pad(x.astype(float), pad)
    y, gw = np.zeros(gy.shape), np.zeros(w.shape)
    for p in range(kh):
        for q in range(kw):
            patch = xp[:, p:p + geom.oh, q:q + geom.ow]
            y += np.einsum("nhwc,cf->nhwf", patch, w[p, q].astype(float))
            gw[p, q] = np.einsum("nhwc,nhwf->cf", patch, gy.astype(float))
    return y, gw


def launches(monkeypatch):
    launched = []
    real = B._launch
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                          real(kernel, *a)))
    return launched


@pytest.mark.parametrize("x_shape,w_shape,padding", [
    ((3, 10, 11, 3), (3, 3, 3, 32), "same"),    # cifar_bn's first conv, smaller
    ((2, 9, 7, 2), (2, 3, 2, 16), "valid"),     # a row of 3 pixels: one group, repeated
    ((2, 8, 9, 3), (3, 3, 3, 48), "same"),      # filters in 32s and a 16
    ((2, 6, 6, 1), (5, 5, 1, 16), "same")])     # 25 taps: nines padded with dropped taps
def test_few_taps_conv_and_weight_gradient_match_float64_and_the_gemm_way(
        x_shape, w_shape, padding, rng, monkeypatch):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    geom = mg.ops.conv2d_geometry(x_shape, w_shape[:2], 1, padding, 1, "conv")
    gy = rng.standard_normal((x_shape[0], geom.oh, geom.ow, w_shape[3])).astype(np.float32)
    launched = launches(monkeypatch)
    y, cols = B.conv2d_forward(x, w, geom)
    gw = B.conv2d_backward_weight(gy, cols, w.shape)
    assert launched[-2:] == [DC.conv_few_taps, DC.conv_weight_grad_few_taps]
    assert not {K.im2col, K.im2col_3x3x3, K.im2col_taps} & set(launched)   # no columns
    want_y, want_gw = references(x, w, gy, geom)
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(gw, want_gw, rtol=1e-5, atol=1e-4)
    monkeypatch.setattr(layer_ops, "FEW_TAPS_CONV", False)
    y2, cols2 = B.conv2d_forward(x, w, geom)
    np.testing.assert_allclose(y, y2, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(gw, B.conv2d_backward_weight(gy, cols2, w.shape), rtol=1e-5,
                               atol=1e-4)


def test_the_weight_gradient_has_the_same_bits_on_any_threads_and_the_serial_build(rng):
    """Fixed chunks of pixels, each summed in order, added in order: one thread or all,
    and the serial build a cold start runs, give the same bits."""
    x = rng.standard_normal((4, 12, 12, 3)).astype(np.float32)
    gy = rng.standard_normal((4, 10, 10, 32)).astype(np.float32)
    taps = np.array([(p * 12 + q) * 3 + c for p in range(3) for q in range(3)
                     for c in range(3)], np.int64)
    out = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            partial = np.empty((64, 27, 32), np.float32)
            B._launch(DC.conv_weight_grad_few_taps, x, gy, taps, partial)
            out.append(partial.copy())
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    partial = np.empty((64, 27, 32), np.float32)
    DC.conv_weight_grad_few_taps.serial(x, gy, taps, partial)
    out.append(partial)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


@pytest.mark.parametrize("case", ["taps", "filters", "stride", "dilation", "float64"])
def test_other_convs_keep_the_gemm_way(case, rng, monkeypatch):
    x = rng.standard_normal((2, 12, 12, 4 if case == "taps" else 3))   # 36 taps: > 27
    w = rng.standard_normal((3, 3, x.shape[3], 24 if case == "filters" else 16))
    if case != "float64":
        x, w = x.astype(np.float32), w.astype(np.float32)
    geom = mg.ops.conv2d_geometry(x.shape, (3, 3), 2 if case == "stride" else 1, "same",
                                  2 if case == "dilation" else 1, "conv")
    launched = launches(monkeypatch)
    B.conv2d_forward(x, w, geom)
    assert launched and DC.conv_few_taps not in launched


def test_a_models_first_conv_trains_through_them_as_through_the_gemms(rng, monkeypatch):
    """Conv2D (3x3 'same' on RGB) then BatchNormalization and ReLU: outputs and
    gradients as with im2col and GEMMs."""
    model = mg.Sequential([mg.layers.Input((8, 8, 3)),
                           mg.layers.Conv2D(32, 3, padding="same", use_bias=False),
                           mg.layers.BatchNormalization(), mg.layers.ReLU(),
                           mg.layers.Flatten(), mg.layers.Dense(2)])
    x = rng.standard_normal((5, 8, 8, 3)).astype(np.float32)
    g = rng.standard_normal((5, 2)).astype(np.float32)
    results = []
    for direct in (True, False):
        monkeypatch.setattr(layer_ops, "FEW_TAPS_CONV", direct)
        launched = launches(monkeypatch)
        for w in model.weights:
            w.grad = None
        out = model(x, training=True)
        out.backward(mg.Tensor(g))
        assert (DC.conv_few_taps in launched) == direct
        assert (DC.conv_weight_grad_few_taps in launched) == direct
        monkeypatch.undo()
        results.append([out.numpy()] + [w.grad.numpy() for w in model.trainable_weights])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
