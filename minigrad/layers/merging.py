"""Keras's merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate,
and their functional forms (`layers.add([a, b])`, ...)."""
from __future__ import annotations

import numbers

from ..ops import merging as merge_ops
from .base import Layer
from .shapes import fmt


class Merge(Layer):
    """A layer called on a list of tensors of compatible shapes (Keras's broadcasting
    rule: equal sizes, or 1, on each axis after the batch)."""

    min_inputs = 1

    def build(self, input_shape):
        self._output_tail(input_shape)

    def _check_list(self, input_shape, same_batch: bool = True) -> list:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"A merge layer ({type(self).__name__} {self.name!r}) should be "
                             f"called on a list of inputs. Received: input_shape={input_shape}")
        if len(input_shape) < self.min_inputs:
            raise ValueError(f"A `{type(self).__name__}` layer ({self.name!r}) should be called "
                             f"on a list of at least {self.min_inputs} inputs. Got "
                             f"{len(input_shape)} inputs: {list(input_shape)}")
        batches = {s[0] for s in input_shape if s} - {None}
        if same_batch and len(batches) > 1:
            raise ValueError(f"{type(self).__name__} {self.name!r}: cannot merge tensors with "
                             f"different batch sizes. Received tensors with shapes "
                             f"{[fmt(tuple(s)) for s in input_shape]}")
        return [tuple(s) for s in input_shape]

    def _output_tail(self, input_shape) -> tuple:
        shapes = self._check_list(input_shape)
        out = shapes[0][1:]
        for shape in shapes[1:]:
            out = self._broadcast(out, shape[1:])
        return out

    def _broadcast(self, a: tuple, b: tuple) -> tuple:
        if len(a) < len(b):
            a, b = b, a
        if not b:
            return a
        out = list(a[:len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b):], b):
            if i is None or j is None:
                out.append(None)
            elif i == 1 or j == 1:
                out.append(j if i == 1 else i)
            elif i != j:
                raise ValueError(f"{type(self).__name__} {self.name!r}: inputs have "
                                 f"incompatible shapes. Received shapes {fmt(a)} and {fmt(b)}")
            else:
                out.append(i)
        return tuple(out)

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        batch = next((s[0] for s in shapes if s and s[0] is not None), None)
        return (batch,) + self._output_tail(shapes)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer ({type(self).__name__} {self.name!r}) should be "
                             f"called on a list of inputs, got {type(inputs).__name__}")
        self.compute_output_shape([tuple(x.shape) for x in inputs])  # clear shape errors
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return self._finish(out, len(inputs))

    def _merge(self, a, b):
        raise NotImplementedError

    def _finish(self, out, n: int):
        return out


class Add(Merge):
    """The elementwise sum of the inputs."""

    def _merge(self, a, b):
        return a + b


class Subtract(Merge):
    """inputs[0] - inputs[1] (exactly two inputs)."""

    min_inputs = 2

    def _check_list(self, input_shape):
        shapes = super()._check_list(input_shape)
        if len(shapes) != 2:
            raise ValueError(f"A `Subtract` layer ({self.name!r}) should be called on exactly 2 "
                             f"inputs. Received: input_shape={shapes}")
        return shapes

    def _merge(self, a, b):
        return a - b


class Multiply(Merge):
    """The elementwise product of the inputs."""

    def _merge(self, a, b):
        return a * b


class Average(Merge):
    """The elementwise mean of the inputs."""

    def _merge(self, a, b):
        return a + b

    def _finish(self, out, n):
        return out / n


class Maximum(Merge):
    """The elementwise maximum of the inputs."""

    def _merge(self, a, b):
        return merge_ops.maximum(a, b)


class Minimum(Merge):
    """The elementwise minimum of the inputs."""

    def _merge(self, a, b):
        return merge_ops.minimum(a, b)


class Concatenate(Merge):
    """Joins the inputs along `axis` (default: the last); other axes must match."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"Concatenate {self.name!r}: `axis` must be an int, got {axis!r}")
        self.axis = int(axis)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape, same_batch=False)  # axis 0 may differ
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or any(len(s) != rank for s in shapes) or any(
                a is not None and b is not None and a != b
                for s in shapes for i, (a, b) in enumerate(zip(s, shapes[0]))
                if i not in (0, self.axis % rank)):
            raise ValueError(f"A `Concatenate` layer ({self.name!r}) requires inputs with "
                             f"matching shapes except for the concatenation axis {self.axis}. "
                             f"Received: input_shape={[fmt(s) for s in shapes]}")
        axis = self.axis % rank
        out = list(shapes[0])
        out[0] = next((s[0] for s in shapes if s[0] is not None), None)
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def call(self, inputs):
        self.compute_output_shape([tuple(x.shape) for x in inputs])
        return merge_ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional form of `Add`: `layers.add([a, b])`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
