"""The direct convolution kernels (backends/cpu/direct_conv.py) against float64
references, the im2col path they replace, and themselves across builds.

conv2d_forward takes them only on one Numba thread, on an AVX-512 CPU, for float32
'valid' stride-1 convs with filters in multiples of 64; the tests set one thread.
"""
import numba
import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get_backend
from minigrad.backends.cpu import direct_conv as DC
from minigrad.backends.cpu.layer_ops import DirectCols
from minigrad.backends.cpu.simd import host_has_avx512
from minigrad.ops.conv import conv2d_geometry

pytestmark = pytest.mark.skipif(not host_has_avx512(), reason="the kernels run on AVX-512 only")
B = get_backend("cpu")


@pytest.fixture
def one_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def reference(x, w, gy):
    """The conv and its weight gradient in float64, tap by tap."""
    kh, kw, _, f = w.shape
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    x64, y, gw = x.astype(float), np.zeros((x.shape[0], oh, ow, f)), np.zeros(w.shape)
    for p in range(kh):
        for q in range(kw):
            patch = x64[:, p:p + oh, q:q + ow]
            y += np.einsum("nhwc,cf->nhwf", patch, w[p, q].astype(float))
            gw[p, q] = np.einsum("nhwc,nhwf->cf", patch, gy.astype(float))
    return y, gw


# (N, H, W, C, KH, KW, F): the MNIST convnet's second conv; a batch of one with 128
# filters; 2x2 on 3 channels (12 rows); 1x1 on 5 (5 rows: the weight gradient goes
# by columns); 5x5; a last tile of 1 pixel (3x3 output of 9 pixels)
SHAPES = [(5, 13, 13, 32, 3, 3, 64), (1, 7, 9, 4, 3, 3, 128), (3, 8, 8, 3, 2, 2, 64),
          (2, 6, 6, 5, 1, 1, 64), (4, 10, 10, 8, 5, 5, 64), (2, 5, 5, 4, 3, 3, 64)]


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_weight_gradient_match_float64(one_thread, shape):
    n, h, w_, c, kh, kw, f = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, h, w_, c)).astype("f4")
    w = rng.standard_normal((kh, kw, c, f)).astype("f4")
    geom = conv2d_geometry(x.shape, (kh, kw))
    y, cols = B.conv2d_forward(x, w, geom)
    assert isinstance(cols, DirectCols)
    gy = rng.standard_normal(y.shape).astype("f4")
    gw = B.conv2d_backward_weight(gy, cols, w.shape)
    y_ref, gw_ref = reference(x, w, gy)
    assert np.abs(y - y_ref).max() <= 2e-6 * np.abs(y_ref).max()
    assert np.abs(gw - gw_ref).max() <= 2e-6 * np.abs(gw_ref).max()


def test_strided_input_is_accepted(one_thread):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((2, 4, 9, 9)).astype("f4")
    x = base.transpose(0, 2, 3, 1)          # NHWC view, not contiguous
    w = rng.standard_normal((3, 3, 4, 64)).astype("f4")
    y, cols = B.conv2d_forward(x, w, conv2d_geometry(x.shape, (3, 3)))
    y_ref, _ = reference(np.ascontiguousarray(x), w, np.zeros((2, 7, 7, 64), "f4"))
    assert isinstance(cols, DirectCols)
    assert np.abs(y - y_ref).max() <= 2e-6 * np.abs(y_ref).max()


def test_only_where_measured(one_thread):
    x = np.zeros((1, 8, 8, 4), "f4")
    valid = conv2d_geometry(x.shape, (3, 3))
    assert DC.usable(np.float32, (3, 3, 4, 64), valid)
    assert not DC.usable(np.float64, (3, 3, 4, 64), valid)           # gradcheck's dtype
    assert not DC.usable(np.float32, (3, 3, 4, 32), valid)           # filters % 64
    assert not DC.usable(np.float32, (3, 3, 4, 64),
                         conv2d_geometry(x.shape, (3, 3), strides=2))
    assert not DC.usable(np.float32, (3, 3, 4, 64),
                         conv2d_geometry(x.shape, (3, 3), padding="same"))
    if numba.config.NUMBA_NUM_THREADS >= 2:
        numba.set_num_threads(2)
        assert not DC.usable(np.float32, (3, 3, 4, 64), valid)


def test_parallel_and_serial_builds_give_the_same_bits():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 12, 12, 16)).astype("f4")
    w = rng.standard_normal((3, 3, 16, 128)).astype("f4")
    gy = rng.standard_normal((6, 10, 10, 128)).astype("f4")
    outs = []
    for build in (DC.conv2d_direct, DC.conv2d_direct.serial):
        y = np.empty((6, 10, 10, 128), "f4")
        build(x, w, y)
        outs.append(y)
    grads = []
    for build in (DC.conv2d_weight_grad_direct, DC.conv2d_weight_grad_direct.serial):
        gw = np.empty((144, 128), "f4")
        build(x, gy, 3, 3, gw)
        grads.append(gw)
    assert np.array_equal(*outs) and np.array_equal(*grads)


def test_training_matches_the_im2col_path(one_thread, monkeypatch):
    """Conv2D(64) followed by max pooling (the fused path) and a plain Conv2D(64): a few
    Adam steps give the im2col path's weights to float32 rounding."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 12, 12, 4)).astype("f4")
    y = rng.integers(0, 3, 32)

    def train():
        mg.random.seed(0)
        model = mg.Sequential([mg.Input((12, 12, 4)),
                               mg.layers.Conv2D(64, 3, activation="relu"),
                               mg.layers.MaxPooling2D(2),
                               mg.layers.Conv2D(64, 3, activation="relu"),
                               mg.layers.Flatten(), mg.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    usable, used = DC.usable, []
    monkeypatch.setattr(DC, "usable", lambda *a: used.append(usable(*a)) or used[-1])
    direct = train()
    assert sum(used) >= 2   # both convs went direct (every step)
    monkeypatch.setattr(DC, "usable", lambda *a: False)
    im2col = train()
    for a, b in zip(direct, im2col):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-5), np.abs(a - b).max()
