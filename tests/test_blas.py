"""The CPU backend's matrix products on Numba's threads (backends/cpu/blas.py): NumPy's
bits, whatever the number of row blocks, OpenBLAS's thread count left as it was, and
NumPy's matmul wherever a product cannot be split."""
from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from minigrad.backends import get_backend
from minigrad.backends.cpu import blas

B = get_backend("cpu")
needs_split = pytest.mark.skipif(not blas.AVAILABLE,
                                 reason="NumPy's BLAS is not OpenBLAS with 64-bit CBLAS")


@pytest.fixture
def split(monkeypatch):
    """The products split whatever Numba's pool (OpenMP's where minigrad chose it)."""
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "omp")
    assert blas.in_use()


@needs_split
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(2048, 9, 32), (5001, 288, 64), (4099, 64, 288)])
def test_products_have_numpys_bits_for_any_number_of_blocks(dtype, m, k, n, rng, split):
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    want = np.matmul(a, b)
    np.testing.assert_array_equal(blas.product(B._launch, a, b, np.empty_like(want)), want)
    np.testing.assert_array_equal(blas.product(B._launch, a, np.asfortranarray(b)), want)
    got_tn = blas.product_tn(B._launch, a, g)
    # a.T @ g sums over m rows: NumPy's (OpenBLAS on its threads) rounds otherwise
    np.testing.assert_allclose(got_tn, a.astype(np.float64).T @ g.astype(np.float64),
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-10)
    address = blas._FOUND[0][np.dtype(dtype)]
    restore = blas._one_thread()
    try:
        for blocks in (1, 2, 3, 7):   # as with 1, 2, 3 or 7 threads: the same bits
            out, out_tn = np.empty_like(want), np.empty_like(got_tn)
            blas.gemm_row_blocks(address, a, b, out, False, blocks)
            blas.gemm_row_blocks(address, a, g, out_tn, True, blocks)
            np.testing.assert_array_equal(out, want)
            np.testing.assert_array_equal(out_tn, got_tn)
    finally:
        restore()


@needs_split
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(20001, 27, 32), (9000, 288, 64)])
def test_a_tall_weight_gradient_sums_fixed_chunks_whatever_the_blocks(dtype, m, k, n, rng,
                                                                      split):
    """a.T @ g over many rows (a conv's weight gradient) adds the products of a fixed
    number of row chunks, in order: each chunk's product is OpenBLAS's own, and the
    bits do not depend on the thread count."""
    a = rng.standard_normal((m, k)).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    chunks = blas.inner_chunks(m)
    assert chunks == (4 if m > 16384 else 2)
    got = blas.product_tn(B._launch, a, g)
    per = -(-m // chunks)
    want = np.zeros((k, n), dtype)
    for s in range(chunks):   # NumPy's product of each chunk, added in order
        want += a[s * per:(s + 1) * per].T @ g[s * per:(s + 1) * per]
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-13,
                               atol=1e-4 if dtype == np.float32 else 1e-11)
    np.testing.assert_allclose(got, a.astype(np.float64).T @ g.astype(np.float64),
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-10)
    for threads in (1, numba.config.NUMBA_NUM_THREADS):   # one call per chunk, whatever the threads
        numba.set_num_threads(threads)
        try:
            np.testing.assert_array_equal(blas.product_tn(B._launch, a, g), got)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@needs_split
@pytest.mark.parametrize("threads", [2, 3, 7, 64])
def test_no_row_block_is_small_enough_for_openblass_other_kernels(threads, rng, split,
                                                                  monkeypatch):
    """OpenBLAS rounds small products otherwise (its small-matrix and direct kernels):
    with many threads, blocks of a few rows changed the bits (9 output rows in 7
    blocks of a.T @ g; 3000 rows of a @ b in 7 blocks of 429)."""
    a = rng.standard_normal((4000, 9)).astype(np.float32)
    g = rng.standard_normal((4000, 32)).astype(np.float32)
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    w = rng.standard_normal((64, 40)).astype(np.float32)
    monkeypatch.setattr(blas, "threads", lambda: 1)
    tn, nn = blas.product_tn(B._launch, a, g), blas.product(B._launch, x, w)
    monkeypatch.setattr(blas, "threads", lambda: threads)
    np.testing.assert_array_equal(blas.product_tn(B._launch, a, g), tn)
    np.testing.assert_array_equal(blas.product(B._launch, x, w), nn)
    assert blas.row_blocks(3000, 40, 64) == 1
    assert blas.row_blocks(12800, 64, 288) == min(threads, 28)


def test_inner_chunks_come_from_the_shape_alone():
    assert [blas.inner_chunks(m) for m in (255, 8191, 8192, 16383, 16384, 10 ** 7)] == \
        [1, 1, 2, 2, 4, blas.MAX_INNER_CHUNKS]


@needs_split
def test_a_dry_run_for_larger_batches_notes_the_chunked_product(rng, split):
    """Warmup's dry batch of 2 images stands for larger ones, whose weight gradients
    take gemm_tn_chunks: it is noted too, so it compiles ahead; a dry run of the real
    batch notes only what that batch runs."""
    from minigrad.backends.cpu import compile_ahead
    a = rng.standard_normal((18, 27)).astype(np.float32)
    g = rng.standard_normal((18, 32)).astype(np.float32)
    for for_larger in (True, False):
        with compile_ahead.dry_run(for_larger) as noted:
            blas.product_tn(B._launch, a, g)
        builds = {getattr(b, "py_func", b) for b, _ in noted}
        assert (blas.gemm_tn_chunks.py_func in builds) == for_larger
        assert blas.gemm_row_blocks.py_func in builds


@needs_split
def test_openblas_keeps_its_thread_count(rng, split):
    _, setter, getter = blas._FOUND
    before = getter()
    try:
        setter(2)
        a = rng.standard_normal((4096, 32)).astype(np.float32)
        blas.product(B._launch, a, a.T[:, :16].copy())
        blas.product_tn(B._launch, a, a)
        assert getter() == 2
    finally:
        setter(before)


def test_what_cannot_be_split_goes_to_numpy(rng, monkeypatch, split):
    launched = []
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: launched.append(kernel))
    small = rng.standard_normal((100, 8)).astype(np.float32)
    mixed = rng.standard_normal((3000, 8))
    cases = [(small, small.T), (mixed, small.T),               # few rows; float64 @ float32
             (mixed.astype(np.int64), mixed.T.astype(np.int64))]
    for a, b in cases:
        np.testing.assert_array_equal(blas.product(B._launch, a, b), np.matmul(a, b))
    big = rng.standard_normal((3000, 8)).astype(np.float32)
    for a, b, out in [(big, big, None), (big, big.T, np.empty((3000, 2999), np.float32))]:
        with pytest.raises(ValueError):                       # NumPy's own errors
            blas.product(B._launch, a, b, out)
    wider = blas.product(B._launch, big, big.T, np.empty((3000, 3000), np.float64))
    np.testing.assert_array_equal(wider, np.matmul(big, big.T, out=np.empty((3000, 3000))))
    with pytest.raises(ValueError):
        blas.product_tn(B._launch, big, big[:2999])
    batched = rng.standard_normal((3, 2500, 4)).astype(np.float32)
    np.testing.assert_array_equal(B.batched_matmul(batched, batched.transpose(0, 2, 1)),
                                  np.matmul(batched, batched.transpose(0, 2, 1)))
    assert launched == []
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "workqueue")
    big = rng.standard_normal((5000, 8)).astype(np.float32)
    assert not blas.in_use()
    np.testing.assert_array_equal(blas.product(B._launch, big, big.T[:, :3].copy()),
                                  big @ big.T[:, :3])
    assert launched == []


@needs_split
def test_conv_training_takes_the_split_products(rng, monkeypatch, split):
    import minigrad as mg
    launched = []
    real = B._launch
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                          real(kernel, *a)))
    x = mg.Tensor(rng.standard_normal((64, 12, 12, 8)).astype(np.float32))
    w = mg.Tensor(rng.standard_normal((3, 3, 8, 16)).astype(np.float32), requires_grad=True)
    mg.ops.conv2d(x, w).sum().backward()
    assert launched.count(blas.gemm_row_blocks) >= 2     # forward and weight gradient


def test_minigrad_chooses_openmp_where_the_products_split():
    """Without NUMBA_THREADING_LAYER set: OpenMP's pool where blas.py and OpenMP load,
    else workqueue's (OpenMP's spinning threads beside OpenBLAS's: 30x slower busy)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", "import minigrad, numba; "
                          "from minigrad.backends.cpu import blas; "
                          "print(numba.config.THREADING_LAYER, blas.AVAILABLE and "
                          "blas.omp_loads())"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["omp", "True"] or out == ["workqueue", "False"], out


@needs_split
def test_predicts_blocks_of_images_split_their_products(rng, monkeypatch, split):
    """Predict goes through convs a block of images at a time (layer_ops'
    INFERENCE_BLOCK_BYTES); a deeper conv's block has ~1,300 rows. Below MIN_ROWS they
    ran on one OpenBLAS thread and convnet3's predict lost a third."""
    import minigrad as mg
    launched = []
    real = B._launch
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                          real(kernel, *a)))
    from minigrad.backends.cpu import layer_ops
    monkeypatch.setattr(layer_ops, "POOL_BLOCKS", False)   # (on: gemm_pool_blocks, below)
    x = rng.standard_normal((20, 16, 16, 64)).astype(np.float32)
    w = rng.standard_normal((3, 3, 64, 128)).astype(np.float32)
    with mg.no_grad():
        y = mg.ops.conv2d_maxpool(mg.Tensor(x), mg.Tensor(w), padding="same").numpy()
    assert launched.count(blas.gemm_row_blocks) >= 2          # more than one block, each split
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "workqueue")
    with mg.no_grad():
        want = mg.ops.conv2d_maxpool(mg.Tensor(x), mg.Tensor(w), padding="same").numpy()
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("rows,dtype", [(7, np.float32), (300, np.float32),
                                        (20000, np.float32), (300, np.float64)])
def test_matmul_tn_is_a_transposed_product_without_a_copy(rows, dtype, rng, monkeypatch):
    """B.matmul_tn(a, b) = a.T @ b (NumPy below MIN_ROWS rows, row blocks, or chunks of
    the rows from 2 * INNER_CHUNK_ROWS), against float64, with no transposed copy of a:
    Dense's and matmul's weight gradients take it."""
    import minigrad as mg
    a = rng.standard_normal((rows, 24)).astype(dtype)
    b = rng.standard_normal((rows, 10)).astype(dtype)
    monkeypatch.setattr(B, "transpose", lambda *args: pytest.fail("a transposed copy"))
    got = B.matmul_tn(a, b)
    assert got.dtype == dtype and got.shape == (24, 10)
    np.testing.assert_allclose(got, a.astype(float).T @ b.astype(float),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-3)
    x = mg.Tensor(a[:50])   # no input gradient: its product transposes w
    w = mg.Tensor(rng.standard_normal((24, 10)).astype(dtype), requires_grad=True)
    (mg.ops.dense(x, w) * mg.Tensor(b[:50])).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), a[:50].astype(float).T @ b[:50].astype(float),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4)


@needs_split
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,dtype", [
    ((12, 16, 16, 8), (3, 3, 8, 16), 1, "same", 1, np.float32),
    ((9, 13, 11, 4), (3, 2, 4, 8), 2, "valid", 1, np.float32),
    ((10, 12, 12, 3), (3, 3, 3, 8), 1, "same", 2, np.float32),
    ((8, 11, 11, 4), (2, 2, 4, 6), 1, "valid", 1, np.float64)])
def test_conv_input_gradient_by_blocks_of_images_has_the_whole_products_bits(
        x_shape, w_shape, stride, padding, dilation, dtype, rng, monkeypatch, split):
    """layer_ops' conv2d_backward_input by blocks of images (blas.gemm_col2im_blocks,
    the blocks' columns in per-thread scratch) against the whole product then col2im:
    the same bits, blocks of one image or several (a last block short), any geometry."""
    import minigrad as mg
    from minigrad.backends.cpu import layer_ops
    geom = mg.ops.conv2d_geometry(x_shape, w_shape[:2], stride, padding, dilation, "conv")
    gy = rng.standard_normal((x_shape[0], geom.oh, geom.ow, w_shape[3])).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    monkeypatch.setattr(layer_ops, "INPUT_GRAD_BLOCKS", False)
    want = B.conv2d_backward_input(gy, w, x_shape, geom).copy()
    monkeypatch.setattr(layer_ops, "INPUT_GRAD_BLOCKS", True)
    for block_rows in (1, 3 * geom.oh * geom.ow):   # one image per block; three
        monkeypatch.setattr(blas, "COL2IM_BLOCK_ROWS", block_rows)
        launched = []
        real = B._launch
        monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                              real(kernel, *a)))
        got = B.conv2d_backward_input(gy, w, x_shape, geom)
        monkeypatch.setattr(B, "_launch", real)
        assert launched == [blas.gemm_col2im_blocks]
        np.testing.assert_array_equal(got, want)


@needs_split
def test_conv_input_gradient_keeps_the_whole_product_where_blocks_would_not_fit(
        rng, monkeypatch, split):
    """Too few images for a block per thread, or a block's columns over
    COL2IM_BLOCK_BYTES: the whole product and col2im."""
    import minigrad as mg
    geom = mg.ops.conv2d_geometry((1, 40, 40, 8), (3, 3), 1, "same", 1, "conv")
    gy = rng.standard_normal((1, 40, 40, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    monkeypatch.setattr(blas, "threads", lambda: 2)
    assert blas.images_per_block(1, 1600, 72, np.float32) == 0      # one image, two threads
    assert blas.images_per_block(8, 1600, 72, np.float32) == 1
    assert blas.images_per_block(64, 100, 288, np.float32) == 6     # 600 rows a block
    assert blas.images_per_block(8, 10000, 288, np.float32) == 0    # 11.5 MB a block
    launched = []
    real = B._launch
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                          real(kernel, *a)))
    B.conv2d_backward_input(gy, w, (1, 40, 40, 8), geom)
    assert blas.gemm_col2im_blocks not in launched


@needs_split
def test_warmups_dry_batch_notes_the_blocked_input_gradient_for_larger_batches(split):
    """Warmup's dry run on 2 images stands for larger batches: it notes the blocked
    kernel they take as well as the whole product's (a cold first step then compiles
    neither); the first step's own dry run, on the real batch, notes only its own."""
    import minigrad as mg
    from minigrad.backends.cpu import compile_ahead, kernels as K
    geom = mg.ops.conv2d_geometry((2, 13, 13, 32), (3, 3), 1, "valid", 1, "conv")
    gy = np.ones((2, geom.oh, geom.ow, 64), np.float32)
    w = np.ones((3, 3, 32, 64), np.float32)
    for for_larger, want in ((True, [blas.gemm_col2im_blocks, blas.gemm_row_blocks, K.col2im]),
                             (False, [blas.gemm_row_blocks, K.col2im])):
        with compile_ahead.dry_run(for_larger_batches=for_larger) as noted:
            B.conv2d_backward_input(gy, w, (2, 13, 13, 32), geom)
        assert [kernel for kernel, _ in noted] == want


@needs_split
def test_the_blocked_input_gradients_serial_build_gives_the_same_bits(rng, split):
    """A cold start runs a kernel's serial build while the forked copy compiles the
    parallel one (compile_ahead.py): gemm_col2im_blocks.serial, on every share of
    blocks, gives the parallel build's bits (it once indexed its scratch by
    numba.get_thread_id(), which the serial build has no pool to answer)."""
    import minigrad as mg
    x_shape = (7, 10, 10, 4)
    geom = mg.ops.conv2d_geometry(x_shape, (3, 3), 1, "same", 1, "conv")
    gy = rng.standard_normal((7, 10, 10, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4, 8)).astype(np.float32)
    args = (blas._FOUND[0][gy.dtype], gy.reshape(-1, 8), w.reshape(-1, 8), 3, 3, *geom, 2)
    out = []
    restore = blas._one_thread()
    try:
        for build in (blas.gemm_col2im_blocks, blas.gemm_col2im_blocks.serial):
            dx = np.full(x_shape, np.nan, np.float32)
            build(*args, np.empty((3, 200, 36), np.float32), dx)   # 3 shares of 4 blocks
            out.append(dx)
    finally:
        restore()
    np.testing.assert_array_equal(out[0], out[1])
    from minigrad.backends.cpu import layer_ops
    layer_ops.INPUT_GRAD_BLOCKS = False
    try:
        np.testing.assert_array_equal(out[0], B.conv2d_backward_input(gy, w, x_shape, geom))
    finally:
        layer_ops.INPUT_GRAD_BLOCKS = True


def _conv_pool(x, w, stride, padding, dilation, pool, pool_stride, pool_padding):
    import minigrad as mg
    with mg.no_grad():
        return mg.ops.conv2d_maxpool(mg.Tensor(x), mg.Tensor(w), stride=stride, padding=padding,
                                     dilation=dilation, pool_size=pool,
                                     pool_stride=pool_stride, pool_padding=pool_padding).numpy()


@needs_split
@pytest.mark.parametrize("n", [1, 7, 40])
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,pool,dtype", [
    ((13, 13, 32), (3, 3, 32, 64), 1, "valid", 1, (2, 2, "valid"), np.float32),  # MNIST conv2
    ((16, 16, 16), (3, 3, 16, 24), 1, "same", 1, (2, 2, "valid"), np.float32),
    ((15, 14, 8), (3, 2, 8, 16), 2, "valid", 1, (3, 2, "same"), np.float32),
    ((14, 14, 8), (3, 3, 8, 8), 1, "same", 2, (2, 1, "valid"), np.float64)])
def test_inference_conv_pool_by_blocks_per_thread_has_the_old_ways_bits(
        n, x_shape, w_shape, stride, padding, dilation, pool, dtype, rng, monkeypatch, split):
    """Predict's conv + max pool, each thread im2col, product and pool on blocks of its
    own (blas.gemm_pool_blocks), against the old way (im2col, the split product and
    maxpool_forward over blocks of images, each a launch): the same values and args,
    NaN inputs winning their windows alike."""
    from minigrad.backends.cpu import layer_ops
    x = rng.standard_normal((n, *x_shape)).astype(dtype)
    x[0, 3, 4, :] = np.nan
    w = rng.standard_normal(w_shape).astype(dtype)
    args = (x, w, stride, padding, dilation, pool[0], pool[1], pool[2])
    monkeypatch.setattr(layer_ops, "POOL_BLOCKS", False)
    want = _conv_pool(*args)
    monkeypatch.setattr(layer_ops, "POOL_BLOCKS", True)
    launched = []
    real = B._launch
    monkeypatch.setattr(B, "_launch", lambda kernel, *a: (launched.append(kernel),
                                                          real(kernel, *a)))
    got = _conv_pool(*args)
    assert launched[0] is blas.gemm_pool_blocks
    assert np.isnan(got).any()
    np.testing.assert_array_equal(got, want)


@needs_split
def test_conv_pool_blocks_come_from_the_shapes_and_give_the_same_bits_on_any_threads(
        rng, monkeypatch, split):
    """Images per block from the shapes alone (POOL_BLOCK_BYTES, at least UNIFORM_MNK
    multiply-adds, at most the batch), never the thread count; one thread or all,
    and the serial build (a cold start's), give the same bits."""
    for threads in (1, 2, 64):
        with monkeypatch.context() as m:
            m.setattr(blas, "threads", lambda: threads)
            assert blas.pool_images_per_block(1000, 121, 288, 64, np.float32) == 6  # 1 MB
            assert blas.pool_images_per_block(1000, 676, 9, 32, np.float32) == 44  # MNK
            assert blas.pool_images_per_block(500, 16, 32, 16, np.float32) == 500  # batch
            assert blas.pool_images_per_block(3, 121, 288, 64, np.float32) == 3
    x = rng.standard_normal((29, 13, 13, 32)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 64)).astype(np.float32)
    out = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            out.append(_conv_pool(x, w, 1, "valid", 1, 2, 2, "valid"))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(out[0], out[1])
    import minigrad as mg
    geom = mg.ops.conv2d_geometry(x.shape, (3, 3), 1, "valid", 1, "conv")
    y, arg = np.empty((29, 5, 5, 64), np.float32), np.empty((29, 5, 5, 64), np.int32)
    restore = blas._one_thread()
    try:
        blas.gemm_pool_blocks.serial(
            blas._FOUND[0][x.dtype], x, w.reshape(-1, 64), 3, 3, *geom, 2, 2, 2, 2, 0, 0, 6,
            np.empty((3, 6 * 121, 288), np.float32), np.empty((3, 6, 11, 11, 64), np.float32),
            y, arg)   # three shares of five blocks
    finally:
        restore()
    np.testing.assert_array_equal(y, out[0])
