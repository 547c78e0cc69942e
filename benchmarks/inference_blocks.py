"""The MNIST convnet's predict (batch 1000) with Conv2D+MaxPooling2D run a block of images
at a time (layer_ops.INFERENCE_BLOCK_BYTES of columns and conv output per block) and in
one block (the whole batch's columns at once, as before), alternating in one process (one
framework). Every way must give the same bits; the script checks it.

    python benchmarks/inference_blocks.py [--reps 8] [--blocks-mb 2,4,8,16]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=8, help="timed predicts of each way")
    ap.add_argument("--blocks-mb", default="2,4,8,16")
    ap.add_argument("--images", type=int, default=3000)
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends.cpu import layer_ops
    x = np.random.default_rng(0).random((args.images, 28, 28, 1), np.float32)
    model = minigrad_mnist_convnet(mg)
    default = layer_ops.INFERENCE_BLOCK_BYTES
    ways = {"one block": 1 << 60} | {f"{mb} MB blocks": int(mb) << 20
                                     for mb in args.blocks_mb.split(",")}
    times = {way: [] for way in ways}
    first = None
    for rep in range(args.reps + 1):  # the first round compiles and warms, untimed
        for way in (list(ways) if rep % 2 else list(ways)[::-1]):
            layer_ops.INFERENCE_BLOCK_BYTES = ways[way]
            t = time.perf_counter()
            p = model.predict(x, batch_size=1000, verbose=0)
            if rep:
                times[way].append(time.perf_counter() - t)
            first = p if first is None else first
            if not np.array_equal(p, first):
                raise SystemExit(f"{way}: different predictions")
    layer_ops.INFERENCE_BLOCK_BYTES = default
    print(f"predict {args.images} images at batch 1000, {args.reps} times each way, "
          f"alternating; {numba.get_num_threads()} Numba threads; default block "
          f"{default >> 20} MB; every way gave the same bits")
    print("| Conv2D+MaxPooling2D | median images/s | slowest-fastest |")
    print("|---|---|---|")
    for way, ts in times.items():
        print(f"| {way} | {args.images / np.median(ts):,.0f} | "
              f"{args.images / max(ts):,.0f}-{args.images / min(ts):,.0f} |")
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()
