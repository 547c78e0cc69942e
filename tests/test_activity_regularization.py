"""ActivityRegularization: its penalty joins the training loss through the layer's
activity regularizer (Layer.add_loss), as Keras 3's."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L


def test_config_round_trip():
    layer = L.ActivityRegularization(l1=0.1)
    config = layer.get_config()
    assert config["l1"] == 0.1
    assert L.ActivityRegularization.from_config(config).l1 == 0.1


def test_penalty_is_keras_activity_regularizer_over_the_batch(rng):
    """Keras 3: loss = l1 * sum|x| + l2 * sum(x**2), divided by the batch size."""
    layer = L.ActivityRegularization(l1=0.01, l2=0.02)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    model = mg.Sequential([L.Input((3,)), layer])
    y = model(x)
    np.testing.assert_array_equal(y.numpy(), x)
    want = (0.01 * np.abs(x).sum() + 0.02 * (x ** 2).sum()) / 4
    np.testing.assert_allclose(sum(float(loss.numpy()) for loss in model.losses), want,
                               rtol=1e-5)
    with pytest.raises(ValueError, match="`l2` must be a number >= 0"):
        L.ActivityRegularization(l2=-1.0)
