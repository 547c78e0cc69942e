"""CPU backend: NumPy arrays, Numba kernels for the hot loops.

Every backend exposes these same functions with the same signatures (the
CUDA backend mirrors this module), so ops stay backend-agnostic and one
parity test can run both. Geometry (output sizes, padding) is resolved by the
op and passed in as plain integers.
"""
from __future__ import annotations

import sys

import numpy as np

from . import kernels as K

name = "cpu"


class BufferPool:
    """Hands out large arrays again once nothing else references them.

    A training step makes the same big temporaries every time (im2col
    columns, conv outputs, their gradients); fresh ones would be page-faulted
    in each step (about 15% of a step here). An array is free when this pool
    holds its only reference; a view keeps its base referenced, so a buffer
    still in use, saved for backward or held by the user, is never handed out.
    """

    MIN_BYTES = 1 << 18   # smaller arrays come from malloc's own free lists
    MAX_ARRAYS = 48

    def __init__(self):
        self.arrays: list = []

    def empty(self, shape, dtype) -> np.ndarray:
        shape, dtype = tuple(shape), np.dtype(dtype)
        if int(np.prod(shape)) * dtype.itemsize < self.MIN_BYTES:
            return np.empty(shape, dtype)
        for a in self.arrays:
            # 3 references when free: the list, the loop variable, getrefcount's argument
            if a.shape == shape and a.dtype == dtype and sys.getrefcount(a) == 3:
                return a
        if len(self.arrays) >= self.MAX_ARRAYS:  # shapes changed: drop the free ones
            self.arrays = [a for a in self.arrays if sys.getrefcount(a) > 3]
        a = np.empty(shape, dtype)
        self.arrays.append(a)
        return a


_buffers = BufferPool()
_empty = _buffers.empty


# ------------------------------------------------------------------ arrays
def asarray(a, dtype=None) -> np.ndarray:
    return np.asarray(a, dtype=dtype, order="C")  # keeps 0-d arrays 0-d


def to_numpy(a) -> np.ndarray:
    return a


def empty(shape, dtype) -> np.ndarray:
    return np.empty(shape, dtype)


def constant(value, dtype) -> np.ndarray:
    """A read-only 0-d operand (the CUDA backend uploads each value once)."""
    return np.asarray(value, dtype)


def zeros(shape, dtype) -> np.ndarray:
    return np.zeros(shape, dtype)


def full(shape, value, dtype) -> np.ndarray:
    return np.full(shape, value, dtype)


# ------------------------------------------- generic math for the autograd core
# NumPy's own ufuncs are already vectorised C loops; a Numba twin would add
# compile time and nothing else.
add, subtract, multiply, divide = np.add, np.subtract, np.multiply, np.divide
negative, exp, log, sqrt, power = np.negative, np.exp, np.log, np.sqrt, np.power
# Dense layers call NumPy's matmul: it is the BLAS (OpenBLAS) sgemm, packed and
# register-blocked, which a Numba loop does not match; Numba's own np.dot would
# need SciPy's BLAS bindings and would call the same routine.
matmul = np.matmul


def sum(a, axis=None, keepdims=False):  # noqa: A001 - mirrors np.sum
    return np.sum(a, axis=axis, keepdims=keepdims)


def reshape(a, shape):
    return np.reshape(a, shape)


def transpose(a, axes=None):
    return np.ascontiguousarray(np.transpose(a, axes))


def sum_to_shape(g, shape):
    """Undo NumPy broadcasting: sum g down to `shape` (the gradient of a broadcast)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def clip(a, low, high):
    return np.clip(a, a.dtype.type(low), a.dtype.type(high))


def clip_mask(a, low, high):
    """1 where low <= a <= high (where clip passes the gradient), else 0."""
    return ((a >= low) & (a <= high)).astype(a.dtype)


def one_hot(labels, k, dtype):
    """(N,) class ids in [0, k) -> (N, k)."""
    out = np.zeros((labels.shape[0], k), dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def take(a, idx):
    """a[idx]: the rows of a picked by the integer array idx (a copy)."""
    return a[idx]


def count_correct(y_true, y_pred, kind: str) -> int:
    """How many predictions are right. kind 'sparse': argmax(pred) == label;
    'categorical': argmax(pred) == argmax(true); 'binary': (pred > 0.5) ==
    (true > 0.5) per element (NumPy's argmax: the first maximum wins)."""
    if kind == "binary":
        right = (y_pred > 0.5) == (y_true.reshape(y_pred.shape) > 0.5)
    elif kind == "categorical":
        right = y_pred.argmax(-1) == y_true.argmax(-1)
    else:
        right = y_pred.argmax(-1) == y_true.reshape(-1)
    return int(right.sum())


# ---------------------------------------------------------------- convolution
def conv2d_forward(x, w, sh, sw, pt, pl, dh, dw, oh, ow):
    """x (N,H,W,C), w (KH,KW,C,F) -> (y (N,OH,OW,F), cols); no bias (see bias_act).

    im2col in Numba, then one BLAS matmul (see `matmul` above for why); cols
    is kept for the weight gradient.
    """
    n = x.shape[0]
    kh, kw, c, f = w.shape
    cols = _empty((n * oh * ow, kh * kw * c), x.dtype)
    K.im2col(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
    y = np.matmul(cols, w.reshape(kh * kw * c, f), out=_empty((n * oh * ow, f), x.dtype))
    return y.reshape(n, oh, ow, f), cols


def conv2d_backward_input(gy, w, x_shape, sh, sw, pt, pl, dh, dw):
    n, oh, ow, f = gy.shape
    kh, kw, c, _ = w.shape
    gcols = np.matmul(gy.reshape(-1, f), w.reshape(kh * kw * c, f).T,
                      out=_empty((gy.size // f, kh * kw * c), gy.dtype))
    gx = _empty(x_shape, gy.dtype)
    K.col2im(gcols, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, gx)
    return gx


def conv2d_backward_weight(gy, cols, w_shape):
    f = gy.shape[-1]
    return (cols.T @ gy.reshape(-1, f)).reshape(w_shape)


_CHUNKS = 64  # fixed row chunks of the bias-gradient sums (see kernels.bias_act_backward)


def bias_act(y, b, relu: bool):
    """In place: y += b (None: no bias), then ReLU if `relu`; one pass. Returns y."""
    f = y.shape[-1]
    K.bias_act(y.reshape(-1, f), np.zeros(f, y.dtype) if b is None else b, bool(relu))
    return y


def bias_act_backward(y, gy, need_bias: bool):
    """ReLU's backward from its output y, with the bias gradient in the same pass:
    (gy * (y > 0), its sum over all but the last axis or None)."""
    f = y.shape[-1]
    g = _empty(gy.shape, gy.dtype)
    partial = np.empty((_CHUNKS, f), gy.dtype)
    K.bias_act_backward(y.reshape(-1, f), gy.reshape(-1, f), g.reshape(-1, f), partial)
    return g, (partial.sum(axis=0) if need_bias else None)


def bias_grad(gy):
    """Sum of gy over every axis but the last (the bias gradient)."""
    f = gy.shape[-1]
    partial = np.empty((_CHUNKS, f), gy.dtype)
    K.column_sums(gy.reshape(-1, f), partial)
    return partial.sum(axis=0)


# ------------------------------------------------------------------- max pool
def maxpool2d_forward(x, ph, pw, sh, sw, pt, pl, oh, ow):
    n, h, w, c = x.shape
    y = _empty((n, oh, ow, c), x.dtype)
    arg = _empty((n, oh, ow, c), np.int32)
    K.maxpool_forward(x, ph, pw, sh, sw, pt, pl, y, arg)
    return y, arg


def maxpool2d_backward(gy, arg, x_shape):
    gx = _empty(x_shape, gy.dtype)
    K.maxpool_backward(gy, arg, gx)
    return gx


# ------------------------------------------ convolution + act + max pool, fused
def conv2d_maxpool_forward(x, w, b, relu, geom, pgeom):
    """maxpool(act(conv2d(x, w) + b)) -> (y, arg, cols); arg indexes the conv output grid.

    geom = (sh, sw, pt, pl, dh, dw, oh, ow) of the conv, pgeom = (ph, pw, psh,
    psw, ppt, ppl, poh, pow) of the pool. (A direct Numba conv+pool for few
    input channels, which never writes the full conv output, measured 2.5x
    slower than im2col + BLAS here.)
    """
    sh, sw, pt, pl, dh, dw, oh, ow = geom
    ph, pw, psh, psw, ppt, ppl, poh, pow_ = pgeom
    z, cols = conv2d_forward(x, w, sh, sw, pt, pl, dh, dw, oh, ow)
    y, arg = maxpool2d_forward(z, ph, pw, psh, psw, ppt, ppl, poh, pow_)
    if b is not None or relu:  # max(relu(z + b)) = relu(max(z) + b), bias per channel:
        bias_act(y, b, relu)   # the epilogue runs on the pooled output, 4x smaller
    return y, arg, cols


def conv2d_maxpool_backward(g, arg, x, cols, w, need_x, need_w, geom, pgeom):
    """(gx, gw) from g, the pooled gradient already past the activation's mask:
    scattered once to the conv output grid, it feeds both GEMMs."""
    sh, sw, pt, pl, dh, dw, oh, ow = geom
    gz = maxpool2d_backward(g, arg, (x.shape[0], oh, ow, w.shape[-1]))
    gw = conv2d_backward_weight(gz, cols, w.shape) if need_w else None
    gx = conv2d_backward_input(gz, w, x.shape, sh, sw, pt, pl, dh, dw) if need_x else None
    return gx, gw


# ---------------------------------------------------------------- activations
def _flat(kernel):
    def run(*arrays):
        out = np.empty_like(arrays[0])
        kernel(*(a.reshape(-1) for a in arrays), out.reshape(-1))
        return out
    run.__name__ = kernel.__name__
    return run


def _rows(kernel):
    def run(*arrays):
        out = np.empty_like(arrays[0])
        k = arrays[0].shape[-1]
        kernel(*(a.reshape(-1, k) for a in arrays), out.reshape(-1, k))
        return out
    run.__name__ = kernel.__name__
    return run


relu_forward, relu_backward = _flat(K.relu_forward), _flat(K.relu_backward)
sigmoid_forward, sigmoid_backward = _flat(K.sigmoid_forward), _flat(K.sigmoid_backward)
tanh_forward, tanh_backward = _flat(K.tanh_forward), _flat(K.tanh_backward)
softmax_forward, softmax_backward = _rows(K.softmax_forward), _rows(K.softmax_backward)
log_softmax_forward = _rows(K.log_softmax_forward)
log_softmax_backward = _rows(K.log_softmax_backward)


def softmax_cross_entropy_forward(logits, target):
    """(N,K) logits and (N,K) target distribution -> (per-row loss (N,), probs)."""
    probs = np.empty_like(logits)
    loss = np.empty(logits.shape[0], logits.dtype)
    K.softmax_cross_entropy_forward(logits, target, probs, loss)
    return loss, probs


def softmax_cross_entropy_backward(probs, target, gloss):
    g = np.empty_like(probs)
    K.softmax_cross_entropy_backward(probs, target, gloss, g)
    return g


def dropout(x, rate, seed):
    """Forward and backward alike: x * mask(seed) / (1 - rate)."""
    y = np.empty_like(x)
    K.dropout_apply(x.reshape(-1), float(rate), int(seed), y.reshape(-1))
    return y


# ----------------------------------------------------------------- optimizers
def adam_update(p, g, m, v, lr_t, beta_1, beta_2, epsilon):
    K.adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                  float(lr_t), float(beta_1), float(beta_2), float(epsilon))


def sgd_update(p, g, velocity, lr, momentum, nesterov):
    K.sgd_update(p.reshape(-1), g.reshape(-1), velocity.reshape(-1),
                 float(lr), float(momentum), bool(nesterov))


# ================================================================================
# Merge layers (issue 12): elementwise maximum/minimum and concatenate/split.
# Added in one block to be re-homed into the backend contract; CUDA twins at the
# end of backends/cuda/__init__.py.
# ================================================================================
def maximum(a, b):
    """Elementwise max with NumPy broadcasting; NaN propagates (np.maximum)."""
    return np.maximum(a, b)


def minimum(a, b):
    return np.minimum(a, b)


def extremum_backward(a, b, g, take_max: bool) -> tuple:
    """Gradients of maximum/minimum(a, b) at the broadcast shape of g: g goes to a
    where a wins (a >= b for max, a <= b for min; ties to a, as TensorFlow), else to b."""
    wins = np.broadcast_to(a >= b if take_max else a <= b, g.shape)
    zero = g.dtype.type(0)
    return np.where(wins, g, zero), np.where(wins, zero, g)


def concatenate(arrays, axis: int):
    return np.concatenate([np.asarray(a) for a in arrays], axis=axis)


def split(a, sizes, axis: int) -> tuple:
    """The pieces of `a` along `axis` (sizes sum to a.shape[axis]), each a contiguous copy."""
    edges = np.cumsum(sizes)[:-1]
    return tuple(np.ascontiguousarray(p) for p in np.split(a, edges, axis=axis))
