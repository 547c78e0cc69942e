"""Launch geometry and stride bookkeeping for the CUDA kernels: pure functions of
shapes, so they are tested without a GPU (tests/cuda/test_launch.py runs in the
plain CPU suite)."""
from __future__ import annotations

MAXDIM = 6                 # rank limit of the strided/broadcast kernels
MAX_GRID_X = 2**31 - 1     # CUDA's limits on a grid's blocks per dimension
MAX_GRID_YZ = 65535


def grid_1d(n: int, threads_per_block: int) -> tuple:
    """(blocks, threads) of a 1-D launch covering n threads (n > 0)."""
    tpb = min(threads_per_block, n)
    blocks = -(-n // tpb)
    if blocks > MAX_GRID_X:
        raise ValueError(f"cuda backend: {n} elements are more than one launch covers "
                         f"({MAX_GRID_X} blocks of {tpb} threads)")
    return blocks, tpb


def matmul_grid(m: int, n: int, kdim: int, tile: int) -> tuple:
    """((blocks_x, 1, splits), (tile, tile), kchunk) for the tiled matmul of (m, kdim)
    @ (kdim, n) into `splits` partial products.

    The output tiles go on grid x, the one grid dimension with room for them (y
    and z stop at 65,535 blocks, and a Dense layer after a large Flatten has more
    than a million output columns): block b computes tile (b % tiles_m, b //
    tiles_m). Split-K goes on z: up to ~128 blocks when there are few output
    tiles but a long k (the conv weight gradient), each chunk at least 8 tiles deep.
    """
    tiles_m, tiles_n = -(-m // tile), -(-n // tile)
    blocks = tiles_m * tiles_n
    if blocks > MAX_GRID_X:
        raise ValueError(f"cuda backend: a ({m}, {kdim}) @ ({kdim}, {n}) product has "
                         f"{blocks} output tiles, more than one launch covers ({MAX_GRID_X})")
    splits = max(1, min(kdim // (8 * tile), 128 // max(1, blocks)))
    kchunk = -(-kdim // splits) if kdim else 0
    return (blocks, 1, splits), (tile, tile), kchunk


def element_strides(a) -> tuple:
    """a's strides in elements (device arrays report bytes)."""
    return tuple(s // a.dtype.itemsize for s in a.strides)


def padded(shape, strides) -> tuple:
    """(shape, strides) padded in front to MAXDIM (shape 1, stride 0), as ints."""
    nd = len(shape)
    if nd > MAXDIM:
        raise ValueError(f"cuda backend: arrays of rank {nd} are not supported "
                         f"(at most {MAXDIM})")
    pad = MAXDIM - nd
    return (1,) * pad + tuple(int(s) for s in shape), (0,) * pad + tuple(int(s) for s in strides)


def broadcast_strides(a, out_shape) -> tuple:
    """a's element strides as seen through broadcasting to out_shape (0 on broadcast axes)."""
    lead = len(out_shape) - a.ndim
    st = [0] * lead + [0 if d == 1 else s for d, s in zip(a.shape, element_strides(a))]
    return padded(out_shape, st)[1]
