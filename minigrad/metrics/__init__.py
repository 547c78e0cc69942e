"""Metrics with Keras 3's names: `Metric` to subclass, Mean/Sum, accuracies,
regression errors, Precision/Recall/AUC; `get` resolves names as Keras does
('mae', 'sparse_categorical_accuracy', 'AUC', ...; compile resolves 'accuracy'
from the targets' and predictions' shapes)."""
from __future__ import annotations

from ..losses import (  # noqa: F401
    binary_crossentropy, categorical_crossentropy, categorical_hinge, hinge, huber,
    kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_error, mean_squared_logarithmic_error, poisson,
    sparse_categorical_crossentropy, squared_hinge)
from ..utils.naming import to_snake_case
from ..utils.serialization import Registry
from .accuracy_metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy,  # noqa: F401
                               SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                               TopKCategoricalAccuracy, accuracy, binary_accuracy,
                               categorical_accuracy, sparse_categorical_accuracy,
                               sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .confusion_metrics import (AUC, FalseNegatives, FalsePositives, Precision,  # noqa: F401
                                Recall, TrueNegatives, TruePositives)
from .metric import Metric, to_float  # noqa: F401
from .reduction_metrics import Mean, MeanMetricWrapper, Sum  # noqa: F401
from .probabilistic_metrics import (BinaryCrossentropy, CategoricalCrossentropy,  # noqa: F401
                                    CategoricalHinge, Hinge, KLDivergence, Poisson,
                                    SparseCategoricalCrossentropy, SquaredHinge)
from .regression_metrics import (CosineSimilarity, LogCoshError,  # noqa: F401
                                 MeanAbsoluteError, MeanAbsolutePercentageError,
                                 MeanSquaredError, MeanSquaredLogarithmicError,
                                 RootMeanSquaredError, cosine_similarity)

ALL_OBJECTS = [
    Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, MeanAbsoluteError,
    RootMeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    CosineSimilarity, LogCoshError, Hinge, SquaredHinge, CategoricalHinge, KLDivergence,
    Poisson, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, AUC,
    FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives,
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
]
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in ALL_OBJECTS})
ALL_OBJECTS_DICT.update({"mse": MeanSquaredError, "MSE": MeanSquaredError,
                         "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                         "mape": MeanAbsolutePercentageError,
                         "MAPE": MeanAbsolutePercentageError,
                         "msle": MeanSquaredLogarithmicError,
                         "MSLE": MeanSquaredLogarithmicError,
                         "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
                         "auc": AUC})

#: metric functions by name (for MeanMetricWrapper configs and custom objects)
FUNCTIONS = {f.__name__: f for f in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
    mean_absolute_error, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, kl_divergence, hinge, huber,
    mean_absolute_percentage_error, mean_squared_logarithmic_error, cosine_similarity,
    log_cosh, poisson, squared_hinge, categorical_hinge)}


_REGISTRY = Registry("metric", ALL_OBJECTS_DICT, Metric,
                     "'accuracy', 'acc', a minigrad.metrics.Metric or a function "
                     "fn(y_true, y_pred)", functions=FUNCTIONS)
serialize, deserialize, get = _REGISTRY.serialize, _REGISTRY.deserialize, _REGISTRY.get
