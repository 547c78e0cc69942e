"""The Loss base class (Keras 3's `keras.losses.Loss`), its reductions, and the one
target-checking path that losses, their functions and `fit` share."""
from __future__ import annotations

import numbers

import numpy as np

from ..backends import get_backend
from ..tensor import Tensor, as_tensor
from ..utils.naming import auto_name

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                         f"{list(REDUCTIONS)}. Received: reduction={reduction!r}")
    return reduction


class Loss:
    """Base of every loss: `loss(y_true, y_pred, sample_weight=None)` -> a scalar Tensor
    (or per-sample values with `reduction=None`).

    Subclass it and write `call(y_true, y_pred)` returning one loss per sample
    (or per element) with Tensor ops; autograd does the backward. `__call__`
    checks the targets, runs `call`, weights by `sample_weight` and reduces:
    'sum_over_batch_size' (the default) and 'mean' divide the sum by the
    number of values, 'mean_with_sample_weight' by the sum of the weights,
    'sum' sums, None/'none' returns the values as they are.

    `dtype=None` computes in the predictions' dtype (float32, or float64 for a
    float64 model; Keras would use float32 unless `floatx` is changed).

    Targets given on the host (NumPy arrays, lists, CPU Tensors) are checked
    as `fit` checks them (`check_targets`): NaN or infinite targets,
    fractional or out-of-range class ids and targets whose shape does not fit
    the predictions raise ValueError/TypeError. Targets already on a GPU come
    from `fit`, which checked them before uploading.
    """

    #: the loss is softmax + cross-entropy and can run fused on logits
    fuses_softmax = False
    #: targets are integer class ids (one per sample), not arrays of y_pred's shape
    sparse = False

    def __init__(self, name: str | None = None, reduction="sum_over_batch_size", dtype=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: `name` must be a string, got {name!r}")
        self.name = name or auto_name(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        if dtype is not None and np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"{self.name}: `dtype` must be float32 or float64, got {dtype!r}")
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        if not hasattr(self, "reduction"):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() in __init__")
        y_pred = as_tensor(y_pred)
        y_true = self._targets(y_true, y_pred)
        values = check_values(self.call(y_true, y_pred), y_pred, self.name)
        mask = getattr(values, "_keras_mask", None)  # e.g. ignore_class's
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, self.reduction)
        return reduce_weighted_values(values, sample_weight, self.reduction, self.name)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample (or per-element) losses of checked targets and predictions."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    # ------------------------------------------------------------- targets
    def check_targets(self, y, outputs, dtype=np.float32) -> np.ndarray:
        """`fit`'s targets for predictions of `outputs` units (or of shape `outputs`,
        batch axis excluded) and weights of `dtype`, checked and converted
        (float64 models train against float64 targets)."""
        y = np.asarray(y)
        rest = (outputs,) if isinstance(outputs, numbers.Integral) else tuple(outputs)
        return self._validate(y, (y.shape[0] if y.ndim else 1,) + rest, dtype)

    def _validate(self, y: np.ndarray, pred_shape: tuple, dtype) -> np.ndarray:
        """y checked against predictions of `pred_shape`, in the form `call` takes."""
        return finite(y, self.name).astype(dtype, copy=False)

    def _targets(self, y_true, y_pred: Tensor) -> Tensor:
        """The checked targets as a Tensor on y_pred's device (no gradient)."""
        data = y_true.data if isinstance(y_true, Tensor) else y_true
        backend = get_backend(y_pred.device)
        if not isinstance(data, (np.ndarray, np.generic, list, tuple, numbers.Number)):
            return Tensor._wrap(data, y_pred.device)  # on the device: fit checked it
        y = np.asarray(data)
        if y.ndim == 0 or y_pred.ndim == 0 or y.shape[0] != y_pred.shape[0]:
            raise ValueError(f"{self.name}: y_true and y_pred must have the same number of "
                             f"samples, got shapes {y.shape} and {y_pred.shape}")
        return Tensor._wrap(backend.asarray(self._validate(y, y_pred.shape, y_pred.dtype)),
                            y_pred.device)

    # -------------------------------------------------------------- config
    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A loss from a function `fn(y_true, y_pred, **kwargs)` returning per-sample
    losses (or a scalar) as a Tensor computed from y_pred; `compile(loss=fn)`
    wraps functions in one."""

    def __init__(self, fn, reduction="sum_over_batch_size", name: str | None = None,
                 dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper: `fn` must be callable, got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", repr(self.fn)),
                **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        from . import deserialize  # the function by its name
        config = dict(config)
        if isinstance(config.get("fn"), str):
            config["fn"] = deserialize(config["fn"])
        return cls(**config)

    def __repr__(self):
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


# ---------------------------------------------------------------- reduction
def squeeze_or_expand_to_same_rank(x1: Tensor, x2: Tensor, expand_rank_1: bool = True):
    """Keras's rule: when the ranks differ by one and the extra axis has size 1,
    squeeze it (or expand a rank-1 tensor)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.reshape(x2.shape + (1,))
        else:
            x1 = x1.reshape(x1.shape[:-1])
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.reshape(x1.shape + (1,))
        else:
            x2 = x2.reshape(x2.shape[:-1])
    return x1, x2


def check_values(values, y_pred: Tensor, name: str) -> Tensor:
    """What a loss computed must be a Tensor from y_pred's graph: a scalar, or one
    value per sample (shape (batch, ...))."""
    if not isinstance(values, Tensor):
        raise TypeError(f"loss {name!r} returned {type(values).__name__}, expected a Tensor "
                        f"computed from y_pred with minigrad ops (a NumPy result cuts the "
                        f"graph: the model would never train)")
    if values.ndim and (y_pred.ndim == 0 or values.shape[0] != y_pred.shape[0]):
        raise ValueError(f"loss {name!r} returned values of shape {values.shape} for "
                         f"predictions of shape {y_pred.shape}; expected a scalar or one "
                         f"loss per sample, shape ({y_pred.shape[0] if y_pred.ndim else ''},)"
                         f" or ({y_pred.shape[0] if y_pred.ndim else ''}, ...)")
    return values


def reduce_weighted_values(values: Tensor, sample_weight=None, reduction="sum_over_batch_size",
                           name: str = "loss") -> Tensor:
    """values * sample_weight, reduced as `reduction` says (Keras 3's formulas)."""
    weights = None
    if sample_weight is not None:
        weights = sample_weight_tensor(sample_weight, values, name)
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        if weights.ndim > values.ndim or any(
                w not in (1, v) for w, v in zip(weights.shape, values.shape)):
            raise ValueError(f"{name}: sample_weight of shape {weights.shape} does not fit "
                             f"the losses of shape {values.shape}; give one weight per sample")
        values = values * weights
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and weights is not None:
        total = weights.sum().item()  # Keras: the sum of the weights as given
        return values.sum() * (0.0 if total == 0 else 1.0 / total)  # divide_no_nan
    return values.mean()  # sum / number of values; 0 for none (divide_no_nan)


def apply_mask(sample_weight, mask: np.ndarray, reduction) -> np.ndarray:
    """Keras's masking: masked-out values weigh 0; for the mean reductions the
    others weigh total/valid, so that the mean runs over the valid values only."""
    weights = mask.astype(np.float64)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = weights.sum()
        weights *= weights.size / valid if valid else 0.0
    if sample_weight is not None:
        w = np.asarray(sample_weight.numpy() if isinstance(sample_weight, Tensor) else
                       sample_weight, np.float64)
        weights = weights * w.reshape(w.shape + (1,) * (weights.ndim - w.ndim))
    return weights


def sample_weight_tensor(sample_weight, values: Tensor, name: str) -> Tensor:
    """Sample weights as a constant Tensor of the losses' dtype and device, checked."""
    if isinstance(sample_weight, Tensor):
        if sample_weight.device == values.device and sample_weight.dtype == values.dtype:
            return sample_weight.detach()
        sample_weight = sample_weight.numpy()
    if not isinstance(sample_weight, (np.ndarray, np.generic, list, tuple, numbers.Number)):
        # a device array (fit uploads the weights with the batch)
        return Tensor._wrap(get_backend(values.device).asarray(sample_weight, values.dtype),
                            values.device)
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name}: sample_weight must be numbers, got dtype {w.dtype}")
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        raise ValueError(f"{name}: sample_weight contains NaN or infinite values")
    return Tensor(w, device=values.device, dtype=values.dtype)


# ------------------------------------------------------------- target checks
def finite(y: np.ndarray, name: str) -> np.ndarray:
    """Numeric, finite targets (bool and ints allowed), or a clear error."""
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name}: targets must be real numbers, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name}: targets contain NaN or infinite values")
    return y


def same_shape_targets(y: np.ndarray, pred_shape: tuple, dtype, name: str,
                       probabilities: bool = False) -> np.ndarray:
    """Targets of the predictions' shape. As in Keras, a target of rank one less with
    a size-1 prediction axis (or one more with a size-1 target axis) fits; targets
    are never reshaped to fit otherwise."""
    finite(y, name)
    pred_shape = tuple(pred_shape)
    if y.ndim == len(pred_shape) - 1 and pred_shape[-1] == 1:
        y = y[..., None]
    elif y.ndim == len(pred_shape) + 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape != pred_shape:
        raise ValueError(f"{name}: expected targets of shape (samples, "
                         f"{', '.join(str(d) for d in pred_shape[1:])}), got shape {y.shape}")
    if probabilities and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{name}: targets must be probabilities in [0, 1], got values in "
                         f"[{y.min()}, {y.max()}]")
    return y.astype(dtype, copy=False)


def class_id_targets(y: np.ndarray, pred_shape: tuple, name: str, ignore_class=None
                     ) -> np.ndarray:
    """Integer class ids, one per prediction row (shape pred_shape[:-1]; a trailing
    axis of 1 is dropped), each in [0, classes) or equal to `ignore_class`."""
    pred_shape = tuple(pred_shape)
    if y.ndim == len(pred_shape) and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape != pred_shape[:-1]:
        raise ValueError(f"{name}: expected integer class ids of shape (samples,), got shape "
                         f"{y.shape} for predictions of shape {pred_shape}; for one-hot "
                         f"targets use 'categorical_crossentropy'")
    if y.dtype.kind not in "iub":
        finite(y, name)
        if not np.all(np.mod(y, 1) == 0):
            raise TypeError(f"{name}: expected integer class ids, got dtype {y.dtype} "
                            f"holding fractional values")
    classes = pred_shape[-1]
    kept = y if ignore_class is None else y[y != ignore_class]
    if kept.size and (kept.min() < 0 or kept.max() >= classes):
        raise ValueError(f"{name}: labels must be in [0, {classes}) for a model with "
                         f"{classes} outputs, got values in [{kept.min()}, {kept.max()}]")
    return y.astype(np.int64, copy=False)
