"""ActivityRegularization: its penalty joins the training loss through Layer.add_loss
(issue 13); skipped, with the marker saying so, until minigrad has it."""
import numpy as np
import pytest

import minigrad as mg
from keras_guides import needs
from minigrad import layers as L


def test_it_says_what_it_needs_or_exists():
    if hasattr(L.Layer, "add_loss"):
        assert L.ActivityRegularization(l1=0.1).get_config()["l1"] == 0.1
    else:
        with pytest.raises(NotImplementedError, match="needs Layer.add_loss"):
            L.ActivityRegularization(l1=0.1)


@needs("Layer.add_loss")
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
