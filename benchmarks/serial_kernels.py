"""Each CPU kernel's parallel build against its serial one (kernels.py's `_kernel`), by size.

Where the serial build is as fast, backend.py's `_launch` should run it: waking Numba's
workqueue pool costs tens of microseconds per launch. This measures where that is, for
the thresholds in kernels.py (SERIAL_BELOW, STREAMING_SERIAL_BELOW). One framework, one
process: the two builds share nothing but Numba's pool.

    python benchmarks/serial_kernels.py [--repeats 60]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402


def median_us(fn, repeats: int) -> float:
    fn(), fn()  # compile, warm
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def cases(np, K, n: int):
    """(kernel name, kernel, args) with a largest array of about n elements."""
    rng = np.random.default_rng(0)
    f = 32
    p, g, m, v = (rng.random(n, dtype=np.float32) for _ in range(4))
    y = rng.standard_normal((n // f, f), dtype=np.float32)
    part = np.empty((64, f), np.float32)
    x4 = rng.standard_normal((max(1, n // (26 * 26 * f)), 26, 26, f), dtype=np.float32)
    py = np.empty((x4.shape[0], 13, 13, f), np.float32)
    arg = np.empty(py.shape, np.int32)
    K.maxpool_forward(x4, 2, 2, 2, 2, 0, 0, py, arg)
    return [("adam_update", K.adam_update, (p, g, m, v, 1e-3, 0.9, 0.999, 1e-7, 1.0, 0.0, 0.0)),
            ("bias_act", K.bias_act, (y, np.zeros(f, np.float32), True)),
            ("bias_act_backward", K.bias_act_backward, (y, y, y.copy(), part)),
            ("column_sums", K.column_sums, (y, part)),
            ("maxpool_forward", K.maxpool_forward, (x4, 2, 2, 2, 2, 0, 0, py, arg)),
            ("maxpool_backward", K.maxpool_backward, (py, arg, x4)),
            ("dropout_apply", K.dropout_apply, (p, 0.5, 2.0, np.uint64(1), np.int64(0), g))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=60)
    ap.add_argument("--sizes", default="8192,32768,262144,692224,2768896")
    args = ap.parse_args()
    import numpy as np
    import_minigrad()
    import numba
    from minigrad.backends.cpu import blas, kernels as K
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = numba.get_num_threads()
    print(f"parallel / serial build, median us over {args.repeats} calls, by the largest "
          f"array's size; {threads} Numba threads, {numba.config.THREADING_LAYER} pool")
    rows = {}
    for n in sizes:
        for name, kernel, a in cases(np, K, n):
            par = median_us(lambda: kernel(*a), args.repeats)
            ser = median_us(lambda: kernel.serial(*a), args.repeats)
            rows.setdefault(name, []).append(f"{par:,.0f} / {ser:,.0f}")
    print("| kernel | serial below | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    print("|---|---|" + "---|" * len(sizes))
    for name, cells in rows.items():
        below = K.in_pool(getattr(K, name).serial_below, blas.in_use())
        print(f"| {name} | {below:,} | " + " | ".join(cells) + " |")
    print(machine_line(machine_info(threads)).replace("per worker", ""))


if __name__ == "__main__":
    main()
