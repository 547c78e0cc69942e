"""What a convnet learns on MNIST: its first-layer filters, its training curves
and the test digits it still gets wrong.

Trains the MNIST convnet briefly (by default 1 epoch on the first 12,000
training images, 10% of them held out for validation), then reads the first
layer's kernel with `model.layers[0].get_weights()[0]` -- shape (3, 3, 1, 32),
Keras's (kh, kw, in_channels, filters) -- and draws:

    learned_filters.png   the 32 3x3 filters
    training_curves.png   loss and accuracy, per batch and per epoch, train and validation
    misclassified.png     test digits the model gets wrong, with its guesses

    python examples/learned_filters.py [--samples 12000] [--epochs 1] [--out DIR]
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import minigrad as mg
from _plotting import pyplot, save
from mnist import build_model  # the convnet of examples/mnist.py


class BatchLog(mg.callbacks.Callback):
    """Records the loss and running accuracy after every training batch."""

    def __init__(self, steps_per_epoch: int):
        self.steps, self.epoch = steps_per_epoch, 0
        self.x, self.loss, self.accuracy = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.x.append(self.epoch + (batch + 1) / self.steps)   # in epochs
        self.loss.append(logs["loss"])
        self.accuracy.append(logs.get("accuracy", np.nan))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12000, help="training images")
    parser.add_argument("--test-samples", type=int, default=2000, help="test images")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, help="fit's verbose (0, 1, 2)")
    parser.add_argument("--out", default=".", help="folder for the PNGs (default: .)")
    args = parser.parse_args(argv)

    mg.random.seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mg.datasets.mnist.load_data()
    x_train = (x_train[:args.samples, :, :, None] / 255.0).astype("float32")
    y_train = y_train[:args.samples]
    x_test = (x_test[:args.test_samples, :, :, None] / 255.0).astype("float32")
    y_test = y_test[:args.test_samples]

    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    train_count = int(len(x_train) * 0.9)          # validation_split keeps the last 10%
    batches = BatchLog(math.ceil(train_count / args.batch_size))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=0.1, callbacks=[batches], verbose=args.verbose)
    seconds = time.perf_counter() - start
    print(f"trained on {train_count} images x {args.epochs} epoch(s) in {seconds:.1f} s")
    for key, values in history.history.items():
        print(f"  {key:<13} " + "  ".join(f"{v:.4f}" for v in values))

    probs = model.predict(x_test, batch_size=500, verbose=0)
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_test)
    accuracy = 1.0 - len(wrong) / len(y_test)
    print(f"test accuracy {accuracy:.4f} on {len(y_test)} test images "
          f"({len(wrong)} misclassified)")

    filters = model.layers[0].get_weights()[0]     # (3, 3, 1, 32)
    print(f"first-layer kernel {filters.shape}: (kh, kw, in_channels, filters)")
    result = {"history": history.history, "accuracy": accuracy, "filters": filters,
              "misclassified": wrong, "pngs": []}

    plt = pyplot()
    if plt is None:
        return result


    # 1. the 32 filters, each on its own symmetric colour scale
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.4))
    for f, ax in enumerate(axes.flat):
        w = filters[:, :, 0, f]
        lim = np.abs(w).max()
        ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(str(f), fontsize=7)
        ax.axis("off")
    fig.suptitle("first-layer filters (red +, blue -)", fontsize=10)
    result["pngs"].append(save(fig, args.out, "learned_filters.png", dpi=80))

    # 2. training curves: per batch (thin), per epoch (dots), validation (squares)
    h = history.history
    epochs = np.arange(1, len(h["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, per_batch in ((axes[0], "loss", batches.loss),
                               (axes[1], "accuracy", batches.accuracy)):
        ax.plot(batches.x, per_batch, lw=0.8, color="C0", alpha=0.6,
                label=f"train {key}, per batch" + (" (running mean)" if key != "loss" else ""))
        ax.plot(epochs, h[key], "o-", color="C0", label=f"train {key}, epoch")
        if f"val_{key}" in h:
            ax.plot(epochs, h[f"val_{key}"], "s-", color="C1", label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key, fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    result["pngs"].append(save(fig, args.out, "training_curves.png", dpi=80))

    # 3. misclassified test digits with the model's guess
    shown = wrong[:24]
    if len(shown):
        cols = min(8, len(shown))
        rows = math.ceil(len(shown) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.45 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, i in zip(axes.flat, shown):
            ax.imshow(x_test[i, :, :, 0], cmap="gray_r")
            ax.set_title(f"{predicted[i]} (true {y_test[i]})", fontsize=7)
        fig.suptitle("misclassified: predicted (true)", fontsize=9)
        result["pngs"].append(save(fig, args.out, "misclassified.png", dpi=80))
    return result


if __name__ == "__main__":
    main()
