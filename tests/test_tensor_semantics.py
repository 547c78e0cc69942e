"""Tensor and autograd edge cases against PyTorch's semantics (issues 10.2, 18.4):
second backward and retain_graph, gradient ownership and dtype, the seed
gradient's shape, the constructor's dtype policy and copying, operators with
None, power with a tensor exponent, reshape's dims, custom Functions that
return Tensors. PyTorch is the oracle where installed; each test also holds
hand-computed values, so it runs without it."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import Tensor
from minigrad.tensor import as_tensor

try:
    import torch
except ImportError:  # the hand-computed values still run
    torch = None

def leaf(a, dtype=np.float64):
    return Tensor(np.asarray(a, dtype), requires_grad=True)


# ------------------------------------------------------- second backward
def test_second_backward_through_a_freed_graph_raises_naming_retain_graph():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    (2 * y).sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (3 * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0, 12.0])  # untouched by the failure
    if torch is not None:  # the oracle raises the same way
        xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        yt = xt * xt
        (2 * yt).sum().backward()
        with pytest.raises(RuntimeError, match="retain_graph=True"):
            (3 * yt).sum().backward()


def test_retain_graph_accumulates_like_torch():
    x0 = np.array([1.0, 2.0, 3.0])
    x = leaf(x0)
    y = x * x
    (2 * y).sum().backward(retain_graph=True)
    (3 * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 10 * x0)  # 4x + 6x
    if torch is not None:
        xt = torch.tensor(x0, requires_grad=True)
        yt = xt * xt
        (2 * yt).sum().backward(retain_graph=True)
        (3 * yt).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("retain", [False, True])
def test_intermediate_nodes_never_become_leaves_with_a_grad(retain):
    x = leaf([1.0, 2.0])
    y = x * x
    loss = (y * 2).sum()
    loss.backward(retain_graph=retain)
    assert not y.is_leaf and y.grad is None and y.requires_grad
    assert not loss.is_leaf and loss.grad is None
    if retain:
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])


def test_backward_twice_on_the_same_scalar_raises():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


# ------------------------------------------------- gradient ownership
def test_leaf_grads_do_not_alias_the_callers_gradient_or_each_other():
    p, q = leaf(np.ones(3)), leaf(np.ones(3))
    g = np.array([1.0, 2.0, 3.0])
    (p + q).backward(g)
    for a, b in [(p.grad.data, g), (q.grad.data, g), (p.grad.data, q.grad.data)]:
        assert not np.shares_memory(a, b)
    g[:] = 100.0                      # the caller reuses its array
    p.grad.data[0] = -1.0             # and someone writes into one grad
    np.testing.assert_array_equal(q.grad.numpy(), [1.0, 2.0, 3.0])


def test_a_leaf_backward_with_a_gradient_owns_its_grad():
    x = leaf([1.0, 2.0])
    g = np.array([5.0, 6.0])
    x.backward(g)
    assert not np.shares_memory(x.grad.data, g)
    first = x.grad.data
    x.backward(g)                     # accumulates into a new array
    np.testing.assert_array_equal(first, [5.0, 6.0])
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 12.0])


def test_float32_leaf_gets_a_float32_grad_from_a_float64_gradient():
    x = leaf([1.0, 2.0], np.float32)
    (x * 3).backward(np.array([1.0, 1.0], np.float64))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    if torch is not None:  # torch casts the same way
        xt = torch.tensor([1.0, 2.0], requires_grad=True)
        (xt * 3).backward(torch.ones(2, dtype=torch.float64))
        assert xt.grad.dtype == torch.float32


class UpcastingBackward(mg.Function):
    """A custom op whose backward returns float64 for a float32 input."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(np.float64) * 2


def test_a_custom_backward_in_another_dtype_is_cast_to_the_inputs():
    x = leaf([1.0, 2.0], np.float32)
    (UpcastingBackward.apply(x) * 1).sum().backward()
    assert x.grad.dtype == np.float32 and isinstance(x.grad.data, np.ndarray)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("shape", [(1,), (2, 3), ()])
def test_a_broadcastable_but_wrong_shaped_gradient_raises_mismatch(shape):
    x = leaf(np.ones(3))
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(np.ones(shape))
    assert x.grad is None
    if torch is not None:
        xt = torch.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="Mismatch in shape"):
            (xt * 2).backward(torch.ones(shape))


# ------------------------------------------- custom Functions return Tensors
class TensorReturning(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return Tensor(x * 3)          # a Tensor, not an array

    @staticmethod
    def backward(ctx, grad):
        return Tensor(grad * 3)


def test_custom_function_returning_tensors_leaves_no_tensor_inside_grad():
    x = leaf([1.0, 2.0])
    y = TensorReturning.apply(x)
    assert isinstance(y.data, np.ndarray)
    y.sum().backward()
    assert isinstance(x.grad, Tensor) and isinstance(x.grad.data, np.ndarray)
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


class ListReturning(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return [grad]


def test_custom_backward_returning_a_list_is_a_clear_type_error():
    x = leaf([1.0])
    with pytest.raises(TypeError, match="ListReturning.backward must return arrays"):
        ListReturning.apply(x).sum().backward()


# --------------------------------------------------------- constructor
def test_constructor_dtype_policy_matches_torch_tensor():
    assert Tensor(1.5).dtype == np.float32            # torch.tensor(1.5): float32
    assert Tensor([1.5, 2.5]).dtype == np.float32
    assert Tensor(np.float64(1.5)).dtype == np.float64
    assert Tensor(np.ones(3)).dtype == np.float64     # float64 arrays kept (gradcheck)
    assert Tensor(np.ones(3, np.float32)).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.float32         # floats only: ints become float32
    assert Tensor(np.ones(2, np.float16), dtype="float32").dtype == np.float32
    if torch is not None:
        assert torch.tensor(1.5).dtype == torch.float32
        assert torch.tensor([1.5, 2.5]).dtype == torch.float32
        assert torch.tensor(np.float64(1.5)).dtype == torch.float64
        assert torch.tensor(np.ones(3)).dtype == torch.float64


@pytest.mark.parametrize("data,fragment", [
    (None, "got None"),
    ("abc", "got <U3"),
    (np.array([None, 1.0]), "got object"),
    ([1 + 2j], "complex data (complex128) is not supported"),
    (np.ones(2, np.complex64), "complex data (complex64)"),
    (np.ones(2, np.float16), "float16 data is not supported"),
])
def test_unsupported_data_is_a_type_error(data, fragment):
    with pytest.raises(TypeError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        Tensor(data)


@pytest.mark.parametrize("dtype", ["int64", np.float16, "complex64", "object", "nonsense"])
def test_dtype_argument_must_be_float32_or_float64(dtype):
    with pytest.raises(TypeError, match="`dtype` must be float32 or float64"):
        Tensor([1.0], dtype=dtype)


def test_ragged_lists_are_a_value_error():
    with pytest.raises(ValueError, match="rectangular"):
        Tensor([[1.0, 2.0], [3.0]])


def test_constructor_copies_so_mutating_the_array_after_forward_keeps_the_gradient():
    w = np.array([1.0, 2.0, 3.0])
    x = leaf([1.0, 1.0, 1.0])
    for make in (Tensor, lambda a: a):             # Tensor(w), and w lifted by x * w
        w[:] = [1.0, 2.0, 3.0]
        x.grad = None
        loss = (x * make(w)).sum()
        w[:] = 0.0                                  # after the forward
        loss.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])
    if torch is not None:  # torch.tensor copies too
        a = np.ones(3)
        t = torch.tensor(a)
        a[0] = 5.0
        assert t[0].item() == 1.0


def test_as_tensor_shares_a_float_array_like_torch_as_tensor():
    a = np.ones(3, np.float32)
    t = as_tensor(a)
    a[0] = 5.0
    assert t.numpy()[0] == 5.0


def test_integer_data_through_sigmoid_and_softmax_is_float32_like_torch_sigmoid():
    t = Tensor(np.array([1, 2]))
    s = t.sigmoid()
    assert s.dtype == np.float32
    np.testing.assert_allclose(s.numpy(), 1 / (1 + np.exp(-np.array([1.0, 2.0]))), rtol=1e-6)
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(t.softmax().numpy(), e / e.sum(), rtol=1e-6)
    if torch is not None:
        np.testing.assert_allclose(s.numpy(), torch.sigmoid(torch.tensor([1, 2])).numpy(),
                                   rtol=1e-6)


# ----------------------------------------------------------- operators
@pytest.mark.parametrize("other", [None, "a", 1j, object()])
def test_arithmetic_with_a_non_number_is_pythons_type_error(other):
    t = Tensor([1.0, 2.0])
    for op in (lambda: t + other, lambda: other + t, lambda: t * other, lambda: other - t,
               lambda: t / other, lambda: t ** other, lambda: other ** t):
        with pytest.raises(TypeError):  # Python's own message, as for a torch.Tensor
            op()


def test_negative_base_to_a_tensor_power_is_numpys():
    assert ((-2) ** Tensor(2.0)).item() == 4.0
    assert (Tensor(-2.0) ** Tensor(2.0)).item() == 4.0
    assert (np.float64(-2.0) ** Tensor(3.0)).item() == -8.0
    assert np.isnan((Tensor(-2.0) ** Tensor(0.5)).item())  # as NumPy and torch


def test_tensor_power_gradients_match_torch_at_zero_and_negative_bases():
    base, expo = np.array([-2.0, 0.0, 3.0, 0.0, 2.0]), np.array([2.0, 2.0, 0.5, 0.0, 0.0])
    b, e = leaf(base), leaf(expo)
    (b ** e).sum().backward()
    # d/db = e*b^(e-1) (0 where e == 0); d/de = b^e*log(b) (0 where b == 0 and e >= 0)
    want_b = [-4.0, 0.0, 0.5 / np.sqrt(3.0), 0.0, 0.0]
    want_e = [np.nan, 0.0, np.sqrt(3.0) * np.log(3.0), 0.0, np.log(2.0)]
    np.testing.assert_allclose(b.grad.numpy(), want_b, rtol=1e-12)
    np.testing.assert_allclose(e.grad.numpy(), want_e, rtol=1e-12)
    if torch is not None:
        bt = torch.tensor(base, requires_grad=True)
        et = torch.tensor(expo, requires_grad=True)
        (bt ** et).sum().backward()
        np.testing.assert_allclose(b.grad.numpy(), bt.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(e.grad.numpy(), et.grad.numpy(), rtol=1e-12)


def test_scalar_base_power_gradient_and_gradcheck(rng):
    x = leaf(rng.uniform(-1, 1, (2, 3)))
    assert mg.testing.gradcheck(lambda t: 3.0 ** t, (x,))
    assert mg.testing.gradcheck(lambda t, u: (t * t + 0.5) ** u,
                                (x, leaf(rng.uniform(-2, 2, (3,)))))


# -------------------------------------------------------------- reshape
@pytest.mark.parametrize("shape,exc", [((2.7, 3), TypeError), ((True, 6), TypeError),
                                       (("2", 3), TypeError), ((-2, -3), ValueError)])
def test_reshape_dims_must_be_ints(shape, exc):
    with pytest.raises(exc, match="reshape"):
        Tensor(np.ones(6)).reshape(*shape)


def test_reshape_accepts_numpy_ints_and_minus_one():
    t = Tensor(np.ones(6))
    assert t.reshape(np.int64(2), 3).shape == (2, 3)
    assert t.reshape((3, -1)).shape == (3, 2)


# ------------------------------------------------------ axes of sum / mean / transpose
@pytest.mark.parametrize("call,exc,fragment", [
    (lambda t: t.sum(axis=2.5), TypeError,
     "sum: `axis` must be None, an int or a tuple of ints, got 2.5"),
    (lambda t: t.mean(axis=(0, 1.0)), TypeError, "mean: `axis` must be None, an int or a tuple"),
    (lambda t: t.sum(axis="0"), TypeError, "sum: `axis` must be None"),
    (lambda t: t.sum(axis=True), TypeError, "sum: `axis` must be None"),
    (lambda t: t.sum(axis=(1, -2, 1)), ValueError, "names an axis more than once"),
    (lambda t: t.sum(axis=5), ValueError, "axis 5 is out of range for a tensor of rank 3"),
    (lambda t: t.transpose(1.5, 0, 2), ValueError, "`axes` must be a permutation of the 3 axes"),
    (lambda t: t.transpose(0, 1), ValueError, "got (0, 1)"),
    (lambda t: t.transpose(0, 0, 1), ValueError, "permutation"),
    (lambda t: t.transpose(0, 1, 3), ValueError, "permutation"),
])
def test_bad_axes_are_clear_errors(call, exc, fragment):
    """As torch.sum(dim=2.5) and np.transpose with a wrong permutation refuse them; once
    Python's "'float' object is not iterable" came out of sum(axis=2.5)."""
    with pytest.raises(exc, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call(Tensor(np.ones((2, 3, 4))))


def test_numpy_int_and_negative_axes_work():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = Tensor(a)
    np.testing.assert_array_equal(t.sum(axis=np.int64(1)).numpy(), a.sum(axis=1))
    np.testing.assert_array_equal(t.mean(axis=[np.int32(0), -1]).numpy(), a.mean(axis=(0, 2)))
    np.testing.assert_array_equal(t.transpose(np.int64(2), 0, -2).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.transpose([1, 0, 2]).numpy(), a.transpose(1, 0, 2))
    assert t.T.shape == (4, 3, 2)


# ------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       dtype=st.sampled_from([np.float32, np.float64]),
       op=st.sampled_from(["add", "sub", "mul"]), seed=st.integers(0, 2**16))
def test_property_backward_ownership_dtype_and_retain_graph(shapes, dtype, op, seed):
    """For any broadcast pair: each leaf's grad has its shape and dtype, shares no
    memory with the caller's gradient or the other grad, and a retained second
    backward adds exactly the same gradient again."""
    rng = np.random.default_rng(seed)
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a, b = leaf(rng.standard_normal(sa), dtype), leaf(rng.standard_normal(sb), np.float64)
    out = {"add": a + b, "sub": a - b, "mul": a * b}[op]
    g = rng.standard_normal(out_shape)
    out.backward(g, retain_graph=True)
    first = [a.grad.numpy().copy(), b.grad.numpy().copy()]
    for t, shape, want in ((a, sa, dtype), (b, sb, np.float64)):
        assert t.grad.shape == shape and t.grad.dtype == want
        assert not np.shares_memory(t.grad.data, g)
    assert not np.shares_memory(a.grad.data, b.grad.data)
    out.backward(g)
    np.testing.assert_array_equal(a.grad.numpy(), first[0] + first[0])
    np.testing.assert_array_equal(b.grad.numpy(), first[1] + first[1])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        out.backward(g)


@settings(max_examples=40, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
       other=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
def test_property_a_gradient_of_another_shape_always_raises(shape, other):
    x = leaf(np.ones(shape))
    y = x * 2
    if tuple(other) == tuple(shape):
        y.backward(np.ones(other))
        np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 2.0))
    else:
        with pytest.raises(RuntimeError, match="Mismatch in shape"):
            y.backward(np.ones(other))
