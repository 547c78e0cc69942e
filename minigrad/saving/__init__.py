"""Keras 3's `keras.saving`: save and load models (`.keras`, minigrad's `.npz`),
weights (`.weights.h5`, `.npz`), and the serialisation of objects with their
custom classes and functions (`register_keras_serializable`,
`custom_object_scope`, `serialize_keras_object` / `deserialize_keras_object`).

h5py (the `minigrad[keras]` extra) is imported only when a `.keras` or `.h5`
file is read or written.
"""
from .object_registration import (CustomObjectScope, custom_object_scope,  # noqa: F401
                                  get_custom_objects, get_registered_name,
                                  get_registered_object, register_keras_serializable)
from .saving_api import load_model, load_weights, save_model, save_weights  # noqa: F401
from .serialization_lib import deserialize_keras_object, serialize_keras_object  # noqa: F401
