"""Numba CPU kernels of the normalisation, average-pool, grouped-conv and embedding
functions, and of a conv of few taps fused with its max pool and its weight gradient
in 16-lane vectors (conventions as in kernels.py; the arithmetic is in
backends/norm_bodies.py and layer_bodies.py, shared with the CUDA kernels; the
vector kernels are CPU only, the CUDA backend keeps its conv and pool).

Sums over rows go by fixed chunks: chunk t adds its rows into row t of a
float64 partial array (no two threads share a row) and the caller adds the
rows in order, so the bits do not depend on the thread count. Every other loop
writes one output element per iteration.
"""
import numpy as np
from numba import njit, prange

from .kernels import B, _kernel
from .simd import vfma, vload, vmuladd, vpick, vpool4_store, vstore, vzero


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
def param_sums(x, gy, rmean, rinv, cmean, cinv, rscale, rshift, relu, s1, s2):
    """s1[t], s2[t] = sums of gy and gy * xhat over chunk t's rows; with `relu`, of gy
    where the ReLU after x * rscale + rshift passed it (B.relu_passed)."""
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
                g = B.relu_passed(x[r, k], gy[r, k], rscale[k], rshift[k], relu)
                s1[t, k], s2[t, k] = B.add_param_terms(g, xhat, s1[t, k], s2[t, k])


@_kernel
def scale_shift(x, scale, shift, relu, y):
    rows, c = x.shape
    for r in prange(rows):
        for k in range(c):
            y[r, k] = B.relu_if(B.affine(x[r, k], scale[k], shift[k]), relu)


@_kernel
def batchnorm_backward_input(x, gy, mean, invstd, scale, rscale, rshift, relu, mean_g,
                             mean_g_xhat, gx):
    """gx; with `relu`, from gy where the ReLU after x * rscale + rshift passed it."""
    rows, c = x.shape
    for r in prange(rows):
        for k in range(c):
            g = B.relu_passed(x[r, k], gy[r, k], rscale[k], rshift[k], relu)
            gx[r, k] = B.batchnorm_grad(x[r, k], g, mean[k], invstd[k], scale[k],
                                        mean_g[k], mean_g_xhat[k])


@njit(inline="always")
def _next_pixel(b, yy, xx, i, j, cy, cx, h, w, ph, pw):
    """The pixel after (b, yy, xx) of an (N, H, W) grid, with its window (i, j) and cell
    (cy, cx) under a ph x pw pool at strides ph, pw: counted up, no division per pixel."""
    xx, cx = xx + 1, cx + 1
    if cx == pw:
        cx, j = 0, j + 1
    if xx == w:
        xx, j, cx, yy, cy = 0, 0, 0, yy + 1, cy + 1
        if cy == ph:
            cy, i = 0, i + 1
        if yy == h:
            yy, i, cy, b = 0, 0, 0, b + 1
    return b, yy, xx, i, j, cy, cx


@_kernel
def param_sums_pooled(x, gp, arg, h, w, ph, pw, mean, invstd, rscale, rshift, relu, s1, s2):
    """param_sums for batch norm (per-column mean and invstd) of the gradient a max pool
    after it passes back from gp (B.unpooled: no dense gradient made), masked by the
    ReLU between with `relu`. Rows in param_sums' chunks, pixels counted up."""
    rows, c = x.shape
    chunks, oh, ow = s1.shape[0], gp.shape[1], gp.shape[2]
    for t in prange(chunks):
        r0, r1 = B.chunk_rows(t, chunks, rows)
        for k in range(c):
            s1[t, k] = 0.0
            s2[t, k] = 0.0
        b, i, j, p, _ = B.pool_cell(r0, h, w, ph, pw, oh, ow)
        yy, xx = p // w, p % w
        cy, cx = yy % ph, xx % pw
        for r in range(r0, r1):
            p, inside = yy * w + xx, i < oh and j < ow
            for k in range(c):
                xhat = (x[r, k] - mean[k]) * invstd[k]
                g = B.unpooled(gp, arg, b, i, j, p, inside, k)
                g = B.relu_passed(x[r, k], g, rscale[k], rshift[k], relu)
                s1[t, k], s2[t, k] = B.add_param_terms(g, xhat, s1[t, k], s2[t, k])
            b, yy, xx, i, j, cy, cx = _next_pixel(b, yy, xx, i, j, cy, cx, h, w, ph, pw)


@_kernel
def batchnorm_backward_input_pooled(x, gp, arg, h, w, ph, pw, mean, invstd, scale, rscale,
                                    rshift, relu, mean_g, mean_g_xhat, gx):
    """batchnorm_backward_input from the gradient as param_sums_pooled reads it; by
    image rows, pixels counted up."""
    c = x.shape[1]
    oh, ow = gp.shape[1], gp.shape[2]
    for row in prange(x.shape[0] // w):
        b, i, j, p, _ = B.pool_cell(row * w, h, w, ph, pw, oh, ow)
        cx = 0
        for r in range(row * w, row * w + w):
            inside = i < oh and j < ow
            for k in range(c):
                g = B.unpooled(gp, arg, b, i, j, p, inside, k)
                g = B.relu_passed(x[r, k], g, rscale[k], rshift[k], relu)
                gx[r, k] = B.batchnorm_grad(x[r, k], g, mean[k], invstd[k], scale[k],
                                            mean_g[k], mean_g_xhat[k])
            p, cx = p + 1, cx + 1
            if cx == pw:
                cx, j = 0, j + 1


@_kernel
def scale_shift_maxpool(x, scale, shift, relu, ph, pw, y, arg):
    """y, arg = maxpool_forward of scale_shift(x, ...) for ph x pw windows at strides ph,
    pw, unpadded, without scale_shift's output: its values, in maxpool_forward's order
    and compare (channels innermost, as there, so the loop vectorises)."""
    n, h, w, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for r in prange(n * oh):
        b, i = r // oh, r % oh
        for j in range(ow):
            y0, x0 = i * ph, j * pw
            for k in range(c):
                y[b, i, j, k] = B.relu_if(B.affine(x[b, y0, x0, k], scale[k], shift[k]), relu)
                arg[b, i, j, k] = y0 * w + x0
            for yy in range(y0, y0 + ph):
                for xx in range(x0, x0 + pw):
                    for k in range(c):
                        v = B.relu_if(B.affine(x[b, yy, xx, k], scale[k], shift[k]), relu)
                        old = y[b, i, j, k]
                        take = B.pool_takes(v, old)
                        y[b, i, j, k] = v if take else old
                        arg[b, i, j, k] = yy * w + xx if take else arg[b, i, j, k]


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
# Loops with the filters innermost (contiguous in y, w and, for a depthwise conv, x), so
# they vectorise; each output still sums its taps in (p, q, c) order, as the CUDA body does.
@_kernel
def conv_maxpool_few_taps(x, w, zw, y, arg):
    """y, arg = 2x2 stride-2 maxpool_forward of the 'valid' stride-1 conv of x (N,H,W,C)
    with w (KH,KW,C,F), F % 16 == 0, without the conv's output or im2col columns: a
    window's four cells' conv values summed tap by tap in 16-lane vectors (eight
    independent fused multiply-adds per two weight vectors, simd.py), then pooled in
    those registers as maxpool_forward does (the same winner; arg = row*zw + col in the conv
    output). For convs of few taps (a first layer on grayscale images), whose GEMM
    over K = KH*KW*C ran at a fifth of sgemm's rate."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, ow = y.shape[1], y.shape[2]
    ws, xs, ys, args = w.reshape(-1), x.reshape(-1), y.reshape(-1), arg.reshape(-1)
    for r in prange(n * oh):
        b, i = r // oh, r % oh
        for j in range(ow):
            at00 = ((b * h + 2 * i) * wd + 2 * j) * c   # the window's top-left input
            cell = 2 * i * zw + 2 * j                   # and its first cell's arg
            for g in range(0, f, 32):   # two vectors of filters: each x read feeds both
                h2 = 16 if g + 16 < f else 0   # the second's offset (none left: the first's)
                a0, a1, a2, a3 = vzero(), vzero(), vzero(), vzero()
                b0, b1, b2, b3 = vzero(), vzero(), vzero(), vzero()
                t = g
                for p in range(kh):
                    o = at00 + p * wd * c
                    for q in range(kw * c):
                        v, u = vload(ws, t), vload(ws, t + h2)
                        x0, x1 = xs[o + q], xs[o + c + q]
                        x2, x3 = xs[o + wd * c + q], xs[o + (wd + 1) * c + q]
                        a0, a1, a2, a3 = vfma(x0, v, a0), vfma(x1, v, a1), \
                            vfma(x2, v, a2), vfma(x3, v, a3)
                        b0, b1, b2, b3 = vfma(x0, u, b0), vfma(x1, u, b1), \
                            vfma(x2, u, b2), vfma(x3, u, b3)
                        t += f
                at = (r * ow + j) * f + g
                vpool4_store(a0, a1, a2, a3, cell, cell + 1, cell + zw, cell + zw + 1, ys,
                             args, at)
                if h2:
                    vpool4_store(b0, b1, b2, b3, cell, cell + 1, cell + zw, cell + zw + 1,
                                 ys, args, at + 16)


@_kernel
def maxpool2x2_conv_weight_grad16(gy, arg, src, sb, sy, sx, taps, ow, sh, sw, partial):
    """kernels.maxpool2x2_conv_weight_grad (same arguments) for F % 16 == 0 in 16-lane
    vectors: the four cells' pooled gradients picked by arg, then per tap each cell's
    product added to the accumulator, unfused and in the scalar kernel's order (three
    of the four are exact zeros): the same bits, in about two thirds of the time
    (benchmarks/README.md, "First conv's weight gradient")."""
    n, oph, opw, f = gy.shape
    pixels = n * oph * opw
    kk = taps.shape[0]
    g1, a1 = gy.reshape(-1), arg.reshape(-1)
    chunks = partial.shape[0]
    step = (pixels + chunks - 1) // chunks
    for t in prange(chunks):
        acc = np.zeros(kk * f, gy.dtype)
        first = t * step
        b, py, px = first // (oph * opw), first // opw % oph, first % opw
        for pix in range(first, min(pixels, first + step)):
            zy, zx = py * sh, px * sw   # the window's first cell
            i0 = zy * ow + zx
            r0 = b * sb + zy * sy + zx * sx
            px += 1   # the next window (no divisions in the loop)
            if px == opw:
                px, py = 0, py + 1
                if py == oph:
                    py, b = 0, b + 1
            for g in range(0, f, 16):
                e = pix * f + g
                w0, w1 = vpick(g1, a1, e, i0), vpick(g1, a1, e, i0 + 1)
                w2, w3 = vpick(g1, a1, e, i0 + ow), vpick(g1, a1, e, i0 + ow + 1)
                for tap in range(kk):
                    o = r0 + taps[tap]
                    s = vmuladd(src[o], w0, vload(acc, tap * f + g))
                    s = vmuladd(src[o + sx], w1, s)
                    s = vmuladd(src[o + sy], w2, s)
                    vstore(acc, tap * f + g, vmuladd(src[o + sy + sx], w3, s))
        for i in range(kk * f):
            partial[t, i // f, i % f] = acc[i]


@_kernel
def grouped_conv_forward(x, w, sh, sw, pt, pl, dh, dw, groups, y):
    n, h, wd, _ = x.shape
    kh, kw, cg, f = w.shape
    oh, ow = y.shape[1], y.shape[2]
    first = np.empty(f, np.int64)
    for k in range(f):
        first[k] = B.group_first_channel(k, cg, f, groups)
    for r in prange(n * oh):
        b, i = r // oh, r % oh
        acc = np.empty(f, np.float64)
        for j in range(ow):
            acc[:] = 0.0
            for p in range(kh):
                yy = i * sh - pt + p * dh
                if 0 <= yy < h:
                    for q in range(kw):
                        xx = j * sw - pl + q * dw
                        if 0 <= xx < wd:
                            for c in range(cg):
                                for k in range(f):
                                    acc[k] += x[b, yy, xx, first[k] + c] * w[p, q, c, k]
            for k in range(f):
                y[b, i, j, k] = acc[k]


@_kernel
def grouped_conv_backward_input(gy, w, sh, sw, pt, pl, dh, dw, groups, gx):
    """A scatter, parallel over images (whose gradients never overlap)."""
    n, h, wd, _ = gx.shape
    kh, kw, cg, f = w.shape
    oh, ow = gy.shape[1], gy.shape[2]
    first = np.empty(f, np.int64)
    for k in range(f):
        first[k] = B.group_first_channel(k, cg, f, groups)
    for b in prange(n):
        gx[b] = 0.0
        for i in range(oh):
            for j in range(ow):
                for p in range(kh):
                    yy = i * sh - pt + p * dh
                    if 0 <= yy < h:
                        for q in range(kw):
                            xx = j * sw - pl + q * dw
                            if 0 <= xx < wd:
                                for c in range(cg):
                                    for k in range(f):
                                        gx[b, yy, xx, first[k] + c] += gy[b, i, j, k] * \
                                            w[p, q, c, k]


@_kernel
def grouped_conv_backward_weight(x, gy, sh, sw, pt, pl, dh, dw, groups, partial):
    """partial[t] = chunk t's part of the weight gradient (rows b * OH + i)."""
    chunks, kh, kw, cg, f = partial.shape
    n, h, wd, _ = x.shape
    oh, ow = gy.shape[1], gy.shape[2]
    first = np.empty(f, np.int64)
    for k in range(f):
        first[k] = B.group_first_channel(k, cg, f, groups)
    for t in prange(chunks):
        r0, r1 = B.chunk_rows(t, chunks, n * oh)
        partial[t] = 0.0
        for r in range(r0, r1):
            b, i = r // oh, r % oh
            for p in range(kh):
                yy = i * sh - pt + p * dh
                if 0 <= yy < h:
                    for j in range(ow):
                        for q in range(kw):
                            xx = j * sw - pl + q * dw
                            if 0 <= xx < wd:
                                for c in range(cg):
                                    for k in range(f):
                                        partial[t, p, q, c, k] += x[b, yy, xx, first[k] + c] * \
                                            gy[b, i, j, k]


# ------------------------------------------------------------------ embedding
@_kernel
def segment_sums(g, order, starts, rows, out):
    """out[rows[u]] = segment u's sum of g's rows (out zeroed by the caller)."""
    for u in prange(rows.shape[0]):
        for k in range(g.shape[1]):
            out[rows[u], k] = B.segment_sum(g, order, starts, u, k)
