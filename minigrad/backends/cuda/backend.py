"""CUDA backend: numba-cuda device arrays, the kernels of kernels.py, linalg.py and
optimizer_kernels.py.

Implements backends/contract.py. Importing this module needs neither numba-cuda
nor a GPU (the contract test reads it anywhere); `bind()`, called by
cuda.load(), hands it numba's cuda module and the compiled kernels. Data stays
on the device between calls; only `to_numpy` copies to the host. Every entry
point makes its array arguments contiguous device arrays first (`asarray`);
in-place updates of a strided argument are written back into it.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..contract import NO_PREP, Backend
from ..optimizer_ops import OptimizerOps
from .layer_ops import LayerOps
from .launch import (MAX_GRID_YZ, broadcast_strides, element_strides, grid_1d, matmul_grid,
                     padded)

cuda = K = L = O = None  # numba's cuda module, kernels.py, linalg.py and
                         # optimizer_kernels.py, set by bind()
TPB = 256            # threads per block of the 1-D kernels


def bind(cuda_module, kernels, linalg, optimizer_kernels) -> None:
    global cuda, K, L, O
    cuda, K, L, O = cuda_module, kernels, linalg, optimizer_kernels


def _launch(kernel, n: int, *args) -> None:
    """Run a 1-D kernel over n threads (nothing to do for n == 0)."""
    if n > 0:
        blocks, threads = grid_1d(n, TPB)
        kernel[blocks, threads](*args)


def _flat(a):
    return a.reshape(a.size)


class CUDABackend(LayerOps, OptimizerOps, Backend):
    name = "cuda"
    _launch = staticmethod(_launch)  # for LayerOps (layer_ops.py)

    @property
    def cuda(self):
        """numba's cuda module (for synchronize() and the like)."""
        return cuda

    # --------------------------------------------------------------- arrays
    def is_device_array(self, a) -> bool:
        """A numba device array (real or simulated) or any __cuda_array_interface__ object."""
        return hasattr(a, "copy_to_host") or hasattr(a, "__cuda_array_interface__")

    def asarray(self, a, dtype=None):
        if self.is_device_array(a):
            if not hasattr(a, "copy_to_host"):
                a = cuda.as_cuda_array(a)
            same_type = dtype is None or np.dtype(dtype) == a.dtype
            if a.is_c_contiguous():
                return a if same_type else self._gather(_flat(a), a.shape, element_strides(a),
                                                        dtype)
            # a strided view (a slice): numba-cuda's own strided copy, then any cast
            out = self.empty(a.shape, a.dtype)
            out[:] = a
            return out if same_type else self.asarray(out, dtype)
        # order="C", not np.ascontiguousarray, which turns 0-d scalars into shape (1,)
        return cuda.to_device(np.asarray(a, dtype=dtype, order="C"))

    def to_numpy(self, a):
        return a.copy_to_host() if self.is_device_array(a) else np.asarray(a)

    def empty(self, shape, dtype):
        return cuda.device_array(tuple(shape) if np.iterable(shape) else (shape,),
                                 np.dtype(dtype))

    _constants: dict = {}

    def constant(self, value, dtype):
        """Uploaded once per value and then shared: the scalars of Tensor arithmetic
        (the 1/N of every mean) would otherwise cost a host-to-device copy, which
        waits for the GPU, per op."""
        a = np.asarray(value, dtype)
        key = (a.dtype.str, a.tobytes())
        if key not in self._constants:
            if len(self._constants) >= 1024:  # many distinct values: start again
                self._constants.clear()
            self._constants[key] = cuda.to_device(a)
        return self._constants[key]

    def zeros(self, shape, dtype):
        return self.full(shape, 0, dtype)

    def copy(self, a, dtype=None):
        a = self.asarray(a)
        return self._gather(_flat(a), a.shape, element_strides(a), dtype or a.dtype)

    def full(self, shape, value, dtype):
        out = self.empty(shape, dtype)
        _launch(K.fill, out.size, _flat(out), out.dtype.type(value))
        return out

    def _gather(self, a, out_shape, strides, dtype):
        """A new contiguous array: out[idx] = a[sum(idx * strides)] (transpose/broadcast/cast)."""
        out = self.empty(out_shape, dtype)
        shape, st = padded(out_shape, strides)
        _launch(K.strided_copy, out.size, a, _flat(out), shape, st)
        return out

    def _write_back(self, targets, results) -> None:
        for target, result in zip(targets, results):
            if target is not result:
                target[:] = result

    # ------------------------------------------ generic math (autograd core)
    def _operands(self, a, b):
        """Both as device arrays of the NumPy result dtype (scalars take the array's)."""
        def is_arr(x):
            return self.is_device_array(x) or (isinstance(x, np.ndarray) and x.ndim > 0)
        arrays = [x.dtype for x in (a, b) if is_arr(x)]
        dtype = np.result_type(*arrays) if arrays else np.result_type(a, b)
        return self.asarray(a, dtype), self.asarray(b, dtype)

    def _binary(self, op, a, b):
        a, b = self._operands(a, b)
        shape = np.broadcast_shapes(a.shape, b.shape)
        out = self.empty(shape, a.dtype)
        _launch(K.binary, out.size, _flat(a), _flat(b), _flat(out), op,
                padded(shape, [0] * len(shape))[0],
                broadcast_strides(a, shape), broadcast_strides(b, shape))
        return out

    def add(self, a, b):
        return self._binary(K.ADD, a, b)

    def subtract(self, a, b):
        return self._binary(K.SUB, a, b)

    def multiply(self, a, b):
        return self._binary(K.MUL, a, b)

    def divide(self, a, b):
        return self._binary(K.DIV, a, b)

    def compare(self, a, b, op):
        from .. import bodies
        a, b = self._operands(a, b)
        shape = np.broadcast_shapes(a.shape, b.shape)
        out = self.empty(shape, np.bool_)
        _launch(K.compare, out.size, _flat(a), _flat(b), _flat(out),
                bodies.COMPARISONS.index(op), padded(shape, [0] * len(shape))[0],
                broadcast_strides(a, shape), broadcast_strides(b, shape))
        return out

    def where(self, cond, a, b):
        a, b = self._operands(a, b)
        cond = self.asarray(cond, np.bool_)
        shape = np.broadcast_shapes(cond.shape, a.shape, b.shape)
        out = self.empty(shape, a.dtype)
        _launch(K.select, out.size, _flat(cond), _flat(a), _flat(b), _flat(out),
                padded(shape, [0] * len(shape))[0], broadcast_strides(cond, shape),
                broadcast_strides(a, shape), broadcast_strides(b, shape))
        return out

    def argmax(self, a, axis):
        a = self.asarray(a)
        axis = axis % a.ndim
        rows = self.transpose(a, [d for d in range(a.ndim) if d != axis] + [axis])
        shape = tuple(rows.shape)
        out = self.empty(shape[:-1], np.int64)
        if out.size and shape[-1]:
            _launch(K.argmax_rows, out.size, rows.reshape(out.size, shape[-1]), _flat(out))
        return out

    def maximum(self, a, b):
        return self._binary(K.MAX, a, b)

    def minimum(self, a, b):
        return self._binary(K.MIN, a, b)

    def extremum_backward(self, a, b, g, take_max):
        a, b = self._operands(a, b)
        g = self.asarray(g)
        shape = tuple(g.shape)
        ga, gb = self.empty(shape, g.dtype), self.empty(shape, g.dtype)
        _launch(K.extremum_backward, g.size, _flat(a), _flat(b), _flat(g), _flat(ga),
                _flat(gb), bool(take_max), padded(shape, [0] * len(shape))[0],
                broadcast_strides(a, shape), broadcast_strides(b, shape))
        return ga, gb

    def _axis_first(self, a, axis: int):
        perm = (axis,) + tuple(d for d in range(a.ndim) if d != axis)
        return self.transpose(a, perm), perm

    def concatenate(self, arrays, axis):
        """Each array with the axis moved to the front (a gather), copied device to
        device as one contiguous run, and the axis moved back."""
        arrays = [self.asarray(a) for a in arrays]
        axis %= arrays[0].ndim
        parts = [self._axis_first(a, axis)[0] for a in arrays]
        perm = self._axis_first(arrays[0], axis)[1]
        out = self.empty((sum(p.shape[0] for p in parts),) + tuple(parts[0].shape[1:]),
                         arrays[0].dtype)
        flat, offset = _flat(out), 0
        for p in parts:
            if p.size:
                flat[offset:offset + p.size].copy_to_device(_flat(p))
            offset += p.size
        return self.transpose(out, tuple(int(i) for i in np.argsort(perm)))

    def split(self, a, sizes, axis):
        a = self.asarray(a)
        axis %= a.ndim
        front, perm = self._axis_first(a, axis)
        inverse = tuple(int(i) for i in np.argsort(perm))
        pieces, start = [], 0
        for n in sizes:
            pieces.append(self.transpose(front[start:start + n], inverse))
            start += n
        return tuple(pieces)

    def _unary(self, op, x, p=0, q=0):
        x = self.asarray(x)
        out = self.empty(x.shape, x.dtype)
        cast = x.dtype.type  # p, q in the array's dtype, as NumPy 2 compares scalars
        _launch(K.unary, x.size, _flat(x), _flat(out), op, cast(p), cast(q))
        return out

    def negative(self, a):
        return self._unary(K.NEG, a)

    def exp(self, a):
        return self._unary(K.EXP, a)

    def log(self, a):
        return self._unary(K.LOG, a)

    def sqrt(self, a):
        return self._unary(K.SQRT, a)

    def power(self, a, exponent):
        if self.is_device_array(exponent) or np.ndim(exponent) > 0:
            return self._binary(K.POW2, a, exponent)
        return self._unary(K.POW, a, exponent)

    def clip(self, a, low, high):
        return self._unary(K.CLIP, a, low, high)

    def clip_mask(self, a, low, high):
        return self._unary(K.CLIP_MASK, a, low, high)

    def matmul(self, a, b):
        """(M, K) @ (K, N) with the tiled shared-memory kernel."""
        a, b = self._operands(a, b)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: expected (M, K) @ (K, N), got {a.shape} @ {b.shape}")
        return self._matmul(a, b)

    def batched_matmul(self, a, b):
        a, b = self._operands(a, b)
        if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
            raise ValueError(f"batched_matmul: expected (B, M, K) @ (B, K, N), got {a.shape} "
                             f"@ {b.shape}")
        return self._matmul(a, b)

    def _matmul(self, a, b, ta=False, tb=False):
        """op(a) @ op(b), op = transpose where ta / tb, without materialising a transpose;
        a and b are matrices, or batches of them (3-D, one product per batch entry)."""
        batched = a.ndim == 3
        a3, b3 = (a, b) if batched else (a.reshape((1,) + a.shape), b.reshape((1,) + b.shape))
        batch = a3.shape[0]
        m, kdim = (a3.shape[2], a3.shape[1]) if ta else a3.shape[1:]
        n = b3.shape[1] if tb else b3.shape[2]
        grid, block, kchunk = matmul_grid(m, n, kdim, L.TILE)
        c = self.empty((grid[2], batch, m, n), a.dtype)
        if m and n:
            kernel = L.matmul_kernel(a.dtype)
            for p0 in range(0, batch, MAX_GRID_YZ):  # products on grid y, 65,535 a launch
                p1 = min(batch, p0 + MAX_GRID_YZ)
                kernel[(grid[0], p1 - p0, grid[2]), block](a3[p0:p1], b3[p0:p1], c[:, p0:p1],
                                                           ta, tb, kchunk)
        out = c.reshape((batch, m, n)) if grid[2] == 1 else self.sum(c, axis=0)
        return out if batched else out.reshape(m, n)

    def sum(self, a, axis=None, keepdims=False):
        a = self.asarray(a)
        nd = a.ndim
        axes = tuple(range(nd)) if axis is None else \
            tuple(sorted({ax % nd for ax in ((axis,) if np.isscalar(axis) else axis)}))
        kept = [d for d in range(nd) if d not in axes]
        st = element_strides(a)
        kshape, kst = padded([a.shape[d] for d in kept], [st[d] for d in kept])
        rshape, rst = padded([a.shape[d] for d in axes], [st[d] for d in axes])
        nout = int(np.prod(kshape))
        nred = int(np.prod(rshape))
        out = self.empty(nout, a.dtype)
        if nout:
            threads = min(L.RED, 1 << max(0, (nred - 1).bit_length()))  # a power of two
            L.reduce_sum[nout, threads](_flat(a), out, kshape, kst, rshape, rst, nred)
        shape = [1 if d in axes else a.shape[d] for d in range(nd)] if keepdims else \
            [a.shape[d] for d in kept]
        return out.reshape(tuple(shape))

    def reshape(self, a, shape):
        shape = tuple(int(s) for s in (shape if np.iterable(shape) else (shape,)))
        if shape.count(-1) == 1:
            known = int(np.prod([s for s in shape if s != -1]))
            if known and a.size % known == 0:
                shape = tuple(a.size // known if s == -1 else s for s in shape)
        if any(s < 0 for s in shape) or int(np.prod(shape)) != a.size:
            raise ValueError(f"cannot reshape array of shape {tuple(a.shape)} into shape {shape}")
        return self.asarray(a).reshape(shape)

    def transpose(self, a, axes=None):
        a = self.asarray(a)
        axes = tuple(range(a.ndim))[::-1] if axes is None else tuple(ax % a.ndim for ax in axes)
        st = element_strides(a)
        return self._gather(_flat(a), [a.shape[ax] for ax in axes], [st[ax] for ax in axes],
                            a.dtype)

    # ------------------------------------------------------ data and metrics
    def one_hot(self, labels, k, dtype):
        labels = self.asarray(labels, np.int64)
        out = self.zeros((labels.shape[0], k), dtype)
        _launch(K.one_hot, labels.shape[0], labels, out)
        return out

    def take(self, a, idx):
        a, idx = self.asarray(a), self.asarray(idx, np.int64)
        out = self.empty((idx.shape[0],) + tuple(a.shape[1:]), a.dtype)
        row = out.size // max(idx.shape[0], 1)
        _launch(K.take_rows, out.size, _flat(a), idx, row, _flat(out))
        return out

    def count_correct(self, y_true, y_pred, kind):
        """One flag per row on the device, summed there; only the count comes back."""
        y_pred = self.asarray(y_pred)
        k = tuple(y_pred.shape)[-1]
        rows = (y_pred.size, 1) if kind == "binary" else (y_pred.size // k, k)
        if kind == "sparse":  # class ids, read as they are (no one-hot copy)
            true, code = self.asarray(y_true, np.int64).reshape(rows[0], 1), K.SPARSE
        else:
            true = self.asarray(y_true, y_pred.dtype).reshape(rows)
            code = K.BINARY if kind == "binary" else K.CATEGORICAL
        right = self.empty(rows[0], np.float32)  # exact counts up to 2**24 a batch
        _launch(K.correct_rows, rows[0], y_pred.reshape(rows), true, code, right)
        return int(self.to_numpy(self.sum(right)))

    # ---------------------------------------------------------- activations
    def map_forward(self, op, x, a=0.0, b=0.0):
        x = self.asarray(x)
        y = self.empty(x.shape, x.dtype)
        t = x.dtype.type  # the parameters in x's type, as on the CPU
        _launch(K.FORWARD[op], x.size, _flat(x), t(a), t(b), _flat(y))
        return y

    def map_backward(self, op, saved, gy, a=0.0, b=0.0):
        saved, gy = self.asarray(saved), self.asarray(gy)
        gx = self.empty(gy.shape, gy.dtype)
        t = gy.dtype.type
        _launch(K.BACKWARD[op], gy.size, _flat(saved), _flat(gy), t(a), t(b), _flat(gx))
        return gx

    def _rows(self, kernel, *arrays):
        """A (rows, K) row kernel on arrays of any rank: over the last axis."""
        arrays = [self.asarray(a) for a in arrays]
        k = tuple(arrays[0].shape)[-1]
        out = self.empty(arrays[0].shape, arrays[0].dtype)
        if out.size:
            views = [a.reshape(a.size // k, k) for a in arrays + [out]]
            _launch(kernel, views[0].shape[0], *views)
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
        logits, target = self.asarray(logits), self.asarray(target)
        probs = self.empty(logits.shape, logits.dtype)
        loss = self.empty(logits.shape[0], logits.dtype)
        _launch(K.softmax_cross_entropy_forward, logits.shape[0], logits, target, probs, loss)
        return loss, probs

    def softmax_cross_entropy_backward(self, probs, target, gloss):
        probs, target, gloss = self.asarray(probs), self.asarray(target), self.asarray(gloss)
        g = self.empty(probs.shape, probs.dtype)
        _launch(K.softmax_cross_entropy_backward, probs.shape[0], probs, target, gloss, g)
        return g

    # ------------------------------------------------------ dropout, updates
    def dropout(self, x, rate, seed, offset=0):
        """The CPU's mask bit for bit (the same body, the same float64 scalars)."""
        x = self.asarray(x)
        y = self.empty(x.shape, x.dtype)
        rate = np.float64(rate)  # float64 scalars (the simulator would round in float32)
        with warnings.catch_warnings():
            # the simulator runs the hash on NumPy uint64 scalars, which warn on the
            # intended wrap-around; a GPU (and the CPU kernel) wrap silently
            warnings.simplefilter("ignore", RuntimeWarning)
            _launch(K.dropout_apply, x.size, _flat(x), rate, 1.0 / (1.0 - rate),
                    np.uint64(seed), np.int64(offset), _flat(y))
        return y

    def _update(self, name, p, g, slots, scalars, prep, written=None) -> None:
        """The optimizer kernel `name` (optimizer_ops.py) on contiguous device copies (float64 scalars: the
        simulator would round them to float32), results written back into p and
        the slots in `written` (default: all)."""
        work = [self.asarray(a) for a in (p, *slots)]
        prep = NO_PREP if prep is None else prep
        scalars = [s if isinstance(s, bool) else np.float64(s) for s in scalars]
        _launch(getattr(O, name), p.size, *[_flat(a) for a in (work[0], self.asarray(g), *work[1:])],
                *scalars, np.float64(prep.scale), np.float64(prep.clip),
                np.float64(prep.decay))
        keep = range(len(work)) if written is None else (0, *written)
        self._write_back([(p, *slots)[i] for i in keep], [work[i] for i in keep])
