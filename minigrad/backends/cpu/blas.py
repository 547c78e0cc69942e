"""Matrix products on Numba's threads: row blocks, each one single-threaded OpenBLAS
call, so that a training step has one thread pool instead of two.

With OpenBLAS's own threads, two pools shared the cores: after each product its
threads spin on the other cores, so Numba's kernels there gained nothing from
running in parallel, and OpenMP's pool could not be used beside them (both
spinning: 30x slower on a busy machine). Here the product's output rows are split
into one block per Numba thread (fewer where blocks would be small: `row_blocks`),
and each block is one call of NumPy's own OpenBLAS
`?gemm` (its CBLAS entry point, found in the loaded library, called through its
address) with OpenBLAS held at one thread for the call. Every output value is one
call's dot product over the whole inner dimension, in OpenBLAS's order, or for a
large a.T @ g (weight gradients) the sum in order of such products over a fixed
number of chunks of it: the bits do not depend on the thread count
(benchmarks/README.md, "One thread pool" and "Weight gradients in chunks").
Used with Numba's OpenMP pool only (minigrad chooses it where this module and
OpenMP can load); where NumPy's BLAS is not an OpenBLAS with 64-bit-integer CBLAS
symbols (the scipy-openblas64 of NumPy's wheels), or the pool is another, NumPy's
matmul runs on OpenBLAS's threads, as before.
"""
from __future__ import annotations

import ctypes
import os
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from . import compile_ahead
from .kernels import _kernel, col2im_image, im2col_runs, maxpool_row, parallel_from, threads

# (CBLAS sgemm, dgemm, set threads, get threads) by prefix: NumPy's wheels, then others
_SYMBOLS = [("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "scipy_openblas_set_num_threads64_",
             "scipy_openblas_get_num_threads64_"),
            ("cblas_sgemm64_", "cblas_dgemm64_", "openblas_set_num_threads64_",
             "openblas_get_num_threads64_")]
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
MIN_ROWS = 256    # fewer output rows: NumPy's matmul, on one thread (blocks would be tiny;
# predict's blocks of images reach 1,280 rows in convnet3's deeper convs: at 2,048, they
# ran on one thread and predict lost a third; warmup's dry run, on 2 images, notes the
# split kernel whatever the rows)
_LOCK = threading.Lock()   # OpenBLAS's thread count is process-wide


def loaded_blas_libraries() -> list:
    """Shared libraries of a BLAS in this process (NumPy's wheel brings OpenBLAS)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if line.rstrip().endswith(".so") or
                     ".so." in line}
    except OSError:
        return []
    return sorted(p for p in paths if "openblas" in os.path.basename(p).lower())


def _find():
    """{dtype: gemm address}, set_threads, get_threads from NumPy's OpenBLAS, or None."""
    for path in loaded_blas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for names in _SYMBOLS:
            found = [getattr(lib, name, None) for name in names]
            if all(f is not None for f in found):
                sgemm, dgemm, setter, getter = found
                setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                return ({np.dtype(np.float32): ctypes.cast(sgemm, ctypes.c_void_p).value,
                         np.dtype(np.float64): ctypes.cast(dgemm, ctypes.c_void_p).value},
                        setter, getter)
    return None


_FOUND = _find()
AVAILABLE = _FOUND is not None


def omp_loads() -> bool:
    """Whether Numba's OpenMP threading layer can load here (GNU or Intel OpenMP
    present); importing it starts no thread."""
    try:
        from numba.np.ufunc import omppool  # noqa: F401
    except ImportError:
        return False
    return True


def _gemm_intrinsic(real):
    """The intrinsic for one float type: single (sgemm) or double (dgemm)."""
    flt = ir.FloatType() if real == types.float32 else ir.DoubleType()

    @intrinsic
    def call(typingctx, address, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
        """CBLAS ?gemm at ints[0]: c = op(a) @ op(b), alpha 1, beta 0, row-major;
        ints: address, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc (a, b, c
        data addresses), any integer types."""
        ints = (address, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)
        if not all(isinstance(t, types.Integer) for t in ints):
            return None

        def codegen(context, builder, sig, args):
            i32, i64, ptr = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, flt, ptr, i64,
                                                   ptr, i64, flt, ptr, i64])
            v = [context.cast(builder, a, t, types.int64) for a, t in zip(args, sig.args)]
            fn = builder.inttoptr(v[0], fnty.as_pointer())
            ta, tb = builder.trunc(v[1], i32), builder.trunc(v[2], i32)
            pa, pb, pc = (builder.inttoptr(x, ptr) for x in (v[6], v[8], v[10]))
            builder.call(fn, [ir.Constant(i32, ROW_MAJOR), ta, tb, v[3], v[4], v[5],
                              ir.Constant(flt, 1.0), pa, v[7], pb, v[9],
                              ir.Constant(flt, 0.0), pc, v[11]])
            return context.get_dummy_value()
        return types.none(*ints), codegen
    return call


_sgemm, _dgemm = _gemm_intrinsic(types.float32), _gemm_intrinsic(types.float64)


@njit(inline="always")
def _call(address, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, double):
    if double:
        _dgemm(address, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)
    else:
        _sgemm(address, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)


def _always_parallel(fn):
    """_kernel whose parallel build runs whatever the size (from MIN_ROWS rows, a
    product is worth every thread): its serial build is never compiled in a step."""
    return _kernel(fn, serial_below=0)


@parallel_from(1)
@_always_parallel
def gemm_row_blocks(address, a, b, c, transpose_a, blocks):
    """c = a @ b, or a.T @ b with `transpose_a` (a (M, K), b of as many rows as that
    product's inner size, c its result; all C-contiguous): `blocks` blocks of c's rows
    (sizes differing by one at most), each one call summing over the whole inner size."""
    m, k = a.shape
    n = b.shape[1]
    rows, inner = (k, m) if transpose_a else (m, k)
    size = a.itemsize
    for p in prange(blocks):
        r0, r1 = p * rows // blocks, (p + 1) * rows // blocks
        if r1 > r0:
            at = a.ctypes.data + (r0 * size if transpose_a else r0 * k * size)
            _call(address, TRANS if transpose_a else NO_TRANS, NO_TRANS, r1 - r0, n, inner,
                  at, k, b.ctypes.data, n, c.ctypes.data + r0 * n * size, n, size == 8)


@parallel_from(1)
@_always_parallel
def gemm_tn_chunks(address, a, g, partial):
    """partial[s] = a[rows of chunk s].T @ g[same rows] (a (M, K), g (M, N), partial
    (S, K, N); all C-contiguous) for S fixed chunks of the inner size M, one call
    each: the calls do not depend on the thread count."""
    m, k = a.shape
    n = g.shape[1]
    chunks = partial.shape[0]
    size, per_chunk = a.itemsize, (m + chunks - 1) // chunks
    for s in prange(chunks):
        i0, i1 = s * per_chunk, min(m, (s + 1) * per_chunk)
        _call(address, TRANS, NO_TRANS, k, n, i1 - i0, a.ctypes.data + i0 * k * size, k,
              g.ctypes.data + i0 * n * size, n, partial.ctypes.data + s * k * n * size, n,
              size == 8)


@parallel_from(1)
@_always_parallel
def gemm_col2im_blocks(address, gy, w, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, per_block,
                       scratch, dx):
    """A conv's input gradient dx = col2im(gy @ w.T) (gy (N*OH*OW, F), w (KH*KW*C, F))
    `per_block` images at a time: one call for a block's columns, into its share's row
    of `scratch` (a share of the blocks per thread; small enough to stay in cache), then
    scattered into dx. Shares, not numba.get_thread_id(): the serial build, which runs
    while a cold start compiles the parallel one, has no pool to ask. Each value is the
    one call's dot product over F and the sums go in col2im's order: the bits of the
    whole product then col2im, whatever the blocks."""
    n = dx.shape[0]
    f, kk, rows = gy.shape[1], w.shape[0], oh * ow
    size = gy.itemsize
    blocks, parts = (n + per_block - 1) // per_block, scratch.shape[0]
    for part in prange(parts):   # a share of the blocks and a scratch of its own each
        cols = scratch[part]
        for blk in range(part * blocks // parts, (part + 1) * blocks // parts):
            b0, b1 = blk * per_block, min(n, (blk + 1) * per_block)
            _call(address, NO_TRANS, TRANS, (b1 - b0) * rows, kk, f,
                  gy.ctypes.data + b0 * rows * f * size, f, w.ctypes.data, f,
                  cols.ctypes.data, kk, size == 8)
            for b in range(b0, b1):
                col2im_image(cols, (b - b0) * rows, b, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow,
                             dx)


@parallel_from(1)
@_always_parallel
def gemm_pool_blocks(address, x, w, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, ph, pw, psh, psw,
                     ppt, ppl, per_block, cols, z, y, arg):
    """Inference's conv + max pool, y, arg = maxpool_forward(im2col(x) @ w) (x (N, H, W,
    C), w (KH*KW*C, F)), `per_block` images at a time, each block wholly one thread's:
    its im2col columns into the thread's share of `cols`, one call for its conv output
    into `z`'s, then pooled from there, all while in that core's cache (no launch and
    no handing over between threads per block). Shares as gemm_col2im_blocks. Each
    conv value is one call's dot product over the taps: the bits of the whole
    product, for blocks from UNIFORM_MNK multiply-adds (`pool_images_per_block`)."""
    n = x.shape[0]
    f, rows = w.shape[1], oh * ow
    kk, size = w.shape[0], x.itemsize
    blocks, parts = (n + per_block - 1) // per_block, cols.shape[0]
    for part in prange(parts):
        c, zp = cols[part], z[part]
        for blk in range(part * blocks // parts, (part + 1) * blocks // parts):
            b0, b1 = blk * per_block, min(n, (blk + 1) * per_block)
            for b in range(b0, b1):
                for i in range(oh):
                    im2col_runs(x, b, i, (b - b0) * oh + i, kh, kw, sh, sw, pt, pl, dh, dw,
                                ow, c)
            _call(address, NO_TRANS, NO_TRANS, (b1 - b0) * rows, f, kk, c.ctypes.data, kk,
                  w.ctypes.data, f, zp.ctypes.data, f, size == 8)
            for b in range(b0, b1):
                for i in range(y.shape[1]):
                    maxpool_row(zp, b - b0, b, i, ph, pw, psh, psw, ppt, ppl, y, arg)


def _one_thread():
    """OpenBLAS at one thread until the returned function is called (which restores it):
    its own pool must not run beside Numba's."""
    _, setter, getter = _FOUND
    _LOCK.acquire()
    before = getter()
    if before != 1:
        setter(1)

    def restore():
        if before != 1:
            setter(before)
        _LOCK.release()
    return restore


INNER_CHUNK_ROWS = 4096   # a.T @ g: the inner size in chunks of at least this many rows
MAX_INNER_CHUNKS = 16
UNIFORM_MNK = 1 << 23   # a block's M*N*K from which OpenBLAS runs its one large-product kernel


def row_blocks(rows: int, n: int, inner: int) -> int:
    """Blocks of a product's rows: one per thread, but each at least UNIFORM_MNK
    multiply-adds (or one block). OpenBLAS takes other kernels, which round otherwise,
    for small products (MNK up to 1e6; row-major NN up to 28*512*512: its "direct
    sgemm" on AVX-512): a block below them would change the bits with the thread count."""
    blocks = max(1, min(threads(), rows))
    while blocks > 1 and (rows // blocks) * n * inner < UNIFORM_MNK:
        blocks -= 1
    return blocks


def inner_chunks(m: int) -> int:
    """How many chunks a.T @ g's inner size of `m` rows is summed in: a power of two
    from the shape alone (never the thread count, so the bits do not depend on it),
    1 below 2 * INNER_CHUNK_ROWS rows."""
    chunks = 1
    while chunks < MAX_INNER_CHUNKS and m >= 2 * chunks * INNER_CHUNK_ROWS:
        chunks *= 2
    return chunks


def in_use() -> bool:
    """Whether products run here: with OpenMP's pool only. With workqueue's, whose
    threads sleep at once, the split products made steps slower than OpenBLAS's own
    threads (benchmarks/README.md, "One thread pool")."""
    return AVAILABLE and numba.config.THREADING_LAYER == "omp"


def product(launch, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b (into `out` if given): 2-D floats of one dtype with MIN_ROWS rows or more
    by row blocks on Numba's threads (`launch`: the backend's kernel launcher), anything
    else by NumPy's matmul; OpenBLAS on one thread either way (where `in_use`)."""
    if not in_use():
        return np.matmul(a, b, out=out)
    restore = _one_thread()
    try:
        if np.ndim(a) != 2 or np.ndim(b) != 2 or a.shape[1] != b.shape[0] or \
                a.dtype not in _FOUND[0] or a.dtype != b.dtype or \
                (out is not None and (out.dtype != a.dtype or not out.flags.c_contiguous or
                                      out.shape != (a.shape[0], b.shape[1]))) or \
                (a.shape[0] < MIN_ROWS and not compile_ahead.recording()):
            return np.matmul(a, b, out=out)   # NumPy's errors for what does not fit
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        out = np.empty((a.shape[0], b.shape[1]), a.dtype) if out is None else out
        launch(gemm_row_blocks, _FOUND[0][a.dtype], a, b, out, False,
               row_blocks(a.shape[0], b.shape[1], a.shape[1]))
        return out
    finally:
        restore()


def product_tn(launch, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """a.T @ g (a, g 2-D with as many rows): where it is large, on Numba's threads,
    summed over `inner_chunks` fixed chunks of the rows (one call each, added in
    order) or, below two chunks' rows, by row blocks; else NumPy's matmul; OpenBLAS on
    one thread. Chunks rather than row blocks: a weight gradient has few output rows
    (27 for a 3x3 conv on RGB), and with row blocks each thread read all of g and a
    strided slice of a (benchmarks/README.md, "Weight gradients in chunks")."""
    if not in_use():
        return a.T @ g
    restore = _one_thread()
    try:
        if np.ndim(a) != 2 or np.ndim(g) != 2 or a.shape[0] != g.shape[0] or \
                a.dtype not in _FOUND[0] or a.dtype != g.dtype or \
                (a.shape[0] < MIN_ROWS and not compile_ahead.recording()):
            return a.T @ g
        a, g = np.ascontiguousarray(a), np.ascontiguousarray(g)
        (m, k), n, address = a.shape, g.shape[1], _FOUND[0][a.dtype]
        chunks = inner_chunks(m)
        if chunks > 1 or compile_ahead.noting_for_larger_batches():
            partial = np.empty((chunks, k, n), a.dtype)
            launch(gemm_tn_chunks, address, a, g, partial)
            if chunks > 1:
                return partial.sum(axis=0)   # in chunk order
        out = np.empty((k, n), a.dtype)
        launch(gemm_row_blocks, address, a, g, out, True, row_blocks(k, n, m))
        return out
    finally:
        restore()


COL2IM_BLOCK_ROWS = 512       # a block's rows of columns, at least (fewer: slower products)
COL2IM_BLOCK_BYTES = 4 << 20  # and its columns at most (more: out of cache; whole product)


def images_per_block(n: int, rows: int, kk: int, dtype) -> int:
    """Images per block of conv_input_grad for n images of `rows` output pixels and kk
    taps, or 0 where the blocks would be too large or too few to keep every thread busy
    (then the whole product and col2im; the same bits either way)."""
    per_block = -(-COL2IM_BLOCK_ROWS // max(rows, 1))
    if not in_use() or np.dtype(dtype) not in _FOUND[0] or \
            per_block * rows * kk * np.dtype(dtype).itemsize > COL2IM_BLOCK_BYTES or \
            -(-n // per_block) < threads():
        return 0
    return per_block


def conv_input_grad(launch, gy: np.ndarray, w: np.ndarray, geom, per_block: int,
                    dx: np.ndarray) -> np.ndarray:
    """dx = col2im(gy @ w.T) by blocks of `per_block` images (images_per_block): the
    columns of the input gradient never go through memory whole (convnet3's second
    conv: 151 MB of them; benchmarks/README.md, "A conv's input gradient by blocks of
    images"). gy (N, OH, OW, F) and w (KH, KW, C, F) C-contiguous."""
    sh, sw, pt, pl, dh, dw, oh, ow = geom
    kh, kw, c, f = w.shape
    scratch = np.empty((threads(), per_block * oh * ow, kh * kw * c), gy.dtype)
    restore = _one_thread()
    try:
        launch(gemm_col2im_blocks, _FOUND[0][gy.dtype], gy.reshape(-1, f),
               w.reshape(-1, f), kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, per_block, scratch, dx)
    finally:
        restore()
    return dx


POOL_BLOCK_BYTES = 1 << 20   # a block's columns and conv output, at most (one core's cache)


def pool_images_per_block(n: int, rows: int, kk: int, f: int, dtype) -> int:
    """Images per block of conv_pool_blocks for n images of `rows` conv output pixels,
    kk taps and f filters: as many as fit POOL_BLOCK_BYTES, but at least enough for
    UNIFORM_MNK multiply-adds (row_blocks: OpenBLAS's one kernel for large products),
    and at most n; from the shapes alone, never the thread count (the bits would
    depend on it); 0 where products do not run here."""
    if not in_use() or np.dtype(dtype) not in _FOUND[0]:
        return 0
    per_image = rows * (kk + f) * np.dtype(dtype).itemsize
    return max(1, min(n, max(POOL_BLOCK_BYTES // per_image, -(-UNIFORM_MNK // (rows * kk * f)))))


def conv_pool_blocks(launch, x: np.ndarray, w: np.ndarray, geom, pgeom, per_block: int,
                     y: np.ndarray, arg: np.ndarray) -> None:
    """y, arg = the max pool of x's conv with w (KH, KW, C, F), `per_block` images at a
    time on each thread (gemm_pool_blocks). x, w C-contiguous; kw*c >= 16 (im2col_runs)."""
    sh, sw, pt, pl, dh, dw, oh, ow = geom
    ph, pw, psh, psw, ppt, ppl, _, _ = pgeom
    kh, kw, c, f = w.shape
    parts = max(1, min(threads(), -(-x.shape[0] // per_block)))
    cols = np.empty((parts, per_block * oh * ow, kh * kw * c), x.dtype)
    z = np.empty((parts, per_block, oh, ow, f), x.dtype)
    restore = _one_thread()
    try:
        launch(gemm_pool_blocks, _FOUND[0][x.dtype], x, w.reshape(-1, f), kh, kw, sh, sw, pt,
               pl, dh, dw, oh, ow, ph, pw, psh, psw, ppt, ppl, per_block, cols, z, y, arg)
    finally:
        restore()
