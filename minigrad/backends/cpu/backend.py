"""CPU backend: NumPy arrays, Numba kernels (kernels.py) for the hot loops.

Implements backends/contract.py. Every entry point makes its inputs
C-contiguous first (`_c`, free for the usual contiguous array) and, where it
updates an argument in place, writes the result back into a strided one.
"""
from __future__ import annotations

import threading

import numpy as np

from ..contract import NO_PREP, Backend
from . import blas as BLAS
from . import compile_ahead
from . import kernels as K
from .buffers import BufferPool
from ..optimizer_ops import OptimizerOps
from .layer_ops import LayerOps

_KERNEL_LOCK = threading.Lock()


def _launch(kernel, *args) -> None:
    """Run a Numba kernel; the one place the CPU backend calls one.

    One kernel at a time across Python threads: Numba's workqueue thread pool,
    chosen for speed beside OpenBLAS (README, "CPU threads"), aborts the process
    when two threads launch parallel kernels at once, and each kernel already
    uses every core, so serialising costs a concurrent caller little. Small inputs,
    and most kernels with two Numba threads or fewer, run on this thread
    (`kernel.serial`; kernels.py's SERIAL_BELOW and MIN_THREADS say why, for one
    thread pool and for two).
    """
    size = max((a.size for a in args if isinstance(a, np.ndarray)), default=0)
    one_pool = BLAS.in_use()
    parallel = K.runs_parallel(kernel, size, one_pool)
    if compile_ahead.recording():   # Model.warmup's dry run: note the build, run nothing
        compile_ahead.note(kernel, parallel, K.runs_parallel(kernel, 1 << 62, one_pool), args)
        return
    with _KERNEL_LOCK:
        if parallel and compile_ahead.waiting_for(kernel):   # a cold start: see there
            parallel = False
        (kernel if parallel else kernel.serial)(*args)


def _c(a: np.ndarray) -> np.ndarray:
    """a as a C-contiguous array: a itself when it already is one."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _write_back(targets, results) -> None:
    """Copy in-place results computed on contiguous copies back into strided targets."""
    for target, result in zip(targets, results):
        if target is not result:
            target[...] = result


class CPUBackend(LayerOps, OptimizerOps, Backend):
    name = "cpu"
    _launch = staticmethod(_launch)  # for LayerOps (layer_ops.py)
    _c = staticmethod(_c)
    _write_back = staticmethod(_write_back)

    def __init__(self):
        self.buffers = BufferPool()
        self._empty = self.buffers.empty

    # --------------------------------------------------------------- arrays
    def is_device_array(self, a) -> bool:
        return False

    def asarray(self, a, dtype=None):
        return np.asarray(a, dtype=dtype, order="C")  # keeps 0-d arrays 0-d

    def to_numpy(self, a):
        return np.asarray(a)

    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def constant(self, value, dtype):
        return np.asarray(value, dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def copy(self, a, dtype=None):
        return np.array(a, dtype=dtype, order="C", copy=True)

    def full(self, shape, value, dtype):
        return np.full(shape, value, dtype)

    def broadcast_copy(self, a, shape):
        # not zeros + a: np.zeros of a large shape is fresh calloc'd pages, faulted in on
        # every call (GlobalAveragePooling2D's backward on 128x8x8x128: 2.0 -> 0.1 ms)
        out = self._empty(tuple(shape), a.dtype)
        np.copyto(out, a)
        return out

    # ------------------------------------------ generic math (NumPy's ufuncs)
    # NumPy's ufuncs are vectorised C loops over any strides already; a Numba
    # twin would add compile time and nothing else.
    def add(self, a, b):
        return np.add(a, b)

    def subtract(self, a, b):
        return np.subtract(a, b)

    def multiply(self, a, b):
        return np.multiply(a, b)

    def divide(self, a, b):
        return np.divide(a, b)

    def negative(self, a):
        return np.negative(a)

    def exp(self, a):
        return np.exp(a)

    def log(self, a):
        return np.log(a)

    def sqrt(self, a):
        return np.sqrt(a)

    def power(self, a, exponent):
        return np.power(a, exponent)

    def clip(self, a, low, high):
        return np.clip(a, a.dtype.type(low), a.dtype.type(high))

    def clip_mask(self, a, low, high):
        return ((a >= low) & (a <= high)).astype(a.dtype)

    def matmul(self, a, b):
        # OpenBLAS's sgemm, packed and register-blocked, which a Numba loop does not
        # match, on Numba's threads by row blocks (blas.py). The product goes into a
        # pooled buffer: a fresh one is page-faulted in every step (Dense's backward:
        # 0.55 ms instead of 0.1 for its (128, 1600) input gradient).
        if np.ndim(a) != 2 or np.ndim(b) != 2:
            return BLAS.product(_launch, a, b)
        return BLAS.product(_launch, a, b,
                            self._empty((a.shape[0], b.shape[1]), np.result_type(a, b)))

    def matmul_tn(self, a, b):
        # OpenBLAS reads a transposed: no copy of it (Dense's weight gradient: 0.26 ms a
        # MNIST step as a copy and a product by row blocks, 0.08 ms read transposed)
        if np.ndim(a) != 2 or np.ndim(b) != 2 or a.shape[0] != b.shape[0]:
            return super().matmul_tn(a, b)   # its errors
        return BLAS.product_tn(_launch, a, b)

    def batched_matmul(self, a, b):
        if np.ndim(a) != 3 or np.ndim(b) != 3 or a.shape[0] != b.shape[0] or \
                a.shape[2] != b.shape[1]:
            raise ValueError(f"batched_matmul: expected (B, M, K) @ (B, K, N), got "
                             f"{np.shape(a)} @ {np.shape(b)}")
        return BLAS.product(_launch, a, b)

    def sum(self, a, axis=None, keepdims=False):
        return np.sum(a, axis=axis, keepdims=keepdims)

    def reshape(self, a, shape):
        return np.reshape(a, shape)

    def transpose(self, a, axes=None):
        view = np.transpose(a, axes)
        out = self._empty(view.shape, view.dtype)  # pooled, as matmul's product
        out[...] = view
        return out

    def compare(self, a, b, op):
        return getattr(np, op)(a, b)

    def where(self, cond, a, b):
        return np.where(np.asarray(cond, bool), a, b)

    def argmax(self, a, axis):
        rows = _c(np.moveaxis(np.asarray(a), axis, -1))
        out = self._empty(rows.shape[:-1], np.int64)
        if out.size and rows.shape[-1]:
            _launch(K.argmax_rows, rows.reshape(-1, rows.shape[-1]), out.reshape(-1))
        return out

    def maximum(self, a, b):
        return np.maximum(a, b)

    def minimum(self, a, b):
        return np.minimum(a, b)

    def extremum_backward(self, a, b, g, take_max):
        wins = np.broadcast_to(a >= b if take_max else a <= b, g.shape)
        zero = g.dtype.type(0)
        return np.where(wins, g, zero), np.where(wins, zero, g)

    def concatenate(self, arrays, axis):
        return np.concatenate([np.asarray(a) for a in arrays], axis=axis)

    def split(self, a, sizes, axis):
        edges = np.cumsum(sizes)[:-1]
        return tuple(np.ascontiguousarray(p) for p in np.split(a, edges, axis=axis))

    # ------------------------------------------------------ data and metrics
    def one_hot(self, labels, k, dtype):
        labels = np.asarray(labels)
        out = np.zeros((labels.shape[0], k), dtype)
        out[np.arange(labels.shape[0]), labels] = 1
        return out

    def take(self, a, idx):
        return a[idx]

    def count_correct(self, y_true, y_pred, kind):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if kind == "binary":
            right = (y_pred > 0.5) == (y_true.reshape(y_pred.shape) > 0.5)
        elif kind == "categorical":
            right = y_pred.argmax(-1) == y_true.argmax(-1)
        else:
            right = y_pred.argmax(-1) == y_true.reshape(-1)
        return int(right.sum())

    # ---------------------------------------------------------- activations
    def map_forward(self, op, x, a=0.0, b=0.0):
        x = _c(x)
        y = self._empty(x.shape, x.dtype)
        t = x.dtype.type  # the parameters in x's type, as on the GPU
        _launch(K.FORWARD[op], x.reshape(-1), t(a), t(b), y.reshape(-1))
        return y

    def map_backward(self, op, saved, gy, a=0.0, b=0.0):
        saved, gy = _c(saved), _c(gy)
        gx = self._empty(gy.shape, gy.dtype)
        t = gy.dtype.type
        _launch(K.BACKWARD[op], saved.reshape(-1), gy.reshape(-1), t(a), t(b), gx.reshape(-1))
        return gx

    def _rows(self, kernel, *arrays):
        """A (rows, K) row kernel on arrays of any rank: over the last axis."""
        arrays = [_c(a) for a in arrays]
        out = self._empty(arrays[0].shape, arrays[0].dtype)
        k = arrays[0].shape[-1]
        if out.size:
            _launch(kernel, *[a.reshape(-1, k) for a in arrays], out.reshape(-1, k))
        return out

    def softmax_forward(self, x):
        return self._rows(K.softmax_forward, x)

    def softmax_backward(self, y, gy):
        return self._rows(K.softmax_backward, y, gy)

    def log_softmax_forward(self, x):
        return self._rows(K.log_softmax_forward, x)

    def log_softmax_backward(self, y, gy):
        return self._rows(K.log_softmax_backward, y, gy)

    def sparsemax_forward(self, x):
        return self._rows(K.sparsemax_forward, x)

    def sparsemax_backward(self, y, gy):
        return self._rows(K.sparsemax_backward, y, gy)

    def softmax_cross_entropy_forward(self, logits, target):
        logits, target = _c(logits), _c(target)
        probs = self._empty(logits.shape, logits.dtype)
        loss = np.empty(logits.shape[0], logits.dtype)
        _launch(K.softmax_cross_entropy_forward, logits, target, probs, loss)
        return loss, probs

    def softmax_cross_entropy_backward(self, probs, target, gloss):
        probs, target, gloss = _c(probs), _c(target), _c(gloss)
        g = self._empty(probs.shape, probs.dtype)
        _launch(K.softmax_cross_entropy_backward, probs, target, gloss, g)
        return g

    # ------------------------------------------------------ dropout, updates
    def dropout(self, x, rate, seed, offset=0):
        x = _c(x)
        y = self._empty(x.shape, x.dtype)
        rate = float(rate)
        _launch(K.dropout_apply, x.reshape(-1), rate, 1.0 / (1.0 - rate), np.uint64(seed),
                np.int64(offset), y.reshape(-1))
        return y

    def _update(self, name, p, g, slots, scalars, prep, written=None) -> None:
        """The optimizer kernel `name` (optimizer_ops.py) on flat contiguous copies, results written back into p
        and the slots in `written` (default: all)."""
        work = [_c(a) for a in (p, *slots)]
        prep = NO_PREP if prep is None else prep
        scalars = [s if isinstance(s, bool) else float(s) for s in scalars]
        _launch(getattr(K, name), *[a.reshape(-1) for a in (work[0], _c(g), *work[1:])], *scalars,
                float(prep.scale), float(prep.clip), float(prep.decay))
        keep = range(len(work)) if written is None else (0, *written)
        _write_back([(p, *slots)[i] for i in keep], [work[i] for i in keep])
