"""Transposed 2-D convolution (Keras's Conv2DTranspose), NHWC, kernel (KH, KW, filters,
in_channels): the adjoint of a Conv2D, so it runs on the conv's own kernels
(forward = the conv's input gradient, backward = the conv forward and its
weight gradient)."""
from __future__ import annotations

from ..backends.contract import ConvGeometry
from ..tensor import Function, Tensor
from ..utils import pair, padding_mode
from .checks import float_tensor
from .conv import bias_act_grads, fused_relu


def transpose_padding(n: int, k: int, stride: int, dilation: int, padding: str,
                      output_padding: int | None) -> tuple:
    """(output size, pad before) along one axis, as Keras computes them (its JAX
    backend's padding, keras/src/backend/common/backend_utils.py): the output is
    `(n - 1) * stride + 1 + left + right - k_eff + 1` long, and the equivalent conv
    from output to input starts `k_eff - 1 - left` before the output."""
    k_eff = (k - 1) * dilation + 1
    if padding == "valid":
        extra = max(k_eff, stride) - k_eff if output_padding is None else output_padding
        left, right = k_eff - 1, k_eff - 1 + extra
    else:
        pad_len = stride + k_eff - 2 if output_padding is None else \
            k_eff + k_eff % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
        right = pad_len - left
    if n is None:  # a symbolic input's unknown size stays unknown
        return None, k_eff - 1 - left
    return (n - 1) * stride + 1 + left + right - k_eff + 1, k_eff - 1 - left


def conv2d_transpose_geometry(input_shape, kernel_size, strides=1, padding: str = "valid",
                              output_padding=None, dilation_rate=1,
                              name: str = "conv2d_transpose") -> ConvGeometry:
    """The geometry of the conv whose input gradient this transposed conv is: its
    strides, leading padding and dilation, and (oh, ow) = the transposed conv's
    input size; the transposed output size is `output_size(...)`."""
    kh, kw = pair(kernel_size, "kernel_size", name)
    sh, sw = pair(strides, "strides", name)
    dh, dw = pair(dilation_rate, "dilation_rate", name)
    padding = padding_mode(padding, name)
    oph, opw = (None, None) if output_padding is None else \
        pair(output_padding, "output_padding", name, minimum=0)
    if oph is not None and (oph >= sh or opw >= sw):
        raise ValueError(f"{name}: `output_padding` must be strictly less than `strides` in "
                         f"each dimension, got output_padding={(oph, opw)}, strides={(sh, sw)}")
    if max(sh, sw) > 1 and max(dh, dw) > 1:
        raise ValueError(f"{name}: `strides` > 1 together with `dilation_rate` > 1 is not "
                         f"supported (as in Keras), got strides={(sh, sw)}, "
                         f"dilation_rate={(dh, dw)}")
    if len(input_shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (batch, height, width, channels), "
                         f"got shape {tuple(input_shape)}")
    _, h, w, _ = input_shape
    _, pt = transpose_padding(h, kh, sh, dh, padding, oph)
    _, pl = transpose_padding(w, kw, sw, dw, padding, opw)
    return ConvGeometry(sh, sw, pt, pl, dh, dw, h, w)


def output_size(input_shape, kernel_size, strides, padding, output_padding, dilation_rate
                ) -> tuple:
    """(height, width) of the transposed conv's output."""
    (kh, kw), (sh, sw), (dh, dw) = (pair(v, "", "") for v in (kernel_size, strides,
                                                               dilation_rate))
    oph, opw = (None, None) if output_padding is None else pair(output_padding, "", "", 0)
    return (transpose_padding(input_shape[1], kh, sh, dh, padding, oph)[0],
            transpose_padding(input_shape[2], kw, sw, dw, padding, opw)[0])


class Conv2DTransposeFn(Function):
    @staticmethod
    def forward(ctx, x, w, b, geom, out_shape, relu):
        B = ctx.backend
        y = B.conv2d_backward_input(x, w, out_shape, geom)
        if b is not None or relu:
            B.bias_act(y, b, relu)
        ctx.save_for_backward(x, w, y if relu else None)
        ctx.geom = geom
        return y

    @staticmethod
    def backward(ctx, g):
        B, (x, w, y) = ctx.backend, ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g, gb = bias_act_grads(B, y, g, need_b)
        gx = gw = None
        if need_x or need_w:
            gx, cols = B.conv2d_forward(g, w, ctx.geom)   # cols: im2col of g
            if need_w:
                gw = B.conv2d_backward_weight(x, cols, w.shape)
        return (gx if need_x else None), gw, gb, None, None, None


def conv2d_transpose(x, w, b=None, strides=1, padding: str = "valid", output_padding=None,
                     dilation_rate=1, *, activation: str | None = None,
                     name: str = "conv2d_transpose") -> Tensor:
    """Keras's conv transpose: x (N, H, W, C_in), w (KH, KW, filters, C_in), b (filters,)."""
    x, w = float_tensor(x, name), float_tensor(w, name, "kernel")
    b = None if b is None else float_tensor(b, name, "bias")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input and a 4-D kernel, got shapes {x.shape} "
                         f"and {w.shape}")
    if w.shape[3] != x.shape[3]:
        raise ValueError(f"{name}: the input has {x.shape[3]} channels but the kernel expects "
                         f"{w.shape[3]} (kernel (kh, kw, filters, in_channels) = {w.shape})")
    if b is not None and b.shape != (w.shape[2],):
        raise ValueError(f"{name}: expected a bias of shape ({w.shape[2]},), got {b.shape}")
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{name}: input, kernel and bias must share one dtype")
    geom = conv2d_transpose_geometry(x.shape, w.shape[:2], strides, padding, output_padding,
                                     dilation_rate, name)
    oh, ow = output_size(x.shape, w.shape[:2], strides, padding_mode(padding, name),
                         output_padding, dilation_rate)
    return Conv2DTransposeFn.apply(x, w, b, geom, (x.shape[0], oh, ow, w.shape[2]),
                                   fused_relu(activation, name))
