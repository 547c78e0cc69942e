"""A custom layer: self-attention between the rows of an image.

`RowAttention` subclasses `minigrad.layers.Layer`: `build` creates its weights
with `add_weight` once the input shape is known, and `call` is written with
Tensor operations only (reshape, @, *, sum, softmax), so autograd provides the
backward pass. Each of the H rows of an (N, H, W, C) feature map is a W*C
vector; every row attends to every row (scaled dot-product attention) and the
result is added back to the input (a residual connection):

    Q = rows @ Wq,  K = rows @ Wk,  V = rows @ Wv         (per image, H rows)
    out = x + softmax(Q K^T / sqrt(key_dim)) V

The script trains Conv2D -> RowAttention -> Dense on MNIST for one short epoch
and prints the test accuracy.

    python examples/row_attention.py [--samples 12000] [--epochs 1] [--out DIR]
"""
from __future__ import annotations

import argparse
import math
import time


import minigrad as mg
from minigrad import layers
from _plotting import pyplot, save


class RowAttention(layers.Layer):
    """Scaled dot-product self-attention over the rows of NHWC feature maps.

    Input and output: (batch, H, W, C). Weights: query and key kernels
    (W*C, key_dim), value kernel (W*C, W*C).
    """

    input_ndim = 4

    def __init__(self, key_dim: int = 16, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(key_dim, int) or key_dim < 1:
            raise ValueError(f"RowAttention {self.name!r}: `key_dim` must be a positive int, "
                             f"got {key_dim!r}")
        self.key_dim = key_dim
        self.last_attention = None  # (batch, H, H) weights of the latest call

    def build(self, input_shape):
        _, h, w, c = input_shape
        self.row_shape = (h, w, c)
        dim = w * c
        self.wq = self.add_weight("query_kernel", (dim, self.key_dim))
        self.wk = self.add_weight("key_kernel", (dim, self.key_dim))
        # a zero value kernel: the layer starts as the identity and learns from there
        self.wv = self.add_weight("value_kernel", (dim, dim), "zeros")

    def call(self, inputs):
        n, h, w, c = inputs.shape
        if (h, w, c) != self.row_shape:
            raise ValueError(f"RowAttention {self.name!r}: built for inputs (None, "
                             f"{', '.join(map(str, self.row_shape))}), got {inputs.shape}")
        d, dim = self.key_dim, w * c
        rows = inputs.reshape(n * h, dim)                    # every row of every image
        q = (rows @ self.wq).reshape(n, h, 1, d)             # query of row i
        k = (rows @ self.wk).reshape(n, 1, h, d)             # key of row j
        v = (rows @ self.wv).reshape(n, 1, h, dim)           # value of row j
        # Tensor's @ is 2-D only, so the two per-image (batched) products are
        # written as a broadcast multiply and a sum over the contracted axis.
        scores = (q * k).sum(axis=-1) * (1.0 / math.sqrt(d))            # (n, h, h)
        attention = scores.softmax(axis=-1)                              # rows sum to 1
        self.last_attention = attention.detach()
        mixed = (attention.reshape(n, h, h, 1) * v).sum(axis=2)          # (n, h, dim)
        return inputs + mixed.reshape(n, h, w, c)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):  # for model.save / load_model(custom_objects=...)
        return {**super().get_config(), "key_dim": self.key_dim}


def build_model(key_dim: int = 16) -> mg.Sequential:
    return mg.Sequential([
        layers.Conv2D(8, 3, strides=2, padding="same", activation="relu",
                      input_shape=(28, 28, 1)),                       # -> (14, 14, 8)
        RowAttention(key_dim),                                        # 14 rows of 112
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12000, help="training images")
    parser.add_argument("--test-samples", type=int, default=2000, help="test images")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--key-dim", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, help="fit's verbose (0, 1, 2)")
    parser.add_argument("--out", default=".", help="folder for the PNG (default: .)")
    args = parser.parse_args(argv)

    mg.random.seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mg.datasets.mnist.load_data()
    x_train = (x_train[:args.samples, :, :, None] / 255.0).astype("float32")
    y_train = y_train[:args.samples]
    x_test = (x_test[:args.test_samples, :, :, None] / 255.0).astype("float32")
    y_test = y_test[:args.test_samples]

    model = build_model(args.key_dim)
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"trained on {len(x_train)} images x {args.epochs} epoch(s) in {seconds:.1f} s")
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} test images")

    # what the attention does for one test digit
    attention_layer = model.layers[1]
    model.predict(x_test[:1], verbose=0)
    attention = attention_layer.last_attention.numpy()[0]           # (14, 14)
    result = {"accuracy": accuracy, "loss": loss, "attention": attention, "png": None}

    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(1, 2, figsize=(6.5, 3.2))
        ax[0].imshow(x_test[0, :, :, 0], cmap="gray")
        ax[0].set_title(f"test digit (label {y_test[0]})", fontsize=9)
        ax[0].axis("off")
        im = ax[1].imshow(attention, cmap="viridis")
        ax[1].set_xlabel("attended row j (of 14)", fontsize=8)
        ax[1].set_ylabel("row i", fontsize=8)
        ax[1].set_title("row attention weights", fontsize=9)
        fig.colorbar(im, ax=ax[1], fraction=0.046)
        result["png"] = save(fig, args.out, "row_attention.png")
    return result


if __name__ == "__main__":
    main()
