"""The saving issue's "done when" on the whole of MNIST, run by hand where a Python
with Keras 3 exists (test_saving_keras_files.py::test_mnist_both_ways runs the same
on a sample in the suite):

    MINIGRAD_KERAS_PYTHON=/path/to/keras/venv/bin/python python tests/keras_mnist_full.py

A CNN trained one epoch in Keras 3 (60,000 images) is evaluated by minigrad on the
10,000 test images, and one trained in minigrad is loaded and run by Keras."""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minigrad as mg  # noqa: E402
from keras_interop import (run_in_keras, train_mnist_in_keras,  # noqa: E402
                           train_mnist_in_minigrad)


def main() -> None:
    keras_python = os.environ["MINIGRAD_KERAS_PYTHON"]
    (x, y), (xt, yt) = mg.datasets.mnist.load_data()
    x, xt = [(a[..., None] / 255.0).astype("float32") for a in (x, xt)]
    folder = tempfile.mkdtemp()
    data = os.path.join(folder, "mnist.npz")
    np.savez(data, x_train=x, y_train=y, x_test=xt, y_test=yt)

    from_keras = os.path.join(folder, "from_keras.keras")
    keras_accuracy = train_mnist_in_keras(keras_python, data, from_keras)["accuracy"]
    model = mg.load_model(from_keras)
    _, accuracy = model.evaluate(xt, yt, verbose=0)
    diff = np.abs(model.predict(xt, verbose=0) - np.load(from_keras + ".npz")["probs"]).max()
    print(f"trained in Keras:    test accuracy {keras_accuracy:.4f} in Keras, "
          f"{accuracy:.4f} in minigrad; max |probability difference| {diff:.1e}")

    ours = train_mnist_in_minigrad(mg, x, y)
    _, accuracy = ours.evaluate(xt, yt, verbose=0)
    path, probs = os.path.join(folder, "from_minigrad.keras"), os.path.join(folder, "ours.npz")
    ours.save(path)
    np.savez(probs, x0=xt, y=ours.predict(xt, verbose=0))
    diff = run_in_keras(keras_python, [(path, probs)])[path]
    print(f"trained in minigrad: test accuracy {accuracy:.4f}; Keras predicts the same "
          f"probabilities to {diff:.1e}")


if __name__ == "__main__":
    main()
