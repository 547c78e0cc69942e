"""The Keras "simple MNIST convnet" in each framework, and the worker that times one of them
in a fresh process (run by train_cnn.py, one process per sample).

Each framework gets the same network (Conv2D 32 3x3 relu, MaxPool 2, Conv2D 64 3x3 relu,
MaxPool 2, Flatten, Dropout 0.5, Dense 10 softmax), Adam with Keras's defaults, sparse
categorical cross-entropy with the accuracy metric, the same batches, and is timed through
its ordinary training call. Imports only the standard library and NumPy at the top, so a
worker for Keras or tinygrad can run under another Python.
"""
from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace

import numpy as np

import _common as C
import cifar_bn_models
import convnet3_models

FRAMEWORKS = ("minigrad", "minigrad-2p", "torch", "torch.compile", "keras-jax", "keras-tf",
              "tinygrad")


MODELS = {"mnist_convnet": "simple MNIST convnet",
          "cifar_bn": "CIFAR-10-shaped Conv2D-BatchNormalization-ReLU network "
                      "(benchmarks/cifar_bn_models.py)",
          "convnet3": "3-block 64/128/256-filter Conv2D-ReLU-MaxPooling2D network on 32x32x3 "
                      "(benchmarks/convnet3_models.py)"}
# the models besides the MNIST convnet: module with INPUT, keras_api_model(k), torch_model(torch)
MODEL_MODULES = {"cifar_bn": cifar_bn_models, "convnet3": convnet3_models}


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) or (N, H, W, C) -> float32 NHWC in [0, 1], as the Keras
    examples do."""
    x = images.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def load_mnist(n_train: int | None = None):
    """MNIST from minigrad's bundled copy: scaled NHWC train images, int64 labels, test
    images (for mnist_torch.py)."""
    mg = C.import_minigrad()
    (x, y), (xt, _) = mg.datasets.mnist.load_data()
    return scale(x[:n_train]), y[:n_train].astype(np.int64), scale(xt)


def nchw(torch, x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def torch_model(torch, device: str = "cpu", model_name: str = "mnist_convnet"):
    nn = torch.nn
    if model_name in MODEL_MODULES:
        model = MODEL_MODULES[model_name].torch_model(torch).to(device)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))  # softmax fused in the loss
    for m in model:  # Keras's init: glorot_uniform kernels, zero biases
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)  # Keras's defaults
    return model, opt


# ------------------------------------------------ one runner per framework
# runner(threads, device, batch) -> (versions, prepare(x, y) -> data, build() -> model),
# where model.train(data) runs one pass over the data and model.predict(x) predicts.

def minigrad_mnist_convnet(mg):
    """The network in minigrad, not compiled (also benchmarks/first_conv_weight_grad.py's and
    inference_blocks.py's)."""
    from minigrad import layers
    return mg.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def minigrad_runner(threads, device, batch, model_name="mnist_convnet", processes=1):
    """minigrad's fit and predict; `processes` > 1: data parallel over that many processes
    forked here (`initialize(num_processes=...)`, threads ÷ processes each); rank 0 reports."""
    mg = C.import_minigrad()
    if processes > 1:
        mg.distribution.initialize(num_processes=processes)
        mg.distribution.set_distribution(mg.distribution.DataParallel())
    import numba
    from llvmlite import binding as ll
    from minigrad.backends.cpu import compile_ahead
    from minigrad.backends.cpu.kernels import threads as threads_now
    # what Numba compiles for: NUMBA_CPU_FEATURES where set, else the host's features
    features = os.environ.get("NUMBA_CPU_FEATURES") or ll.get_host_cpu_features().flatten()
    versions = {"minigrad": mg.__version__, "minigrad_path": os.path.dirname(mg.__file__),
                "numba": numba.__version__, "numpy": np.__version__,
                # minigrad's reader: numba.get_num_threads() starts OpenMP's pool, and
                # then the cold first step could not fork its compile copy
                "numba_threads": threads_now(), "processes": processes,
                "numba_cpu": numba.config.CPU_NAME or "host",
                "numba_avx512": "+avx512f" in features}
    if device == "cuda":
        versions["gpu"] = C.gpu_name()

    def build():
        model = MODEL_MODULES[model_name].keras_api_model(mg) if model_name in MODEL_MODULES \
            else minigrad_mnist_convnet(mg)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], device=device)
        # the user's path: fit (shuffle, fused softmax+loss, backward, Adam, accuracy)
        return SimpleNamespace(
            train=lambda d: model.fit(d[0], d[1], batch_size=batch, epochs=1, verbose=0,
                                      shuffle=True),
            predict=lambda x: model.predict(x, batch_size=1000, verbose=0),
            # where the cache was cold: wait for the copy compiling the parallel builds
            settle=compile_ahead.finish_copy)
    return versions, (lambda x, y: (x, y)), build


def torch_runner(threads, device, batch, model_name="mnist_convnet", compiled=False):
    import torch
    torch.set_num_threads(threads)
    blas = next((w.split("=", 1)[1].rstrip(",") for w in torch.__config__.show().split()
                 if w.startswith("BLAS_INFO=")), "unknown")
    versions = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "torch_blas": blas, "numpy": np.__version__}
    if device == "cuda":
        versions["gpu"] = C.gpu_name(torch)
    F = torch.nn.functional

    def prepare(x, y):
        return nchw(torch, x).to(device), torch.from_numpy(y).to(device)

    def build():
        model, opt = torch_model(torch, device, model_name)
        net = torch.compile(model) if compiled else model

        def train(d):  # what fit does per batch: shuffle, forward, loss, backward, Adam, metric
            x, y = d
            net.train()
            order = torch.randperm(len(x), device=x.device)
            for s in range(0, len(x), batch):
                idx = order[s:s + batch]
                xb, yb = x[idx], y[idx]
                out = net(xb)
                loss = F.cross_entropy(out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss.item()
                (out.argmax(1) == yb).sum().item()

        def predict(x):
            net.eval()
            x = nchw(torch, x).to(device)
            with torch.no_grad():
                return np.concatenate([torch.softmax(net(x[s:s + 1000]), 1).cpu().numpy()
                                       for s in range(0, len(x), 1000)])
        return SimpleNamespace(train=train, predict=predict)
    return versions, prepare, build


def keras_runner(threads, device, batch, model_name="mnist_convnet", backend="jax"):
    os.environ["KERAS_BACKEND"] = backend  # before keras is imported
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        versions = {"tensorflow": tf.__version__}
    else:
        import jax
        versions = {"jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}
    import keras
    versions |= {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                 "numpy": np.__version__}
    L = keras.layers

    def build():
        model = MODEL_MODULES[model_name].keras_api_model(keras) if model_name in MODEL_MODULES \
            else keras.Sequential([
                keras.Input((28, 28, 1)),
                L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                L.Flatten(), L.Dropout(0.5), L.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return SimpleNamespace(
            train=lambda d: model.fit(d[0], d[1], batch_size=batch, epochs=1, verbose=0,
                                      shuffle=True),
            predict=lambda x: model.predict(x, batch_size=1000, verbose=0))
    return versions, (lambda x, y: (x, y)), build


def tinygrad_runner(threads, device, batch, model_name="mnist_convnet"):
    if model_name != "mnist_convnet":
        raise ImportError(f"the tinygrad worker has only the MNIST convnet, not {model_name}")
    import tinygrad
    from tinygrad import Device, Tensor, TinyJit, nn
    from tinygrad.nn.state import get_parameters
    try:  # tinygrad >= 0.11: a context variable; before: Tensor.train()
        from tinygrad.helpers import Context
        training = lambda: Context(TRAINING=1)  # noqa: E731
    except ImportError:
        training = Tensor.train
    versions = {"tinygrad": getattr(tinygrad, "__version__", None) or _dist_version("tinygrad"),
                "tinygrad_device": Device.DEFAULT, "numpy": np.__version__}

    def prepare(x, y):  # NumPy: each step's batch becomes a fresh Tensor, as TinyJit wants
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y.astype(np.int32)

    def build():
        c1, c2, fc = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3), nn.Linear(1600, 10)
        for layer, fan_in, fan_out in ((c1, 9, 288), (c2, 288, 576), (fc, 1600, 10)):
            lim = float(np.sqrt(6.0 / (fan_in + fan_out)))  # Keras's glorot_uniform
            layer.weight = Tensor.uniform(*layer.weight.shape, low=-lim, high=lim)
            layer.bias = Tensor.zeros(*layer.bias.shape)
        params = get_parameters([c1, c2, fc])
        opt = nn.optim.Adam(params, lr=1e-3, eps=1e-7)

        def net(x):
            x = c1(x).relu().max_pool2d(2)
            x = c2(x).relu().max_pool2d(2)
            return fc(x.flatten(1).dropout(0.5))

        @TinyJit
        def step(xb, yb):
            with training():
                opt.zero_grad()
                out = net(xb)
                loss = out.sparse_categorical_crossentropy(yb).backward()
                opt.step()
                return loss.realize(), (out.argmax(1) == yb).sum().realize()

        @TinyJit
        def infer(xb):
            return net(xb).softmax(1).realize()

        def train(d):
            x, y = d
            order = np.random.permutation(len(x))
            for s in range(0, len(x), batch):
                idx = order[s:s + batch]
                loss, right = step(Tensor(x[idx]), Tensor(y[idx]))
                loss.item()
                right.item()

        def predict(x):
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            return np.concatenate([infer(Tensor(x[s:s + 1000])).numpy()
                                   for s in range(0, len(x), 1000)])
        return SimpleNamespace(train=train, predict=predict)
    return versions, prepare, build


def _dist_version(name):
    from importlib.metadata import version
    return version(name)


RUNNERS = {"minigrad": minigrad_runner, "minigrad-2p": lambda *a: minigrad_runner(*a, processes=2),
           "torch": torch_runner,
           "torch.compile": lambda *a: torch_runner(*a, compiled=True),
           "keras-jax": lambda *a: keras_runner(*a, backend="jax"),
           "keras-tf": lambda *a: keras_runner(*a, backend="tensorflow"),
           "tinygrad": tinygrad_runner}


# ------------------------------------------------------------------ the worker
def work(a) -> dict:
    """One sample in this fresh process: import, build and first step (timed), warm-up,
    `windows` windows of `steps` steps, then predict at batch 1000. --cold: first step only."""
    t0 = time.perf_counter()
    try:
        versions, prepare, build = RUNNERS[a.worker](a.threads, a.device, a.batch,
                                                      getattr(a, "model", "mnist_convnet"))
    except ImportError as e:
        return {"framework": a.worker, "not_installed": f"{type(e).__name__}: {e}"}
    import_s = time.perf_counter() - t0
    with np.load(a.data) as f:
        x, y, xp = scale(f["x_train"]), f["y_train"].astype(np.int64), scale(f["x_pred"])
    b = a.batch
    first = prepare(x[:b], y[:b])
    t0 = time.perf_counter()
    model = build()
    model.train(first)
    out = {"framework": a.worker, "versions": versions, "python": sys.version.split()[0],
           "executable": sys.executable, "import_s": import_s,
           "first_step_s": time.perf_counter() - t0}
    if not a.cold:
        end = b * (1 + a.warmup)
        if a.warmup:
            model.train(prepare(x[b:end], y[b:end]))
        t1 = time.perf_counter()
        getattr(model, "settle", lambda: None)()   # a cold start's compile, in the background
        out["settle_s"] = time.perf_counter() - t1
        win = a.steps * b
        windows = [prepare(x[end + i * win:end + (i + 1) * win],
                           y[end + i * win:end + (i + 1) * win]) for i in range(a.windows)]
        out["train_window_s"] = [C.timed(model.train, d) for d in windows]
        out["train_images_per_s"] = win / C.median(out["train_window_s"])
        model.predict(xp[:1000])  # compiles the inference graph where there is one
        out["predict_s"] = [C.timed(model.predict, xp) for _ in range(a.predict_reps)]
        out["predict_images_per_s"] = len(xp) / C.median(out["predict_s"])
    out["blas"] = C.blas_info()
    out["peak_rss_mb"] = C.peak_rss_mb()   # minigrad-2p: rank 0's
    if "minigrad" in sys.modules and C.import_minigrad().distribution.process_id() != 0:
        return None   # the other ranks of minigrad-2p: rank 0 reports
    return out


def images_needed(batch: int, warmup: int, steps: int, windows: int) -> int:
    return batch * (1 + warmup + steps * windows)
