"""MultiHeadAttention: Keras 3's weights (names, order, shapes), PyTorch's
nn.MultiheadAttention as an oracle for values, scores and gradients (weights
transposed to Keras's layout), float64 gradchecks, masks and bad input."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L
from minigrad.testing import gradcheck


def test_weights_as_keras(rng):
    """Keras 3.15: query/key/value kernels (dim, heads, key|value_dim), biases (heads,
    size), attention_output kernel (heads, value_dim, dim) and bias; in that order."""
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, name="mha")
    y, scores = mha(np.zeros((2, 5, 6), "f4"), np.zeros((2, 7, 8), "f4"),
                    return_attention_scores=True)
    assert y.shape == (2, 5, 6) and scores.shape == (2, 2, 5, 7)
    assert [(w.name, w.shape) for w in mha.weights] == [
        ("mha/query/kernel", (6, 2, 3)), ("mha/query/bias", (2, 3)),
        ("mha/key/kernel", (8, 2, 3)), ("mha/key/bias", (2, 3)),
        ("mha/value/kernel", (8, 2, 4)), ("mha/value/bias", (2, 4)),
        ("mha/attention_output/kernel", (2, 4, 6)), ("mha/attention_output/bias", (6,))]
    assert mha.count_params() == 222   # keras: MultiHeadAttention(2, 3, value_dim=4).count_params()


def test_attention_axes_and_output_shape(rng):
    mha = L.MultiHeadAttention(2, 3, attention_axes=(2,), output_shape=5)
    x = rng.standard_normal((2, 4, 6, 8)).astype("f4")
    y, scores = mha(x, x, return_attention_scores=True)
    assert y.shape == (2, 4, 6, 5) and scores.shape == (2, 4, 2, 6, 6)   # as Keras
    np.testing.assert_allclose(scores.numpy().sum(-1), 1, rtol=1e-5)
    every = L.MultiHeadAttention(2, 3)
    y, scores = every(x, x, return_attention_scores=True)
    assert y.shape == x.shape and scores.shape == (2, 2, 4, 6, 4, 6)


torch = pytest.importorskip("torch")


def torch_reference(mha, q, v, mask=None, causal=False):
    """nn.MultiheadAttention with minigrad's weights moved to torch's layout."""
    wq, bq, wk, bk, wv, bv, wo, bo = mha.get_weights()
    e, h, d = wq.shape
    tm = torch.nn.MultiheadAttention(e, h, bias=True, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        tm.in_proj_weight.copy_(torch.tensor(np.concatenate(
            [w.reshape(e, h * d).T for w in (wq, wk, wv)])))
        tm.in_proj_bias.copy_(torch.tensor(np.concatenate([b.reshape(-1) for b in (bq, bk, bv)])))
        tm.out_proj.weight.copy_(torch.tensor(wo.reshape(h * d, e).T))
        tm.out_proj.bias.copy_(torch.tensor(bo))
    tq = torch.tensor(q, dtype=torch.float64, requires_grad=True)
    tv = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    blocked = None
    if mask is not None:   # torch: True = may not attend; per head: (batch * heads, T, S)
        blocked = torch.tensor(np.repeat(~mask, h, axis=0))
    if causal:
        blocked = torch.tensor(~np.tril(np.ones((q.shape[1], v.shape[1]), bool)))
    out, weights = tm(tq, tv, tv, attn_mask=blocked, need_weights=True,
                      average_attn_weights=False)
    return tm, tq, tv, out, weights


@pytest.mark.parametrize("masked,causal", [(False, False), (True, False), (False, True)])
def test_matches_torch_multihead_attention(masked, causal, rng):
    q = rng.standard_normal((2, 5, 6)).astype("f4")
    v = rng.standard_normal((2, 5, 6)).astype("f4")
    mask = rng.random((2, 5, 5)) > 0.4 if masked else None
    if masked:
        mask[:, :, 0] = True   # every query keeps one key (torch gives NaN rows otherwise)
    mha = L.MultiHeadAttention(num_heads=3, key_dim=2)
    mha(q, v)
    mha.set_weights([rng.standard_normal(w.shape) * 0.5 for w in mha.get_weights()])
    tq_, tv_ = mg.Tensor(q, requires_grad=True), mg.Tensor(v, requires_grad=True)
    y, scores = mha(tq_, tv_, attention_mask=mask, return_attention_scores=True,
                    use_causal_mask=causal)
    g = rng.standard_normal(y.shape).astype("f4")
    y.backward(g)
    tm, tq, tv, ty, tw = torch_reference(mha, q, v, mask, causal)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    tol = dict(rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(scores.numpy(), tw.detach().numpy(), **tol)
    np.testing.assert_allclose(tq_.grad.numpy(), tq.grad.numpy(), **tol)
    np.testing.assert_allclose(tv_.grad.numpy(), tv.grad.numpy(), **tol)
    e, h, d = mha.get_weights()[0].shape
    gq = tm.in_proj_weight.grad.numpy()[:e].T.reshape(e, h, d)
    np.testing.assert_allclose(mha.weights[0].grad.numpy(), gq, **tol)
    np.testing.assert_allclose(mha.weights[6].grad.numpy(),
                               tm.out_proj.weight.grad.numpy().T.reshape(h, d, e), **tol)


@pytest.fixture
def one_thread():
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.mark.parametrize("kwargs,qs,vs,call", [
    (dict(num_heads=2, key_dim=2, value_dim=3), (2, 3, 4), (2, 4, 5), {}),
    (dict(num_heads=1, key_dim=2, output_shape=(2, 2)), (1, 3, 4), (1, 3, 4),
     dict(use_causal_mask=True)),
    (dict(num_heads=2, key_dim=2, attention_axes=(1,)), (1, 3, 2, 3), (1, 3, 2, 3), {}),
])
def test_gradcheck(kwargs, qs, vs, call, rng, one_thread):
    mha = L.MultiHeadAttention(dtype="float64", **kwargs)
    q = mg.Tensor(rng.standard_normal(qs), requires_grad=True)
    v = mg.Tensor(rng.standard_normal(vs), requires_grad=True)
    mha(q, v)
    mha.set_weights([rng.standard_normal(w.shape) * 0.5 for w in mha.get_weights()])
    assert gradcheck(lambda q, v, *ws: mha(q, v, **call), (q, v, *mha.weights))


def test_key_differs_from_value_and_masks_broadcast(rng):
    mha = L.MultiHeadAttention(2, 3)
    q = rng.standard_normal((2, 4, 5)).astype("f4")
    v = rng.standard_normal((2, 6, 5)).astype("f4")
    k = rng.standard_normal((2, 6, 7)).astype("f4")
    mask = np.ones((2, 4, 6), bool)
    mask[:, :, 3:] = False
    y, scores = mha(q, v, key=k, attention_mask=mask, return_attention_scores=True)
    assert mha.weights[2].shape == (7, 2, 3)           # the key kernel sees the key's dim
    assert (scores.numpy()[..., 3:] == 0).all()
    # a mask (batch, 1, S) broadcasts over the queries
    y2 = mha(q, v, key=k, attention_mask=mask[:, :1])
    np.testing.assert_allclose(y2.numpy(), y.numpy(), rtol=1e-6)


def test_dropout_only_while_training(rng):
    mha = L.MultiHeadAttention(2, 3, dropout=0.5, seed=4)
    x = rng.standard_normal((2, 5, 6)).astype("f4")
    a, b = mha(x, x).numpy(), mha(x, x, training=False).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(mha(x, x, training=True).numpy(), a)


@pytest.mark.parametrize("bad,match", [
    (lambda m: m(np.zeros((2, 4, 5), "f4"), np.zeros((2, 6, 5), "f4"),
                 attention_mask=np.ones((2, 4, 5), bool)),
     r"`attention_mask` of shape \(2, 4, 5\) does not broadcast to the attention scores "
     r"\(2, 2, 4, 6\); expected \(batch, query positions, key positions\) = \(2, 4, 6\)"),
    (lambda m: m.set_weights([np.zeros((5, 2, 4))] + m.get_weights()[1:]),
     r"weight 'att/query/kernel' has shape \(5, 2, 3\), got an array of shape \(5, 2, 4\)"),
    (lambda m: m(np.zeros((2, 4, 5), "f4"), np.zeros((2, 6, 5), "f4"),
                 key=np.zeros((2, 5, 5), "f4")),
     r"`value` and `key` must match in every axis but the last"),
    (lambda m: m(np.zeros((2, 4, 5), "f4"), np.zeros((2, 6, 5), "f4"), attention_axes=3),
     r"unexpected keyword argument 'attention_axes'"),
])
def test_bad_input(bad, match):
    mha = L.MultiHeadAttention(2, 3, name="att")
    if "set_weights" in match or "weight" in match:
        mha(np.zeros((2, 4, 5), "f4"), np.zeros((2, 6, 5), "f4"))
    with pytest.raises((ValueError, TypeError), match=match):
        bad(mha)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`num_heads` must be a positive int, got 0"):
        L.MultiHeadAttention(0, 3)
    with pytest.raises(ValueError, match="`attention_axes` .* must name distinct axes"):
        L.MultiHeadAttention(2, 3, attention_axes=(3,))(np.zeros((1, 2, 3), "f4"),
                                                        np.zeros((1, 2, 3), "f4"))
