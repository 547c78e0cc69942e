"""Train the Keras "simple MNIST convnet" on real MNIST with minigrad.

    python examples/mnist.py                   # 15 epochs on the CPU, >= 99% test accuracy
    python examples/mnist.py --device cuda     # the same on an NVIDIA GPU
    python examples/mnist.py --epochs 1 --samples 6000   # a quick look
    python examples/mnist.py --processes 2     # 2 forked processes, data parallel
    mpiexec -n 2 python examples/mnist.py --distributed  # 2 MPI processes, data parallel

The model, optimizer, batch size and validation split are those of the Keras
example (keras.io/examples/vision/mnist_convnet). With `--distributed`, under
`mpiexec -n N` (`pip install "minigrad[mpi]"`), N processes train together on
shards of each batch of 128 (minigrad.distribution.DataParallel); rank 0 prints.
`--processes N` does the same without MPI: initialize(num_processes=N) forks them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

try:
    import minigrad as mg
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import minigrad as mg
from minigrad import layers  # noqa: E402


def build_model() -> mg.Sequential:
    return mg.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def _quiet(*args, **kwargs) -> None:
    pass


class EpochTimer(mg.callbacks.Callback):
    """Prints each epoch's wall time and validation figures on one line."""

    def __init__(self, say=print):
        super().__init__()
        self.say = say

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)
        logs = logs or {}
        self.say(f"epoch {epoch + 1}: {self.times[-1]:.1f} s, val_loss {logs.get('val_loss', 0):.4f}, "
              f"val_accuracy {logs.get('val_accuracy', 0):.4f}", flush=True)


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None, help="cpu or cuda (default: $MINIGRAD_DEVICE or cpu)")
    p.add_argument("--samples", type=int, default=None, help="use only this many training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="save the trained model to this .npz file")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.add_argument("--distributed", action="store_true",
                   help="data parallel over the processes of `mpiexec -n N`")
    p.add_argument("--processes", type=int, default=None,
                   help="data parallel over this many processes forked on this machine "
                        "(no MPI needed)")
    args = p.parse_args(argv)

    if args.distributed or args.processes:
        mg.distribution.initialize(num_processes=args.processes)
        mg.distribution.set_distribution(mg.distribution.DataParallel())
    chief = mg.distribution.process_id() == 0
    say = print if chief else _quiet  # rank 0 prints
    mg.random.seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mg.datasets.mnist.load_data()
    x_train = (x_train[..., None] / 255.0).astype("float32")[:args.samples]
    y_train = y_train[:args.samples]
    x_test = (x_test[..., None] / 255.0).astype("float32")
    where = f" on {mg.distribution.num_processes()} processes" if args.distributed or \
        args.processes else ""
    say(f"{len(x_train)} training and {len(x_test)} test images{where}")

    model = build_model()
    if chief:
        model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=args.device)
    say(f"device: {model.device}")
    model.warmup(verbose=int(chief))  # compiles the kernels on the first run, then cached

    timer = EpochTimer(say)
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_split=0.1, callbacks=[timer], verbose=args.verbose)
    train_time = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    later = timer.times[1:] or timer.times
    say(f"Test loss: {loss:.4f}")
    say(f"Test accuracy: {accuracy:.4f}")
    say(f"Training took {train_time:.1f} s for {len(timer.times)} epochs "
        f"({np.median(later):.1f} s per epoch after the first)")
    if args.save and chief:
        model.save(args.save)
        say(f"saved to {args.save}")
    return accuracy


if __name__ == "__main__":
    main()
