"""The CPU backend's normalisation, average-pool, grouped-conv and embedding
functions (part of CPUBackend, which mixes this class in; kernels in
layer_kernels.py). Conventions as backend.py: inputs made C-contiguous first,
one kernel launch at a time."""
from __future__ import annotations

import numpy as np

from ..indexing import segments
from . import layer_kernels as LK

CHUNKS = 64  # fixed row chunks of every sum over rows (see layer_kernels)


def _rows(a: np.ndarray) -> np.ndarray:
    """a as a C-contiguous (rows, last axis) view."""
    a = np.ascontiguousarray(a)
    return a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)


class LayerOps:
    """Mixed into CPUBackend: uses its `_launch` and `_empty`."""

    # ---------------------------------------------------------- average pool
    def avgpool2d_forward(self, x, geom):
        x = np.ascontiguousarray(x)
        ph, pw, sh, sw, pt, pl, oh, ow = geom
        y = self._empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)
        self._launch(LK.avgpool_forward, x, ph, pw, sh, sw, pt, pl, y)
        return y

    def avgpool2d_backward(self, gy, x_shape, geom):
        ph, pw, sh, sw, pt, pl, _, _ = geom
        gx = self._empty(tuple(x_shape), gy.dtype)
        self._launch(LK.avgpool_backward, np.ascontiguousarray(gy), ph, pw, sh, sw, pt, pl, gx)
        return gx

    # --------------------------------------------------- grouped convolution
    def grouped_conv2d_forward(self, x, w, geom, groups):
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        sh, sw, pt, pl, dh, dw, oh, ow = geom
        y = self._empty((x.shape[0], oh, ow, w.shape[3]), x.dtype)
        self._launch(LK.grouped_conv_forward, x, w, sh, sw, pt, pl, dh, dw, int(groups), y)
        return y

    def grouped_conv2d_backward_input(self, gy, w, x_shape, geom, groups):
        sh, sw, pt, pl, dh, dw, _, _ = geom
        gx = self._empty(tuple(x_shape), gy.dtype)
        self._launch(LK.grouped_conv_backward_input, np.ascontiguousarray(gy),
                     np.ascontiguousarray(w), sh, sw, pt, pl, dh, dw, int(groups), gx)
        return gx

    def grouped_conv2d_backward_weight(self, x, gy, w_shape, geom, groups):
        sh, sw, pt, pl, dh, dw, _, _ = geom
        partial = np.empty((CHUNKS,) + tuple(w_shape), np.float64)
        self._launch(LK.grouped_conv_backward_weight, np.ascontiguousarray(x),
                     np.ascontiguousarray(gy), sh, sw, pt, pl, dh, dw, int(groups), partial)
        return partial.sum(axis=0).astype(gy.dtype)

    # --------------------------------------------------------- normalisation
    def batchnorm_stats(self, x):
        x = _rows(x)
        c = x.shape[1]
        shift = x[0].copy() if x.shape[0] else np.zeros(c, x.dtype)
        s1, s2 = np.empty((CHUNKS, c)), np.empty((CHUNKS, c))
        self._launch(LK.shifted_sums, x, shift, s1, s2)
        mean, var = np.empty(c, x.dtype), np.empty(c, x.dtype)
        self._launch(LK.moments, s1, s2, shift, float(x.shape[0]), mean, var)
        return mean, var

    def scale_shift(self, x, scale, shift):
        x = np.ascontiguousarray(x)
        scale = np.ascontiguousarray(scale)
        shift = np.zeros_like(scale) if shift is None else np.ascontiguousarray(shift)
        y = self._empty(x.shape, x.dtype)
        self._launch(LK.scale_shift, _rows(x), scale, shift, y.reshape(-1, x.shape[-1]))
        return y

    def norm_param_sums(self, x, gy, mean, invstd, per_row):
        x, gy = _rows(x), _rows(gy)
        rows, c = x.shape
        mean, invstd = np.ascontiguousarray(mean).reshape(-1), \
            np.ascontiguousarray(invstd).reshape(-1)
        zeros_r, ones_r = np.zeros(rows, x.dtype), np.ones(rows, x.dtype)
        zeros_c, ones_c = np.zeros(c, x.dtype), np.ones(c, x.dtype)
        centre = (mean, invstd, zeros_c, ones_c) if per_row else (zeros_r, ones_r, mean, invstd)
        s1, s2 = np.empty((CHUNKS, c)), np.empty((CHUNKS, c))
        self._launch(LK.param_sums, x, gy, *centre, s1, s2)
        return s1.sum(axis=0).astype(gy.dtype), s2.sum(axis=0).astype(gy.dtype)

    def batchnorm_backward_input(self, x, gy, mean, invstd, scale, sum_gy, sum_gy_xhat):
        x2, gy2 = _rows(x), _rows(gy)
        n = max(x2.shape[0], 1)
        gx = self._empty(np.shape(x), gy2.dtype)
        vec = [np.ascontiguousarray(v) for v in (mean, invstd, scale)]
        self._launch(LK.batchnorm_backward_input, x2, gy2, *vec,
                     np.asarray(sum_gy) / n, np.asarray(sum_gy_xhat) / n,
                     gx.reshape(x2.shape))
        return gx

    def layernorm_forward(self, x, gamma, beta, epsilon):
        x2 = _rows(x)
        y = self._empty(np.shape(x), x2.dtype)
        mean, invstd = np.empty(x2.shape[0], x2.dtype), np.empty(x2.shape[0], x2.dtype)
        self._launch(LK.layernorm_forward, x2, np.ascontiguousarray(gamma),
                     np.ascontiguousarray(beta), float(epsilon), y.reshape(x2.shape), mean,
                     invstd)
        lead = np.shape(x)[:-1]
        return y, mean.reshape(lead), invstd.reshape(lead)

    def layernorm_backward_input(self, x, gy, mean, invstd, gamma):
        x2, gy2 = _rows(x), _rows(gy)
        gx = self._empty(np.shape(x), gy2.dtype)
        self._launch(LK.layernorm_backward_input, x2, gy2,
                     np.ascontiguousarray(mean).reshape(-1),
                     np.ascontiguousarray(invstd).reshape(-1), np.ascontiguousarray(gamma),
                     gx.reshape(x2.shape))
        return gx

    # ------------------------------------------------------------- embedding
    def take_backward(self, gy, idx, rows):
        idx = np.asarray(idx).reshape(-1)
        g = np.ascontiguousarray(gy).reshape(idx.shape[0], -1)
        order, uniq, starts = segments(idx)
        out = np.zeros((int(rows), g.shape[1]), g.dtype)
        self._launch(LK.segment_sums, g, order, starts, uniq, out)
        return out.reshape((int(rows),) + tuple(np.shape(gy)[1:]))

