"""examples/mnist.py's run in PyTorch eager, for the full-run comparison.

    python benchmarks/mnist_torch.py            # 15 epochs, batch 128, as examples/mnist.py

Same model (NCHW twin, Keras's init), Adam with Keras's defaults, batch 128,
the last 10% of the training set held out for validation each epoch, the
same threads as minigrad (numba.get_num_threads()). Prints each epoch's time,
its validation pass included (as examples/mnist.py's epoch times, which time
fit's epochs), the test accuracy and the training wall time, to set beside
`python examples/mnist.py`'s.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import _common as C
from cnn_workers import load_mnist, nchw, torch_model

mg = C.import_minigrad()  # the installed minigrad, else this checkout's
import numba  # noqa: E402  (after minigrad, which needs it)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    a = p.parse_args()
    torch = C.import_torch(numba.get_num_threads())
    if torch is None:
        raise SystemExit("mnist_torch.py needs torch (pip install torch)")
    F = torch.nn.functional
    torch.manual_seed(0)
    x, y, x_test = load_mnist()
    (_, _), (_, y_test) = mg.datasets.mnist.load_data()
    split = int(len(x) * 0.9)  # Keras's validation_split=0.1: the last tenth
    tx, ty = nchw(torch, x[:split]), torch.from_numpy(y[:split])
    vx, vy = nchw(torch, x[split:]), torch.from_numpy(y[split:])
    model, opt = torch_model(torch)

    def accuracy(xs, ys) -> float:
        model.eval()
        with torch.no_grad():
            right = sum((model(xs[s:s + 1000]).argmax(1) == ys[s:s + 1000]).sum().item()
                        for s in range(0, len(xs), 1000))
        return right / len(xs)

    start = time.perf_counter()
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(tx))
        for s in range(0, len(tx), a.batch_size):
            idx = order[s:s + a.batch_size]
            loss = F.cross_entropy(model(tx[idx]), ty[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()  # as fit reads the loss every batch
        val_accuracy = accuracy(vx, vy)  # inside the epoch's time, as in fit's
        print(f"epoch {epoch + 1}: {time.perf_counter() - t0:.1f} s, "
              f"val_accuracy {val_accuracy:.4f}", flush=True)
    train_time = time.perf_counter() - start
    test = accuracy(nchw(torch, x_test), torch.from_numpy(y_test.astype(np.int64)))
    print(f"Test accuracy: {test:.4f}")
    print(f"Training took {train_time:.1f} s for {a.epochs} epochs "
          f"({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
