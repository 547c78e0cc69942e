"""Average pooling, NHWC (Keras's AveragePooling2D): the mean over each window's
in-bounds cells, so 'same' padding is not counted, as in Keras and TensorFlow."""
from __future__ import annotations

from ..tensor import Function, Tensor
from .checks import float_tensor
from .pool import pool2d_geometry


class AvgPool2DFn(Function):
    @staticmethod
    def forward(ctx, x, geom):
        ctx.x_shape, ctx.geom = x.shape, geom
        return ctx.backend.avgpool2d_forward(x, geom)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.avgpool2d_backward(g, ctx.x_shape, ctx.geom), None


def avg_pool2d(x, pool_size=(2, 2), stride=None, padding: str = "valid",
               name: str = "average_pooling2d") -> Tensor:
    """Mean over pool_size windows moved by stride (default: pool_size)."""
    x = float_tensor(x, name)
    return AvgPool2DFn.apply(x, pool2d_geometry(x.shape, pool_size, stride, padding, name))
