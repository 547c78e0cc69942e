"""Losses with Keras 3's names: classes (`Loss` subclasses) and per-sample functions.

`get` resolves an identifier as Keras's `keras.losses.get`: a class name gives
an instance ('MeanSquaredError'), a function name or alias gives the function
('mean_squared_error', 'mse'), a config dict gives its instance, and a
callable is returned as it is.
"""
from __future__ import annotations

from ..utils.serialization import Registry
from .loss import Loss, LossFunctionWrapper, reduce_weighted_values  # noqa: F401
from .losses import (BinaryCrossentropy, CategoricalCrossentropy,  # noqa: F401
                     SparseCategoricalCrossentropy, binary_crossentropy,
                     categorical_crossentropy, sparse_categorical_crossentropy)
from .regression_losses import (  # noqa: F401
    CategoricalHinge, CosineSimilarity, Hinge, Huber, KLDivergence, LogCosh, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError, Poisson,
    SquaredHinge, categorical_hinge, cosine_similarity, hinge, huber, kl_divergence, log_cosh,
    mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
    mean_squared_logarithmic_error, poisson, squared_hinge)

ALL_OBJECTS = [
    Loss, LossFunctionWrapper, KLDivergence, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, MeanSquaredError, MeanAbsoluteError, Huber, Hinge,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCosh,
    Poisson, SquaredHinge, CategoricalHinge,
    kl_divergence, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, mean_squared_error, mean_absolute_error, huber, hinge,
    mean_absolute_percentage_error, mean_squared_logarithmic_error, cosine_similarity,
    log_cosh, poisson, squared_hinge, categorical_hinge,
]
ALL_OBJECTS_DICT = {obj.__name__: obj for obj in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "kld": kl_divergence, "KLD": kl_divergence,
    "kullback_leibler_divergence": kl_divergence,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
    "huber_loss": huber,
})

# Keras's legacy function aliases, kept as module attributes
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
bce = binary_crossentropy

#: each built-in function -> its class (compile uses the class: its target
#: checks, and the fused softmax kernel for the cross-entropies)
FUNCTION_CLASSES = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError, huber: Huber, kl_divergence: KLDivergence,
    hinge: Hinge, mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    cosine_similarity: CosineSimilarity, log_cosh: LogCosh, poisson: Poisson,
    squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
}


_REGISTRY = Registry("loss", ALL_OBJECTS_DICT, Loss,
                     "a minigrad.losses.Loss or a function fn(y_true, y_pred)")
serialize, deserialize, get = _REGISTRY.serialize, _REGISTRY.deserialize, _REGISTRY.get
