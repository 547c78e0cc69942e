"""Keras's Embedding layer: integer ids -> rows of a learned (input_dim, output_dim)
matrix."""
from __future__ import annotations

from .. import initializers, ops, random
from .base import Layer
from .core import _positive_int


class _RandomUniform(initializers.Initializer):
    """U(-0.05, 0.05): Keras's 'uniform' (RandomUniform's defaults)."""

    def __call__(self, shape, dtype="float32"):
        return random.generator().uniform(-0.05, 0.05, shape).astype(dtype)


def _initializer(identifier, owner: str):
    if isinstance(identifier, str) and identifier.lower() in ("uniform", "random_uniform") \
            and identifier.lower() not in initializers.ALIASES:
        return _RandomUniform()
    return initializers.get(identifier, owner)


class Embedding(Layer):
    """(batch, ...) integer ids -> (batch, ..., output_dim); ids in [0, input_dim).
    The weight `embeddings` exists from construction (it does not depend on the
    input). Ids travel as the model's float dtype: exact below 2**24 in float32."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"Embedding {self.name!r}"
        self.input_dim = _positive_int(input_dim, "input_dim", owner)
        self.output_dim = _positive_int(output_dim, "output_dim", owner)
        if embeddings_regularizer is not None or embeddings_constraint is not None or mask_zero:
            raise ValueError(f"{owner}: embeddings_regularizer, embeddings_constraint and "
                             f"mask_zero=True are not supported by minigrad")
        self.embeddings_initializer = _initializer(embeddings_initializer, owner)
        self.embeddings = self.add_weight(name="embeddings",
                                          shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer)
        if weights is not None:
            self.set_weights(weights if isinstance(weights, list) else [weights])

    def build(self, input_shape):
        self._input_spec = (len(input_shape), {})  # any ids shape: the weight does not care

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def call(self, inputs):
        return ops.embedding(inputs, self.embeddings, name=f"Embedding {self.name!r}")

    def get_config(self):
        init = self.embeddings_initializer
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": "uniform" if isinstance(init, _RandomUniform)
                else initializers.serialize(init)}


