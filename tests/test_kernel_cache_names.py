"""Numba's cache only watches a kernel's own source file: the CPU kernels carry a digest
of the code they inline from other files (the bodies, simd.py's intrinsics, kernels.py's
helpers) in their names, so an edit there compiles them anew instead of loading stale
machine code."""
from minigrad.backends import bodies
from minigrad.backends.cpu import blas
from minigrad.backends.cpu import kernels as K
from minigrad.backends.cpu import layer_kernels as LK
from minigrad.backends.cpu import simd


def test_an_edit_of_simd_changes_the_digest(tmp_path):
    edited = tmp_path / "simd.py"
    edited.write_bytes(open(simd.__file__, "rb").read() + b"\n# an edit\n")
    assert bodies.source_digest(simd.__file__) != bodies.source_digest(str(edited))
    assert bodies.source_digest(simd.__file__) != bodies.source_digest()


def test_kernels_carry_the_digest_of_what_they_inline_in_their_cache_names():
    digest = bodies.source_digest(simd.__file__, K.__file__)
    for kernel in (LK.conv_maxpool_few_taps, LK.maxpool2x2_conv_weight_grad16,
                   blas.gemm_pool_blocks, blas.gemm_col2im_blocks, K.im2col):
        assert kernel.py_func.__qualname__.endswith("_" + digest)
        assert kernel.serial.py_func.__qualname__.endswith("_" + digest)
