"""minigrad's direct convolution kernels (minigrad/backends/cpu/direct_conv.py: a
4 x 64 tile of accumulators in sixteen AVX-512 registers) against the im2col +
OpenBLAS GEMM they replace, for the MNIST convnet's second conv; each direct kernel
timed right after an OpenBLAS GEMM (whose idle threads keep spinning on the cores
for a while) and 0.3 s after one.

    python benchmarks/direct_conv.py [--shape 128,13,13,32,64] [--reps 40]
    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/direct_conv.py --shape 64,13,13,32,64
    OPENBLAS_THREAD_TIMEOUT=4 python benchmarks/direct_conv.py   # OpenBLAS threads sleep at once

The kernels run as the backend runs them (its `_launch`: on one Numba thread their
serial build). Findings and figures: benchmarks/README.md, "Direct convolution".
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="128,13,13,32,64", help="N,H,W,C,F of a 3x3 'valid' conv")
    ap.add_argument("--reps", type=int, default=40, help="samples of each way, alternating")
    args = ap.parse_args()
    n, h, w_, c, f = (int(v) for v in args.shape.split(","))
    if f % 64 or (9 * c) % 4:
        sys.exit("the direct kernels need F % 64 == 0 and 9*C % 4 == 0")
    import_minigrad()
    import numba
    from minigrad.backends import get_backend
    from minigrad.backends.cpu import direct_conv as DC
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
    oh, ow = geom.oh, geom.ow

    def im2col_forward():   # the path conv2d_forward takes where the direct kernel is not used
        cols = backend._empty((n * oh * ow, 9 * c), np.float32)
        backend._im2col(x, 3, 3, *geom[:6], oh, ow, cols)
        return np.matmul(cols, w.reshape(9 * c, f)).reshape(n, oh, ow, f), cols

    def conv_direct():
        backend._launch(DC.conv2d_direct, x, w, y)

    def weight_grad_direct():
        backend._launch(DC.conv2d_weight_grad_direct, x, gy, 3, 3, gw)

    y_ref, cols = im2col_forward()
    gw_ref = (cols.T @ gy.reshape(-1, f)).reshape(w.shape)
    conv_direct()
    weight_grad_direct()
    err_y = float(np.abs(y - y_ref).max() / np.abs(y_ref).max())
    err_w = float(np.abs(gw.reshape(w.shape) - gw_ref).max() / np.abs(gw_ref).max())

    def idle():
        time.sleep(0.3)

    ways = {
        "forward: im2col + GEMM": im2col_forward,
        "forward: direct, 0.3 s after the last GEMM": (idle, conv_direct),
        "forward: direct, after a GEMM": (lambda: a @ b, conv_direct),
        "weight gradient: GEMM": lambda: cols.T @ gy.reshape(-1, f),
        "weight gradient: direct, 0.3 s after the last GEMM": (idle, weight_grad_direct),
        "weight gradient: direct, after a GEMM": (lambda: a @ b, weight_grad_direct),
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
    print(f"direct vs im2col + GEMM: max relative difference forward {err_y:.1e}, "
          f"weight gradient {err_w:.1e}")
    print("| way | median ms | 25th-75th percentile ms | GFLOP/s |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        q1, med, q3 = (np.percentile(ts, q) * 1e3 for q in (25, 50, 75))
        print(f"| {name} | {med:.2f} | {q1:.2f}-{q3:.2f} | {flops / med / 1e6:.0f} |")
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()
