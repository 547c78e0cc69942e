"""cifar_bn's training step with its first conv (3x3 'same' on RGB, 32 filters, batch
norm after it) by the few-taps kernels (direct_conv.py's conv_few_taps and
conv_weight_grad_few_taps: no im2col columns) and by im2col + GEMMs
(layer_ops.FEW_TAPS_CONV off), alternating step by step in one process; the two ways'
gradients compared first (other sums: float32 rounding apart).

    python benchmarks/few_taps_conv.py [--steps 60] [--batch 128]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_bn_models  # noqa: E402
from _common import alternate, batch_gradients, import_minigrad, step_table, timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="timed steps of each way")
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends.cpu import layer_ops
    ways = {"few-taps kernels": True, "im2col + GEMMs": False}
    rng = np.random.default_rng(0)
    x = rng.random((args.batch,) + cifar_bn_models.INPUT, np.float32)
    y = rng.integers(0, 10, args.batch)
    model = cifar_bn_models.keras_api_model(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None,) + cifar_bn_models.INPUT)

    def use(way):
        layer_ops.FEW_TAPS_CONV = ways[way]

    grads = {}
    try:
        for way in ways:   # the gradients of one batch, each way, on the same weights
            use(way)
            grads[way] = batch_gradients(mg, model, x, y)
        worst = max(float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))
                    for a, b in zip(*grads.values()))
        times = alternate({way: (lambda way=way: (use(way), timed(
            model.train_on_batch, x, y))[1]) for way in ways}, args.steps, warmup=3)
    finally:
        layer_ops.FEW_TAPS_CONV = True
    print(f"cifar_bn training step, batch {args.batch}, {args.steps} steps each, alternating; "
          f"{numba.get_num_threads()} Numba threads; gradients of one batch: largest "
          f"difference {worst:.1e} of the weight's largest gradient")
    print(step_table("first conv (27 taps)", times, numba.get_num_threads()))


if __name__ == "__main__":
    main()
