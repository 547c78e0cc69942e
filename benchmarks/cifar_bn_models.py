"""The CIFAR-10-shaped batch-norm network of examples/cifar_bn.py in each framework, for
train_cnn.py --model cifar_bn: three Conv2D(3x3, same, no bias)-BatchNormalization-ReLU
blocks of 32, 64 and 128 filters, 2x2 max pooling after the first two,
GlobalAveragePooling2D, Dense 10 softmax; batch norm momentum 0.9 (torch: 0.1),
epsilon 1e-3 as Keras's. Imports only NumPy at the top (workers may run other Pythons)."""
from __future__ import annotations

WIDTHS = (32, 64, 128)
INPUT = (32, 32, 3)


def keras_api_model(k):
    """The network in minigrad or Keras 3 (`k`: either module; the same code runs on both)."""
    L = k.layers
    blocks = []
    for i, filters in enumerate(WIDTHS):
        blocks += [L.Conv2D(filters, 3, padding="same", use_bias=False),
                   L.BatchNormalization(momentum=0.9), L.ReLU()]
        if i < len(WIDTHS) - 1:
            blocks.append(L.MaxPooling2D(2))
    return k.Sequential([k.Input(INPUT), *blocks, L.GlobalAveragePooling2D(),
                         L.Dense(10, activation="softmax")])


def torch_model(torch):
    """NCHW; the softmax is fused into the loss; Keras's initialisation (glorot_uniform
    kernels, zero bias, BN gamma 1 and beta 0)."""
    nn = torch.nn
    blocks, channels = [], INPUT[2]
    for i, filters in enumerate(WIDTHS):
        conv = nn.Conv2d(channels, filters, 3, padding=1, bias=False)
        nn.init.xavier_uniform_(conv.weight)
        blocks += [conv, nn.BatchNorm2d(filters, eps=1e-3, momentum=0.1), nn.ReLU()]
        if i < len(WIDTHS) - 1:
            blocks.append(nn.MaxPool2d(2))
        channels = filters
    head = nn.Linear(channels, 10)
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
