"""Numba CPU kernels: plain arrays in, arrays filled, no Tensors, no autograd.

Layouts: images are NHWC, conv kernels (KH, KW, C, F), everything C-contiguous
(cpu/backend.py makes inputs so). Kernels are dtype-generic (float32 in
training, float64 under gradcheck) and write into output arrays the caller
allocates, so buffers can be reused. Per-element and per-row arithmetic comes
from backends/bodies.py (`B.`), shared with the CUDA kernels; what is here is
the loop structure.

Race freedom under ``prange``: every parallel loop either writes a disjoint
slice of its output (one row, one image) or, where outputs of neighbouring
iterations overlap (col2im, max-pool backward), runs in parallel over images,
whose gradients never overlap.
"""
import types
import typing

import numba
import numpy as np

from numba import njit, prange

from .. import bodies
from . import simd

B = bodies.compile_bodies(njit(inline="always"), "minigrad.backends.cpu.bodies")
_OPTS = dict(parallel=True, cache=True, fastmath=False)
# simd.py's intrinsics and this file's inline helpers are compiled into kernels elsewhere too
_DIGEST = bodies.source_digest(simd.__file__, __file__)


class PerPool(typing.NamedTuple):
    """A launch threshold in each of the CPU backend's thread-pool setups: two pools
    (Numba's workqueue beside OpenBLAS's own threads) or one (blas.py: OpenMP's pool,
    the products on it too). A kernel's `serial_below` or `min_threads` is one of these
    or a plain int, the same in both."""
    two_pools: int
    one_pool: int


# Below `serial_below` elements in its largest array a kernel runs on the calling thread
# (backend.py's `_launch`). With two pools, waking the workqueue pool costs 50-130 us
# per launch on a 2-core VM (benchmarks/README.md, "serial_kernels.py"): an Adam step on
# 32K weights took as long on one thread as on two; streaming kernels (a few operations
# per element read) were faster on one thread up to 2.8M elements. With one pool,
# OpenMP's wakes in a few microseconds: every kernel's parallel build was as fast from
# 16K elements and twice as fast from 262K ("One pool's thresholds").
SERIAL_BELOW = PerPool(two_pools=1 << 15, one_pool=1 << 14)
STREAMING_SERIAL_BELOW = PerPool(two_pools=1 << 20, one_pool=1 << 14)

# With fewer Numba threads than a kernel's `min_threads`, it runs its serial build
# whatever the size. With two pools on the 2-core VM, every kernel's parallel build but
# im2col's ran within about 1% of its serial one in training steps, OpenBLAS's threads
# spinning beside it (benchmarks/two_threads.py; benchmarks/README.md, "Two threads"),
# and each parallel build costs 0.3-1.9 s more first compile: there the im2col kernels
# (2-3% of a step, more of predict) say `parallel_from(1)`, and the others wait for three
# threads. With one pool, two threads made the MNIST convnet's steps 17% faster.
MIN_THREADS = PerPool(two_pools=3, one_pool=2)


def threads() -> int:
    """numba.get_num_threads() without starting Numba's thread pool where it has not
    started (it will have NUMBA_NUM_THREADS): once OpenMP's pool runs, this process can
    no longer fork (backends/forking.py), and Model.warmup forks to compile."""
    from numba.np.ufunc import parallel
    if getattr(parallel, "_is_initialized", True):
        return numba.get_num_threads()
    return numba.config.NUMBA_NUM_THREADS


def _kernel(fn, serial_below: int | PerPool = SERIAL_BELOW):
    """njit(parallel, cache) under a cache name that carries bodies.py's digest, with
    `.serial`: the same body compiled without threads (prange runs as range), used
    below `serial_below` elements or `min_threads` threads. Both compile on first
    call only, and give the same bits: the loops and their sums' order are the same."""
    serial = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__)
    serial.__qualname__ = f"{fn.__name__}_serial_{_DIGEST}"  # its own cache file
    fn.__qualname__ = f"{fn.__name__}_{_DIGEST}"
    kernel = njit(**_OPTS)(fn)
    kernel.serial = njit(**{**_OPTS, "parallel": False})(serial)
    kernel.serial_below = serial_below
    kernel.min_threads = MIN_THREADS
    return kernel


def runs_parallel(kernel, size: int, one_pool: bool) -> bool:
    """Whether `_launch` runs the kernel's parallel build for a largest array of `size`
    elements, with one thread pool (blas.py's `in_use`) or two."""
    return size >= in_pool(kernel.serial_below, one_pool) and \
        threads() >= in_pool(kernel.min_threads, one_pool)


def in_pool(setting: int | PerPool, one_pool: bool) -> int:
    """A kernel's `serial_below` or `min_threads` with one thread pool or two."""
    return setting[one_pool] if isinstance(setting, PerPool) else setting  # [True]: one


def parallel_from(threads: int):
    """Decorator (outside _kernel's): the kernel's parallel build runs from `threads`."""
    def mark(kernel):
        kernel.min_threads = threads
        return kernel
    return mark


def _streaming_kernel(fn):
    """_kernel for a kernel that does a few operations per element it reads."""
    return _kernel(fn, STREAMING_SERIAL_BELOW)


# ----------------------------------------------------------------- convolution
@njit(inline="always")
def _im2col_taps(x, b, i, r, kh, kw, c, sh, sw, pt, pl, dh, dw, ow, cols):
    """im2col's rows for output row r (image b, row i), one tap at a time."""
    h, w = x.shape[1], x.shape[2]
    for j in range(ow):
        row = r * ow + j
        for p in range(kh):
            y = i * sh - pt + p * dh
            for q in range(kw):
                xx = j * sw - pl + q * dw
                base = (p * kw + q) * c
                if 0 <= y < h and 0 <= xx < w:
                    for ch in range(c):
                        cols[row, base + ch] = x[b, y, xx, ch]
                else:
                    for ch in range(c):
                        cols[row, base + ch] = 0.0


@parallel_from(1)
@_kernel
def im2col(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """cols[(b*oh+i)*ow+j, (p*kw+q)*c+ch] = x[b, i*sh-pt+p*dh, j*sw-pl+q*dw, ch] (0 outside),
    for kernel rows of 16 values or more (kw*c >= 16; shorter ones: im2col_taps and
    its constant-size twins).

    The column order (p, q, ch) is the kernel's (KH, KW, C) order, so the
    convolution is ``cols @ kernel.reshape(KH*KW*C, F)``. Copies go by flat
    slices: a kernel row's kw taps are kw*c contiguous values of x and of
    cols (dilation 1), which Numba turns into a memcpy (4x faster than
    element-wise 2-D indexing here). Each way of copying is its own kernel, so a
    model compiles only those its convs use (this one alone: ~1.1 s of first
    compile, against ~2 s with the tap loops inside; benchmarks/README.md,
    "First compile").
    """
    for r in prange(x.shape[0] * oh):
        im2col_runs(x, r // oh, r % oh, r, kh, kw, sh, sw, pt, pl, dh, dw, ow, cols)


@njit(inline="always")
def im2col_runs(x, b, i, r, kh, kw, sh, sw, pt, pl, dh, dw, ow, cols):
    """im2col's rows for output row i of image b into row block r of cols (rows
    r*ow ...), by flat runs of kw*c values (im2col's body; blas.gemm_pool_blocks's too)."""
    _, h, w, c = x.shape
    xf, cf = x.reshape(-1), cols.reshape(-1)
    kk = kh * kw * c
    run = kw * c
    for j in range(ow):
        x0 = j * sw - pl
        for p in range(kh):
            y = i * sh - pt + p * dh
            dst = (r * ow + j) * kk + p * kw * c
            if dw == 1 and 0 <= y < h and 0 <= x0 and x0 + kw <= w:
                src = ((b * h + y) * w + x0) * c
                cf[dst:dst + run] = xf[src:src + run]
                continue
            for q in range(kw):
                xx = x0 + q * dw
                d = dst + q * c
                if 0 <= y < h and 0 <= xx < w:
                    src = ((b * h + y) * w + xx) * c
                    cf[d:d + c] = xf[src:src + c]
                else:
                    cf[d:d + c] = 0.0


@parallel_from(1)
@_kernel
def im2col_taps(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """im2col for kernel rows shorter than 16 values (kw*c < 16: a first conv), tap by
    tap: a memcpy call per 3 values was 10x slower than its bytes need."""
    for r in prange(x.shape[0] * oh):
        _im2col_taps(x, r // oh, r % oh, r, kh, kw, x.shape[3], sh, sw, pt, pl, dh, dw, ow,
                     cols)


@parallel_from(1)
@_kernel
def im2col_3x3x1(x, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """im2col_taps for a 3x3 kernel on one channel (the first conv of a grey image),
    with the sizes as constants, which LLVM unrolls: 2-4x faster than with them as
    variables (benchmarks/README.md, "im2col of a 3x3 kernel on one channel")."""
    for r in prange(x.shape[0] * oh):
        _im2col_taps(x, r // oh, r % oh, r, 3, 3, 1, sh, sw, pt, pl, dh, dw, ow, cols)


@parallel_from(1)
@_kernel
def im2col_3x3x3(x, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """im2col_taps for a 3x3 kernel on three channels (the first conv of an RGB image),
    with the sizes as constants: that conv's forward at batch 128 went from 7.4-9.4 to
    4.3-5.6 ms (benchmarks/README.md, "im2col of a 3x3 kernel on three channels")."""
    for r in prange(x.shape[0] * oh):
        _im2col_taps(x, r // oh, r % oh, r, 3, 3, 3, sh, sw, pt, pl, dh, dw, ow, cols)


@njit(inline="always")
def col2im_image(cols, row0, b, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx):
    """dx[b] = image b's columns (rows row0 on of cols) scattered back, summed where
    windows overlap (col2im's body; blas.gemm_col2im_blocks's too)."""
    _, h, w, c = dx.shape
    dx[b] = 0.0
    for i in range(oh):
        for j in range(ow):
            row = row0 + i * ow + j
            for p in range(kh):
                y = i * sh - pt + p * dh
                if y < 0 or y >= h:
                    continue
                for q in range(kw):
                    xx = j * sw - pl + q * dw
                    if xx < 0 or xx >= w:
                        continue
                    base = (p * kw + q) * c
                    for ch in range(c):
                        dx[b, y, xx, ch] += cols[row, base + ch]


@_kernel
def col2im(cols, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx):
    """Adjoint of im2col: dx (zeroed here) += scattered cols. Parallel over images
    (neighbouring windows overlap, images never do). Plain 4-D indexing: flat
    slices, as in im2col, measured 4x slower here."""
    for b in prange(dx.shape[0]):
        col2im_image(cols, b * oh * ow, b, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx)


@_streaming_kernel
def bias_act(y, b, relu):
    """y (rows, F) += b, then ReLU if `relu`: the GEMM's epilogue, in place, one pass."""
    rows, f = y.shape
    for r in prange(rows):
        for k in range(f):
            y[r, k] = B.relu_if(y[r, k] + b[k], relu)


@_streaming_kernel
def bias_act_backward(y, gy, g, partial):
    """g = gy * (y > 0) (ReLU's mask, from the output y), and its bias gradient.

    Rows are split into partial.shape[0] fixed chunks; each chunk sums into its
    own row of `partial` (no two threads share a row), and the caller adds the
    rows. Fixed chunks, not per-thread ones, so the sum's order, and so its
    bits, do not depend on the thread count.
    """
    rows, f = gy.shape
    chunks = partial.shape[0]
    step = (rows + chunks - 1) // chunks
    for t in prange(chunks):
        for k in range(f):
            partial[t, k] = 0.0
        for r in range(t * step, min(rows, (t + 1) * step)):
            for k in range(f):
                v = B.relu_grad(y[r, k], gy[r, k], 0.0, 0.0)
                g[r, k] = v
                partial[t, k] += v


@_streaming_kernel
def column_sums(gy, partial):
    """partial[t] = sum of chunk t's rows of gy: the bias gradient, as above."""
    rows, f = gy.shape
    chunks = partial.shape[0]
    step = (rows + chunks - 1) // chunks
    for t in prange(chunks):
        for k in range(f):
            partial[t, k] = 0.0
        for r in range(t * step, min(rows, (t + 1) * step)):
            for k in range(f):
                partial[t, k] += gy[r, k]


# ------------------------------------------------------------------- max pool
@_streaming_kernel
def maxpool_forward(x, ph, pw, sh, sw, pt, pl, y, arg):
    """y[b,i,j,c] = max over the window; arg holds the winner's index yy*W+xx.

    Padding cells never win (TensorFlow's 'same' pooling ignores them); a NaN
    wins, then ties go to the first cell in row-major order (B.pool_takes).
    The compare is written as selects, not branches, so the channel loop
    vectorises.
    """
    oh = y.shape[1]
    for r in prange(x.shape[0] * oh):
        maxpool_row(x, r // oh, r // oh, r % oh, ph, pw, sh, sw, pt, pl, y, arg)


@njit(inline="always")
def maxpool_row(x, b, yb, i, ph, pw, sh, sw, pt, pl, y, arg):
    """Row i of image yb of y and arg: the windows over image b of x (maxpool_forward's
    body; blas.gemm_pool_blocks's too)."""
    _, h, w, c = x.shape
    y0 = max(i * sh - pt, 0)
    y1 = min(i * sh - pt + ph, h)
    for j in range(y.shape[2]):
        x0 = max(j * sw - pl, 0)
        x1 = min(j * sw - pl + pw, w)
        for ch in range(c):
            y[yb, i, j, ch] = x[b, y0, x0, ch]
            arg[yb, i, j, ch] = y0 * w + x0
        for yy in range(y0, y1):
            for xx in range(x0, x1):
                idx = yy * w + xx
                for ch in range(c):
                    v = x[b, yy, xx, ch]
                    old = y[yb, i, j, ch]
                    take = B.pool_takes(v, old)
                    y[yb, i, j, ch] = v if take else old
                    arg[yb, i, j, ch] = idx if take else arg[yb, i, j, ch]


@_streaming_kernel
def maxpool_backward(gy, arg, gx):
    """gx (zeroed here) gets each output's gradient at its argmax. Parallel over
    images (windows may overlap, images never do)."""
    n, oh, ow, c = gy.shape
    flat = gx.reshape(n, -1)
    for b in prange(n):
        flat[b] = 0.0
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    flat[b, arg[b, i, j, ch] * c + ch] += gy[b, i, j, ch]


@_kernel
def maxpool_conv_weight_grad(gy, arg, cols, ow, ph, pw, sh, sw, pt, pl, partial):
    """The conv weight's gradient from the pooled gradient, without the conv grid's.

    For each pooled output pixel and each cell of its window (conv grid row
    b*plane + idx, plane = oh*ow rows per image), the pooled gradient masked to
    the channels that cell won (arg == idx) times that cell's cols row. Masked
    products add exactly 0, so this is maxpool_backward then cols.T @ gz with
    the zeros skipped, and its inner loop runs over channels, contiguous.
    Pixels are split into partial.shape[0] fixed chunks, each summing into its
    own partial[t] (taps, F); the caller adds them in order.
    """
    n, oph, opw, f = gy.shape
    pixels = n * oph * opw
    plane = cols.shape[0] // n
    oh = plane // ow
    kk = cols.shape[1]
    g2, a2 = gy.reshape(pixels, f), arg.reshape(pixels, f)
    chunks = partial.shape[0]
    step = (pixels + chunks - 1) // chunks
    for t in prange(chunks):
        acc = np.zeros((kk, f), gy.dtype)
        won = np.empty(f, gy.dtype)
        nil = gy.dtype.type(0)
        for pix in range(t * step, min(pixels, (t + 1) * step)):
            b = pix // (oph * opw)
            i = (pix // opw) % oph
            j = pix % opw
            for yy in range(max(i * sh - pt, 0), min(i * sh - pt + ph, oh)):
                for xx in range(max(j * sw - pl, 0), min(j * sw - pl + pw, ow)):
                    idx = yy * ow + xx
                    for k in range(f):
                        won[k] = g2[pix, k] if a2[pix, k] == idx else nil
                    row = b * plane + idx
                    for tap in range(kk):
                        c = cols[row, tap]
                        for k in range(f):
                            acc[tap, k] += c * won[k]
        for tap in range(kk):  # not `partial[t] = acc`: that copy cost ~3 s of first compile
            for k in range(f):
                partial[t, tap, k] = acc[tap, k]


@_kernel
def maxpool2x2_conv_weight_grad(gy, arg, src, sb, sy, sx, taps, ow, sh, sw, partial):
    """maxpool_conv_weight_grad for 2x2 windows that all lie inside the conv grid (no
    pool padding; 'valid' 2x2 pooling): the four cells' products go into the
    accumulator in one update, a quarter of its loads and stores (benchmarks/README.md,
    "First conv's weight gradient"). A channel has one winner, so three of the four
    products are exact zeros and the sums, in the same order, have the same bits.
    The im2col value of conv output (b, y, x) and tap t is src[b*sb + y*sy + x*sx +
    taps[t]] (src flat): the columns themselves, or for a 'valid' stride-1 conv its
    input, so that no columns need be made."""
    n, oph, opw, f = gy.shape
    pixels = n * oph * opw
    kk = taps.shape[0]
    g2, a2 = gy.reshape(pixels, f), arg.reshape(pixels, f)
    chunks = partial.shape[0]
    step = (pixels + chunks - 1) // chunks
    for t in prange(chunks):
        acc = np.zeros((kk, f), gy.dtype)
        w0, w1 = np.empty(f, gy.dtype), np.empty(f, gy.dtype)
        w2, w3 = np.empty(f, gy.dtype), np.empty(f, gy.dtype)
        nil = gy.dtype.type(0)
        for pix in range(t * step, min(pixels, (t + 1) * step)):
            b = pix // (oph * opw)
            zy, zx = (pix // opw) % oph * sh, pix % opw * sw   # the window's first cell
            i0 = zy * ow + zx
            for k in range(f):
                g, a = g2[pix, k], a2[pix, k]
                w0[k] = g if a == i0 else nil
                w1[k] = g if a == i0 + 1 else nil
                w2[k] = g if a == i0 + ow else nil
                w3[k] = g if a == i0 + ow + 1 else nil
            r0 = b * sb + zy * sy + zx * sx
            for tap in range(kk):
                o = r0 + taps[tap]
                c0, c1 = src[o], src[o + sx]
                c2, c3 = src[o + sy], src[o + sy + sx]
                for k in range(f):
                    acc[tap, k] += c0 * w0[k] + c1 * w1[k] + c2 * w2[k] + c3 * w3[k]
        for tap in range(kk):
            for k in range(f):
                partial[t, tap, k] = acc[tap, k]


# ------------------------------------------------------ elementwise (bodies)
# One template per direction; each op of bodies.ELEMENTWISE gets a copy whose
# global `f` / `df` is its body, under its own name (and so its own cache file).
# Not a closure over the body: Numba keys its cache on the pickled closure cells,
# and a compiled body pickles with a per-process id, so it would recompile each run.
def _map_template(x, a, b, y):
    for i in prange(x.size):
        y[i] = f(x[i], a, b)  # noqa: F821 - bound per op by _specialise


def _map_grad_template(s, gy, a, b, gx):
    for i in prange(s.size):
        gx[i] = df(s[i], gy[i], a, b)  # noqa: F821


def _specialise(template, name: str, **body):
    return _kernel(types.FunctionType(template.__code__, {**globals(), **body}, name))


FORWARD = {op: _specialise(_map_template, f"{op}_forward", f=e.forward)
           for op, e in B.ELEMENTWISE.items()}
BACKWARD = {op: _specialise(_map_grad_template, f"{op}_backward", df=e.backward)
            for op, e in B.ELEMENTWISE.items()}


# ---------------------------------------------------------------- row kernels
# (rows, K) views: softmax over the last axis, one row per iteration.
@_kernel
def softmax_forward(x, y):
    for r in prange(x.shape[0]):
        B.softmax_row(x, y, r)


@_kernel
def softmax_backward(y, gy, gx):
    for r in prange(y.shape[0]):
        B.softmax_grad_row(y, gy, gx, r)


@_kernel
def log_softmax_forward(x, y):
    for r in prange(x.shape[0]):
        B.log_softmax_row(x, y, r)


@_kernel
def log_softmax_backward(y, gy, gx):
    for r in prange(y.shape[0]):
        B.log_softmax_grad_row(y, gy, gx, r)


@_kernel
def sparsemax_forward(x, y):
    for r in prange(x.shape[0]):
        B.sparsemax_row(x, y, r)


@_kernel
def sparsemax_backward(y, gy, gx):
    for r in prange(y.shape[0]):
        B.sparsemax_grad_row(y, gy, gx, r)


@_kernel
def softmax_cross_entropy_forward(logits, target, probs, loss):
    for r in prange(logits.shape[0]):
        B.softmax_cross_entropy_row(logits, target, probs, loss, r)


@_kernel
def softmax_cross_entropy_backward(probs, target, gloss, glogits):
    for r in prange(probs.shape[0]):
        B.softmax_cross_entropy_grad_row(probs, target, gloss, glogits, r)


@_kernel
def argmax_rows(x, out):
    for r in prange(x.shape[0]):
        out[r] = B.argmax_row(x, r)


# ------------------------------------------------------------- flat kernels
@_streaming_kernel
def dropout_apply(x, rate, scale, seed, offset, y):
    """y = x * scale where uniform(seed, offset + i) >= rate, else x * 0 (forward and
    backward)."""
    for i in prange(x.size):
        y[i] = B.dropout_value(x[i], offset + i, rate, scale, seed)


# Optimizer updates: one kernel each, in place on flat arrays. Every update first
# scales/clips the gradient and applies weight decay (B.prepare: scale, clip, decay).
@_kernel
def adam_update(p, g, m, v, lr_t, beta_1, beta_2, epsilon, scale, clip, decay):
    """Keras's Adam step; lr_t already bias-corrected."""
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], v[i] = B.adam_step(q, h, m[i], v[i], lr_t, beta_1, beta_2, epsilon)


@_kernel
def adam_amsgrad_update(p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon, scale, clip, decay):
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], v[i], vhat[i] = B.adam_amsgrad_step(q, h, m[i], v[i], vhat[i], lr_t,
                                                        beta_1, beta_2, epsilon)


@_kernel
def sgd_update(p, g, velocity, lr, momentum, nesterov, scale, clip, decay):
    """Keras's SGD step."""
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], velocity[i] = B.sgd_step(q, h, velocity[i], lr, momentum, nesterov)


@_kernel
def rmsprop_update(p, g, velocity, mom, avg, lr, rho, momentum, epsilon, centered, scale,
                   clip, decay):
    """mom and avg are written only when used (momentum > 0, centered)."""
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], velocity[i], new_mom, new_avg = B.rmsprop_step(
            q, h, velocity[i], mom[i], avg[i], lr, rho, momentum, epsilon, centered)
        if momentum > 0.0:
            mom[i] = new_mom
        if centered:
            avg[i] = new_avg


@_kernel
def adagrad_update(p, g, accumulator, lr, epsilon, scale, clip, decay):
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], accumulator[i] = B.adagrad_step(q, h, accumulator[i], lr, epsilon)


@_kernel
def adadelta_update(p, g, acc_grad, acc_delta, lr, rho, epsilon, scale, clip, decay):
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], acc_grad[i], acc_delta[i] = B.adadelta_step(q, h, acc_grad[i], acc_delta[i],
                                                          lr, rho, epsilon)


@_kernel
def adamax_update(p, g, m, u, lr, bias, beta_1, beta_2, epsilon, scale, clip, decay):
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], u[i] = B.adamax_step(q, h, m[i], u[i], lr, bias, beta_1, beta_2, epsilon)


@_kernel
def nadam_update(p, g, m, v, lr, beta_1, beta_2, epsilon, u_t, u_t_1, u_prod, u_prod_1,
                 beta_2_power, scale, clip, decay):
    for i in prange(p.size):
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], v[i] = B.nadam_step(q, h, m[i], v[i], lr, beta_1, beta_2, epsilon, u_t,
                                        u_t_1, u_prod, u_prod_1, beta_2_power)
