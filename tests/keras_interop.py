"""The small models exchanged with Keras 3, written once for both libraries:
`build_models(keras)` and `build_models(minigrad)` make the same architectures
(minigrad follows Keras's API). tests/fixtures/keras/make_fixtures.py saves
them with Keras; tests/test_saving_keras_files.py loads those files in minigrad,
and saves minigrad's in a subprocess running Keras (`run_in_keras`).
"""
import json
import os
import subprocess
import textwrap

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras")

_SHAPES = {"seq_conv": [(16, 8, 8, 1)], "functional_merge": [(6, 6), (6, 6)],
           "dense_bn_dropout": [(16, 5)], "image_zoo": [(4, 8, 8, 3)],
           "sequence_zoo": [(4, 6)], "custom_functional": [(3, 5)],
           "custom_subclassed": [(3, 5)]}


def inputs_for(name: str, rng: np.random.Generator) -> list:
    if name == "sequence_zoo":  # token ids
        return [rng.integers(0, 10, size=_SHAPES[name][0]).astype("int32")]
    return [rng.normal(size=shape).astype("float32") for shape in _SHAPES[name]]


def build_models(lib) -> dict:
    """{name: model} made with `lib` (the keras or the minigrad module)."""
    L = lib.layers
    models = {}
    models["seq_conv"] = lib.Sequential([
        lib.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(),
        L.MaxPooling2D(), L.Flatten(), L.Dropout(0.5), L.Dense(3, activation="softmax")])

    a, b = lib.Input((6,), name="a"), lib.Input((6,), name="b")
    adapted = L.Normalization()
    adapted.adapt(np.random.default_rng(5).normal(2.0, 3.0, size=(32, 6)).astype("float32"))
    na, nb = L.Normalization(mean=0.5, variance=4.0)(a), adapted(b)
    shared = L.Dense(8, activation="sigmoid")  # called twice: two nodes
    pair = [shared(L.Dense(8, activation="relu")(na)), shared(L.Dense(8, activation="tanh")(nb))]
    z = L.Concatenate()([L.Concatenate()(pair), L.Add()(pair), L.Multiply()(pair),
                         L.Subtract()(pair), L.Average()(pair), L.Maximum()(pair),
                         L.Minimum()(pair)])
    inner = lib.Sequential([L.Dense(8, activation="relu"), L.Dense(8)], name="inner")
    z = L.Dropout(0.2)(L.BatchNormalization()(inner(z)))
    models["functional_merge"] = lib.Model([a, b], L.Dense(3, activation="softmax")(z))

    models["dense_bn_dropout"] = lib.Sequential([
        lib.Input((5,)), L.Dense(8, activation="relu"), L.BatchNormalization(),
        L.Dropout(0.3), L.Dense(2)])

    x = inp = lib.Input((8, 8, 3))
    x = L.Rescaling(0.5, offset=0.1)(x)
    x = L.Conv2D(4, 3, padding="same", activation="elu")(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.Conv2D(4, 1, groups=2)(x)
    x = L.SeparableConv2D(5, 3, padding="same")(x)
    x = L.LeakyReLU(negative_slope=0.2)(x)
    x = L.Conv2DTranspose(3, 2, strides=2)(x)
    x = L.AveragePooling2D(2)(x)
    x = L.Cropping2D(1)(L.ZeroPadding2D(1)(x))
    x = L.MaxPooling2D()(L.UpSampling2D()(x))
    x = L.PReLU()(L.ELU()(x))
    x = L.GaussianNoise(0.1)(L.SpatialDropout2D(0.1)(x))
    x = L.ReLU(max_value=6.0)(x)
    x = L.Concatenate()([L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x)])
    x = L.Activation("sigmoid")(L.LayerNormalization()(x))
    models["image_zoo"] = lib.Model(inp, L.Softmax()(L.Dense(4)(x)))

    tokens = lib.Input((6,), dtype="int32")
    x = L.Embedding(10, 8)(tokens)
    x = L.Conv1D(8, 3, padding="same", activation="relu")(x)
    x = L.LayerNormalization()(x)
    x = L.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    pooled = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)])
    x = L.AveragePooling1D(1)(L.MaxPooling1D(2)(x))
    x = L.Reshape((24,))(L.Permute((2, 1))(x))
    x = L.Flatten()(L.RepeatVector(2)(L.Dense(4)(x)))
    x = L.Activation("tanh")(L.ActivityRegularization(l1=0.01)(x))
    models["sequence_zoo"] = lib.Model(tokens, L.Dense(2)(L.Concatenate()([x, pooled])))
    return models


def make_custom_classes(lib) -> tuple:
    """A registered custom layer with sublayers and a weight of its own, and a
    registered subclassed model using it, made with `lib` (keras or minigrad): their
    weights are found by attribute name (`block/dense_1/vars/0`, ...)."""
    L = lib.layers

    @lib.saving.register_keras_serializable(package="interop")
    class Block(L.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense_1 = L.Dense(units, activation="relu")
            self.dense_2 = L.Dense(units)
            self.norm = L.LayerNormalization()

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="random_normal",
                                         name="scale")

        def call(self, x):
            return self.norm(self.dense_2(self.dense_1(x))) * self.scale

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @lib.saving.register_keras_serializable(package="interop")
    class Net(lib.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.block = Block(units)
            self.head = L.Dense(2)

        def call(self, x):
            return self.head(self.block(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return Block, Net


def build_custom_models(lib) -> dict:
    """{name: model} with the custom classes: in a functional model, and subclassed."""
    Block, Net = make_custom_classes(lib)
    inp = lib.Input((5,))
    net = Net(4)
    net(np.zeros((1, 5), "float32"))
    return {"custom_functional": lib.Model(inp, lib.layers.Dense(1)(Block(4)(inp))),
            "custom_subclassed": net}


_KERAS_SCRIPT = textwrap.dedent(f"""
    import json, os, sys, warnings
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras, numpy as np
    sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
    from keras_interop import make_custom_classes
    make_custom_classes(keras)  # the custom classes minigrad's files name
    out = {{}}
    for path, inputs in json.loads(sys.argv[1]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.saving.load_model(path)
        if caught:
            out[path + ":warnings"] = [str(w.message) for w in caught]
        data = np.load(inputs)
        if "w0" in data.files:  # one more training step, then the weights
            model.train_on_batch(data["x"], data["y"])
            out[path] = max(float(np.abs(w - data[f"w{{i}}"]).max())
                            for i, w in enumerate(model.get_weights()))
            continue
        xs = [data[f"x{{i}}"] for i in range(len(data.files) - 1)]
        y = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        out[path] = float(np.abs(y - data["y"]).max())
        if getattr(model, "optimizer", None) is not None and model.optimizer.built:
            out[path + ":iterations"] = int(model.optimizer.iterations.numpy())
    print("RESULT" + json.dumps(out))
""")


def run_in_keras(python: str, pairs: list) -> dict:
    """Load each `.keras` file of [(path, npz with x0.. and y)] with Keras 3 in a
    subprocess; {path: max |Keras's prediction - y|} (and path:iterations, and
    path:warnings if Keras warned while loading)."""
    return _run_keras(python, _KERAS_SCRIPT, json.dumps(pairs))


def _run_keras(python: str, code: str, *args: str):
    """Run `code` with `python` (which has Keras 3); the JSON it printed after RESULT."""
    done = subprocess.run([python, "-c", code, *args], capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    if done.returncode != 0 or not lines:
        raise AssertionError(f"Keras failed (rc {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT"):])


_KERAS_MNIST = textwrap.dedent("""
    import json, os, sys
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras, numpy as np
    data, out = np.load(sys.argv[1]), sys.argv[2]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dropout(0.25),
        keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data["x_train"], data["y_train"], epochs=1, batch_size=64, verbose=0)
    model.save(out)
    _, accuracy = model.evaluate(data["x_test"], data["y_test"], verbose=0)
    probs = model.predict(data["x_test"], verbose=0)
    np.savez(out + ".npz", probs=probs, accuracy=accuracy)
    print("RESULT" + json.dumps({"accuracy": float(accuracy)}))
""")


def train_mnist_in_minigrad(mg, x_train, y_train):
    """The twin of _KERAS_MNIST's CNN in minigrad (no dropout), trained one epoch."""
    mg.random.seed(0)
    model = mg.Sequential([mg.Input((28, 28, 1)), mg.layers.Conv2D(8, 3, activation="relu"),
                           mg.layers.MaxPooling2D(), mg.layers.Flatten(),
                           mg.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
    return model


def train_mnist_in_keras(python: str, data_npz: str, out: str) -> dict:
    """Train a small CNN on `data_npz` (x_train, y_train, x_test, y_test) with Keras 3,
    save it to `out` (.keras) and its test probabilities to `out`.npz."""
    return _run_keras(python, _KERAS_MNIST, data_npz, out)


_KERAS_OBJECTS = textwrap.dedent("""
    import json, os, sys
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    out = []
    for entry in json.load(open(sys.argv[1])):
        obj = keras.saving.deserialize_keras_object(entry)
        out.append([type(obj).__name__, obj.get_config()])
    print("RESULT" + json.dumps(out, default=str))
""")


def deserialize_in_keras(python: str, entries_json: str) -> list:
    """[[class name, config]] of each serialized object in `entries_json`, as Keras 3
    rebuilds it."""
    return _run_keras(python, _KERAS_OBJECTS, entries_json)


def step_in_keras(python: str, pairs: list) -> dict:
    """For [(.keras path, npz with x, y and w0.. after one more step)]: load in Keras 3,
    take that step, {path: max |Keras's weights - w|} (and path:warnings)."""
    return _run_keras(python, _KERAS_SCRIPT, json.dumps(pairs))


OPTIMIZERS = {  # every optimizer minigrad has, and the options that change Keras's layout
    "sgd": lambda o: o.SGD(), "sgd_momentum": lambda o: o.SGD(momentum=0.9, nesterov=True),
    "adam": lambda o: o.Adam(), "adam_amsgrad": lambda o: o.Adam(amsgrad=True),
    "adamw": lambda o: o.AdamW(), "rmsprop": lambda o: o.RMSprop(),
    "rmsprop_centered": lambda o: o.RMSprop(momentum=0.5, centered=True),
    "adagrad": lambda o: o.Adagrad(), "adadelta": lambda o: o.Adadelta(),
    "adamax": lambda o: o.Adamax(), "nadam": lambda o: o.Nadam()}
