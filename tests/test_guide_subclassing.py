"""keras-io's guide "Making new layers and models via subclassing"
(guides/keras_core/making_new_layers_and_models_via_subclassing.py), section by
section, with minigrad in place of Keras.

The guide writes its layers with keras.ops (matmul, sum, mean, exp, ...), the
random_normal initializer, keras.activations, keras.random, `assign_add` and
`add_loss`; the tests with those run the guide's calls, and the layers shared
across sections use Tensor operations (`inputs @ self.w`), which are the same.
A section that needs what minigrad lacks is skipped with a marker naming it.
"""
import numpy as np

import minigrad as keras
from keras_guides import needs
from minigrad import layers


class Linear(keras.layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="glorot_uniform",
                                 trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return inputs @ self.w + self.b


class LazyLinear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return inputs @ self.w + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


class MLPBlock(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.linear_1 = LazyLinear(32)
        self.linear_2 = LazyLinear(32)
        self.linear_3 = LazyLinear(1)

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = keras.activations.relu(x)
        x = self.linear_2(x)
        x = keras.activations.relu(x)
        return self.linear_3(x)


def test_the_layer_class_state_and_computation():
    x = np.ones((2, 2), "float32")
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    assert y.shape == (2, 4)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]   # tracked


@needs("initializers.random_normal", "ops.matmul", "ops.ones")
def test_the_guides_linear_with_keras_ops():
    from minigrad import ops

    class GuideLinear(keras.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                     trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w)

    assert GuideLinear(4, 2)(ops.ones((2, 2))).shape == (2, 4)


@needs("Variable.assign_add", "ops.sum")
def test_layers_can_have_non_trainable_weights():
    from minigrad import ops

    class ComputeSum(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,),
                                         trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    x = np.ones((2, 2), "float32")
    my_sum = ComputeSum(2)
    y = my_sum(x)
    np.testing.assert_array_equal(y.numpy(), [2.0, 2.0])
    y = my_sum(x)
    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])
    assert len(my_sum.weights) == 1
    assert len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []


def test_non_trainable_weights_are_categorised():
    class Counter(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,),
                                         trainable=False)

        def call(self, inputs):
            return inputs + self.total

    my_sum = Counter(2)
    my_sum(np.ones((2, 2), "float32"))
    assert len(my_sum.weights) == 1 and len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []


def test_deferring_weight_creation_until_the_input_shape_is_known():
    linear_layer = LazyLinear(32)
    assert linear_layer.weights == []
    linear_layer(np.ones((2, 2), "float32"))
    assert [w.shape for w in linear_layer.weights] == [(2, 32), (32,)]


def test_layers_are_recursively_composable():
    mlp = MLPBlock()
    y = mlp(np.ones((3, 64), "float32"))   # the first call creates the weights
    assert y.shape == (3, 1)
    assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6   # the guide's figures


@needs("Layer.add_loss", "ops.mean")
def test_the_add_loss_method():
    from minigrad import ops

    class ActivityRegularizationLayer(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * ops.mean(inputs))
            return inputs

    layer = ActivityRegularizationLayer()
    layer(np.zeros((1, 1), "float32"))
    assert len(layer.losses) == 1


def test_you_can_optionally_enable_serialization_on_your_layers():
    class UnitsOnly(LazyLinear):
        def get_config(self):
            return {"units": self.units}

    layer = UnitsOnly(64)
    config = layer.get_config()
    assert config == {"units": 64}
    assert UnitsOnly.from_config(config).units == 64
    layer = LazyLinear(64)
    config = layer.get_config()
    assert config["units"] == 64 and config["name"] == layer.name
    new_layer = LazyLinear.from_config(config)
    assert new_layer.units == 64 and new_layer.name == layer.name


def test_privileged_training_argument_in_call():
    class CustomDropout(keras.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs, training=None):
            if training:
                return keras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
            return inputs

    class Wrapper(keras.Model):
        def __init__(self):
            super().__init__()
            self.dropout = CustomDropout(0.5)

        def call(self, inputs, training=None):
            return self.dropout(inputs)    # training reaches it without being passed

    model, x = Wrapper(), np.ones((4, 100), "float32")
    np.testing.assert_array_equal(model(x).numpy(), x)
    assert (model(x, training=True).numpy() == 0).any()


class Encoder(layers.Layer):
    """The guide's VAE encoder, without the sampling (keras.random, ops: issue 13)."""

    def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)

    def call(self, inputs):
        return self.dense_mean(self.dense_proj(inputs))


class Decoder(layers.Layer):
    def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        return self.dense_output(self.dense_proj(inputs))


class AutoEncoder(keras.Model):
    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))


def test_putting_it_all_together_an_end_to_end_example():
    (x_train, _), _ = keras.datasets.mnist.load_data()
    x_train = x_train[:512].reshape(512, 784).astype("float32") / 255
    keras.random.seed(0)
    ae = AutoEncoder(784, 64, 32)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    ae.compile(optimizer, loss=keras.losses.MeanSquaredError())
    history = ae.fit(x_train, x_train, epochs=3, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert ae.count_params() == (784 * 64 + 64) + (64 * 32 + 32) + (32 * 64 + 64) + \
        (64 * 784 + 784)
    assert [l.name for l in ae.layers] == ["encoder", "decoder"]


@needs("Layer.add_loss", "ops.shape", "ops.exp", "ops.square", "ops.mean", "random.normal",
       "random.SeedGenerator")
def test_the_guides_variational_autoencoder():
    from minigrad import ops

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class VAE(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder(latent_dim=8, intermediate_dim=16)
            self.log_var = layers.Dense(8)
            self.sampling = Sampling()
            self.decoder = Decoder(784, intermediate_dim=16)

        def call(self, inputs):
            z_mean = self.encoder(inputs)
            z_log_var = self.log_var(inputs)
            reconstructed = self.decoder(self.sampling((z_mean, z_log_var)))
            self.add_loss(-0.5 * ops.mean(z_log_var - ops.square(z_mean) -
                                          ops.exp(z_log_var) + 1))
            return reconstructed

    x = np.random.default_rng(0).random((64, 784)).astype("float32")
    vae = VAE()
    vae.compile(keras.optimizers.Adam(learning_rate=1e-3), loss=keras.losses.MeanSquaredError())
    history = vae.fit(x, x, epochs=2, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
