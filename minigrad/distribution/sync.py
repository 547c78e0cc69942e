"""Making the processes agree before training: the same model, rank 0's state.

`check_same` compares a signature (weight names, shapes and dtypes, minigrad's
version, ...) across the processes and fails on every one of them with the
same error if any differs; `broadcast_arrays` gives every process rank 0's
arrays (weights, optimizer slots) with one broadcast per dtype.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .process_group import ProcessGroup


def check_same(group: ProcessGroup, signature: dict, what: str = "model") -> None:
    """Raise the same ValueError on every process unless all `signature`s are equal.

    `signature` is a JSON-serialisable dict. Only a digest travels unless they
    differ; then every process gathers them all to say where."""
    text = json.dumps(signature, sort_keys=True, default=str)
    digest = hashlib.sha1(text.encode()).hexdigest()
    digests = group.allgather_object(digest, f"{what} signature check")
    if len(set(digests)) == 1:
        return
    signatures = group.allgather_object(signature, f"{what} signature check")
    problems = [f"rank {r}: {_first_difference(signatures[0], s)}"
                for r, s in enumerate(signatures) if r and digests[r] != digests[0]]
    raise ValueError(f"minigrad.distribution: the processes do not all have the same {what}; "
                     f"compared with rank 0's, " + "; ".join(problems) +
                     ". Every process must build the same model (same code, same minigrad)")


def _first_difference(a, b, path: str = "") -> str:
    """Where the JSON-like values `a` (rank 0's) and `b` first differ, in words."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in b or key not in a:
                return f"{path + '/' if path else ''}{key} is {'missing' if key not in b else 'extra'}"
            if _canon(a[key]) != _canon(b[key]):
                return _first_difference(a[key], b[key], f"{path}/{key}" if path else str(key))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path} has {len(b)} entries, rank 0 has {len(a)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if _canon(x) != _canon(y):
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path} is {_canon(b)}, rank 0 has {_canon(a)}"


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def broadcast_arrays(group: ProcessGroup, arrays: list, root: int = 0,
                     what: str = "weights") -> list:
    """Rank `root`'s values of `arrays` (NumPy arrays, the same shapes and dtypes on
    every process) as new arrays, one broadcast per dtype."""
    arrays = [np.asarray(a) for a in arrays]
    out = [np.empty(a.shape, a.dtype) for a in arrays]
    for dtype in sorted({a.dtype.str for a in arrays}):
        members = [i for i, a in enumerate(arrays) if a.dtype.str == dtype]
        flat = np.concatenate([arrays[i].reshape(-1) for i in members]) if \
            group.rank == root else np.empty(sum(arrays[i].size for i in members), dtype)
        group.broadcast_(flat, root, what)
        start = 0
        for i in members:
            out[i][...] = flat[start:start + arrays[i].size].reshape(arrays[i].shape)
            start += arrays[i].size
    return out
