"""Models: the Model base (functional and subclassed), Sequential, training and saving.

Split as Keras splits it: model.py (the Model base: structure, tracking, calls,
summary), functional.py and graph.py (models as graphs of layer calls),
sequential.py (a stack of layers), trainer.py and data.py (compile, fit,
evaluate, predict), summary.py (the summary table), saving.py (minigrad's .npz
files), cloning.py (clone_model, model_from_json); the .keras format, weights
files and the choice by suffix are in minigrad/saving.
"""
from .functional import Functional  # noqa: F401
from .model import Model  # noqa: F401
from .sequential import Sequential  # noqa: F401
from .cloning import clone_model, model_from_json  # noqa: F401
from ..saving.saving_api import load_model, save_model  # noqa: F401
