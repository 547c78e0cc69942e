"""Forward values and gradients against PyTorch (NHWC <-> NCHW, (KH,KW,C,F) <-> (F,C,KH,KW)).

TensorFlow's 'same' padding puts the odd extra pixel bottom/right; PyTorch's
conv pads symmetrically, so the reference pads explicitly with F.pad first.
"""
import math

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")
F = torch.nn.functional


def nchw(x):
    return torch.tensor(np.transpose(x, (0, 3, 1, 2)), dtype=torch.float64, requires_grad=True)


def to_nhwc(t):
    return np.transpose(t.detach().numpy(), (0, 2, 3, 1))


def tf_pads(n, k, s, d, padding):
    """(before, after) padding along one axis, TensorFlow's rule."""
    if padding == "valid":
        return 0, 0
    out = math.ceil(n / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def mg_leaf(a):
    return mg.Tensor(np.asarray(a, np.float32), requires_grad=True)


CONV_CASES = [
    # (N,H,W,C), (KH,KW), F, strides, padding, dilation
    ((2, 8, 8, 3), (3, 3), 4, (1, 1), "valid", (1, 1)),
    ((2, 8, 8, 3), (3, 3), 4, (1, 1), "same", (1, 1)),
    ((2, 8, 8, 3), (3, 3), 4, (2, 2), "same", (1, 1)),   # even input, stride 2: pad 0/1
    ((2, 9, 9, 2), (3, 3), 4, (2, 2), "same", (1, 1)),
    ((2, 8, 9, 2), (2, 2), 3, (1, 1), "same", (1, 1)),   # even kernel: pad 0/1
    ((2, 10, 10, 2), (4, 4), 3, (3, 3), "same", (1, 1)),
    ((2, 10, 11, 2), (5, 3), 3, (2, 3), "valid", (1, 1)),
    ((1, 11, 11, 2), (3, 3), 2, (1, 1), "valid", (2, 2)),
    ((1, 11, 10, 2), (3, 2), 2, (1, 2), "same", (2, 3)),
    ((3, 28, 28, 1), (3, 3), 8, (1, 1), "valid", (1, 1)),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,k,f,s,pad,d", CONV_CASES)
def test_conv2d_matches_torch(xs, k, f, s, pad, d, bias, rng):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(k + (xs[3], f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)

    tx, tw = nchw(x), torch.tensor(np.transpose(w, (3, 2, 0, 1)), dtype=torch.float64,
                                   requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True) if bias else None
    ph = tf_pads(xs[1], k[0], s[0], d[0], pad)
    pw = tf_pads(xs[2], k[1], s[1], d[1], pad)
    ty = F.conv2d(F.pad(tx, (pw[0], pw[1], ph[0], ph[1])), tw, tb, stride=s, dilation=d)

    mx, mw = mg_leaf(x), mg_leaf(w)
    mb = mg_leaf(b) if bias else None
    my = mg.ops.conv2d(mx, mw, mb, stride=s, padding=pad, dilation=d)
    assert my.shape == to_nhwc(ty).shape
    np.testing.assert_allclose(my.numpy(), to_nhwc(ty), rtol=1e-4, atol=1e-4)

    r = rng.standard_normal(my.shape).astype(np.float32)
    (ty * torch.tensor(np.transpose(r, (0, 3, 1, 2)), dtype=torch.float64)).sum().backward()
    (my * mg.Tensor(r)).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), to_nhwc(tx.grad), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mw.grad.numpy(), np.transpose(tw.grad.numpy(), (2, 3, 1, 0)),
                               rtol=1e-4, atol=1e-3)
    if bias:
        np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_conv2d_layer_with_torch_weights(rng):
    """A Keras-style Conv2D given PyTorch's weights (converted) gives PyTorch's output."""
    x = rng.standard_normal((2, 9, 9, 3)).astype(np.float32)
    tw = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)      # (F, C, KH, KW)
    tb = rng.standard_normal(5).astype(np.float32)
    layer = mg.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu")
    layer(x)
    layer.set_weights([np.transpose(tw, (2, 3, 1, 0)), tb])
    ref = F.relu(F.conv2d(F.pad(torch.tensor(np.transpose(x, (0, 3, 1, 2))), (1, 1, 1, 1)),
                          torch.tensor(tw), torch.tensor(tb), stride=2))
    np.testing.assert_allclose(layer(x).numpy(), to_nhwc(ref), rtol=1e-4, atol=1e-4)


POOL_CASES = [
    ((2, 8, 8, 3), (2, 2), None, "valid"),
    ((2, 7, 9, 3), (2, 2), None, "valid"),
    ((2, 7, 9, 3), (2, 2), None, "same"),
    ((2, 9, 9, 2), (3, 3), (2, 2), "valid"),
    ((2, 8, 8, 2), (3, 3), (2, 2), "same"),
    ((2, 8, 9, 2), (2, 3), (1, 2), "same"),
    ((2, 10, 10, 2), (2, 2), (3, 3), "valid"),
]


@pytest.mark.parametrize("xs,pool,stride,pad", POOL_CASES)
def test_max_pool2d_matches_torch(xs, pool, stride, pad, rng):
    x = rng.standard_normal(xs).astype(np.float32)
    s = pool if stride is None else stride
    tx = nchw(x)
    ph = tf_pads(xs[1], pool[0], s[0], 1, pad)
    pw = tf_pads(xs[2], pool[1], s[1], 1, pad)
    # TF's 'same' pooling ignores the padding: pad with -inf so it never wins
    ty = F.max_pool2d(F.pad(tx, (pw[0], pw[1], ph[0], ph[1]), value=-math.inf), pool, s)
    mx = mg_leaf(x)
    my = mg.ops.max_pool2d(mx, pool, stride, pad)
    assert my.shape == to_nhwc(ty).shape
    np.testing.assert_allclose(my.numpy(), to_nhwc(ty), rtol=1e-6)
    r = rng.standard_normal(my.shape).astype(np.float32)
    (ty * torch.tensor(np.transpose(r, (0, 3, 1, 2)), dtype=torch.float64)).sum().backward()
    (my * mg.Tensor(r)).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), to_nhwc(tx.grad), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n,i,o", [(1, 3, 2), (5, 16, 10), (64, 1600, 10)])
def test_dense_matches_torch(n, i, o, bias, rng):
    x = rng.standard_normal((n, i)).astype(np.float32)
    w = rng.standard_normal((i, o)).astype(np.float32)        # Keras: (in, units)
    b = rng.standard_normal(o).astype(np.float32)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w.T, dtype=torch.float64, requires_grad=True)  # torch: (out, in)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True) if bias else None
    ty = F.linear(tx, tw, tb)
    mx, mw = mg_leaf(x), mg_leaf(w)
    mb = mg_leaf(b) if bias else None
    my = mg.ops.dense(mx, mw, mb)
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    r = rng.standard_normal((n, o)).astype(np.float32)
    (ty * torch.tensor(r, dtype=torch.float64)).sum().backward()
    (my * mg.Tensor(r)).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mw.grad.numpy(), tw.grad.numpy().T, rtol=1e-4, atol=1e-3)
    if bias:
        np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n,k", [(1, 3), (8, 10), (128, 10)])
def test_sparse_softmax_cross_entropy_matches_torch(n, k, rng):
    z = (rng.standard_normal((n, k)) * 3).astype(np.float32)
    labels = rng.integers(0, k, n)
    tz = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    tl = F.cross_entropy(tz, torch.tensor(labels))            # mean over the batch
    tl.backward()
    mz = mg_leaf(z)
    ml = mg.ops.softmax_cross_entropy(mz, labels, sparse=True)
    assert ml.size == 1
    np.testing.assert_allclose(ml.item(), tl.item(), rtol=1e-5)
    ml.backward()
    np.testing.assert_allclose(mz.grad.numpy(), tz.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_dense_softmax_cross_entropy_matches_torch(rng):
    z = (rng.standard_normal((6, 5)) * 3).astype(np.float32)
    t = rng.uniform(0, 1, (6, 5)).astype(np.float32)
    t /= t.sum(axis=1, keepdims=True)
    tz = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    tl = F.cross_entropy(tz, torch.tensor(t, dtype=torch.float64))  # probability targets
    tl.backward()
    mz = mg_leaf(z)
    ml = mg.ops.softmax_cross_entropy(mz, t)
    np.testing.assert_allclose(ml.item(), tl.item(), rtol=1e-5)
    ml.backward()
    np.testing.assert_allclose(mz.grad.numpy(), tz.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_keras_losses_on_logits_match_torch(rng):
    z = (rng.standard_normal((7, 4)) * 2).astype(np.float32)
    labels = rng.integers(0, 4, 7)
    ref = F.cross_entropy(torch.tensor(z, dtype=torch.float64), torch.tensor(labels)).item()
    sparse = mg.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, mg.Tensor(z))
    dense = mg.losses.CategoricalCrossentropy(from_logits=True)(np.eye(4)[labels], mg.Tensor(z))
    # the function gives Keras's per-sample values
    on_probs = mg.losses.sparse_categorical_crossentropy(labels, mg.Tensor(z).softmax()).mean()
    np.testing.assert_allclose(sparse.item(), ref, rtol=1e-5)
    np.testing.assert_allclose(dense.item(), ref, rtol=1e-5)
    np.testing.assert_allclose(on_probs.item(), ref, rtol=1e-4)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "log_softmax"])
def test_activations_match_torch(name, rng):
    x = (rng.standard_normal((4, 6)) * 3).astype(np.float32)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tfn = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
           "softmax": lambda t: torch.softmax(t, -1),
           "log_softmax": lambda t: torch.log_softmax(t, -1)}[name]
    ty = tfn(tx)
    mx = mg_leaf(x)
    my = getattr(mg.ops, name)(mx)
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    r = rng.standard_normal((4, 6)).astype(np.float32)
    (ty * torch.tensor(r, dtype=torch.float64)).sum().backward()
    (my * mg.Tensor(r)).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_sgd_momentum_matches_torch_without_nesterov(rng):
    """Keras's and PyTorch's heavy-ball SGD agree step for step (lr folded in the
    velocity vs not is the same update when lr is constant)."""
    p0 = rng.standard_normal((3, 4)).astype(np.float32)
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(4)]
    tp = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    w = mg.Tensor(p0.copy(), requires_grad=True)
    opt = mg.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    for g in grads:
        tp.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
        w.grad = mg.Tensor(g)
        opt.apply_gradients([w])
    np.testing.assert_allclose(w.numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)
