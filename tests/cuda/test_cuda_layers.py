"""Issue 14's layers on CUDA (the simulator or a GPU) against the same layers on the CPU:
outputs, input gradients and weight gradients, through autograd, and BatchNormalization's
moving statistics after a training call. Tiny shapes: the simulator runs every CUDA
thread as a Python thread."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L

CASES = {  # name: (layer factory, input shape, call kwargs)
    "batchnorm_train": (lambda: L.BatchNormalization(momentum=0.5), (3, 2, 2, 3),
                        dict(training=True)),
    "batchnorm_inference": (lambda: L.BatchNormalization(), (3, 2, 2, 3), {}),
    "layernorm": (lambda: L.LayerNormalization(axis=[1, 2]), (2, 3, 4), {}),
    "avgpool_same": (lambda: L.AveragePooling2D(3, 2, padding="same"), (1, 5, 4, 2), {}),
    "global_max": (lambda: L.GlobalMaxPooling2D(), (2, 3, 3, 2), {}),
    "depthwise": (lambda: L.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
                  (1, 4, 4, 2), {}),
    "grouped_conv": (lambda: L.Conv2D(4, 2, groups=2), (1, 3, 3, 4), {}),
    "grouped_conv_gemm": (lambda: L.Conv2D(4, 2, groups=2, activation="relu"),
                          (1, 3, 3, 16), {}),
    "conv_transpose": (lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same"),
                       (1, 2, 3, 2), {}),
    "conv1d_causal": (lambda: L.Conv1D(2, 2, padding="causal", dilation_rate=2), (1, 5, 2), {}),
    "upsampling_bilinear": (lambda: L.UpSampling2D(2, interpolation="bilinear"),
                            (1, 2, 3, 2), {}),
    "zero_padding": (lambda: L.ZeroPadding2D(((1, 0), (0, 2))), (1, 2, 2, 2), {}),
    "cropping": (lambda: L.Cropping2D(((1, 0), (0, 1))), (1, 3, 3, 2), {}),
    "prelu": (lambda: L.PReLU(), (2, 3), {}),
    "elu": (lambda: L.ELU(), (2, 3), {}),
}


def run(layer, x, g, device, weights, **call):
    layer.to(device)
    layer.set_weights(weights)
    t = mg.Tensor(x, requires_grad=True, device=device)
    y = layer(t, **call)
    y.backward(mg.Tensor(g, device=device))
    return ([y.numpy(), t.grad.numpy()] +
            [w.grad.numpy() for w in layer.weights if w.grad is not None] +
            [w.numpy() for w in layer.weights])


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_on_cuda_matches_cpu(name, rng):
    make, shape, call = CASES[name]
    x = rng.standard_normal(shape).astype(np.float32)
    cpu_layer, cuda_layer = make(), make()
    out_shape = cpu_layer(x, **call).shape
    cuda_layer(x, **call)
    weights = [np.abs(w) + 0.5 if "variance" in v.name else w
               for w, v in zip([rng.standard_normal(v.shape).astype(np.float32)
                                for v in cpu_layer.weights], cpu_layer.weights)]
    g = rng.standard_normal(out_shape).astype(np.float32)
    want = run(cpu_layer, x, g, "cpu", weights, **call)
    got = run(cuda_layer, x, g, "cuda", weights, **call)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_embedding_and_attention_on_cuda(rng):
    emb = L.Embedding(5, 3)
    ids = np.array([[1, 4, 1]])
    y_cpu = emb(ids).numpy()
    emb.to("cuda")
    out = emb(ids)
    out.backward(mg.Tensor(np.ones((1, 3, 3), np.float32), device="cuda"))
    np.testing.assert_allclose(out.numpy(), y_cpu, rtol=1e-6)
    np.testing.assert_allclose(emb.embeddings.grad.numpy()[[0, 1, 4]], [[0] * 3, [2] * 3,
                                                                         [1] * 3])
    mha = L.MultiHeadAttention(2, 2)
    q = rng.standard_normal((1, 3, 4)).astype(np.float32)
    y_cpu, s_cpu = mha(q, q, return_attention_scores=True, use_causal_mask=True)
    mha.to("cuda")
    qc = mg.Tensor(q, device="cuda")
    y, s = mha(qc, qc, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_allclose(y.numpy(), y_cpu.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.numpy(), s_cpu.numpy(), rtol=1e-5, atol=1e-6)
