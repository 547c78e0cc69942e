"""MNIST from the IDX files shipped inside the package, as `keras.datasets.mnist`."""
from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

BUNDLED = os.path.join(os.path.dirname(__file__), "data", "mnist")
FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
               0x0E: ">f8"}


def load_data(path: str | None = None) -> tuple:
    """((x_train, y_train), (x_test, y_test)): uint8 images (N, 28, 28), uint8 labels.

    `path` is a folder holding the four standard IDX files, gzipped or not
    (for Fashion-MNIST or your own copy); by default the bundled MNIST.
    """
    folder = BUNDLED if path is None else os.fspath(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"mnist.load_data: no such folder: {folder!r}")
    arrays = {key: read_idx(_find(folder, stem)) for key, stem in FILES.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"mnist.load_data: {split} images {x.shape} and labels {y.shape} "
                             f"do not match (expected (N, rows, cols) and (N,))")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _find(folder: str, stem: str) -> str:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz",
                 stem.replace("-idx", ".idx")):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise FileNotFoundError(f"mnist.load_data: {stem}(.gz) not found in {folder!r}")


def read_idx(filename: str) -> np.ndarray:
    """Read one IDX file (gzipped if its name ends in .gz); checks its header and size."""
    opener = gzip.open if filename.endswith(".gz") else open
    try:
        with opener(filename, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # truncated, corrupted or not gzip
        raise ValueError(f"read_idx: {filename!r} could not be read (a truncated or "
                         f"corrupted file?): {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"read_idx: {filename!r} is not an IDX file (bad magic number "
                         f"{raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"read_idx: {filename!r} has a truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(raw) != expected:
        raise ValueError(f"read_idx: {filename!r} is truncated or has trailing data: header "
                         f"says shape {shape} ({expected} bytes), file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
