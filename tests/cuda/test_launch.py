"""The CUDA launch geometry (minigrad/backends/cuda/launch.py): pure functions, tested
without a GPU for shapes too large for the simulator."""
import numpy as np
import pytest

from minigrad.backends.cuda.launch import MAX_GRID_X, MAX_GRID_YZ, grid_1d, matmul_grid


def covered_tiles(grid, m, n, tile):
    """The output tiles the matmul kernel's blocks compute: block b -> (b % tiles_m,
    b // tiles_m), as kernels' matmul decodes blockIdx.x."""
    tiles_m = -(-m // tile)
    blocks = np.arange(grid[0])
    return set(zip((blocks % tiles_m).tolist(), (blocks // tiles_m).tolist()))


@pytest.mark.parametrize("m,n,k", [(128, 10, 1024),                 # a Dense layer
                                   (1, 1_048_577 * 16, 8),          # > 65,535 column tiles
                                   (100_000 * 16, 300 * 16, 64),    # > 65,535 row tiles
                                   (8, 8, 10_000_000),              # split-K
                                   (0, 5, 3), (5, 5, 0)])
@pytest.mark.parametrize("tile", [16, 4])
def test_matmul_grid_fits_cuda_limits_and_covers_every_tile(m, n, k, tile):
    grid, block, kchunk = matmul_grid(m, n, k, tile)
    assert block == (tile, tile)
    assert 0 <= grid[0] <= MAX_GRID_X and grid[1] == 1 and 1 <= grid[2] <= MAX_GRID_YZ
    tiles_m, tiles_n = -(-m // tile), -(-n // tile)
    assert grid[0] == tiles_m * tiles_n
    if grid[0] <= 1_000_000:  # every (row tile, column tile) exactly once
        assert covered_tiles(grid, m, n, tile) == \
            {(i, j) for i in range(tiles_m) for j in range(tiles_n)}
    assert kchunk * grid[2] >= k and (grid[2] == 1 or kchunk * (grid[2] - 1) < k)


def test_the_old_geometry_failed_where_this_one_launches():
    """A Dense layer's weight gradient after Flatten(128x128x64): the old grid put
    ~1.05 M column tiles on grid y (limit 65,535)."""
    n = 128 * 128 * 64  # 65,536 column tiles of 16
    grid, _, _ = matmul_grid(10, n, 128, 16)
    assert -(-n // 16) > MAX_GRID_YZ and grid[1] == 1 and grid[0] <= MAX_GRID_X


def test_too_many_tiles_is_a_clear_error():
    with pytest.raises(ValueError, match="output tiles"):
        matmul_grid(2**20 * 16, 2**12 * 16, 1, 16)


@pytest.mark.parametrize("n", [1, 255, 256, 257, 10**9])
def test_grid_1d(n):
    blocks, threads = grid_1d(n, 256)
    assert threads == min(256, n) and blocks * threads >= n > (blocks - 1) * threads
    with pytest.raises(ValueError):
        grid_1d(MAX_GRID_X * 256 + 1, 256)
