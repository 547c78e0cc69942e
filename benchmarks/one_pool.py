"""Prototype, not used by minigrad: one thread pool instead of two. The conv GEMMs are
split over Numba's threads, each calling OpenBLAS's sgemm single-threaded (ctypes),
and Numba's pool is OpenMP's (spinning) or workqueue; against minigrad as it is (Numba's
workqueue pool beside OpenBLAS's own threads). MNIST convnet training steps, each way in
fresh processes, alternating; with --busy a process spinning on one core runs alongside
(a shared machine).

    python benchmarks/one_pool.py [--rounds 2] [--busy]
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402

WAYS = {"as it is (workqueue + OpenBLAS threads)": ("as-is", {}),
        "split GEMMs, workqueue": ("split", {"NUMBA_THREADING_LAYER": "workqueue"}),
        "split GEMMs, OpenMP": ("split", {"NUMBA_THREADING_LAYER": "omp"})}


def split_gemms() -> None:
    """Route layer_ops' conv GEMMs through row blocks over Numba's threads, OpenBLAS on
    one thread (numpy's bundled scipy-openblas64; 64-bit ints)."""
    import numba
    import numpy as np
    from numba import njit, prange
    from minigrad.backends.cpu import layer_ops
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs",
                                  "libscipy_openblas64_*.so"))
    lib = ctypes.CDLL(libs[0])
    lib.scipy_openblas_set_num_threads64_.argtypes = [ctypes.c_int]
    lib.scipy_openblas_set_num_threads64_(1)
    i64 = ctypes.c_int64
    sgemm = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64,
                             ctypes.c_float, ctypes.c_void_p, i64, ctypes.c_void_p, i64,
                             ctypes.c_float, ctypes.c_void_p, i64)(("scipy_cblas_sgemm64_", lib))

    @njit(parallel=True)
    def rows(a, b, c, parts):           # c = a @ b, a's rows in blocks
        m, k = a.shape
        n = b.shape[1]
        step = (m + parts - 1) // parts
        for p in prange(parts):
            r0, r1 = p * step, min(m, (p + 1) * step)
            if r1 > r0:
                sgemm(101, 111, 111, r1 - r0, n, k, np.float32(1), a[r0:].ctypes.data, k,
                      b.ctypes.data, n, np.float32(0), c[r0:].ctypes.data, n)

    @njit(parallel=True)
    def tn(a, g, c, parts):             # c = a.T @ g, c's rows (a's columns) in blocks
        m, k = a.shape
        n = g.shape[1]
        step = (k + parts - 1) // parts
        for p in prange(parts):
            c0, c1 = p * step, min(k, (p + 1) * step)
            if c1 > c0:
                sgemm(101, 112, 111, c1 - c0, n, m, np.float32(1), a[:, c0:].ctypes.data, k,
                      g.ctypes.data, n, np.float32(0), c[c0:].ctypes.data, n)
    parts = numba.get_num_threads()

    class NumPy:                        # layer_ops' `np`, with matmul split
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def matmul(a, b, out=None):
            if a.dtype == b.dtype == np.float32 and a.ndim == b.ndim == 2 and a.shape[0] >= 4096:
                a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
                out = np.empty((a.shape[0], b.shape[1]), np.float32) if out is None else out
                rows(a, b, out, parts)
                return out
            return np.matmul(a, b, out=out)
    layer_ops.np = NumPy()
    weight_grad = layer_ops.LayerOps.conv2d_backward_weight

    def conv2d_backward_weight(self, gy, cols, w_shape):
        if isinstance(cols, np.ndarray) and cols.dtype == np.float32:
            out = np.empty((cols.shape[1], gy.shape[-1]), np.float32)
            tn(cols, np.ascontiguousarray(gy.reshape(-1, gy.shape[-1])), out, parts)
            return out.reshape(w_shape)
        return weight_grad(self, gy, cols, w_shape)
    layer_ops.LayerOps.conv2d_backward_weight = conv2d_backward_weight


def worker(way: str, steps: int) -> dict:
    import numpy as np
    mg = import_minigrad()
    if way == "split":
        split_gemms()
    rng = np.random.default_rng(0)
    x, y = rng.random((128, 28, 28, 1), np.float32), rng.integers(0, 10, 128)
    model = minigrad_mnist_convnet(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for _ in range(5):
        model.train_on_batch(x, y)
    windows = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        windows.append((time.perf_counter() - t) / steps * 1e3)
    import numba
    return {"ms": sorted(windows)[1], "layer": numba.threading_layer()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="steps per timed window (3 windows)")
    ap.add_argument("--busy", action="store_true", help="a spinning process on one core alongside")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.steps)))
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.busy else None
    try:
        results = {name: [] for name in WAYS}
        for r in range(a.rounds):
            for name in (list(WAYS) if r % 2 == 0 else list(WAYS)[::-1]):
                way, env = WAYS[name]
                p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", way,
                                    "--steps", str(a.steps)], env=os.environ | env,
                                   capture_output=True, text=True)
                results[name].append(json.loads(p.stdout.splitlines()[-1]) if p.returncode == 0
                                     else {"ms": float("nan"), "layer": "failed: " + (
                                         p.stderr.strip().splitlines() or ["?"])[-1][:80]})
    finally:
        if hog:
            hog.kill()
    print(f"MNIST convnet training step, batch 128, {a.rounds} fresh processes per way, "
          f"alternating{', a spinning process alongside' if a.busy else ''}")
    print("| way | Numba layer | ms per step, each process (median of 3 windows) |")
    print("|---|---|---|")
    for name, rs in results.items():
        times = ", ".join(f"{r['ms']:.2f}" for r in rs)
        print(f"| {name} | {rs[0]['layer']} | {times} |")
    import numba
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()
