"""What a layer owns, and Keras's rules for it: weights made by `add_weight`; layers,
models and weights assigned as attributes (also inside lists and dicts), tracked
recursively in Keras's order; freezing with `trainable`; get/set_weights; devices."""
from __future__ import annotations

import numpy as np

from .. import initializers, regularizers
from ..backends import get_backend
from ..tensor import Tensor
from ..variables import Variable
from .shapes import check_shape


class Tracking:
    """The weight- and sublayer-keeping half of `Layer` (mixed into it)."""

    # attributes holding framework bookkeeping, not sublayers
    _UNTRACKED = frozenset({"_inbound_nodes", "_outbound_nodes", "_functional",
                            "_compiled_trainable_state", "_losses"})

    def add_weight(self, *args, shape=None, initializer=None, dtype=None,
                   trainable: bool = True, autocast: bool = True, regularizer=None,
                   constraint=None, aggregation: str = "none", name: str | None = None
                   ) -> Variable:
        """Create a weight (a Variable), keep track of it, and return it: Keras 3's
        `add_weight(shape=(3, 4), initializer="zeros", name="kernel", regularizer="l2")`
        (positionally: shape, initializer, dtype, trainable). minigrad's older form
        `add_weight("kernel", (3, 4), "zeros")` (name first) works too. The
        regularizer's penalty joins `layer.losses`, and so the training loss."""
        order = ("name", "shape", "initializer", "trainable", "dtype") \
            if args and isinstance(args[0], str) else ("shape", "initializer", "dtype",
                                                        "trainable")
        if len(args) > len(order):
            raise TypeError(f"add_weight: at most {len(order)} positional arguments, got "
                            f"{len(args)}")
        given = dict(zip(order, args))
        name, shape = given.get("name", name), given.get("shape", shape)
        initializer = given.get("initializer", initializer)
        dtype, trainable = given.get("dtype", dtype), given.get("trainable", trainable)
        if constraint is not None:
            raise NotImplementedError(f"layer {self.name!r}: weight constraints are not "
                                      f"supported by minigrad (constraint={constraint!r})")
        if name is None:
            count = sum(1 for w in self._weights if w.name.split("/")[-1].startswith("variable"))
            name = "variable" if count == 0 else f"variable_{count}"
        owner = f"layer {self.name!r} weight {name!r}"
        shape = check_shape(() if shape is None else shape, "shape", owner)
        init = initializers.get("glorot_uniform" if initializer is None else initializer, owner)
        dtype = np.dtype(dtype or self.dtype)
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        try:
            value = init(tuple(shape), dtype.name)
            w = Variable(np.asarray(value), dtype=dtype.name, trainable=bool(trainable),
                         name=f"{self.name}/{name}", device=self.device)
        except (MemoryError, ValueError) as e:
            if isinstance(e, ValueError) and "too big" not in str(e) and \
                    "maximum supported dimension" not in str(e) and \
                    "Maximum allowed dimension" not in str(e):  # NumPy's words for > 2**63
                raise
            raise MemoryError(f"{owner}: a weight of shape {tuple(shape)} ({dtype.name}) needs "
                              f"{nbytes:,} bytes, more than can be allocated") from None
        w._created_trainable = bool(trainable)
        w.regularizer = regularizers.get(regularizer)
        self._weights.append(w)
        return w

    # ------------------------------------------------------------------ losses
    def add_loss(self, loss) -> None:
        """A scalar loss computed in `call` (a Tensor from the inputs' graph); training
        adds every layer's to the compiled loss. Cleared when the model is called again."""
        if not isinstance(loss, Tensor):
            loss = Tensor(np.asarray(loss, self.dtype), device=self.device)
        self._losses.append(loss)

    @property
    def losses(self) -> list:
        """The scalar losses of the last call (`add_loss`, activity regularizers) of this
        layer and every layer below it, then the regularizers' penalties of the
        trainable weights (computed now, so their gradients reach the weights)."""
        return self._losses_of(self._flatten_layers(include_self=True))

    def _losses_of(self, layers: list) -> list:
        """`losses`, given `_flatten_layers(include_self=True)` (a training step walks
        the layer tree once, not once per use)."""
        out = [loss for layer in layers for loss in layer._losses]
        if not any(getattr(w, "regularizer", None) is not None
                   for layer in layers for w in layer._weights):
            return out
        return out + [w.regularizer(w) for w in self.trainable_weights
                      if getattr(w, "regularizer", None) is not None]

    def _clear_losses(self, layers: list | None = None) -> None:
        for layer in layers or self._flatten_layers(include_self=True):
            layer._losses.clear()

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Tensor) and name not in self._UNTRACKED and (
                hasattr(value, "trainable") or (value.requires_grad and value.is_leaf)):
            self._track_weight(name, value)
        elif isinstance(value, (Tracking, list, tuple, dict)) and name not in self._UNTRACKED:
            for layer in _layers_in(value):
                if layer is self or self in layer._flatten_layers():
                    raise ValueError(f"layer {self.name!r}: assigning {layer.name!r} to "
                                     f"`{name}` would make a cycle (a layer cannot contain "
                                     f"itself)")
        object.__setattr__(self, name, value)

    def _track_weight(self, name: str, w: Tensor) -> None:
        """A weight assigned as an attribute (e.g. a leaf Tensor with requires_grad,
        like torch.nn.Parameter) becomes one of this layer's weights."""
        if "_weights" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               f"assigning weights to attributes")
        if any(w is mine for mine in self._weights):
            return
        if not hasattr(w, "trainable"):
            w.name, w.trainable, w._created_trainable = f"{self.name}/{name}", True, True
        self._weights.append(w)

    def _sublayers(self) -> list:
        """Layers assigned as attributes (or in lists/dicts), first assignment first."""
        found, seen = [], {id(self)}
        untracked = self._UNTRACKED
        for key, value in self.__dict__.items():
            # only containers and layers can hold a layer (a walk per training step)
            if type(value) in _LEAF_TYPES or key in untracked:
                continue
            for layer in _layers_in(value):
                if id(layer) not in seen:
                    seen.add(id(layer))
                    found.append(layer)
        return found

    def _flatten_layers(self, include_self: bool = False) -> list:
        """Every layer below this one (depth first), each once."""
        out, seen, stack = [], {id(self)}, list(reversed(self._sublayers()))
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers()))
        return ([self] if include_self else []) + out

    @property
    def weights(self) -> list:
        """Own weights (created trainable first, as Keras), then each sublayer's."""
        own = [w for w in self._weights if w._created_trainable] + \
            [w for w in self._weights if not w._created_trainable]
        seen, out = set(), []
        for w in own + [w for layer in self._sublayers() for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze this layer and, recursively, its sublayers.

        Frozen weights get no gradient. As in Keras, a model compiled before the
        change trains the weights chosen at `compile` until compiled again."""
        value = bool(value)
        self._trainable = value
        for w in self._weights:
            if w._created_trainable:
                w.trainable = w.requires_grad = value
        for layer in self._sublayers():
            layer.trainable = value

    @property
    def trainable_weights(self) -> list:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        return [w for w in self.weights if not w.trainable] if self.trainable else self.weights

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"count_params: layer {self.name!r} has not been built yet; build "
                             f"it with layer.build(input_shape) or call it on data first")
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> list:
        """NumPy copies of the weights, in Keras's order."""
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Copy `weights` (NumPy arrays, Keras's order) into the layer; all or nothing."""
        mine = self.weights
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"layer {self.name!r}: set_weights expects a list of arrays, got "
                            f"{type(weights).__name__}")
        if len(weights) != len(mine):
            raise ValueError(f"layer {self.name!r}: set_weights expected {len(mine)} arrays, got "
                             f"{len(weights)}")
        arrays = []
        for w, new in zip(mine, weights):
            new = new.numpy() if isinstance(new, Tensor) else np.asarray(new)
            if not (np.issubdtype(new.dtype, np.floating) or np.issubdtype(new.dtype, np.integer)):
                raise TypeError(f"layer {self.name!r}: weight {w.name!r} must be numeric, got "
                                f"dtype {new.dtype}")
            if new.shape != w.shape:
                raise ValueError(f"layer {self.name!r}: weight {w.name!r} has shape {w.shape}, "
                                 f"got an array of shape {new.shape}")
            arrays.append(new)
        for w, new in zip(mine, arrays):
            # a copy: training must never write into the caller's arrays
            w.data = get_backend(w.device).asarray(np.array(new, dtype=w.dtype, order="C"))

    def to(self, device: str) -> "Layer":
        """Move this layer's weights (and its sublayers') to `device` in place."""
        backend = get_backend(device)
        for w in self._weights:
            if w.device != backend.name:
                w.data, w.device = backend.asarray(w.numpy()), backend.name
        self.device = backend.name
        for layer in self._sublayers():
            layer.to(device)
        return self


def _layers_in(value) -> list:
    """The Layers inside an attribute value (a layer, or lists/tuples/dicts of them),
    in order; a loop, not recursive generators: layer-tree walks run every step."""
    found, stack, walked = [], [value], set()
    while stack:
        value = stack.pop()
        if isinstance(value, Tracking):
            found.append(value)
        elif isinstance(value, (list, tuple, dict)) and id(value) not in walked:
            walked.add(id(value))  # each container once: a list holding itself ends
            stack.extend(reversed(value.values() if isinstance(value, dict) else value))
    return found


# attribute types that are never a layer or a container of one
_LEAF_TYPES = frozenset({bool, int, float, str, type(None), Tensor, Variable, np.ndarray})
