"""minigrad: a small, fast deep-learning framework on Numba kernels.

Keras-style models on top (`Sequential`, `Model`, `Input`, `layers`, `fit`), PyTorch-style
autograd underneath (`Tensor`, `Function`, `no_grad`).
"""
import os as _os

import numba as _numba

# Numba's own 'workqueue' thread pool, not OpenMP: OpenMP's idle threads spin,
# and beside OpenBLAS's spinning threads on a busy 2-core machine a training
# step ran 30x slower (benchmarks/README.md). Set NUMBA_THREADING_LAYER to override.
if "NUMBA_THREADING_LAYER" not in _os.environ:
    _numba.config.THREADING_LAYER = "workqueue"

from . import (activations, callbacks, datasets, distribution, initializers,  # noqa: F401
               layers, losses, metrics, ops, optimizers, random, regularizers, testing, tree,
               utils)
from .layers import Input  # noqa: F401
from .models import Model, Sequential, load_model, save_model  # noqa: F401
from . import saving  # noqa: F401
from .tensor import Function, Tensor, no_grad, tensor  # noqa: F401
from .variables import Variable  # noqa: F401

__version__ = "0.1.0"
