"""numba-cuda kernels of the normalisation, average-pool, grouped-conv and embedding
functions (conventions as in kernels.py; the arithmetic is in
backends/norm_bodies.py and layer_bodies.py, shared with the CPU kernels).

One thread per output element, or, for sums over rows, one thread per (chunk,
column): it adds its chunk's rows in order into its own partial (threads of a
warp read neighbouring columns, so the loads coalesce), and the partials are
added afterwards in a fixed order. No atomics: results do not depend on timing.
"""
from numba import cuda

from .kernels import B


# --------------------------------------------------------------- normalisation
@cuda.jit
def shifted_sums(x, shift, s1, s2):
    e = cuda.grid(1)
    if e < s1.size:
        c = s1.shape[1]
        t, k = e // c, e % c
        r0, r1 = B.chunk_rows(t, s1.shape[0], x.shape[0])
        a = 0.0
        b = 0.0
        for r in range(r0, r1):
            a, b = B.add_shifted(x[r, k], shift[k], a, b)
        s1[t, k] = a
        s2[t, k] = b


@cuda.jit
def moments(s1, s2, shift, n, mean, var):
    k = cuda.grid(1)
    if k < mean.shape[0]:
        B.moments_from_sums(s1, s2, shift, n, mean, var, k)


@cuda.jit
def param_sums(x, gy, rmean, rinv, cmean, cinv, rscale, rshift, relu, s1, s2):
    e = cuda.grid(1)
    if e < s1.size:
        c = s1.shape[1]
        t, k = e // c, e % c
        r0, r1 = B.chunk_rows(t, s1.shape[0], x.shape[0])
        a = 0.0
        b = 0.0
        for r in range(r0, r1):
            xhat = B.normalized(x, rmean, rinv, cmean, cinv, r, k)
            g = B.relu_passed(x[r, k], gy[r, k], rscale[k], rshift[k], relu)
            a, b = B.add_param_terms(g, xhat, a, b)
        s1[t, k] = a
        s2[t, k] = b


@cuda.jit
def scale_shift(x, scale, shift, relu, y):
    e = cuda.grid(1)
    if e < x.size:
        c = x.shape[1]
        r, k = e // c, e % c
        y[r, k] = B.relu_if(B.affine(x[r, k], scale[k], shift[k]), relu)


@cuda.jit
def batchnorm_backward_input(x, gy, mean, invstd, scale, rscale, rshift, relu, mean_g,
                             mean_g_xhat, gx):
    e = cuda.grid(1)
    if e < x.size:
        c = x.shape[1]
        r, k = e // c, e % c
        g = B.relu_passed(x[r, k], gy[r, k], rscale[k], rshift[k], relu)
        gx[r, k] = B.batchnorm_grad(x[r, k], g, mean[k], invstd[k], scale[k],
                                    mean_g[k], mean_g_xhat[k])


@cuda.jit
def param_sums_pooled(x, gp, arg, h, w, ph, pw, mean, invstd, rscale, rshift, relu, s1, s2):
    """param_sums for batch norm of the gradient a max pool after x passes back from gp
    (B.unpooled), masked by the ReLU between with `relu` (the CPU kernel's twin)."""
    e = cuda.grid(1)
    if e < s1.size:
        c = s1.shape[1]
        t, k = e // c, e % c
        r0, r1 = B.chunk_rows(t, s1.shape[0], x.shape[0])
        a = 0.0
        b = 0.0
        for r in range(r0, r1):
            im, i, j, p, inside = B.pool_cell(r, h, w, ph, pw, gp.shape[1], gp.shape[2])
            xhat = (x[r, k] - mean[k]) * invstd[k]
            g = B.unpooled(gp, arg, im, i, j, p, inside, k)
            g = B.relu_passed(x[r, k], g, rscale[k], rshift[k], relu)
            a, b = B.add_param_terms(g, xhat, a, b)
        s1[t, k] = a
        s2[t, k] = b


@cuda.jit
def batchnorm_backward_input_pooled(x, gp, arg, h, w, ph, pw, mean, invstd, scale, rscale,
                                    rshift, relu, mean_g, mean_g_xhat, gx):
    e = cuda.grid(1)
    if e < x.size:
        c = x.shape[1]
        r, k = e // c, e % c
        im, i, j, p, inside = B.pool_cell(r, h, w, ph, pw, gp.shape[1], gp.shape[2])
        g = B.unpooled(gp, arg, im, i, j, p, inside, k)
        g = B.relu_passed(x[r, k], g, rscale[k], rshift[k], relu)
        gx[r, k] = B.batchnorm_grad(x[r, k], g, mean[k], invstd[k], scale[k],
                                    mean_g[k], mean_g_xhat[k])


@cuda.jit
def scale_shift_maxpool(x, scale, shift, relu, ph, pw, y, arg):
    """One thread per output: maxpool_forward's window (ph x pw at strides ph, pw,
    unpadded) over scale_shift's values, computed as there."""
    e = cuda.grid(1)
    if e < y.size:
        w = x.shape[2]
        oh, ow, c = y.shape[1], y.shape[2], y.shape[3]
        k = e % c
        j = (e // c) % ow
        i = (e // (c * ow)) % oh
        b = e // (c * ow * oh)
        best = B.relu_if(B.affine(x[b, i * ph, j * pw, k], scale[k], shift[k]), relu)
        win = i * ph * w + j * pw
        for yy in range(i * ph, i * ph + ph):
            for xx in range(j * pw, j * pw + pw):
                v = B.relu_if(B.affine(x[b, yy, xx, k], scale[k], shift[k]), relu)
                if B.pool_takes(v, best):
                    best = v
                    win = yy * w + xx
        y[b, i, j, k] = best
        arg[b, i, j, k] = win


@cuda.jit
def layernorm_forward(x, gamma, beta, eps, y, mean, invstd):
    r = cuda.grid(1)
    if r < x.shape[0]:
        B.layernorm_row(x, gamma, beta, eps, y, mean, invstd, r)


@cuda.jit
def layernorm_backward_input(x, gy, mean, invstd, gamma, gx):
    r = cuda.grid(1)
    if r < x.shape[0]:
        B.layernorm_grad_row(x, gy, mean, invstd, gamma, gx, r)


# -------------------------------------------------------------- average pool
@cuda.jit
def avgpool_forward(x, ph, pw, sh, sw, pt, pl, y):
    e = cuda.grid(1)
    if e < y.size:
        n, oh, ow, c = y.shape
        ch = e % c
        j = (e // c) % ow
        i = (e // (c * ow)) % oh
        b = e // (c * ow * oh)
        y[b, i, j, ch] = B.avgpool_value(x, b, i, j, ch, ph, pw, sh, sw, pt, pl)


@cuda.jit
def avgpool_backward(gy, ph, pw, sh, sw, pt, pl, gx):
    e = cuda.grid(1)
    if e < gx.size:
        n, h, w, c = gx.shape
        ch = e % c
        xx = (e // c) % w
        yy = (e // (c * w)) % h
        b = e // (c * w * h)
        gx[b, yy, xx, ch] = B.avgpool_grad_value(gy, b, yy, xx, ch, ph, pw, sh, sw, pt, pl,
                                                 h, w)


# -------------------------------------------------------- grouped convolution
@cuda.jit
def grouped_conv_forward(x, w, sh, sw, pt, pl, dh, dw, groups, y):
    e = cuda.grid(1)
    if e < y.size:
        n, oh, ow, f = y.shape
        k = e % f
        j = (e // f) % ow
        i = (e // (f * ow)) % oh
        b = e // (f * ow * oh)
        y[b, i, j, k] = B.grouped_conv_value(x, w, b, i, j, k, sh, sw, pt, pl, dh, dw, groups)


@cuda.jit
def grouped_conv_backward_input(gy, w, sh, sw, pt, pl, dh, dw, groups, gx):
    e = cuda.grid(1)
    if e < gx.size:
        n, h, wd, c = gx.shape
        ch = e % c
        xx = (e // c) % wd
        yy = (e // (c * wd)) % h
        b = e // (c * wd * h)
        gx[b, yy, xx, ch] = B.grouped_conv_grad_input_value(gy, w, b, yy, xx, ch, sh, sw, pt,
                                                            pl, dh, dw, groups)


@cuda.jit
def grouped_conv_backward_weight(x, gy, sh, sw, pt, pl, dh, dw, groups, partial):
    """One thread per (chunk, weight element): its chunk's part of the gradient."""
    e = cuda.grid(1)
    if e < partial.size:
        chunks, kh, kw, cg, f = partial.shape
        k = e % f
        c = (e // f) % cg
        q = (e // (f * cg)) % kw
        p = (e // (f * cg * kw)) % kh
        t = e // (f * cg * kw * kh)
        r0, r1 = B.chunk_rows(t, chunks, gy.shape[0] * gy.shape[1])
        partial[t, p, q, c, k] = B.grouped_conv_grad_weight_part(
            x, gy, r0, r1, p, q, c, k, sh, sw, pt, pl, dh, dw, groups, cg)


# ------------------------------------------------------------------ embedding
@cuda.jit
def segment_sums(g, order, starts, rows, out):
    e = cuda.grid(1)
    if e < rows.shape[0] * g.shape[1]:
        u, k = e // g.shape[1], e % g.shape[1]
        out[rows[u], k] = B.segment_sum(g, order, starts, u, k)
