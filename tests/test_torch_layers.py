"""The new layers' forward values and gradients against PyTorch's equivalents, with the
weights transposed from Keras's layouts (NHWC <-> NCHW, (KH, KW, C, F) <-> (F, C, KH, KW),
(KH, KW, filters, in) <-> (in, filters, KH, KW)). float32 in minigrad, float64 in torch."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = dict(rtol=2e-4, atol=2e-5)


def t64(a, grad=True):
    return torch.tensor(np.asarray(a, np.float64), requires_grad=grad)


def nchw(x):
    return t64(np.transpose(x, (0, 3, 1, 2)))


def nhwc(t):
    return np.transpose(t.detach().numpy(), (0, 2, 3, 1))


def run(layer, x, g, **call):
    """minigrad's output, input gradient and weight gradients for upstream gradient g."""
    t = mg.Tensor(x, requires_grad=True)
    y = layer(t, **call)
    y.backward(g)
    return y.numpy(), t.grad.numpy(), [None if w.grad is None else w.grad.numpy()
                                       for w in layer.weights]


def close(a, b, tol=TOL):
    np.testing.assert_allclose(a, b.detach().numpy() if hasattr(b, "detach") else b, **tol)


# ------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape", [(4, 5, 5, 3), (16, 2, 2, 6)])
def test_batchnorm_training_matches_batchnorm2d(shape, rng):
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    layer = L.BatchNormalization(momentum=0.9, epsilon=1e-3)
    layer(x[:1])  # built
    gamma, beta = rng.standard_normal(shape[-1]) + 1, rng.standard_normal(shape[-1])
    layer.set_weights([gamma, beta, np.zeros(shape[-1]), np.ones(shape[-1])])
    y, gx, (ggamma, gbeta, _, _) = run(layer, x, g, training=True)
    tx, tg, tb = nchw(x), t64(gamma), t64(beta)
    ty = F.batch_norm(tx, torch.zeros(shape[-1], dtype=torch.float64),
                      torch.ones(shape[-1], dtype=torch.float64), tg, tb, training=True,
                      momentum=0.1, eps=1e-3)
    ty.backward(torch.tensor(np.transpose(g, (0, 3, 1, 2)), dtype=torch.float64))
    close(y, nhwc(ty))
    close(gx, nhwc(tx.grad))
    close(ggamma, tg.grad)
    close(gbeta, tb.grad)


def test_batchnorm_inference_matches_batchnorm2d_eval(rng):
    shape = (3, 4, 4, 5)
    x, g = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape)
    layer = L.BatchNormalization(epsilon=1e-2)
    layer(x)
    w = [rng.standard_normal(5) + 1, rng.standard_normal(5), rng.standard_normal(5),
         rng.random(5) + 0.5]
    layer.set_weights(w)
    y, gx, (ggamma, gbeta, _, _) = run(layer, x, g.astype(np.float32), training=False)
    tx, tg, tb = nchw(x), t64(w[0]), t64(w[1])
    ty = F.batch_norm(tx, t64(w[2], False), t64(w[3], False), tg, tb, training=False, eps=1e-2)
    ty.backward(torch.tensor(np.transpose(g, (0, 3, 1, 2))))
    close(y, nhwc(ty))
    close(gx, nhwc(tx.grad))
    close(ggamma, tg.grad)
    close(gbeta, tb.grad)


# ------------------------------------------------------------------- layer norm
@pytest.mark.parametrize("shape,axis", [((3, 7, 8), -1), ((2, 3, 4, 5), [2, 3])])
def test_layernorm_matches_torch(shape, axis, rng):
    x, g = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape)
    layer = L.LayerNormalization(axis=axis, epsilon=1e-5)
    layer(x)
    norm_shape = layer.gamma.shape
    w = [rng.standard_normal(norm_shape) + 1, rng.standard_normal(norm_shape)]
    layer.set_weights(w)
    y, gx, (ggamma, gbeta) = run(layer, x, g.astype(np.float32))
    tx, tg, tb = t64(x), t64(w[0]), t64(w[1])
    ty = F.layer_norm(tx, norm_shape, tg, tb, eps=1e-5)
    ty.backward(torch.tensor(g))
    close(y, ty)
    close(gx, tx.grad)
    close(ggamma, tg.grad)
    close(gbeta, tb.grad)


# ---------------------------------------------------------------------- pooling
def torch_avgpool_tf(tx, k, s, padding):
    """TensorFlow's average pool in torch: zero-pad as TF does ('same': the extra pixel
    bottom/right), sum each window, divide by its count of real cells."""
    import math
    h, w = tx.shape[2], tx.shape[3]
    pads = []
    for n in (w, h):
        if padding == "valid":
            pads += [0, 0]
            continue
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    ones = torch.ones_like(tx[:1, :1])
    sums = F.avg_pool2d(F.pad(tx, pads), k, s) * k * k
    counts = F.avg_pool2d(F.pad(ones, pads), k, s) * k * k
    return sums / counts


@pytest.mark.parametrize("xs,k,s,pad", [((2, 6, 6, 3), 2, 2, "valid"), ((2, 5, 5, 3), 3, 1, "same"),
                                        ((1, 7, 6, 2), 2, 2, "same"), ((1, 5, 7, 2), 3, 2, "same")])
def test_average_pooling_matches_avg_pool2d(xs, k, s, pad, rng):
    x, g0 = rng.standard_normal(xs).astype(np.float32), None
    layer = L.AveragePooling2D(k, s, padding=pad)
    out = layer.compute_output_shape(xs)
    g = rng.standard_normal(out).astype(np.float32)
    y, gx, _ = run(layer, x, g)
    tx = nchw(x)
    ty = torch_avgpool_tf(tx, k, s, pad)
    ty.backward(torch.tensor(np.transpose(g, (0, 3, 1, 2)), dtype=torch.float64))
    close(y, nhwc(ty))
    close(gx, nhwc(tx.grad))
    if pad == "valid" or (xs[1] % s == 0 and k % 2 == 1 and s == 1):  # symmetric padding
        ref = F.avg_pool2d(nchw(x), k, s, padding=(k // 2) * (pad == "same"),
                           count_include_pad=False)
        close(y, nhwc(ref))
    del g0


def test_global_pools_and_1d_pools_match_torch(rng):
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    tx = nchw(x)
    close(L.GlobalAveragePooling2D()(x).numpy(), tx.mean(dim=(2, 3)))
    close(L.GlobalMaxPooling2D()(x).numpy(), tx.amax(dim=(2, 3)))
    s = rng.standard_normal((2, 9, 4)).astype(np.float32)
    ts = t64(np.transpose(s, (0, 2, 1)))
    close(L.MaxPooling1D(3, 2)(s).numpy(), F.max_pool1d(ts, 3, 2).permute(0, 2, 1))
    close(L.AveragePooling1D(3)(s).numpy(), F.avg_pool1d(ts, 3).permute(0, 2, 1))
    close(L.GlobalMaxPooling1D()(s).numpy(), ts.amax(dim=2))


# ---------------------------------------------------------------- convolutions
def keras_jax_padding(k, s, d, padding, output_padding):
    """Keras's (left, right) padding of the stride-dilated input for JAX's
    conv_transpose (keras/src/backend/common/backend_utils.py), one axis."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        op = max(k_eff, s) - k_eff if output_padding is None else output_padding
        return k_eff - 1, k_eff - 1 + op
    pad_len = s + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    return left, pad_len - left


def torch_conv_transpose_as_keras(tx, tw, tb, s, d, pads, k):
    """PyTorch's full transposed conv ((n - 1) * s + k_eff long), placed as Keras's JAX
    padding places it: output o is full position o + k_eff - 1 - left (0 past its end)."""
    full = F.conv_transpose2d(tx, tw, tb, stride=s, dilation=d)
    for axis, (left, right), n in zip((2, 3), pads, tx.shape[2:]):
        k_eff = (k[axis - 2] - 1) * d[axis - 2] + 1
        length = (n - 1) * s[axis - 2] + 1 + left + right - k_eff + 1
        start = k_eff - 1 - left
        extra = max(0, start + length - full.shape[axis])
        if extra:   # positions past the full output hold only the bias
            shape = list(full.shape)
            shape[axis] = extra
            full = torch.cat([full, tb.reshape(1, -1, 1, 1).expand(shape)], dim=axis)
        full = full.narrow(axis, start, length)
    return full


@pytest.mark.parametrize("xs,k,f,s,pad,op,d", [
    ((2, 4, 4, 3), (3, 3), 2, (2, 2), "valid", None, (1, 1)),
    ((2, 4, 5, 3), (3, 3), 4, (2, 2), "same", None, (1, 1)),
    ((1, 3, 3, 2), (3, 3), 2, (1, 1), "same", None, (1, 1)),
    ((1, 3, 4, 2), (2, 2), 3, (2, 2), "valid", None, (1, 1)),
    ((1, 3, 3, 2), (3, 3), 2, (3, 2), "same", (1, 1), (1, 1)),
    ((1, 4, 4, 2), (3, 3), 2, (1, 1), "valid", None, (2, 2)),
    ((1, 5, 5, 2), (4, 4), 2, (3, 3), "same", None, (1, 1)),
    ((1, 3, 3, 2), (3, 3), 2, (2, 2), "valid", (1, 0), (1, 1)),
])
def test_conv2d_transpose_matches_conv_transpose2d(xs, k, f, s, pad, op, d, rng):
    x = rng.standard_normal(xs).astype(np.float32)
    layer = L.Conv2DTranspose(f, k, strides=s, padding=pad, output_padding=op, dilation_rate=d)
    out = layer.compute_output_shape(xs)
    g = rng.standard_normal(out).astype(np.float32)
    layer(x)
    w, b = rng.standard_normal(k + (f, xs[3])), rng.standard_normal(f)
    layer.set_weights([w, b])
    y, gx, (gw, gb) = run(layer, x, g)
    pads = [keras_jax_padding(k[i], s[i], d[i], pad, None if op is None else op[i])
            for i in range(2)]
    tx, tw, tb = nchw(x), t64(np.transpose(w, (3, 2, 0, 1))), t64(b)
    ty = torch_conv_transpose_as_keras(tx, tw, tb, s, d, pads, k)
    assert ty.shape[2:] == out[1:3]
    ty.backward(torch.tensor(np.transpose(g, (0, 3, 1, 2)), dtype=torch.float64))
    close(y, nhwc(ty))
    close(gx, nhwc(tx.grad))
    close(gw, np.transpose(tw.grad.numpy(), (2, 3, 1, 0)))
    close(gb, tb.grad)


@pytest.mark.parametrize("groups,mult,c", [(2, None, 4), (4, None, 4), (None, 2, 4),
                                           (None, 1, 4), (2, None, 16), (3, None, 24)])
def test_grouped_and_depthwise_conv_match_torch(groups, mult, c, rng):
    """Groups of 8 channels or more take the per-group GEMM path, fewer the direct
    kernel (ops/grouped_conv.py); both against torch."""
    xs = (2, 6, 6, c)
    x = rng.standard_normal(xs).astype(np.float32)
    if mult is None:
        layer = L.Conv2D(2 * c, 3, padding="same", groups=groups)
    else:
        layer = L.DepthwiseConv2D(3, padding="same", depth_multiplier=mult)
    out = layer.compute_output_shape(xs)
    g = rng.standard_normal(out).astype(np.float32)
    y, gx, (gw, gb) = run(layer, x, g)
    w, b = layer.get_weights()
    if mult is None:
        tw = t64(np.transpose(w, (3, 2, 0, 1)))
    else:   # (kh, kw, C, m) -> (C*m, 1, kh, kw): output channel c*m + j
        tw = t64(np.transpose(w.reshape(3, 3, -1), (2, 0, 1))[:, None])
        groups = xs[3]
    tx, tb = nchw(x), t64(b)
    ty = F.conv2d(tx, tw, tb, padding=1, groups=groups)
    ty.backward(torch.tensor(np.transpose(g, (0, 3, 1, 2)), dtype=torch.float64))
    close(y, nhwc(ty))
    close(gx, nhwc(tx.grad))
    twg = tw.grad.numpy()
    close(gw, np.transpose(twg, (2, 3, 1, 0)) if mult is None else
          np.transpose(twg[:, 0], (1, 2, 0)).reshape(w.shape))
    close(gb, tb.grad)


def test_conv1d_and_separable_match_torch(rng):
    s = rng.standard_normal((2, 9, 4)).astype(np.float32)
    conv = L.Conv1D(6, 3, strides=2, padding="valid", groups=2)
    y = conv(s).numpy()
    w, b = conv.get_weights()
    ts = t64(np.transpose(s, (0, 2, 1)))
    close(y, F.conv1d(ts, t64(np.transpose(w, (2, 1, 0))), t64(b), stride=2,
                      groups=2).permute(0, 2, 1))
    causal = L.Conv1D(3, 3, padding="causal", dilation_rate=2)
    y = causal(s).numpy()
    w, b = causal.get_weights()
    ref = F.conv1d(F.pad(ts, (4, 0)), t64(np.transpose(w, (2, 1, 0))), t64(b), dilation=2)
    close(y, ref.permute(0, 2, 1))
    x = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)
    sep = L.SeparableConv2D(3, 3, depth_multiplier=2)
    y = sep(x).numpy()
    dw, pw, b = sep.get_weights()
    mid = F.conv2d(nchw(x), t64(np.transpose(dw.reshape(3, 3, -1), (2, 0, 1))[:, None]),
                   groups=2)
    close(y, nhwc(F.conv2d(mid, t64(np.transpose(pw, (3, 2, 0, 1))), t64(b))))


# --------------------------------------------------------------- reshaping &c.
def test_upsampling_bilinear_matches_interpolate(rng):
    x = rng.standard_normal((2, 3, 5, 2)).astype(np.float32)
    g = rng.standard_normal((2, 6, 15, 2)).astype(np.float32)
    y, gx, _ = run(L.UpSampling2D((2, 3), interpolation="bilinear"), x, g)
    tx = nchw(x)
    ty = F.interpolate(tx, scale_factor=(2, 3), mode="bilinear", align_corners=False)
    ty.backward(torch.tensor(np.transpose(g, (0, 3, 1, 2)), dtype=torch.float64))
    close(y, nhwc(ty))
    close(gx, nhwc(tx.grad))
    close(L.UpSampling2D(2)(x).numpy(), nhwc(F.interpolate(nchw(x), scale_factor=2)))


def test_embedding_matches_torch(rng):
    layer = L.Embedding(7, 3)
    ids = np.array([[1, 6, 1], [0, 1, 4]])
    g = rng.standard_normal((2, 3, 3)).astype(np.float32)
    y = layer(ids)
    y.backward(g)
    tw = t64(layer.get_weights()[0])
    ty = F.embedding(torch.tensor(ids), tw)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    close(y.numpy(), ty)
    close(layer.embeddings.grad.numpy(), tw.grad)


def test_activation_layers_match_torch(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32) * 2
    tx = t64(x)
    close(L.LeakyReLU()(x).numpy(), F.leaky_relu(tx, 0.3))
    close(L.ELU(0.5)(x).numpy(), F.elu(tx, 0.5))
    close(L.Softmax(axis=1)(x).numpy(), F.softmax(tx, dim=1))
    prelu = L.PReLU(shared_axes=[1])
    prelu(x)
    alpha = rng.standard_normal((1, 5))
    prelu.set_weights([alpha])
    close(prelu(x).numpy(), torch.where(tx > 0, tx, t64(alpha) * tx))
