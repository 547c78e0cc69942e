"""predict, and training steps, with the first conv+pool of few taps in one kernel
(layer_kernels.py's conv_maxpool_few_taps) or by im2col + GEMM + maxpool_forward (the way
before), alternating call by call in one process; the two ways' predict outputs compared.
The MNIST convnet (3x3 on one channel), or convnet3 (3x3 'same' on RGB: 27 taps, padded).

    python benchmarks/few_taps.py [--images 5000] [--batch 1000] [--reps 10] [--steps 200]
    python benchmarks/few_taps.py --model convnet3 --train-batch 256 --steps 20
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import alternate, import_minigrad, machine_info, machine_line, timed  # noqa: E402
import convnet3_models  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=10, help="timed predict calls of each way")
    ap.add_argument("--steps", type=int, default=200,
                    help="timed training steps (train_on_batch) of each way")
    ap.add_argument("--train-batch", type=int, default=128, help="the training steps' batch")
    ap.add_argument("--model", choices=["mnist_convnet", "convnet3"], default="mnist_convnet")
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends.cpu import layer_ops
    few_taps = vars(layer_ops.LayerOps)["_few_taps"]   # the staticmethod itself
    ways = {"one kernel": few_taps, "im2col + GEMM + pool": staticmethod(lambda *a: False)}
    if args.model == "convnet3":
        model, shape = convnet3_models.keras_api_model(mg), convnet3_models.INPUT
    else:
        model, shape = minigrad_mnist_convnet(mg), (28, 28, 1)
    x = np.random.default_rng(0).random((args.images,) + shape, np.float32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    xb, yb = x[:args.train_batch], np.arange(args.train_batch) % 10
    out = {}

    def sampler(rule, run):
        def sample() -> float:
            layer_ops.LayerOps._few_taps = rule
            return timed(run)
        return sample
    try:
        for way, rule in ways.items():   # each way's output, before a step changes the weights
            layer_ops.LayerOps._few_taps = rule
            out[way] = model.predict(x, batch_size=args.batch, verbose=0)
        times = alternate({w: sampler(r, lambda: model.predict(x, batch_size=args.batch,
                                                                verbose=0))
                           for w, r in ways.items()}, args.reps)
        steps = alternate({w: sampler(r, lambda: model.train_on_batch(xb, yb))
                           for w, r in ways.items()}, args.steps)
    finally:
        layer_ops.LayerOps._few_taps = few_taps
    a, b = out.values()
    print(f"{args.model} predict, {args.images} images at batch {args.batch}, {args.reps} "
          f"calls each way, alternating; training steps at batch {args.train_batch}; "
          f"{numba.get_num_threads()} Numba threads")
    print(f"outputs: max abs difference {float(np.max(np.abs(a - b))):.1e}, same argmax for "
          f"{float(np.mean(a.argmax(1) == b.argmax(1))):.4f} of the images")
    print("| first conv + pool | predict median img/s | slowest-fastest img/s | "
          "training step median ms | 25th-75th percentile ms |")
    print("|---|---|---|---|---|")
    for way, ts in times.items():
        q = statistics.quantiles(steps[way], n=4) if len(steps[way]) > 1 else [0.0] * 3
        print(f"| {way} | {args.images / statistics.median(ts):,.0f} | "
              f"{args.images / max(ts):,.0f}-{args.images / min(ts):,.0f} | "
              f"{statistics.median(steps[way]) * 1e3:.2f} | {q[0] * 1e3:.2f}-{q[2] * 1e3:.2f} |")
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()
