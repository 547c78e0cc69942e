"""Ops on strided arrays: a custom Function whose forward returns a view (a transpose,
a slice) followed by each kernel-backed op gives NumPy's values and gradients, on
both backends. (Once, the CPU kernels filled a copy and returned uninitialised
memory for column-major input, with zero gradients.)"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import ops

DEVICES = ["cpu", "cuda"]
erf = np.vectorize(math.erf)


class TransposeView(mg.Function):
    """x.T as a view where the backend makes one (NumPy; the simulator's arrays)."""

    @staticmethod
    def forward(ctx, x):
        return x.T

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.transpose(g)


class EveryOtherColumn(mg.Function):
    """x[:, ::2], a strided view on either backend."""

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x[:, ::2]

    @staticmethod
    def backward(ctx, g):
        out = ctx.backend.zeros(ctx.shape, g.dtype)
        out[:, ::2] = g
        return out


def softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def pool2(z):
    n, h, w, c = z.shape
    return z.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


OPS = {  # name: (op on the view, NumPy reference on the view's values)
    "relu": (ops.relu, lambda z: np.maximum(z, 0)),
    "sigmoid": (ops.sigmoid, lambda z: 1 / (1 + np.exp(-z))),
    "tanh": (ops.tanh, np.tanh),
    "gelu": (ops.gelu, lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2)))),
    "softmax": (ops.softmax, lambda z: softmax(z, -1)),
    "softmax_axis0": (lambda t: ops.softmax(t, axis=0), lambda z: softmax(z, 0)),
    "log_softmax": (ops.log_softmax, lambda z: np.log(softmax(z, -1))),
    "dropout": (lambda t: ops.dropout(t, 0.5, seed=11),
                lambda z: z * ops.dropout(mg.Tensor(np.ones(z.shape)), 0.5, seed=11).numpy()),
    "dense_relu": (lambda t: ops.dense(t, mg.Tensor(W, device=t.device), activation="relu"),
                   lambda z: np.maximum(z @ W, 0)),
    "max_pool2d": (lambda t: ops.max_pool2d(t.reshape(1, 4, 2, 1), 2),
                   lambda z: pool2(z.reshape(1, 4, 2, 1))),
    "cross_entropy": (lambda t: ops.softmax_cross_entropy(t, np.array([0, 1, 1, 0]), sparse=True),
                      lambda z: -np.log(softmax(z, -1)[np.arange(4), [0, 1, 1, 0]]).mean()),
}
W = np.random.default_rng(2).standard_normal((2, 3))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("view", [TransposeView, EveryOtherColumn])
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_after_a_view(name, view, device):
    fn, ref = OPS[name]
    base = np.random.default_rng(3).standard_normal((2, 4) if view is TransposeView else (4, 4))
    z = base.T if view is TransposeView else base[:, ::2]  # the view's values: (4, 2)
    x = mg.Tensor(base, requires_grad=True, device=device)
    out = fn(view.apply(x))
    np.testing.assert_allclose(out.numpy(), ref(z), rtol=1e-10, atol=1e-12)
    g = np.cos(np.arange(out.size)).reshape(out.shape)
    out.backward(g)
    # the reference gradient by central differences of the NumPy reference
    expected = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        step = np.zeros_like(base)
        step[idx] = 1e-6
        zp = (base + step).T if view is TransposeView else (base + step)[:, ::2]
        zm = (base - step).T if view is TransposeView else (base - step)[:, ::2]
        expected[idx] = ((ref(zp) - ref(zm)) * g).sum() / 2e-6
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=1e-7)
