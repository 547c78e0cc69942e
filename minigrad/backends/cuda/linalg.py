"""numba-cuda kernels that share memory within a block: the tiled matmul and the
block sum reduction (conventions as in kernels.py)."""
import functools

import numba
import numpy as np
from numba import cuda

from .kernels import RED, TILE, _offset


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
        """c[z, p] = A[p][:, kz] @ B[p][kz, :] over the z-th chunk of k, for each matrix
        p of the batch (a, b: (batch, ., .)); A = a.T if ta, B = b.T if tb.

        Each block owns a TILE x TILE tile of one product's c (its place on grid
        x, see launch.matmul_grid; the product on grid y) and walks its k range a
        tile at a time: the threads load one tile of A and one of B into shared
        memory together, then each multiplies a row by a column from there, so
        every element read from global memory is used TILE times. blockIdx.z
        picks a chunk of k (split-K): with few output tiles (the weight gradient
        cols.T @ gy, whose k is batch*height*width) the chunks keep the GPU
        busy; each writes its own slice c[z], summed afterwards without races.
        """
        sa = cuda.shared.array((TILE, TILE), nbtype)
        sb = cuda.shared.array((TILE, TILE), nbtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        m = c.shape[2]
        n = c.shape[3]
        p = cuda.blockIdx.y
        tiles_m = (m + TILE - 1) // TILE  # every output tile on grid x (launch.matmul_grid)
        i = (cuda.blockIdx.x % tiles_m) * TILE + ty
        j = (cuda.blockIdx.x // tiles_m) * TILE + tx  # threadIdx.x along c's rows: coalesced
        z = cuda.blockIdx.z
        k0 = z * kchunk
        k1 = min(a.shape[1] if ta else a.shape[2], k0 + kchunk)
        acc = zero
        for t in range(k0, k1, TILE):
            ka = t + tx
            if i < m and ka < k1:
                sa[ty, tx] = a[p, ka, i] if ta else a[p, i, ka]
            else:
                sa[ty, tx] = 0
            kb = t + ty
            if j < n and kb < k1:
                sb[ty, tx] = b[p, j, kb] if tb else b[p, kb, j]
            else:
                sb[ty, tx] = 0
            cuda.syncthreads()
            for s in range(TILE):
                acc += sa[ty, s] * sb[s, tx]
            cuda.syncthreads()
        if i < m and j < n:
            c[z, p, i, j] = acc

    return matmul
