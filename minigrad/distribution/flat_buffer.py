"""All gradients in one contiguous buffer, so a step sends one message.

The buffer holds every weight's gradient (a view per weight, in the weights'
order), then one flag per weight (1 where this process has a gradient for it),
then a few `extra` slots the trainer fills with the step's loss sum and metric
counts: one Allreduce sums them all. Each gradient is copied into its view
once; after the Allreduce the views themselves are the summed gradients.

On a GPU the buffer lives on the device and is staged through host memory:
one device-to-host copy of the whole buffer before the Allreduce, one
host-to-device copy after (no CUDA-aware MPI assumed).
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from .process_group import ProcessGroup


class FlatBuffer:
    """Gradients of `weights` (Tensors of one dtype and device), flags, `extra` slots."""

    def __init__(self, weights: list, extra: int = 0):
        dtypes = {np.dtype(w.dtype) for w in weights}
        devices = {w.device for w in weights}
        if len(dtypes) > 1 or len(devices) > 1:
            raise ValueError(f"minigrad.distribution: the weights that train must share one "
                             f"dtype and one device to be reduced in one buffer, got dtypes "
                             f"{sorted(map(str, dtypes))} on {sorted(devices)}")
        self.dtype = dtypes.pop() if dtypes else np.dtype("float32")
        self.shapes = [tuple(w.shape) for w in weights]
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.n_grads = self.offsets[-1]
        self.n_weights = len(weights)
        self.host = np.zeros(self.n_grads + self.n_weights + int(extra), self.dtype)
        self.flags = self.host[self.n_grads:self.n_grads + self.n_weights]
        self.extra = self.host[self.n_grads + self.n_weights:]
        backend = get_backend(devices.pop() if devices else "cpu")
        flat = backend.zeros((self.n_grads,), self.dtype)
        # a backend whose arrays are not host arrays: the gradients gather there
        self.staged = not isinstance(flat, np.ndarray)
        self.flat = flat if self.staged else self.host[:self.n_grads]
        self.views = [self.flat[a:b].reshape(shape) for a, b, shape in
                      zip(self.offsets[:-1], self.offsets[1:], self.shapes)]

    @property
    def nbytes(self) -> int:
        """Bytes one Allreduce sends (gradients, flags and extra slots)."""
        return self.host.nbytes

    def collect(self, grads: list, scale: float = 1.0) -> None:
        """Copy each gradient (an array, or None for none) into its view, times `scale`
        (this process's share of the global batch), and set the flags."""
        if len(grads) != self.n_weights:
            raise ValueError(f"FlatBuffer: expected {self.n_weights} gradients, got "
                             f"{len(grads)}")
        for i, (view, g) in enumerate(zip(self.views, grads)):
            self.flags[i] = g is not None
            if g is None:
                view[...] = 0
            elif self.staged:
                view.copy_to_device(g)   # device to device, into the flat buffer
            else:
                np.multiply(g, self.dtype.type(scale), out=view)   # one pass: copy and scale
        if self.staged:
            self.flat.copy_to_host(self.host[:self.n_grads])   # the one copy down
            self.host[:self.n_grads] *= self.dtype.type(scale)

    def allreduce(self, group: ProcessGroup) -> None:
        """Sum the buffer over the processes (one Allreduce), and on a GPU copy it back up."""
        group.allreduce_(self.host, "gradients")
        if self.staged:
            self.flat.copy_to_device(self.host[:self.n_grads])   # the one copy up

    def gradients(self) -> list:
        """The summed gradients: a view per weight, None where no process had one."""
        return [v if f > 0 else None for v, f in zip(self.views, self.flags)]
