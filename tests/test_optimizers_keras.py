"""Every optimizer against a NumPy transcription of Keras 3's update (keras/src/
optimizers/*.py, base_optimizer.py: clipping, then weight decay, then the step),
float32 and float64, over several steps; Adadelta also against PyTorch's; schedules,
a settable learning rate, configs and bad hyperparameters."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optimizers
from minigrad.optimizers import schedules


# ------------------------------------------------ NumPy references (Keras 3)
class Ref:
    """Keras 3's optimizers on float64 NumPy arrays, one weight list at a time."""

    def __init__(self, kind, lr=0.01, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, **hp):
        self.kind, self.lr, self.wd = kind, lr, weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.hp, self.state, self.t, self.u_product = hp, None, 0, 1.0

    def learning_rate(self):
        return self.lr(self.t) if callable(self.lr) else self.lr

    def step(self, ps, gs):
        if self.state is None:
            init = self.hp.get("initial_accumulator_value", 0.0) if self.kind == "adagrad" else 0
            self.state = [{k: np.full_like(p, init) for k in "abc"} for p in ps]
        lr = self.learning_rate()
        if self.clipnorm:
            gs = [g * self.clipnorm / max(np.sqrt((g * g).sum()), self.clipnorm) for g in gs]
        elif self.global_clipnorm:
            norm = np.sqrt(sum((g * g).sum() for g in gs))
            gs = [g * self.global_clipnorm * min(1 / norm, 1 / self.global_clipnorm) for g in gs]
        elif self.clipvalue:
            gs = [np.clip(g, -self.clipvalue, self.clipvalue) for g in gs]
        if self.wd:
            ps = [p - p * self.wd * lr for p in ps]
        if self.kind == "nadam":
            self.u_product *= self.hp["beta_1"] * (1 - 0.5 * 0.96 ** (self.t + 1))
        out = [getattr(self, self.kind)(p, g, s, lr, self.t + 1) for p, g, s in zip(ps, gs,
                                                                                   self.state)]
        self.t += 1
        return out

    def sgd(self, p, g, s, lr, t):
        mom, nesterov = self.hp.get("momentum", 0.0), self.hp.get("nesterov", False)
        if mom == 0:
            return p - lr * g
        s["a"] = mom * s["a"] - lr * g
        return p + (mom * s["a"] - lr * g if nesterov else s["a"])

    def adam(self, p, g, s, lr, t):
        b1, b2, eps = self.hp["beta_1"], self.hp["beta_2"], self.hp["epsilon"]
        s["a"] = s["a"] + (g - s["a"]) * (1 - b1)
        s["b"] = s["b"] + (g * g - s["b"]) * (1 - b2)
        v = s["b"]
        if self.hp.get("amsgrad"):
            s["c"] = np.maximum(s["c"], s["b"])
            v = s["c"]
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return p - s["a"] * alpha / (np.sqrt(v) + eps)

    def rmsprop(self, p, g, s, lr, t):
        rho, mom, eps = self.hp["rho"], self.hp["momentum"], self.hp["epsilon"]
        s["a"] = rho * s["a"] + (1 - rho) * g * g
        if self.hp["centered"]:
            s["c"] = rho * s["c"] + (1 - rho) * g
            denominator = s["a"] - s["c"] ** 2 + eps
        else:
            denominator = s["a"] + eps
        increment = lr * g / np.sqrt(denominator)
        if mom > 0:
            s["b"] = mom * s["b"] + increment
            return p - s["b"]
        return p - increment

    def adagrad(self, p, g, s, lr, t):
        s["a"] = s["a"] + g * g
        return p - lr * g / np.sqrt(s["a"] + self.hp["epsilon"])

    def adadelta(self, p, g, s, lr, t):
        rho, eps = self.hp["rho"], self.hp["epsilon"]
        s["a"] = rho * s["a"] + (1 - rho) * g * g
        delta = -np.sqrt(s["b"] + eps) * g / np.sqrt(s["a"] + eps)
        s["b"] = rho * s["b"] + (1 - rho) * delta * delta
        return p + lr * delta

    def adamax(self, p, g, s, lr, t):
        b1, b2, eps = self.hp["beta_1"], self.hp["beta_2"], self.hp["epsilon"]
        s["a"] = s["a"] + (g - s["a"]) * (1 - b1)
        s["b"] = np.maximum(b2 * s["b"], np.abs(g))
        return p - lr * s["a"] / ((1 - b1 ** t) * (s["b"] + eps))

    def nadam(self, p, g, s, lr, t):
        b1, b2, eps = self.hp["beta_1"], self.hp["beta_2"], self.hp["epsilon"]
        u_t, u_t_1 = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_prod, u_prod_1 = self.u_product, self.u_product * u_t_1
        s["a"] = s["a"] + (g - s["a"]) * (1 - b1)
        s["b"] = s["b"] + (g * g - s["b"]) * (1 - b2)
        m_hat = u_t_1 * s["a"] / (1 - u_prod_1) + (1 - u_t) * g / (1 - u_prod)
        v_hat = s["b"] / (1 - b2 ** t)
        return p - m_hat * lr / (np.sqrt(v_hat) + eps)


ADAM_HP = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
CASES = [  # (id, optimizer, reference)
    ("sgd", lambda: optimizers.SGD(0.05), Ref("sgd", 0.05)),
    ("sgd_nesterov", lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
     Ref("sgd", 0.05, momentum=0.9, nesterov=True)),
    ("adam", lambda: optimizers.Adam(0.01), Ref("adam", 0.01, **ADAM_HP)),
    ("adam_amsgrad", lambda: optimizers.Adam(0.01, amsgrad=True),
     Ref("adam", 0.01, amsgrad=True, **ADAM_HP)),
    ("adamw", lambda: optimizers.AdamW(0.01), Ref("adam", 0.01, weight_decay=0.004, **ADAM_HP)),
    ("rmsprop", lambda: optimizers.RMSprop(0.01),
     Ref("rmsprop", 0.01, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)),
    ("rmsprop_centered_momentum", lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
     Ref("rmsprop", 0.01, rho=0.9, momentum=0.5, epsilon=1e-7, centered=True)),
    ("adagrad", lambda: optimizers.Adagrad(0.05),
     Ref("adagrad", 0.05, initial_accumulator_value=0.1, epsilon=1e-7)),
    ("adadelta", lambda: optimizers.Adadelta(1.0), Ref("adadelta", 1.0, rho=0.95, epsilon=1e-7)),
    ("adamax", lambda: optimizers.Adamax(0.01), Ref("adamax", 0.01, **ADAM_HP)),
    ("nadam", lambda: optimizers.Nadam(0.01), Ref("nadam", 0.01, **ADAM_HP)),
    ("adam_clipnorm_decay", lambda: optimizers.Adam(0.01, clipnorm=0.5, weight_decay=0.1),
     Ref("adam", 0.01, clipnorm=0.5, weight_decay=0.1, **ADAM_HP)),
    ("rmsprop_clipvalue", lambda: optimizers.RMSprop(0.01, clipvalue=0.2),
     Ref("rmsprop", 0.01, clipvalue=0.2, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)),
    ("sgd_global_clipnorm", lambda: optimizers.SGD(0.1, momentum=0.9, global_clipnorm=1.0),
     Ref("sgd", 0.1, global_clipnorm=1.0, momentum=0.9)),
    ("nadam_schedule", lambda: optimizers.Nadam(schedules.ExponentialDecay(0.01, 2, 0.5)),
     Ref("nadam", lambda step: 0.01 * 0.5 ** (step / 2), **ADAM_HP)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_optimizer_matches_keras_formula(case, dtype, rng):
    _, make, ref = case
    ref.__init__(ref.kind, ref.lr, ref.wd, ref.clipnorm, ref.clipvalue, ref.global_clipnorm,
                 **ref.hp)  # a fresh reference per parametrisation
    shapes = [(4, 3), (3,)]
    weights = [mg.Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
               for s in shapes]
    want = [w.numpy().astype(np.float64) for w in weights]
    opt = make()
    for _ in range(6):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        for w, g in zip(weights, grads):
            w.grad = mg.Tensor(g)
        opt.apply_gradients(weights)
        want = ref.step(want, [g.astype(np.float64) for g in grads])
    assert opt.iterations == 6
    rtol = 2e-5 if dtype == "float32" else 1e-10
    for w, p in zip(weights, want):
        assert w.dtype == np.dtype(dtype)
        np.testing.assert_allclose(w.numpy(), p, rtol=rtol, atol=rtol)


def test_adadelta_matches_torch(rng):
    torch = pytest.importorskip("torch")
    p0 = rng.standard_normal((5, 4))
    tp = torch.tensor(p0, requires_grad=True)
    topt = torch.optim.Adadelta([tp], lr=1.0, rho=0.95, eps=1e-7)
    w = mg.Tensor(p0, requires_grad=True)
    opt = optimizers.Adadelta(learning_rate=1.0)
    for _ in range(5):
        g = rng.standard_normal((5, 4))
        tp.grad = torch.tensor(g)
        topt.step()
        w.grad = mg.Tensor(g)
        opt.apply_gradients([w])
    np.testing.assert_allclose(w.numpy(), tp.detach().numpy(), rtol=1e-10)


def test_keras_pairs_and_apply(rng):
    w1, w2 = (mg.Tensor(rng.standard_normal(3), requires_grad=True) for _ in range(2))
    g = rng.standard_normal(3)
    a, b = w1.numpy().copy(), w2.numpy().copy()
    optimizers.SGD(0.1).apply_gradients(zip([mg.Tensor(g), None], [w1, w2]))
    np.testing.assert_allclose(w1.numpy(), a - 0.1 * g)
    np.testing.assert_array_equal(w2.numpy(), b)  # no gradient: no update


def test_learning_rate_is_settable_and_takes_effect_next_step(rng):
    w = mg.Tensor(np.zeros(2), requires_grad=True)
    opt = optimizers.SGD(0.1)
    w.grad = mg.Tensor(np.ones(2))
    opt.apply_gradients([w])
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    w.grad = mg.Tensor(np.ones(2))
    opt.apply_gradients([w])
    np.testing.assert_allclose(w.numpy(), [-0.6, -0.6])
    with pytest.raises(ValueError, match=r"`learning_rate` must be a finite number > 0.0, got inf"):
        opt.learning_rate = float("inf")
    scheduled = optimizers.SGD(schedules.PiecewiseConstantDecay([1], [0.1, 0.01]))
    assert [scheduled.learning_rate, scheduled.apply_gradients([]) or
            scheduled.learning_rate] == [0.1, 0.1]
    with pytest.raises(TypeError, match="hence its learning rate is not settable"):
        scheduled.learning_rate = 0.3


def test_schedule_returning_a_vector_is_a_clear_error():
    class Bad(schedules.LearningRateSchedule):
        def __call__(self, step):
            return np.ones(3)

    w = mg.Tensor(np.zeros(2), requires_grad=True)
    w.grad = mg.Tensor(np.ones(2))
    with pytest.raises(ValueError, match="returned .* for step 0; expected a scalar number"):
        optimizers.Adam(Bad()).apply_gradients([w])
    np.testing.assert_array_equal(w.numpy(), 0)  # nothing changed


def test_names_configs_and_state_round_trip(rng):
    for name, cls in [("sgd", optimizers.SGD), ("adam", optimizers.Adam),
                      ("adamw", optimizers.AdamW), ("rmsprop", optimizers.RMSprop),
                      ("adagrad", optimizers.Adagrad), ("adadelta", optimizers.Adadelta),
                      ("adamax", optimizers.Adamax), ("nadam", optimizers.Nadam),
                      ("RMSprop", optimizers.RMSprop)]:
        assert type(optimizers.get(name)) is cls
    defaults = {"sgd": 0.01, "adam": 0.001, "rmsprop": 0.001, "adagrad": 0.001,
                "adadelta": 0.001, "adamax": 0.001, "nadam": 0.001, "adamw": 0.001}
    assert {k: optimizers.get(k).learning_rate for k in defaults} == defaults
    assert optimizers.AdamW().weight_decay == 0.004
    opt = optimizers.RMSprop(schedules.CosineDecay(0.01, 100), momentum=0.3, centered=True,
                             clipnorm=2.0)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is optimizers.RMSprop and again.get_config() == opt.get_config()
    assert again.slot_names == ("velocity", "momentum", "average_gradient")
    nadam = optimizers.Nadam(0.01)
    w = mg.Tensor(rng.standard_normal(4), requires_grad=True)
    for _ in range(3):
        w.grad = mg.Tensor(rng.standard_normal(4))
        nadam.apply_gradients([w])
    resumed = optimizers.Nadam(0.01)
    resumed.set_state(*nadam.get_state(), [w])
    assert resumed._u_product == pytest.approx(nadam._u_product, rel=1e-15)


def test_bad_hyperparameters_are_clear_errors():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and "
                                         "`global_clipnorm` can be set"):
        optimizers.Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match=r"RMSprop: `rho` must be a finite number in \[0.0"):
        optimizers.RMSprop(rho=1.5)
    with pytest.raises(ValueError, match="Argument `weight_decay` must be a float"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(NotImplementedError, match=r"\['use_ema'\] are not supported"):
        optimizers.Adam(use_ema=True)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['lr'\]"):
        optimizers.SGD(lr=0.1)
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 'adamz'"):
        optimizers.get("adamz")


def test_exclude_from_weight_decay(rng):
    kernel, bias = (mg.Tensor(np.ones(3), requires_grad=True) for _ in range(2))
    kernel.name, bias.name = "dense/kernel", "dense/bias"
    opt = optimizers.SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    for w in (kernel, bias):
        w.grad = mg.Tensor(np.zeros(3))
    opt.apply_gradients([kernel, bias])
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.5 * 0.1)
    np.testing.assert_allclose(bias.numpy(), 1.0)
