"""Tensor and the reverse-mode autograd engine (PyTorch semantics).

A Tensor holds `data` (a backend array: NumPy on the CPU, a device array on
CUDA), `grad`, `requires_grad`, `device` and the `Function` that made it.
Every differentiable operation is a `Function` subclass whose `forward` and
`backward` sit together; the elementwise and shape ops live here, the layer
ops (conv, pool, dense, activations, dropout, losses) in `minigrad.ops`.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numpy as np

from .backends import check_device, default_device, get_backend

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
        out = Tensor._wrap(cls.forward(ctx, *raw), device)
        if record:
            out.requires_grad = True
            out._fn, out._ctx, out._parents = cls, ctx, args
        return out


class Tensor:
    """An n-dimensional array that can record operations for `backward()`."""

    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, device: str | None = None,
                 dtype=None):
        device = check_device(device) if device is not None else None
        if isinstance(data, Tensor):
            data = data.numpy()
        backend = get_backend(device or default_device())
        if backend.name != "cpu" and not isinstance(data, np.ndarray) and \
                backend.is_device_array(data):
            arr = backend.asarray(data, dtype=dtype)  # stays on the device
        else:
            arr = np.asarray(data)
            if dtype is None and arr.dtype not in (np.float32, np.float64):
                # Python numbers, lists and integer arrays become float32, as in
                # PyTorch's default dtype; float64 stays float64 (gradcheck).
                dtype = np.float32
            arr = backend.asarray(arr, dtype=dtype)
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
    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        Walks the graph once in reverse topological order, iteratively (no
        recursion limit for deep graphs). The graph is freed afterwards, as in
        PyTorch without `retain_graph`.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        backend = get_backend(self.device)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar "
                                   f"outputs; this tensor has shape {self.shape}")
            grad = backend.full(self.shape, 1.0, self.dtype)
        elif isinstance(grad, Tensor):
            grad = grad.data
        else:
            grad = backend.asarray(np.asarray(grad, dtype=self.dtype))

        order = self._topological_order()
        grads = {id(self): grad}
        for node in order:
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._fn is None:  # a leaf
                node.grad = Tensor._wrap(g, node.device) if node.grad is None else \
                    Tensor._wrap(backend.add(node.grad.data, g), node.device)
                continue
            parent_grads = node._fn.backward(node._ctx, g)
            if not isinstance(parent_grads, tuple):
                parent_grads = (parent_grads,)
            if len(parent_grads) != len(node._parents):
                raise RuntimeError(f"{node._fn.__name__}.backward returned {len(parent_grads)} "
                                   f"gradients for {len(node._parents)} forward inputs")
            for parent, pg in zip(node._parents, parent_grads):
                if pg is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                    continue
                if tuple(pg.shape) != parent.shape:
                    raise RuntimeError(f"{node._fn.__name__}.backward: gradient of shape "
                                       f"{tuple(pg.shape)} for an input of shape {parent.shape}")
                key = id(parent)
                grads[key] = pg if key not in grads else backend.add(grads[key], pg)
            node._fn = node._ctx = None  # free the graph as we go
            node._parents = ()

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
    def _lift(self, other) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        # a Python/NumPy scalar: a shared read-only constant (uploaded once on a GPU)
        if np.ndim(other) == 0:
            return Tensor._wrap(get_backend(self.device).constant(other, self.dtype),
                                self.device)
        return Tensor._wrap(get_backend(self.device).asarray(
            np.asarray(other, dtype=self.dtype)), self.device)

    def __add__(self, o): return Add.apply(self, self._lift(o))
    def __radd__(self, o): return Add.apply(self._lift(o), self)
    def __sub__(self, o): return Sub.apply(self, self._lift(o))
    def __rsub__(self, o): return Sub.apply(self._lift(o), self)
    def __mul__(self, o): return Mul.apply(self, self._lift(o))
    def __rmul__(self, o): return Mul.apply(self._lift(o), self)
    def __truediv__(self, o): return Div.apply(self, self._lift(o))
    def __rtruediv__(self, o): return Div.apply(self._lift(o), self)
    def __matmul__(self, o): return MatMul.apply(self, self._lift(o))
    def __rmatmul__(self, o): return MatMul.apply(self._lift(o), self)
    def __neg__(self): return Neg.apply(self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return Exp.apply(Mul.apply(exponent, Log.apply(self)))
        return Pow.apply(self, float(exponent))

    # ----------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        return Sum.apply(self, _axes(axis, self.ndim), keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        axes = _axes(axis, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes])) if axes else 1
        return Sum.apply(self, axes, keepdims) * (1.0 / max(count, 1))

    # ---------------------------------------------------------------- shape
    def reshape(self, *shape) -> "Tensor":
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return Reshape.apply(self, tuple(int(s) for s in shape))

    def flatten(self) -> "Tensor":
        """(N, ...) -> (N, prod(...)), like Keras's Flatten."""
        return self.reshape(self.shape[0], -1)

    def transpose(self, *axes) -> "Tensor":
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return Transpose.apply(self, tuple(axes) if axes else None)

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


def _axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of rank {ndim}")
    return tuple(sorted(a % ndim for a in axes))


# ------------------------------------------------------- core Functions
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.backend.add(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (sa, sb) = ctx.backend, ctx.shapes
        return B.sum_to_shape(g, sa), B.sum_to_shape(g, sb)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.backend.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (sa, sb) = ctx.backend, ctx.shapes
        return B.sum_to_shape(g, sa), B.sum_to_shape(B.negative(g), sb)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.backend.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga = B.sum_to_shape(B.multiply(g, b), a.shape) if ctx.needs_input_grad[0] else None
        gb = B.sum_to_shape(B.multiply(g, a), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.backend.divide(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga = B.sum_to_shape(B.divide(g, b), a.shape) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:  # d(a/b)/db = -a/b^2
            gb = B.sum_to_shape(B.negative(B.divide(B.multiply(g, a), B.multiply(b, b))), b.shape)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return ctx.backend.negative(a)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.negative(g)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return ctx.backend.power(a, a.dtype.type(exponent))

    @staticmethod
    def backward(ctx, g):
        B, (a,), e = ctx.backend, ctx.saved_tensors, ctx.exponent
        return B.multiply(g, B.multiply(B.power(a, a.dtype.type(e - 1)), a.dtype.type(e))), None


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = ctx.backend.exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.multiply(g, ctx.saved_tensors[0])


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.backend.log(a)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.divide(g, ctx.saved_tensors[0])


class Clip(Function):
    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a)
        ctx.bounds = (low, high)
        return ctx.backend.clip(a, low, high)

    @staticmethod
    def backward(ctx, g):
        B, (a,), (low, high) = ctx.backend, ctx.saved_tensors, ctx.bounds
        return B.multiply(g, B.clip_mask(a, low, high)), None, None


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: expected (M, K) @ (K, N), got {tuple(a.shape)} @ "
                             f"{tuple(b.shape)}")
        ctx.save_for_backward(a, b)
        return ctx.backend.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga = B.matmul(g, B.transpose(b)) if ctx.needs_input_grad[0] else None
        gb = B.matmul(B.transpose(a), g) if ctx.needs_input_grad[1] else None
        return ga, gb


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.in_shape = a.shape
        ctx.kept = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
        return ctx.backend.sum(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        B = ctx.backend
        g = B.reshape(g, ctx.kept)
        return B.add(B.zeros(ctx.in_shape, g.dtype), g), None, None


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        try:
            return ctx.backend.reshape(a, shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {tuple(a.shape)} into {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.reshape(g, ctx.in_shape), None


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return ctx.backend.transpose(a, axes)

    @staticmethod
    def backward(ctx, g):
        inverse = None if ctx.axes is None else tuple(np.argsort(ctx.axes))
        return ctx.backend.transpose(g, inverse), None


def tensor(data, requires_grad: bool = False, device: str | None = None, dtype=None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, device=device, dtype=dtype)


def as_tensor(x, device: str | None = None) -> Tensor:
    """x as a Tensor (no copy if it already is one on `device`)."""
    if isinstance(x, Tensor):
        return x if device is None else x.to(device)
    return Tensor(x, device=device)

