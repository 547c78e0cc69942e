"""Keras-style layers."""
from .activation import ELU, LeakyReLU, PReLU, Softmax  # noqa: F401
from .attention import MultiHeadAttention  # noqa: F401
from .base import Layer  # noqa: F401
from .convolutional import Conv1D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D  # noqa: F401
from .core import (Activation, Conv2D, Dense, Dropout, Flatten,  # noqa: F401
                   MaxPooling2D, ReLU)
from .embedding import Embedding  # noqa: F401
from .input_layer import Input, InputLayer  # noqa: F401
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply,  # noqa: F401
                      Subtract, add, average, concatenate, maximum, minimum, multiply,
                      subtract)
from .normalization import BatchNormalization, LayerNormalization  # noqa: F401
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,  # noqa: F401
                      GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      MaxPooling1D)
from .preprocessing import Normalization, Rescaling  # noqa: F401
from .regularization import (ActivityRegularization, GaussianNoise,  # noqa: F401
                             SpatialDropout2D)
from .reshaping import (Cropping2D, Permute, RepeatVector, Reshape, UpSampling2D,  # noqa: F401
                        ZeroPadding2D)

# Keras's aliases
MaxPool2D = MaxPooling2D
Convolution2D = Conv2D
AvgPool2D = AveragePooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
Convolution1D = Conv1D
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution2D = SeparableConv2D


def serialize(layer) -> dict:
    """Keras 3's `keras.layers.serialize`: the layer in Keras's serialisation schema."""
    from ..saving.serialization_lib import serialize_keras_object
    return serialize_keras_object(layer)


def deserialize(config: dict, custom_objects: dict | None = None):
    """Keras 3's `keras.layers.deserialize`: a layer from `serialize`'s config."""
    from ..saving.serialization_lib import deserialize_keras_object
    layer = deserialize_keras_object(config, custom_objects)
    if not isinstance(layer, Layer):
        raise ValueError(f"layers.deserialize: the config describes a "
                         f"{type(layer).__name__}, not a layer: {config!r:.120}")
    return layer
