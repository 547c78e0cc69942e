"""Kernel bodies of average pooling, grouped (and depthwise) convolution and the
embedding gradient, compiled for both backends with those of bodies.py.

Each body computes one output element, so both backends run it one element per
iteration (CPU) or thread (CUDA). Gradients are gathers, each element summing
what reaches it in a fixed order: no atomics, the same bits on any thread count.
Layouts as everywhere: NHWC images, (KH, KW, C/groups, F) kernels.
"""
from __future__ import annotations

from .bodies import body


# ----------------------------------------------------------------- average pool
@body
def window_span(i, stride, pad, size, n):
    """The in-bounds [start, stop) of window i along one axis."""
    start = i * stride - pad
    return max(start, 0), min(start + size, n)


@body
def avgpool_value(x, b, i, j, ch, ph, pw, sh, sw, pt, pl):
    """The mean of window (i, j) over its in-bounds cells (padding is not counted,
    as in TensorFlow and Keras)."""
    y0, y1 = window_span(i, sh, pt, ph, x.shape[1])
    x0, x1 = window_span(j, sw, pl, pw, x.shape[2])
    acc = 0.0
    for yy in range(y0, y1):
        for xx in range(x0, x1):
            acc += x[b, yy, xx, ch]
    return acc / ((y1 - y0) * (x1 - x0))


@body
def first_window(v, stride, pad, size):
    """The first window (along one axis) whose span holds position v."""
    lo = v + pad - size + 1
    return 0 if lo <= 0 else (lo + stride - 1) // stride


@body
def avgpool_grad_value(gy, b, yy, xx, ch, ph, pw, sh, sw, pt, pl, h, w):
    """Input (yy, xx)'s gradient: each window holding it passes gy / its cell count."""
    oh, ow = gy.shape[1], gy.shape[2]
    acc = 0.0
    i = first_window(yy, sh, pt, ph)
    while i < oh and i * sh - pt <= yy:
        y0, y1 = window_span(i, sh, pt, ph, h)
        j = first_window(xx, sw, pl, pw)
        while j < ow and j * sw - pl <= xx:
            x0, x1 = window_span(j, sw, pl, pw, w)
            acc += gy[b, i, j, ch] / ((y1 - y0) * (x1 - x0))
            j += 1
        i += 1
    return acc


# ------------------------------------------------------------ grouped convolution
@body
def group_first_channel(f, cg, nf, groups):
    """The first input channel filter f sees: its group's C/groups channels start there."""
    return (f // (nf // groups)) * cg


@body
def grouped_conv_value(x, w, b, i, j, f, sh, sw, pt, pl, dh, dw, groups):
    """y[b, i, j, f]: filter f sees only its group's C/groups input channels."""
    kh, kw, cg, nf = w.shape
    c0 = group_first_channel(f, cg, nf, groups)
    acc = 0.0
    for p in range(kh):
        yy = i * sh - pt + p * dh
        if 0 <= yy < x.shape[1]:
            for q in range(kw):
                xx = j * sw - pl + q * dw
                if 0 <= xx < x.shape[2]:
                    for c in range(cg):
                        acc += x[b, yy, xx, c0 + c] * w[p, q, c, f]
    return acc


@body
def grouped_conv_grad_input_value(gy, w, b, yy, xx, ch, sh, sw, pt, pl, dh, dw, groups):
    """gx[b, yy, xx, ch]: the outputs that read it, through the filters of its group."""
    kh, kw, cg, nf = w.shape
    fg = nf // groups
    f0 = (ch // cg) * fg
    c = ch % cg
    acc = 0.0
    for p in range(kh):
        iy = yy + pt - p * dh
        if iy >= 0 and iy % sh == 0 and iy // sh < gy.shape[1]:
            for q in range(kw):
                ix = xx + pl - q * dw
                if ix >= 0 and ix % sw == 0 and ix // sw < gy.shape[2]:
                    for f in range(f0, f0 + fg):
                        acc += gy[b, iy // sh, ix // sw, f] * w[p, q, c, f]
    return acc


@body
def grouped_conv_grad_weight_part(x, gy, r0, r1, p, q, c, f, sh, sw, pt, pl, dh, dw, groups,
                                  cg):
    """gw[p, q, c, f] summed over output rows [r0, r1) (row = b * OH + i) only: one
    chunk's part, the chunks added afterwards in order."""
    oh, ow, nf = gy.shape[1], gy.shape[2], gy.shape[3]
    ch = group_first_channel(f, cg, nf, groups) + c
    acc = 0.0
    for row in range(r0, r1):
        b = row // oh
        yy = (row % oh) * sh - pt + p * dh
        if 0 <= yy < x.shape[1]:
            for j in range(ow):
                xx = j * sw - pl + q * dw
                if 0 <= xx < x.shape[2]:
                    acc += x[b, yy, xx, ch] * gy[b, row % oh, j, f]
    return acc


# ------------------------------------------------------------------- embedding
@body
def segment_sum(g, order, starts, u, k):
    """The sum of g[order[s], k] over segment u (s in [starts[u], starts[u + 1])):
    the gradient of one embedding row, its uses added in their input order."""
    acc = 0.0
    for s in range(starts[u], starts[u + 1]):
        acc += g[order[s], k]
    return acc
