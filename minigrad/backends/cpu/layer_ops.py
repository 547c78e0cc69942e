"""The CPU backend's layer functions: convolution (im2col + one BLAS matmul, on Numba's
threads by row blocks: blas.py), max and
average pooling, grouped conv, normalisation, the embedding gradient, pad and crop
(part of CPUBackend, which mixes this class in; kernels in kernels.py and
layer_kernels.py). Conventions as backend.py: inputs made C-contiguous first, one
kernel launch at a time."""
from __future__ import annotations

import numpy as np

from ..indexing import segments
from . import blas as BLAS
from . import compile_ahead
from . import direct_conv as DC
from . import kernels as K
from . import layer_kernels as LK

CHUNKS = 64  # fixed row chunks of every sum over rows (kernels.bias_act_backward's too)
INFERENCE_BLOCK_BYTES = 4 << 20  # conv2d_maxpool_forward's columns + conv output per block
POOLED_WEIGHT_GRAD_MAX_TAPS = 9  # kh*kw*c up to which maxpool_conv2d_backward_weight skips the GEMM
FEW_TAPS = 27  # kh*kw*c up to which a conv+max-pool skips im2col and GEMM (3x3 on RGB)
POOLED_2X2_WEIGHT_GRAD = True    # its kernel for whole 2x2 windows (off: benchmarks compare)
POOLED_2X2_VECTORS = True        # that kernel's 16-lane twin where it runs (off: the same)
INPUT_GRAD_BLOCKS = True   # a conv's input gradient by blocks of images (off: benchmarks compare)
POOL_BLOCKS = True   # inference's conv + max pool by blocks of images per thread (off: the same)
FEW_TAPS_CONV = True   # a conv of few taps without a pool after it: direct kernels (off: GEMM)


def _rows(a: np.ndarray) -> np.ndarray:
    """a as a C-contiguous (rows, last axis) view."""
    a = np.ascontiguousarray(a)
    return a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)


class DirectCols:
    """conv2d_forward's `cols` when the direct kernel ran (or conv2d_maxpool_train_forward's
    when conv_maxpool_few_taps did): the input itself, from which the weight gradient
    is computed directly (or the columns made, if it cannot be)."""

    def __init__(self, x: np.ndarray, geom):
        self.x, self.geom = x, geom

    def materialize(self, backend, w_shape) -> np.ndarray:
        sh, sw, pt, pl, dh, dw, oh, ow = self.geom
        kh, kw, c = w_shape[:3]
        cols = backend._empty((self.x.shape[0] * oh * ow, kh * kw * c), self.x.dtype)
        backend._im2col(self.x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        return cols


class LayerOps:
    """Mixed into CPUBackend: uses its `_launch`, `_c`, `_write_back` and `_empty`."""

    # ---------------------------------------------------------- convolution
    def conv2d_forward(self, x, w, geom):
        """im2col in Numba, then one BLAS matmul; cols is kept for the weight gradient.
        Where direct_conv.py's kernel is faster: that kernel, and cols is `DirectCols`
        (the input, standing for its im2col)."""
        x, w = self._c(x), self._c(w)
        sh, sw, pt, pl, dh, dw, oh, ow = geom
        n = x.shape[0]
        kh, kw, c, f = w.shape
        if FEW_TAPS_CONV and x.dtype == w.dtype and self._few_taps_conv(w.shape, w.dtype, geom):
            xp, valid = self._padded(x, w, geom), geom._replace(pad_top=0, pad_left=0)
            y = self._empty((n, oh, ow, f), x.dtype)
            self._launch(DC.conv_few_taps, xp, w, y)
            return y, DirectCols(xp, valid)
        if DC.usable(x.dtype, w.shape, geom) and w.dtype == x.dtype:
            y = self._empty((n, oh, ow, f), x.dtype)
            self._launch(DC.conv2d_direct, x, w, y)
            return y, DirectCols(x, geom)
        cols = self._empty((n * oh * ow, kh * kw * c), x.dtype)
        self._im2col(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        y = BLAS.product(self._launch, cols, w.reshape(kh * kw * c, f),
                         self._empty((n * oh * ow, f), x.dtype))
        return y.reshape(n, oh, ow, f), cols

    def _im2col(self, x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols):
        """The im2col kernel for this kernel shape: by flat runs from 16 values per
        kernel row, else tap by tap (with constant sizes for 3x3 on 1 or 3 channels)."""
        c = x.shape[3]
        if kw * c >= 16:
            self._launch(K.im2col, x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)
        elif (kh, kw) == (3, 3) and c in (1, 3):
            self._launch(K.im2col_3x3x1 if c == 1 else K.im2col_3x3x3, x, sh, sw, pt, pl,
                         dh, dw, oh, ow, cols)
        else:
            self._launch(K.im2col_taps, x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols)

    def conv2d_backward_input(self, gy, w, x_shape, geom):
        gy, w = self._c(gy), self._c(w)
        sh, sw, pt, pl, dh, dw, _, _ = geom
        n, oh, ow, f = gy.shape
        kh, kw, c, _ = w.shape
        blocks = INPUT_GRAD_BLOCKS and gy.dtype == w.dtype
        per_block = BLAS.images_per_block(n, oh * ow, kh * kw * c, gy.dtype) if blocks else 0
        if per_block:   # a block of images at a time, its columns in cache
            return BLAS.conv_input_grad(self._launch, gy, w, geom, per_block,
                                        self._empty(x_shape, gy.dtype))
        if blocks and compile_ahead.noting_for_larger_batches() and \
                BLAS.images_per_block(1 << 30, oh * ow, kh * kw * c, gy.dtype):
            # warmup's dry batch of 2 stands for larger ones, which take the blocks: noted
            BLAS.conv_input_grad(self._launch, gy, w, geom, 1, self._empty(x_shape, gy.dtype))
        gcols = BLAS.product(self._launch, gy.reshape(-1, f), w.reshape(kh * kw * c, f).T,
                             self._empty((gy.size // f, kh * kw * c), gy.dtype))
        gx = self._empty(x_shape, gy.dtype)
        self._launch(K.col2im, gcols, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, gx)
        return gx

    def conv2d_backward_weight(self, gy, cols, w_shape):
        f = gy.shape[-1]
        if isinstance(cols, DirectCols) and self._few_taps_conv(w_shape, gy.dtype, cols.geom):
            x = self._c(cols.x)
            kh, kw, c = w_shape[:3]
            wd = x.shape[2]
            taps = [(p * wd + q) * c + ci for p in range(kh) for q in range(kw)
                    for ci in range(c)]
            taps = np.array(taps + [0] * (-len(taps) % 9), np.int64)   # in nines
            partial = np.empty((CHUNKS, kh * kw * c, f), gy.dtype)
            self._launch(DC.conv_weight_grad_few_taps, x, self._c(gy), taps, partial)
            return partial.sum(axis=0).reshape(w_shape)   # in chunk order
        if isinstance(cols, DirectCols):
            kh, kw, c = w_shape[:3]
            if not DC.weight_grad_usable(kh * kw * c, f) or gy.dtype != np.float32:
                return self.conv2d_backward_weight(gy, cols.materialize(self, w_shape), w_shape)
            gw = np.empty((kh * kw * c, f), gy.dtype)
            self._launch(DC.conv2d_weight_grad_direct, cols.x, self._c(gy), kh, kw, gw)
            return gw.reshape(w_shape)
        return BLAS.product_tn(self._launch, cols, gy.reshape(-1, f)).reshape(w_shape)

    def bias_act(self, y, b, relu):
        work = self._c(y)
        f = y.shape[-1]
        b = np.zeros(f, y.dtype) if b is None else self._c(b)
        self._launch(K.bias_act, work.reshape(-1, f), b, bool(relu))
        self._write_back((y,), (work,))
        return y

    def bias_act_backward(self, y, gy, need_bias):
        """The ReLU mask and the bias gradient's sums in one pass."""
        y, gy = self._c(y), self._c(gy)
        f = y.shape[-1]
        g = self._empty(gy.shape, gy.dtype)
        partial = np.empty((CHUNKS, f), gy.dtype)
        self._launch(K.bias_act_backward, y.reshape(-1, f), gy.reshape(-1, f), g.reshape(-1, f),
                partial)
        return g, (partial.sum(axis=0) if need_bias else None)

    def bias_grad(self, gy):
        gy = self._c(gy)
        f = gy.shape[-1]
        partial = np.empty((CHUNKS, f), gy.dtype)
        self._launch(K.column_sums, gy.reshape(-1, f), partial)
        return partial.sum(axis=0)

    # ------------------------------------------------------------- max pool
    def maxpool2d_forward(self, x, geom):
        x = self._c(x)
        ph, pw, sh, sw, pt, pl, oh, ow = geom
        n, _, _, c = x.shape
        y = self._empty((n, oh, ow, c), x.dtype)
        arg = self._empty((n, oh, ow, c), np.int32)
        self._launch(K.maxpool_forward, x, ph, pw, sh, sw, pt, pl, y, arg)
        return y, arg

    def maxpool2d_backward(self, gy, arg, x_shape):
        gx = self._empty(x_shape, gy.dtype)
        self._launch(K.maxpool_backward, self._c(gy), self._c(arg), gx)
        return gx

    def conv2d_inference(self, x, w, b, relu, geom):
        """Inference: im2col, GEMM, bias and ReLU a block of images at a time, so the
        columns stay in cache instead of going through memory whole."""
        x, w = self._c(x), self._c(w)
        n, f, oh, ow = x.shape[0], w.shape[3], geom.oh, geom.ow
        y = self._empty((n, oh, ow, f), x.dtype)
        for start, m, cols in self._inference_blocks(x, w, geom, f):
            yb = y[start:start + m]
            BLAS.product(self._launch, cols, w.reshape(-1, f), yb.reshape(-1, f))
            if b is not None or relu:
                self.bias_act(yb, b, relu)
        return y

    def conv2d_maxpool_forward(self, x, w, geom, pgeom):
        """Inference: im2col, GEMM and pool a block of images at a time, so the columns
        and the conv output stay in cache instead of going through memory whole
        (batch 1000 of the MNIST convnet: 139 MB of columns for its second conv)."""
        x, w = self._c(x), self._c(w)
        f = w.shape[3]
        oh, ow, n = geom.oh, geom.ow, x.shape[0]
        ph, pw, psh, psw, ppt, ppl, poh, pow_ = pgeom
        y = self._empty((n, poh, pow_, f), x.dtype)
        arg = self._empty((n, poh, pow_, f), np.int32)
        if x.dtype == w.dtype and self._few_taps(w, geom, pgeom):
            self._launch(LK.conv_maxpool_few_taps, self._padded(x, w, geom), w, ow, y, arg)
            return y, arg
        kk = w.shape[0] * w.shape[1] * w.shape[2]
        per_block = BLAS.pool_images_per_block(n, oh * ow, kk, f, x.dtype) \
            if POOL_BLOCKS and x.dtype == w.dtype and w.shape[1] * w.shape[2] >= 16 else 0
        if per_block:   # each thread its own blocks: im2col, product and pool in its cache
            BLAS.conv_pool_blocks(self._launch, x, w, geom, pgeom, per_block, y, arg)
            return y, arg
        z = None
        for start, m, cols in self._inference_blocks(x, w, geom, f):
            if z is None:  # the first block is the largest
                z = self._empty((m, oh, ow, f), x.dtype)
            zb = z[:m]
            BLAS.product(self._launch, cols, w.reshape(-1, f), zb.reshape(m * oh * ow, f))
            self._launch(K.maxpool_forward, zb, ph, pw, psh, psw, ppt, ppl,
                         y[start:start + m], arg[start:start + m])
        return y, arg

    def conv2d_maxpool_train_forward(self, x, w, geom, pgeom):
        """For a conv of few taps, y, arg by conv_maxpool_few_taps, as predict has them,
        and `DirectCols` for the columns: a first layer's weight gradient reads the
        input itself, any other makes them (maxpool_conv2d_backward_weight,
        conv2d_backward_weight); else the contract's way (the conv's output, then the
        pool)."""
        if not (x.dtype == w.dtype and self._few_taps(w, geom, pgeom)):
            return super().conv2d_maxpool_train_forward(x, w, geom, pgeom)
        x, w = self._padded(self._c(x), w, geom), self._c(w)
        y, arg = self.conv2d_maxpool_forward(x, w, geom._replace(pad_top=0, pad_left=0), pgeom)
        return y, arg, DirectCols(x, geom._replace(pad_top=0, pad_left=0))

    @staticmethod
    def _few_taps_conv(w_shape, dtype, geom) -> bool:
        """Whether the few-taps kernels (conv_few_taps, conv_weight_grad_few_taps,
        conv_maxpool_few_taps) compute this conv: float32, up to FEW_TAPS taps, filters
        in 16s, stride 1, undilated (padded first, if it pads), on a CPU with AVX-512
        (their 16-lane vectors: only there measured)."""
        kh, kw, c, f = w_shape
        return kh * kw * c <= FEW_TAPS and f % 16 == 0 and dtype == np.float32 and \
            (geom.sh, geom.sw, geom.dh, geom.dw) == (1, 1, 1, 1) and DC.has_avx512()

    @staticmethod
    def _few_taps(w, geom, pgeom) -> bool:
        """Whether conv_maxpool_few_taps computes this conv and pool: a few-taps conv,
        a 2x2 stride-2 unpadded pool whose windows lie within the conv output."""
        ph, pw, psh, psw, ppt, ppl, poh, pow_ = pgeom
        return LayerOps._few_taps_conv(w.shape, w.dtype, geom) and \
            (ph, pw, psh, psw, ppt, ppl) == (2, 2, 2, 2, 0, 0) and 2 * poh <= geom.oh and \
            2 * pow_ <= geom.ow

    def _padded(self, x, w, geom):
        """x with the zeros a stride-1 conv's padding stands for, so that the conv is
        'valid' on it (x itself where it does not pad)."""
        n, h, wd, c = x.shape
        pt, pl = geom.pad_top, geom.pad_left
        hp, wp = geom.oh + w.shape[0] - 1, geom.ow + w.shape[1] - 1   # the rows it reads
        if pt == pl == 0 and hp <= h and wp <= wd:
            return x
        xp = self._empty((n, hp, wp, c), x.dtype)
        xp.fill(0)
        rows, cols = min(h, hp - pt), min(wd, wp - pl)   # a conv cut short reads fewer
        xp[:, pt:pt + rows, pl:pl + cols] = x[:, :rows, :cols]
        return xp

    def _inference_blocks(self, x, w, geom, out_per_row):
        """(start, images, their im2col columns) for blocks of images whose columns and
        `out_per_row` values per conv output row fit INFERENCE_BLOCK_BYTES."""
        kh, kw, c, _ = w.shape
        sh, sw, pt, pl, dh, dw, oh, ow = geom
        n, kk = x.shape[0], kh * kw * c
        block = max(1, min(n, INFERENCE_BLOCK_BYTES // (oh * ow * (kk + out_per_row) *
                                                        x.itemsize)))
        cols = self._empty((block * oh * ow, kk), x.dtype)
        for start in range(0, n, block):
            m = min(block, n - start)
            cb = cols[:m * oh * ow]
            self._im2col(x[start:start + m], kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cb)
            yield start, m, cb

    def maxpool_conv2d_backward_weight(self, gy, arg, cols, w_shape, z_shape, pgeom):
        """Up to 9 taps (a first conv: 3x3 on one channel): straight from the pooled
        gradient, skipping the conv grid's dense gradient and its zeros; for whole 2x2
        windows of a 'valid' stride-1 conv whose columns were not made (`DirectCols`),
        from its input, up to FEW_TAPS (3x3 on RGB). More taps from columns: the GEMM
        was faster (benchmarks/README.md, "First conv's weight gradient")."""
        kh, kw, c, f = w_shape
        kk = kh * kw * c
        ph, pw, sh, sw, pt, pl, oph, opw = pgeom
        gy, arg, (zh, ow) = self._c(gy), self._c(arg), z_shape[1:3]
        whole_2x2 = POOLED_2X2_WEIGHT_GRAD and (ph, pw, pt, pl) == (2, 2, 0, 0) and \
            (oph - 1) * sh + 2 <= zh and (opw - 1) * sw + 2 <= ow
        from_input = isinstance(cols, DirectCols) and whole_2x2 and kk <= FEW_TAPS and \
            tuple(cols.geom[:6]) == (1, 1, 0, 0, 1, 1)
        if kk > POOLED_WEIGHT_GRAD_MAX_TAPS and not from_input:
            return super().maxpool_conv2d_backward_weight(gy, arg, cols, w_shape, z_shape, pgeom)
        partial = np.empty((CHUNKS, kk, f), gy.dtype)
        if isinstance(cols, DirectCols):
            if from_input:
                x = self._c(cols.x)
                _, h, wd, _ = x.shape
                taps = np.array([(p * wd + q) * c + ci for p in range(kh) for q in range(kw)
                                 for ci in range(c)], np.int64)
                self._launch(self._pooled_2x2_kernel(gy, x), gy, arg, x.reshape(-1),
                             h * wd * c, wd * c, c, taps, ow, sh, sw, partial)
                return partial.sum(axis=0).reshape(w_shape)
            cols = cols.materialize(self, w_shape)
        cols = self._c(cols)
        if whole_2x2:   # every window whole: four cells per update
            self._launch(self._pooled_2x2_kernel(gy, cols), gy, arg, cols.reshape(-1),
                         zh * ow * kk, ow * kk, kk, np.arange(kk, dtype=np.int64), ow, sh, sw,
                         partial)
        else:
            self._launch(K.maxpool_conv_weight_grad, gy, arg, cols, ow, ph, pw, sh, sw, pt, pl,
                         partial)
        return partial.sum(axis=0).reshape(w_shape)

    @staticmethod
    def _pooled_2x2_kernel(gy, src):
        """maxpool2x2_conv_weight_grad, or on an AVX-512 CPU for float32 and filters in
        16s its twin in 16-lane vectors (the same bits)."""
        if POOLED_2X2_VECTORS and gy.dtype == src.dtype == np.float32 and \
                gy.shape[3] % 16 == 0 and DC.has_avx512():
            return LK.maxpool2x2_conv_weight_grad16
        return K.maxpool2x2_conv_weight_grad

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

    def scale_shift(self, x, scale, shift, relu=False):
        x = np.ascontiguousarray(x)
        scale = np.ascontiguousarray(scale)
        shift = np.zeros_like(scale) if shift is None else np.ascontiguousarray(shift)
        y = self._empty(x.shape, x.dtype)
        self._launch(LK.scale_shift, _rows(x), scale, shift, bool(relu),
                     y.reshape(-1, x.shape[-1]))
        return y

    def scale_shift_maxpool(self, x, scale, shift, relu, pgeom):
        x = self._c(x)
        n, _, _, c = x.shape
        ph, pw, _, _, _, _, oh, ow = pgeom
        y, arg = self._empty((n, oh, ow, c), x.dtype), self._empty((n, oh, ow, c), np.int32)
        self._launch(LK.scale_shift_maxpool, x, self._c(scale), self._c(shift), bool(relu),
                     ph, pw, y, arg)
        return y, arg

    def norm_param_sums(self, x, gy, mean, invstd, per_row, relu=None, pooled=None):
        x2 = _rows(x)
        rows, c = x2.shape
        mean, invstd = np.ascontiguousarray(mean).reshape(-1), \
            np.ascontiguousarray(invstd).reshape(-1)
        zeros_c, ones_c = np.zeros(c, x2.dtype), np.ones(c, x2.dtype)
        s1, s2 = np.empty((CHUNKS, c)), np.empty((CHUNKS, c))
        if pooled is not None:   # batch norm's sums, through the pool's winners
            self._launch(LK.param_sums_pooled, x2, *self._pooled_args(gy, x, pooled), mean,
                         invstd, *self._relu_args(relu, zeros_c), s1, s2)
        else:
            zeros_r, ones_r = np.zeros(rows, x2.dtype), np.ones(rows, x2.dtype)
            centre = (mean, invstd, zeros_c, ones_c) if per_row else \
                (zeros_r, ones_r, mean, invstd)
            self._launch(LK.param_sums, x2, _rows(gy), *centre,
                         *self._relu_args(relu, zeros_c), s1, s2)
        return s1.sum(axis=0).astype(gy.dtype), s2.sum(axis=0).astype(gy.dtype)

    def batchnorm_backward_input(self, x, gy, mean, invstd, scale, sum_gy, sum_gy_xhat,
                                 relu=None, pooled=None):
        x2 = _rows(x)
        n = max(x2.shape[0], 1)
        gx = self._empty(np.shape(x), gy.dtype)
        vec = [np.ascontiguousarray(v) for v in (mean, invstd, scale)]
        kernel, grad = (LK.batchnorm_backward_input, (_rows(gy),)) if pooled is None else \
            (LK.batchnorm_backward_input_pooled, self._pooled_args(gy, x, pooled))
        self._launch(kernel, x2, *grad, *vec, *self._relu_args(relu, vec[2]),
                     np.asarray(sum_gy) / n, np.asarray(sum_gy_xhat) / n, gx.reshape(x2.shape))
        return gx

    @staticmethod
    def _pooled_args(gp, x, pooled):
        """(gp, arg, h, w, ph, pw) for a kernel reading x's gradient through the max
        pool after it (`pooled`: its arg and PoolGeometry; gp its pooled gradient)."""
        arg, pgeom = pooled
        h, w = np.shape(x)[1:3]
        return np.ascontiguousarray(gp), np.ascontiguousarray(arg), h, w, pgeom.ph, pgeom.pw

    @staticmethod
    def _relu_args(relu, like):
        """(scale, shift, on) for a kernel's fused ReLU mask (`relu`: the (scale, shift)
        of the affine before it, or None: off, `like`'s stand-ins)."""
        if relu is None:
            return like, like, False
        return np.ascontiguousarray(relu[0]), np.ascontiguousarray(relu[1]), True

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

    # -------------------------------------------------------------- pad, crop
    def pad(self, a, widths):
        return np.pad(a, [tuple(int(v) for v in w) for w in widths])

    def crop(self, a, widths):
        index = tuple(slice(b, n - e) for (b, e), n in zip(widths, np.shape(a)))
        return np.ascontiguousarray(a[index])

    # ------------------------------------------------------------- embedding
    def take_backward(self, gy, idx, rows):
        idx = np.asarray(idx).reshape(-1)
        g = np.ascontiguousarray(gy).reshape(idx.shape[0], int(np.prod(np.shape(gy)[1:])))
        order, uniq, starts = segments(idx)
        out = np.zeros((int(rows), g.shape[1]), g.dtype)
        self._launch(LK.segment_sums, g, order, starts, uniq, out)
        return out.reshape((int(rows),) + tuple(np.shape(gy)[1:]))

