"""Symbolic tensors and the record of layer calls: what a functional model is made of.

`Input(...)` gives a `KerasTensor`: a shape (None where unknown; the batch axis
first), a dtype and the layer call that produced it. Calling a layer on
KerasTensors builds the layer, computes the output shape and records a `Node`
(the layer, its arguments, its outputs) instead of computing anything; a
functional model is the graph of Nodes between its inputs and outputs, run
again on real Tensors by `Model.__call__`/`fit`.
"""
from __future__ import annotations

import collections

from .. import tree

KerasHistory = collections.namedtuple("KerasHistory", ["layer", "node_index", "tensor_index"])


class KerasTensor:
    """A symbolic tensor: shape (None for unknown sizes) and dtype, no data."""

    def __init__(self, shape, dtype: str = "float32", name: str | None = None):
        from .base import auto_name  # the layer naming counters ("keras_tensor", ...)
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = dtype
        self.name = name if name is not None else auto_name("keras_tensor")
        self._keras_history: KerasHistory | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def _unsupported(self, *args, **kwargs):
        raise TypeError(
            f"KerasTensor {self.name!r} is symbolic (an Input or a layer output in a "
            f"functional model): it holds no values and supports no arithmetic, indexing "
            f"or conversion. Combine symbolic tensors with layers: layers.Add(), "
            f"layers.Subtract(), layers.Multiply(), layers.Concatenate(), ...")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unsupported
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __pow__ = _unsupported
    __neg__ = __getitem__ = __iter__ = __len__ = __bool__ = __array__ = _unsupported
    __float__ = __int__ = _unsupported

    def numpy(self):
        self._unsupported()


def keras_tensors(structure) -> list:
    """The KerasTensors among the leaves of a nested structure."""
    return [x for x in tree.flatten(structure) if isinstance(x, KerasTensor)]


class Node:
    """One call of `layer` on symbolic arguments, and the KerasTensors it produced.

    A layer called several times (a shared layer) has several inbound nodes; an
    output tensor's `_keras_history` says which layer, which of its nodes and
    which of that node's outputs made it.
    """

    def __init__(self, layer, call_args: tuple = (), call_kwargs: dict | None = None,
                 outputs=None):
        self.layer = layer
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs or {})
        self.input_tensors = keras_tensors((self.call_args, self.call_kwargs))
        self.outputs = [] if outputs is None else tree.flatten(outputs)
        self.is_input = not self.input_tensors
        layer._inbound_nodes.append(self)
        for x in self.input_tensors:
            if x._keras_history is not None:
                x._keras_history.layer._outbound_nodes.append(self)
        index = len(layer._inbound_nodes) - 1
        for i, x in enumerate(self.outputs):
            x._keras_history = KerasHistory(layer, index, i)

    @property
    def parent_nodes(self) -> list:
        return [h.layer._inbound_nodes[h.node_index]
                for h in (x._keras_history for x in self.input_tensors) if h is not None]

    def fill_in(self, values: dict) -> tuple:
        """The call's (args, kwargs) with each KerasTensor replaced by values[id(tensor)]."""
        def fill(x):
            return values[id(x)] if isinstance(x, KerasTensor) else x
        return tree.map_structure(fill, self.call_args), tree.map_structure(fill, self.call_kwargs)

    def __repr__(self) -> str:
        return f"<Node layer={self.layer.name}, id={id(self)}>"
