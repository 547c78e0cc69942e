"""2-D max pooling, NHWC, as Keras's MaxPooling2D."""
from __future__ import annotations

from ..tensor import Function, Tensor, as_tensor
from ..utils import pair, padding_mode, same_or_valid


class MaxPool2D(Function):
    @staticmethod
    def forward(ctx, x, geom):
        ph, pw, sh, sw, pt, pl, oh, ow = geom
        y, arg = ctx.backend.maxpool2d_forward(x, ph, pw, sh, sw, pt, pl, oh, ow)
        ctx.save_for_backward(arg)  # the winners' positions, not x
        ctx.x_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.maxpool2d_backward(g, ctx.saved_tensors[0], ctx.x_shape), None


def max_pool2d(x, pool_size=(2, 2), stride=None, padding: str = "valid",
               name: str = "max_pooling2d") -> Tensor:
    """Max over pool_size windows moved by stride (default: pool_size).

    Ties go to the first element in row-major order; with 'same' padding the
    padded cells never win.
    """
    x = as_tensor(x)
    return MaxPool2D.apply(x, pool_geometry(x.shape, pool_size, stride, padding, name))


def pool_geometry(shape: tuple, pool_size, stride, padding: str, name: str) -> tuple:
    """Check max_pool2d's arguments; (ph, pw, sh, sw, pad_top, pad_left, oh, ow)."""
    ph, pw = pair(pool_size, "pool_size", name)
    sh, sw = pair(pool_size if stride is None else stride, "strides", name)
    padding = padding_mode(padding, name)
    if len(shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (batch, height, width, channels), "
                         f"got shape {tuple(shape)}")
    _, h, w, _ = shape
    oh, pt, _ = same_or_valid(h, ph, sh, 1, padding)
    ow, pl, _ = same_or_valid(w, pw, sw, 1, padding)
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: pool_size {(ph, pw)} is larger than the 'valid' input "
                         f"{(h, w)}")
    return ph, pw, sh, sw, pt, pl, oh, ow
