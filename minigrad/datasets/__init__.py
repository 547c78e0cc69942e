"""Datasets bundled with minigrad (readable without a network)."""
from . import mnist  # noqa: F401
