"""The MNIST convnet's training step with its first conv's weight gradient taken straight
from the pooled gradient (the CPU kernel maxpool2x2_conv_weight_grad for whole 2x2
windows, in 16-lane vectors where that twin runs, or maxpool_conv_weight_grad for any)
and through the conv grid's dense gradient and a GEMM (the contract's default),
alternating step by step in one process (one framework; the switches are
layer_ops.POOLED_WEIGHT_GRAD_MAX_TAPS, POOLED_2X2_WEIGHT_GRAD and POOLED_2X2_VECTORS).

    python benchmarks/first_conv_weight_grad.py [--steps 150]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, step_table  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="timed steps of each kind")
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends.cpu import layer_ops
    rng = np.random.default_rng(0)
    x = rng.random((128, 28, 28, 1), np.float32)
    y = rng.integers(0, 10, 128)
    model = minigrad_mnist_convnet(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    taps = layer_ops.POOLED_WEIGHT_GRAD_MAX_TAPS
    ways = {"pooled kernel, 2x2 windows, 16 lanes": (taps, True, True),
            "pooled kernel, 2x2 windows": (taps, True, False),
            "pooled kernel, any window": (taps, False, False), "dense + GEMM": (0, False, False)}
    if layer_ops.LayerOps._pooled_2x2_kernel(np.zeros((1, 1, 1, 32), np.float32), np.zeros(
            1, np.float32)) is not layer_ops.LK.maxpool2x2_conv_weight_grad16:
        del ways["pooled kernel, 2x2 windows, 16 lanes"]   # no AVX-512: the twin never runs
    times = {way: [] for way in ways}
    for setting in ways.values():  # compile and warm each
        (layer_ops.POOLED_WEIGHT_GRAD_MAX_TAPS, layer_ops.POOLED_2X2_WEIGHT_GRAD,
         layer_ops.POOLED_2X2_VECTORS) = setting
        model.train_on_batch(x, y)
    for step in range(args.steps):
        for way in (list(ways) if step % 2 else list(ways)[::-1]):
            (layer_ops.POOLED_WEIGHT_GRAD_MAX_TAPS, layer_ops.POOLED_2X2_WEIGHT_GRAD,
             layer_ops.POOLED_2X2_VECTORS) = ways[way]
            t = time.perf_counter()
            model.train_on_batch(x, y)
            times[way].append(time.perf_counter() - t)
    print(f"training step, batch 128, {args.steps} steps each, alternating; "
          f"{numba.get_num_threads()} Numba threads")
    print(step_table("first conv's weight gradient", times, numba.get_num_threads(), "median ms"))


if __name__ == "__main__":
    main()
