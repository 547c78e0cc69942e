"""1-D convolution (Keras's Conv1D), (batch, steps, channels), kernel (K, C/groups, F):
a 2-D convolution of width 1, on the same kernels; 'causal' pads only the start."""
from __future__ import annotations

from ..backends.contract import ConvGeometry
from ..tensor import Tensor
from ..utils import same_or_valid
from .checks import float_tensor
from .conv import Conv2DFn, fused_relu
from .grouped_conv import GroupedConv2DFn


def conv1d_geometry(input_shape, kernel_size: int, strides: int = 1, padding: str = "valid",
                    dilation_rate: int = 1, name: str = "conv1d") -> ConvGeometry:
    """The (height = steps, width 1) geometry of a conv over (N, steps, C)."""
    if len(input_shape) != 3:
        raise ValueError(f"{name}: expected a 3-D input (batch, steps, channels), got shape "
                         f"{tuple(input_shape)}")
    steps = input_shape[1]
    k_eff = dilation_rate * (kernel_size - 1) + 1
    if padding == "causal":   # k_eff - 1 zeros before the first step
        out = None if steps is None else (steps - 1) // strides + 1
        pt = k_eff - 1
    else:   # an unknown number of steps (a symbolic input's None) stays unknown
        out, pt, _ = same_or_valid(steps, kernel_size, strides, dilation_rate, padding)
    if out is not None and out < 1:
        raise ValueError(f"{name}: kernel_size {kernel_size} with dilation_rate "
                         f"{dilation_rate} is larger than the {padding!r} input of {steps} "
                         f"steps")
    return ConvGeometry(strides, 1, pt, 0, dilation_rate, 1, out, 1)


def conv1d(x, w, b=None, strides: int = 1, padding: str = "valid", dilation_rate: int = 1,
           groups: int = 1, *, activation: str | None = None, name: str = "conv1d") -> Tensor:
    x, w = float_tensor(x, name), float_tensor(w, name, "kernel")
    if w.ndim != 3 or x.ndim != 3 or w.shape[1] * groups != x.shape[2]:
        raise ValueError(f"{name}: expected an input (batch, steps, channels) and a kernel "
                         f"(kernel_size, channels / groups, filters), got {x.shape} and "
                         f"{w.shape} with groups={groups}")
    geom = conv1d_geometry(x.shape, w.shape[0], strides, padding, dilation_rate, name)
    n, steps, c = x.shape
    k, cg, f = w.shape
    x4, w4 = x.reshape(n, steps, 1, c), w.reshape(k, 1, cg, f)
    relu = fused_relu(activation, name)
    y = Conv2DFn.apply(x4, w4, b, geom, relu) if groups == 1 else \
        GroupedConv2DFn.apply(x4, w4, b, geom, int(groups), relu)
    return y.reshape(n, geom.oh, f)
