"""Keras-style layers."""
from .base import Layer  # noqa: F401
from .core import (Activation, Conv2D, Dense, Dropout, Flatten,  # noqa: F401
                   MaxPooling2D, ReLU)
from .input_layer import Input, InputLayer  # noqa: F401
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply,  # noqa: F401
                      Subtract, add, average, concatenate, maximum, minimum, multiply,
                      subtract)

MaxPool2D = MaxPooling2D  # Keras's alias
Convolution2D = Conv2D
