"""summary() and count_params() of models built from issue 14's layers against what Keras
3 reports for the same models (tests/data/keras3_layer_params.json, written by
tests/data/keras3_layer_params.py under real Keras): every layer's output shape and
parameter count, the totals, trainable and non-trainable, and MultiHeadAttention's
weights."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L

DATA = json.load(open(os.path.join(os.path.dirname(__file__), "data",
                                   "keras3_layer_params.json")))


def build(spec: dict) -> mg.Sequential:
    return mg.Sequential([L.Input(tuple(spec["input_shape"]))] +
                         [getattr(L, name)(**kw) for name, kw in spec["layers"]])


@pytest.mark.parametrize("name", sorted(DATA["models"]))
def test_model_matches_keras(name):
    spec = DATA["models"][name]
    model = build(spec)
    shape = (None,) + tuple(spec["input_shape"])
    rows = []
    for layer in model.layers:
        shape = tuple(layer.compute_output_shape(shape))
        rows.append([type(layer).__name__, [None if s is None else int(s) for s in shape],
                     layer.count_params()])
    assert rows == spec["rows"]
    trainable = sum(w.size for w in model.trainable_weights)
    assert (model.count_params(), trainable, model.count_params() - trainable) == \
        (spec["total"], spec["trainable"], spec["non_trainable"])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f"Total params: {spec['total']:,}" in text
    assert f"Non-trainable params: {spec['non_trainable']:,}" in text


@pytest.mark.parametrize("case", DATA["mha"], ids=lambda c: str(c["kwargs"]))
def test_multi_head_attention_matches_keras(case):
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}
    layer = L.MultiHeadAttention(**kwargs)
    y = layer(np.zeros(case["query"], "float32"), np.zeros(case["value"], "float32"))
    assert list(y.shape) == case["output"]
    assert layer.count_params() == case["count_params"]
    assert [list(w.shape) for w in layer.weights] == case["weights"]


def test_the_figures_come_from_keras_3():
    assert DATA["keras"].startswith("3.")
