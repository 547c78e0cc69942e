"""Numba CPU kernels: plain arrays in, arrays filled, no Tensors, no autograd.

Layouts: images are NHWC, conv kernels (KH, KW, C, F), everything C-contiguous.
Kernels are dtype-generic (float32 in training, float64 under gradcheck) and
write into output arrays the caller allocates, so buffers can be reused.

Race freedom under ``prange``: every parallel loop either writes a disjoint
slice of its output (one row, one image) or, where outputs of neighbouring
iterations overlap (col2im, max-pool backward), runs in parallel over images,
whose gradients never overlap.
"""
import numpy as np
from numba import njit, prange

_OPTS = dict(parallel=True, cache=True, fastmath=False)


# ----------------------------------------------------------------- convolution
@njit(**_OPTS)
def im2col(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """cols[(b*oh+i)*ow+j, (p*kw+q)*c+ch] = x[b, i*sh-pt+p*dh, j*sw-pl+q*dw, ch] (0 outside).

    The column order (p, q, ch) is the kernel's (KH, KW, C) order, so the
    convolution is ``cols @ kernel.reshape(KH*KW*C, F)``. Copies go by flat
    slices: a kernel row's kw taps are kw*c contiguous values of x and of
    cols (dilation 1), which Numba turns into a memcpy (4x faster than
    element-wise 2-D indexing here).
    """
    n, h, w, c = x.shape
    xf, cf = x.reshape(-1), cols.reshape(-1)
    kk = kh * kw * c
    for r in prange(n * oh):
        b = r // oh
        i = r % oh
        for j in range(ow):
            x0 = j * sw - pl
            for p in range(kh):
                y = i * sh - pt + p * dh
                dst = (r * ow + j) * kk + p * kw * c
                if dw == 1 and 0 <= y < h and 0 <= x0 and x0 + kw <= w:
                    src = ((b * h + y) * w + x0) * c
                    cf[dst:dst + kw * c] = xf[src:src + kw * c]
                    continue
                for q in range(kw):
                    xx = x0 + q * dw
                    d = dst + q * c
                    if 0 <= y < h and 0 <= xx < w:
                        src = ((b * h + y) * w + xx) * c
                        cf[d:d + c] = xf[src:src + c]
                    else:
                        cf[d:d + c] = 0.0


@njit(**_OPTS)
def col2im(cols, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx):
    """Adjoint of im2col: dx (zeroed here) += scattered cols. Parallel over images
    (neighbouring windows overlap, images never do). Plain 4-D indexing: flat
    slices, as in im2col, measured 4x slower here."""
    n, h, w, c = dx.shape
    for b in prange(n):
        dx[b] = 0.0
        for i in range(oh):
            for j in range(ow):
                row = (b * oh + i) * ow + j
                for p in range(kh):
                    y = i * sh - pt + p * dh
                    if y < 0 or y >= h:
                        continue
                    for q in range(kw):
                        xx = j * sw - pl + q * dw
                        if xx < 0 or xx >= w:
                            continue
                        base = (p * kw + q) * c
                        for ch in range(c):
                            dx[b, y, xx, ch] += cols[row, base + ch]


@njit(**_OPTS)
def bias_act(y, b, relu):
    """y (rows, F) += b, then ReLU if `relu`: the GEMM's epilogue, in place, one pass."""
    rows, f = y.shape
    for r in prange(rows):
        for k in range(f):
            v = y[r, k] + b[k]
            y[r, k] = v if v > 0 or not relu else 0.0


@njit(**_OPTS)
def bias_act_backward(y, gy, g, partial):
    """g = gy * (y > 0) (ReLU's mask, from the output y), and its bias gradient.

    Rows are split into partial.shape[0] fixed chunks; each chunk sums into its
    own row of `partial` (no two threads share a row), and the caller adds the
    rows. Fixed chunks, not per-thread ones, so the sum's order, and so its
    bits, do not depend on the thread count.
    """
    rows, f = gy.shape
    chunks = partial.shape[0]
    step = (rows + chunks - 1) // chunks
    for t in prange(chunks):
        for k in range(f):
            partial[t, k] = 0.0
        for r in range(t * step, min(rows, (t + 1) * step)):
            for k in range(f):
                v = gy[r, k] if y[r, k] > 0 else 0.0
                g[r, k] = v
                partial[t, k] += v


@njit(**_OPTS)
def column_sums(gy, partial):
    """partial[t] = sum of chunk t's rows of gy: the bias gradient, as above."""
    rows, f = gy.shape
    chunks = partial.shape[0]
    step = (rows + chunks - 1) // chunks
    for t in prange(chunks):
        for k in range(f):
            partial[t, k] = 0.0
        for r in range(t * step, min(rows, (t + 1) * step)):
            for k in range(f):
                partial[t, k] += gy[r, k]


# ------------------------------------------------------------------- max pool
@njit(**_OPTS)
def maxpool_forward(x, ph, pw, sh, sw, pt, pl, y, arg):
    """y[b,i,j,c] = max over the window; arg holds the winner's index yy*W+xx.

    Padding cells never win (TensorFlow's 'same' pooling ignores them); ties
    go to the first cell in row-major order. The compare is written as
    selects, not branches, so the channel loop vectorises.
    """
    n, h, w, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for r in prange(n * oh):
        b = r // oh
        i = r % oh
        y0 = max(i * sh - pt, 0)
        y1 = min(i * sh - pt + ph, h)
        for j in range(ow):
            x0 = max(j * sw - pl, 0)
            x1 = min(j * sw - pl + pw, w)
            for ch in range(c):
                y[b, i, j, ch] = x[b, y0, x0, ch]
                arg[b, i, j, ch] = y0 * w + x0
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    idx = yy * w + xx
                    for ch in range(c):
                        v = x[b, yy, xx, ch]
                        old = y[b, i, j, ch]
                        take = v > old
                        y[b, i, j, ch] = v if take else old
                        arg[b, i, j, ch] = idx if take else arg[b, i, j, ch]


@njit(**_OPTS)
def maxpool_backward(gy, arg, gx):
    """gx (zeroed here) gets each output's gradient at its argmax. Parallel over
    images (windows may overlap, images never do)."""
    n, oh, ow, c = gy.shape
    flat = gx.reshape(n, -1)
    for b in prange(n):
        flat[b] = 0.0
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    flat[b, arg[b, i, j, ch] * c + ch] += gy[b, i, j, ch]


# ---------------------------------------------------------------- activations
# Elementwise kernels work on flat (raveled, contiguous) views.
@njit(**_OPTS)
def relu_forward(x, y):
    for i in prange(x.size):
        v = x[i]
        y[i] = v if v > 0 else 0.0


@njit(**_OPTS)
def relu_backward(y, gy, gx):
    """gx = gy where the output was positive (the mask comes from the output)."""
    for i in prange(y.size):
        gx[i] = gy[i] if y[i] > 0 else 0.0


@njit(**_OPTS)
def sigmoid_forward(x, y):
    for i in prange(x.size):
        v = x[i]
        if v >= 0:
            y[i] = 1.0 / (1.0 + np.exp(-v))
        else:  # no overflow of exp for large negative inputs
            e = np.exp(v)
            y[i] = e / (1.0 + e)


@njit(**_OPTS)
def sigmoid_backward(y, gy, gx):
    for i in prange(y.size):
        gx[i] = gy[i] * y[i] * (1.0 - y[i])


@njit(**_OPTS)
def tanh_forward(x, y):
    for i in prange(x.size):
        y[i] = np.tanh(x[i])


@njit(**_OPTS)
def tanh_backward(y, gy, gx):
    for i in prange(y.size):
        gx[i] = gy[i] * (1.0 - y[i] * y[i])


# Row kernels work on (rows, K) views: softmax over the last axis.
@njit(cache=True, inline="always")
def _log_sum_exp(x, r):
    """log(sum(exp(x[r]))), with the row's max subtracted first: finite for any
    finite row, the one stabilised reduction behind softmax, log-softmax and
    softmax cross-entropy."""
    m = x[r, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[r, j])
    s = 0.0
    for j in range(x.shape[1]):
        s += np.exp(x[r, j] - m)
    return m + np.log(s)


@njit(**_OPTS)
def softmax_forward(x, y):
    for r in prange(x.shape[0]):
        lse = _log_sum_exp(x, r)
        for j in range(x.shape[1]):
            y[r, j] = np.exp(x[r, j] - lse)


@njit(**_OPTS)
def softmax_backward(y, gy, gx):
    rows, k = y.shape
    for r in prange(rows):
        d = 0.0
        for j in range(k):
            d += gy[r, j] * y[r, j]
        for j in range(k):
            gx[r, j] = y[r, j] * (gy[r, j] - d)


@njit(**_OPTS)
def log_softmax_forward(x, y):
    for r in prange(x.shape[0]):
        lse = _log_sum_exp(x, r)
        for j in range(x.shape[1]):
            y[r, j] = x[r, j] - lse


@njit(**_OPTS)
def log_softmax_backward(y, gy, gx):
    rows, k = y.shape
    for r in prange(rows):
        s = 0.0
        for j in range(k):
            s += gy[r, j]
        for j in range(k):
            gx[r, j] = gy[r, j] - np.exp(y[r, j]) * s


@njit(**_OPTS)
def softmax_cross_entropy_forward(logits, target, probs, loss):
    """Per-row loss = -sum(target * log_softmax(logits)); probs = softmax(logits).

    From the logits through _log_sum_exp, so it stays finite for any finite
    logits (no log of an underflowed probability).
    """
    for r in prange(logits.shape[0]):
        lse = _log_sum_exp(logits, r)
        acc = 0.0
        for j in range(logits.shape[1]):
            probs[r, j] = np.exp(logits[r, j] - lse)
            acc -= target[r, j] * (logits[r, j] - lse)
        loss[r] = acc


@njit(**_OPTS)
def softmax_cross_entropy_backward(probs, target, gloss, glogits):
    """d loss[r] / d logits[r, j] = (probs - target) * sum(target[r]), times gloss[r]."""
    rows, k = probs.shape
    for r in prange(rows):
        t = 0.0
        for j in range(k):
            t += target[r, j]
        for j in range(k):
            glogits[r, j] = gloss[r] * (probs[r, j] * t - target[r, j])


# -------------------------------------------------------------------- dropout
@njit(cache=True, inline="always")
def _uniform(seed, i):
    """Counter-based uniform in [0, 1): splitmix64 of (seed, i), top 24 bits.

    The same mask comes out for a given (seed, i) on any thread count and on
    the CUDA backend, and backward recomputes it instead of storing it.
    """
    z = seed + np.uint64(i) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float32(z >> np.uint64(40)) * np.float32(1.0 / 16777216.0)


@njit(**_OPTS)
def dropout_apply(x, rate, seed, y):
    """y = x * keep / (1 - rate), keep = uniform(seed, i) >= rate. Also its own backward."""
    scale = 1.0 / (1.0 - rate)
    s = np.uint64(seed)
    for i in prange(x.size):
        y[i] = x[i] * scale if _uniform(s, i) >= rate else 0.0


# ----------------------------------------------------------------- optimizers
@njit(**_OPTS)
def adam_update(p, g, m, v, lr_t, beta_1, beta_2, epsilon):
    """Keras's Adam step on flat arrays, in place; lr_t already bias-corrected."""
    for i in prange(p.size):
        gi = g[i]
        mi = beta_1 * m[i] + (1.0 - beta_1) * gi
        vi = beta_2 * v[i] + (1.0 - beta_2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * mi / (np.sqrt(vi) + epsilon)


@njit(**_OPTS)
def sgd_update(p, g, velocity, lr, momentum, nesterov):
    """Keras's SGD: v = momentum*v - lr*g; p += v (nesterov: p += momentum*v - lr*g)."""
    for i in prange(p.size):
        if momentum == 0.0:
            p[i] -= lr * g[i]
        else:
            vi = momentum * velocity[i] - lr * g[i]
            velocity[i] = vi
            if nesterov:
                p[i] += momentum * vi - lr * g[i]
            else:
                p[i] += vi
