"""BatchNormalization's state as Keras 3 keeps it: moving statistics updated by training
calls only (against a NumPy transcription of Keras's update), non-trainable weights,
trainable=False as inference mode, and the Conv2D + BatchNormalization folding."""
import numpy as np
import pytest

from numba import njit

import minigrad as mg
from minigrad import layers as L
from minigrad.backends.cpu.kernels import B as CPU_BODIES
from minigrad.layers.normalization import can_fold_conv_bn, conv_bn


def keras_moving_update(batches, momentum, c):
    """keras.layers.BatchNormalization.call in training, transcribed: for each batch,
    moving = moving * momentum + stat * (1 - momentum) with the batch's mean and
    (population) variance, in float32."""
    mm, mv = np.zeros(c, np.float32), np.ones(c, np.float32)
    m = np.float32(momentum)
    for b in batches:
        b = b.reshape(-1, c).astype(np.float64)
        mean, var = b.mean(0).astype(np.float32), b.var(0).astype(np.float32)
        mm = mm * m + mean * (np.float32(1) - m)
        mv = mv * m + var * (np.float32(1) - m)
    return mm, mv


@pytest.mark.parametrize("shape", [(4,), (3, 3, 2)])
def test_moving_statistics_after_fit_steps_match_keras_update(shape, rng):
    x = (rng.standard_normal((40,) + shape) * 3 + 2).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)
    model = mg.Sequential([L.BatchNormalization(momentum=0.8, input_shape=shape), L.Flatten(),
                           L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    bn = model.layers[0]
    want = keras_moving_update([x[i:i + 8] for i in range(0, 40, 8)] * 2, 0.8, shape[-1])
    np.testing.assert_allclose(bn.moving_mean.numpy(), want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), want[1], rtol=1e-5, atol=1e-6)
    # predict and evaluate use them and leave them alone
    before = [w.copy() for w in bn.get_weights()]
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_are_keras_ordered_and_moving_ones_non_trainable(rng):
    bn = L.BatchNormalization()
    bn(rng.standard_normal((2, 5)).astype(np.float32))
    names = [w.name.split("/")[-1] for w in bn.weights]
    assert names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[-1] for w in bn.trainable_weights] == ["gamma", "beta"]
    assert [w.name.split("/")[-1] for w in bn.non_trainable_weights] == ["moving_mean",
                                                                          "moving_variance"]
    assert bn.count_params() == 20
    assert not any(w.requires_grad for w in bn.non_trainable_weights)


def test_training_call_uses_batch_statistics_and_inference_the_moving_ones(rng):
    x = (rng.standard_normal((64, 3)) * 4 + 7).astype(np.float32)
    bn = L.BatchNormalization(momentum=0.5)
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(0), x.var(0) / (x.var(0) + 1e-3), rtol=1e-4)
    mm, mv = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    np.testing.assert_allclose(mm, 0.5 * x.mean(0), rtol=1e-5)
    z = bn(x, training=False).numpy()
    np.testing.assert_allclose(z, (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-5, atol=1e-5)


def test_trainable_false_runs_in_inference_mode_even_in_fit(rng):
    """Keras 3: a frozen BatchNormalization normalises with its moving statistics and
    updates nothing, also inside fit (the fine-tuning rule)."""
    x = (rng.standard_normal((32, 3)) * 2 + 5).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    bn = L.BatchNormalization(input_shape=(3,))
    model = mg.Sequential([bn, L.Dense(1)])
    bn.set_weights([np.full(3, 2.0), np.full(3, 0.5), np.full(3, 5.0), np.full(3, 4.0)])
    bn.trainable = False
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    model.compile(optimizer="sgd", loss="mse")
    before = [w.copy() for w in bn.get_weights()]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    out = bn(x, training=True).numpy()
    np.testing.assert_allclose(out, (x - 5) / np.sqrt(4 + 1e-3) * 2 + 0.5, rtol=1e-5, atol=1e-6)


def test_save_and_load_keep_the_moving_statistics(rng, tmp_path):
    model = mg.Sequential([L.Conv2D(3, 3, input_shape=(6, 6, 2)), L.BatchNormalization(),
                           L.Flatten(), L.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32)
    model.fit(x, rng.standard_normal((8, 2)), batch_size=4, verbose=0)
    model.save(tmp_path / "bn.npz")
    back = mg.load_model(tmp_path / "bn.npz")
    for a, b in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


# ------------------------------------------------------------------ folding
@pytest.mark.parametrize("use_bias,relu", [(True, False), (False, True)])
def test_conv_bn_folding_matches_the_pair(use_bias, relu, rng):
    conv = L.Conv2D(4, 3, padding="same", use_bias=use_bias, dtype="float64")
    bn = L.BatchNormalization(dtype="float64")
    x = mg.Tensor(rng.standard_normal((2, 5, 5, 3)), requires_grad=True)
    bn(conv(x))
    bn.set_weights([rng.standard_normal(4) + 1, rng.standard_normal(4),
                    rng.standard_normal(4), rng.random(4) + 0.5])
    assert can_fold_conv_bn(conv, bn, training=False)
    assert not can_fold_conv_bn(conv, bn, training=True)
    pair = bn(conv(x), training=False)
    if relu:
        pair = pair.relu()
    folded = conv_bn(conv, bn, x, "relu" if relu else None)
    np.testing.assert_allclose(folded.numpy(), pair.numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(pair.shape)
    grads = []
    for out in (pair, folded):
        for t in [x] + conv.weights + bn.weights[:2]:
            t.grad = None
        out.backward(g)
        grads.append([t.grad.numpy() for t in [x] + conv.weights + bn.weights[:2]])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_folding_is_not_used_for_an_activated_conv_or_another_axis():
    bn = L.BatchNormalization()
    assert not can_fold_conv_bn(L.Conv2D(2, 3, activation="relu"), bn, training=False)
    assert not can_fold_conv_bn(L.Conv2D(2, 3), L.BatchNormalization(axis=1), training=False)
    frozen = L.BatchNormalization(trainable=False)
    assert can_fold_conv_bn(L.Conv2D(2, 3), frozen, training=True)


def test_models_fold_conv_bn_relu_at_inference_only(rng, monkeypatch):
    """predict/evaluate run Conv2D + BatchNormalization (+ ReLU) as one convolution; fit
    does not (the batch statistics are needed); the results equal the unfolded layers."""
    from minigrad.layers import normalization
    model = mg.Sequential([L.Conv2D(4, 3, use_bias=False, input_shape=(6, 6, 2)),
                           L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(2), L.Flatten(),
                           L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32)
    model.fit(x, rng.standard_normal((8, 2)), batch_size=4, verbose=0)   # moving stats move
    calls = []
    real = normalization.conv_bn
    monkeypatch.setattr("minigrad.models.graph.conv_bn",
                        lambda *a, **k: calls.append(a[3:]) or real(*a, **k))
    folded = model.predict(x, verbose=0)
    assert calls == [("relu", model.layers[3])]   # conv, BN, ReLU and the pool: one op
    h = x
    for layer in model.layers:     # the same layers one by one, unfolded
        h = layer(h, training=False)
    np.testing.assert_allclose(folded, h.numpy(), rtol=1e-5, atol=1e-6)
    calls.clear()
    model.fit(x, rng.standard_normal((8, 2)), batch_size=4, verbose=0)
    assert calls == []


# ------------------------------------------------------- BN + ReLU in training
def test_batch_norm_relu_training_gradients_in_float64(rng):
    """The fused ReLU's gradient against central differences (the inputs keep clear of
    ReLU's kink, where the difference quotient is meaningless)."""
    from minigrad.ops.normalization import batch_normalization_training
    from minigrad.testing import gradcheck
    x = mg.Tensor(rng.standard_normal((6, 3, 4)), requires_grad=True)
    gamma = mg.Tensor(rng.standard_normal(4) + 1.5, requires_grad=True)
    beta = mg.Tensor(rng.standard_normal(4), requires_grad=True)
    y = batch_normalization_training(x, gamma, beta, relu=True)[0].numpy()
    assert (y == 0).mean() > 0.2 and np.abs(y[y > 0]).min() > 1e-3   # both sides used
    assert gradcheck(lambda a, g, b: batch_normalization_training(a, g, b, relu=True)[0],
                     (x, gamma, beta))


def test_batch_norm_relu_with_constant_statistics_gradients_in_float64(rng):
    """BatchNormFn with given statistics and a fused ReLU (the backward masks the
    gradient itself there) against central differences."""
    from minigrad.ops.normalization import BatchNormFn
    from minigrad.testing import gradcheck
    x = mg.Tensor(rng.standard_normal((6, 3, 4)), requires_grad=True)
    gamma = mg.Tensor(rng.standard_normal(4) + 1.5, requires_grad=True)
    beta = mg.Tensor(rng.standard_normal(4), requires_grad=True)
    mean, var = rng.standard_normal(4) * 0.1, rng.random(4) + 0.5

    def f(a, g, b):
        return BatchNormFn.apply(a, g, b, mean, var, 1e-3, False, True, None)
    y = f(x, gamma, beta).numpy()
    assert (y == 0).mean() > 0.2 and np.abs(y[y > 0]).min() > 1e-3   # both sides used
    assert gradcheck(f, (x, gamma, beta))


@pytest.mark.parametrize("with_conv", [True, False])
def test_fit_runs_bn_relu_fused_with_the_layers_results(with_conv, rng, monkeypatch):
    """In training, BatchNormalization then ReLU (after a Conv2D, or alone after a Dense)
    runs as one op, no ReLU pass of its own: the same outputs, gradients and moving
    statistics as the layers one by one, bit for bit."""
    from minigrad.backends.cpu.backend import CPUBackend
    head = [L.Conv2D(4, 3, use_bias=False, input_shape=(6, 6, 2))] if with_conv else \
        [L.Flatten(input_shape=(6, 6, 2)), L.Dense(5)]
    model = mg.Sequential(head + [L.BatchNormalization(), L.ReLU(), L.Flatten(), L.Dense(2)])
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32)
    model(x)
    weights = model.get_weights()
    relu_passes = []
    real, real_back = CPUBackend.map_forward, CPUBackend.map_backward
    monkeypatch.setattr(CPUBackend, "map_forward",
                        lambda self, op, *a: relu_passes.append(op) or real(self, op, *a))
    monkeypatch.setattr(CPUBackend, "map_backward", lambda self, op, *a: relu_passes.append(
        op + " backward") or real_back(self, op, *a))
    g = rng.standard_normal((8, 2)).astype(np.float32)
    results = []
    for fused in (True, False):
        model.set_weights(weights)
        for w in model.weights:
            w.grad = None
        if fused:
            out = model(x, training=True)
            assert "relu" not in relu_passes
        else:
            out = x
            for layer in model.layers:
                out = layer(out, training=True)
            assert "relu" in relu_passes
        out.backward(mg.Tensor(g))
        # fused, the BN's kernels mask the gradient as they read it: no pass of ReLU's
        assert ("relu backward" in relu_passes) == (not fused)
        relu_passes.clear()
        results.append([out.numpy()] + [w.grad.numpy() for w in model.trainable_weights] +
                       [w.numpy() for w in model.weights if not w.trainable])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@njit
def _relu_passed(x, g, scale, shift, relu):
    """The CPU's compiled body (module level: a dispatcher made and dropped inside a test
    leaves Numba a dead weak proxy, which test_leaks' walk of gc.get_objects() trips on)."""
    return CPU_BODIES.relu_passed(x, g, scale, shift, relu)


def test_the_fused_relu_mask_keeps_a_float32_gradient_float32():
    """norm_bodies.relu_passed returns g's own type: a float64 zero would turn a float32
    g, and the batch-norm arithmetic after it, into float64 (other bits than BN's
    backward without a ReLU had; it once did)."""
    from numba import types

    mask = _relu_passed
    f32 = np.float32
    assert mask(f32(-1), f32(2), f32(1), f32(0), True) == 0.0     # blocked
    assert mask(f32(1), f32(2), f32(1), f32(0), True) == 2.0      # passed
    assert mask(f32(-1), f32(2), f32(1), f32(0), False) == 2.0    # no ReLU
    assert mask(f32(np.nan), f32(2), f32(1), f32(0), True) == 2.0  # NaN passes (relu_grad)
    assert {sig.return_type for sig in mask.nopython_signatures} == {types.float32}
    assert mask(1.0, 2.0, 1.0, 0.0, True) == 2.0                  # float64 stays float64
    assert types.float64 in {sig.return_type for sig in mask.nopython_signatures}


# --------------------------------------------- BN + ReLU + MaxPooling2D in training
@pytest.mark.parametrize("shape,pool", [((3, 6, 5, 4), 2), ((2, 7, 6, 3), 3)])
def test_batch_norm_relu_pool_training_gradients_in_float64(shape, pool, rng):
    """The fused pool's gradient (read through its winners inside batch norm's backward
    kernels) against central differences; an odd size leaves pixels in no window."""
    from minigrad.ops.normalization import batch_normalization_training
    from minigrad.ops.pool import pool2d_geometry
    from minigrad.testing import gradcheck
    x = mg.Tensor(rng.standard_normal(shape), requires_grad=True)
    gamma = mg.Tensor(rng.standard_normal(shape[3]) + 1.5, requires_grad=True)
    beta = mg.Tensor(rng.standard_normal(shape[3]), requires_grad=True)
    pg = pool2d_geometry(shape, pool)

    def f(a, g, b):
        return batch_normalization_training(a, g, b, relu=True, pool=pg)[0]
    y = f(x, gamma, beta).numpy()
    assert y.shape == (shape[0], pg.oh, pg.ow, shape[3])
    assert (y == 0).mean() > 0.05 and (y > 0).mean() > 0.3   # the ReLU on both sides
    assert gradcheck(f, (x, gamma, beta))


def test_batch_norm_relu_pool_with_constant_statistics_gradients_in_float64(rng):
    """BatchNormFn with given statistics, a fused ReLU and pool: the backward unpools
    and masks the gradient itself there."""
    from minigrad.ops.normalization import BatchNormFn
    from minigrad.ops.pool import pool2d_geometry
    from minigrad.testing import gradcheck
    x = mg.Tensor(rng.standard_normal((3, 5, 4, 2)), requires_grad=True)
    gamma = mg.Tensor(rng.standard_normal(2) + 1.5, requires_grad=True)
    beta = mg.Tensor(rng.standard_normal(2), requires_grad=True)
    mean, var = rng.standard_normal(2) * 0.1, rng.random(2) + 0.5
    pg = pool2d_geometry(x.shape, 2)
    assert gradcheck(lambda a, g, b: BatchNormFn.apply(a, g, b, mean, var, 1e-3, False, True,
                                                       pg), (x, gamma, beta))


def test_a_pool_that_does_not_fit_is_refused_by_name():
    from minigrad.ops.normalization import batch_normalization_training
    from minigrad.ops.pool import pool2d_geometry
    x = mg.Tensor(np.ones((2, 5, 5, 3), np.float32))
    overlapping = pool2d_geometry(x.shape, 3, 2)
    with pytest.raises(ValueError, match="bn1: a fused max pool needs .* windows that do not "
                                         "overlap"):
        batch_normalization_training(x, None, None, relu=True, pool=overlapping, name="bn1")


@pytest.mark.parametrize("pool_args,fused", [((2,), True), ((3,), True), ((3, 2), False),
                                             ((2, 2, "same"), False)])
def test_fit_runs_bn_relu_pool_fused_with_the_layers_results(pool_args, fused, rng,
                                                             monkeypatch):
    """In training, Conv2D, BatchNormalization, ReLU, MaxPooling2D: the normalisation,
    ReLU and pool in one pass, no maxpool kernels, where the windows do not overlap and
    are whole (else the pool runs as its layer); the same outputs, gradients and moving
    statistics as the layers one by one, bit for bit."""
    from minigrad.backends.cpu.backend import CPUBackend
    model = mg.Sequential([L.Input((7, 9, 2)), L.Conv2D(4, 3, use_bias=False),
                           L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(*pool_args),
                           L.Flatten(), L.Dense(2)])
    x = rng.standard_normal((8, 7, 9, 2)).astype(np.float32)
    model(x)
    weights = model.get_weights()
    pool_passes = []
    for name in ("maxpool2d_forward", "maxpool2d_backward"):
        real = getattr(CPUBackend, name)
        monkeypatch.setattr(CPUBackend, name, lambda self, *a, _n=name, _r=real: (
            pool_passes.append(_n), _r(self, *a))[1])
    g = rng.standard_normal((8, 2)).astype(np.float32)
    results = []
    for one_op in (True, False):
        model.set_weights(weights)
        for w in model.weights:
            w.grad = None
        if one_op:
            out = model(x, training=True)
        else:
            out = x
            for layer in model.layers:
                out = layer(out, training=True)
        out.backward(mg.Tensor(g))
        assert bool(pool_passes) == (not (one_op and fused)), pool_passes
        pool_passes.clear()
        results.append([out.numpy()] + [w.grad.numpy() for w in model.trainable_weights] +
                       [w.numpy() for w in model.weights if not w.trainable])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,pool", [((3, 6, 8, 5), 2), ((2, 7, 9, 3), 2),
                                        ((2, 7, 6, 4), 3), ((2, 4, 6, 3), (2, 3))])
def test_the_backends_pooled_norm_functions_give_the_unpooled_ways_bits(shape, pool, dtype,
                                                                        rng):
    """scale_shift_maxpool against scale_shift then maxpool2d_forward (NaN and ties
    win as there), and the sums and input gradient read through its winners against
    maxpool2d_backward's dense gradient then the plain functions: the same bits."""
    from minigrad.backends import get_backend
    from minigrad.ops.pool import pool2d_geometry
    B = get_backend("cpu")
    pg = pool2d_geometry(shape, pool)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 1, 1, 0] = np.nan
    x[-1, :pg.ph, :pg.pw, 1] = -50.0   # a window's cells tied at the ReLU's zero
    c = shape[3]
    mean, invstd = rng.standard_normal(c).astype(dtype), (rng.random(c) + 0.5).astype(dtype)
    scale, shift = (rng.random(c) + 0.5).astype(dtype), rng.standard_normal(c).astype(dtype)
    for relu in (True, False):
        y, arg = B.scale_shift_maxpool(x, scale, shift, relu, pg)
        want_y, want_arg = B.maxpool2d_forward(B.scale_shift(x, scale, shift, relu), pg)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(arg, want_arg)
        assert np.isnan(y).any() and (not relu or (y == 0).any())
        gp = rng.standard_normal(y.shape).astype(dtype)
        dense = B.maxpool2d_backward(gp, arg, shape)
        mask = (scale, shift) if relu else None
        sums = B.norm_param_sums(x, gp, mean, invstd, False, mask, (arg, pg))
        want_sums = B.norm_param_sums(x, dense, mean, invstd, False, mask)
        for got, want in zip(sums, want_sums):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            B.batchnorm_backward_input(x, gp, mean, invstd, scale, *want_sums, mask,
                                       (arg, pg)),
            B.batchnorm_backward_input(x, dense, mean, invstd, scale, *want_sums, mask))
