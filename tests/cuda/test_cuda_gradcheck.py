"""Ops' gradients through the CUDA backend against finite differences (float64).

Every finite-difference probe is a full forward through the CUDA kernels, so
the inputs are tiny (the simulator runs one Python thread per CUDA thread).
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor, ops
from minigrad.testing import GradcheckError, gradcheck


def distinct(seed, *shape, spacing=0.1):
    """float64 values at least `spacing` apart: no max-pool ties, no ReLU kink within eps."""
    n = int(np.prod(shape))
    vals = (np.random.default_rng(seed).permutation(n) - n / 2) * spacing + 0.013
    return vals.reshape(shape)


def cuda64(a, requires_grad=True):
    t = Tensor(np.asarray(a, np.float64), requires_grad=requires_grad, device="cuda")
    assert t.device == "cuda" and not isinstance(t.data, np.ndarray)
    return t


@pytest.mark.parametrize("hw,c,f,k,stride,padding,dilation,act", [
    ((3, 3), 2, 2, 2, 1, "valid", 1, None),
    ((4, 4), 1, 1, 3, 2, "same", 1, "relu"),
    ((4, 4), 1, 1, 2, 1, "valid", 2, None),
    ((3, 4), 1, 1, (2, 3), (1, 2), "same", 1, None),
])
def test_conv2d(hw, c, f, k, stride, padding, dilation, act):
    kh, kw = (k, k) if isinstance(k, int) else k
    x = cuda64(distinct(1, 1, *hw, c))
    w = cuda64(distinct(2, kh, kw, c, f, spacing=0.07))
    b = cuda64([0.05, -0.02][:f])
    assert gradcheck(lambda x, w, b: ops.conv2d(x, w, b, stride, padding, dilation,
                                                activation=act), (x, w, b))


def test_conv2d_maxpool_fused():
    x = cuda64(distinct(3, 1, 4, 4, 1))
    w = cuda64(distinct(4, 2, 2, 1, 1, spacing=0.2))
    b = cuda64([0.01])
    assert gradcheck(lambda x, w, b: ops.conv2d_maxpool(x, w, b, activation="relu",
                                                        pool_size=2), (x, w, b))


@pytest.mark.parametrize("pool,stride,padding", [(2, None, "valid"), (3, 2, "same")])
def test_max_pool2d(pool, stride, padding):
    x = cuda64(distinct(5, 1, 4, 5, 2))
    assert gradcheck(lambda x: ops.max_pool2d(x, pool, stride, padding), (x,))


def test_dense():
    x, w, b = cuda64(distinct(6, 3, 4)), cuda64(distinct(7, 4, 2)), cuda64([0.1, -0.2])
    assert gradcheck(lambda x, w, b: ops.dense(x, w, b), (x, w, b))
    assert gradcheck(lambda x, w, b: ops.dense(x, w, b, activation="relu"), (x, w, b))


@pytest.mark.parametrize("fn", [ops.relu, ops.sigmoid, ops.tanh, ops.softmax, ops.log_softmax,
                                lambda t: ops.softmax(t, axis=0)],
                         ids=["relu", "sigmoid", "tanh", "softmax", "log_softmax", "softmax0"])
def test_activations(fn):
    assert gradcheck(fn, (cuda64(distinct(8, 2, 3)),))


@pytest.mark.parametrize("sparse", [True, False])
def test_softmax_cross_entropy(sparse):
    logits = cuda64(distinct(9, 3, 4, spacing=0.3))
    target = np.array([2, 0, 3]) if sparse else \
        np.random.default_rng(0).dirichlet(np.ones(4), 3)
    assert gradcheck(lambda z: ops.softmax_cross_entropy(z, target, sparse=sparse), (logits,))


def test_tensor_arithmetic_with_broadcasting():
    """The autograd core's own ops: broadcast add/sub/mul/div, pow, exp, log, sum, matmul."""
    a = cuda64(np.abs(distinct(10, 2, 3)) + 0.5)
    b = cuda64(np.abs(distinct(11, 3)) + 0.5)
    c = cuda64(distinct(12, 3, 2))

    def f(a, b, c):
        y = (a * b + a / b - 2.0) ** 2 + (a - b).exp() + a.log() * 0.5
        return (y @ c).sum(axis=0) + y.transpose().mean() + y.clip(-1.0, 3.0).sum()

    assert gradcheck(f, (a, b, c))


def test_dropout_backward_uses_the_forward_mask():
    x = cuda64(distinct(13, 3, 4))
    assert gradcheck(lambda x: ops.dropout(x, 0.4, seed=123), (x,))


def test_gradcheck_catches_a_wrong_backward_on_cuda():
    class Bad(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return ctx.backend.multiply(x, x)

        @staticmethod
        def backward(ctx, g):  # should be 2 * x * g
            return ctx.backend.multiply(g, ctx.saved_tensors[0])

    with pytest.raises(GradcheckError):
        gradcheck(Bad.apply, (cuda64(distinct(14, 3)),))
