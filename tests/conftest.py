"""Shared fixtures for the minigrad test suite."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator per test (tests never depend on order)."""
    return np.random.default_rng(1234)


@pytest.fixture
def fresh_names():
    """Reset the automatic layer-name counters, like keras.backend.clear_session()."""
    from minigrad.layers import base
    saved = base._name_counts.copy()
    base._name_counts.clear()
    yield
    base._name_counts.clear()
    base._name_counts.update(saved)


@pytest.fixture
def parallel_builds(monkeypatch):
    """Every CPU kernel on its parallel build, whatever the input size or thread count
    (backend.py's _launch otherwise takes the serial one below kernels.py's
    SERIAL_BELOW elements or MIN_THREADS threads)."""
    from minigrad.backends.cpu import kernels as K, layer_kernels as LK
    kernels = [k for mod in (K, LK) for k in vars(mod).values() if hasattr(k, "serial_below")]
    for k in kernels + list(K.FORWARD.values()) + list(K.BACKWARD.values()):
        monkeypatch.setattr(k, "serial_below", 0)
        monkeypatch.setattr(k, "min_threads", 1)


def build_mnist_convnet():
    """The convnet of the README's quick start (the Keras MNIST example)."""
    import minigrad as mg
    from minigrad import layers
    return mg.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


@pytest.fixture(scope="session")
def mnist_convnet():
    """A factory for the MNIST convnet (call it to get a fresh model)."""
    return build_mnist_convnet
