"""A larger plain convnet in each framework, for train_cnn.py --model convnet3 (issue 17's
"3-layer 64/128/256-filter convnet"): on 32x32x3 images, three Conv2D(3x3, same, ReLU)
-MaxPooling2D(2) blocks of 64, 128 and 256 filters, Flatten (4x4x256), Dense 10 softmax.
Imports only NumPy at the top (workers may run other Pythons)."""
from __future__ import annotations

WIDTHS = (64, 128, 256)
INPUT = (32, 32, 3)


def keras_api_model(k):
    """The network in minigrad or Keras 3 (`k`: either module; the same code runs on both)."""
    L = k.layers
    blocks = []
    for filters in WIDTHS:
        blocks += [L.Conv2D(filters, 3, padding="same", activation="relu"), L.MaxPooling2D(2)]
    return k.Sequential([k.Input(INPUT), *blocks, L.Flatten(), L.Dense(10, activation="softmax")])


def torch_model(torch):
    """NCHW; the softmax is fused into the loss; Keras's initialisation (glorot_uniform
    kernels, zero biases)."""
    nn = torch.nn
    layers, channels = [], INPUT[2]
    for filters in WIDTHS:
        layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = filters
    side = INPUT[0] // 2 ** len(WIDTHS)
    layers += [nn.Flatten(), nn.Linear(channels * side * side, 10)]
    for m in layers:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)
