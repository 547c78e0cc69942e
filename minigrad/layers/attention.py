"""Keras 3's MultiHeadAttention: its signature, call signature and weight shapes.

The query, key and value are projected per head by kernels (dim, num_heads,
key_dim|value_dim) and biases (num_heads, key_dim|value_dim); the heads'
outputs by a kernel (num_heads, value_dim, *output_shape). Attention runs over
`attention_axes` (default: every axis but the batch and the features), the
other axes and the heads acting as batch axes: the scores of all of them are
one batched matrix product of (rows, Tq, key_dim) by (rows, key_dim, Tk).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import initializers, ops
from ..ops.attention import batched_matmul
from ..tensor import Tensor
from .activation import masked_softmax
from .base import Layer


def _positive(value, arg: str, owner: str, none_ok: bool = False):
    if value is None and none_ok:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: `{arg}` must be a positive int{' or None' if none_ok else ''}"
                         f", got {value!r}")
    return int(value)


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


class MultiHeadAttention(Layer):
    """`mha(query, value, key=None, attention_mask=None, return_attention_scores=False,
    training=None, use_causal_mask=False)` -> output (batch, *query_positions,
    *output_shape) [, scores (batch, *other_axes, num_heads, *query_attention_positions,
    *key_attention_positions)]."""

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 dropout: float = 0.0, use_bias: bool = True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate: bool = False, seed=None, flash_attention=None, sliding_window=None,
                 **kwargs):
        super().__init__(**kwargs)
        o = self._owner = f"MultiHeadAttention {self.name!r}"
        self.num_heads = _positive(num_heads, "num_heads", o)
        self.key_dim = _positive(key_dim, "key_dim", o)
        self.value_dim = _positive(value_dim, "value_dim", o, none_ok=True) or self.key_dim
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or \
                not 0 <= dropout < 1:
            raise ValueError(f"{o}: `dropout` must be a float in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        if not isinstance(use_bias, bool):
            raise TypeError(f"{o}: `use_bias` must be a bool, got {use_bias!r}")
        self.use_bias = use_bias
        if isinstance(output_shape, numbers.Integral):
            output_shape = (output_shape,)
        self.output_shape_arg = None if not output_shape else tuple(
            _positive(s, "output_shape", o) for s in output_shape)
        if isinstance(attention_axes, numbers.Integral):
            attention_axes = (attention_axes,)
        if attention_axes is not None and not all(
                isinstance(a, numbers.Integral) and not isinstance(a, bool)
                for a in attention_axes):
            raise ValueError(f"{o}: `attention_axes` must be None, an int, or a list/tuple "
                             f"of ints, got {attention_axes!r}")
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)
        for arg, value in (("kernel_regularizer", kernel_regularizer),
                           ("bias_regularizer", bias_regularizer),
                           ("activity_regularizer", activity_regularizer),
                           ("kernel_constraint", kernel_constraint),
                           ("bias_constraint", bias_constraint),
                           ("sliding_window", sliding_window)):
            if value is not None:
                raise ValueError(f"{o}: `{arg}` is not supported by minigrad; got {value!r} "
                                 f"(expected None)")
        if use_gate or flash_attention:
            raise ValueError(f"{o}: use_gate=True and flash_attention=True are not supported "
                             f"by minigrad")
        self.kernel_initializer = initializers.get(kernel_initializer, o)
        self.bias_initializer = initializers.get(bias_initializer, o)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._axes = None

    # --------------------------------------------------------------- weights
    def build(self, query_shape, value_shape=None, key_shape=None):
        """Weights for these shapes (batch axis included); value and key default to
        the query's."""
        o = self._owner
        query_shape = tuple(query_shape)
        value_shape = query_shape if value_shape is None else tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(f"{o}: `value` and `key` must match in every axis but the last, "
                             f"got value shape {value_shape} and key shape {key_shape}")
        rank = len(query_shape)
        if rank < 3 or len(value_shape) != rank:
            raise ValueError(f"{o}: expected `query` and `value` of one rank >= 3 (batch, "
                             f"positions..., features), got shapes {query_shape} and "
                             f"{value_shape}")
        axes = tuple(range(1, rank - 1)) if self.attention_axes is None else tuple(
            a if a >= 0 else rank + a for a in self.attention_axes)
        if not axes or any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"{o}: `attention_axes` {self.attention_axes} must name distinct "
                             f"axes among the positions 1..{rank - 2} of inputs of rank {rank}")
        self._axes = tuple(sorted(axes))
        self._value_shape = value_shape
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        out = self.output_shape_arg or (query_shape[-1],)
        for part, dim, size in (("query", query_shape[-1], kd), ("key", key_shape[-1], kd),
                                ("value", value_shape[-1], vd)):
            setattr(self, f"_{part}_kernel", self._weight(f"{part}/kernel", (dim, h, size)))
            setattr(self, f"_{part}_bias",
                    self._weight(f"{part}/bias", (h, size), bias=True) if self.use_bias
                    else None)
        self._output_kernel = self._weight("attention_output/kernel", (h, vd) + out)
        self._output_bias = self._weight("attention_output/bias", out, bias=True) \
            if self.use_bias else None
        self._input_spec = (rank, {-1: query_shape[-1]})

    def get_build_config(self) -> dict | None:
        """Keras 3's form for a layer built from several shapes."""
        if not self.built:
            return None
        query_shape = self._build_input_shape
        shapes = {"query_shape": query_shape, "value_shape": self._value_shape}
        return {"shapes_dict": {k: list(v) for k, v in shapes.items() if v is not None}}

    def _keras_variable_groups(self) -> list:
        """Where Keras 3 keeps these weights: in four EinsumDense sublayers, saved
        under their property names (key_dense, output_dense, query_dense, value_dense)."""
        if not self.built:
            return []
        return [(f"{part}_dense", [w for w in (getattr(self, f"_{part}_kernel"),
                                               getattr(self, f"_{part}_bias")) if w is not None])
                for part in ("key", "output", "query", "value")]

    def _weight(self, name, shape, bias=False):
        return self.add_weight(name=name, shape=shape, initializer=self.bias_initializer
                               if bias else self.kernel_initializer)

    # ------------------------------------------------------------------ call
    def __call__(self, query, value, key=None, **kwargs):
        """Builds from the query's, value's and key's shapes (Layer builds from the first
        argument's alone), then calls as any layer: on arrays, Tensors or Inputs."""
        for name in ("query_mask", "value_mask", "key_mask"):
            if kwargs.pop(name, None) is not None:
                raise ValueError(f"{self._owner}: `{name}` (Keras masking) is not supported by "
                                 f"minigrad; pass `attention_mask`")
        if not self.built:
            self.build(_shape(query), _shape(value), None if key is None else _shape(key))
        self._symbolic_scores = bool(kwargs.get("return_attention_scores", False))
        return super().__call__(query, value, key, **kwargs)

    def _project(self, x: Tensor, kernel: Tensor, bias) -> Tensor:
        """x (..., dim) @ kernel (dim, heads, size) + bias -> (..., heads, size)."""
        dim, h, size = kernel.shape
        y = ops.dense(x.reshape(-1, dim), kernel.reshape(dim, h * size),
                      None if bias is None else bias.reshape(h * size),
                      name=self._owner)
        return y.reshape(x.shape[:-1] + (h, size))

    def _rows(self, x: Tensor, perm: list) -> Tensor:
        """A projected (batch, positions..., heads, size) as (rows, T, size)."""
        moved = x.transpose(perm)
        n_rows = int(np.prod(moved.shape[:-1 - len(self._axes)]))
        return moved.reshape(n_rows, -1, moved.shape[-1])

    def call(self, query, value, key=None, attention_mask=None,
             return_attention_scores: bool = False, training=None,
             use_causal_mask: bool = False):
        o, axes = self._owner, self._axes
        key = value if key is None else key
        for arg, t, want in (("query", query, self._query_kernel.shape[0]),
                             ("value", value, self._value_kernel.shape[0]),
                             ("key", key, self._key_kernel.shape[0])):
            if t.ndim != self._input_spec[0] or t.shape[-1] != want:
                raise ValueError(f"{o}: `{arg}` must have {want} features in its last axis "
                                 f"(the layer was built so), got shape {t.shape}")
        rank = query.ndim
        other = [a for a in range(1, rank - 1) if a not in axes]
        if [query.shape[a] for a in other] != [value.shape[a] for a in other] or \
                query.shape[0] != value.shape[0] or value.shape[:-1] != key.shape[:-1]:
            raise ValueError(f"{o}: `query`, `value` and `key` must match in the batch and "
                             f"non-attention axes {other} (and value/key in all but the "
                             f"last), got {query.shape}, {value.shape}, {key.shape}")
        # the scores' shape, Keras's layout: batch, other axes, heads, query and key positions
        tq, tk = (tuple(t.shape[a] for a in axes) for t in (query, key))
        full = (query.shape[0],) + tuple(query.shape[a] for a in other) + (self.num_heads,) + \
            tq + tk
        flat = (int(np.prod(full[:2 + len(other)])), int(np.prod(tq)), int(np.prod(tk)))
        keep = self._mask(attention_mask, use_causal_mask, full, flat)  # checked before work
        q = self._project(query, self._query_kernel, self._query_bias)
        k = self._project(key, self._key_kernel, self._key_bias)
        v = self._project(value, self._value_kernel, self._value_bias)
        perm = [0] + other + [rank - 1] + list(axes) + [rank]   # heads at rank - 1
        q = q * (1.0 / math.sqrt(self.key_dim))
        qr, kr, vr = self._rows(q, perm), self._rows(k, perm), self._rows(v, perm)
        scores = batched_matmul(qr, kr.transpose(0, 2, 1), name=o)          # (rows, Tq, Tk)
        probs = masked_softmax(scores, keep, -1)
        attended = probs
        if training and self.dropout > 0:
            seed = None if self._rng is None else int(self._rng.integers(0, 2**63 - 1))
            attended = ops.dropout(probs, self.dropout, training=True, seed=seed, name=o)
        out = batched_matmul(attended, vr, name=o)                          # (rows, Tq, vd)
        moved = q.transpose(perm).shape[:-1] + (self.value_dim,)
        out = out.reshape(moved).transpose([perm.index(a) for a in range(rank + 1)])
        y = self._output(out)
        if return_attention_scores:
            return y, probs.reshape(full)
        return y

    def _output(self, out: Tensor) -> Tensor:
        """(batch, positions..., heads, value_dim) -> (batch, positions..., *output_shape)."""
        h, vd = self.num_heads, self.value_dim
        tail = self._output_kernel.shape[2:]
        size = int(np.prod(tail))
        y = ops.dense(out.reshape(-1, h * vd), self._output_kernel.reshape(h * vd, size),
                      None if self._output_bias is None else self._output_bias.reshape(size),
                      name=self._owner)
        return y.reshape(out.shape[:-2] + tail)

    def _mask(self, attention_mask, causal: bool, full: tuple, flat: tuple):
        """The boolean keep-mask of the scores (flat (rows, Tq, Tk)), or None: the
        attention mask expanded as Keras expands it (size-1 axes inserted before the
        query positions until the ranks match), and with the causal one."""
        keep = None
        if attention_mask is not None:
            m = attention_mask.numpy() if isinstance(attention_mask, Tensor) else \
                np.asarray(attention_mask)
            at = -len(self._axes) * 2 - 1
            while m.ndim < len(full):
                m = np.expand_dims(m, at)
            try:
                keep = np.broadcast_to(m.astype(bool) if m.dtype == bool else m > 0.5, full)
            except ValueError:
                raise ValueError(f"{self._owner}: `attention_mask` of shape "
                                 f"{np.shape(attention_mask)} does not broadcast to the "
                                 f"attention scores {full}; expected (batch, query positions,"
                                 f" key positions) = {(full[0],) + full[-2 * len(self._axes):]}"
                                 ) from None
            keep = keep.reshape(flat)
        if causal:
            tq, tk = flat[1], flat[2]
            lower = np.tril(np.ones((tq, tk), bool))
            keep = lower[None] if keep is None else keep & lower
        return None if keep is None else np.broadcast_to(keep, flat)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        out = tuple(query_shape[:-1]) + tuple(self.output_shape_arg or (query_shape[-1],))
        if not getattr(self, "_symbolic_scores", False):
            return out
        value_shape = value_shape or getattr(self, "_value_shape", query_shape)
        other = [a for a in range(1, len(query_shape) - 1) if a not in self._axes]
        return out, (query_shape[0],) + tuple(query_shape[a] for a in other) + (
            self.num_heads,) + tuple(query_shape[a] for a in self._axes) + tuple(
            value_shape[a] for a in self._axes)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_shape": None if self.output_shape_arg is None else
                list(self.output_shape_arg),
                "attention_axes": None if self.attention_axes is None else
                list(self.attention_axes),
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "seed": self.seed}

