"""The CUDA backend's layer functions: convolution (im2col + the tiled matmul), max and
average pooling, grouped conv, normalisation, the embedding gradient, pad and crop
(part of CUDABackend, which mixes this class in; kernels in kernels.py and
layer_kernels.py, bound by cuda.load()). Conventions as backend.py: inputs made
contiguous device arrays first (`asarray`), data stays on the device."""
from __future__ import annotations

import numpy as np

from ..indexing import segments

K = LK = None        # kernels.py and layer_kernels.py, set by bind()
TARGET_THREADS = 16384  # chunks of the sums over rows: enough (chunk, column) threads


def bind(kernels, layer_kernels) -> None:
    global K, LK
    K, LK = kernels, layer_kernels


def _chunks(rows: int, columns: int) -> int:
    """Row chunks for the sums over rows: about TARGET_THREADS threads, 1 to rows."""
    return int(max(1, min(rows, -(-TARGET_THREADS // max(columns, 1)))))


class LayerOps:
    """Mixed into CUDABackend: uses its `_launch` (a 1-D launch), `_matmul`,
    `_write_back`, asarray, empty, sum."""

    def _as_rows(self, a):
        a = self.asarray(a)
        return a.reshape(a.size // tuple(a.shape)[-1], tuple(a.shape)[-1])

    def _vec(self, a, dtype):
        return self.asarray(a, dtype).reshape(-1)

    # ---------------------------------------------------------- convolution
    def conv2d_forward(self, x, w, geom):
        """im2col (one thread per column element), then the tiled matmul."""
        x, w = self.asarray(x), self.asarray(w)
        sh, sw, pt, pl, dh, dw, oh, ow = geom
        n = x.shape[0]
        kh, kw, c, f = w.shape
        cols = self.empty((n * oh * ow, kh * kw * c), x.dtype)
        self._launch(K.im2col, cols.size, x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        return self._matmul(cols, w.reshape(kh * kw * c, f)).reshape(n, oh, ow, f), cols

    def conv2d_backward_input(self, gy, w, x_shape, geom):
        """gcols = gy @ w.T (the transpose read in place), then col2im as a gather."""
        gy, w = self.asarray(gy), self.asarray(w)
        sh, sw, pt, pl, dh, dw, _, _ = geom
        n, oh, ow, f = gy.shape
        kh, kw, c, _ = w.shape
        gcols = self._matmul(gy.reshape(n * oh * ow, f), w.reshape(kh * kw * c, f), tb=True)
        gx = self.empty(x_shape, gy.dtype)
        self._launch(K.col2im, gx.size, gcols, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, gx)
        return gx

    def conv2d_backward_weight(self, gy, cols, w_shape):
        """cols.T @ gy: the tiled matmul with split-K (per-block partial sums, no atomics)."""
        gy, cols = self.asarray(gy), self.asarray(cols)
        f = tuple(gy.shape)[-1]
        return self._matmul(cols, gy.reshape(gy.size // f, f), ta=True).reshape(tuple(w_shape))

    def bias_act(self, y, b, relu):
        work = self.asarray(y)
        f = tuple(y.shape)[-1]
        b = self.zeros(f, y.dtype) if b is None else self.asarray(b)
        self._launch(K.bias_act, y.size, work.reshape(y.size // f, f), b, bool(relu))
        self._write_back((y,), (work,))
        return y

    def bias_act_backward(self, y, gy, need_bias):
        g = self.relu_backward(y, gy)
        return g, (self.bias_grad(g) if need_bias else None)

    def bias_grad(self, gy):
        f = tuple(gy.shape)[-1]
        return self.sum(self.asarray(gy).reshape(gy.size // f, f), axis=0)

    # ------------------------------------------------------------- max pool
    def maxpool2d_forward(self, x, geom):
        x = self.asarray(x)
        ph, pw, sh, sw, pt, pl, oh, ow = geom
        n, _, _, c = x.shape
        y = self.empty((n, oh, ow, c), x.dtype)
        arg = self.empty((n, oh, ow, c), np.int32)
        self._launch(K.maxpool_forward, y.size, x, ph, pw, sh, sw, pt, pl, y, arg)
        return y, arg

    def maxpool2d_backward(self, gy, arg, x_shape):
        gy, arg = self.asarray(gy), self.asarray(arg)
        gx = self.zeros(x_shape, gy.dtype)
        self._launch(K.maxpool_backward, gy.size, gy, arg, gx)
        return gx

    # ---------------------------------------------------------- average pool
    def avgpool2d_forward(self, x, geom):
        x = self.asarray(x)
        ph, pw, sh, sw, pt, pl, oh, ow = geom
        y = self.empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)
        self._launch(LK.avgpool_forward, y.size, x, ph, pw, sh, sw, pt, pl, y)
        return y

    def avgpool2d_backward(self, gy, x_shape, geom):
        ph, pw, sh, sw, pt, pl, _, _ = geom
        gy = self.asarray(gy)
        gx = self.empty(tuple(x_shape), gy.dtype)
        self._launch(LK.avgpool_backward, gx.size, gy, ph, pw, sh, sw, pt, pl, gx)
        return gx

    # --------------------------------------------------- grouped convolution
    def grouped_conv2d_forward(self, x, w, geom, groups):
        x, w = self.asarray(x), self.asarray(w)
        sh, sw, pt, pl, dh, dw, oh, ow = geom
        y = self.empty((x.shape[0], oh, ow, w.shape[3]), x.dtype)
        self._launch(LK.grouped_conv_forward, y.size, x, w, sh, sw, pt, pl, dh, dw, int(groups), y)
        return y

    def grouped_conv2d_backward_input(self, gy, w, x_shape, geom, groups):
        gy, w = self.asarray(gy), self.asarray(w)
        sh, sw, pt, pl, dh, dw, _, _ = geom
        gx = self.empty(tuple(x_shape), gy.dtype)
        self._launch(LK.grouped_conv_backward_input, gx.size, gy, w, sh, sw, pt, pl, dh, dw,
                 int(groups), gx)
        return gx

    def grouped_conv2d_backward_weight(self, x, gy, w_shape, geom, groups):
        x, gy = self.asarray(x), self.asarray(gy)
        sh, sw, pt, pl, dh, dw, _, _ = geom
        w_shape = tuple(int(s) for s in w_shape)
        chunks = _chunks(gy.shape[0] * gy.shape[1], int(np.prod(w_shape)))
        partial = self.empty((chunks,) + w_shape, np.float64)
        self._launch(LK.grouped_conv_backward_weight, partial.size, x, gy, sh, sw, pt, pl, dh, dw,
                 int(groups), partial)
        return self.asarray(self.sum(partial, axis=0), gy.dtype)

    # --------------------------------------------------------- normalisation
    def batchnorm_stats(self, x):
        x = self._as_rows(x)
        rows, c = x.shape
        shift = self.asarray(x[0]) if rows else self.zeros(c, x.dtype)
        chunks = _chunks(rows, c)
        s1, s2 = self.empty((chunks, c), np.float64), self.empty((chunks, c), np.float64)
        self._launch(LK.shifted_sums, s1.size, x, shift, s1, s2)
        mean, var = self.empty(c, x.dtype), self.empty(c, x.dtype)
        self._launch(LK.moments, c, s1, s2, shift, np.float64(rows), mean, var)
        return mean, var

    def scale_shift(self, x, scale, shift, relu=False):
        x = self.asarray(x)
        c = tuple(x.shape)[-1]
        scale = self._vec(scale, x.dtype)
        shift = self.zeros(c, x.dtype) if shift is None else self._vec(shift, x.dtype)
        y = self.empty(x.shape, x.dtype)
        self._launch(LK.scale_shift, x.size, self._as_rows(x), scale, shift, bool(relu),
                     self._as_rows(y))
        return y

    def scale_shift_maxpool(self, x, scale, shift, relu, pgeom):
        x = self.asarray(x)
        n, _, _, c = x.shape
        ph, pw, _, _, _, _, oh, ow = pgeom
        y, arg = self.empty((n, oh, ow, c), x.dtype), self.empty((n, oh, ow, c), np.int32)
        self._launch(LK.scale_shift_maxpool, y.size, x, self._vec(scale, x.dtype),
                     self._vec(shift, x.dtype), bool(relu), ph, pw, y, arg)
        return y, arg

    def norm_param_sums(self, x, gy, mean, invstd, per_row, relu=None, pooled=None):
        x4, x = x, self._as_rows(x)
        rows, c = x.shape
        mean, invstd = self._vec(mean, x.dtype), self._vec(invstd, x.dtype)
        ident_c = (self.zeros(c, x.dtype), self.full(c, 1, x.dtype))
        chunks = _chunks(rows, c)
        s1, s2 = self.empty((chunks, c), np.float64), self.empty((chunks, c), np.float64)
        if pooled is not None:   # batch norm's sums, through the pool's winners
            self._launch(LK.param_sums_pooled, s1.size, x, *self._pooled_args(gy, x4, pooled),
                         mean, invstd, *self._relu_args(relu, ident_c[0], x.dtype), s1, s2)
        else:
            gy = self._as_rows(gy)
            ident_r = (self.zeros(rows, x.dtype), self.full(rows, 1, x.dtype))
            centre = (mean, invstd) + ident_c if per_row else ident_r + (mean, invstd)
            self._launch(LK.param_sums, s1.size, x, gy, *centre,
                         *self._relu_args(relu, ident_c[0], x.dtype), s1, s2)
        return (self.asarray(self.sum(s1, axis=0), gy.dtype),
                self.asarray(self.sum(s2, axis=0), gy.dtype))

    def batchnorm_backward_input(self, x, gy, mean, invstd, scale, sum_gy, sum_gy_xhat,
                                 relu=None, pooled=None):
        x2 = self._as_rows(x)
        dt = gy.dtype
        inv_n = dt.type(1.0 / max(x2.shape[0], 1))
        mean_g = self.multiply(self._vec(sum_gy, dt), self.constant(inv_n, dt))
        mean_g_xhat = self.multiply(self._vec(sum_gy_xhat, dt), self.constant(inv_n, dt))
        gx = self.empty(x2.shape, dt)
        scale = self._vec(scale, dt)
        kernel, grad = (LK.batchnorm_backward_input, (self._as_rows(gy),)) if pooled is None \
            else (LK.batchnorm_backward_input_pooled, self._pooled_args(gy, x, pooled))
        self._launch(kernel, gx.size, x2, *grad, self._vec(mean, dt), self._vec(invstd, dt),
                     scale, *self._relu_args(relu, scale, dt), mean_g, mean_g_xhat, gx)
        return gx.reshape(tuple(x.shape))

    def _pooled_args(self, gp, x, pooled):
        """(gp, arg, h, w, ph, pw) for a kernel reading x's gradient through the max
        pool after it (`pooled`: its arg and PoolGeometry; gp its pooled gradient)."""
        arg, pgeom = pooled
        h, w = tuple(x.shape)[1:3]
        return self.asarray(gp), self.asarray(arg), h, w, pgeom.ph, pgeom.pw

    def _relu_args(self, relu, like, dtype):
        """(scale, shift, on) for a kernel's fused ReLU mask (`relu`: the (scale, shift)
        of the affine before it, or None: off, `like`'s stand-ins)."""
        if relu is None:
            return like, like, False
        return self._vec(relu[0], dtype), self._vec(relu[1], dtype), True

    def layernorm_forward(self, x, gamma, beta, epsilon):
        x2 = self._as_rows(x)
        dt = x2.dtype
        y = self.empty(x2.shape, dt)
        mean, invstd = self.empty(x2.shape[0], dt), self.empty(x2.shape[0], dt)
        self._launch(LK.layernorm_forward, x2.shape[0], x2, self._vec(gamma, dt),
                 self._vec(beta, dt), np.float64(epsilon), y, mean, invstd)
        lead = tuple(x.shape)[:-1]
        return y.reshape(tuple(x.shape)), mean.reshape(lead), invstd.reshape(lead)

    def layernorm_backward_input(self, x, gy, mean, invstd, gamma):
        x2, gy2 = self._as_rows(x), self._as_rows(gy)
        dt = gy2.dtype
        gx = self.empty(x2.shape, dt)
        self._launch(LK.layernorm_backward_input, x2.shape[0], x2, gy2, self._vec(mean, dt),
                 self._vec(invstd, dt), self._vec(gamma, dt), gx)
        return gx.reshape(tuple(x.shape))

    # -------------------------------------------------------------- pad, crop
    def pad(self, a, widths):
        """Zeros, then a copied into the middle (numba-cuda's strided assignment)."""
        a = self.asarray(a)
        widths = [tuple(int(v) for v in w) for w in widths]
        out = self.zeros(tuple(n + b + e for n, (b, e) in zip(a.shape, widths)), a.dtype)
        if a.size:
            out[tuple(slice(b, b + n) for n, (b, _) in zip(a.shape, widths))] = a
        return out

    def crop(self, a, widths):
        a = self.asarray(a)
        view = a[tuple(slice(int(b), n - int(e)) for (b, e), n in zip(widths, a.shape))]
        return self.asarray(view) if view.size else self.empty(view.shape, a.dtype)

    # ------------------------------------------------------------- embedding
    def take_backward(self, gy, idx, rows):
        """The indices come to the host (a small int array) to be grouped there."""
        idx = np.asarray(self.to_numpy(idx)).reshape(-1)
        gy = self.asarray(gy)
        width = gy.size // max(idx.shape[0], 1) if idx.shape[0] else int(
            np.prod(tuple(gy.shape)[1:]))
        order, uniq, starts = segments(idx)
        out = self.zeros((int(rows), width), gy.dtype)
        self._launch(LK.segment_sums, uniq.shape[0] * width, gy.reshape(idx.shape[0], width),
                 self.asarray(order), self.asarray(starts), self.asarray(uniq), out)
        return out.reshape((int(rows),) + tuple(gy.shape)[1:])
