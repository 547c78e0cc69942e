"""Optimizer state belongs to its weights (issue 10.7) and hyperparameters are
checked to ranges that train (18.3). Reusing one optimizer on another model
once wrote out of bounds (SIGSEGV), so that case runs in a subprocess: a crash
fails the test instead of killing pytest."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dense_model(hidden, optimizer):
    model = mg.Sequential([L.Dense(hidden, input_shape=(3,)), L.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_reuse_on_a_model_with_other_shapes_is_a_value_error_not_a_crash():
    script = textwrap.dedent("""
        import numpy as np, minigrad as mg
        from minigrad import layers as L
        def model(hidden, opt):
            m = mg.Sequential([L.Dense(hidden, input_shape=(3,)), L.Dense(2)])
            m.compile(optimizer=opt, loss="mse")
            return m
        opt = mg.optimizers.Adam()
        x, y = np.ones((64, 3), "f4"), np.ones((64, 2), "f4")
        model(4, opt).fit(x, y, epochs=1, verbose=0)
        try:    # four weights again, but (3, 400) where the slots are (3, 4)
            model(400, opt).fit(x, y, epochs=2, verbose=0)
        except ValueError as e:
            print("ValueError:", e)
    """)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"crashed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    assert "ValueError: Adam: slot 'm' of weight 0 has shape (3, 4)" in proc.stdout, \
        proc.stdout + proc.stderr[-2000:]


def test_reuse_on_a_model_with_the_same_shapes_is_a_value_error_as_in_keras():
    opt = mg.optimizers.Adam()
    x, y = np.ones((8, 3), "f4"), np.ones((8, 2), "f4")
    first = dense_model(4, opt)
    first.fit(x, y, epochs=1, verbose=0)
    second = dense_model(4, opt)
    before = second.get_weights()
    with pytest.raises(ValueError, match="unknown weight 0 .*new optimizer instance"):
        second.fit(x, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, second.get_weights()))
    first.fit(x, y, epochs=1, verbose=0)   # still fine for its own model


def test_a_changed_weight_count_names_both_counts():
    opt = mg.optimizers.SGD()
    opt.build(dense_model(4, "sgd").trainable_weights)
    with pytest.raises(ValueError, match="built for 4 weights, given 2"):
        opt.build([mg.Tensor(np.zeros((3, 4), "f4")), mg.Tensor(np.zeros(4, "f4"))])


def test_set_state_checks_the_slots_against_the_weights_first():
    model = dense_model(4, mg.optimizers.Adam())
    model.fit(np.ones((8, 3), "f4"), np.ones((8, 2), "f4"), epochs=1, verbose=0)
    opt, weights = model.optimizer, model.trainable_weights
    iterations, slots = opt.get_state()
    with pytest.raises(ValueError, match="expected 8 slot arrays .*got 7"):
        opt.set_state(iterations, slots[:7], weights)
    bad = list(slots)
    bad[2] = np.zeros((5, 5), "f4")
    with pytest.raises(ValueError, match=r"slot array 2 has shape \(5, 5\), its weight \(4,\)"):
        opt.set_state(99, bad, weights)
    assert opt.get_state()[0] == iterations          # untouched
    opt.set_state(iterations, slots, weights)        # the right state loads


@pytest.mark.parametrize("make,arg", [
    (lambda: mg.optimizers.Adam(learning_rate=float("inf")), "learning_rate"),
    (lambda: mg.optimizers.Adam(learning_rate=float("nan")), "learning_rate"),
    (lambda: mg.optimizers.SGD(learning_rate=0.0), "learning_rate"),
    (lambda: mg.optimizers.Adam(beta_1=1.0), "beta_1"),
    (lambda: mg.optimizers.Adam(beta_2=1), "beta_2"),
    (lambda: mg.optimizers.Adam(beta_1=-0.1), "beta_1"),
    (lambda: mg.optimizers.Adam(epsilon=float("inf")), "epsilon"),
    (lambda: mg.optimizers.Adam(epsilon=0.0), "epsilon"),
    (lambda: mg.optimizers.SGD(momentum=float("nan")), "momentum"),
    (lambda: mg.optimizers.RMSprop(rho=1.0), "rho"),     # v stays 0: steps of lr * g / 3e-4
])
def test_hyperparameters_that_cannot_train_are_a_value_error(make, arg):
    with pytest.raises(ValueError, match=f"`{arg}` must be a finite number (in|>)"):
        make()


def test_hyperparameters_at_the_edges_of_the_ranges_train():
    x, y = np.random.default_rng(0).standard_normal((16, 3)).astype("f4"), np.ones((16, 2), "f4")
    for opt in (mg.optimizers.Adam(beta_1=0.0, beta_2=0.0), mg.optimizers.SGD(momentum=1.0),
                mg.optimizers.RMSprop(rho=0.0), mg.optimizers.Adadelta(0.1, rho=1.0)):
        h = dense_model(4, opt).fit(x, y, epochs=3, verbose=0).history["loss"]
        assert np.isfinite(h).all() and h[-1] < h[0]


def test_get_state_is_a_snapshot_later_steps_leave_alone():
    """Warmup and fit's compile-ahead restore a snapshot taken after the optimizer is
    built: slots handed out by reference came back as they were after the steps."""
    model = dense_model(4, "adam")
    x, y = np.ones((8, 3), "f4"), np.ones((8, 2), "f4")
    model.train_on_batch(x, y)
    iterations, slots = model.optimizer.get_state()
    before = [s.copy() for s in slots]
    model.train_on_batch(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(slots, before))
    assert not all(np.array_equal(a, b) for a, b in
                   zip(model.optimizer.get_state()[1], before))   # the slots did move
