"""minigrad: a small, fast deep-learning framework on Numba kernels.

Keras-style models on top (`Sequential`, `layers`, `fit`), PyTorch-style
autograd underneath (`Tensor`, `Function`, `no_grad`).
"""
from . import (callbacks, datasets, initializers, layers, losses, metrics, ops,  # noqa: F401
               optimizers, random, testing)
from .models import Sequential, load_model  # noqa: F401
from .tensor import Function, Tensor, no_grad, tensor  # noqa: F401

__version__ = "0.1.0"
