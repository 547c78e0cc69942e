"""A CIFAR-10-shaped convnet with batch normalisation, trained on generated images.

Three Conv2D-BatchNormalization-ReLU blocks (the first two followed by 2x2 max
pooling), GlobalAveragePooling2D and a softmax Dense layer: the shape of the
small CIFAR-10 networks of the Keras examples. The data are generated, 32x32x3
images of 10 classes (each class a smooth random colour pattern, shifted and
noisy), so the script needs no download; it prints the summary, the training
throughput and the test accuracy, which is far above chance after one epoch.

    python examples/cifar_bn.py                         # 5000 images, 3 epochs
    python examples/cifar_bn.py --samples 512 --width 8 --epochs 1    # a quick look
    python examples/cifar_bn.py --device cuda

At inference (evaluate, predict) each Conv2D + BatchNormalization pair runs as
one convolution with the normalisation folded into its kernel and bias.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

try:
    import minigrad as mg
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import minigrad as mg
from minigrad import layers  # noqa: E402

CLASSES = 10


def build_model(width: int = 32) -> mg.Sequential:
    """Conv2D-BN-ReLU blocks of width, 2*width and 4*width filters."""
    blocks = []
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        blocks += [layers.Conv2D(filters, 3, padding="same", use_bias=False),
                   # momentum 0.9, not Keras's 0.99: the moving statistics that
                   # evaluate and predict use must settle within a short run
                   layers.BatchNormalization(momentum=0.9),
                   layers.ReLU()]
        if i < 2:
            blocks.append(layers.MaxPooling2D(2))
    return mg.Sequential([layers.Input((32, 32, 3)), *blocks,
                          layers.GlobalAveragePooling2D(),
                          layers.Dense(CLASSES, activation="softmax")])


def generate(n: int, seed: int) -> tuple:
    """n images (N, 32, 32, 3) in [0, 1] and their labels: class c is a smooth random
    pattern of its own (fixed by the class, not by `seed`), shifted by up to 4 pixels,
    brightened at random and noisy."""
    patterns = np.random.default_rng(1234).standard_normal((CLASSES, 8, 8, 3))
    patterns = np.kron(patterns, np.ones((1, 4, 4, 1)))          # 8x8 -> 32x32, blocky
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    shifts = rng.integers(-4, 5, (n, 2))
    images = np.empty((n, 32, 32, 3), np.float32)
    for i, (label, (dy, dx)) in enumerate(zip(labels, shifts)):
        images[i] = np.roll(patterns[label], (dy, dx), axis=(0, 1))
    images = images * rng.uniform(0.5, 1.5, (n, 1, 1, 1)) + rng.normal(0, 1.0, images.shape)
    images = 1 / (1 + np.exp(-images))                            # squashed into (0, 1)
    return images.astype(np.float32), labels


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=5000, help="training images")
    p.add_argument("--test-samples", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=int, default=32, help="filters of the first block")
    p.add_argument("--device", default=None, help="cpu or cuda (default: $MINIGRAD_DEVICE or cpu)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=2, help="fit's verbose (0, 1, 2)")
    p.add_argument("--out", default=".", help="(unused: no pictures; for the example runner)")
    args = p.parse_args(argv)

    mg.random.seed(args.seed)
    x_train, y_train = generate(args.samples, args.seed)
    x_test, y_test = generate(args.test_samples, args.seed + 1)
    model = build_model(args.width)
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=args.device)
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_split=0.1, verbose=args.verbose)
    seconds = time.perf_counter() - start
    trained = int(len(x_train) * 0.9) * args.epochs
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"trained on {trained} images in {seconds:.1f} s ({trained / seconds:,.0f} img/s, "
          f"first-step compilation included)")
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} test images")
    return {"accuracy": accuracy, "loss": loss, "seconds": seconds}


if __name__ == "__main__":
    main()
