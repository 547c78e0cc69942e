"""Tensor and the reverse-mode autograd engine (PyTorch semantics).

A Tensor holds `data` (a backend array: NumPy on the CPU, a device array on
CUDA), `grad`, `requires_grad`, `device` and the `Function` that made it.
Every differentiable operation is a `Function` subclass whose `forward` and
`backward` sit together; those behind Tensor's own methods (arithmetic, sum,
reshape, ...) are in tensor_functions.py, the layer ops (conv, pool, dense,
activations, dropout, losses) in `minigrad.ops`.
"""
from __future__ import annotations

import contextlib
import numbers
import threading
from typing import Iterator

import numpy as np

from .backends import check_device, default_device, get_backend
from .tensor_args import _axes, _float_dtype, _host_copy, _is_int, _shape_arg  # noqa: F401

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block no graph is recorded (like `torch.no_grad()`)."""
    prev = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = prev


class Context:
    """What `Function.forward` saves for `backward` (PyTorch's `ctx`)."""

    def __init__(self, backend, needs_input_grad: tuple):
        self.backend = backend
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays


class Function:
    """Base of every differentiable op.

    Subclasses define static `forward(ctx, *args)` on backend arrays (NumPy on
    the CPU) and `backward(ctx, grad)` returning one gradient per forward
    argument (None where there is none). `apply` wraps Tensors in and out and
    records the graph.
    """

    @staticmethod
    def forward(ctx: Context, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args) -> "Tensor":
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            raise TypeError(f"{cls.__name__}.apply needs at least one Tensor argument")
        device = tensors[0].device
        for t in tensors[1:]:
            if t.device != device:
                raise ValueError(f"{cls.__name__}: all tensors must be on one device, "
                                 f"got {device!r} and {t.device!r}")
        record = is_grad_enabled() and any(t.requires_grad for t in tensors)
        ctx = Context(get_backend(device), tuple(
            isinstance(a, Tensor) and a.requires_grad for a in args))
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        out = Tensor._wrap(_array_result(cls.forward(ctx, *raw), cls, "forward"), device)
        if record:
            out.requires_grad = True
            out._fn, out._ctx, out._parents = cls, ctx, args
        return out


class Tensor:
    """An n-dimensional array that can record operations for `backward()`.

    `Tensor(data)` copies `data`, as `torch.tensor` does: changing the caller's
    array afterwards changes neither the tensor nor a gradient computed from
    it (`as_tensor` shares a float32/float64 NumPy array, as
    `torch.as_tensor`). A CUDA device array is wrapped as it is, on the device.

    minigrad computes in float32 and float64 only. Without `dtype`, a NumPy
    float32 or float64 array or scalar keeps its dtype (float64 for
    gradcheck); Python numbers and (nested) lists become float32, as
    `torch.tensor(1.5)` does; integer and bool data become float32. float16,
    complex, string and object data raise TypeError (convert them first, or
    pass `dtype='float32'` for float16); `dtype` itself must be float32 or
    float64.
    """

    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, device: str | None = None,
                 dtype=None):
        device = check_device(device) if device is not None else None
        dtype = None if dtype is None else _float_dtype(dtype, "Tensor: `dtype`")
        if isinstance(data, Tensor):
            data = data.numpy()
        backend = get_backend(device or default_device())
        if backend.name != "cpu" and not isinstance(data, np.ndarray) and \
                backend.is_device_array(data):
            _float_dtype(dtype or data.dtype, "Tensor: data")
            arr = backend.asarray(data, dtype=dtype)  # stays on the device
        else:
            arr = backend.asarray(_host_copy(data, dtype))
        self.data = arr
        self.device: str = backend.name
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self._fn = self._ctx = None
        self._parents: tuple = ()

    @classmethod
    def _wrap(cls, arr, device: str) -> "Tensor":
        t = cls.__new__(cls)
        t.data, t.device, t.requires_grad, t.grad = arr, device, False, None
        t._fn = t._ctx = None
        t._parents = ()
        return t

    # ----------------------------------------------------------- properties
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return np.dtype(self.data.dtype)

    @property
    def ndim(self) -> int:
        return len(self.data.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.data.shape))

    @property
    def is_leaf(self) -> bool:
        return self._fn is None

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        dev = "" if self.device == "cpu" else f", device={self.device!r}"
        return f"Tensor({self.numpy()!r}{dev}{extra})"

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied to the host from a GPU)."""
        return get_backend(self.device).to_numpy(self.data)

    def item(self) -> float:
        return self.numpy().item()

    # one-element tensors convert as PyTorch's do: float(t), int(t), np.asarray(t)
    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def to(self, device: str) -> "Tensor":
        """A copy on `device` ('cpu' or 'cuda'); the same tensor if already there."""
        device = check_device(device)
        if device == self.device:
            return self
        out = Tensor._wrap(get_backend(device).asarray(self.numpy()), device)
        out.requires_grad = self.requires_grad
        return out

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data, self.device)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (PyTorch's semantics).

        `gradient` is d(loss)/d(self), of exactly this tensor's shape (cast to
        its dtype); it may be left out for a one-element tensor. The graph is
        walked once in reverse topological order, iteratively (no recursion
        limit), and freed as it goes unless `retain_graph=True`; a second
        backward through a freed part raises RuntimeError. (PyTorch still lets
        a second backward through ops that saved nothing, such as an
        addition; minigrad frees every node.) Leaf gradients are arrays of
        the leaf's dtype that no one else holds.
        """
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn: backward() needs a tensor computed from one made "
                               "with requires_grad=True")
        backend = get_backend(self.device)
        grad = self._seed_gradient(gradient, backend)
        order = self._topological_order()
        for node in order:
            if node._fn is not None and node._ctx is None:
                raise RuntimeError(
                    "Trying to backward through the graph a second time: its saved values "
                    "were freed by the first backward(). Specify retain_graph=True on the "
                    "first backward() to backward through the graph a second time")

        grads = {id(self): grad}
        for node in order:
            g = grads.pop(id(node), None)
            if node._fn is None:  # a leaf
                if g is not None:
                    node._accumulate(g, backend)
                continue
            if g is not None:
                for parent, pg in node._parent_grads(g):
                    key = id(parent)
                    grads[key] = pg if key not in grads else backend.add(grads[key], pg)
            if not retain_graph:  # free the graph as we go; the node stays a non-leaf
                node._ctx, node._parents = None, ()

    def _seed_gradient(self, gradient, backend):
        """The gradient backward starts from, checked as PyTorch checks it."""
        if gradient is None:
            if self.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar "
                                   f"outputs; this tensor has shape {self.shape}")
            return backend.full(self.shape, 1.0, self.dtype)
        if isinstance(gradient, Tensor):
            if gradient.device != self.device:
                raise RuntimeError(f"backward: `gradient` is on {gradient.device!r}, the "
                                   f"tensor on {self.device!r}")
            data = gradient.data
        else:
            data = Tensor(gradient, device=self.device, dtype=self.dtype).data
        if tuple(data.shape) != self.shape:
            raise RuntimeError(f"Mismatch in shape: `gradient` has a shape of "
                               f"{tuple(data.shape)} and the output a shape of {self.shape}")
        return backend.asarray(data, dtype=self.dtype)

    def _parent_grads(self, g) -> list:
        """(parent, gradient) pairs from this node's backward, checked, each of its
        parent's dtype."""
        fn = self._fn
        out = fn.backward(self._ctx, g)
        if not isinstance(out, tuple):
            out = (out,)
        if len(out) != len(self._parents):
            raise RuntimeError(f"{fn.__name__}.backward returned {len(out)} gradients for "
                               f"{len(self._parents)} forward inputs")
        pairs = []
        for parent, pg in zip(self._parents, out):
            if pg is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                continue
            pg = _array_result(pg, fn, "backward")
            if tuple(pg.shape) != parent.shape:
                raise RuntimeError(f"{fn.__name__}.backward: gradient of shape "
                                   f"{tuple(pg.shape)} for an input of shape {parent.shape}")
            if pg.dtype != parent.dtype:  # as PyTorch: a gradient takes its input's dtype
                pg = get_backend(parent.device).asarray(pg, dtype=parent.dtype)
            pairs.append((parent, pg))
        return pairs

    def _accumulate(self, g, backend) -> None:
        """Add g into this leaf's .grad; the result is a new array of the leaf's dtype
        (g may be the caller's `gradient`, or be shared with other leaves)."""
        owned = backend.copy(g, self.dtype) if self.grad is None else \
            backend.asarray(backend.add(self.grad.data, g), dtype=self.dtype)
        self.grad = Tensor._wrap(owned, self.device)

    def _topological_order(self) -> list:
        """Nodes from self to the leaves, each after every node that uses it."""
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node._parents:
                if isinstance(p, Tensor) and p.requires_grad and id(p) not in seen:
                    stack.append((p, False))
        return order[::-1]

    # ------------------------------------------------------------ arithmetic
    def _lift(self, other) -> "Tensor | None":
        """`other` as a Tensor of this dtype on this device; None when it is not a
        number or a numeric array (the operator then returns NotImplemented, and
        Python raises its TypeError, as for a torch.Tensor and None)."""
        if isinstance(other, Tensor):
            return other
        try:
            arr = np.asarray(other)
        except (TypeError, ValueError):
            return None
        if arr.dtype.kind not in "biuf":
            return None
        backend = get_backend(self.device)
        # a scalar: a shared read-only constant (uploaded once on a GPU)
        if arr.ndim == 0:
            return Tensor._wrap(backend.constant(arr, self.dtype), self.device)
        return Tensor._wrap(backend.asarray(np.array(arr, dtype=self.dtype)), self.device)

    def _binary(self, fn, other, reflected: bool = False):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return fn.apply(other, self) if reflected else fn.apply(self, other)

    def __add__(self, o): return self._binary(Add, o)
    def __radd__(self, o): return self._binary(Add, o, reflected=True)
    def __sub__(self, o): return self._binary(Sub, o)
    def __rsub__(self, o): return self._binary(Sub, o, reflected=True)
    def __mul__(self, o): return self._binary(Mul, o)
    def __rmul__(self, o): return self._binary(Mul, o, reflected=True)
    def __truediv__(self, o): return self._binary(Div, o)
    def __rtruediv__(self, o): return self._binary(Div, o, reflected=True)
    def __matmul__(self, o): return self._binary(MatMul, o)
    def __rmatmul__(self, o): return self._binary(MatMul, o, reflected=True)
    def __neg__(self): return Neg.apply(self)

    def __pow__(self, exponent):
        if isinstance(exponent, numbers.Real):  # Python and NumPy numbers
            return Pow.apply(self, float(exponent))
        return self._binary(Power, exponent)

    def __rpow__(self, base):
        return self._binary(Power, base, reflected=True)

    # ----------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        return Sum.apply(self, _axes(axis, self.ndim, "sum"), keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        axes = _axes(axis, self.ndim, "mean")
        count = int(np.prod([self.shape[a] for a in axes])) if axes else 1
        return Sum.apply(self, axes, keepdims) * (1.0 / max(count, 1))

    # ---------------------------------------------------------------- shape
    def reshape(self, *shape) -> "Tensor":
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        if not shape and self.size != 1:
            raise TypeError(f"reshape: expected a shape, e.g. reshape({self.size})")
        return Reshape.apply(self, _shape_arg(shape))

    def flatten(self) -> "Tensor":
        """(N, ...) -> (N, prod(...)), like Keras's Flatten."""
        return self.reshape(self.shape[0], -1)

    def transpose(self, *axes) -> "Tensor":
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        if axes and (not all(_is_int(a) for a in axes) or
                     sorted(int(a) % max(self.ndim, 1) for a in axes) != list(range(self.ndim))
                     or not all(-self.ndim <= a < self.ndim for a in axes)):
            raise ValueError(f"transpose: `axes` must be a permutation of the {self.ndim} axes "
                             f"of a tensor of shape {self.shape}, got {tuple(axes)!r}")
        return Transpose.apply(self, tuple(int(a) for a in axes) if axes else None)

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    # ---------------------------------------------------------- elementwise
    def clip(self, low: float, high: float) -> "Tensor":
        """Values limited to [low, high]; the gradient flows only where not clipped."""
        return Clip.apply(self, float(low), float(high))

    def exp(self) -> "Tensor": return Exp.apply(self)
    def log(self) -> "Tensor": return Log.apply(self)

    # Activation methods (relu, sigmoid, tanh, softmax(axis), log_softmax(axis)) are
    # added by minigrad.ops.activations, where their Functions live: the core does
    # not import the layer ops.


def _array_result(value, fn, method: str):
    """What a Function's forward/backward returned, as a backend array: a Tensor is
    unwrapped (a Tensor inside a Tensor or a .grad is never made)."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.generic):
        return np.asarray(value)
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"{fn.__name__}.{method} must return arrays (or Tensors), got "
                        f"{type(value).__name__}")
    return value


def tensor(data, requires_grad: bool = False, device: str | None = None, dtype=None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, device=device, dtype=dtype)


def as_tensor(x, device: str | None = None) -> Tensor:
    """x as a Tensor, copied only where needed (like torch.as_tensor): a Tensor
    already on `device` is returned as it is, and a float32/float64 NumPy array
    on the CPU is shared, so changing the array changes the tensor. Anything
    else is converted as `Tensor(x)` converts it."""
    if isinstance(x, Tensor):
        return x if device is None else x.to(device)
    if isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64):
        backend = get_backend(check_device(device) if device else default_device())
        return Tensor._wrap(backend.asarray(x), backend.name)
    return Tensor(x, device=device)


# The core Functions subclass Function (above), so they are imported last; the
# Tensor methods look them up when they run.
from .tensor_functions import (  # noqa: E402
    Add, Clip, Div, Exp, Log, MatMul, Mul, Neg, Pow, Power, Reshape, Sub, Sum, Transpose)
