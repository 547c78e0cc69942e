"""Kernel bodies of Keras's elementwise activations beyond relu/sigmoid/tanh/gelu,
and sparsemax's row bodies; compiled for both backends with those of bodies.py.

Formulas as keras.activations (Keras 3, checked against its JAX backend), each
forward `f(x, a, b)` with its derivative `df(saved, g, a, b)`; a and b are the
parameters named in the op's ELEMENTWISE row. NaN in, NaN out: comparisons are
written so that a NaN takes the branch that returns x (or a NaN of it), where
Keras's `where(x > t, ...)` would return a constant.
"""
from __future__ import annotations

import math

from .bodies import ELEMENTWISE, Elementwise, body, sigmoid

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = 0.7978845608028654   # sqrt(2 / pi), the tanh form of GELU
GELU_CUBIC = 0.044715


@body
def softplus_value(x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return (x if x > 0 else 0.0) + math.log1p(math.exp(-abs(x)))


# ------------------------------------------------------------- piecewise linear
@body
def leaky_relu(x, a, b):
    return a * x if x < 0 else x


@body
def leaky_relu_grad(x, g, a, b):
    return a * g if x < 0 else g


@body
def relu6(x, a, b):
    return 0.0 if x <= 0 else (6.0 if x >= 6 else x)


@body
def relu6_grad(x, g, a, b):
    return g if 0 < x < 6 else 0.0


@body
def hard_sigmoid(x, a, b):
    """relu6(x + 3) / 6."""
    return 0.0 if x <= -3 else (1.0 if x >= 3 else x / 6.0 + 0.5)


@body
def hard_sigmoid_grad(x, g, a, b):
    return g / 6.0 if -3 < x < 3 else 0.0


@body
def hard_silu(x, a, b):
    """x * hard_sigmoid(x) (hard_swish)."""
    return x * hard_sigmoid(x, a, b)


@body
def hard_silu_grad(x, g, a, b):
    return 0.0 if x <= -3 else (g if x >= 3 else g * (2.0 * x + 3.0) / 6.0)


@body
def hard_tanh(x, a, b):
    return -1.0 if x <= -1 else (1.0 if x >= 1 else x)


@body
def hard_tanh_grad(x, g, a, b):
    return g if -1 < x < 1 else 0.0


@body
def sparse_sigmoid(x, a, b):
    return 0.0 if x <= -1 else (1.0 if x >= 1 else 0.5 * (x + 1.0))


@body
def sparse_sigmoid_grad(x, g, a, b):
    return 0.5 * g if -1 < x < 1 else 0.0


@body
def sparse_plus(x, a, b):
    return 0.0 if x <= -1 else (x if x >= 1 else 0.25 * (x + 1.0) * (x + 1.0))


@body
def sparse_plus_grad(x, g, a, b):
    return 0.0 if x <= -1 else (g if x >= 1 else 0.5 * (x + 1.0) * g)


@body
def soft_shrink(x, a, b):
    """x - a above a, x + a below -a, 0 between (a: the threshold)."""
    return 0.0 if -a <= x <= a else (x - a if x > a else x + a)


@body
def soft_shrink_grad(x, g, a, b):
    return 0.0 if -a <= x <= a else g


@body
def hard_shrink(x, a, b):
    """x where |x| > a, else 0."""
    return 0.0 if abs(x) <= a else x


@body
def hard_shrink_grad(x, g, a, b):
    return 0.0 if abs(x) <= a else g


@body
def threshold(x, a, b):
    """x where x > a, else b (the default value)."""
    return b if x <= a else x


@body
def threshold_grad(x, g, a, b):
    return 0.0 if x <= a else g


# ---------------------------------------------------------------- exponential
@body
def elu(x, a, b):
    """x above 0, else a * (exp(x) - 1)."""
    return a * math.expm1(x) if x <= 0 else x


@body
def elu_grad(x, g, a, b):
    return g * a * math.exp(x) if x <= 0 else g


@body
def selu(x, a, b):
    return SELU_SCALE * (SELU_ALPHA * math.expm1(x) if x <= 0 else x)


@body
def selu_grad(x, g, a, b):
    return g * SELU_SCALE * (SELU_ALPHA * math.exp(x) if x <= 0 else 1.0)


@body
def celu(x, a, b):
    """x above 0, else a * (exp(x / a) - 1)."""
    return a * math.expm1(x / a) if x <= 0 else x


@body
def celu_grad(x, g, a, b):
    return g * math.exp(x / a) if x <= 0 else g


@body
def exponential(x, a, b):
    return math.exp(x)


@body
def exponential_grad(y, g, a, b):
    return g * y


# ------------------------------------------------------------------- smooth
@body
def softplus(x, a, b):
    return softplus_value(x)


@body
def softplus_grad(x, g, a, b):
    return g * sigmoid(x, a, b)


@body
def log_sigmoid(x, a, b):
    """-softplus(-x)."""
    return -softplus_value(-x)


@body
def log_sigmoid_grad(x, g, a, b):
    return g * sigmoid(-x, a, b)


@body
def softsign(x, a, b):
    return x / (abs(x) + 1.0)


@body
def softsign_grad(x, g, a, b):
    d = abs(x) + 1.0
    return g / (d * d)


@body
def silu(x, a, b):
    """x * sigmoid(x) (swish)."""
    return x * sigmoid(x, a, b)


@body
def silu_grad(x, g, a, b):
    s = sigmoid(x, a, b)
    return g * s * (1.0 + x * (1.0 - s))


@body
def mish(x, a, b):
    """x * tanh(softplus(x))."""
    return x * math.tanh(softplus_value(x))


@body
def mish_grad(x, g, a, b):
    t = math.tanh(softplus_value(x))
    return g * (t + x * (1.0 - t * t) * sigmoid(x, a, b))


@body
def squareplus(x, a, b):
    """(x + sqrt(x**2 + a)) / 2 (a: Keras's b)."""
    return 0.5 * (x + math.sqrt(x * x + a))


@body
def squareplus_grad(x, g, a, b):
    return 0.5 * g * (1.0 + x / math.sqrt(x * x + a))


@body
def tanh_shrink(x, a, b):
    return x - math.tanh(x)


@body
def tanh_shrink_grad(x, g, a, b):
    t = math.tanh(x)
    return g * t * t


@body
def gelu_tanh(x, a, b):
    """Keras's gelu(approximate=True): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + math.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)))


@body
def gelu_tanh_grad(x, g, a, b):
    t = math.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x))
    dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x)
    return g * (0.5 * (1.0 + t) + 0.5 * x * dt)


ELEMENTWISE.update({
    "leaky_relu": Elementwise(leaky_relu, leaky_relu_grad, "x", (("negative_slope", 0.2),)),
    "relu6": Elementwise(relu6, relu6_grad, "x"),
    "hard_sigmoid": Elementwise(hard_sigmoid, hard_sigmoid_grad, "x"),
    "hard_silu": Elementwise(hard_silu, hard_silu_grad, "x"),
    "hard_tanh": Elementwise(hard_tanh, hard_tanh_grad, "x"),
    "sparse_sigmoid": Elementwise(sparse_sigmoid, sparse_sigmoid_grad, "x"),
    "sparse_plus": Elementwise(sparse_plus, sparse_plus_grad, "x"),
    "soft_shrink": Elementwise(soft_shrink, soft_shrink_grad, "x", (("threshold", 0.5),)),
    "hard_shrink": Elementwise(hard_shrink, hard_shrink_grad, "x", (("threshold", 0.5),)),
    "threshold": Elementwise(threshold, threshold_grad, "x",
                             (("threshold", 0.0), ("default_value", 0.0))),
    "elu": Elementwise(elu, elu_grad, "x", (("alpha", 1.0),)),
    "selu": Elementwise(selu, selu_grad, "x"),
    "celu": Elementwise(celu, celu_grad, "x", (("alpha", 1.0),)),
    "exponential": Elementwise(exponential, exponential_grad, "y"),
    "softplus": Elementwise(softplus, softplus_grad, "x"),
    "log_sigmoid": Elementwise(log_sigmoid, log_sigmoid_grad, "x"),
    "softsign": Elementwise(softsign, softsign_grad, "x"),
    "silu": Elementwise(silu, silu_grad, "x"),
    "mish": Elementwise(mish, mish_grad, "x"),
    "squareplus": Elementwise(squareplus, squareplus_grad, "x", (("b", 4.0),)),
    "tanh_shrink": Elementwise(tanh_shrink, tanh_shrink_grad, "x"),
    "gelu_tanh": Elementwise(gelu_tanh, gelu_tanh_grad, "x"),
})


# ------------------------------------------------------------------ sparsemax
@body
def sparsemax_row(x, y, r):
    """Euclidean projection of row r onto the simplex (Martins & Astudillo):
    y = max(x - tau, 0), tau from the support {j : 1 + k_j x_j > s_j}, k_j and
    s_j the count and sum of the entries >= x_j. O(K^2) without a sort, which a
    GPU thread has no room for; K is a class count. A NaN makes the row NaN.
    (Keras 3.15's own formula sums the cumulative sums over the support, which
    is not the projection: its sparsemax([1, 1.2, 1.5]) is all zeros.)"""
    k = x.shape[1]
    best_k = 0.0
    best_s = 0.0
    bad = False
    for j in range(k):
        xj = x[r, j]
        bad = bad or xj != xj
        cnt = 0.0
        s = 0.0
        for i in range(k):
            if x[r, i] >= xj:
                cnt += 1.0
                s += x[r, i]
        if 1.0 + cnt * xj > s and cnt > best_k:
            best_k = cnt
            best_s = s
    tau = (best_s - 1.0) / best_k if best_k > 0 else math.nan
    for j in range(k):
        v = x[r, j] - tau
        y[r, j] = math.nan if bad else (v if v > 0 else 0.0)


@body
def sparsemax_grad_row(y, gy, gx, r):
    """On the support (y > 0): gy minus its mean over the support; 0 elsewhere."""
    cnt = 0.0
    s = 0.0
    for j in range(y.shape[1]):
        if y[r, j] > 0:
            cnt += 1.0
            s += gy[r, j]
    mean = s / cnt if cnt > 0 else 0.0
    for j in range(y.shape[1]):
        v = y[r, j]
        gx[r, j] = gy[r, j] - mean if v > 0 else (0.0 if v <= 0 else v)  # NaN stays NaN
