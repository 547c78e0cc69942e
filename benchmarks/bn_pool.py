"""cifar_bn's training step with each BatchNormalization+ReLU+MaxPooling2D run as one op
(the pool in the normalisation's pass; the backward's kernels reading the pooled
gradient through its winners) and with the pool as its own layer (maxpool_forward over
the normalised values; maxpool_backward's dense gradient), alternating step by step in
one process; the two ways' gradients compared first.

    python benchmarks/bn_pool.py [--steps 60] [--batch 128]
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
    from minigrad.layers import normalization
    ways = {"pool in the normalisation's pass": True, "pool as its layer": False}
    rng = np.random.default_rng(0)
    x = rng.random((args.batch,) + cifar_bn_models.INPUT, np.float32)
    y = rng.integers(0, 10, args.batch)
    model = cifar_bn_models.keras_api_model(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None,) + cifar_bn_models.INPUT)

    def use(way):
        normalization.FUSE_POOL = ways[way]

    grads = {}
    try:
        for way in ways:   # the gradients of one batch, each way, on the same weights
            use(way)
            grads[way] = batch_gradients(mg, model, x, y)
        same = all(np.array_equal(a, b) for a, b in zip(*grads.values()))
        times = alternate({way: (lambda way=way: (use(way), timed(
            model.train_on_batch, x, y))[1]) for way in ways}, args.steps, warmup=3)
    finally:
        normalization.FUSE_POOL = True
    print(f"cifar_bn training step, batch {args.batch}, {args.steps} steps each, alternating; "
          f"{numba.get_num_threads()} Numba threads; gradients of one batch "
          f"{'bit for bit the same' if same else 'DIFFERENT'} both ways")
    print(step_table("BatchNormalization+ReLU+MaxPooling2D", times, numba.get_num_threads()))


if __name__ == "__main__":
    main()
