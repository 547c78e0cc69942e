"""CUDA backend: numba-cuda device arrays, the same functions as the CPU backend.

`load()` returns this module when numba-cuda and a GPU (or Numba's simulator,
NUMBA_ENABLE_CUDASIM=1) are present, else raises one RuntimeError saying what
is missing. Until then nothing here imports numba-cuda, so `import
minigrad` works without it. Data stays on the device between calls; only
`to_numpy` copies to the host. On a GPU, buffers come from the caching
allocator in memory.py, so a training step allocates nothing after the
first. Every function mirrors the CPU backend's signature (see
minigrad/backends/cpu/__init__.py); kernels are in kernels.py.
"""
from __future__ import annotations

import builtins
import sys
import warnings

import numpy as np

name = "cuda"
cuda = K = None  # numba's cuda module and our kernels, set by load()
TPB = 256        # threads per block of the 1-D kernels


# -------------------------------------------------------------- availability
def _import_cuda():
    """numba-cuda's `cuda` module, or a RuntimeError saying it is not installed."""
    try:
        import numba_cuda  # noqa: F401  (numba's own numba.cuda is deprecated)
        from numba import cuda as numba_cuda_module
    except ImportError:
        raise RuntimeError("device 'cuda': numba-cuda is not installed "
                           "(pip install minigrad[cuda])") from None
    return numba_cuda_module


def _gpu_problem(cu) -> str | None:
    """Why no GPU can be used (None if one can; the simulator always can)."""
    try:
        if cu.is_available():
            return None
        reason = cu.cuda_error()
    except Exception as e:  # a broken driver must not escape as a stack of errors
        reason = e
    reason = " ".join(str(reason or "no device").split())
    return reason


def load():
    """This module, ready to use; or one RuntimeError naming what is missing."""
    global cuda, K
    if K is None:
        cu = _import_cuda()
        from numba.core import config
        if not config.ENABLE_CUDASIM:  # the simulator has no device memory to manage
            from . import memory
            memory.install()  # before the first context, which takes its manager
        problem = _gpu_problem(cu)
        if problem is not None:
            raise RuntimeError(f"device 'cuda': no CUDA GPU/driver found ({problem}); "
                               f"use device='cpu', or NUMBA_ENABLE_CUDASIM=1 to simulate")
        from . import kernels
        cuda, K = cu, kernels
    return sys.modules[__name__]


# ------------------------------------------------------------------- helpers
def is_device_array(a) -> bool:
    """A numba device array (real or simulated) or any __cuda_array_interface__ object."""
    return hasattr(a, "copy_to_host") or hasattr(a, "__cuda_array_interface__")


def _launch(kernel, n, *args):
    """Run a 1-D kernel over n threads (nothing to do for n == 0)."""
    if n > 0:
        tpb = min(TPB, n)
        kernel[(n + tpb - 1) // tpb, tpb](*args)


def _flat(a):
    return a.reshape(a.size)


def _estrides(a) -> tuple:
    """Strides in elements (device arrays report bytes)."""
    return tuple(s // a.dtype.itemsize for s in a.strides)


def _pad(shape, strides) -> tuple:
    """Shape and strides padded in front to kernels.MAXDIM (shape 1, stride 0)."""
    nd = len(shape)
    if nd > K.MAXDIM:
        raise ValueError(f"cuda backend: arrays of rank {nd} are not supported "
                         f"(at most {K.MAXDIM})")
    pad = K.MAXDIM - nd
    return (1,) * pad + tuple(int(s) for s in shape), (0,) * pad + tuple(int(s) for s in strides)


def _broadcast_strides(a, out_shape) -> tuple:
    """a's element strides as seen through broadcasting to out_shape (0 on broadcast axes)."""
    lead = len(out_shape) - a.ndim
    st = [0] * lead + [0 if d == 1 else s for d, s in zip(a.shape, _estrides(a))]
    return _pad(out_shape, st)[1]


def _gather(a, out_shape, strides, dtype):
    """A new contiguous array: out[idx] = a[sum(idx * strides)] (transpose/broadcast/cast)."""
    out = empty(out_shape, dtype)
    shape, st = _pad(out_shape, strides)
    _launch(K.strided_copy, out.size, a, _flat(out), shape, st)
    return out


# -------------------------------------------------------------------- arrays
def asarray(a, dtype=None):
    """A contiguous device array: host arrays are copied over, device arrays pass through."""
    if is_device_array(a):
        if not hasattr(a, "copy_to_host"):
            a = cuda.as_cuda_array(a)
        if (dtype is None or np.dtype(dtype) == a.dtype) and a.is_c_contiguous():
            return a
        if a.is_c_contiguous():
            return _gather(_flat(a), a.shape, _estrides(a), dtype or a.dtype)
        # a non-contiguous foreign view: copy it through the host, a rare path
        a = a.copy_to_host()
    # order="C", not np.ascontiguousarray, which turns 0-d scalars into shape (1,)
    return cuda.to_device(np.asarray(a, dtype=dtype, order="C"))


_constants: dict = {}


def constant(value, dtype):
    """A read-only 0-d operand, uploaded once per value and then shared: the
    scalars of Tensor arithmetic (the 1/N of every mean) would otherwise cost a
    host-to-device copy, which waits for the GPU, per op."""
    a = np.asarray(value, dtype)
    key = (a.dtype.str, a.tobytes())
    if key not in _constants:
        if len(_constants) >= 1024:  # many distinct values: start again
            _constants.clear()
        _constants[key] = cuda.to_device(a)
    return _constants[key]


def to_numpy(a) -> np.ndarray:
    return a.copy_to_host() if is_device_array(a) else np.asarray(a)


def empty(shape, dtype):
    return cuda.device_array(tuple(shape) if np.iterable(shape) else (shape,), np.dtype(dtype))


def full(shape, value, dtype):
    out = empty(shape, dtype)
    _launch(K.fill, out.size, _flat(out), out.dtype.type(value))
    return out


def zeros(shape, dtype):
    return full(shape, 0, dtype)


# ----------------------------------------- generic math for the autograd core
def _operands(a, b):
    """Both operands as device arrays of the NumPy result dtype (scalars take the array's)."""
    def is_arr(x):
        return is_device_array(x) or (isinstance(x, np.ndarray) and x.ndim > 0)
    arrays = [x.dtype for x in (a, b) if is_arr(x)]
    dtype = np.result_type(*arrays) if arrays else np.result_type(a, b)
    return asarray(a, dtype), asarray(b, dtype)


def _binary(op):
    def run(a, b):
        a, b = _operands(a, b)
        shape = np.broadcast_shapes(a.shape, b.shape)
        out = empty(shape, a.dtype)
        _launch(K.binary, out.size, _flat(a), _flat(b), _flat(out), op,
                _pad(shape, [0] * len(shape))[0],
                _broadcast_strides(a, shape), _broadcast_strides(b, shape))
        return out
    return run


# op codes of kernels.binary (ADD, SUB, MUL, DIV): kernels is imported by load(), later
add, subtract = _binary(0), _binary(1)
multiply, divide = _binary(2), _binary(3)


def _unary(op, x, p=0, q=0):
    x = asarray(x)
    out = empty(x.shape, x.dtype)
    cast = x.dtype.type  # p, q in the array's dtype, as NumPy 2 compares scalars
    _launch(K.unary, x.size, _flat(x), _flat(out), op, cast(p), cast(q))
    return out


def negative(a): return _unary(K.NEG, a)
def exp(a): return _unary(K.EXP, a)
def log(a): return _unary(K.LOG, a)
def sqrt(a): return _unary(K.SQRT, a)
def power(a, exponent): return _unary(K.POW, a, exponent)
def clip(a, low, high): return _unary(K.CLIP, a, low, high)


def clip_mask(a, low, high):
    """1 where low <= a <= high (where clip passes the gradient), else 0."""
    return _unary(K.CLIP_MASK, a, low, high)


def matmul(a, b):
    """(M, K) @ (K, N) with the tiled shared-memory kernel."""
    a, b = _operands(a, b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: expected (M, K) @ (K, N), got {a.shape} @ {b.shape}")
    return _matmul(a, b)


def _matmul(a, b, ta=False, tb=False):
    """op(a) @ op(b), op = transpose where ta / tb, without materialising a transpose."""
    m, kdim = (a.shape[1], a.shape[0]) if ta else a.shape
    n = b.shape[0] if tb else b.shape[1]
    t = K.TILE
    tiles_m, tiles_n = -(-m // t), -(-n // t)
    # split-K when there are few output tiles but a long k (the conv weight gradient):
    # up to ~128 blocks, each chunk at least 8 tiles deep.
    splits = max(1, min(kdim // (8 * t), 128 // max(1, tiles_m * tiles_n)))
    kchunk = -(-kdim // splits) if kdim else 0
    c = empty((splits, m, n), a.dtype)
    if m and n:
        K.matmul_kernel(a.dtype)[(tiles_m, tiles_n, splits), (t, t)](a, b, c, ta, tb, kchunk)
    return c.reshape(m, n) if splits == 1 else sum(c, axis=0)


def sum(a, axis=None, keepdims=False):  # noqa: A001 - mirrors np.sum
    a = asarray(a)
    nd = a.ndim
    axes = tuple(range(nd)) if axis is None else \
        tuple(sorted({ax % nd for ax in ((axis,) if np.isscalar(axis) else axis)}))
    kept = [d for d in range(nd) if d not in axes]
    st = _estrides(a)
    kshape, kst = _pad([a.shape[d] for d in kept], [st[d] for d in kept])
    rshape, rst = _pad([a.shape[d] for d in axes], [st[d] for d in axes])
    nout = int(np.prod(kshape))
    nred = int(np.prod(rshape))
    out = empty(nout, a.dtype)
    if nout:
        threads = min(K.RED, 1 << max(0, (nred - 1).bit_length()))  # a power of two
        K.reduce_sum[nout, threads](_flat(a), out, kshape, kst, rshape, rst, nred)
    shape = [1 if d in axes else a.shape[d] for d in range(nd)] if keepdims else \
        [a.shape[d] for d in kept]
    return out.reshape(tuple(shape))


def reshape(a, shape):
    """A view with a new shape (arrays here are contiguous); one -1 is inferred."""
    shape = tuple(int(s) for s in (shape if np.iterable(shape) else (shape,)))
    if shape.count(-1) == 1:
        known = int(np.prod([s for s in shape if s != -1]))
        if known and a.size % known == 0:
            shape = tuple(a.size // known if s == -1 else s for s in shape)
    if any(s < 0 for s in shape) or int(np.prod(shape)) != a.size:
        raise ValueError(f"cannot reshape array of shape {tuple(a.shape)} into shape {shape}")
    return asarray(a).reshape(shape)


def transpose(a, axes=None):
    """A contiguous copy with the axes permuted (like the CPU's ascontiguousarray)."""
    a = asarray(a)
    axes = tuple(range(a.ndim))[::-1] if axes is None else tuple(ax % a.ndim for ax in axes)
    st = _estrides(a)
    return _gather(_flat(a), [a.shape[ax] for ax in axes], [st[ax] for ax in axes], a.dtype)


def sum_to_shape(g, shape):
    """Undo NumPy broadcasting: sum g down to `shape` (the gradient of a broadcast)."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and g.shape[lead + i] != 1)
    return reshape(sum(g, axis=axes), shape)


def one_hot(labels, k, dtype):
    """(N,) class ids -> (N, k); a label outside [0, k) gives a row of NaN."""
    labels = asarray(labels, np.int64)
    out = zeros((labels.shape[0], k), dtype)
    _launch(K.one_hot, labels.shape[0], labels, out)
    return out


def take(a, idx):
    """a[idx]: the rows of a (any rank) picked by the integer array idx, on the device."""
    idx = asarray(idx, np.int64)
    out = empty((idx.shape[0],) + tuple(a.shape[1:]), a.dtype)
    row = out.size // max(idx.shape[0], 1)
    _launch(K.take_rows, out.size, _flat(a), idx, row, _flat(out))
    return out


def count_correct(y_true, y_pred, kind: str) -> int:
    """How many predictions are right (see the CPU backend): one flag per row on
    the device, summed there; only the count comes back."""
    y_pred = asarray(y_pred)
    k = tuple(y_pred.shape)[-1]
    rows = (y_pred.size, 1) if kind == "binary" else (y_pred.size // k, k)
    if kind == "sparse":  # class ids, read as they are (no one-hot copy)
        true, code = asarray(y_true, np.int64).reshape(rows[0], 1), K.SPARSE
    else:
        true = asarray(y_true, y_pred.dtype).reshape(rows)
        code = K.BINARY if kind == "binary" else K.CATEGORICAL
    right = empty(rows[0], np.float32)  # exact counts up to 2**24 a batch
    _launch(K.correct_rows, rows[0], y_pred.reshape(rows), true, code, right)
    return int(to_numpy(sum(right)))


# ---------------------------------------------------------------- convolution
def conv2d_forward(x, w, sh, sw, pt, pl, dh, dw, oh, ow):
    """x (N,H,W,C), w (KH,KW,C,F) -> (y (N,OH,OW,F), cols); no bias (see bias_act).

    im2col (one thread per column element), then the tiled shared-memory
    matmul; cols is kept for the weight gradient, as on the CPU.
    """
    n = x.shape[0]
    kh, kw, c, f = w.shape
    cols = empty((n * oh * ow, kh * kw * c), x.dtype)
    _launch(K.im2col, cols.size, x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
    return _matmul(cols, w.reshape(kh * kw * c, f)).reshape(n, oh, ow, f), cols


def conv2d_backward_input(gy, w, x_shape, sh, sw, pt, pl, dh, dw):
    """gcols = gy @ w.T (tiled matmul, transpose read in place), then col2im as a gather."""
    n, oh, ow, f = gy.shape
    kh, kw, c, _ = w.shape
    gcols = _matmul(gy.reshape(n * oh * ow, f), w.reshape(kh * kw * c, f), tb=True)
    gx = empty(x_shape, gy.dtype)
    _launch(K.col2im, gx.size, gcols, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, gx)
    return gx


def conv2d_backward_weight(gy, cols, w_shape):
    """cols.T @ gy: the tiled matmul with split-K (per-block partial sums, no atomics)."""
    f = tuple(gy.shape)[-1]
    return _matmul(cols, gy.reshape(gy.size // f, f), ta=True).reshape(tuple(w_shape))


def bias_act(y, b, relu: bool):
    """In place: y += b (None: no bias), then ReLU if `relu`; one pass. Returns y."""
    f = tuple(y.shape)[-1]
    b = zeros(f, y.dtype) if b is None else b
    _launch(K.bias_act, y.size, y.reshape(y.size // f, f), b, bool(relu))
    return y


def bias_act_backward(y, gy, need_bias: bool):
    """ReLU's backward from its output y, and the bias gradient if asked:
    (gy * (y > 0), its sum over all but the last axis or None)."""
    g = relu_backward(y, gy)
    return g, (bias_grad(g) if need_bias else None)


def bias_grad(gy):
    """Sum of gy over every axis but the last (the bias gradient): the block reduction."""
    f = tuple(gy.shape)[-1]
    return sum(gy.reshape(gy.size // f, f), axis=0)


# ------------------------------------------------------------------- max pool
def maxpool2d_forward(x, ph, pw, sh, sw, pt, pl, oh, ow):
    n, h, w, c = x.shape
    y = empty((n, oh, ow, c), x.dtype)
    arg = empty((n, oh, ow, c), np.int32)
    _launch(K.maxpool_forward, y.size, x, ph, pw, sh, sw, pt, pl, y, arg)
    return y, arg


def maxpool2d_backward(gy, arg, x_shape):
    gx = zeros(x_shape, gy.dtype)
    _launch(K.maxpool_backward, gy.size, gy, arg, gx)
    return gx


# ------------------------------------------ convolution + act + max pool, fused
# The three GPU steps in a row (im2col + tiled matmul, epilogue, pool), as on
# the CPU; the backward scatters the pooled gradient once and runs both GEMMs.
def conv2d_maxpool_forward(x, w, b, relu, geom, pgeom):
    """maxpool(act(conv2d(x, w) + b)) -> (y, arg, cols); arg indexes the conv output grid."""
    z, cols = conv2d_forward(x, w, *geom)
    y, arg = maxpool2d_forward(z, *pgeom)
    if b is not None or relu:  # max(relu(z + b)) = relu(max(z) + b): on the pooled output
        bias_act(y, b, relu)
    return y, arg, cols


def conv2d_maxpool_backward(g, arg, x, cols, w, need_x, need_w, geom, pgeom):
    """(gx, gw) from g, the pooled gradient already past the activation's mask."""
    sh, sw, pt, pl, dh, dw, oh, ow = geom
    gz = maxpool2d_backward(g, arg, (x.shape[0], oh, ow, tuple(w.shape)[-1]))
    gw = conv2d_backward_weight(gz, cols, w.shape) if need_w else None
    gx = conv2d_backward_input(gz, w, x.shape, sh, sw, pt, pl, dh, dw) if need_x else None
    return gx, gw


# ---------------------------------------------------------------- activations
def relu_forward(x): return _unary(K.RELU, x)
def sigmoid_forward(x): return _unary(K.SIGMOID, x)
def tanh_forward(x): return _unary(K.TANH, x)


def _activation_grad(op, y, gy):
    gx = empty(y.shape, y.dtype)
    _launch(K.activation_grad, y.size, _flat(y), _flat(gy), _flat(gx), op)
    return gx


def relu_backward(y, gy): return _activation_grad(K.RELU, y, gy)
def sigmoid_backward(y, gy): return _activation_grad(K.SIGMOID, y, gy)
def tanh_backward(y, gy): return _activation_grad(K.TANH, y, gy)


def _rows(kernel_name):
    """Run a (rows, K) row kernel on arrays of any rank (softmax over the last axis)."""
    def run(*arrays):
        k = tuple(arrays[0].shape)[-1]
        out = empty(arrays[0].shape, arrays[0].dtype)
        views = [a.reshape(a.size // k, k) for a in arrays + (out,)] if k else []
        if k:
            _launch(getattr(K, kernel_name), views[0].shape[0], *views)
        return out
    run.__name__ = kernel_name
    return run


softmax_forward, softmax_backward = _rows("softmax_forward"), _rows("softmax_backward")
log_softmax_forward = _rows("log_softmax_forward")
log_softmax_backward = _rows("log_softmax_backward")


def softmax_cross_entropy_forward(logits, target):
    """(N,K) logits and (N,K) target distribution -> (per-row loss (N,), probs)."""
    probs = empty(logits.shape, logits.dtype)
    loss = empty(logits.shape[0], logits.dtype)
    _launch(K.softmax_cross_entropy_forward, logits.shape[0], logits, target, probs, loss)
    return loss, probs


def softmax_cross_entropy_backward(probs, target, gloss):
    g = empty(probs.shape, probs.dtype)
    _launch(K.softmax_cross_entropy_backward, probs.shape[0], probs, target, gloss, g)
    return g


def dropout(x, rate, seed):
    """Forward and backward alike: x * mask(seed) / (1 - rate), the CPU's mask bit for bit."""
    y = empty(x.shape, x.dtype)
    rate = np.float64(rate)  # float64 scalars, as the CPU kernel computes in
    with warnings.catch_warnings():
        # the simulator runs the hash on NumPy uint64 scalars, which warn on the
        # intended wrap-around; a GPU (and the CPU kernel) wrap silently
        warnings.simplefilter("ignore", RuntimeWarning)
        _launch(K.dropout_apply, x.size, _flat(x), rate, np.float64(1.0) / (1.0 - rate),
                np.uint64(int(seed)), _flat(y))
    return y


# ----------------------------------------------------------------- optimizers
def adam_update(p, g, m, v, lr_t, beta_1, beta_2, epsilon):
    f = np.float64
    _launch(K.adam_update, p.size, _flat(p), _flat(g), _flat(m), _flat(v),
            f(lr_t), f(beta_1), f(beta_2), f(epsilon))


def sgd_update(p, g, velocity, lr, momentum, nesterov):
    _launch(K.sgd_update, p.size, _flat(p), _flat(g), _flat(velocity),
            np.float64(lr), np.float64(momentum), bool(nesterov))



# ================================================================================
# Merge layers (issue 12): elementwise maximum/minimum and concatenate/split, the
# CPU backend's block of the same name. concatenate/split move the axis to the
# front (a gather), copy contiguous runs device to device, and move it back.
# ================================================================================
def _extremum(a, b, take_max: bool):
    a, b = _operands(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = empty(shape, a.dtype)
    _launch(K.extremum, out.size, _flat(a), _flat(b), _flat(out), bool(take_max),
            _pad(shape, [0] * len(shape))[0],
            _broadcast_strides(a, shape), _broadcast_strides(b, shape))
    return out


def maximum(a, b):
    return _extremum(a, b, True)


def minimum(a, b):
    return _extremum(a, b, False)


def extremum_backward(a, b, g, take_max: bool) -> tuple:
    a, b = _operands(a, b)
    g = asarray(g)
    shape = tuple(g.shape)
    ga, gb = empty(shape, g.dtype), empty(shape, g.dtype)
    _launch(K.extremum_backward, g.size, _flat(a), _flat(b), _flat(g), _flat(ga), _flat(gb),
            bool(take_max), _pad(shape, [0] * len(shape))[0],
            _broadcast_strides(a, shape), _broadcast_strides(b, shape))
    return ga, gb


def _axis_first(a, axis: int):
    perm = (axis,) + tuple(d for d in range(a.ndim) if d != axis)
    return transpose(a, perm), perm


def concatenate(arrays, axis: int):
    arrays = [asarray(a) for a in arrays]
    axis %= arrays[0].ndim
    parts = [_axis_first(a, axis)[0] for a in arrays]
    perm = _axis_first(arrays[0], axis)[1]
    out = empty((builtins.sum(p.shape[0] for p in parts),) + tuple(parts[0].shape[1:]),
                arrays[0].dtype)
    flat, offset = _flat(out), 0
    for p in parts:
        if p.size:
            flat[offset:offset + p.size].copy_to_device(_flat(p))
        offset += p.size
    return transpose(out, tuple(int(i) for i in np.argsort(perm)))


def split(a, sizes, axis: int) -> tuple:
    a = asarray(a)
    axis %= a.ndim
    front, perm = _axis_first(a, axis)
    inverse = tuple(int(i) for i in np.argsort(perm))
    pieces, start = [], 0
    for n in sizes:
        pieces.append(transpose(front[start:start + n], inverse))
        start += n
    return tuple(pieces)
