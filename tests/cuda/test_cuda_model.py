"""End to end on the CUDA backend: Tensor plumbing, and Sequential fit/evaluate/predict
giving the same numbers as the same seeded model trained on the CPU."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor, layers


def data(n=8):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 6, 6, 1)).astype("f4"), rng.integers(0, 3, n)


def train(device, optimizer="adam", epochs=2):
    mg.random.seed(0)
    x, y = data()
    model = mg.Sequential([
        layers.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=device)
    history = model.fit(x, y, batch_size=4, epochs=epochs, verbose=0)
    return model, history.history


@pytest.fixture(scope="module")
def both():
    return train("cpu"), train("cuda")


def test_fit_evaluate_predict_on_cuda(both):
    _, (model, hist) = both
    assert model.device == "cuda"
    for w in model.trainable_weights:  # the weights never left the device
        assert w.device == "cuda" and not isinstance(w.data, np.ndarray)
    assert len(hist["loss"]) == 2 and np.all(np.isfinite(hist["loss"]))
    assert hist["accuracy"][-1] in {k / 8 for k in range(9)}  # 8 samples: a count over 8
    x, y = data()
    loss, acc = model.evaluate(x, y, verbose=0)
    probs = model.predict(x, verbose=0)
    assert isinstance(probs, np.ndarray) and probs.shape == (8, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # evaluate's figures are those of the predictions that came back to the host
    assert acc == np.mean(probs.argmax(axis=1) == y)
    np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(8), y])), rtol=1e-5)


def test_cpu_and_cuda_training_agree(both):
    (cpu_model, cpu_hist), (cuda_model, cuda_hist) = both
    # same seed: same init, same shuffles, bit-identical dropout masks
    np.testing.assert_allclose(cuda_hist["loss"], cpu_hist["loss"], rtol=1e-4)
    assert cuda_hist["accuracy"] == cpu_hist["accuracy"]
    for a, b in zip(cpu_model.get_weights(), cuda_model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    x, y = data()
    np.testing.assert_allclose(cuda_model.predict(x, verbose=0), cpu_model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cuda_model.evaluate(x, y, verbose=0),
                               cpu_model.evaluate(x, y, verbose=0), rtol=1e-4)


def test_sgd_nesterov_agrees():
    opt = lambda: mg.optimizers.SGD(0.1, momentum=0.9, nesterov=True)  # noqa: E731
    (cpu_model, cpu_hist), (cuda_model, cuda_hist) = (train(d, opt(), epochs=1)
                                                      for d in ("cpu", "cuda"))
    np.testing.assert_allclose(cuda_hist["loss"], cpu_hist["loss"], rtol=1e-4)
    for a, b in zip(cpu_model.get_weights(), cuda_model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_model_moves_back_to_cpu(both):
    _, (model, _) = both
    x, _ = data()
    on_gpu = model.predict(x, verbose=0)
    model.to("cpu")
    try:
        assert all(isinstance(w.data, np.ndarray) for w in model.trainable_weights)
        np.testing.assert_allclose(model.predict(x, verbose=0), on_gpu, rtol=1e-5, atol=1e-7)
    finally:
        model.to("cuda")


def test_tensor_plumbing():
    a = np.arange(6, dtype="f4").reshape(2, 3)
    t = Tensor(a, device="cuda")
    assert t.device == "cuda" and t.shape == (2, 3) and t.dtype == np.float32
    assert not isinstance(t.data, np.ndarray)
    host = t.numpy()
    np.testing.assert_array_equal(host, a)
    host[0, 0] = 99  # numpy() is a copy
    assert t.numpy()[0, 0] == 0
    back = t.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    assert Tensor(a).to("cuda").device == "cuda" and t.to("cuda") is t
    # a device array is wrapped without a copy; dtype= converts on the device
    same = Tensor(t.data, device="cuda")
    assert same.data is t.data
    np.testing.assert_array_equal(Tensor(t.data, device="cuda", dtype="f8").numpy(), a)
    # scalars lifted into arithmetic end on the device, in the tensor's dtype
    s = t * 2 + 1
    assert s.device == "cuda" and s.dtype == np.float32
    np.testing.assert_array_equal(s.numpy(), a * 2 + 1)
    assert "device='cuda'" in repr(t)


def test_autograd_on_cuda_matches_cpu():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)).astype("f4"), rng.standard_normal((4,)).astype("f4")
    grads = {}
    for dev in ("cpu", "cuda"):
        ta, tb = Tensor(a, True, device=dev), Tensor(b, True, device=dev)
        out = ((ta * tb - tb) ** 2).mean() + (ta @ ta.T).sum() / 10
        out.backward()
        grads[dev] = (out.item(), ta.grad.numpy(), tb.grad.numpy())
        assert ta.grad.device == dev
    for c, g in zip(grads["cpu"], grads["cuda"]):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)


def test_minigrad_device_environment_variable(monkeypatch):
    monkeypatch.setenv("MINIGRAD_DEVICE", "cuda")
    assert Tensor([1.0, 2.0]).device == "cuda"
    model = mg.Sequential([layers.Dense(2, input_shape=(3,))])
    assert model.device == "cuda"
    assert model.predict(np.ones((2, 3), "f4"), verbose=0).shape == (2, 2)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((3, 4), ()),
                                   ((), (2, 3)), ((2, 3, 1), (1, 1, 5))])
def test_broadcast_arithmetic_gradients_have_input_shapes(sa, sb):
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.5, 2.0, sa), rng.uniform(0.5, 2.0, sb)
    ta, tb = Tensor(a, True, device="cuda"), Tensor(b, True, device="cuda")
    assert ta.shape == sa and tb.shape == sb  # 0-d stays 0-d on the device
    out = ta * tb + ta / tb - tb
    np.testing.assert_allclose(out.numpy(), a * b + a / b - b, rtol=1e-12)
    out.sum().backward()
    ga = np.broadcast_to(b + 1 / b, out.shape)
    gb = np.broadcast_to(a - a / b ** 2 - 1, out.shape)
    assert ta.grad.shape == sa and tb.grad.shape == sb
    lead_a, lead_b = out.ndim - len(sa), out.ndim - len(sb)
    np.testing.assert_allclose(
        ta.grad.numpy(), ga.sum(axis=tuple(range(lead_a))).sum(
            axis=tuple(i for i, s in enumerate(sa) if s == 1), keepdims=True).reshape(sa),
        rtol=1e-10)
    np.testing.assert_allclose(
        tb.grad.numpy(), gb.sum(axis=tuple(range(lead_b))).sum(
            axis=tuple(i for i, s in enumerate(sb) if s == 1), keepdims=True).reshape(sb),
        rtol=1e-10)


def test_fit_copies_only_the_data_once_and_scalars_back(monkeypatch):
    """The data cross to the device once a fit (the shuffle order once an epoch);
    each step sends nothing and brings back only the loss and the metric count."""
    from minigrad.backends import get_backend
    backend = get_backend("cuda")
    copies = []
    to_device = backend.cuda.to_device
    monkeypatch.setattr(backend.cuda, "to_device",
                        lambda a, *args, **kw: copies.append(("in", np.shape(a))) or
                        to_device(a, *args, **kw))
    array_type = type(backend.empty((1,), np.float32))
    copy_to_host = array_type.copy_to_host
    monkeypatch.setattr(array_type, "copy_to_host",
                        lambda self, *args, **kw: copies.append(("out", tuple(self.shape))) or
                        copy_to_host(self, *args, **kw))
    x, y = data(12)
    model = mg.Sequential([layers.Flatten(input_shape=(6, 6, 1)), layers.Dropout(0.5),
                           layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cuda")
    model.fit(x, y, batch_size=4, verbose=0)  # the first fit also uploads shared constants
    copies.clear()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x[:4], y[:4]))
    ins = [shape for kind, shape in copies if kind == "in"]
    outs = [shape for kind, shape in copies if kind == "out"]
    assert sorted(ins) == sorted([(12, 6, 6, 1), (12,), (4, 6, 6, 1), (4,), (12,), (12,)])
    steps = 2 * (3 + 1)  # two epochs of three training and one validation batch
    assert outs == [()] * (2 * steps)  # the loss and the accuracy count, per step
