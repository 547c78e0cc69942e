"""Every op's backward against central finite differences (mg.testing.gradcheck, float64),
and gradcheck itself catching a wrong backward."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor
from minigrad.testing import GradcheckError, gradcheck


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    """gradcheck runs thousands of tiny forwards: thread wake-ups would dominate.
    (The kernels' parallel paths are checked on larger arrays in test_kernels.py.)"""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def t64(a, requires_grad=True):
    return Tensor(np.asarray(a, np.float64), requires_grad=requires_grad)


def distinct(rng, shape, spacing=0.05):
    """Values at least `spacing` apart (no max-pool ties, no relu kinks hit by eps)."""
    n = int(np.prod(shape))
    vals = (rng.permutation(n) - n / 2) * spacing + 0.01
    return vals.reshape(shape)


# ---------------------------------------------------------------- conv2d
# (input HxW, kernel, stride, padding, dilation)
CONV_CASES = [
    ((5, 6), 1, 1, "valid", 1),
    ((5, 6), 1, 2, "same", 1),
    ((5, 6), 2, 1, "valid", 1),
    ((5, 6), 2, 1, "same", 1),        # even kernel: TF puts the extra pad bottom/right
    ((5, 6), 3, 1, "valid", 1),
    ((5, 6), 3, 1, "same", 1),
    ((5, 6), 3, 2, "valid", 1),
    ((5, 6), 3, 2, "same", 1),
    ((6, 7), 4, 3, "same", 1),
    ((6, 7), 4, 3, "valid", 1),
    ((5, 5), 5, 1, "valid", 1),
    ((5, 5), 5, 1, "same", 1),
    ((5, 6), 2, 3, "valid", 1),
    ((5, 6), (2, 3), 1, "valid", 1),
    ((5, 6), (2, 3), (1, 2), "same", 1),
    ((5, 6), (3, 1), (2, 1), "valid", 1),
    ((5, 6), (3, 1), 1, "same", 1),
    ((6, 6), 3, 1, "valid", 2),
    ((6, 6), 3, 1, "same", 2),
    ((6, 7), 2, 2, "same", (2, 1)),
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("hw,k,s,pad,d", CONV_CASES)
def test_conv2d(hw, k, s, pad, d, bias, rng):
    kh, kw = (k, k) if isinstance(k, int) else k
    x = t64(rng.standard_normal((2,) + hw + (2,)))
    w = t64(rng.standard_normal((kh, kw, 2, 2)))
    inputs = (x, w) + ((t64(rng.standard_normal(2)),) if bias else ())

    def fn(x, w, b=None):
        return mg.ops.conv2d(x, w, b, stride=s, padding=pad, dilation=d)

    assert gradcheck(fn, inputs)


@pytest.mark.parametrize("pad", ["valid", "same"])
def test_conv2d_fused_relu(pad, rng):
    x = t64(rng.standard_normal((2, 5, 5, 2)))
    w = t64(rng.standard_normal((3, 3, 2, 3)))
    b = t64(rng.standard_normal(3))
    fn = lambda x, w, b: mg.ops.conv2d(x, w, b, padding=pad, activation="relu")  # noqa: E731
    y = fn(x, w, b).numpy()
    assert (y == 0).any() and (y > 0).any()
    assert gradcheck(fn, (x, w, b))


# (input, kernel, conv padding, pool, pool stride, pool padding); the last two
# leave conv outputs no pool window reads (5x5 -> 2x2; 8 rows -> 3 windows of 3,
# stride 2), which the fused op does not compute
FUSED_CASES = [
    ((2, 6, 6, 1), 3, "valid", 2, None, "valid"),
    ((2, 7, 7, 1), 3, "same", 3, 2, "same"),
    ((2, 6, 6, 2), 3, "valid", 2, None, "valid"),
    ((2, 7, 6, 2), 2, "same", 2, None, "same"),
    ((2, 7, 7, 2), 3, "valid", 2, None, "valid"),
    ((2, 9, 8, 2), 2, "valid", 3, 2, "valid"),
]


@pytest.mark.parametrize("relu", [None, "relu"])
@pytest.mark.parametrize("xs,k,pad,pool,ps,ppad", FUSED_CASES)
def test_conv2d_maxpool_fused(xs, k, pad, pool, ps, ppad, relu, rng):
    x = t64(distinct(rng, xs, spacing=0.07))
    w = t64(rng.standard_normal((k, k, xs[3], 2)))
    b = t64(rng.standard_normal(2))

    def fused(x, w, b):
        return mg.ops.conv2d_maxpool(x, w, b, padding=pad, activation=relu, pool_size=pool,
                                     pool_stride=ps, pool_padding=ppad)

    def unfused(x, w, b):
        z = mg.ops.conv2d(x, w, b, padding=pad)
        z = z.relu() if relu else z
        return mg.ops.max_pool2d(z, pool, ps, ppad)

    np.testing.assert_allclose(fused(x, w, b).numpy(), unfused(x, w, b).numpy(), rtol=1e-12)
    assert gradcheck(fused, (x, w, b))


def test_conv2d_gradient_wrt_input_only(rng):
    x = t64(rng.standard_normal((1, 4, 4, 2)))
    w = t64(rng.standard_normal((3, 3, 2, 3)), requires_grad=False)
    assert gradcheck(lambda x: mg.ops.conv2d(x, w, padding="same"), (x,))
    assert w.grad is None


# -------------------------------------------------------------- max pool
# (input HxW, pool, stride, padding)
POOL_CASES = [
    ((4, 6), 2, None, "valid"),        # non-overlapping
    ((5, 6), 2, None, "valid"),        # leftover row dropped
    ((5, 6), 2, None, "same"),         # padded cells never win
    ((5, 7), 3, 2, "valid"),           # overlapping windows
    ((5, 7), 3, 2, "same"),
    ((6, 6), 3, 1, "same"),
    ((5, 6), (2, 3), (1, 2), "valid"),
    ((5, 6), (3, 1), (2, 1), "same"),
    ((6, 6), 2, 3, "valid"),           # gaps between windows
]


@pytest.mark.parametrize("hw,pool,stride,pad", POOL_CASES)
def test_max_pool2d(hw, pool, stride, pad, rng):
    x = t64(distinct(rng, (2,) + hw + (2,)))
    assert gradcheck(lambda x: mg.ops.max_pool2d(x, pool, stride, pad), (x,))


# ----------------------------------------------------------------- dense
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_dense(bias, rng):
    x = t64(rng.standard_normal((3, 4)))
    w = t64(rng.standard_normal((4, 5)))
    inputs = (x, w) + ((t64(rng.standard_normal(5)),) if bias else ())
    assert gradcheck(lambda x, w, b=None: mg.ops.dense(x, w, b), inputs)


def test_dense_fused_relu(rng):
    x = t64(rng.standard_normal((4, 3)))
    w = t64(rng.standard_normal((3, 5)))
    b = t64(rng.standard_normal(5))
    fn = lambda x, w, b: mg.ops.dense(x, w, b, activation="relu")  # noqa: E731
    y = fn(x, w, b).numpy()
    assert (y == 0).any() and (y > 0).any()
    np.testing.assert_allclose(y, np.maximum(x.numpy() @ w.numpy() + b.numpy(), 0))
    assert gradcheck(fn, (x, w, b))


# --------------------------------------------------------------- dropout
@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_dropout_fixed_seed(rate, rng):
    x = t64(rng.standard_normal((3, 7)))
    out = mg.ops.dropout(x, rate, training=True, seed=7).numpy()
    assert (out == 0).any() and (out != 0).any()  # a real mask, not identity
    assert gradcheck(lambda x: mg.ops.dropout(x, rate, training=True, seed=7), (x,))


# ------------------------------------------------------------------ loss
def test_softmax_cross_entropy_sparse(rng):
    logits = t64(rng.standard_normal((4, 5)))
    labels = np.array([0, 4, 2, 2])
    assert gradcheck(lambda z: mg.ops.softmax_cross_entropy(z, labels, sparse=True), (logits,))


def test_softmax_cross_entropy_dense(rng):
    logits = t64(rng.standard_normal((4, 5)))
    target = rng.uniform(0, 1, (4, 5))
    target /= target.sum(axis=1, keepdims=True)
    assert gradcheck(lambda z: mg.ops.softmax_cross_entropy(z, target), (logits,))


def test_softmax_cross_entropy_unnormalised_target(rng):
    # -sum(t * log_softmax(z)) for any t, not only distributions
    logits = t64(rng.standard_normal((3, 4)))
    target = rng.uniform(0, 2, (3, 4))
    assert gradcheck(lambda z: mg.ops.softmax_cross_entropy(z, target), (logits,))


@pytest.mark.parametrize("name", ["sparse_categorical_crossentropy", "categorical_crossentropy",
                                  "mse"])
def test_keras_losses_on_probabilities(name, rng):
    loss = mg.losses.get(name)
    p = rng.uniform(0.1, 1.0, (3, 4))
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([1, 0, 3]) if name.startswith("sparse") else np.eye(4)[[1, 0, 3]]
    assert gradcheck(lambda p: loss(y, p), (t64(p),))


# ----------------------------------------------------------- activations
ACTIVATIONS = {
    "relu": lambda x: mg.ops.relu(x),
    "sigmoid": lambda x: mg.ops.sigmoid(x),
    "tanh": lambda x: mg.ops.tanh(x),
    "softmax": lambda x: mg.ops.softmax(x),
    "softmax_axis0": lambda x: mg.ops.softmax(x, axis=0),
    "log_softmax": lambda x: mg.ops.log_softmax(x),
    "log_softmax_axis1": lambda x: mg.ops.log_softmax(x, axis=1),
    "linear": lambda x: mg.ops.activations.linear(x) * 1.0,
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation(name, rng):
    x = t64(distinct(rng, (2, 3, 4), spacing=0.1))
    assert gradcheck(ACTIVATIONS[name], (x,))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_activation_by_keras_name(name, rng):
    fn = mg.activations.get(name)
    x = t64(distinct(rng, (3, 4), spacing=0.1))
    assert gradcheck(lambda x: fn(x) * 1.0, (x,))


# --------------------------------------------------------- tensor ops
TENSOR_OPS = {
    "add_broadcast": (lambda a, b: a + b, (3, 4), (4,)),
    "sub_broadcast": (lambda a, b: a - b, (3, 1), (1, 4)),
    "mul_broadcast": (lambda a, b: a * b, (2, 3, 4), (3, 1)),
    "div_broadcast": (lambda a, b: a / b, (3, 4), (3, 1)),
    "pow_tensor": (lambda a, b: a ** b, (3, 4), (4,)),
    "matmul": (lambda a, b: a @ b, (3, 4), (4, 2)),
    "sum_mean": (lambda a, b: a.sum(axis=0) * b.mean(axis=1, keepdims=True), (3, 4), (2, 3)),
    "reshape_transpose": (lambda a, b: a.reshape(4, 3).T * b, (3, 4), (3, 4)),
    "exp_log": (lambda a, b: (a.exp() + b).log(), (3, 4), (3, 4)),
    "clip_pow": (lambda a, b: a.clip(0.6, 1.4) ** 3 + b ** 0.5, (3, 4), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(TENSOR_OPS))
def test_tensor_ops(name, rng):
    fn, sa, sb = TENSOR_OPS[name]
    a = t64(rng.uniform(0.5, 1.5, sa) + 0.003)
    b = t64(rng.uniform(0.5, 1.5, sb))
    assert gradcheck(fn, (a, b))


def test_layer_stack(rng):
    """conv -> relu -> pool -> flatten -> dense -> loss, end to end."""
    x = t64(rng.standard_normal((2, 6, 6, 1)))
    w1 = t64(rng.standard_normal((3, 3, 1, 2)))
    w2 = t64(rng.standard_normal((8, 3)))
    labels = np.array([0, 2])

    def fn(x, w1, w2):
        h = mg.ops.max_pool2d(mg.ops.conv2d(x, w1, padding="same").tanh(), 2)
        h = mg.ops.max_pool2d(h, 2, padding="same")   # (2, 2, 2, 2)
        return mg.ops.softmax_cross_entropy(mg.ops.dense(mg.ops.flatten(h), w2), labels,
                                            sparse=True)

    assert gradcheck(fn, (x, w1, w2))


# -------------------------------------------------- gradcheck catches bugs
class GoodSquare(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class BadSquare(GoodSquare):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x * grad  # wrong: should be 2 * x * grad


class BadSecondInput(mg.Function):
    """a * b with a wrong gradient only for b."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a + 0.1


def test_gradcheck_passes_correct_custom_function(rng):
    assert gradcheck(GoodSquare.apply, (t64(rng.standard_normal((2, 3))),)) is True


def test_gradcheck_raises_on_wrong_backward(rng):
    x = t64(rng.standard_normal((2, 3)))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(BadSquare.apply, (x,))
    assert issubclass(GradcheckError, AssertionError)


def test_gradcheck_returns_false_on_wrong_backward(rng):
    x = t64(rng.standard_normal((2, 3)))
    assert gradcheck(BadSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_names_the_wrong_input(rng):
    a, b = t64(rng.standard_normal(4)), t64(rng.standard_normal(4))
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(BadSecondInput.apply, (a, b))
    # with b constant, only a is checked, and a's gradient is right
    b_const = t64(b.numpy(), requires_grad=False)
    assert gradcheck(BadSecondInput.apply, (a, b_const))


def test_gradcheck_rejects_float32(rng):
    x = Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(GoodSquare.apply, (x,))


def test_gradcheck_restores_inputs(rng):
    x0 = rng.standard_normal((2, 3))
    x = t64(x0)
    gradcheck(GoodSquare.apply, (x,))
    np.testing.assert_array_equal(x.numpy(), x0)
