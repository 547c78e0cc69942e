"""The CPU backend: backend.py implements the contract on NumPy arrays with the
Numba kernels of kernels.py; buffers.py reuses large temporaries."""
from .backend import CPUBackend

BACKEND = CPUBackend()
