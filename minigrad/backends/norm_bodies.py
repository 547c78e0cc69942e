"""Kernel bodies of batch and layer normalisation, compiled for both backends with
those of bodies.py.

Sums run in float64 over fixed chunks of rows, each chunk into its own row of a
partial array, and the partials are added in a fixed order afterwards (as the
bias-gradient sums do), so results do not depend on the thread count. The
statistics take one pass: sums of x - shift and of its square, shift being the
first row (a value of the same magnitude, so the variance does not lose its
digits to cancellation as sum(x**2) - sum(x)**2 would).
"""
from __future__ import annotations

import math

import numpy as np

from .bodies import body


@body
def chunk_rows(t, chunks, rows):
    """The rows [start, stop) of chunk t of `chunks` equal chunks."""
    step = (rows + chunks - 1) // chunks
    return t * step, min(rows, (t + 1) * step)


@body
def add_shifted(v, shift, a, b):
    """(a, b) plus d and d*d, d = v - shift: one value into the statistics' sums."""
    d = v - shift
    return a + d, b + d * d


@body
def moments_from_sums(s1, s2, shift, n, mean, var, k):
    """mean[k], var[k] (population variance) from the chunks' shifted sums, in order."""
    a = 0.0
    b = 0.0
    for t in range(s1.shape[0]):
        a += s1[t, k]
        b += s2[t, k]
    m = a / n
    v = b / n - m * m
    mean[k] = shift[k] + m
    var[k] = 0.0 if v < 0 else v          # rounding can dip below 0; NaN stays NaN


@body
def normalized(x, rmean, rinv, cmean, cinv, r, k):
    """xhat of element (r, k): mean and inverse deviation per row (layer norm) or
    per column (batch norm); the other pair is 0 and 1."""
    return (x[r, k] - rmean[r] - cmean[k]) * rinv[r] * cinv[k]


@body
def add_param_terms(g, xhat, a, b):
    """(a, b) plus g and g * xhat: one element into the sums that are the gradients
    of beta and gamma."""
    return a + g, b + g * xhat


@body
def affine(v, scale, shift):
    return v * scale + shift


@body
def relu_passed(x, g, scale, shift, relu):
    """g as a ReLU after the affine x * scale + shift passes it back (relu_grad's test
    on that affine, computed as the forward did), or g itself without `relu`: the mask
    from the input, so a fused BN+ReLU's backward reads no output and makes no masked
    copy. The zero is a float32, so g keeps its type (a float64 literal would turn a
    float32 g, and the arithmetic after it, into float64: other bits)."""
    if relu and affine(x, scale, shift) <= 0:   # NaN passes, as in relu_grad
        return np.float32(0.0)
    return g


@body
def pool_cell(r, h, w, ph, pw, oh, ow):
    """For pixel r (counted over an (N, H, W) grid) under a max pool of ph x pw windows
    at strides ph, pw, unpadded (each pixel in one window at most) with an (OH, OW)
    output: (image, window row, window column, r's index within its image as arg
    holds it, whether r lies in a window)."""
    p = r % (h * w)
    i = p // w // ph
    j = p % w // pw
    return r // (h * w), i, j, p, i < oh and j < ow


@body
def unpooled(gp, arg, b, i, j, p, inside, k):
    """Channel k of maxpool_backward(gp, arg) at the pixel pool_cell gave (b, i, j, p,
    inside): gp's value where it won its window, else 0, without the dense gradient.
    As maxpool_backward, a zero plus the value (-0.0 becomes 0.0), in gp's type (a
    float64 literal would turn float32 arithmetic after it into float64)."""
    if inside and arg[b, i, j, k] == p:
        return np.float32(0.0) + gp[b, i, j, k]
    return np.float32(0.0)


@body
def batchnorm_grad(x, g, mean, invstd, scale, mean_g, mean_g_xhat):
    """Batch norm's input gradient (training mode) for one element, from the
    per-channel means of gy and of gy * xhat."""
    return scale * (g - mean_g - (x - mean) * invstd * mean_g_xhat)


@body
def layernorm_row(x, gamma, beta, eps, y, mean, invstd, r):
    """Row r normalised over its K values (two passes over the row, in float64)."""
    k = x.shape[1]
    m = 0.0
    for j in range(k):
        m += x[r, j]
    m /= k
    v = 0.0
    for j in range(k):
        d = x[r, j] - m
        v += d * d
    inv = 1.0 / math.sqrt(v / k + eps)
    mean[r] = m
    invstd[r] = inv
    for j in range(k):
        y[r, j] = (x[r, j] - m) * inv * gamma[j] + beta[j]


@body
def layernorm_grad_row(x, gy, mean, invstd, gamma, gx, r):
    """invstd * (g - mean(g) - xhat * mean(g * xhat)) over row r, g = gy * gamma."""
    k = x.shape[1]
    m = mean[r]
    inv = invstd[r]
    a = 0.0
    b = 0.0
    for j in range(k):
        g = gy[r, j] * gamma[j]
        a += g
        b += g * (x[r, j] - m) * inv
    a /= k
    b /= k
    for j in range(k):
        gx[r, j] = inv * (gy[r, j] * gamma[j] - a - (x[r, j] - m) * inv * b)
