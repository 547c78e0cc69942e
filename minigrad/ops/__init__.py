"""Differentiable ops: each a Function with its forward and backward together.

An op asks its inputs' device for the backend (`ctx.backend`) and never imports
a backend itself. Importing this package also gives Tensor its activation
methods (`x.relu()`, see activations.py).
"""
from ..tensor import Function, Tensor, no_grad  # noqa: F401
from .activations import gelu, log_softmax, relu, sigmoid, softmax, tanh  # noqa: F401
from . import normalization  # noqa: F401
from .conv import conv2d, conv2d_geometry, conv2d_maxpool  # noqa: F401
from .conv_transpose import conv2d_transpose  # noqa: F401
from .embedding import embedding  # noqa: F401
from .grouped_conv import depthwise_conv2d, grouped_conv2d  # noqa: F401
from .normalization import batch_normalization, layer_normalization  # noqa: F401
from .pooling import avg_pool2d  # noqa: F401
from .cross_entropy import softmax_cross_entropy  # noqa: F401
from .dense import dense  # noqa: F401
from .dropout import dropout  # noqa: F401
from .merging import concatenate, maximum, minimum  # noqa: F401
from .pool import max_pool2d, pool2d_geometry  # noqa: F401


def flatten(x: Tensor) -> Tensor:
    """(N, d1, d2, ...) -> (N, d1*d2*...), the batch axis kept (Keras's Flatten)."""
    return x.flatten()
