"""Zero padding and cropping (each the other's gradient), and upsampling by integer
factors: nearest as a broadcast, bilinear as two small interpolation matrices
(Keras's resize: half-pixel centres, no antialiasing, edges clamped)."""
from __future__ import annotations

import numpy as np

from ..tensor import Function, Tensor
from .checks import float_tensor


class PadFn(Function):
    @staticmethod
    def forward(ctx, x, widths):
        ctx.widths = widths
        return ctx.backend.pad(x, widths)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.crop(g, ctx.widths), None


class CropFn(Function):
    @staticmethod
    def forward(ctx, x, widths):
        ctx.widths = widths
        return ctx.backend.crop(x, widths)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.pad(g, ctx.widths), None


def _widths(x: Tensor, widths, name: str) -> tuple:
    widths = tuple((int(b), int(e)) for b, e in widths)
    if len(widths) != x.ndim or any(b < 0 or e < 0 for b, e in widths):
        raise ValueError(f"{name}: expected {x.ndim} pairs of non-negative widths, got "
                         f"{widths}")
    return widths


def pad(x, widths, name: str = "pad") -> Tensor:
    """x with zeros added, widths ((before, after), ...) per axis."""
    x = float_tensor(x, name)
    return PadFn.apply(x, _widths(x, widths, name))


def crop(x, widths, name: str = "crop") -> Tensor:
    """x without widths ((before, after), ...) elements at the ends of each axis."""
    x = float_tensor(x, name)
    widths = _widths(x, widths, name)
    if any(b + e >= n for (b, e), n in zip(widths, x.shape)):
        raise ValueError(f"{name}: cropping {widths} leaves nothing of shape {x.shape}")
    return CropFn.apply(x, widths)


def upsample_nearest(x: Tensor, size: tuple) -> Tensor:
    """(N, H, W, C) -> (N, H*sh, W*sw, C), each pixel repeated (a broadcast multiply,
    whose gradient sums each block back)."""
    n, h, w, c = x.shape
    sh, sw = size
    ones = np.ones((1, 1, sh, 1, sw, 1), x.dtype)
    return (x.reshape(n, h, 1, w, 1, c) * ones).reshape(n, h * sh, w * sw, c)


def linear_resize_matrix(n: int, scale: int, dtype) -> np.ndarray:
    """(n * scale, n): row i interpolates output i from the input (triangle weights at
    the half-pixel centre (i + 0.5) / scale - 0.5, renormalised at the edges)."""
    src = (np.arange(n * scale) + 0.5) / scale - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(src[:, None] - np.arange(n)[None, :]))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(dtype)


def upsample_bilinear(x: Tensor, size: tuple) -> Tensor:
    """(N, H, W, C) -> (N, H*sh, W*sw, C), bilinear: a matrix along H, then along W."""
    n, h, w, c = x.shape
    sh, sw = size
    rows = Tensor(linear_resize_matrix(h, sh, x.dtype), device=x.device)
    cols = Tensor(linear_resize_matrix(w, sw, x.dtype), device=x.device)
    t = rows @ x.transpose(1, 0, 2, 3).reshape(h, n * w * c)             # (H', N*W*C)
    t = t.reshape(h * sh, n, w, c).transpose(2, 1, 0, 3).reshape(w, -1)  # (W, N*H'*C)
    t = (cols @ t).reshape(w * sw, n, h * sh, c)                         # (W', N, H', C)
    return t.transpose(1, 2, 0, 3)
