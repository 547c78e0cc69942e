"""Training steps with each conv's input gradient by blocks of images (blas.py's
gemm_col2im_blocks: a block's columns made and scattered back while in cache) or whole
(one product, then col2im: the way before), alternating step by step in one process
(the switch is layer_ops.INPUT_GRAD_BLOCKS); one batch's gradients compared first.

    python benchmarks/input_grad_blocks.py [--model convnet3] [--batch 256] [--steps 20]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_bn_models  # noqa: E402
import convnet3_models  # noqa: E402
from _common import alternate, batch_gradients, import_minigrad, step_table, timed  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["mnist_convnet", "cifar_bn", "convnet3"],
                    default="convnet3")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20, help="timed steps of each way")
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends.cpu import layer_ops
    if args.model == "mnist_convnet":
        model, shape = minigrad_mnist_convnet(mg), (28, 28, 1)
    else:
        mod = cifar_bn_models if args.model == "cifar_bn" else convnet3_models
        model, shape = mod.keras_api_model(mg), mod.INPUT
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None,) + shape)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch,) + shape, np.float32)
    y = rng.integers(0, 10, args.batch)
    ways = {"by blocks of images": True, "whole product, then col2im": False}
    grads = {}
    try:
        for way, on in ways.items():   # one batch's gradients, on the same weights
            layer_ops.INPUT_GRAD_BLOCKS = on
            grads[way] = batch_gradients(mg, model, x, y)
        same = all(np.array_equal(a, b) for a, b in zip(*grads.values()))

        def sampler(on):
            def sample() -> float:
                layer_ops.INPUT_GRAD_BLOCKS = on
                return timed(model.train_on_batch, x, y)
            return sample
        times = alternate({way: sampler(on) for way, on in ways.items()}, args.steps, warmup=2)
    finally:
        layer_ops.INPUT_GRAD_BLOCKS = True
    print(f"{args.model} training step, batch {args.batch}, {args.steps} steps each, "
          f"alternating; {numba.get_num_threads()} Numba threads; gradients of one batch "
          f"{'bit for bit the same' if same else 'DIFFERENT'} both ways")
    print(step_table("conv input gradient", times, numba.get_num_threads()))


if __name__ == "__main__":
    main()
