"""Numba CPU kernels of the normalisation, average-pool, grouped-conv and embedding
functions (conventions as in kernels.py; the arithmetic is in
backends/norm_bodies.py and layer_bodies.py, shared with the CUDA kernels).

Sums over rows go by fixed chunks: chunk t adds its rows into row t of a
float64 partial array (no two threads share a row) and the caller adds the
rows in order, so the bits do not depend on the thread count. Every other loop
writes one output element per iteration.
"""
from numba import prange

from .kernels import B, _kernel


# --------------------------------------------------------------- normalisation
@_kernel
def shifted_sums(x, shift, s1, s2):
    """s1[t], s2[t] = sums of x - shift and its square over chunk t's rows."""
    rows, c = x.shape
    chunks = s1.shape[0]
    for t in prange(chunks):
        r0, r1 = B.chunk_rows(t, chunks, rows)
        for k in range(c):
            s1[t, k] = 0.0
            s2[t, k] = 0.0
        for r in range(r0, r1):
            for k in range(c):
                s1[t, k], s2[t, k] = B.add_shifted(x[r, k], shift[k], s1[t, k], s2[t, k])


@_kernel
def moments(s1, s2, shift, n, mean, var):
    for k in prange(mean.shape[0]):
        B.moments_from_sums(s1, s2, shift, n, mean, var, k)


@_kernel
def param_sums(x, gy, rmean, rinv, cmean, cinv, s1, s2):
    """s1[t], s2[t] = sums of gy and gy * xhat over chunk t's rows."""
    rows, c = x.shape
    chunks = s1.shape[0]
    for t in prange(chunks):
        r0, r1 = B.chunk_rows(t, chunks, rows)
        for k in range(c):
            s1[t, k] = 0.0
            s2[t, k] = 0.0
        for r in range(r0, r1):
            for k in range(c):
                xhat = B.normalized(x, rmean, rinv, cmean, cinv, r, k)
                s1[t, k], s2[t, k] = B.add_param_terms(gy[r, k], xhat, s1[t, k], s2[t, k])


@_kernel
def scale_shift(x, scale, shift, y):
    rows, c = x.shape
    for r in prange(rows):
        for k in range(c):
            y[r, k] = B.affine(x[r, k], scale[k], shift[k])


@_kernel
def batchnorm_backward_input(x, gy, mean, invstd, scale, mean_g, mean_g_xhat, gx):
    rows, c = x.shape
    for r in prange(rows):
        for k in range(c):
            gx[r, k] = B.batchnorm_grad(x[r, k], gy[r, k], mean[k], invstd[k], scale[k],
                                        mean_g[k], mean_g_xhat[k])


@_kernel
def layernorm_forward(x, gamma, beta, eps, y, mean, invstd):
    for r in prange(x.shape[0]):
        B.layernorm_row(x, gamma, beta, eps, y, mean, invstd, r)


@_kernel
def layernorm_backward_input(x, gy, mean, invstd, gamma, gx):
    for r in prange(x.shape[0]):
        B.layernorm_grad_row(x, gy, mean, invstd, gamma, gx, r)


# -------------------------------------------------------------- average pool
@_kernel
def avgpool_forward(x, ph, pw, sh, sw, pt, pl, y):
    n, oh, ow, c = y.shape
    for r in prange(n * oh):
        b, i = r // oh, r % oh
        for j in range(ow):
            for ch in range(c):
                y[b, i, j, ch] = B.avgpool_value(x, b, i, j, ch, ph, pw, sh, sw, pt, pl)


@_kernel
def avgpool_backward(gy, ph, pw, sh, sw, pt, pl, gx):
    n, h, w, c = gx.shape
    for r in prange(n * h):
        b, yy = r // h, r % h
        for xx in range(w):
            for ch in range(c):
                gx[b, yy, xx, ch] = B.avgpool_grad_value(gy, b, yy, xx, ch, ph, pw, sh, sw,
                                                         pt, pl, h, w)


# -------------------------------------------------------- grouped convolution
@_kernel
def grouped_conv_forward(x, w, sh, sw, pt, pl, dh, dw, groups, y):
    n, oh, ow, f = y.shape
    for r in prange(n * oh):
        b, i = r // oh, r % oh
        for j in range(ow):
            for k in range(f):
                y[b, i, j, k] = B.grouped_conv_value(x, w, b, i, j, k, sh, sw, pt, pl, dh, dw,
                                                     groups)


@_kernel
def grouped_conv_backward_input(gy, w, sh, sw, pt, pl, dh, dw, groups, gx):
    n, h, wd, c = gx.shape
    for r in prange(n * h):
        b, yy = r // h, r % h
        for xx in range(wd):
            for ch in range(c):
                gx[b, yy, xx, ch] = B.grouped_conv_grad_input_value(
                    gy, w, b, yy, xx, ch, sh, sw, pt, pl, dh, dw, groups)


@_kernel
def grouped_conv_backward_weight(x, gy, sh, sw, pt, pl, dh, dw, groups, partial):
    """partial[t] = chunk t's part of the weight gradient (rows b * OH + i)."""
    chunks, kh, kw, cg, f = partial.shape
    rows = gy.shape[0] * gy.shape[1]
    for t in prange(chunks):
        r0, r1 = B.chunk_rows(t, chunks, rows)
        for p in range(kh):
            for q in range(kw):
                for c in range(cg):
                    for k in range(f):
                        partial[t, p, q, c, k] = B.grouped_conv_grad_weight_part(
                            x, gy, r0, r1, p, q, c, k, sh, sw, pt, pl, dh, dw, groups, cg)


# ------------------------------------------------------------------ embedding
@_kernel
def segment_sums(g, order, starts, rows, out):
    """out[rows[u]] = segment u's sum of g's rows (out zeroed by the caller)."""
    for u in prange(rows.shape[0]):
        for k in range(g.shape[1]):
            out[rows[u], k] = B.segment_sum(g, order, starts, u, k)
