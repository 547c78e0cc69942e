"""2-D max pooling, NHWC, as Keras's MaxPooling2D."""
from __future__ import annotations

from ..backends.contract import PoolGeometry
from ..tensor import Function, Tensor
from ..utils import pair, padding_mode, same_or_valid
from .checks import float_tensor


def pool2d_geometry(input_shape, pool_size=(2, 2), strides=None, padding: str = "valid",
                    name: str = "max_pooling2d") -> PoolGeometry:
    """The output size and padding of a pool over an (N, H, W, C) input (strides
    default to pool_size): the one shape function behind layers.MaxPooling2D and
    ops.max_pool2d."""
    ph, pw = pair(pool_size, "pool_size", name)
    sh, sw = pair(pool_size if strides is None else strides, "strides", name)
    padding = padding_mode(padding, name)
    if len(input_shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (batch, height, width, channels), "
                         f"got shape {tuple(input_shape)}")
    _, h, w, _ = input_shape
    oh, pt, _ = same_or_valid(h, ph, sh, 1, padding)
    ow, pl, _ = same_or_valid(w, pw, sw, 1, padding)
    if any(n is not None and n < 1 for n in (oh, ow)):
        raise ValueError(f"{name}: pool_size {(ph, pw)} is larger than the 'valid' input "
                         f"{(h, w)}")
    return PoolGeometry(ph, pw, sh, sw, pt, pl, oh, ow)


class MaxPool2DFn(Function):
    @staticmethod
    def forward(ctx, x, geom):
        y, arg = ctx.backend.maxpool2d_forward(x, geom)
        ctx.save_for_backward(arg)  # the winners' positions, not x
        ctx.x_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.maxpool2d_backward(g, ctx.saved_tensors[0], ctx.x_shape), None


def max_pool2d(x, pool_size=(2, 2), stride=None, padding: str = "valid",
               name: str = "max_pooling2d") -> Tensor:
    """Max over pool_size windows moved by stride (default: pool_size).

    A NaN in a window wins (as in PyTorch), then ties go to the first element in
    row-major order; with 'same' padding the padded cells never win.
    """
    x = float_tensor(x, name)
    return MaxPool2DFn.apply(x, pool2d_geometry(x.shape, pool_size, stride, padding, name))
