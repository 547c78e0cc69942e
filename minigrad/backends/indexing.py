"""Host-side index bookkeeping shared by the backends (plain NumPy)."""
from __future__ import annotations

import numpy as np


def segments(idx: np.ndarray) -> tuple:
    """(order, rows, starts) of an int array idx: its positions grouped by value (a
    stable sort, so each group keeps idx's order), the distinct values, and where
    each group starts in `order` (one more entry: the end). The embedding gradient
    sums each group in that order, on either backend."""
    idx = np.asarray(idx).reshape(-1)
    order = np.argsort(idx, kind="stable")
    ordered = idx[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(idx) else \
        np.zeros(0, np.int64)
    starts = np.r_[first, len(idx)].astype(np.int64)
    return order.astype(np.int64), ordered[first].astype(np.int64), starts
