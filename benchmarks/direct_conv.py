"""A prototype, not in minigrad: direct convolution kernels with a 4 x 64 tile of
accumulators held in sixteen AVX-512 registers, against minigrad's im2col + OpenBLAS
GEMM, for the MNIST convnet's second conv; each kernel timed right after an OpenBLAS
GEMM (whose idle threads keep spinning on the cores for a while) and 0.3 s after one.

    python benchmarks/direct_conv.py [--shape 128,13,13,32,64] [--reps 40]
    OPENBLAS_THREAD_TIMEOUT=4 python benchmarks/direct_conv.py   # OpenBLAS threads sleep at once

Numba does not vectorise such a tile by itself (an accumulator array stays in memory;
scalars written out per lane stay scalar), so the kernels use a 16-lane float32 vector
type made with numba.extending (an LLVM <16 x float>, llvm.fma per lane). Findings and
figures: benchmarks/README.md, "Direct convolution (prototype, not adopted)".
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402

VEC = ir.VectorType(ir.FloatType(), 16)
FLAT = types.Array(types.float32, 1, "C")  # what vload and vstore accept


class F32x16(types.Type):
    def __init__(self):
        super().__init__(name="f32x16")


f32x16 = F32x16()


@register_model(F32x16)
class _Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, VEC)


def _ptr(context, builder, aty, arr, idx):
    data = context.make_array(aty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [idx]), VEC.as_pointer())


@intrinsic
def vload(typingctx, flat, idx):
    """flat[idx:idx + 16] as one vector (1-D float32, no bounds check)."""
    if flat != FLAT:
        return None
    return f32x16(flat, idx), lambda ctx, b, sig, a: b.load(_ptr(ctx, b, sig.args[0], *a),
                                                            align=4)


@intrinsic
def vstore(typingctx, flat, idx, v):
    if flat != FLAT or v != f32x16:
        return None

    def codegen(ctx, b, sig, a):
        b.store(a[2], _ptr(ctx, b, sig.args[0], a[0], a[1]), align=4)
        return ctx.get_dummy_value()
    return types.none(flat, idx, v), codegen


@intrinsic
def vzero(typingctx):
    return f32x16(), lambda ctx, b, sig, a: ir.Constant(VEC, [0.0] * 16)


@intrinsic
def vfma(typingctx, s, v, acc):
    """acc + s * v, a fused multiply-add per lane."""
    def codegen(ctx, b, sig, a):
        one = b.insert_element(ir.Constant(VEC, ir.Undefined), a[0], ir.Constant(ir.IntType(32), 0))
        spread = b.shuffle_vector(one, ir.Constant(VEC, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16))
        fma = cgutils.get_or_insert_function(b.module, ir.FunctionType(VEC, [VEC] * 3),
                                             "llvm.fma.v16f32")
        return b.call(fma, [spread, a[1], a[2]])
    return f32x16(types.float32, f32x16, f32x16), codegen


@njit(inline="always")
def _pixel(b, pixel, pixels, ow, h, w, c):
    """Offset in x of output pixel `pixel`'s (at most the last) top-left input value."""
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
def _row4(flat, at, a0, a1, a2, a3):
    vstore(flat, at, a0)
    vstore(flat, at + 16, a1)
    vstore(flat, at + 32, a2)
    vstore(flat, at + 48, a3)


@njit(parallel=True, cache=True)
def conv_direct(x, w, y):
    """'valid' stride-1 conv, F % 64 == 0: tasks (image, 64 channels), tiles of 4 output
    pixels flat over the image (the last tile repeats its last pixel, stores its own)."""
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
            _row4(ys, at, a00, a01, a02, a03)
            if m > 1:
                _row4(ys, at + f, a10, a11, a12, a13)
            if m > 2:
                _row4(ys, at + 2 * f, a20, a21, a22, a23)
            if m > 3:
                _row4(ys, at + 3 * f, a30, a31, a32, a33)


@njit(parallel=True, cache=True)
def weight_grad_direct(x, gy, kh, kw, gw):
    """gw (rows, F), rows = kh*kw*C, a multiple of 4 here: tasks (4 im2col rows, 64
    channels), each summing every output pixel in order."""
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
                a00, a01, a02, a03 = _fma4(xs[xo + d0], g0, g1, g2, g3,
                                           a00, a01, a02, a03)
                a10, a11, a12, a13 = _fma4(xs[xo + d1], g0, g1, g2, g3,
                                           a10, a11, a12, a13)
                a20, a21, a22, a23 = _fma4(xs[xo + d2], g0, g1, g2, g3,
                                           a20, a21, a22, a23)
                a30, a31, a32, a33 = _fma4(xs[xo + d3], g0, g1, g2, g3,
                                           a30, a31, a32, a33)
                xo += c
                go += f
        at = r0 * f + f0
        _row4(ws, at, a00, a01, a02, a03)
        _row4(ws, at + f, a10, a11, a12, a13)
        _row4(ws, at + 2 * f, a20, a21, a22, a23)
        _row4(ws, at + 3 * f, a30, a31, a32, a33)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="128,13,13,32,64", help="N,H,W,C,F of a 3x3 'valid' conv")
    ap.add_argument("--reps", type=int, default=40, help="samples of each way, alternating")
    args = ap.parse_args()
    n, h, w_, c, f = (int(v) for v in args.shape.split(","))
    if f % 64 or (9 * c) % 4:
        sys.exit("the prototype needs F % 64 == 0 and 9*C % 4 == 0")
    import_minigrad()
    import numba
    from minigrad.backends import get_backend
    from minigrad.ops.conv import conv2d_geometry
    backend = get_backend("cpu")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w_, c), dtype=np.float32)
    w = rng.standard_normal((3, 3, c, f), dtype=np.float32)
    geom = conv2d_geometry(x.shape, (3, 3))
    gy = rng.standard_normal((n, geom.oh, geom.ow, f), dtype=np.float32)
    y = np.empty_like(gy)
    gw = np.empty((9 * c, f), np.float32)
    # a GEMM about the size of a training step's, to set OpenBLAS's threads spinning
    a, b = rng.random((2048, 288), np.float32), rng.random((288, 64), np.float32)

    y_ref, cols = backend.conv2d_forward(x, w, geom)
    gw_ref = backend.conv2d_backward_weight(gy, cols, w.shape)
    conv_direct(x, w, y)
    weight_grad_direct(x, gy, 3, 3, gw)
    err_y = float(np.abs(y - y_ref).max() / np.abs(y_ref).max())
    err_w = float(np.abs(gw.reshape(w.shape) - gw_ref).max() / np.abs(gw_ref).max())

    def idle():
        time.sleep(0.3)

    ways = {
        "forward: im2col + GEMM (minigrad)": lambda: backend.conv2d_forward(x, w, geom),
        "forward: direct, 0.3 s after the last GEMM": (idle, lambda: conv_direct(x, w, y)),
        "forward: direct, after a GEMM": (lambda: a @ b, lambda: conv_direct(x, w, y)),
        "weight gradient: GEMM (minigrad)": lambda: backend.conv2d_backward_weight(gy, cols,
                                                                                 w.shape),
        "weight gradient: direct, 0.3 s after the last GEMM": (
            idle, lambda: weight_grad_direct(x, gy, 3, 3, gw)),
        "weight gradient: direct, after a GEMM": (lambda: a @ b,
                                                  lambda: weight_grad_direct(x, gy, 3, 3, gw)),
    }
    times = {name: [] for name in ways}
    for rep in range(args.reps + 3):
        for name, way in (ways.items() if rep % 2 else reversed(ways.items())):
            before, fn = way if isinstance(way, tuple) else (None, way)
            if before is not None:
                before()
            t = time.perf_counter()
            fn()
            if rep >= 3:
                times[name].append(time.perf_counter() - t)
    flops = 2 * n * geom.oh * geom.ow * 9 * c * f
    print(f"3x3 'valid' conv {n}x{h}x{w_}x{c} -> {geom.oh}x{geom.ow}x{f}, float32, "
          f"{args.reps} samples each, alternating; {numba.get_num_threads()} Numba threads; "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}")
    print(f"direct vs minigrad: max relative difference forward {err_y:.1e}, "
          f"weight gradient {err_w:.1e}")
    print("| way | median ms | 25th-75th percentile ms | GFLOP/s |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        q1, med, q3 = (np.percentile(ts, q) * 1e3 for q in (25, 50, 75))
        print(f"| {name} | {med:.2f} | {q1:.2f}-{q3:.2f} | {flops / med / 1e6:.0f} |")
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()
