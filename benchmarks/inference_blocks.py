"""predict (batch 1000) with each conv (Conv2D+MaxPooling2D, or Conv2D alone) run a block
of images at a time (layer_ops.INFERENCE_BLOCK_BYTES of columns and conv output per block)
and in one block (the whole batch's columns at once, as before), and with each
Conv2D+MaxPooling2D's blocks wholly one thread's (layer_ops.POOL_BLOCKS: im2col,
product and pool in one launch, blas.gemm_pool_blocks), alternating in one
process (one framework). Every way must give the same bits; the script checks it.
--peak-rss WAY runs that way alone and prints the process's peak RSS (run it once per
way, each in a fresh process: a process's peak never falls).

    python benchmarks/inference_blocks.py [--model mnist_convnet|cifar_bn|vgg_blocks]
        [--reps 8] [--blocks-mb 2,4,8,16] [--peak-rss "one block"]
    python benchmarks/inference_blocks.py --blocks-mb 4     # per-thread blocks against 4 MB
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line, peak_rss_mb  # noqa: E402
import cifar_bn_models  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402


def vgg_blocks(mg):
    """Two VGG-style blocks on 32x32x3 (Conv2D, Conv2D, MaxPooling2D; 32 then 64
    filters): the first conv of each block has no pool after it."""
    L = mg.layers
    conv = {"kernel_size": 3, "padding": "same", "activation": "relu"}
    return mg.Sequential([mg.Input((32, 32, 3)), L.Conv2D(32, **conv), L.Conv2D(32, **conv),
                          L.MaxPooling2D(2), L.Conv2D(64, **conv), L.Conv2D(64, **conv),
                          L.MaxPooling2D(2), L.Flatten(), L.Dense(10, activation="softmax")])


MODELS = {"mnist_convnet": (minigrad_mnist_convnet, (28, 28, 1)),
          "cifar_bn": (cifar_bn_models.keras_api_model, cifar_bn_models.INPUT),
          "vgg_blocks": (vgg_blocks, (32, 32, 3))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=8, help="timed predicts of each way")
    ap.add_argument("--blocks-mb", default="2,4,8,16")
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--model", choices=sorted(MODELS), default="mnist_convnet")
    ap.add_argument("--peak-rss", metavar="WAY", help="run this way alone (e.g. 'one block', "
                    "'4 MB blocks') and print the peak RSS")
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends.cpu import layer_ops
    build, shape = MODELS[args.model]
    x = np.random.default_rng(0).random((args.images,) + tuple(shape), np.float32)
    model = build(mg)
    default = layer_ops.INFERENCE_BLOCK_BYTES
    # (INFERENCE_BLOCK_BYTES, POOL_BLOCKS) of each way
    ways = {"per-thread blocks (conv+pool)": (default, True), "one block": (1 << 60, False)} | \
        {f"{mb} MB blocks": (int(mb) << 20, False) for mb in args.blocks_mb.split(",")}
    if args.peak_rss is not None:
        if args.peak_rss not in ways:
            raise SystemExit(f"--peak-rss: one of {list(ways)}, got {args.peak_rss!r}")
        layer_ops.INFERENCE_BLOCK_BYTES, layer_ops.POOL_BLOCKS = ways[args.peak_rss]
        for _ in range(2):
            model.predict(x, batch_size=1000, verbose=0)
        print(f"{args.model}, {args.peak_rss}: peak RSS {peak_rss_mb():.0f} MB")
        return
    times = {way: [] for way in ways}
    first = None
    for rep in range(args.reps + 1):  # the first round compiles and warms, untimed
        for way in (list(ways) if rep % 2 else list(ways)[::-1]):
            layer_ops.INFERENCE_BLOCK_BYTES, layer_ops.POOL_BLOCKS = ways[way]
            t = time.perf_counter()
            p = model.predict(x, batch_size=1000, verbose=0)
            if rep:
                times[way].append(time.perf_counter() - t)
            first = p if first is None else first
            if not np.array_equal(p, first):
                raise SystemExit(f"{way}: different predictions")
    layer_ops.INFERENCE_BLOCK_BYTES, layer_ops.POOL_BLOCKS = default, True
    print(f"{args.model}: predict {args.images} images at batch 1000, {args.reps} times each "
          f"way, alternating; {numba.get_num_threads()} Numba threads; default block "
          f"{default >> 20} MB; every way gave the same bits")
    print("| convs | median images/s | slowest-fastest |")
    print("|---|---|---|")
    for way, ts in times.items():
        print(f"| {way} | {args.images / np.median(ts):,.0f} | "
              f"{args.images / max(ts):,.0f}-{args.images / min(ts):,.0f} |")
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()
