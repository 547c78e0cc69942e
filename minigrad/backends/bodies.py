"""Kernel bodies written once, compiled for both backends.

Each body is plain Python on scalars (or on one row of a 2-D array), using only
`math` and NumPy scalar types. `compile_bodies(jit)` compiles all of them with
one decorator: `numba.njit(inline="always")` for the CPU (cpu/kernels.py),
`cuda.jit(device=True)` for the GPU (cuda/kernels.py); calls between bodies are
bound to the same target. The backends keep only their loop structure (prange
over rows vs one GPU thread per element) and the launch, so a formula, its NaN
behaviour and its float64 accumulators cannot drift between the CPU and CUDA.

Elementwise ops (the activations) are registered in ELEMENTWISE with their
forward and backward bodies, `f(x, a, b)` and `df(saved, g, a, b)`: a and b are
the op's parameters (ELU's alpha, threshold's value), ignored by most. Both
backends build their kernels from that table, so a new elementwise op needs a
forward/backward pair here (or in activation_bodies.py), the two named entries
of backends/elementwise.py, its op and its test (docs/architecture.md).
Bodies of other modules (activation_bodies.py, ...) register with the same
`body` decorator and are compiled with these.

NaN: every body propagates it as np.maximum / PyTorch do. Comparisons are
written so that a NaN operand takes the NaN branch (`0 if x <= 0 else x` keeps
NaN: NaN <= 0 is false) and remain selects, not branches, so loops vectorise.
"""
from __future__ import annotations

import math
import types
from typing import Callable, NamedTuple

import numpy as np

SQRT_HALF = 0.7071067811865476      # 1 / sqrt(2)
INV_SQRT_2PI = 0.3989422804014327   # 1 / sqrt(2 pi)
BODIES: dict = {}                   # name -> body, in definition order


def body(fn: Callable) -> Callable:
    """Mark fn as a body, compiled for both targets by compile_bodies."""
    if fn.__name__ in BODIES:
        raise ValueError(f"two kernel bodies named {fn.__name__!r}")
    BODIES[fn.__name__] = fn
    return fn


# ----------------------------------------------------------------- activations
@body
def relu(x, a, b):
    return 0.0 if x <= 0 else x          # NaN <= 0 is false: NaN stays NaN


@body
def relu_grad(y, g, a, b):
    """From the output y (PyTorch's threshold_backward: y <= 0 blocks the gradient)."""
    return 0.0 if y <= 0 else g


@body
def sigmoid(x, a, b):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)                      # no overflow of exp for large negative x; NaN too
    return e / (1.0 + e)


@body
def sigmoid_grad(y, g, a, b):
    return g * y * (1.0 - y)


@body
def tanh(x, a, b):
    return math.tanh(x)


@body
def tanh_grad(y, g, a, b):
    return g * (1.0 - y * y)


@body
def gelu(x, a, b):
    """x * Phi(x), the exact (erf) form: Keras's gelu(approximate=False)."""
    return 0.5 * x * (1.0 + math.erf(x * SQRT_HALF))


@body
def gelu_grad(x, g, a, b):
    """From the input x: Phi(x) + x * phi(x)."""
    return g * (0.5 * (1.0 + math.erf(x * SQRT_HALF)) + x * INV_SQRT_2PI * math.exp(-0.5 * x * x))


class Elementwise(NamedTuple):
    forward: Callable    # y = forward(x, a, b)
    backward: Callable   # gx = backward(saved, gy, a, b)
    saves: str           # what backward reads: "y" (the output) or "x" (the input)
    params: tuple = ()   # ((name, default), ...) of a and b, in order; () for none


ELEMENTWISE = {
    "relu": Elementwise(relu, relu_grad, "y"),
    "sigmoid": Elementwise(sigmoid, sigmoid_grad, "y"),
    "tanh": Elementwise(tanh, tanh_grad, "y"),
    "gelu": Elementwise(gelu, gelu_grad, "x"),
}


@body
def relu_if(v, on):
    """The fused epilogue's activation: relu(v) if `on`, else v."""
    return relu(v, 0.0, 0.0) if on else v


@body
def pool_takes(v, best):
    """Max-pool's compare: v replaces the window's best so far if larger, or if NaN
    (a NaN anywhere in the window wins, as in PyTorch; NaN > x is false for any x)."""
    return (v > best) | (v != v)


# ------------------------------------------------------------------ row bodies
# (rows, K) arrays, one row r at a time: softmax and friends over the last axis.
@body
def log_sum_exp(x, r):
    """log(sum(exp(x[r]))), with the row's max subtracted first: finite for any
    finite row. A NaN anywhere makes the sum, and so the result, NaN."""
    m = x[r, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[r, j])
    s = 0.0
    for j in range(x.shape[1]):
        s += math.exp(x[r, j] - m)
    return m + math.log(s)


@body
def softmax_row(x, y, r):
    lse = log_sum_exp(x, r)
    for j in range(x.shape[1]):
        y[r, j] = math.exp(x[r, j] - lse)


@body
def softmax_grad_row(y, gy, gx, r):
    d = 0.0
    for j in range(y.shape[1]):
        d += gy[r, j] * y[r, j]
    for j in range(y.shape[1]):
        gx[r, j] = y[r, j] * (gy[r, j] - d)


@body
def log_softmax_row(x, y, r):
    lse = log_sum_exp(x, r)
    for j in range(x.shape[1]):
        y[r, j] = x[r, j] - lse


@body
def log_softmax_grad_row(y, gy, gx, r):
    s = 0.0
    for j in range(y.shape[1]):
        s += gy[r, j]
    for j in range(y.shape[1]):
        gx[r, j] = gy[r, j] - math.exp(y[r, j]) * s


@body
def softmax_cross_entropy_row(logits, target, probs, loss, r):
    """loss[r] = -sum(target * log_softmax(logits)); probs = softmax(logits), from
    the logits through log_sum_exp (no log of an underflowed probability)."""
    lse = log_sum_exp(logits, r)
    acc = 0.0
    for j in range(logits.shape[1]):
        probs[r, j] = math.exp(logits[r, j] - lse)
        acc -= target[r, j] * (logits[r, j] - lse)
    loss[r] = acc


@body
def softmax_cross_entropy_grad_row(probs, target, gloss, glogits, r):
    """d loss[r] / d logits[r, j] = (probs * sum(target[r]) - target), times gloss[r]."""
    t = 0.0
    for j in range(probs.shape[1]):
        t += target[r, j]
    for j in range(probs.shape[1]):
        glogits[r, j] = gloss[r] * (probs[r, j] * t - target[r, j])


@body
def argmax_row(x, r):
    """The index of row r's first maximum; a NaN counts as the maximum (as NumPy)."""
    best = 0
    for j in range(1, x.shape[1]):
        v, b = x[r, j], x[r, best]
        if (v > b) | ((v != v) & (b == b)):
            best = j
    return best


EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL = range(6)
COMPARISONS = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")


@body
def compare(x, y, op):
    """x op y for the op codes above (IEEE: NaN is unequal to everything)."""
    if op == EQUAL:
        return x == y
    if op == NOT_EQUAL:
        return x != y
    if op == LESS:
        return x < y
    if op == LESS_EQUAL:
        return x <= y
    if op == GREATER:
        return x > y
    return x >= y


# ---------------------------------------------------------------------- dropout
@body
def uniform(seed, i):
    """Counter-based uniform in [0, 1): splitmix64 of (seed, i), top 24 bits.

    The same mask comes out for a given (seed, i) on any thread count and on
    either backend, and backward recomputes it instead of storing it.
    """
    z = seed + np.uint64(i) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float32(z >> np.uint64(40)) * np.float32(1.0 / 16777216.0)


@body
def dropout_value(x, i, rate, scale, seed):
    """x * scale where uniform(seed, i) >= rate, else x * 0 (a dropped NaN stays NaN,
    as in PyTorch and TensorFlow, which multiply by the mask)."""
    return x * (scale if uniform(seed, i) >= rate else 0.0)


# ------------------------------------------------------------------- optimizers
@body
def adam_step(p, g, m, v, lr_t, beta_1, beta_2, epsilon):
    """Keras's Adam for one element -> (p, m, v); lr_t already bias-corrected."""
    m = beta_1 * m + (1.0 - beta_1) * g
    v = beta_2 * v + (1.0 - beta_2) * g * g
    return p - lr_t * m / (math.sqrt(v) + epsilon), m, v


@body
def prepare(p, g, scale, clip, decay):
    """What every update does first -> (p, g): the gradient scaled (clipnorm,
    global_clipnorm: scale != 1) and clipped to [-clip, clip] (clipvalue: clip > 0;
    NaN stays NaN), then the decoupled weight decay p -= p * decay (decay = lr * wd),
    as Keras's optimizers do. The defaults (1, 0, 0) change nothing, bit for bit."""
    if scale != 1.0:
        g = g * scale
    if clip > 0.0:
        g = -clip if g < -clip else (clip if g > clip else g)
    if decay != 0.0:
        p = p - p * decay
    return p, g


@body
def adam_amsgrad_step(p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon):
    """Adam with amsgrad -> (p, m, v, vhat): the step divides by sqrt(max(vhat, v))."""
    m = beta_1 * m + (1.0 - beta_1) * g
    v = beta_2 * v + (1.0 - beta_2) * g * g
    vhat = max(vhat, v) if vhat == vhat else vhat  # NaN stays NaN
    return p - lr_t * m / (math.sqrt(vhat) + epsilon), m, v, vhat


@body
def rmsprop_step(p, g, velocity, mom, avg, lr, rho, momentum, epsilon, centered):
    """Keras's RMSprop -> (p, velocity, mom, avg): v = rho v + (1 - rho) g^2; with
    `centered`, avg = rho avg + (1 - rho) g and the denominator v - avg^2 + eps;
    increment lr g / sqrt(denominator), through momentum if momentum > 0."""
    velocity = rho * velocity + (1.0 - rho) * g * g
    if centered:
        avg = rho * avg + (1.0 - rho) * g
        denominator = velocity - avg * avg + epsilon
    else:
        denominator = velocity + epsilon
    increment = lr * g / math.sqrt(denominator)
    if momentum > 0.0:
        mom = momentum * mom + increment
        return p - mom, velocity, mom, avg
    return p - increment, velocity, mom, avg


@body
def adagrad_step(p, g, accumulator, lr, epsilon):
    """Keras's Adagrad -> (p, accumulator): acc += g^2; p -= lr g / sqrt(acc + eps)."""
    accumulator = accumulator + g * g
    return p - lr * g / math.sqrt(accumulator + epsilon), accumulator


@body
def adadelta_step(p, g, acc_grad, acc_delta, lr, rho, epsilon):
    """Keras's Adadelta -> (p, acc_grad, acc_delta)."""
    acc_grad = rho * acc_grad + (1.0 - rho) * g * g
    delta = -(math.sqrt(acc_delta + epsilon) * g) / math.sqrt(acc_grad + epsilon)
    acc_delta = rho * acc_delta + (1.0 - rho) * delta * delta
    return p + lr * delta, acc_grad, acc_delta


@body
def adamax_step(p, g, m, u, lr, bias, beta_1, beta_2, epsilon):
    """Keras's Adamax -> (p, m, u): m += (g - m)(1 - b1); u = max(b2 u, |g|);
    p -= lr m / ((1 - b1^t) (u + eps)), bias = 1 - b1^t."""
    m = m + (g - m) * (1.0 - beta_1)
    a = abs(g)
    u = beta_2 * u
    u = a if (a > u) | (a != a) else u  # NaN stays NaN
    return p - lr * m / (bias * (u + epsilon)), m, u


@body
def nadam_step(p, g, m, v, lr, beta_1, beta_2, epsilon, u_t, u_t_1, u_prod, u_prod_1,
               beta_2_power):
    """Keras's Nadam -> (p, m, v), with its momentum schedule's scalars for this step
    (u_t, u_{t+1}, their products up to t and t+1, beta_2^t) from the host."""
    m = m + (g - m) * (1.0 - beta_1)
    v = v + (g * g - v) * (1.0 - beta_2)
    m_hat = u_t_1 * m / (1.0 - u_prod_1) + (1.0 - u_t) * g / (1.0 - u_prod)
    v_hat = v / (1.0 - beta_2_power)
    return p - m_hat * lr / (math.sqrt(v_hat) + epsilon), m, v


@body
def sgd_step(p, g, velocity, lr, momentum, nesterov):
    """Keras's SGD for one element -> (p, velocity): v = momentum*v - lr*g;
    p += v, or p += momentum*v - lr*g with nesterov."""
    if momentum == 0.0:
        return p - lr * g, velocity
    velocity = momentum * velocity - lr * g
    if nesterov:
        return p + momentum * velocity - lr * g, velocity
    return p + velocity, velocity


# ------------------------------------------------------------------ compiling
def compile_bodies(jit, module_name: str) -> types.ModuleType:
    """A module holding every body compiled with `jit` (a decorator), in which the
    calls from one body to another go to the compiled twin. Kernels reach the
    bodies as attributes of this module (`B.relu(v)`), which Numba resolves when
    compiling, on either target."""
    module = types.ModuleType(module_name)
    namespace = {}                     # math, np and the constants of every body module
    for fn in BODIES.values():
        namespace.update({k: v for k, v in fn.__globals__.items() if not k.startswith("__")})
    for name, fn in BODIES.items():
        twin = types.FunctionType(fn.__code__, namespace, name, fn.__defaults__)
        twin.__doc__, twin.__qualname__ = fn.__doc__, fn.__qualname__
        namespace[name] = compiled = jit(twin)
        setattr(module, name, compiled)
    module.ELEMENTWISE = {op: e._replace(forward=getattr(module, e.forward.__name__),
                                         backward=getattr(module, e.backward.__name__))
                          for op, e in ELEMENTWISE.items()}
    return module


def source_digest(*more_files: str) -> str:
    """A short hash of the body files (and `more_files`: other code the kernels inline):
    Numba's cache only watches a kernel's own file, so the CPU kernels carry it in their
    names and an edit there recompiles them."""
    import hashlib
    digest = hashlib.sha1()
    for path in sorted({fn.__code__.co_filename for fn in BODIES.values()}) + list(more_files):
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:10]


# the bodies of the other layers' kernels, registered by importing them
from . import activation_bodies, layer_bodies, norm_bodies  # noqa: E402,F401
