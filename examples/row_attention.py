"""Can a Conv2D compare all rows of an image with each other? Self-attention can:
a hand-written layer, and Keras's MultiHeadAttention, answering the same question.

`RowAttention` subclasses `minigrad.layers.Layer`: `build` creates its weights
with `add_weight` once the input shape is known, and `call` is written with
Tensor operations only (reshape, @, *, sum, softmax), so autograd provides the
backward pass. Each of the H rows of an (N, H, W, C) feature map is a W*C
vector; every row attends to every row (scaled dot-product attention) and the
result is added back to the input (a residual connection):

    Q = rows @ Wq,  K = rows @ Wk,  V = rows @ Wv         (per image, H rows)
    out = x + softmax(Q K^T / sqrt(key_dim)) V

The same question with the library's layer: the rows, reshaped into a
sequence of 14 tokens of 112 features, attend to each other through
`layers.MultiHeadAttention(num_heads=1, key_dim=16)` in a functional model,
with the same residual connection:

    rows = Reshape((14, 112))(conv);  out = Add()([rows, mha(rows, rows)])

The script trains Conv2D -> attention -> Dense, once with each layer, on MNIST
for one short epoch and prints both test accuracies and where one test digit's
rows look.

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


def build_mha_model(key_dim: int = 16, num_heads: int = 1) -> mg.Model:
    """The same network with layers.MultiHeadAttention over the 14 rows (tokens of
    112 features); its value projection starts random, not at zero."""
    inputs = mg.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    rows = layers.Reshape((14, 112), name="rows")(x)
    attended = layers.MultiHeadAttention(num_heads, key_dim, name="row_mha")(rows, rows)
    x = layers.Add()([rows, attended])                                # the residual
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    return mg.Model(inputs, outputs)


def mha_attention(model: mg.Model, images) -> object:
    """The MultiHeadAttention weights for `images`: (batch, heads, 14, 14)."""
    rows = mg.Model(model.inputs, model.get_layer("rows").output).predict(images, verbose=0)
    _, scores = model.get_layer("row_mha")(rows, rows, return_attention_scores=True)
    return scores.numpy()


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

    results, maps = {}, {}
    for label, build in (("RowAttention", build_model), ("MultiHeadAttention", build_mha_model)):
        model = build(args.key_dim)
        model.summary()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                  verbose=args.verbose)
        seconds = time.perf_counter() - start
        loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
        print(f"{label}: trained on {len(x_train)} images x {args.epochs} epoch(s) in "
              f"{seconds:.1f} s")
        print(f"{label}: test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} "
              f"test images")
        results[label] = {"accuracy": accuracy, "loss": loss}
        # where the rows of one test digit look
        if label == "RowAttention":
            model.predict(x_test[:1], verbose=0)
            maps[label] = model.layers[1].last_attention.numpy()[0]   # (14, 14)
        else:
            maps[label] = mha_attention(model, x_test[:1])[0, 0]     # head 0: (14, 14)
    result = {"results": results, "attention": maps, "png": None}

    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(1, 3, figsize=(9.5, 3.2))
        ax[0].imshow(x_test[0, :, :, 0], cmap="gray")
        ax[0].set_title(f"test digit (label {y_test[0]})", fontsize=9)
        ax[0].axis("off")
        for a, (label, attention) in zip(ax[1:], maps.items()):
            im = a.imshow(attention, cmap="viridis")
            a.set_xlabel("attended row j (of 14)", fontsize=8)
            a.set_ylabel("row i", fontsize=8)
            a.set_title(f"{label} weights", fontsize=9)
            fig.colorbar(im, ax=a, fraction=0.046)
        result["png"] = save(fig, args.out, "row_attention.png")
    return result


if __name__ == "__main__":
    main()
