"""How Conv2D's kernel size, strides, padding and dilation set the output shape.

One input of shape (1, 10, 10, 3) goes through six Conv2D layers; for each the
script prints the output shape next to the formula that gives it (Keras's and
TensorFlow's):

    valid:  out = floor((n - d*(k-1) - 1) / s) + 1
    same:   out = ceil(n / s)     (zero padding, the odd pixel bottom/right)

Then it builds a small Sequential with pooling and prints `model.summary()`.
With matplotlib it also draws, for each layer, which input pixels the first
and the last output pixel see -- found with autograd, not by hand.

    python examples/conv_shapes.py [--out DIR]
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import minigrad as mg
from minigrad import layers
from _plotting import pyplot, save

# (title, Conv2D keyword arguments)
CASES = [
    ("3x3", dict(kernel_size=3)),
    ("5x5, stride 2", dict(kernel_size=5, strides=2)),
    ("2x2", dict(kernel_size=2)),
    ("3x3, same", dict(kernel_size=3, padding="same")),
    ("5x5, stride 2, same", dict(kernel_size=5, strides=2, padding="same")),
    ("3x3, dilation 2", dict(kernel_size=3, dilation_rate=2)),
]


def expected_size(n: int, k: int, s: int = 1, d: int = 1, padding: str = "valid") -> tuple:
    """(output size, the formula written out) along one axis."""
    if padding == "same":
        return math.ceil(n / s), f"ceil({n}/{s})"
    return (n - d * (k - 1) - 1) // s + 1, f"floor(({n} - {d}*({k}-1) - 1)/{s}) + 1"


def receptive_field(layer, x: np.ndarray, i: int, j: int) -> np.ndarray:
    """Which input pixels output pixel (i, j) depends on: the gradient of that
    output with respect to the input, non-zero exactly there."""
    xt = mg.Tensor(x, requires_grad=True)
    y = layer(xt)
    mask = np.zeros(y.shape, np.float32)
    mask[0, i, j, :] = 1.0
    (y * mask).sum().backward()
    return np.abs(xt.grad.numpy()[0]).sum(axis=-1) > 0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the PNG (default: .)")
    args = parser.parse_args(argv)

    mg.random.seed(0)
    x = np.random.default_rng(0).standard_normal((1, 10, 10, 3)).astype("float32")
    print(f"input shape {x.shape}  (batch, height, width, channels)\n")
    shapes, fields = {}, []
    for title, kw in CASES:
        # a kernel of ones so that every tap shows up in the receptive field
        layer = layers.Conv2D(8, kernel_initializer="ones", **kw)
        y = layer(x)
        k, s = kw["kernel_size"], kw.get("strides", 1)
        d, pad = kw.get("dilation_rate", 1), kw.get("padding", "valid")
        n_out, formula = expected_size(10, k, s, d, pad)
        assert y.shape == (1, n_out, n_out, 8), (title, y.shape)
        shapes[title] = y.shape
        call = "Conv2D(8, " + ", ".join([str(k)] + [f"{a}={v!r}" for a, v in kw.items()
                                                    if a != "kernel_size"]) + ")"
        print(f"{call:<42} -> {str(y.shape):<15} {formula} = {n_out}")
        last = y.shape[1] - 1
        fields.append((title, y.shape, receptive_field(layer, x, 0, 0),
                       receptive_field(layer, x, last, last)))

    print("\nA small convnet with pooling:")
    model = mg.Sequential([
        layers.Conv2D(16, 3, padding="same", activation="relu", input_shape=(10, 10, 3)),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2, padding="same"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    model.summary()
    result = {"shapes": shapes, "params": model.count_params(),
              "model_output_shape": model.output_shape, "png": None}

    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, len(fields), figsize=(2.2 * len(fields), 2.8))
        for ax, (title, shape, first, last) in zip(axes, fields):
            img = np.zeros((10, 10, 3))
            img[first] += (0.2, 0.4, 1.0)  # blue: what output (0, 0) sees
            img[last] += (1.0, 0.4, 0.2)   # orange: what the last output pixel sees
            ax.imshow(np.clip(img, 0, 1))
            ax.set_xticks(np.arange(-0.5, 10, 1), minor=True)
            ax.set_yticks(np.arange(-0.5, 10, 1), minor=True)
            ax.grid(which="minor", color="0.5", linewidth=0.5)
            ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
            ax.set_title(f"{title}\n-> {shape[1]}x{shape[2]}", fontsize=8)
        fig.suptitle("input pixels seen by the first (blue) and last (orange) output pixel",
                     fontsize=9)
        result["png"] = save(fig, args.out, "conv_shapes.png")
    return result


if __name__ == "__main__":
    main()
