"""2-D convolution, NHWC input, (KH, KW, C, F) kernel, as Keras's Conv2D; and the
fused Conv2D + bias + ReLU + MaxPooling2D op, composed from the backend's parts."""
from __future__ import annotations

from ..backends.contract import ConvGeometry
from ..tensor import Function, Tensor, is_grad_enabled
from ..utils import pair, padding_mode, same_or_valid
from .checks import float_tensor
from .pool import pool2d_geometry


def conv2d_geometry(input_shape, kernel_size, strides=1, padding: str = "valid",
                    dilation_rate=1, name: str = "conv2d") -> ConvGeometry:
    """The output size and padding of a conv over an (N, H, W, C) input: the one
    shape function behind layers.Conv2D.compute_output_shape and ops.conv2d."""
    kh, kw = pair(kernel_size, "kernel_size", name)
    sh, sw = pair(strides, "strides", name)
    dh, dw = pair(dilation_rate, "dilation_rate", name)
    padding = padding_mode(padding, name)
    if len(input_shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (batch, height, width, channels), "
                         f"got shape {tuple(input_shape)}")
    _, h, w, _ = input_shape
    oh, pt, _ = same_or_valid(h, kh, sh, dh, padding)
    ow, pl, _ = same_or_valid(w, kw, sw, dw, padding)
    if any(n is not None and n < 1 for n in (oh, ow)):
        raise ValueError(f"{name}: kernel_size {(kh, kw)} with dilation_rate {(dh, dw)} is "
                         f"larger than the {padding!r} input {(h, w)}")
    return ConvGeometry(sh, sw, pt, pl, dh, dw, oh, ow)


class Conv2DFn(Function):
    """conv, + bias, then ReLU if asked: the epilogue is one fused pass."""

    @staticmethod
    def forward(ctx, x, w, b, geom, relu):
        B = ctx.backend
        if not (is_grad_enabled() and any(ctx.needs_input_grad[:3])):
            return B.conv2d_inference(x, w, b, relu, geom)  # predict: no columns kept
        y, cols = B.conv2d_forward(x, w, geom)
        if b is not None or relu:
            B.bias_act(y, b, relu)
        ctx.save_for_backward(cols, w, y if relu else None)
        ctx.x_shape, ctx.geom = x.shape, geom
        return y

    @staticmethod
    def backward(ctx, g):
        B, (cols, w, y) = ctx.backend, ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g, gb = bias_act_grads(B, y, g, need_b)
        gx = B.conv2d_backward_input(g, w, ctx.x_shape, ctx.geom) if need_x else None
        gw = B.conv2d_backward_weight(g, cols, w.shape) if need_w else None
        return gx, gw, gb, None, None


def bias_act_grads(B, y, g, need_bias: bool) -> tuple:
    """Gradient through the fused epilogue: (g past ReLU, bias gradient or None).

    y is the saved output when ReLU was fused, else None.
    """
    if y is not None:
        return B.bias_act_backward(y, g, need_bias)
    return g, (B.bias_grad(g) if need_bias else None)


def conv2d(x, w, b=None, stride=1, padding: str = "valid", dilation=1, *,
           activation: str | None = None, name: str = "conv2d") -> Tensor:
    """y[n,i,j,f] = sum_{p,q,c} x[n, i*s-pad+p*d, j*s-pad+q*d, c] * w[p,q,c,f] (+ b[f]).

    x: (N, H, W, C); w: (KH, KW, C, F); b: (F,) or None. `padding` is 'valid' or
    'same' (TensorFlow's split: the extra pixel goes bottom/right).
    `activation='relu'` applies ReLU in the same pass as the bias.
    """
    x, w, b = _check_conv_args(x, w, b, name)
    geom = conv2d_geometry(x.shape, w.shape[:2], stride, padding, dilation, name)
    return Conv2DFn.apply(x, w, b, geom, fused_relu(activation, name))


def _check_conv_args(x, w, b, name: str) -> tuple:
    """conv2d's x, w, b as float Tensors of matching shapes and one dtype."""
    x, w = float_tensor(x, name), float_tensor(w, name, "kernel")
    b = None if b is None else float_tensor(b, name, "bias")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input (batch, height, width, channels), "
                         f"got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D kernel (kh, kw, in_channels, filters), "
                         f"got shape {w.shape}")
    c, (_, _, kc, f) = x.shape[3], w.shape
    if kc != c:
        raise ValueError(f"{name}: the input has {c} channels but the kernel expects {kc} "
                         f"(kernel shape {w.shape}, input shape {x.shape})")
    if b is not None and b.shape != (f,):
        raise ValueError(f"{name}: expected a bias of shape ({f},), got {b.shape}")
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{name}: input, kernel and bias must share one dtype, got "
                        f"{x.dtype}, {w.dtype}" + ("" if b is None else f", {b.dtype}"))
    return x, w, b


def fused_relu(activation, name: str) -> bool:
    """The fused epilogue's activation: None or 'relu'."""
    if activation not in (None, "relu"):
        raise ValueError(f"{name}: the fused `activation` must be None or 'relu', got "
                         f"{activation!r}")
    return activation == "relu"


class Conv2DMaxPoolFn(Function):
    """max_pool2d(act(conv2d(x, w) + b)) as one op (act: ReLU or none).

    The backend's conv, pool and epilogue in a row: since the bias is per channel
    and ReLU monotone, max(relu(z + b)) = relu(max(z) + b), so the epilogue runs on
    the pooled output, 4x smaller, and the backward applies ReLU's mask there and
    scatters the pooled gradient to the conv grid once, for both GEMMs. A first
    layer (no input gradient) lets the backend take the weight gradient from the
    pooled gradient directly (maxpool_conv2d_backward_weight).
    """

    @staticmethod
    def forward(ctx, x, w, b, geom, pgeom, relu):
        B = ctx.backend
        training = is_grad_enabled() and any(ctx.needs_input_grad[:3])
        if training:
            y, arg, cols = B.conv2d_maxpool_train_forward(x, w, geom, pgeom)
        else:  # predict: nothing kept for a backward, so the backend may go by blocks
            y, _ = B.conv2d_maxpool_forward(x, w, geom, pgeom)
        if b is not None or relu:
            B.bias_act(y, b, relu)
        if training:
            ctx.save_for_backward(x, w, cols, arg, y if relu else None)
            ctx.geom, ctx.pgeom = geom, pgeom
        return y

    @staticmethod
    def backward(ctx, g):
        B, (x, w, cols, arg, y), geom = ctx.backend, ctx.saved_tensors, ctx.geom
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g, gb = bias_act_grads(B, y, g, need_b)
        z_shape = (x.shape[0], geom.oh, geom.ow, w.shape[3])
        if not need_x:  # a first layer: no dense gradient of the conv grid needed
            gw = (B.maxpool_conv2d_backward_weight(g, arg, cols, w.shape, z_shape, ctx.pgeom)
                  if need_w else None)
            return None, gw, gb, None, None, None
        gz = B.maxpool2d_backward(g, arg, z_shape)
        gw = B.conv2d_backward_weight(gz, cols, w.shape) if need_w else None
        return B.conv2d_backward_input(gz, w, x.shape, geom), gw, gb, None, None, None


def conv2d_maxpool(x, w, b=None, stride=1, padding: str = "valid", dilation=1,
                   activation: str | None = None, pool_size=(2, 2), pool_stride=None,
                   pool_padding: str = "valid", name: str = "conv2d") -> Tensor:
    """`max_pool2d(conv2d(x, w, b, ..., activation), pool_size, ...)`, fused."""
    x, w, b = _check_conv_args(x, w, b, name)
    geom = conv2d_geometry(x.shape, w.shape[:2], stride, padding, dilation, name)
    z_shape = (x.shape[0], geom.oh, geom.ow, w.shape[-1])
    pgeom = pool2d_geometry(z_shape, pool_size, pool_stride, pool_padding, name)
    # A 'valid' pool can leave the conv's last rows and columns unused (11 -> 5
    # with 2x2 pooling): compute only the conv outputs some window reads.
    used = geom._replace(oh=min(geom.oh, (pgeom.oh - 1) * pgeom.sh - pgeom.pad_top + pgeom.ph),
                         ow=min(geom.ow, (pgeom.ow - 1) * pgeom.sw - pgeom.pad_left + pgeom.pw))
    return Conv2DMaxPoolFn.apply(x, w, b, used, pgeom, fused_relu(activation, name))
