"""Writes keras3_summaries.json: what real Keras 3 prints for the models that
tests/test_summary.py builds in minigrad (same names, layers and calls).

Run with Keras 3 and JAX installed (not minigrad's dependencies):
    KERAS_BACKEND=jax COLUMNS=80 python tests/data/keras3_summaries.py
"""
import os, json
os.environ["KERAS_BACKEND"] = "jax"; os.environ["COLUMNS"] = "80"
import numpy as np
import keras
from keras import layers
out = {}
def cap(key, model, **kw):
    lines = []
    model.summary(print_fn=lines.append, **kw)
    assert len(lines) == 1
    out[key] = lines[0]

# (a) nested Sequential
base = keras.Sequential([keras.Input((8,), name="x"), layers.Dense(4, name="d1")], name="base")
outer = keras.Sequential([base, layers.Dense(5, name="d2")], name="outer")
cap("nested_sequential", outer)
cap("nested_sequential_expanded", outer, expand_nested=True, show_trainable=True)

# (b) ensemble of functional models
def get_model(i):
    inputs = keras.Input(shape=(16,), name=f"in{i}")
    outputs = layers.Dense(1, name=f"dense{i}")(inputs)
    return keras.Model(inputs, outputs, name=f"m{i}")
m1, m2 = get_model(1), get_model(2)
inputs = keras.Input(shape=(16,), name="x")
y = layers.average([m1(inputs), m2(inputs)], name="avg")
ens = keras.Model(inputs, y, name="ensemble")
cap("ensemble", ens)
m2.trainable = False
cap("ensemble_expanded", ens, expand_nested=True, show_trainable=True, line_length=110)

# (c) shared layer, two inputs, concatenate, dict outputs
a = keras.Input((6,), name="a"); b = keras.Input((6,), name="b")
shared = layers.Dense(3, name="shared")
c = layers.concatenate([shared(a), shared(b)], name="cat")
outs = {"p": layers.Dense(1, name="p")(c), "q": layers.Dense(2, name="q")(c)}
two = keras.Model([a, b], outs, name="two_heads")
cap("shared_two_heads", two, line_length=100)

# (d) subclassed
class MLPBlock(layers.Layer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.l1 = layers.Dense(32, name="l1"); self.l2 = layers.Dense(32, name="l2"); self.l3 = layers.Dense(1, name="l3")
    def call(self, x):
        return self.l3(keras.activations.relu(self.l2(keras.activations.relu(self.l1(x)))))
class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.block = MLPBlock(name="block"); self.head = layers.Dense(2, name="head")
    def call(self, x, training=None):
        return self.head(self.block(x))
net = Net(); net(np.zeros((1, 64), "float32"))
cap("subclassed", net)
out["subclassed_count"] = net.count_params()
out["mlp_count"] = net.block.count_params()
out["subclassed_nweights"] = len(net.weights)

# (e) float64
f64 = keras.Sequential([keras.Input((8,)), layers.Dense(4, dtype="float64", name="d64")], name="f64")
cap("float64", f64)

# (f) compiled and fitted with adam
fit = keras.Sequential([keras.Input((8,)), layers.Dense(4, activation="relu", name="h"), layers.Dense(3, activation="softmax", name="o")], name="fitted")
fit.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
fit.fit(np.zeros((4, 8)), np.zeros(4), verbose=0)
cap("fitted_adam", fit)

# (g) frozen layer
fr = keras.Sequential([keras.Input((8,)), layers.Dense(4, name="frozen"), layers.Dense(2, name="top")], name="partly_frozen")
fr.layers[0].trainable = False
cap("partly_frozen", fr)

# (h) functional guide: mnist_model
inputs = keras.Input(shape=(784,), name="img784")
x = layers.Dense(64, activation="relu", name="dense")(inputs)
x = layers.Dense(64, activation="relu", name="dense_1")(x)
outputs = layers.Dense(10, name="dense_2")(x)
cap("mnist_model", keras.Model(inputs=inputs, outputs=outputs, name="mnist_model"))

out = {"_source": "printed by Keras " + keras.__version__ + " (JAX backend), COLUMNS=80, "
                  "by tests/data/keras3_summaries.py", **out}
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "keras3_summaries.json"), "w"), indent=1, ensure_ascii=False)
print(keras.__version__)
for k, v in out.items(): print(k); print(v)
