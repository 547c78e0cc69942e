"""keras.ops array functions on a CUDA device give the CPU's values and gradients
(where, concatenate, stack, argmax, max, comparisons, cast, one_hot)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import ops

FUNCTIONS = {
    "where": lambda a, b: ops.where(a > 0, a * b, b),
    "concatenate": lambda a, b: ops.concatenate([a, b], axis=1) * 2.0,
    "stack": lambda a, b: ops.stack([a, b], axis=0) ** 2,
    "max": lambda a, b: ops.max(a + b, axis=0),
    "maximum": lambda a, b: ops.maximum(a, b),
    "cast": lambda a, b: ops.cast(a, "float64") * ops.cast(b, "float64"),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_values_and_gradients_match_the_cpu(name, rng):
    a, b = rng.standard_normal((3, 4)).astype("f4"), rng.standard_normal((3, 4)).astype("f4")
    results = {}
    for device in ("cpu", "cuda"):
        ta, tb = (mg.Tensor(v, requires_grad=True, device=device) for v in (a, b))
        out = FUNCTIONS[name](ta, tb)
        out.sum().backward()
        results[device] = (out.numpy(), ta.grad.numpy(), tb.grad.numpy())
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=1e-6)


def test_non_differentiable_results_match_the_cpu(rng):
    x = rng.standard_normal((4, 5)).astype("f4")
    x[1, 2] = np.nan
    for device in ("cpu", "cuda"):
        t = mg.Tensor(x, device=device)
        got = [ops.argmax(t, axis=1).numpy(), (t > 0).numpy(), (t == t).numpy(),
               ops.one_hot(ops.argmax(t, axis=0), 5).numpy()]
        if device == "cpu":
            want = got
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
