"""Direct convolution kernels for float32 'valid' stride-1 convs with filters in
multiples of 64: a tile of 4 output pixels (forward) or 4 im2col rows (weight
gradient) x 64 channels held in sixteen 16-lane vectors (simd.py), instead of the
im2col columns and an OpenBLAS GEMM.

Used (layer_ops.py) where they were measured faster inside training steps: on one
Numba thread (each process of `initialize(num_processes=2)` on a 2-core machine:
the MNIST convnet's second conv, batch 64 per process, forward 4.6 -> 3.0 ms,
weight gradient 4.2 -> 3.7 ms, the step ~8% shorter) on a CPU with AVX-512. With
two threads beside OpenBLAS's they made steps no faster (benchmarks/README.md,
"Direct convolution"). Every output value is one task's, summed in a fixed order:
the bits do not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _kernel, parallel_from, threads
from .simd import host_has_avx512, vfma, vload, vstore, vzero

TILE_CHANNELS = 64   # 4 vectors of 16
TILE_ROWS = 4        # output pixels (forward) or im2col rows (weight gradient) per tile
_AVX512 = None


def usable(x_dtype, w_shape, geom) -> bool:
    """Whether conv2d_forward may use conv2d_direct for this conv here and now."""
    sh, sw, pt, pl, dh, dw = geom[:6]
    kh, kw, c, f = w_shape
    if (sh, sw, pt, pl, dh, dw) != (1, 1, 0, 0, 1, 1) or f % TILE_CHANNELS or \
            np.dtype(x_dtype) != np.float32 or threads() != 1:
        return False
    return has_avx512()


def has_avx512() -> bool:
    """host_has_avx512(), asked once."""
    global _AVX512
    if _AVX512 is None:
        _AVX512 = host_has_avx512()
    return _AVX512


def weight_grad_usable(rows: int, f: int) -> bool:
    """Whether conv2d_weight_grad_direct fits a gradient of (rows, f)."""
    return rows % TILE_ROWS == 0 and f % TILE_CHANNELS == 0


@njit(inline="always")
def _pixel(b, pixel, pixels, ow, h, w, c):
    """Offset in x of output pixel `pixel`'s (at most the last one's) top-left input."""
    pixel = min(pixel, pixels - 1)
    return ((b * h + pixel // ow) * w + pixel % ow) * c


@njit(inline="always")
def _tap(row, kw, w, c):
    """Offset from a pixel's top-left input value of im2col row (p*kw + q)*c + ch."""
    tap = row // c
    return ((tap // kw) * w + tap % kw) * c + row % c


@njit(inline="always")
def _fma4(s, v0, v1, v2, v3, a0, a1, a2, a3):
    """Four accumulators plus s times four vectors."""
    return vfma(s, v0, a0), vfma(s, v1, a1), vfma(s, v2, a2), vfma(s, v3, a3)


@njit(inline="always")
def _store4(flat, at, a0, a1, a2, a3):
    vstore(flat, at, a0)
    vstore(flat, at + 16, a1)
    vstore(flat, at + 32, a2)
    vstore(flat, at + 48, a3)


@parallel_from(1)
@_kernel
def conv2d_direct(x, w, y):
    """y = 'valid' stride-1 conv of x (N,H,W,C) with w (KH,KW,C,F), F % 64 == 0: tasks
    (image, 64 channels), tiles of 4 output pixels flat over the image (the last tile
    repeats its last pixel and stores only its own)."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, ow = y.shape[1], y.shape[2]
    xs, ws, ys = x.reshape(-1), w.reshape(-1), y.reshape(-1)
    pixels, chunks = oh * ow, f // 64
    for task in prange(n * chunks):
        b, f0 = task // chunks, (task % chunks) * 64
        for p0 in range(0, pixels, 4):
            o0 = _pixel(b, p0, pixels, ow, h, wd, c)
            o1 = _pixel(b, p0 + 1, pixels, ow, h, wd, c)
            o2 = _pixel(b, p0 + 2, pixels, ow, h, wd, c)
            o3 = _pixel(b, p0 + 3, pixels, ow, h, wd, c)
            a00, a01, a02, a03 = vzero(), vzero(), vzero(), vzero()
            a10, a11, a12, a13 = vzero(), vzero(), vzero(), vzero()
            a20, a21, a22, a23 = vzero(), vzero(), vzero(), vzero()
            a30, a31, a32, a33 = vzero(), vzero(), vzero(), vzero()
            for p in range(kh):
                for q in range(kw):
                    t, k = (p * wd + q) * c, (p * kw + q) * c * f + f0
                    for _ in range(c):
                        w0, w1 = vload(ws, k), vload(ws, k + 16)
                        w2, w3 = vload(ws, k + 32), vload(ws, k + 48)
                        a00, a01, a02, a03 = _fma4(xs[o0 + t], w0, w1, w2, w3,
                                                   a00, a01, a02, a03)
                        a10, a11, a12, a13 = _fma4(xs[o1 + t], w0, w1, w2, w3,
                                                   a10, a11, a12, a13)
                        a20, a21, a22, a23 = _fma4(xs[o2 + t], w0, w1, w2, w3,
                                                   a20, a21, a22, a23)
                        a30, a31, a32, a33 = _fma4(xs[o3 + t], w0, w1, w2, w3,
                                                   a30, a31, a32, a33)
                        t += 1
                        k += f
            at, m = (b * pixels + p0) * f + f0, min(4, pixels - p0)
            _store4(ys, at, a00, a01, a02, a03)
            if m > 1:
                _store4(ys, at + f, a10, a11, a12, a13)
            if m > 2:
                _store4(ys, at + 2 * f, a20, a21, a22, a23)
            if m > 3:
                _store4(ys, at + 3 * f, a30, a31, a32, a33)


@parallel_from(1)
@_kernel
def conv2d_weight_grad_direct(x, gy, kh, kw, gw):
    """gw (KH*KW*C, F) = im2col(x).T @ gy for the 'valid' stride-1 conv, rows % 4 == 0
    and F % 64 == 0: tasks (4 im2col rows, 64 channels), each summing every output
    pixel in order."""
    n, h, wd, c = x.shape
    oh, ow, f = gy.shape[1], gy.shape[2], gy.shape[3]
    xs, gs, ws = x.reshape(-1), gy.reshape(-1), gw.reshape(-1)
    chunks = f // 64
    for task in prange(gw.shape[0] // 4 * chunks):
        r0, f0 = (task // chunks) * 4, (task % chunks) * 64
        d0, d1 = _tap(r0, kw, wd, c), _tap(r0 + 1, kw, wd, c)
        d2, d3 = _tap(r0 + 2, kw, wd, c), _tap(r0 + 3, kw, wd, c)
        a00, a01, a02, a03 = vzero(), vzero(), vzero(), vzero()
        a10, a11, a12, a13 = vzero(), vzero(), vzero(), vzero()
        a20, a21, a22, a23 = vzero(), vzero(), vzero(), vzero()
        a30, a31, a32, a33 = vzero(), vzero(), vzero(), vzero()
        for r in range(n * oh):
            b = r // oh
            xo, go = (b * h + r - b * oh) * wd * c, r * ow * f + f0
            for _ in range(ow):
                g0, g1 = vload(gs, go), vload(gs, go + 16)
                g2, g3 = vload(gs, go + 32), vload(gs, go + 48)
                a00, a01, a02, a03 = _fma4(xs[xo + d0], g0, g1, g2, g3, a00, a01, a02, a03)
                a10, a11, a12, a13 = _fma4(xs[xo + d1], g0, g1, g2, g3, a10, a11, a12, a13)
                a20, a21, a22, a23 = _fma4(xs[xo + d2], g0, g1, g2, g3, a20, a21, a22, a23)
                a30, a31, a32, a33 = _fma4(xs[xo + d3], g0, g1, g2, g3, a30, a31, a32, a33)
                xo += c
                go += f
        at = r0 * f + f0
        _store4(ws, at, a00, a01, a02, a03)
        _store4(ws, at + f, a10, a11, a12, a13)
        _store4(ws, at + 2 * f, a20, a21, a22, a23)
        _store4(ws, at + 3 * f, a30, a31, a32, a33)


# ------------------------------------------------- convs of few taps (a first layer)
@njit(inline="always")
def _fma8(x0, x1, x2, x3, v, u, a0, a1, a2, a3, b0, b1, b2, b3):
    """Four pixels' values times two weight vectors: eight independent accumulators."""
    return (vfma(x0, v, a0), vfma(x1, v, a1), vfma(x2, v, a2), vfma(x3, v, a3),
            vfma(x0, u, b0), vfma(x1, u, b1), vfma(x2, u, b2), vfma(x3, u, b3))


@njit(inline="always")
def _store_pixel(ys, at, a, b, second):
    vstore(ys, at, a)
    if second:
        vstore(ys, at + 16, b)


@parallel_from(1)
@_kernel
def conv_few_taps(x, w, y):
    """y = the 'valid' stride-1 conv of x (N,H,W,C) with w (KH,KW,C,F), F % 16 == 0, for
    few taps (a first layer: 3x3 on RGB, padded first), without im2col columns: four
    output pixels of a row at a time (the last group repeats the row's last pixel and
    stores only its own) times two vectors of filters, summed tap by tap in (p, q, c)
    order with fused multiply-adds. Its GEMM over K = KH*KW*C = 27 ran at a fraction
    of sgemm's rate, and im2col wrote 9x the input."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, ow = y.shape[1], y.shape[2]
    ws, xs, ys = w.reshape(-1), x.reshape(-1), y.reshape(-1)
    for r in prange(n * oh):
        b, i = r // oh, r % oh
        row = (b * h + i) * wd * c
        for j in range(0, ow, 4):
            o0, o1 = row + j * c, row + min(j + 1, ow - 1) * c
            o2, o3 = row + min(j + 2, ow - 1) * c, row + min(j + 3, ow - 1) * c
            for g in range(0, f, 32):
                h2 = 16 if g + 16 < f else 0   # the second vector's offset (none: the first)
                a0, a1, a2, a3 = vzero(), vzero(), vzero(), vzero()
                b0, b1, b2, b3 = vzero(), vzero(), vzero(), vzero()
                t = g
                for p in range(kh):
                    d = p * wd * c
                    for q in range(kw * c):
                        a0, a1, a2, a3, b0, b1, b2, b3 = _fma8(
                            xs[o0 + d + q], xs[o1 + d + q], xs[o2 + d + q], xs[o3 + d + q],
                            vload(ws, t), vload(ws, t + h2), a0, a1, a2, a3, b0, b1, b2, b3)
                        t += f
                at = (r * ow + j) * f + g
                _store_pixel(ys, at, a0, b0, h2)
                if j + 1 < ow:
                    _store_pixel(ys, at + f, a1, b1, h2)
                if j + 2 < ow:
                    _store_pixel(ys, at + 2 * f, a2, b2, h2)
                if j + 3 < ow:
                    _store_pixel(ys, at + 3 * f, a3, b3, h2)


@parallel_from(1)
@_kernel
def conv_weight_grad_few_taps(x, gy, taps, partial):
    """partial[s] (KK, F) = the im2col rows of chunk s's output pixels, transposed, times
    their gy rows, for the 'valid' stride-1 conv of x (N,H,W,C) with F % 16 == 0: per
    chunk, nine taps (`taps`: each tap's offset from a pixel's top-left input, padded to
    a multiple of 9, the padding's sums dropped) times two vectors of filters held in
    eighteen accumulators over the chunk's pixels in order. Fixed chunks (the caller
    adds them in order): the bits do not depend on the thread count."""
    n, oh, ow, f = gy.shape
    h, wd, c = x.shape[1], x.shape[2], x.shape[3]
    xs, gs, ps = x.reshape(-1), gy.reshape(-1), partial.reshape(-1)
    chunks, kk = partial.shape[0], partial.shape[1]
    pixels = n * oh * ow
    step = (pixels + chunks - 1) // chunks
    for s in prange(chunks):
        first, last = s * step, min(pixels, (s + 1) * step)
        for g in range(0, f, 32):
            h2 = 16 if g + 16 < f else 0
            for t0 in range(0, taps.shape[0], 9):
                d0, d1, d2, d3, d4 = taps[t0], taps[t0 + 1], taps[t0 + 2], taps[t0 + 3], \
                    taps[t0 + 4]
                d5, d6, d7, d8 = taps[t0 + 5], taps[t0 + 6], taps[t0 + 7], taps[t0 + 8]
                a0, a1, a2, a3, a4 = vzero(), vzero(), vzero(), vzero(), vzero()
                a5, a6, a7, a8 = vzero(), vzero(), vzero(), vzero()
                b0, b1, b2, b3, b4 = vzero(), vzero(), vzero(), vzero(), vzero()
                b5, b6, b7, b8 = vzero(), vzero(), vzero(), vzero()
                b_, i, j = first // (oh * ow), first // ow % oh, first % ow
                for pix in range(first, last):
                    o = ((b_ * h + i) * wd + j) * c
                    v, u = vload(gs, pix * f + g), vload(gs, pix * f + g + h2)
                    a0, b0 = vfma(xs[o + d0], v, a0), vfma(xs[o + d0], u, b0)
                    a1, b1 = vfma(xs[o + d1], v, a1), vfma(xs[o + d1], u, b1)
                    a2, b2 = vfma(xs[o + d2], v, a2), vfma(xs[o + d2], u, b2)
                    a3, b3 = vfma(xs[o + d3], v, a3), vfma(xs[o + d3], u, b3)
                    a4, b4 = vfma(xs[o + d4], v, a4), vfma(xs[o + d4], u, b4)
                    a5, b5 = vfma(xs[o + d5], v, a5), vfma(xs[o + d5], u, b5)
                    a6, b6 = vfma(xs[o + d6], v, a6), vfma(xs[o + d6], u, b6)
                    a7, b7 = vfma(xs[o + d7], v, a7), vfma(xs[o + d7], u, b7)
                    a8, b8 = vfma(xs[o + d8], v, a8), vfma(xs[o + d8], u, b8)
                    j += 1   # the next pixel, counted up
                    if j == ow:
                        j, i = 0, i + 1
                        if i == oh:
                            i, b_ = 0, b_ + 1
                at = (s * kk + t0) * f + g
                for q, a, b in ((0, a0, b0), (1, a1, b1), (2, a2, b2), (3, a3, b3),
                                (4, a4, b4), (5, a5, b5), (6, a6, b6), (7, a7, b7),
                                (8, a8, b8)):
                    if t0 + q < kk:
                        _store_pixel(ps, at + q * f, a, b, h2)
