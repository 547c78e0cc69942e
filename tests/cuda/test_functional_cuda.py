"""A functional model (two inputs, fused conv+pool, merge layers) and a subclassed
model train on the CUDA backend to the numbers the same seeded models reach on the CPU."""
import numpy as np

import minigrad as mg
from minigrad import layers


def data(n=8):
    rng = np.random.default_rng(2)
    return (rng.standard_normal((n, 6, 6, 1)).astype("f4"),
            rng.standard_normal((n, 3)).astype("f4"), rng.integers(0, 3, n))


def functional(device):
    mg.random.seed(0)
    img, extra = mg.Input((6, 6, 1), name="img"), mg.Input((3,), name="extra")
    x = layers.MaxPooling2D(2)(layers.Conv2D(2, 3, activation="relu")(img))
    x = layers.Flatten()(x)
    e = layers.Dense(8)(extra)
    x = layers.concatenate([layers.maximum([x, e]), layers.subtract([x, e]), e])
    model = mg.Model([img, extra], layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device=device)
    img_x, extra_x, y = data()
    history = model.fit([img_x, extra_x], y, batch_size=4, epochs=2, verbose=0)
    return model, history.history


class Tiny(mg.Model):
    def __init__(self):
        super().__init__()
        self.hidden = [layers.Dense(4, activation="relu")]
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x, training=None):
        return self.out(self.hidden[0](x))


def subclassed(device):
    mg.random.seed(1)
    model = Tiny()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device=device)
    _, x, y = data()
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    return model, history.history


def test_functional_model_on_cuda_matches_cpu():
    (cpu_model, cpu_hist), (gpu_model, gpu_hist) = functional("cpu"), functional("cuda")
    assert [s[0] for s in gpu_model._plan.steps][0] == "conv_pool"
    assert all(w.device == "cuda" for w in gpu_model.weights)
    np.testing.assert_allclose(gpu_hist["loss"], cpu_hist["loss"], rtol=1e-4)
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    img_x, extra_x, _ = data()
    np.testing.assert_allclose(gpu_model.predict({"img": img_x, "extra": extra_x}, verbose=0),
                               cpu_model.predict([img_x, extra_x], verbose=0),
                               rtol=1e-4, atol=1e-6)


def test_subclassed_model_on_cuda_matches_cpu():
    (cpu_model, cpu_hist), (gpu_model, gpu_hist) = subclassed("cpu"), subclassed("cuda")
    assert all(w.device == "cuda" for w in gpu_model.weights)
    np.testing.assert_allclose(gpu_hist["loss"], cpu_hist["loss"], rtol=1e-4)
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
