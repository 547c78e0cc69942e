"""numba-cuda kernels: device arrays in, device arrays filled, no Tensors, no autograd.

Layouts match the CPU backend: NHWC images, (KH, KW, C, F) kernels, C-contiguous
arrays (cuda/backend.py makes inputs so). Kernels are specialised by Numba per
argument dtype, so the same code runs float32 (training) and float64
(gradcheck); the one place a dtype must be known when compiling, the matmul's
shared-memory tiles, gets a kernel per dtype. Per-element and per-row
arithmetic comes from backends/bodies.py (`B.`), shared with the CPU kernels;
what is here is the thread layout.

Most kernels are "one thread per output element" and therefore race-free by
construction. The exceptions say how they avoid races: the reductions (one
block per output, partial sums in shared memory), the split-K matmul (each
block writes its own partial product, summed afterwards) and max-pool backward
(atomics).
"""
import math

from numba import cuda
from numba.core import config

from .. import bodies
from .launch import MAXDIM

B = bodies.compile_bodies(cuda.jit(device=True), "minigrad.backends.cuda.bodies")

# The simulator runs every CUDA thread as a Python thread, so tiles and blocks
# are shrunk there to keep the tests fast; the code paths are the same.
SIMULATOR = bool(config.ENABLE_CUDASIM)
TILE = 4 if SIMULATOR else 16        # matmul tile edge (TILE x TILE threads a block)
RED = 8 if SIMULATOR else 128        # threads of a reduction block (a power of two)


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
ADD, SUB, MUL, DIV, MAX, MIN, POW2 = range(7)


@cuda.jit
def binary(a, b, out, op, shape, sa, sb):
    """out[i] = a[...] op b[...] with NumPy broadcasting via host-computed strides.
    MAX/MIN: a NaN operand gives NaN (np.maximum); POW2: a ** b."""
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
        elif op == DIV:
            out[i] = x / y
        elif op == MAX:
            out[i] = x if (x >= y or x != x) else y
        elif op == MIN:
            out[i] = x if (x <= y or x != x) else y
        else:
            out[i] = x ** y


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


@cuda.jit
def compare(a, b, out, op, shape, sa, sb):
    """out[i] = a[...] op b[...] (a bool), broadcast as binary."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = B.compare(a[_offset(i, shape, sa)], b[_offset(i, shape, sb)], op)


@cuda.jit
def select(c, a, b, out, shape, sc, sa, sb):
    """out[i] = a[...] if c[...] else b[...], broadcast as binary."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[_offset(i, shape, sa)] if c[_offset(i, shape, sc)] else \
            b[_offset(i, shape, sb)]


@cuda.jit
def argmax_rows(x, out):
    r = cuda.grid(1)
    if r < x.shape[0]:
        out[r] = B.argmax_row(x, r)


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


NEG, EXP, LOG, SQRT, POW, CLIP, CLIP_MASK = range(7)


@cuda.jit
def unary(x, out, op, p, q):
    """out[i] = f(x[i]) for the op codes above; p, q are POW's exponent / CLIP's bounds.
    NaN stays NaN through every op, as in NumPy."""
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
            out[i] = p if v < p else (q if v > q else v)
        else:  # CLIP_MASK
            out[i] = 1 if p <= v <= q else 0


def _map_kernel(f):
    """y[i] = f(x[i], a, b): an elementwise op's forward from its body."""
    @cuda.jit
    def kernel(x, a, b, y):
        i = cuda.grid(1)
        if i < x.size:
            y[i] = f(x[i], a, b)
    return kernel


def _map_grad_kernel(df):
    """gx[i] = df(saved[i], gy[i], a, b): an elementwise op's backward from its body."""
    @cuda.jit
    def kernel(saved, gy, a, b, gx):
        i = cuda.grid(1)
        if i < saved.size:
            gx[i] = df(saved[i], gy[i], a, b)
    return kernel


FORWARD = {op: _map_kernel(e.forward) for op, e in B.ELEMENTWISE.items()}
BACKWARD = {op: _map_grad_kernel(e.backward) for op, e in B.ELEMENTWISE.items()}


@cuda.jit
def bias_act(y, b, relu):
    """y (rows, F) += b, then ReLU if `relu`, in place: the matmul's epilogue."""
    i = cuda.grid(1)
    if i < y.size:
        f = b.shape[0]
        y[i // f, i % f] = B.relu_if(y[i // f, i % f] + b[i % f], relu)


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

    A NaN wins, then ties go to the first element in row-major order
    (B.pool_takes, as on the CPU); padding cells never win.
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
                if win < 0 or B.pool_takes(v, best):
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
@cuda.jit
def softmax_forward(x, y):
    r = cuda.grid(1)
    if r < x.shape[0]:
        B.softmax_row(x, y, r)


@cuda.jit
def softmax_backward(y, gy, gx):
    r = cuda.grid(1)
    if r < y.shape[0]:
        B.softmax_grad_row(y, gy, gx, r)


@cuda.jit
def log_softmax_forward(x, y):
    r = cuda.grid(1)
    if r < x.shape[0]:
        B.log_softmax_row(x, y, r)


@cuda.jit
def log_softmax_backward(y, gy, gx):
    r = cuda.grid(1)
    if r < y.shape[0]:
        B.log_softmax_grad_row(y, gy, gx, r)


@cuda.jit
def sparsemax_forward(x, y):
    r = cuda.grid(1)
    if r < x.shape[0]:
        B.sparsemax_row(x, y, r)


@cuda.jit
def sparsemax_backward(y, gy, gx):
    r = cuda.grid(1)
    if r < y.shape[0]:
        B.sparsemax_grad_row(y, gy, gx, r)


@cuda.jit
def softmax_cross_entropy_forward(logits, target, probs, loss):
    r = cuda.grid(1)
    if r < logits.shape[0]:
        B.softmax_cross_entropy_row(logits, target, probs, loss, r)


@cuda.jit
def softmax_cross_entropy_backward(probs, target, gloss, glogits):
    r = cuda.grid(1)
    if r < probs.shape[0]:
        B.softmax_cross_entropy_grad_row(probs, target, gloss, glogits, r)


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


# ---------------------------------------------------------------- dropout
@cuda.jit
def dropout_apply(x, rate, scale, seed, offset, y):
    """y = x * scale where uniform(seed, offset + i) >= rate, else x * 0 (forward and
    backward)."""
    i = cuda.grid(1)
    if i < x.size:
        y[i] = B.dropout_value(x[i], offset + i, rate, scale, seed)
