"""minigrad: a small, fast deep-learning framework on Numba kernels.

Keras-style models on top (`Sequential`, `Model`, `Input`, `layers`, `fit`), PyTorch-style
autograd underneath (`Tensor`, `Function`, `no_grad`).
"""
import os as _os

import numba as _numba

from .backends.cpu import blas as _blas

# One thread pool: the CPU backend runs its matrix products on Numba's threads, OpenBLAS
# held at one thread (backends/cpu/blas.py), so Numba's pool can be OpenMP's, whose
# threads wake fastest (README, "CPU threads"). Without those products (another BLAS)
# OpenBLAS's threads would spin beside OpenMP's (30x slower on a busy 2-core machine):
# Numba's workqueue pool then, as before. Set NUMBA_THREADING_LAYER to override.
if "NUMBA_THREADING_LAYER" not in _os.environ:
    _numba.config.THREADING_LAYER = "omp" if _blas.AVAILABLE and _blas.omp_loads() else \
        "workqueue"

from . import (activations, callbacks, datasets, distribution, initializers,  # noqa: F401
               layers, losses, metrics, ops, optimizers, random, regularizers, testing, tree,
               utils)
from .layers import Input  # noqa: F401
from .models import Model, Sequential, load_model, save_model  # noqa: F401
from . import saving  # noqa: F401
from .tensor import Function, Tensor, no_grad, tensor  # noqa: F401
from .variables import Variable  # noqa: F401

__version__ = "0.1.0"
