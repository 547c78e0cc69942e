"""gradcheck fails closed (issue 18.5): deliberately wrong backwards are caught,
NaN or infinity in either gradient is a failure, and bad tolerances or inputs
are a ValueError, never a vacuous True."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import GradcheckError, gradcheck


def leaf(a):
    return mg.Tensor(np.asarray(a, np.float64), requires_grad=True)


def square_with_backward(backward):
    """x*x whose backward is `backward(x, grad)`: the right one is 2*x*grad."""
    class Square(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return backward(x, grad)
    return Square.apply


RIGHT = square_with_backward(lambda x, g: 2 * x * g)
WRONG = {
    "scaled": square_with_backward(lambda x, g: 3 * x * g),
    "nan": square_with_backward(lambda x, g: np.full_like(x, np.nan)),
    "inf": square_with_backward(lambda x, g: np.full_like(x, np.inf)),
    "one_nan": square_with_backward(lambda x, g: np.where(x == x.flat[0], np.nan, 2 * x * g)),
    "zero": square_with_backward(lambda x, g: np.zeros_like(x)),
}


def test_the_right_backward_passes():
    assert gradcheck(RIGHT, (leaf([[0.5, -1.0], [2.0, 0.3]]),))


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_backward_fails(name):
    x = leaf([[0.5, -1.0], [2.0, 0.3]])
    with pytest.raises(GradcheckError, match="gradient of input 0"):
        gradcheck(WRONG[name], (x,))
    assert gradcheck(WRONG[name], (x,), raise_exception=False) is False


def test_nan_in_the_numerical_gradient_fails():
    x = leaf([0.5, 1.0])
    # sqrt(x - 0.5) at x = 0.5: the minus side of the difference is NaN
    with pytest.raises(GradcheckError, match="not finite"):
        gradcheck(lambda t: (t - 0.5) ** 0.5, (x,))


def test_an_output_cut_from_the_graph_fails():
    x = leaf([1.0, 2.0])
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: (t * t).detach(), (x,))


@pytest.mark.parametrize("kw", [
    {"eps": 0}, {"eps": 0.0}, {"eps": -1e-6}, {"eps": float("nan")}, {"eps": float("inf")},
    {"eps": "1e-6"}, {"eps": True}, {"atol": float("nan")}, {"atol": -1.0},
    {"atol": float("inf")}, {"rtol": float("nan")}, {"rtol": -0.1}, {"rtol": float("inf")},
])
def test_bad_tolerances_are_a_value_error_naming_the_argument(kw):
    (name,) = kw
    with pytest.raises(ValueError, match=f"`{name}` must be a finite number"):
        gradcheck(WRONG["scaled"], (leaf([1.0, 2.0]),), **kw)


def test_a_zero_atol_or_rtol_is_allowed():
    x = leaf([1.0, 2.0])
    assert gradcheck(RIGHT, (x,), atol=0.0, rtol=1e-6) is True
    assert gradcheck(RIGHT, (x,), atol=1e-6, rtol=0.0) is True


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_an_input_holding_nan_or_inf_is_a_value_error(bad):
    with pytest.raises(ValueError, match="input 0 holds NaN or infinite"):
        gradcheck(WRONG["scaled"], (leaf([1.0, bad]),))
    other = mg.Tensor(np.array([bad, 1.0]))        # a constant input too
    with pytest.raises(ValueError, match="input 1 holds NaN or infinite"):
        gradcheck(lambda a, b: a * b, (leaf([1.0, 2.0]), other))
