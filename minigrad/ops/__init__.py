"""Differentiable ops: each a Function with its forward and backward together.

An op asks its inputs' device for the backend (`ctx.backend`) and never imports
a backend itself. Importing this package also gives Tensor its activation
methods (`x.relu()`, see activations.py) and its elementwise comparisons.

As `keras.ops`, this one namespace holds the layer ops (conv2d, max_pool2d,
dense, softmax_cross_entropy, the activations) and Keras 3's array functions
(ones, matmul, mean, where, concatenate, argmax, cast, one_hot, ... in numpy.py),
all differentiable functions of Tensors where Keras's are.
"""
from ..tensor import Function, Tensor, no_grad  # noqa: F401
from .activations import (  # noqa: F401
    celu, elu, gelu, glu, hard_shrink, hard_sigmoid, hard_silu, hard_swish, hard_tanh,
    leaky_relu, log_sigmoid, log_softmax, mish, relu, relu6, selu, sigmoid, silu, soft_shrink,
    softmax, softplus, softsign, sparse_plus, sparse_sigmoid, sparsemax, squareplus, swish,
    tanh, tanh_shrink, threshold)
from . import normalization  # noqa: F401
from .conv import conv2d, conv2d_geometry, conv2d_maxpool  # noqa: F401
from .conv_transpose import conv2d_transpose  # noqa: F401
from .embedding import embedding  # noqa: F401
from . import indexing  # noqa: F401  (Tensor.__getitem__)
from .grouped_conv import depthwise_conv2d, grouped_conv2d  # noqa: F401
from .normalization import batch_normalization, layer_normalization  # noqa: F401
from .pooling import avg_pool2d  # noqa: F401
from .cross_entropy import softmax_cross_entropy  # noqa: F401
from .dense import dense  # noqa: F401
from .dropout import dropout  # noqa: F401
from .numpy import (abs, absolute, add, arange, argmax, argmin, array, cast,  # noqa: F401,A004
                    clip, concatenate, convert_to_tensor, divide, dot, equal, exp, expand_dims,
                    eye, full, greater, greater_equal, less, less_equal, log, logical_and,
                    logical_not, logical_or, matmul, max, maximum, mean, min, minimum,
                    multiply, negative, not_equal, one_hot, ones, ones_like, power, reshape,
                    shape, sign, sqrt, square, squeeze, stack, std, subtract, sum, transpose,
                    var, where, zeros, zeros_like)
from .pool import max_pool2d, pool2d_geometry  # noqa: F401


def flatten(x: Tensor) -> Tensor:
    """(N, d1, d2, ...) -> (N, d1*d2*...), the batch axis kept (Keras's Flatten)."""
    return x.flatten()
