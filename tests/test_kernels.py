"""Every CPU backend kernel against a short, obviously-correct NumPy reference.

The references below are written for clarity (explicit window slices, einsum,
Keras's optimizer formulas spelled out), in float64; the kernels run on float32.
"""
import math
import mmap

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get_backend
from minigrad.backends.contract import Backend, ConvGeometry, PoolGeometry
from minigrad.backends.cpu import kernels as K
from minigrad.backends.cpu import direct_conv as DC
from minigrad.backends.cpu import layer_kernels as LK
from minigrad.backends.cpu import layer_ops
from minigrad.backends.cpu import buffers
from minigrad.backends.cpu.buffers import BufferPool

B = get_backend("cpu")
F32 = dict(rtol=2e-5, atol=2e-5)


# ------------------------------------------------------------ geometry (TF rules)
def geometry(n, k, s, d, padding):
    """(out, pad_before) along one axis, written out from TensorFlow's definition."""
    k_eff = d * (k - 1) + 1
    if padding == "valid":
        return (n - k_eff) // s + 1, 0
    out = math.ceil(n / s)
    total = max((out - 1) * s + k_eff - n, 0)
    return out, total // 2


def padded(x, pt, pl, oh, ow, kh, kw, sh, sw, dh, dw, value=0.0):
    """x padded before by (pt, pl) and after by whatever the windows reach."""
    n, h, w, c = x.shape
    pb = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - pt - h)
    pr = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - pl - w)
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def window(xp, p, q, oh, ow, sh, sw, dh, dw):
    """xp[:, i*sh + p*dh, j*sw + q*dw, :] for every output (i, j)."""
    return xp[:, p * dh:p * dh + (oh - 1) * sh + 1:sh, q * dw:q * dw + (ow - 1) * sw + 1:sw, :]


def ref_conv(x, w, sh, sw, pt, pl, dh, dw, oh, ow):
    kh, kw = w.shape[:2]
    xp = padded(x.astype(np.float64), pt, pl, oh, ow, kh, kw, sh, sw, dh, dw)
    y = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for p in range(kh):
        for q in range(kw):
            y += np.einsum("nijc,cf->nijf", window(xp, p, q, oh, ow, sh, sw, dh, dw), w[p, q])
    return y


def ref_conv_grads(x, w, gy, sh, sw, pt, pl, dh, dw, oh, ow):
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    xp = padded(x.astype(np.float64), pt, pl, oh, ow, kh, kw, sh, sw, dh, dw)
    gxp = np.zeros_like(xp)
    gw = np.zeros(w.shape)
    for p in range(kh):
        for q in range(kw):
            gw[p, q] = np.einsum("nijc,nijf->cf", window(xp, p, q, oh, ow, sh, sw, dh, dw), gy)
            window(gxp, p, q, oh, ow, sh, sw, dh, dw)[...] += np.einsum("nijf,cf->nijc", gy,
                                                                        w[p, q])
    return gxp[:, pt:pt + h, pl:pl + wd, :], gw


# (N, H, W, C), (KH, KW), F, strides, padding, dilation
CONV_CASES = [
    ((2, 7, 7, 3), (3, 3), 4, (1, 1), "valid", (1, 1)),
    ((2, 7, 7, 3), (3, 3), 4, (1, 1), "same", (1, 1)),
    ((1, 8, 9, 2), (2, 2), 3, (1, 1), "same", (1, 1)),
    ((3, 9, 8, 1), (3, 3), 5, (2, 2), "same", (1, 1)),
    ((2, 10, 10, 2), (4, 4), 2, (3, 3), "same", (1, 1)),
    ((2, 10, 11, 2), (2, 3), 3, (2, 1), "valid", (1, 1)),
    ((2, 9, 9, 3), (3, 1), 2, (1, 3), "same", (1, 1)),
    ((2, 9, 9, 2), (3, 3), 3, (1, 1), "valid", (2, 2)),
    ((2, 9, 9, 2), (3, 3), 3, (2, 1), "same", (2, 3)),
    ((4, 28, 28, 1), (3, 3), 32, (1, 1), "valid", (1, 1)),   # the MNIST conv
    ((2, 9, 10, 1), (3, 3), 2, (1, 2), "same", (2, 1)),      # 3x3 on one channel:
    ((2, 9, 10, 1), (3, 3), 2, (2, 1), "same", (1, 2)),      # im2col_3x3x1
    ((2, 9, 10, 3), (3, 3), 2, (1, 2), "same", (2, 1)),      # 3x3 on three channels:
    ((2, 9, 10, 3), (3, 3), 2, (2, 1), "valid", (1, 2)),     # im2col_3x3x3
    ((2, 5, 5, 4), (5, 5), 2, (1, 1), "valid", (1, 1)),      # 1x1 output
    ((2, 6, 7, 8), (3, 3), 3, (1, 1), "same", (1, 1)),       # runs of 24 values: im2col's
    ((2, 9, 8, 16), (3, 2), 2, (2, 1), "same", (2, 2)),      # flat-slice copies and zeros
    ((1, 4, 4, 1), (1, 1), 1, (1, 1), "valid", (1, 1)),
]


def conv_geom(xs, k, s, pad, d):
    oh, pt = geometry(xs[1], k[0], s[0], d[0], pad)
    ow, pl = geometry(xs[2], k[1], s[1], d[1], pad)
    return ConvGeometry(s[0], s[1], pt, pl, d[0], d[1], oh, ow)


class _Build:
    """Stands in for a kernel's two builds to record which one `_launch` runs."""

    def __init__(self, serial_below, min_threads):
        self.serial_below, self.min_threads, self.ran = serial_below, min_threads, []
        self.serial = lambda *args: self.ran.append("serial")

    def __call__(self, *args):
        self.ran.append("parallel")


@pytest.mark.parametrize("threads,size,min_threads,expected", [
    (2, 100, 3, "serial"), (2, 100, 1, "parallel"), (1, 100, 2, "serial"),
    (2, 99, 1, "serial"), (1, 100, 1, "parallel")])
def test_launch_takes_the_parallel_build_from_enough_elements_and_threads(
        threads, size, min_threads, expected):
    """backend.py's _launch: the serial build below `serial_below` elements (in the largest
    array) or below `min_threads` Numba threads (kernels.py's MIN_THREADS), else the
    parallel one."""
    import numba
    from minigrad.backends.cpu.backend import _launch
    if numba.config.NUMBA_NUM_THREADS < threads:
        pytest.skip(f"needs {threads} Numba threads")
    kernel = _Build(serial_below=100, min_threads=min_threads)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        _launch(kernel, np.zeros(size), 3)
    finally:
        numba.set_num_threads(before)
    assert kernel.ran == [expected]


@pytest.mark.parametrize("layer,size,expected", [
    ("omp", 150, "parallel"), ("omp", 99, "serial"), ("workqueue", 150, "serial"),
    ("workqueue", 250, "serial")])
def test_launch_reads_each_threshold_for_the_pool_in_use(layer, size, expected, monkeypatch):
    """With one thread pool (blas.py's, OpenMP's) a kernel's parallel build runs from
    fewer elements and threads than with two (kernels.py's PerPool settings)."""
    import numba
    from minigrad.backends.cpu import blas
    from minigrad.backends.cpu.backend import _launch
    if not blas.AVAILABLE or numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NumPy's OpenBLAS symbols and 2 Numba threads")
    monkeypatch.setattr(numba.config, "THREADING_LAYER", layer)
    kernel = _Build(serial_below=K.PerPool(two_pools=200, one_pool=100),
                    min_threads=K.PerPool(two_pools=3, one_pool=2))
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        _launch(kernel, np.zeros(size))
    finally:
        numba.set_num_threads(before)
    assert kernel.ran == [expected]


@pytest.mark.parametrize("build", ["serial", "parallel"])  # inputs this small run serial
@pytest.mark.parametrize("xs,k,f,s,pad,d", CONV_CASES)
def test_conv2d_forward_and_backward(xs, k, f, s, pad, d, build, rng, monkeypatch):
    if build == "parallel":
        for kernel in (K.im2col, K.im2col_taps, K.im2col_3x3x1, K.im2col_3x3x3, K.col2im):
            monkeypatch.setattr(kernel, "serial_below", 0)
            monkeypatch.setattr(kernel, "min_threads", 1)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(k + (xs[3], f)).astype(np.float32)
    geom = conv_geom(xs, k, s, pad, d)
    sh, sw, pt, pl, dh, dw, oh, ow = geom
    y, cols = B.conv2d_forward(x, w, geom)
    assert y.shape == (xs[0], oh, ow, f) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref_conv(x, w, *geom), **F32)

    gy = rng.standard_normal(y.shape).astype(np.float32)
    gx_ref, gw_ref = ref_conv_grads(x, w, gy, *geom)
    gx = B.conv2d_backward_input(gy, w, x.shape, geom)
    assert gx.shape == x.shape and gx.dtype == np.float32
    np.testing.assert_allclose(gx, gx_ref, **F32)
    gw = B.conv2d_backward_weight(gy, cols, w.shape)
    assert gw.shape == w.shape
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-4)


def test_conv2d_backward_input_overwrites_output_buffer(rng):
    """col2im zeroes its output: two calls give the same answer (no stale sums)."""
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 2)).astype(np.float32)
    geom = conv_geom(x.shape, (3, 3), (1, 1), "same", (1, 1))
    gy = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    a = B.conv2d_backward_input(gy, w, x.shape, geom)
    b = B.conv2d_backward_input(gy, w, x.shape, geom)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (63, 4), (64, 7), (65, 2), (1000, 10),
                                   (2, 3, 4, 5), (130, 13, 13, 32)])
def test_bias_grad(shape, rng):
    gy = rng.standard_normal(shape).astype(np.float32)
    out = B.bias_grad(gy)
    assert out.shape == (shape[-1],)
    np.testing.assert_allclose(out, gy.astype(np.float64).reshape(-1, shape[-1]).sum(axis=0),
                               rtol=1e-4, atol=1e-3)


# ------------------------------------------------- fused bias + ReLU epilogue
@pytest.mark.parametrize("shape", [(3, 4), (65, 7), (2, 5, 5, 3), (130, 13, 13, 32)])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_bias_act_and_backward(shape, relu, with_bias, rng):
    z = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[-1]).astype(np.float32) if with_bias else None
    y = z.copy()
    out = B.bias_act(y, b, relu)
    expected = z.astype(np.float64) + (0 if b is None else b)
    expected = np.maximum(expected, 0) if relu else expected
    np.testing.assert_allclose(y, expected, **F32)          # in place
    if out is not None:
        np.testing.assert_array_equal(out, y)
    gy = rng.standard_normal(shape).astype(np.float32)
    g, gb = B.bias_act_backward(y, gy, True)
    g_ref = np.where(y > 0, gy, 0.0)                          # ReLU's mask from its output
    np.testing.assert_array_equal(g, g_ref.astype(np.float32))
    np.testing.assert_allclose(gb, g_ref.reshape(-1, shape[-1]).sum(axis=0), rtol=1e-4,
                               atol=1e-3)
    assert B.bias_act_backward(y, gy, False)[1] is None


# ------------------------------------------------------------------- max pool
def ref_maxpool(x, ph, pw, sh, sw, pt, pl, oh, ow, gy):
    """Forward max and backward scatter to the first maximum in row-major order."""
    xp = padded(x.astype(np.float64), pt, pl, oh, ow, ph, pw, sh, sw, 1, 1, value=-np.inf)
    n, _, _, c = x.shape
    y = np.empty((n, oh, ow, c))
    gxp = np.zeros(xp.shape)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    win = xp[b, i * sh:i * sh + ph, j * sw:j * sw + pw, ch]
                    p, q = np.unravel_index(np.argmax(win), win.shape)  # first max
                    y[b, i, j, ch] = win[p, q]
                    gxp[b, i * sh + p, j * sw + q, ch] += gy[b, i, j, ch]
    return y, gxp[:, pt:pt + x.shape[1], pl:pl + x.shape[2], :]


POOL_CASES = [
    ((2, 4, 4, 3), (2, 2), (2, 2), "valid"),
    ((2, 5, 7, 3), (2, 2), (2, 2), "valid"),
    ((2, 5, 7, 3), (2, 2), (2, 2), "same"),
    ((2, 7, 7, 2), (3, 3), (2, 2), "valid"),   # overlapping windows
    ((2, 7, 8, 2), (3, 3), (2, 2), "same"),
    ((1, 6, 6, 4), (3, 3), (1, 1), "same"),
    ((2, 8, 9, 2), (2, 3), (3, 2), "valid"),
    ((2, 9, 9, 2), (2, 2), (3, 3), "same"),
    ((4, 26, 26, 32), (2, 2), (2, 2), "valid"),  # the MNIST pool
]


@pytest.mark.parametrize("xs,pool,s,pad", POOL_CASES)
def test_maxpool2d_forward_and_backward(xs, pool, s, pad, rng):
    x = rng.standard_normal(xs).astype(np.float32)
    oh, pt = geometry(xs[1], pool[0], s[0], 1, pad)
    ow, pl = geometry(xs[2], pool[1], s[1], 1, pad)
    y, arg = B.maxpool2d_forward(x, PoolGeometry(pool[0], pool[1], s[0], s[1], pt, pl, oh, ow))
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y_ref, gx_ref = ref_maxpool(x, pool[0], pool[1], s[0], s[1], pt, pl, oh, ow, gy)
    assert y.shape == (xs[0], oh, ow, xs[3])
    np.testing.assert_array_equal(y, y_ref.astype(np.float32))
    gx = B.maxpool2d_backward(gy, arg, x.shape)
    assert gx.shape == x.shape
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-6, atol=1e-6)


def test_maxpool2d_ties_go_to_first_element_and_all_negative_inputs():
    x = np.full((1, 4, 4, 1), -3.0, np.float32)   # all tied, all negative
    y, arg = B.maxpool2d_forward(x, PoolGeometry(2, 2, 2, 2, 0, 0, 2, 2))
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 1), -3.0))
    gx = B.maxpool2d_backward(np.ones((1, 2, 2, 1), np.float32), arg, x.shape)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(gx[0, :, :, 0], expected)


def test_maxpool2d_same_padding_never_picks_padding():
    x = np.full((1, 3, 3, 1), -5.0, np.float32)   # padding (as 0 or -inf) must not win
    oh, pt = geometry(3, 2, 2, 1, "same")
    y, arg = B.maxpool2d_forward(x, PoolGeometry(2, 2, 2, 2, pt, pt, oh, oh))
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 1), -5.0))


# conv geometry, pool geometry of the fused op (composed from the kernels above in ops)
FUSED_CASES = [
    ((2, 10, 10, 1), (3, 3), 4, (1, 1), "valid", (1, 1), (2, 2), (2, 2), "valid"),
    ((2, 9, 9, 1), (3, 3), 3, (1, 1), "same", (1, 1), (3, 3), (2, 2), "same"),
    ((2, 11, 10, 2), (2, 2), 3, (2, 1), "same", (1, 1), (2, 2), (2, 2), "same"),
    ((2, 10, 10, 2), (3, 3), 4, (1, 1), "valid", (1, 1), (2, 2), (2, 2), "valid"),
    ((2, 12, 12, 3), (3, 3), 5, (1, 1), "same", (2, 2), (3, 3), (2, 2), "valid"),
    ((4, 28, 28, 1), (3, 3), 32, (1, 1), "valid", (1, 1), (2, 2), (2, 2), "valid"),
]


@pytest.mark.parametrize("xs,k,f,s,pad,d,pool,ps,ppad", FUSED_CASES)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("x_grad,build", [(True, "serial"), (False, "serial"),
                                          (False, "parallel")])
def test_conv2d_maxpool_fused(xs, k, f, s, pad, d, pool, ps, ppad, relu, x_grad, build, rng,
                              monkeypatch):
    """x_grad False: a first layer, whose weight gradient (up to 9 taps) skips the
    conv grid's gradient (maxpool_conv_weight_grad)."""
    if build == "parallel":  # inputs this small run the kernels' serial builds
        for kernel in (K.im2col, K.im2col_taps, K.im2col_3x3x1, K.im2col_3x3x3,
                       K.maxpool_conv_weight_grad, K.maxpool2x2_conv_weight_grad):
            monkeypatch.setattr(kernel, "serial_below", 0)
            monkeypatch.setattr(kernel, "min_threads", 1)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(k + (xs[3], f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    geom = conv_geom(xs, k, s, pad, d)
    oh, ow = geom[6], geom[7]
    poh, ppt = geometry(oh, pool[0], ps[0], 1, ppad)
    pow_, ppl = geometry(ow, pool[1], ps[1], 1, ppad)
    tx = mg.Tensor(x, requires_grad=x_grad)
    tw, tb = (mg.Tensor(a, requires_grad=True) for a in (w, b))
    out = mg.ops.conv2d_maxpool(tx, tw, tb, s, pad, d, "relu" if relu else None, pool, ps, ppad)
    y = out.numpy()

    z = ref_conv(x, w, *geom) + b
    z = np.maximum(z, 0) if relu else z
    g = rng.standard_normal((xs[0], poh, pow_, f)).astype(np.float32)
    y_ref, gz = ref_maxpool(z, pool[0], pool[1], ps[0], ps[1], ppt, ppl, poh, pow_, g)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)

    out.backward(g)
    if relu:  # ReLU's mask on the conv output
        gz = np.where(z > 0, gz, 0)
    gx_ref, gw_ref = ref_conv_grads(x, w, gz, *geom)
    if x_grad:
        np.testing.assert_allclose(tx.grad.numpy(), gx_ref, rtol=1e-4, atol=1e-4)
    else:
        assert tx.grad is None
    np.testing.assert_allclose(tw.grad.numpy(), gw_ref, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(tb.grad.numpy(), gz.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("xs,k,f,s,pad,d,pool,ps,ppad", FUSED_CASES)
@pytest.mark.parametrize("block_bytes", [1, 1 << 40])  # one image per block; one block
def test_conv2d_maxpool_forward_for_inference_matches_its_composition(
        xs, k, f, s, pad, d, pool, ps, ppad, block_bytes, rng, monkeypatch):
    """The CPU backend's block-by-block forward (no columns kept) against the contract's
    default: conv2d_forward, then maxpool2d_forward. The same bits (the last case's
    conv of 9 taps goes by conv_maxpool_few_taps on AVX-512 CPUs: the same bits here,
    as OpenBLAS sums the taps in the same order with fused multiply-adds)."""
    from minigrad.backends.cpu import layer_ops
    monkeypatch.setattr(layer_ops, "INFERENCE_BLOCK_BYTES", block_bytes)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(k + (xs[3], f)).astype(np.float32)
    geom = conv_geom(xs, k, s, pad, d)
    poh, ppt = geometry(geom.oh, pool[0], ps[0], 1, ppad)
    pow_, ppl = geometry(geom.ow, pool[1], ps[1], 1, ppad)
    pgeom = PoolGeometry(pool[0], pool[1], ps[0], ps[1], ppt, ppl, poh, pow_)
    y, arg = B.conv2d_maxpool_forward(x, w, geom, pgeom)
    y_ref, arg_ref = Backend.conv2d_maxpool_forward(B, x, w, geom, pgeom)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)


def test_conv2d_maxpool_without_grad_gives_the_training_forward(rng):
    """Under no_grad the fused op takes the inference path; its output is the same."""
    x = mg.Tensor(rng.standard_normal((5, 12, 12, 2)).astype(np.float32))
    w = mg.Tensor(rng.standard_normal((3, 3, 2, 4)).astype(np.float32), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    trained = mg.ops.conv2d_maxpool(x, w, b, activation="relu")
    with mg.no_grad():
        inferred = mg.ops.conv2d_maxpool(x, w, b, activation="relu")
    assert trained.requires_grad and not inferred.requires_grad
    np.testing.assert_array_equal(inferred.numpy(), trained.numpy())


@pytest.mark.parametrize("xs,k,f,s,pad,d", CONV_CASES)
@pytest.mark.parametrize("bias,relu", [(True, True), (False, False), (False, True)])
@pytest.mark.parametrize("block_bytes", [1, 1 << 40])  # one image per block; one block
def test_conv2d_inference_matches_its_composition(xs, k, f, s, pad, d, bias, relu,
                                                  block_bytes, rng, monkeypatch):
    """The CPU backend's block-by-block conv + bias + ReLU (no columns kept) against the
    contract's default: conv2d_forward, then bias_act. Equal to float32 rounding, not
    always bit for bit: a block's smaller product may go to other BLAS kernels (a
    one-row block to a matrix-vector product), which sum in another order."""
    from minigrad.backends.cpu import layer_ops
    monkeypatch.setattr(layer_ops, "INFERENCE_BLOCK_BYTES", block_bytes)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(k + (xs[3], f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32) if bias else None
    geom = conv_geom(xs, k, s, pad, d)
    y = B.conv2d_inference(x, w, b, relu, geom)
    assert y.shape == (xs[0], geom.oh, geom.ow, f)
    np.testing.assert_allclose(y, Backend.conv2d_inference(B, x, w, b, relu, geom),
                               rtol=1e-5, atol=1e-5)


def test_conv2d_without_grad_gives_the_training_forward(rng):
    """Under no_grad (or with no input needing a gradient) the conv takes the inference
    path; its output is the same bits as the recorded forward's."""
    x = mg.Tensor(rng.standard_normal((5, 12, 12, 2)).astype(np.float32))
    w = mg.Tensor(rng.standard_normal((3, 3, 2, 4)).astype(np.float32), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    trained = mg.ops.conv2d(x, w, b, padding="same", activation="relu")
    with mg.no_grad():
        inferred = mg.ops.conv2d(x, w, b, padding="same", activation="relu")
    frozen = mg.ops.conv2d(x, mg.Tensor(w.numpy()), mg.Tensor(b.numpy()), padding="same",
                           activation="relu")
    assert trained.requires_grad and not inferred.requires_grad and not frozen.requires_grad
    np.testing.assert_array_equal(inferred.numpy(), trained.numpy())
    np.testing.assert_array_equal(frozen.numpy(), trained.numpy())


def test_predict_keeps_no_whole_batch_columns(rng, monkeypatch):
    """predict's convs (pooled or not) never take conv2d_forward, whose im2col columns
    for the whole batch are what made predict's memory peak."""
    model = mg.Sequential([mg.Input((10, 10, 3)),
                           mg.layers.Conv2D(4, 3, padding="same", activation="relu"),
                           mg.layers.Conv2D(4, 3, activation="relu"), mg.layers.MaxPooling2D(),
                           mg.layers.Conv2D(2, 3), mg.layers.Flatten()])
    x = rng.standard_normal((6, 10, 10, 3)).astype(np.float32)
    expected = model(x).numpy()

    def refuse(*args):
        raise AssertionError("predict called conv2d_forward")
    monkeypatch.setattr(type(B), "conv2d_forward", refuse)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def _conv_then_pool(x, w, s, pad, d, pool, ps, ppad):
    """The CPU backend's conv of x with w, then max pooling: (conv geometry, conv
    output, its im2col columns, pool geometry, pooled output, winners)."""
    geom = conv_geom(x.shape, w.shape[:2], s, pad, d)
    z, cols = B.conv2d_forward(x, w, geom)
    poh, ppt = geometry(geom.oh, pool[0], ps[0], 1, ppad)
    pow_, ppl = geometry(geom.ow, pool[1], ps[1], 1, ppad)
    pgeom = PoolGeometry(pool[0], pool[1], ps[0], ps[1], ppt, ppl, poh, pow_)
    return (geom, z, cols, pgeom) + tuple(B.maxpool2d_forward(z, pgeom))


@pytest.mark.parametrize("xs,k,f,s,pad,d,pool,ps,ppad", FUSED_CASES)
def test_maxpool_conv2d_backward_weight_matches_its_composition_in_float64(
        xs, k, f, s, pad, d, pool, ps, ppad, rng):
    """The CPU backend's override against the contract's default (maxpool2d_backward,
    then conv2d_backward_weight), float64, tight: the same sum in another order."""
    x = rng.standard_normal(xs)
    w = rng.standard_normal(k + (xs[3], f))
    _, z, cols, pgeom, y, arg = _conv_then_pool(x, w, s, pad, d, pool, ps, ppad)
    g = rng.standard_normal(y.shape)
    got = B.maxpool_conv2d_backward_weight(g, arg, cols, w.shape, z.shape, pgeom)
    want = Backend.maxpool_conv2d_backward_weight(B, g, arg, cols, w.shape, z.shape, pgeom)
    assert got.shape == w.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xs,k,f,s,pad,d,pool,ps,ppad", FUSED_CASES)
def test_the_2x2_window_weight_gradient_kernel_gives_the_generic_kernels_bits(
        xs, k, f, s, pad, d, pool, ps, ppad, rng, monkeypatch):
    """maxpool2x2_conv_weight_grad, taken where every pooling window is a whole 2x2,
    sums the same products in the same order as maxpool_conv_weight_grad: the same
    bits, NaNs (which win their window) included. Elsewhere the generic kernel runs.
    (Both are allowed more than their 9 taps here, to cover more channels.)"""
    monkeypatch.setattr(layer_ops, "POOLED_WEIGHT_GRAD_MAX_TAPS", 100)
    x = rng.standard_normal(xs).astype(np.float32)
    x[0, 1, 2, 0] = np.nan
    w = rng.standard_normal(k + (xs[3], f)).astype(np.float32)
    geom, z, cols, pgeom, y, arg = _conv_then_pool(x, w, s, pad, d, pool, ps, ppad)
    poh, pow_, ppt, ppl = pgeom.oh, pgeom.ow, pgeom.pad_top, pgeom.pad_left
    g = rng.standard_normal(y.shape).astype(np.float32)
    launched = []
    real_launch = B._launch
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                          real_launch(kernel, *a)))
    got = B.maxpool_conv2d_backward_weight(g, arg, cols, w.shape, z.shape, pgeom)
    whole_2x2 = pool == (2, 2) and (ppt, ppl) == (0, 0) and \
        (poh - 1) * ps[0] + 2 <= geom.oh and (pow_ - 1) * ps[1] + 2 <= geom.ow
    twin = LK.maxpool2x2_conv_weight_grad16 if f % 16 == 0 and DC.has_avx512() else \
        K.maxpool2x2_conv_weight_grad   # its 16-lane twin where it runs
    assert launched == [twin if whole_2x2 else K.maxpool_conv_weight_grad]
    monkeypatch.setattr(layer_ops, "POOLED_2X2_WEIGHT_GRAD", False)
    want = B.maxpool_conv2d_backward_weight(g, arg, cols, w.shape, z.shape, pgeom)
    assert launched[-1] is K.maxpool_conv_weight_grad
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got).any() == np.isnan(want).any()


# ---------------------------------------------------------------- activations
SHAPES = [(7,), (4, 5), (2, 3, 4), (3, 13, 13, 8), (100_003,)]


@pytest.mark.parametrize("shape", SHAPES)
def test_relu(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    y = B.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    gy = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(B.relu_backward(y, gy), np.where(x > 0, gy, 0))


@pytest.mark.parametrize("shape", SHAPES)
def test_sigmoid(shape, rng):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    y = B.sigmoid_forward(x)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5, atol=1e-7)
    gy = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(B.sigmoid_backward(y, gy), gy * y * (1 - y), **F32)


def test_sigmoid_extremes():
    x = np.array([-1e4, -100, -20, 0, 20, 100, 1e4], np.float32)
    y = B.sigmoid_forward(x)
    assert np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()
    with np.errstate(over="ignore"):
        expected = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(y, expected, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
def test_tanh(shape, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = B.tanh_forward(x)
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    gy = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(B.tanh_backward(y, gy), gy * (1 - y.astype(np.float64) ** 2), **F32)


def ref_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ROW_SHAPES = [(1, 1), (4, 10), (3, 1), (2, 3, 7), (500, 10)]


@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_softmax(shape, rng):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    y = B.softmax_forward(x)
    s = ref_softmax(x.astype(np.float64))
    np.testing.assert_allclose(y, s, rtol=1e-5, atol=1e-7)
    gy = rng.standard_normal(shape).astype(np.float32)
    expected = s * (gy - (gy * s).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(B.softmax_backward(y, gy), expected, **F32)


@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_log_softmax(shape, rng):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    y = B.log_softmax_forward(x)
    s = ref_softmax(x.astype(np.float64))
    np.testing.assert_allclose(y, np.log(s), rtol=1e-5, atol=1e-5)
    gy = rng.standard_normal(shape).astype(np.float32)
    expected = gy - s * gy.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(B.log_softmax_backward(y, gy), expected, **F32)


def test_softmax_large_logits_are_stable():
    x = np.array([[1000.0, 0.0, -1000.0], [88.0, 89.0, 90.0]], np.float32)
    y = B.softmax_forward(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ref_softmax(x.astype(np.float64)), atol=1e-6)
    ly = B.log_softmax_forward(x)
    assert np.isfinite(ly).all()
    np.testing.assert_allclose(ly[0], [0.0, -1000.0, -2000.0], rtol=1e-6)


# ----------------------------------------------------- softmax cross-entropy
def ref_sce(z, t):
    z = z.astype(np.float64)
    lse = z.max(axis=1, keepdims=True) + np.log(np.exp(z - z.max(axis=1, keepdims=True))
                                                .sum(axis=1, keepdims=True))
    return -(t * (z - lse)).sum(axis=1), np.exp(z - lse)


@pytest.mark.parametrize("n,k", [(1, 2), (4, 10), (33, 5), (256, 10)])
@pytest.mark.parametrize("kind", ["onehot", "soft"])
def test_softmax_cross_entropy(n, k, kind, rng):
    z = (rng.standard_normal((n, k)) * 3).astype(np.float32)
    if kind == "onehot":
        t = np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]
    else:
        t = rng.uniform(0, 1, (n, k)).astype(np.float32)
        t /= t.sum(axis=1, keepdims=True)
    loss, probs = B.softmax_cross_entropy_forward(z, t)
    loss_ref, probs_ref = ref_sce(z, t)
    assert loss.shape == (n,) and probs.shape == (n, k)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs, probs_ref, rtol=1e-5, atol=1e-7)
    gloss = rng.uniform(0.5, 2, n).astype(np.float32)
    g = B.softmax_cross_entropy_backward(probs, t, gloss)
    # d/dz of -sum(t * log_softmax(z)) = softmax(z) * sum(t) - t
    expected = gloss[:, None] * (probs_ref * t.sum(axis=1, keepdims=True) - t)
    np.testing.assert_allclose(g, expected, **F32)


def test_softmax_cross_entropy_huge_logits_finite():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 3e4]], np.float32)
    t = np.eye(3, dtype=np.float32)[[2, 0]]
    loss, probs = B.softmax_cross_entropy_forward(z, t)
    assert np.isfinite(loss).all() and np.isfinite(probs).all()
    np.testing.assert_allclose(loss, [2e4, 3e4], rtol=1e-6)


# -------------------------------------------------------------------- dropout
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_mask_fraction_and_scale(rate):
    x = np.ones(200_000, np.float32)
    y = B.dropout(x, rate, 12345)
    dropped = (y == 0).mean()
    assert abs(dropped - rate) < 0.01
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / (1 - rate), rtol=1e-6)


def test_dropout_seeded_masks(rng):
    x = rng.uniform(1, 2, (64, 7, 7, 8)).astype(np.float32)   # no zeros of its own
    a = B.dropout(x, 0.5, 7)
    b = B.dropout(x, 0.5, 7)
    c = B.dropout(x, 0.5, 8)
    np.testing.assert_array_equal(a, b)                       # same seed, same mask
    assert not np.array_equal(a == 0, c == 0)                 # another seed, another mask
    both = ((a == 0) & (c == 0)).mean()
    assert abs(both - 0.25) < 0.02                            # the masks look independent
    np.testing.assert_allclose(a[a != 0], x[a != 0] * 2, rtol=1e-6)
    # positions in a row are not correlated (no stripes)
    flat = (a == 0).reshape(-1).astype(np.float64)
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.02


def test_dropout_backward_reuses_the_mask(rng):
    """Kernel level: the backward call (same seed) zeroes exactly where forward did."""
    x = rng.uniform(1, 2, (5000,)).astype(np.float32)
    g = rng.uniform(1, 2, (5000,)).astype(np.float32)
    y = B.dropout(x, 0.3, 99)
    gx = B.dropout(g, 0.3, 99)
    np.testing.assert_array_equal(y == 0, gx == 0)
    np.testing.assert_allclose(gx[gx != 0], g[gx != 0] / 0.7, rtol=1e-6)


def test_dropout_op_backward_uses_forward_mask(rng):
    mg.random.seed(3)
    x = mg.Tensor(rng.uniform(1, 2, (32, 50)).astype(np.float32), requires_grad=True)
    out = mg.ops.dropout(x, 0.4, training=True)
    g = rng.standard_normal((32, 50)).astype(np.float32)
    out.backward(g)
    mask = out.numpy() != 0
    assert 0.5 < mask.mean() < 0.7
    np.testing.assert_allclose(x.grad.numpy(), np.where(mask, g / 0.6, 0), rtol=1e-6)
    # not training: identity
    np.testing.assert_array_equal(mg.ops.dropout(x, 0.4, training=False).numpy(), x.numpy())


# ----------------------------------------------------------------- optimizers
def ref_adam(p, grads, lr, b1, b2, eps):
    """Keras's Adam, written out: m, v moments; lr_t = lr*sqrt(1-b2^t)/(1-b1^t);
    p -= lr_t * m / (sqrt(v) + eps)."""
    p = p.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p = p - lr_t * m / (np.sqrt(v) + eps)
    return p, m, v


def ref_sgd(p, grads, lr, momentum, nesterov):
    """Keras's SGD: v = momentum*v - lr*g; p += v, or p += momentum*v - lr*g (nesterov)."""
    p = p.astype(np.float64)
    v = np.zeros_like(p)
    for g in grads:
        if momentum == 0:
            p = p - lr * g
            continue
        v = momentum * v - lr * g
        p = p + (momentum * v - lr * g if nesterov else v)
    return p, v


@pytest.mark.parametrize("shape", [(5,), (3, 4), (3, 3, 1, 32), (1001,)])
@pytest.mark.parametrize("lr,b1,b2,eps", [(0.001, 0.9, 0.999, 1e-7), (0.05, 0.8, 0.99, 1e-3)])
def test_adam_update_kernel(shape, lr, b1, b2, eps, rng):
    p0 = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    p, m, v = p0.copy(), np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for t, g in enumerate(grads, start=1):
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        B.adam_update(p, g, m, v, lr_t, b1, b2, eps)
    p_ref, m_ref, v_ref = ref_adam(p0, grads, lr, b1, b2, eps)
    np.testing.assert_allclose(m, m_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, v_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p, p_ref, rtol=1e-5, atol=1e-6)
    assert not np.allclose(p, p0)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (3, 3, 1, 32), (1001,)])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True),
                                               (0.5, True)])
def test_sgd_update_kernel(shape, momentum, nesterov, rng):
    lr = 0.1
    p0 = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    p, vel = p0.copy(), np.zeros(shape, np.float32)
    for g in grads:
        B.sgd_update(p, g, vel, lr, momentum, nesterov)
    p_ref, v_ref = ref_sgd(p0, grads, lr, momentum, nesterov)
    np.testing.assert_allclose(p, p_ref, rtol=1e-5, atol=1e-6)
    if momentum:
        np.testing.assert_allclose(vel, v_ref, rtol=1e-5, atol=1e-6)


def _run_optimizer(opt, p0, grads):
    w = mg.Tensor(p0.copy(), requires_grad=True)
    for g in grads:
        w.grad = mg.Tensor(g)
        opt.apply_gradients([w])
    return w.numpy()


def test_adam_optimizer_class_matches_hand_made_keras_formula(rng):
    p0 = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(5)]
    opt = mg.optimizers.Adam(learning_rate=0.01)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-7)  # Keras's defaults
    out = _run_optimizer(opt, p0, grads)
    assert opt.iterations == 5
    np.testing.assert_allclose(out, ref_adam(p0, grads, 0.01, 0.9, 0.999, 1e-7)[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_optimizer_class_matches_hand_made_keras_formula(momentum, nesterov, rng):
    p0 = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(5)]
    opt = mg.optimizers.SGD(learning_rate=0.05, momentum=momentum, nesterov=nesterov)
    out = _run_optimizer(opt, p0, grads)
    np.testing.assert_allclose(out, ref_sgd(p0, grads, 0.05, momentum, nesterov)[0],
                               rtol=1e-5, atol=1e-6)


def test_optimizer_defaults_are_keras():
    assert mg.optimizers.get("adam").learning_rate == 0.001
    sgd = mg.optimizers.get("sgd")
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)


# ---------------------------------------------------------------- buffer pool
def test_buffer_pool_never_hands_out_memory_still_in_use():
    """A buffer is reused only once nothing can reach it: a view kept anywhere (here
    a reshaped slice, as a Function saves for backward) keeps it in use."""
    pool = BufferPool()
    shape = (512, 256)                                       # 512 KiB of float32
    a = pool.empty(shape, np.float32)
    kept = a.reshape(-1)[100:].reshape(-1, 2).T              # views of views
    kept[...] = 7.0
    address = a.ctypes.data
    del a
    b = pool.empty(shape, np.float32)
    assert not np.shares_memory(b, kept) and b.ctypes.data != address
    b[...] = -1.0
    assert (kept == 7.0).all()                               # untouched by b's user
    addresses = {address, b.ctypes.data}
    del kept, b
    c = pool.empty((256, 512), np.float32)                   # free again: reused, any shape
    assert c.ctypes.data in addresses and pool.in_use() == 1
    assert c.flags.writeable and c.flags.c_contiguous and c.shape == (256, 512)
    reused = {pool.empty(shape, np.float32).ctypes.data for _ in range(3)}
    assert len(reused) == 1                                  # each dropped at once, reused


def test_buffer_pool_reuses_dropped_buffers():
    pool = BufferPool()
    first = pool.empty((1024, 256), np.float32).ctypes.data
    assert pool.empty((1024, 256), np.float32).ctypes.data == first
    assert pool.in_use() == 0
    small = pool.empty((10, 10), np.float32)                 # below MIN_BYTES: plain NumPy
    assert small.base is None


@pytest.mark.skipif(not buffers.USE_HUGE_PAGES, reason="no madvise(MADV_HUGEPAGE) here")
def test_pooled_buffers_are_private_2mb_aligned_and_advised_for_huge_pages():
    """Each pooled buffer of 2 MB or more starts a 2 MB page, in a private mapping the
    kernel marks as advised for transparent huge pages ("hg"; a shared one, "sh", would
    get none); smaller ones come from np.empty (malloc). Their VmFlags are not checked:
    NumPy itself advises its own 4 MB+ arrays, so a malloc heap region may carry "hg"."""
    pool = BufferPool()
    kept = [pool.empty(shape, np.float32) for shape in [(1024, 512), (3000, 1000)]]
    small = pool.empty((512, 512), np.float32)               # 1 MB
    memory = {e[0].size: e[0] for e in pool._buffers}
    assert memory[small.nbytes].base is None                 # np.empty's, owns its data
    assert all(isinstance(_root(memory[a.nbytes]), mmap.mmap) for a in kept)
    for a in kept:
        assert a.ctypes.data % buffers.HUGE_PAGE == 0
        flags = _vm_flags(a.ctypes.data)
        assert "hg" in flags and "sh" not in flags, flags


def _root(a: np.ndarray):
    """The object that owns an array's memory: the end of its chain of bases."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a.obj if isinstance(a, memoryview) else a


def _vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that holds `address`."""
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(v, 16) for v in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.parametrize("op", ["relu", "relu_backward", "dropout", "softmax",
                                "softmax_cross_entropy", "matmul", "transpose"])
def test_large_activation_outputs_come_from_the_buffer_pool(op, rng):
    """Fresh 16 MB arrays each step are page-faulted in (map_forward and map_backward
    took 3x as long in the CIFAR-shaped BatchNorm network; Dense's backward, matmul
    and transpose, 5x); pooled ones are reused."""
    import ctypes
    x = rng.standard_normal((64, 32, 32, 32)).astype(np.float32)
    target = np.full((x.size // 32, 32), 1 / 32, np.float32)
    out = {"relu": lambda: B.map_forward("relu", x),
           "relu_backward": lambda: B.map_backward("relu", x, x),
           "dropout": lambda: B.dropout(x, 0.5, 1),
           "softmax": lambda: B.softmax_forward(x),
           "softmax_cross_entropy": lambda: B.softmax_cross_entropy_forward(
               x.reshape(-1, 32), target)[1],
           "matmul": lambda: B.matmul(x.reshape(-1, 32), x[0, 0, :32]),
           "transpose": lambda: B.transpose(x.reshape(-1, 32))}[op]()
    base = out
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, ctypes.Array), f"{op}: not a pooled buffer"


def test_pooled_products_and_transposes_are_right_and_not_overwritten(rng):
    """matmul's and transpose's pooled results equal NumPy's, and a result still held
    keeps its values while the next calls of the same shapes get other memory."""
    a = rng.standard_normal((256, 300)).astype(np.float32)
    b = rng.standard_normal((300, 400)).astype(np.float32)
    kept_p, kept_t = B.matmul(a, b), B.transpose(a)
    want_p, want_t = np.matmul(a, b), np.ascontiguousarray(a.T)
    np.testing.assert_array_equal(kept_p, want_p)
    np.testing.assert_array_equal(kept_t, want_t)
    assert kept_t.flags.c_contiguous
    for _ in range(3):
        again_p, again_t = B.matmul(-a, b), B.transpose(-a)
        assert not np.shares_memory(again_p, kept_p)
        assert not np.shares_memory(again_t, kept_t)
    np.testing.assert_array_equal(kept_p, want_p)
    np.testing.assert_array_equal(kept_t, want_t)
    assert B.matmul(a.astype(np.float64), b).dtype == np.float64  # promoted as np.matmul


def test_a_buffer_saved_for_backward_is_not_handed_out_again(rng):
    """conv2d saves its im2col columns (a pooled buffer) for backward; a second
    forward of the same shapes before that backward must not overwrite them."""
    x1, x2 = (rng.standard_normal((8, 16, 16, 8)).astype(np.float32) for _ in range(2))
    w = rng.standard_normal((3, 3, 8, 4)).astype(np.float32)
    geom = conv_geom(x1.shape, (3, 3), (1, 1), "valid", (1, 1))
    assert 8 * 14 * 14 * 72 * 4 >= BufferPool.MIN_BYTES      # the columns are pooled
    tw = mg.Tensor(w, requires_grad=True)
    y1 = mg.ops.conv2d(mg.Tensor(x1), tw)
    y2 = mg.ops.conv2d(mg.Tensor(x2), tw)                    # same shapes, while y1's graph lives
    gy = rng.standard_normal(y1.shape).astype(np.float32)
    y1.backward(gy)
    np.testing.assert_allclose(tw.grad.numpy(), ref_conv_grads(x1, w, gy, *geom)[1],
                               rtol=1e-4, atol=1e-3)
    del y2
