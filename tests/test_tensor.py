"""Tensor / autograd semantics, checked against NumPy and hand-derived gradients
(the same results PyTorch gives)."""
import operator

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor


def unbroadcast(g, shape):
    """Reference: sum g over the axes NumPy broadcasting added or stretched."""
    shape = tuple(shape)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    assert g.shape == shape
    return g


def leaf(a):
    return Tensor(np.asarray(a, np.float64), requires_grad=True)


def weighted_backward(out, rng):
    """backward of sum(out * r) for a random r; returns r (the upstream gradient)."""
    r = rng.standard_normal(out.shape)
    (out * Tensor(r)).sum().backward()
    return r


# ------------------------------------------------------------- binary ops
BINARY = {
    "add": (operator.add, lambda a, b, g: (g, g)),
    "sub": (operator.sub, lambda a, b, g: (g, -g)),
    "mul": (operator.mul, lambda a, b, g: (g * b, g * a)),
    "div": (operator.truediv, lambda a, b, g: (g / b, -g * a / b ** 2)),
    "pow": (operator.pow, lambda a, b, g: (g * b * a ** (b - 1), g * a ** b * np.log(a))),
}
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1, 4), (3, 1)),
          ((3, 4), ()), ((), (2, 3)), ((2, 3, 1), (1, 1, 5))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_op_broadcast_forward_and_backward(name, sa, sb, rng):
    op, grads = BINARY[name]
    a = rng.uniform(0.5, 2.0, sa)   # positive: pow and log are defined
    b = rng.uniform(0.5, 2.0, sb)
    ta, tb = leaf(a), leaf(b)
    out = op(ta, tb)
    expected = op(a, b)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    r = weighted_backward(out, rng)
    ga, gb = grads(np.broadcast_to(a, r.shape), np.broadcast_to(b, r.shape), r)
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    np.testing.assert_allclose(ta.grad.numpy(), unbroadcast(ga, sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), unbroadcast(gb, sb), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("expr,value,grad", [
    (lambda t: t + 2, lambda x: x + 2, lambda x: np.ones_like(x)),
    (lambda t: 2 + t, lambda x: 2 + x, lambda x: np.ones_like(x)),
    (lambda t: 2 - t, lambda x: 2 - x, lambda x: -np.ones_like(x)),
    (lambda t: t - 2, lambda x: x - 2, lambda x: np.ones_like(x)),
    (lambda t: 3 * t, lambda x: 3 * x, lambda x: 3 * np.ones_like(x)),
    (lambda t: t * 3, lambda x: 3 * x, lambda x: 3 * np.ones_like(x)),
    (lambda t: 3 / t, lambda x: 3 / x, lambda x: -3 / x ** 2),
    (lambda t: t / 4, lambda x: x / 4, lambda x: np.full_like(x, 0.25)),
    (lambda t: t ** 3, lambda x: x ** 3, lambda x: 3 * x ** 2),
    (lambda t: t ** 0.5, lambda x: x ** 0.5, lambda x: 0.5 * x ** -0.5),
    (lambda t: t ** -1, lambda x: 1 / x, lambda x: -1 / x ** 2),
    (lambda t: -t, lambda x: -x, lambda x: -np.ones_like(x)),
], ids=["add", "radd", "rsub", "sub", "rmul", "mul", "rdiv", "div", "pow3", "sqrt",
        "pow-1", "neg"])
def test_ops_with_python_scalars(expr, value, grad, rng):
    x = rng.uniform(0.5, 2.0, (2, 3))
    t = leaf(x)
    out = expr(t)
    assert isinstance(out, Tensor) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), value(x), rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), grad(x), rtol=1e-10)


def test_ndarray_on_the_left_gives_a_tensor(rng):
    x = rng.standard_normal((2, 3))
    t = leaf(x)
    out = np.ones((2, 3)) * 2.0 + t
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.numpy(), x + 2)
    out.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.ones((2, 3)))


def test_matmul_forward_and_backward(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    ta, tb = leaf(a), leaf(b)
    out = ta @ tb
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12)
    r = weighted_backward(out, rng)
    np.testing.assert_allclose(ta.grad.numpy(), r @ b.T, rtol=1e-10)
    np.testing.assert_allclose(tb.grad.numpy(), a.T @ r, rtol=1e-10)


def test_matmul_shape_mismatch_raises():
    with pytest.raises(ValueError, match="matmul"):
        leaf(np.ones((3, 4))) @ leaf(np.ones((3, 4)))


# ------------------------------------------------------------- reductions
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, (0, 2), (1, 2), (0, 1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sum_mean_axes_keepdims(reduction, axis, keepdims, rng):
    x = rng.standard_normal((2, 3, 4))
    t = leaf(x)
    out = getattr(t, reduction)(axis=axis, keepdims=keepdims)
    expected = getattr(np, reduction)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-14)
    r = weighted_backward(out, rng)
    r_kept = np.sum(x * 0, axis=axis, keepdims=True) + np.reshape(
        r, np.sum(x, axis=axis, keepdims=True).shape)
    count = x.size // r_kept.size
    expected_grad = np.broadcast_to(r_kept, x.shape) * (1.0 / count if reduction == "mean" else 1)
    np.testing.assert_allclose(t.grad.numpy(), expected_grad, rtol=1e-12)


def test_sum_bad_axis_raises():
    with pytest.raises(ValueError, match="axis"):
        leaf(np.ones((2, 3))).sum(axis=2)


# ------------------------------------------------------------------ shape
def test_reshape_forward_and_backward(rng):
    x = rng.standard_normal((2, 3, 4))
    t = leaf(x)
    out = t.reshape(6, 4)
    assert out.shape == (6, 4)
    np.testing.assert_array_equal(out.numpy(), x.reshape(6, 4))
    out2 = t.reshape((4, -1))
    assert out2.shape == (4, 6)
    r = weighted_backward(out, rng)
    np.testing.assert_array_equal(t.grad.numpy(), r.reshape(2, 3, 4))
    with pytest.raises(ValueError, match="reshape"):
        t.reshape(5, 5)


@pytest.mark.parametrize("axes", [None, (0, 1, 2), (2, 0, 1), (1, 0, 2), (0, 2, 1)])
def test_transpose_forward_and_backward(axes, rng):
    x = rng.standard_normal((2, 3, 4))
    t = leaf(x)
    out = t.transpose() if axes is None else t.transpose(*axes)
    expected = np.transpose(x, axes)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)
    r = weighted_backward(out, rng)
    inverse = None if axes is None else np.argsort(axes)
    np.testing.assert_array_equal(t.grad.numpy(), np.transpose(r, inverse))


def test_T_property(rng):
    x = rng.standard_normal((2, 5))
    t = leaf(x)
    np.testing.assert_array_equal(t.T.numpy(), x.T)
    r = weighted_backward(t.T, rng)
    np.testing.assert_array_equal(t.grad.numpy(), r.T)


# ------------------------------------------------------------ elementwise
def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


UNARY = {
    "exp": (lambda t: t.exp(), np.exp, lambda x, y, r: r * np.exp(x)),
    "log": (lambda t: t.log(), np.log, lambda x, y, r: r / x),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0), lambda x, y, r: r * (x > 0)),
    "sigmoid": (lambda t: t.sigmoid(), lambda x: 1 / (1 + np.exp(-x)),
                lambda x, y, r: r * y * (1 - y)),
    "tanh": (lambda t: t.tanh(), np.tanh, lambda x, y, r: r * (1 - y ** 2)),
    "clip": (lambda t: t.clip(0.8, 1.6), lambda x: np.clip(x, 0.8, 1.6),
             lambda x, y, r: r * ((x >= 0.8) & (x <= 1.6))),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_and_backward(name, rng):
    fn, ref, grad = UNARY[name]
    x = rng.uniform(-2, 2, (3, 5))
    if name == "log":
        x = np.abs(x) + 0.1
    if name == "clip":
        x = rng.uniform(0.0, 2.5, (3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink
    t = leaf(x)
    out = fn(t)
    y = ref(x)
    np.testing.assert_allclose(out.numpy(), y, rtol=1e-12, atol=1e-15)
    r = weighted_backward(out, rng)
    np.testing.assert_allclose(t.grad.numpy(), grad(x, y, r), rtol=1e-10, atol=1e-14)


def test_clip_blocks_gradient_outside_range():
    t = leaf([-3.0, -1.0, 0.0, 1.0, 3.0])
    out = t.clip(-1.5, 1.5)
    np.testing.assert_array_equal(out.numpy(), [-1.5, -1.0, 0.0, 1.0, 1.5])
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0, 1, 1, 1, 0])


def test_sigmoid_is_finite_for_extreme_inputs():
    out = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)).sigmoid().numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1], atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_any_axis(kind, axis, rng):
    x = rng.standard_normal((2, 3, 4)) * 3
    t = leaf(x)
    out = getattr(t, kind)(axis=axis)
    s = _softmax(x, axis)
    y = s if kind == "softmax" else np.log(s)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), y, rtol=1e-10, atol=1e-12)
    if kind == "softmax":
        np.testing.assert_allclose(out.numpy().sum(axis=axis), 1.0, rtol=1e-12)
    r = weighted_backward(out, rng)
    if kind == "softmax":
        expected = s * (r - (r * s).sum(axis=axis, keepdims=True))
    else:
        expected = r - s * r.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_ops_module_activations_and_methods_match_numpy(rng):
    x = rng.standard_normal((3, 4))
    t = leaf(x)
    references = {"relu": np.maximum(x, 0), "sigmoid": 1 / (1 + np.exp(-x)), "tanh": np.tanh(x),
                  "softmax": _softmax(x, -1), "log_softmax": np.log(_softmax(x, -1))}
    for name, expected in references.items():
        np.testing.assert_allclose(getattr(mg.ops, name)(t).numpy(), expected, rtol=1e-12)
        np.testing.assert_allclose(getattr(t, name)().numpy(), expected, rtol=1e-12)


def test_float32_stays_float32(rng):
    t = Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    out = ((t * 2 + 1).exp().sum(axis=1) / 3).mean()
    assert out.dtype == np.float32
    out.backward()
    assert t.grad.dtype == np.float32


def test_tensor_constructor_dtypes():
    assert Tensor([1, 2, 3]).dtype == np.float32              # ints -> float32 (PyTorch default)
    assert Tensor(np.arange(3)).dtype == np.float32
    assert Tensor(np.zeros(3, np.float64)).dtype == np.float64  # float64 kept (gradcheck)
    assert Tensor(2.5).shape == ()
    assert mg.tensor([1.0, 2.0], requires_grad=True).requires_grad


# --------------------------------------------------------------- autograd
def test_gradient_accumulates_over_two_backward_calls(rng):
    x = rng.standard_normal((3,))
    t = leaf(x)
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * x)
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 4 * x)
    t.zero_grad()
    assert t.grad is None
    (t * 3).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.full(3, 3.0))


def test_tensor_used_twice_in_a_graph(rng):
    x = rng.standard_normal((4,))
    t = leaf(x)
    y = t * t + t             # diamond: t feeds both branches
    z = (y * y).sum()          # y is used twice too
    z.backward()
    expected = 2 * (x * x + x) * (2 * x + 1)
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-12)


def test_requires_grad_propagation():
    a = Tensor(np.ones(3))
    b = Tensor(np.ones(3), requires_grad=True)
    assert not a.requires_grad and b.requires_grad
    assert not (a + a).requires_grad
    assert (a + b).requires_grad and (b * a).requires_grad
    assert (a * 2).is_leaf
    c = b * 2
    assert not c.is_leaf and b.is_leaf
    (a * b).sum().backward()
    assert a.grad is None                  # constants get no gradient
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3))


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError):
        Tensor(np.ones(3)).sum().backward()


def test_detach(rng):
    x = rng.standard_normal((3,))
    t = leaf(x)
    d = t.detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(d.numpy(), x)
    (t.detach() * t).sum().backward()  # the detached factor is a constant
    np.testing.assert_allclose(t.grad.numpy(), x)


def test_no_grad_records_no_graph(rng):
    t = leaf(rng.standard_normal((3,)))
    with mg.no_grad():
        y = (t * 2).exp().sum()
        assert not y.requires_grad
        assert y.is_leaf
    with pytest.raises(RuntimeError):
        y.backward()
    z = (t * 2).sum()  # grad mode is back on after the block
    assert z.requires_grad
    z.backward()
    np.testing.assert_allclose(t.grad.numpy(), np.full(3, 2.0))


def test_no_grad_restored_after_exception(rng):
    t = leaf(rng.standard_normal((3,)))
    with pytest.raises(KeyError):
        with mg.no_grad():
            raise KeyError("boom")
    assert (t * 2).requires_grad


def test_backward_on_non_scalar_raises(rng):
    t = leaf(rng.standard_normal((2, 3)))
    out = t * 2
    with pytest.raises(RuntimeError, match="scalar"):
        out.backward()
    # with an explicit upstream gradient it works, as in PyTorch
    g = rng.standard_normal((2, 3))
    (t * 2).backward(g)
    np.testing.assert_allclose(t.grad.numpy(), 2 * g)


def test_deep_chain_does_not_hit_recursion_limit():
    t = leaf(np.array([1.0, 2.0]))
    y = t
    for _ in range(5000):
        y = y + 1.0
    y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(y.numpy(), [5001.0, 5002.0])


def test_deep_chain_of_multiplications():
    t = leaf(np.array([1.0]))
    y = t
    for _ in range(3000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [1.0001 ** 3000], rtol=1e-9)


class Square(mg.Function):
    """x * x with a hand-written backward (the custom Function of the API contract)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def test_custom_function(rng):
    x = rng.standard_normal((2, 3))
    t = leaf(x)
    y = Square.apply(t)
    assert isinstance(y, Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), x * x)
    (y * 3).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 6 * x)
    # composes with the built-in ops and with itself
    t.zero_grad()
    Square.apply(Square.apply(t) + 1).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * (x * x + 1) * 2 * x, rtol=1e-12)


def test_custom_function_without_grad_records_nothing(rng):
    t = Tensor(rng.standard_normal(3))
    y = Square.apply(t)
    assert not y.requires_grad and y.is_leaf


def test_custom_function_needs_a_tensor():
    with pytest.raises(TypeError):
        Square.apply(np.ones(3))
