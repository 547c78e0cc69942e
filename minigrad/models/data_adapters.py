"""What fit/evaluate/predict iterate over: NumPy arrays (and Tensors), a
`minigrad.utils.PyDataset`, or a Python generator, iterator or iterable of batches
(a torch DataLoader, a list of batches). Each becomes an adapter that hands the
trainer batches `(xs, ys, sample_weight)`: lists with one array per model input
and output.

Arrays go to the model's device once; each step gathers its batch there.
Batches from Python code are loaded ahead of the step by background threads into
a bounded queue (`max_queue_size`), so the kernels do not wait on Python; an
exception raised by that code is raised again in the training loop, at the
batch where it happened.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import queue
import threading
import types

import numpy as np

from .. import random
from ..backends import get_backend
from ..tensor import Tensor
from ..utils.py_dataset import PyDataset

ACCEPTED = ("NumPy arrays or Tensors (a list or dict of them for several inputs), a "
            "minigrad.utils.PyDataset, or a Python generator, iterator or iterable yielding "
            "batches (x, y) or (x, y, sample_weight) (a torch DataLoader, a list of batches)")


def is_array_like(x) -> bool:
    if isinstance(x, (np.ndarray, Tensor, np.generic)):
        return True
    if isinstance(x, dict):
        return bool(x) and all(is_array_like(v) for v in x.values())
    if isinstance(x, (list, tuple)):  # nested lists of numbers, or one array per input
        if x and all(isinstance(v, (list, tuple)) and any(
                isinstance(e, (np.ndarray, Tensor)) for e in v) for v in x):
            return False  # a list of batches (x, y): an iterable of batches
        return len(x) > 0 and all(is_array_like(v) or isinstance(v, (int, float, bool, list,
                                                                       tuple))
                                  for v in x) and not any(_is_source(v) for v in x)
    return hasattr(x, "__array__") and not _is_source(x)


def _is_source(x) -> bool:
    return isinstance(x, (PyDataset, types.GeneratorType)) or (
        hasattr(x, "__next__") and hasattr(x, "__iter__"))


def kind_of(x, where: str) -> str:
    """'arrays', 'py_dataset' or 'iterable'; anything else is a TypeError saying what
    `where` (fit/evaluate/predict) accepts."""
    if isinstance(x, PyDataset):
        return "py_dataset"
    if x is None or is_array_like(x):  # (None: the array checks say `x` is required)
        return "arrays"
    if isinstance(x, (str, bytes)) or not (hasattr(x, "__iter__") or hasattr(x, "__next__")):
        raise TypeError(f"{where}: unsupported input of type {type(x).__module__}."
                        f"{type(x).__name__} for `x`; {where} accepts {ACCEPTED}")
    return "iterable"


def unpack(batch, where: str, index: int) -> tuple:
    """A yielded batch as (x, y, sample_weight): a tuple/list of 1 to 3 entries, or a
    bare x (a dict or an array)."""
    if isinstance(batch, tuple) or (isinstance(batch, list) and len(batch) in (2, 3) and
                                    not all(isinstance(v, (int, float)) for v in batch)):
        if not 1 <= len(batch) <= 3:
            raise ValueError(f"{where}: batch {index} is a tuple of {len(batch)}; expected "
                             f"(x,), (x, y) or (x, y, sample_weight)")
        return tuple(batch) + (None,) * (3 - len(batch))
    return batch, None, None


def to_host(value):
    """A batch entry (array, Tensor, torch tensor, list, dict) as NumPy arrays."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: to_host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, float)):
        return [to_host(v) for v in value]
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu()
    return np.asarray(value)


# ------------------------------------------------------------------ arrays
class ArrayAdapter:
    """Arrays already checked (data.py): uploaded once, batched by index on the device."""

    def __init__(self, backend, xs: list, ys: list | None, sample_weight, batch_size: int,
                 shuffle: bool, steps: int | None = None):
        self.n = len(xs[0])
        self.xs = [backend.asarray(a) for a in xs]
        self.ys = None if ys is None else [backend.asarray(a) for a in ys]
        self.sw = None if sample_weight is None else backend.asarray(sample_weight)
        self.backend, self.batch_size, self.shuffle = backend, batch_size, shuffle
        full = -(-self.n // batch_size)
        self.num_batches = full if steps is None else min(steps, full)
        self.exhausted = False

    def batches(self):
        b = self.backend
        if self.shuffle:
            order = b.asarray(random.generator().permutation(self.n))
            for step in range(self.num_batches):
                idx = order[step * self.batch_size:(step + 1) * self.batch_size]
                yield ([b.take(a, idx) for a in self.xs],
                       None if self.ys is None else [b.take(a, idx) for a in self.ys],
                       None if self.sw is None else b.take(self.sw, idx))
            return
        for step in range(self.num_batches):
            s = slice(step * self.batch_size, (step + 1) * self.batch_size)
            yield ([a[s] for a in self.xs], None if self.ys is None else [a[s] for a in self.ys],
                   None if self.sw is None else self.sw[s])

    def on_epoch_end(self) -> None:
        pass

    def close(self) -> None:
        pass


# ------------------------------------------------------ Python sources
_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class _Prefetcher:
    """A thread pulling items from an iterator into a bounded queue; the consumer gets
    the items, an exception raised by the iterator (re-raised), or the end."""

    def __init__(self, iterator, max_queue_size: int):
        self.queue = queue.Queue(max(1, int(max_queue_size)))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(iterator,), daemon=True,
                                       name="minigrad-data-loader")
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, iterator) -> None:
        try:
            for item in iterator:
                if not self._put(item):
                    return
        except BaseException as e:  # raised again where the consumer reads it
            self._put(_Failure(e))
            return
        self._put(_END)

    def get(self):
        item = self.queue.get()
        if isinstance(item, _Failure):
            raise item.error
        return item

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


class IterableAdapter:
    """A generator or iterator (read on across epochs) or a re-iterable such as a torch
    DataLoader or a list (read from the start each epoch), loaded ahead by a thread.
    An epoch is `steps` batches, or the rest of the data."""

    def __init__(self, source, steps: int | None, max_queue_size: int = 10):
        self.source = source
        self.reiterable = not hasattr(source, "__next__")
        self.steps, self.max_queue_size = steps, max_queue_size
        self.num_batches = steps if steps is not None else (
            len(source) if self.reiterable and hasattr(source, "__len__") else None)
        self._loader = None
        self._ended = False      # an iterator's end, seen (it does not restart)
        self.exhausted = False   # an epoch found no data, or less than `steps`

    def batches(self):
        if self.reiterable:
            self.close()
            self._loader = _Prefetcher(iter(self.source), self.max_queue_size)
        elif self._loader is None and not self._ended:
            self._loader = _Prefetcher(iter(self.source), self.max_queue_size)
        step = 0
        while self.steps is None or step < self.steps:
            item = _END if self._ended else self._loader.get()
            if item is _END:
                self._ended = not self.reiterable
                self.exhausted = step == 0 or self.steps is not None
                return
            yield item
            step += 1

    def on_epoch_end(self) -> None:
        if self.reiterable:
            self.close()

    def close(self) -> None:
        if self._loader is not None:
            self._loader.close()
            self._loader = None


class PyDatasetAdapter:
    """A PyDataset: `len(ds)` batches an epoch (or `steps`), `ds[i]` loaded ahead by
    `workers` threads (processes with `use_multiprocessing`), in order, up to
    `max_queue_size` batches ahead; batch order shuffled each epoch with `shuffle`."""

    def __init__(self, dataset: PyDataset, shuffle: bool, steps: int | None):
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"{type(dataset).__name__}: a PyDataset needs __len__ (the number "
                            f"of batches)")
        self.dataset, self.shuffle, self.steps = dataset, shuffle, steps
        n = len(dataset)
        self.num_batches = n if steps is None else min(steps, n)
        self.exhausted = False
        workers = max(1, int(dataset.workers or 1))
        if dataset.use_multiprocessing:
            context = multiprocessing.get_context(
                "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
        else:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix="minigrad-pydataset")

    def batches(self):
        ds = self.dataset
        ds.on_epoch_begin()
        order = list(range(len(ds)))
        if self.shuffle:
            order = [int(i) for i in random.generator().permutation(len(order))]
        order = order[:self.num_batches]
        ahead = max(1, int(ds.max_queue_size or 1))
        pending = [self._pool.submit(_get_item, ds, i) for i in order[:ahead]]
        try:
            for k in range(len(order)):
                batch = pending[k].result()
                if k + ahead < len(order):
                    pending.append(self._pool.submit(_get_item, ds, order[k + ahead]))
                yield batch
        finally:
            for f in pending:
                f.cancel()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _get_item(dataset, index):
    return dataset[index]


def make_adapter(x, *, backend=None, arrays=None, batch_size=32, shuffle=False, steps=None,
                 max_queue_size: int = 10):
    """The adapter for `x`: `arrays` (checked (xs, ys, sample_weight)) for array data."""
    if arrays is not None:
        xs, ys, sw = arrays
        return ArrayAdapter(backend, xs, ys, sw, batch_size, shuffle, steps)
    if isinstance(x, PyDataset):
        return PyDatasetAdapter(x, shuffle, steps)
    return IterableAdapter(x, steps, max_queue_size)


__all__ = ["ACCEPTED", "ArrayAdapter", "IterableAdapter", "PyDatasetAdapter", "get_backend",
           "is_array_like", "kind_of", "make_adapter", "to_host", "unpack"]
