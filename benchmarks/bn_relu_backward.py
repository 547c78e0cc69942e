"""cifar_bn's training step with the backward of BatchNormalization+ReLU as it is (the
ReLU's mask recomputed from the input inside the two kernels that read the gradient)
and as it was before (the mask applied first, from the saved output, in a pass of its
own), alternating step by step in one process; the two ways' gradients compared first.
Both ways with MaxPooling2D as its own layer (the mask is what they compare;
bn_pool.py compares the pool fused into the normalisation's pass).

    python benchmarks/bn_relu_backward.py [--steps 60] [--batch 128]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_bn_models  # noqa: E402
from _common import alternate, batch_gradients, import_minigrad, step_table, timed  # noqa: E402


def masked_first(forward_now):
    """BatchNormFn's forward and backward as before: y saved, its mask applied first."""
    def forward(ctx, x, gamma, beta, mean, var, epsilon, batch_stats, relu, pool):
        y = forward_now(ctx, x, gamma, beta, mean, var, epsilon, batch_stats, relu, pool)
        ctx.saved_tensors = ctx.saved_tensors[:4] + (y if relu else None, None)
        return y

    def backward(ctx, g):
        B, (x, mean, invstd, scale, y, _) = ctx.backend, ctx.saved_tensors
        need_x, need_gamma, need_beta = ctx.needs_input_grad[:3]
        if y is not None:
            g = B.map_backward("relu", y, g)
        sum_g, sum_g_xhat = B.norm_param_sums(x, g, mean, invstd, False)
        gx = B.batchnorm_backward_input(x, g, mean, invstd, scale, sum_g, sum_g_xhat) \
            if need_x else None
        return (gx, sum_g_xhat if need_gamma else None, sum_g if need_beta else None,
                None, None, None, None, None, None)
    return staticmethod(forward), staticmethod(backward)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="timed steps of each way")
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.layers import normalization
    from minigrad.ops.normalization import BatchNormFn
    normalization.FUSE_POOL = False   # the pool as its layer, both ways
    now = (vars(BatchNormFn)["forward"], vars(BatchNormFn)["backward"])
    ways = {"mask inside the kernels": now,
            "mask in a pass first": masked_first(BatchNormFn.forward)}
    rng = np.random.default_rng(0)
    x = rng.random((args.batch,) + cifar_bn_models.INPUT, np.float32)
    y = rng.integers(0, 10, args.batch)
    model = cifar_bn_models.keras_api_model(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None,) + cifar_bn_models.INPUT)

    def use(way):
        BatchNormFn.forward, BatchNormFn.backward = ways[way]

    grads = {}
    try:
        for way in ways:   # the gradients of one batch, each way, on the same weights
            use(way)
            grads[way] = batch_gradients(mg, model, x, y)
        same = all(np.array_equal(a, b) for a, b in zip(*grads.values()))
        times = alternate({way: (lambda way=way: (use(way), timed(
            model.train_on_batch, x, y))[1]) for way in ways}, args.steps, warmup=3)
    finally:
        BatchNormFn.forward, BatchNormFn.backward = now
    print(f"cifar_bn training step, batch {args.batch}, {args.steps} steps each, alternating; "
          f"{numba.get_num_threads()} Numba threads; gradients of one batch "
          f"{'bit for bit the same' if same else 'DIFFERENT'} both ways")
    print(step_table("BatchNormalization+ReLU backward", times, numba.get_num_threads()))


if __name__ == "__main__":
    main()
