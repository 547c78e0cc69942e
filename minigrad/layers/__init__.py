"""Keras-style layers."""
from .base import Layer  # noqa: F401
from .core import (Activation, Conv2D, Dense, Dropout, Flatten, Input,  # noqa: F401
                   MaxPooling2D, ReLU)

MaxPool2D = MaxPooling2D  # Keras's alias
Convolution2D = Conv2D
