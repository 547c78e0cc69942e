"""Keras 3's `keras.ops` array functions on Tensors (keras/src/ops/numpy.py's names,
arguments and results), differentiable where Keras's are: `mg.ops.mean`,
`mg.ops.where`, ... beside the layer ops (`mg.ops.conv2d`), as in `keras.ops`.

Comparisons, argmax/argmin and casts to integer or bool types give Tensors of
those dtypes (no gradient), as Keras's do; arithmetic and casts to float32 or
float64 take them back into float tensors.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..backends import get_backend
from ..tensor import Function, Tensor, as_tensor
from . import merging as _merging
from .activations import relu as _relu
from .merging import maximum, minimum  # noqa: F401 (keras.ops.maximum/minimum)


def _t(x, like: Tensor | None = None) -> Tensor:
    """x as a Tensor (on like's device, in like's dtype for Python numbers)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, numbers.Number):
        return Tensor(np.asarray(x, like.dtype), device=like.device)
    arr = np.asarray(x)
    if arr.dtype.kind in "biu":  # ids and masks keep their dtype (Keras: int32/bool)
        return Tensor._wrap(get_backend(like.device if like is not None else "cpu")
                            .asarray(arr), like.device if like is not None else "cpu")
    return as_tensor(x) if like is None else as_tensor(x, like.device)


def _float(dtype, default="float32") -> np.dtype:
    dt = np.dtype(dtype or default)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"expected a float32 or float64 dtype, got {dt}")
    return dt


# ---------------------------------------------------------------- creation
def convert_to_tensor(x, dtype=None) -> Tensor:
    return cast(_t(x), dtype) if dtype is not None else _t(x)


array = convert_to_tensor


def zeros(shape, dtype=None) -> Tensor:
    return Tensor(np.zeros(shape, _float(dtype)))


def ones(shape, dtype=None) -> Tensor:
    return Tensor(np.ones(shape, _float(dtype)))


def full(shape, fill_value, dtype=None) -> Tensor:
    return Tensor(np.full(shape, fill_value, _float(dtype)))


def zeros_like(x, dtype=None) -> Tensor:
    x = _t(x)
    return Tensor(np.zeros(x.shape, _float(dtype, x.dtype)), device=x.device)


def ones_like(x, dtype=None) -> Tensor:
    x = _t(x)
    return Tensor(np.ones(x.shape, _float(dtype, x.dtype)), device=x.device)


def eye(N: int, M: int | None = None, k: int = 0, dtype=None) -> Tensor:
    return Tensor(np.eye(N, M, k, dtype=_float(dtype)))


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    return Tensor(np.arange(start, stop, step).astype(_float(dtype)))


def shape(x) -> tuple:
    return tuple(_t(x).shape)


# ------------------------------------------------------------- arithmetic
def _operand(x):
    """x as Tensor ops take it: a Tensor as it is, numbers and arrays as given (the
    Tensor on the other side converts them to its dtype and device)."""
    return x if isinstance(x, (Tensor, numbers.Number)) else _t(x)


def add(x1, x2) -> Tensor: return _operand(x1) + _operand(x2)
def subtract(x1, x2) -> Tensor: return _operand(x1) - _operand(x2)
def multiply(x1, x2) -> Tensor: return _operand(x1) * _operand(x2)
def divide(x1, x2) -> Tensor: return _operand(x1) / _operand(x2)
def negative(x) -> Tensor: return -_t(x)
def power(x1, x2) -> Tensor: return _t(x1) ** x2
def sqrt(x) -> Tensor: return _t(x) ** 0.5
def exp(x) -> Tensor: return _t(x).exp()
def log(x) -> Tensor: return _t(x).log()
def matmul(x1, x2) -> Tensor: return _matmul(_t(x1), _t(x2))


dot = matmul


def square(x) -> Tensor:
    x = _t(x)
    return x * x


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """(M, K) @ (K, N); leading axes of a (..., K) @ (K, N) are folded into M."""
    if a.ndim > 2 and b.ndim == 2:
        return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[-1],))
    return a @ b


def absolute(x) -> Tensor:
    """|x|, the gradient sign(x) (0 at 0, as PyTorch's)."""
    x = _t(x)
    return _relu(x) + _relu(-x)


abs = absolute  # noqa: A001 - keras.ops.abs


def clip(x, x_min, x_max) -> Tensor:
    return _t(x).clip(x_min, x_max)


def sign(x) -> Tensor:
    x = _t(x)
    return cast(greater(x, 0), x.dtype) - cast(less(x, 0), x.dtype)


# -------------------------------------------------------------- reductions
def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _t(x).sum(axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    return _t(x).mean(axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims: bool = False) -> Tensor:
    x = _t(x)
    d = x - x.mean(axis=axis, keepdims=True)
    return (d * d).mean(axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims: bool = False) -> Tensor:
    return var(x, axis, keepdims) ** 0.5


def argmax(x, axis=None, keepdims: bool = False) -> Tensor:
    """The index of the first maximum (int64; a NaN counts as the maximum)."""
    return _arg(_t(x), axis, keepdims, negate=False)


def argmin(x, axis=None, keepdims: bool = False) -> Tensor:
    return _arg(_t(x), axis, keepdims, negate=True)


def _arg(x: Tensor, axis, keepdims: bool, negate: bool) -> Tensor:
    backend = get_backend(x.device)
    data = backend.negative(x.data) if negate else x.data
    if axis is None:
        out = backend.argmax(backend.reshape(data, (-1,)), 0)
        return Tensor._wrap(backend.reshape(out, (1,) * x.ndim) if keepdims else out, x.device)
    out = backend.argmax(data, axis)
    if keepdims:
        out = backend.reshape(out, tuple(1 if d == axis % x.ndim else s
                                         for d, s in enumerate(x.shape)))
    return Tensor._wrap(out, x.device)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """The maximum along axis; its gradient goes to the first maximum."""
    return _extreme(_t(x), axis, keepdims, argmax)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _extreme(_t(x), axis, keepdims, argmin)


def _extreme(x: Tensor, axis, keepdims: bool, arg) -> Tensor:
    if axis is None:
        return _extreme(x.reshape(-1), 0, False, arg).reshape((1,) * x.ndim if keepdims else ())
    axis = axis % x.ndim
    picked = equal(expand_dims(arg(x, axis), axis), arange(x.shape[axis], dtype="float64")
                   .reshape(tuple(-1 if d == axis else 1 for d in range(x.ndim))))
    return where(picked, x, zeros_like(x)).sum(axis=axis, keepdims=keepdims)


# ------------------------------------------------------------------ shapes
def reshape(x, newshape) -> Tensor:
    return _t(x).reshape(newshape)


def transpose(x, axes=None) -> Tensor:
    return _t(x).transpose(axes) if axes is not None else _t(x).transpose()


def expand_dims(x, axis) -> Tensor:
    x = _t(x)
    axis = axis % (x.ndim + 1)
    return x.reshape(x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None) -> Tensor:
    x = _t(x)
    if axis is None:
        return x.reshape(tuple(s for s in x.shape if s != 1))
    axes = {a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
    bad = [a for a in axes if x.shape[a] != 1]
    if bad:
        raise ValueError(f"squeeze: axis {bad[0]} has size {x.shape[bad[0]]}, not 1, in "
                         f"shape {x.shape}")
    return x.reshape(tuple(s for d, s in enumerate(x.shape) if d not in axes))


def concatenate(xs, axis: int = 0) -> Tensor:
    """keras.ops.concatenate: axis 0 by default (the Concatenate layer's is -1)."""
    return _merging.concatenate([_t(x) for x in xs], axis=axis)


def stack(xs, axis: int = 0) -> Tensor:
    xs = [_t(x) for x in xs]
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis % (xs[0].ndim + 1))


# ------------------------------------------------------------------- casts
class CastFn(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.in_dtype = a.dtype
        return ctx.backend.asarray(a, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.asarray(g, dtype=ctx.in_dtype), None


def cast(x, dtype) -> Tensor:
    """x in `dtype`: float32/float64 keep the gradient; integer and bool types do not."""
    x = _t(x)
    dt = np.dtype(dtype)
    if dt == x.dtype:
        return x
    if dt in (np.float32, np.float64) and x.dtype.kind == "f":
        return CastFn.apply(x, dt)
    return Tensor._wrap(get_backend(x.device).asarray(x.data, dtype=dt), x.device)


def one_hot(x, num_classes: int, axis: int = -1, dtype=None) -> Tensor:
    """Class ids -> one-hot vectors of float `dtype` (float32) along `axis`."""
    x = _t(x)
    backend = get_backend(x.device)
    labels = backend.asarray(x.data, np.int64)
    flat = backend.one_hot(backend.reshape(labels, (-1,)), int(num_classes), _float(dtype))
    out = Tensor._wrap(backend.reshape(flat, tuple(x.shape) + (int(num_classes),)), x.device)
    return out if axis in (-1, x.ndim) else _move_last(out, axis)


def _move_last(x: Tensor, axis: int) -> Tensor:
    axis = axis % x.ndim
    perm = list(range(x.ndim - 1))
    perm.insert(axis, x.ndim - 1)
    return x.transpose(perm)


# ---------------------------------------------------------- select, compare
class WhereFn(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond, ctx.shapes = cond, (a.shape, b.shape)
        return ctx.backend.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        B, (sa, sb) = ctx.backend, ctx.shapes
        zero = B.constant(0, g.dtype)
        ga = B.sum_to_shape(B.where(ctx.cond, g, zero), sa) if ctx.needs_input_grad[1] else None
        gb = B.sum_to_shape(B.where(ctx.cond, zero, g), sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def where(condition, x1=None, x2=None) -> Tensor:
    """x1 where condition else x2 (the gradient to each only where it was taken)."""
    if x1 is None and x2 is None:
        raise NotImplementedError("where(condition) (the indices) is not supported; give x1 "
                                  "and x2")
    cond = _t(condition)
    a = _t(x1, x2 if isinstance(x2, Tensor) else cond if cond.dtype.kind == "f" else None)
    b = _t(x2, a)
    if a.dtype != b.dtype:
        b = cast(b, a.dtype)
    mask = Tensor._wrap(get_backend(cond.device).asarray(cond.data, np.bool_), cond.device)
    return WhereFn.apply(mask, a, b)


def _comparison(op: str):
    def compare(x1, x2) -> Tensor:
        a = _t(x1, x2 if isinstance(x2, Tensor) else None)
        b = _t(x2, a)
        backend = get_backend(a.device)
        return Tensor._wrap(backend.compare(a.data, b.data, op), a.device)
    compare.__name__ = op
    compare.__doc__ = f"x1 {op.replace('_', ' ')} x2, elementwise, as a bool Tensor."
    return compare


equal, not_equal = _comparison("equal"), _comparison("not_equal")
less, less_equal = _comparison("less"), _comparison("less_equal")
greater, greater_equal = _comparison("greater"), _comparison("greater_equal")


def logical_not(x) -> Tensor:
    return equal(cast(x, "bool"), False)


def logical_and(x1, x2) -> Tensor:
    return equal(cast(x1, "float32") * cast(x2, "float32"), 1.0)


def logical_or(x1, x2) -> Tensor:
    return greater(cast(x1, "float32") + cast(x2, "float32"), 0.0)


def _register_operators() -> None:
    """Tensor's comparison operators (elementwise, as PyTorch's) and one-element
    truth value; Tensors stay hashable by identity."""
    for dunder, fn in (("__eq__", equal), ("__ne__", not_equal), ("__lt__", less),
                       ("__le__", less_equal), ("__gt__", greater), ("__ge__", greater_equal)):
        setattr(Tensor, dunder, lambda self, other, fn=fn: fn(self, other))
    Tensor.__hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is "
                               f"ambiguous (shape {self.shape})")
        return bool(self.item())

    Tensor.__bool__ = __bool__


_register_operators()
