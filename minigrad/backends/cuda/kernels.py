"""numba-cuda kernels: device arrays in, device arrays filled, no Tensors, no autograd.

Layouts match the CPU backend: NHWC images, (KH, KW, C, F) kernels, C-contiguous
arrays. Kernels are specialised by Numba per argument dtype, so the same code
runs float32 (training) and float64 (gradcheck); the one place a dtype must be
known when compiling, the matmul's shared-memory tiles, gets a kernel per dtype.

Most kernels are "one thread per output element" and therefore race-free by
construction. The exceptions say how they avoid races: the reductions (one
block per output, partial sums in shared memory), the split-K matmul (each
block writes its own partial product, summed afterwards) and max-pool backward
(atomics).
"""
import functools
import math

import numba
import numpy as np
from numba import cuda
from numba.core import config

# The simulator runs every CUDA thread as a Python thread, so tiles and blocks
# are shrunk there to keep the tests fast; the code paths are the same.
SIMULATOR = bool(config.ENABLE_CUDASIM)
TILE = 4 if SIMULATOR else 16        # matmul tile edge (TILE x TILE threads a block)
RED = 8 if SIMULATOR else 128        # threads of a reduction block (a power of two)
MAXDIM = 6                           # rank limit of the strided/broadcast kernels


# --------------------------------------------------------------- indexing
@cuda.jit(device=True)
def _offset(i, shape, strides):
    """Element offset of the i-th element (row-major over `shape`) for `strides`.

    shape and strides are MAXDIM-tuples padded in front with 1 and 0; a stride
    of 0 repeats an element along that axis (broadcasting).
    """
    off = 0
    for d in range(MAXDIM - 1, -1, -1):
        off += (i % shape[d]) * strides[d]
        i //= shape[d]
    return off


# ------------------------------------------------------- elementwise math
ADD, SUB, MUL, DIV = 0, 1, 2, 3


@cuda.jit
def binary(a, b, out, op, shape, sa, sb):
    """out[i] = a[...] op b[...] with NumPy broadcasting via host-computed strides."""
    i = cuda.grid(1)
    if i < out.size:
        x = a[_offset(i, shape, sa)]
        y = b[_offset(i, shape, sb)]
        if op == ADD:
            out[i] = x + y
        elif op == SUB:
            out[i] = x - y
        elif op == MUL:
            out[i] = x * y
        else:
            out[i] = x / y


@cuda.jit
def strided_copy(a, out, shape, sa):
    """out[i] = a[offset(i)]: transpose, broadcast, dtype cast and compaction in one kernel."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[_offset(i, shape, sa)]


@cuda.jit
def fill(out, value):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = value


NEG, EXP, LOG, SQRT, POW, CLIP, CLIP_MASK, RELU, SIGMOID, TANH = range(10)


@cuda.jit
def unary(x, out, op, p, q):
    """out[i] = f(x[i]) for the op codes above; p, q are POW's exponent / CLIP's bounds."""
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        if op == NEG:
            out[i] = -v
        elif op == EXP:
            out[i] = math.exp(v)
        elif op == LOG:  # NumPy's -inf / nan spelled out: the simulator's math.log raises
            out[i] = math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)
        elif op == SQRT:
            out[i] = math.sqrt(v) if v >= 0 else math.nan
        elif op == POW:
            out[i] = v ** p
        elif op == CLIP:
            out[i] = min(max(v, p), q)
        elif op == CLIP_MASK:
            out[i] = 1 if p <= v <= q else 0
        elif op == RELU:
            out[i] = v if v > 0 else 0
        elif op == SIGMOID:
            if v >= 0:
                out[i] = 1.0 / (1.0 + math.exp(-v))
            else:  # no overflow of exp for large negative inputs
                e = math.exp(v)
                out[i] = e / (1.0 + e)
        else:
            out[i] = math.tanh(v)


@cuda.jit
def activation_grad(y, gy, gx, op):
    """Backward of RELU / SIGMOID / TANH from the forward output y."""
    i = cuda.grid(1)
    if i < y.size:
        v = y[i]
        if op == RELU:
            gx[i] = gy[i] if v > 0 else 0
        elif op == SIGMOID:
            gx[i] = gy[i] * v * (1 - v)
        else:
            gx[i] = gy[i] * (1 - v * v)


# -------------------------------------------------------------- reduction
@cuda.jit
def reduce_sum(a, out, kshape, kstrides, rshape, rstrides, nred):
    """out[o] = sum of a over the reduced axes; one block per output element.

    The block's threads each sum a strided share of the nred inputs (in
    float64, for accuracy close to NumPy's pairwise sums), then add their
    partials in a shared-memory tree. Every output has its own block, so no
    two blocks write one address: no atomics, and the result is deterministic.
    """
    part = cuda.shared.array(RED, numba.float64)
    o = cuda.blockIdx.x
    t = cuda.threadIdx.x
    base = _offset(o, kshape, kstrides)
    acc = 0.0
    for r in range(t, nred, cuda.blockDim.x):
        acc += a[base + _offset(r, rshape, rstrides)]
    part[t] = acc
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            part[t] += part[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        out[o] = part[0]


# ------------------------------------------------------------------ matmul
@functools.lru_cache(maxsize=None)
def matmul_kernel(dtype):
    """The tiled matmul for one dtype (its shared tiles need the type when compiling)."""
    nbtype = numba.from_dtype(np.dtype(dtype))
    zero = np.dtype(dtype).type(0)  # a constant of the tile's type for the accumulator

    @cuda.jit
    def matmul(a, b, c, ta, tb, kchunk):
        """c[z] = A[:, kz] @ B[kz, :] over the z-th chunk of k; A = a.T if ta, B = b.T if tb.

        Each block owns a TILE x TILE tile of c and walks its k range a tile at
        a time: the threads load one tile of A and one of B into shared memory
        together, then each multiplies a row by a column from there, so every
        element read from global memory is used TILE times. blockIdx.z picks
        a chunk of k (split-K): with few output tiles (the weight gradient
        cols.T @ gy, whose k is batch*height*width) the chunks keep the GPU
        busy; each writes its own slice c[z], summed afterwards without races.
        """
        sa = cuda.shared.array((TILE, TILE), nbtype)
        sb = cuda.shared.array((TILE, TILE), nbtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        i = cuda.blockIdx.x * TILE + ty  # rows on grid x: conv's N*OH*OW can pass 65535 tiles
        j = cuda.blockIdx.y * TILE + tx  # threadIdx.x along c's rows: coalesced b and c
        z = cuda.blockIdx.z
        m = c.shape[1]
        n = c.shape[2]
        k0 = z * kchunk
        k1 = min(a.shape[0] if ta else a.shape[1], k0 + kchunk)
        acc = zero
        for t in range(k0, k1, TILE):
            ka = t + tx
            if i < m and ka < k1:
                sa[ty, tx] = a[ka, i] if ta else a[i, ka]
            else:
                sa[ty, tx] = 0
            kb = t + ty
            if j < n and kb < k1:
                sb[ty, tx] = b[j, kb] if tb else b[kb, j]
            else:
                sb[ty, tx] = 0
            cuda.syncthreads()
            for s in range(TILE):
                acc += sa[ty, s] * sb[s, tx]
            cuda.syncthreads()
        if i < m and j < n:
            c[z, i, j] = acc

    return matmul


@cuda.jit
def bias_act(y, b, relu):
    """y (rows, F) += b, then ReLU if `relu`, in place: the matmul's epilogue."""
    i = cuda.grid(1)
    if i < y.size:
        f = b.shape[0]
        v = y[i // f, i % f] + b[i % f]
        y[i // f, i % f] = v if v > 0 or not relu else 0


# ------------------------------------------------------------- convolution
@cuda.jit
def im2col(x, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """cols[(b*oh+i)*ow+j, (p*kw+q)*c+ch] = x[b, i*sh-pt+p*dh, j*sw-pl+q*dw, ch] (0 outside).

    One thread per element of cols, as the CPU kernel's layout, so the
    convolution is the tiled ``cols @ kernel.reshape(KH*KW*C, F)``.
    """
    e = cuda.grid(1)
    if e < cols.size:
        n, h, w, c = x.shape
        k = cols.shape[1]
        row = e // k
        col = e % k
        ch = col % c
        q = (col // c) % kw
        p = col // (c * kw)
        j = row % ow
        i = (row // ow) % oh
        b = row // (ow * oh)
        y = i * sh - pt + p * dh
        xx = j * sw - pl + q * dw
        if 0 <= y < h and 0 <= xx < w:
            cols[row, col] = x[b, y, xx, ch]
        else:
            cols[row, col] = 0


@cuda.jit
def col2im(cols, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, dx):
    """Adjoint of im2col as a gather: one thread per dx element sums the cols that read it.

    Output position i reads row y = i*sh - pt + p*dh, so for each kernel tap p
    the only candidate is i = (y + pt - p*dh) / sh when that divides exactly.
    A gather writes each dx element once: no races, no atomics.
    """
    e = cuda.grid(1)
    if e < dx.size:
        n, h, w, c = dx.shape
        ch = e % c
        x = (e // c) % w
        y = (e // (c * w)) % h
        b = e // (c * w * h)
        acc = 0.0
        for p in range(kh):
            iy = y + pt - p * dh
            if iy < 0 or iy % sh != 0 or iy // sh >= oh:
                continue
            for q in range(kw):
                ix = x + pl - q * dw
                if ix < 0 or ix % sw != 0 or ix // sw >= ow:
                    continue
                acc += cols[(b * oh + iy // sh) * ow + ix // sw, (p * kw + q) * c + ch]
        dx[b, y, x, ch] = acc


# ---------------------------------------------------------------- max pool
@cuda.jit
def maxpool_forward(x, ph, pw, sh, sw, pt, pl, y, arg):
    """One thread per output: max over the window, arg = winner's flat index yy*W+xx.

    Ties go to the first element in row-major order; padding cells never win.
    """
    e = cuda.grid(1)
    if e < y.size:
        n, h, w, c = x.shape
        oh, ow = y.shape[1], y.shape[2]
        ch = e % c
        j = (e // c) % ow
        i = (e // (c * ow)) % oh
        b = e // (c * ow * oh)
        best = -math.inf
        win = -1
        for p in range(ph):
            yy = i * sh - pt + p
            if yy < 0 or yy >= h:
                continue
            for q in range(pw):
                xx = j * sw - pl + q
                if xx < 0 or xx >= w:
                    continue
                v = x[b, yy, xx, ch]
                if v > best or win < 0:
                    best = v
                    win = yy * w + xx
        y[b, i, j, ch] = best
        arg[b, i, j, ch] = win


@cuda.jit
def maxpool_backward(gy, arg, gx):
    """gx (zeroed by the caller) += gy at each output's argmax.

    Overlapping windows (stride < pool) can send two outputs' gradients to one
    input, so the add is atomic; with the usual stride == pool there is never
    a collision, so atomics cost next to nothing and a gather (which would need
    the pooling geometry here) buys nothing.
    """
    e = cuda.grid(1)
    if e < gy.size:
        n, oh, ow, c = gy.shape
        w = gx.shape[2]
        ch = e % c
        j = (e // c) % ow
        i = (e // (c * ow)) % oh
        b = e // (c * ow * oh)
        a = arg[b, i, j, ch]
        cuda.atomic.add(gx, (b, a // w, a % w, ch), gy[b, i, j, ch])


# ------------------------------------------------- row kernels (softmax &c.)
# (rows, K) arrays, one thread per row: K is the class count, small.
@cuda.jit(device=True)
def _log_sum_exp(x, r):
    """log(sum(exp(x[r]))) with the row's max subtracted: the CPU kernels' helper."""
    m = x[r, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[r, j])
    s = 0.0
    for j in range(x.shape[1]):
        s += math.exp(x[r, j] - m)
    return m + math.log(s)


@cuda.jit
def softmax_forward(x, y):
    r = cuda.grid(1)
    if r < x.shape[0]:
        lse = _log_sum_exp(x, r)
        for j in range(x.shape[1]):
            y[r, j] = math.exp(x[r, j] - lse)


@cuda.jit
def softmax_backward(y, gy, gx):
    r = cuda.grid(1)
    if r < y.shape[0]:
        d = 0.0
        for j in range(y.shape[1]):
            d += gy[r, j] * y[r, j]
        for j in range(y.shape[1]):
            gx[r, j] = y[r, j] * (gy[r, j] - d)


@cuda.jit
def log_softmax_forward(x, y):
    r = cuda.grid(1)
    if r < x.shape[0]:
        lse = _log_sum_exp(x, r)
        for j in range(x.shape[1]):
            y[r, j] = x[r, j] - lse


@cuda.jit
def log_softmax_backward(y, gy, gx):
    r = cuda.grid(1)
    if r < y.shape[0]:
        s = 0.0
        for j in range(y.shape[1]):
            s += gy[r, j]
        for j in range(y.shape[1]):
            gx[r, j] = gy[r, j] - math.exp(y[r, j]) * s


@cuda.jit
def softmax_cross_entropy_forward(logits, target, probs, loss):
    """loss[r] = -sum(target * log_softmax(logits)); probs = softmax(logits); max-shifted."""
    r = cuda.grid(1)
    if r < logits.shape[0]:
        lse = _log_sum_exp(logits, r)
        acc = 0.0
        for j in range(logits.shape[1]):
            probs[r, j] = math.exp(logits[r, j] - lse)
            acc -= target[r, j] * (logits[r, j] - lse)
        loss[r] = acc


@cuda.jit
def softmax_cross_entropy_backward(probs, target, gloss, glogits):
    r = cuda.grid(1)
    if r < probs.shape[0]:
        t = 0.0
        for j in range(probs.shape[1]):
            t += target[r, j]
        for j in range(probs.shape[1]):
            glogits[r, j] = gloss[r] * (probs[r, j] * t - target[r, j])


@cuda.jit
def one_hot(labels, out):
    """out (zeroed by the caller)[r, labels[r]] = 1; a row of NaN for a label out of
    range, so that the loss says so (range checks on the host would copy labels back)."""
    r = cuda.grid(1)
    if r < labels.shape[0]:
        k = out.shape[1]
        if 0 <= labels[r] < k:
            out[r, labels[r]] = 1
        else:
            for j in range(k):
                out[r, j] = math.nan


SPARSE, CATEGORICAL, BINARY = 0, 1, 2  # kinds of correct_rows


@cuda.jit
def correct_rows(pred, true, kind, right):
    """right[r] = 1 where row r is predicted right, else 0. SPARSE: argmax(pred[r])
    == true[r, 0], a class id; CATEGORICAL: == argmax(true[r]) (first maximum, as
    NumPy); BINARY (one column): (pred > 0.5) == (true > 0.5)."""
    r = cuda.grid(1)
    if r < pred.shape[0]:
        if kind == BINARY:
            ok = (pred[r, 0] > 0.5) == (true[r, 0] > 0.5)
        else:
            bp = bt = 0
            for j in range(1, pred.shape[1]):
                if pred[r, j] > pred[r, bp]:
                    bp = j
                if kind == CATEGORICAL and true[r, j] > true[r, bt]:
                    bt = j
            ok = bp == (true[r, 0] if kind == SPARSE else bt)
        right[r] = 1 if ok else 0


@cuda.jit
def take_rows(a, idx, row, out):
    """out[i] = a[idx[i // row] * row + i % row]: rows of a picked by idx (flat arrays)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[idx[i // row] * row + i % row]


# ------------------------------------------------------------------ dropout
@cuda.jit(device=True)
def _uniform(seed, i):
    """The CPU backend's counter-based splitmix64 uniform, bit for bit."""
    z = seed + np.uint64(i) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float32(z >> np.uint64(40)) * np.float32(1.0 / 16777216.0)


@cuda.jit
def dropout_apply(x, rate, scale, seed, y):
    """y = x * scale where uniform(seed, i) >= rate, else 0 (forward and backward alike)."""
    i = cuda.grid(1)
    if i < x.size:
        y[i] = x[i] * scale if _uniform(seed, i) >= rate else 0


# --------------------------------------------------------------- optimizers
@cuda.jit
def adam_update(p, g, m, v, lr_t, beta_1, beta_2, epsilon):
    """Keras's Adam step in place, as the CPU kernel; lr_t already bias-corrected."""
    i = cuda.grid(1)
    if i < p.size:
        gi = g[i]
        mi = beta_1 * m[i] + (1.0 - beta_1) * gi
        vi = beta_2 * v[i] + (1.0 - beta_2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * mi / (math.sqrt(vi) + epsilon)


@cuda.jit
def sgd_update(p, g, velocity, lr, momentum, nesterov):
    """Keras's SGD in place: v = momentum*v - lr*g; p += v (nesterov: p += momentum*v - lr*g)."""
    i = cuda.grid(1)
    if i < p.size:
        if momentum == 0.0:
            p[i] -= lr * g[i]
        else:
            vi = momentum * velocity[i] - lr * g[i]
            velocity[i] = vi
            if nesterov:
                p[i] += momentum * vi - lr * g[i]
            else:
                p[i] += vi


# ================================================================================
# Merge layers (issue 12): elementwise maximum/minimum and their gradient, with
# NumPy broadcasting through host-computed strides (as `binary`).
# ================================================================================
@cuda.jit
def extremum(a, b, out, take_max, shape, sa, sb):
    """out[i] = max(a, b) (or min); a NaN operand gives NaN, as np.maximum."""
    i = cuda.grid(1)
    if i < out.size:
        x = a[_offset(i, shape, sa)]
        y = b[_offset(i, shape, sb)]
        if take_max:
            out[i] = x if (x >= y or x != x) else y
        else:
            out[i] = x if (x <= y or x != x) else y


@cuda.jit
def extremum_backward(a, b, g, ga, gb, take_max, shape, sa, sb):
    """g to a where a wins (ties to a), else to b; both at g's (broadcast) shape."""
    i = cuda.grid(1)
    if i < g.size:
        x = a[_offset(i, shape, sa)]
        y = b[_offset(i, shape, sb)]
        wins = x >= y if take_max else x <= y
        ga[i] = g[i] if wins else 0.0
        gb[i] = 0.0 if wins else g[i]
