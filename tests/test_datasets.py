"""mg.datasets.mnist: the bundled MNIST and IDX folders written by the tests."""
import gzip
import struct

import numpy as np
import pytest

import minigrad as mg
from minigrad.datasets import mnist

NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def idx_bytes(arr):
    """An IDX file, written from the format's definition: 0, 0, type 0x08, ndim,
    big-endian uint32 sizes, then the uint8 data."""
    arr = np.asarray(arr, np.uint8)
    return bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape) + \
        arr.tobytes()


def write_folder(folder, arrays, gz):
    folder.mkdir(exist_ok=True)
    for key, stem in NAMES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return folder


def synthetic(seed=0, n_train=7, n_test=3, rows=5, cols=4):
    r = np.random.default_rng(seed)
    return {"x_train": r.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
            "y_train": r.integers(0, 10, n_train, dtype=np.uint8),
            "x_test": r.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
            "y_test": r.integers(0, 10, n_test, dtype=np.uint8)}


@pytest.fixture(scope="module")
def bundled():
    return mg.datasets.mnist.load_data()


def test_bundled_mnist_shapes_and_dtypes(bundled):
    (x_train, y_train), (x_test, y_test) = bundled
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8


def test_bundled_mnist_labels_and_pixels(bundled):
    (x_train, y_train), (x_test, y_test) = bundled
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    # every class is common (MNIST has 5,421 to 6,742 of each in training)
    counts = np.bincount(y_train, minlength=10)
    assert counts.min() > 5000 and counts.max() < 7000 and counts.sum() == 60000
    assert x_train.min() == 0 and x_train.max() == 255
    # digits are drawn in the middle; the border is blank
    assert x_train[:, 0, :].mean() < 0.1 and x_train[:, 10:18, 10:18].mean() > 60
    assert 25 < x_train.mean() < 40                 # MNIST's mean pixel is about 33.3
    assert x_train.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_load_from_folder(tmp_path, gz):
    arrays = synthetic()
    folder = write_folder(tmp_path / "data", arrays, gz)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=str(folder))
    for key, got in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test),
                     ("y_test", y_test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])


def test_load_from_pathlib_folder(tmp_path):
    arrays = synthetic(seed=3, n_train=2, n_test=2, rows=3, cols=3)
    folder = write_folder(tmp_path / "p", arrays, gz=True)
    (x_train, _), _ = mnist.load_data(path=folder)
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_idx_header_is_big_endian(tmp_path):
    """Sizes above 255 need more than one header byte: catches a wrong byte order."""
    arrays = synthetic(n_train=300, n_test=1, rows=2, cols=2)
    folder = write_folder(tmp_path / "big", arrays, gz=False)
    (x_train, y_train), _ = mnist.load_data(path=folder)
    assert x_train.shape == (300, 2, 2) and y_train.shape == (300,)


def test_truncated_file(tmp_path):
    arrays = synthetic()
    folder = write_folder(tmp_path / "t", arrays, gz=False)
    f = folder / NAMES["x_train"]
    f.write_bytes(f.read_bytes()[:-7])
    with pytest.raises(ValueError, match="truncated"):
        mnist.load_data(path=folder)


def test_truncated_header(tmp_path):
    folder = write_folder(tmp_path / "h", synthetic(), gz=False)
    (folder / NAMES["y_test"]).write_bytes(bytes([0, 0, 8, 1, 0, 0]))
    with pytest.raises(ValueError):
        mnist.load_data(path=folder)


def test_truncated_gzip(tmp_path):
    folder = write_folder(tmp_path / "g", synthetic(), gz=True)
    f = folder / (NAMES["x_test"] + ".gz")
    f.write_bytes(f.read_bytes()[:20])
    with pytest.raises(ValueError):
        mnist.load_data(path=folder)


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x03", b"\x00\x00\x42\x03", b"PK\x03\x04",
                                   b""])
def test_bad_magic(tmp_path, magic):
    folder = write_folder(tmp_path / "m", synthetic(), gz=False)
    f = folder / NAMES["x_train"]
    f.write_bytes(magic + f.read_bytes()[4:] if magic else b"")
    with pytest.raises(ValueError):
        mnist.load_data(path=folder)


def test_images_and_labels_count_mismatch(tmp_path):
    arrays = synthetic()
    arrays["y_train"] = arrays["y_train"][:-1]
    folder = write_folder(tmp_path / "c", arrays, gz=False)
    with pytest.raises(ValueError):
        mnist.load_data(path=folder)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        mnist.load_data(path=str(tmp_path / "does-not-exist"))


def test_missing_file_in_folder(tmp_path):
    folder = write_folder(tmp_path / "f", synthetic(), gz=False)
    (folder / NAMES["y_test"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels"):
        mnist.load_data(path=folder)


@pytest.mark.parametrize("where", ["deflate", "crc"])
def test_corrupted_gzip_is_a_value_error_naming_the_file(tmp_path, where):
    """Bytes flipped inside the compressed stream (zlib.error) or in the CRC trailer
    (gzip.BadGzipFile): both a ValueError that names the file."""
    folder = write_folder(tmp_path / "z", synthetic(), gz=True)
    f = folder / (NAMES["x_train"] + ".gz")
    data = bytearray(f.read_bytes())
    span = range(12, 20) if where == "deflate" else range(len(data) - 8, len(data) - 4)
    for i in span:
        data[i] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*corrupted"):
        mnist.load_data(path=folder)


@pytest.mark.parametrize("dims", [(65536,) * 4, (2**32 - 1, 2**32 - 1, 1), (2**31, 2**31, 4)])
def test_header_with_huge_dims_is_a_clear_value_error(tmp_path, dims):
    """Sizes whose product overflows 64 bits once wrapped to 0 and passed the size
    check, failing later in reshape; the header is now compared exactly."""
    folder = write_folder(tmp_path / "d", synthetic(), gz=False)
    header = bytes([0, 0, 0x08, len(dims)]) + b"".join(struct.pack(">I", s) for s in dims)
    (folder / NAMES["x_train"]).write_bytes(header)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*header says shape"):
        mnist.load_data(path=folder)
