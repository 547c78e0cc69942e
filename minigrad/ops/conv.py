"""2-D convolution, NHWC input, (KH, KW, C, F) kernel, as Keras's Conv2D."""
from __future__ import annotations

from ..tensor import Function, Tensor, as_tensor
from ..utils import pair, padding_mode, same_or_valid
from .pool import pool_geometry


class Conv2D(Function):
    """conv, + bias, then ReLU if asked: the epilogue is one fused pass."""

    @staticmethod
    def forward(ctx, x, w, b, geom, relu):
        B = ctx.backend
        sh, sw, pt, pl, dh, dw, oh, ow = geom
        y, cols = B.conv2d_forward(x, w, sh, sw, pt, pl, dh, dw, oh, ow)
        if b is not None or relu:
            B.bias_act(y, b, relu)
        ctx.save_for_backward(cols, w, y if relu else None)
        ctx.x_shape, ctx.geom = x.shape, geom
        return y

    @staticmethod
    def backward(ctx, g):
        B, (cols, w, y) = ctx.backend, ctx.saved_tensors
        sh, sw, pt, pl, dh, dw, _, _ = ctx.geom
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g, gb = bias_act_grads(B, y, g, need_b)
        gx = B.conv2d_backward_input(g, w, ctx.x_shape, sh, sw, pt, pl, dh, dw) if need_x else None
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
    x, w = as_tensor(x), as_tensor(w)
    b = None if b is None else as_tensor(b)
    geom = _conv_geometry(x, w, b, stride, padding, dilation, name)
    return Conv2D.apply(x, w, b, geom, fused_relu(activation, name))


def _conv_geometry(x, w, b, stride, padding, dilation, name: str) -> tuple:
    """Check conv2d's arguments (Tensors); (sh, sw, pad_top, pad_left, dh, dw, oh, ow)."""
    sh, sw = pair(stride, "strides", name)
    dh, dw = pair(dilation, "dilation_rate", name)
    padding = padding_mode(padding, name)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input (batch, height, width, channels), "
                         f"got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D kernel (kh, kw, in_channels, filters), "
                         f"got shape {w.shape}")
    n, h, wd, c = x.shape
    kh, kw, kc, f = w.shape
    if kc != c:
        raise ValueError(f"{name}: the input has {c} channels but the kernel expects {kc} "
                         f"(kernel shape {w.shape}, input shape {x.shape})")
    if b is not None and b.shape != (f,):
        raise ValueError(f"{name}: expected a bias of shape ({f},), got {b.shape}")
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{name}: input, kernel and bias must share one dtype, got "
                        f"{x.dtype}, {w.dtype}" + ("" if b is None else f", {b.dtype}"))
    oh, pt, _ = same_or_valid(h, kh, sh, dh, padding)
    ow, pl, _ = same_or_valid(wd, kw, sw, dw, padding)
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: the kernel {(kh, kw)} with dilation {(dh, dw)} is larger "
                         f"than the {padding!r} input {(h, wd)}; output would be {(oh, ow)}")
    return sh, sw, pt, pl, dh, dw, oh, ow


def fused_relu(activation, name: str) -> bool:
    """The fused epilogue's activation: None or 'relu'."""
    if activation not in (None, "relu"):
        raise ValueError(f"{name}: the fused `activation` must be None or 'relu', got "
                         f"{activation!r}")
    return activation == "relu"


class Conv2DMaxPool(Function):
    """max_pool2d(act(conv2d(x, w) + b)) as one op (act: ReLU or none).

    Same values and gradients as the three ops in a row; the backward applies
    ReLU's mask on the small pooled grid (relu(max z) = max relu(z)), and the
    backend may skip the full-size conv output altogether.
    """

    @staticmethod
    def forward(ctx, x, w, b, geom, pgeom, relu):
        y, arg, cols = ctx.backend.conv2d_maxpool_forward(x, w, b, relu, geom, pgeom)
        ctx.save_for_backward(x, w, cols, arg, y if relu else None)
        ctx.geom, ctx.pgeom = geom, pgeom
        return y

    @staticmethod
    def backward(ctx, g):
        B, (x, w, cols, arg, y) = ctx.backend, ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g, gb = bias_act_grads(B, y, g, need_b)
        gx, gw = B.conv2d_maxpool_backward(g, arg, x, cols, w, need_x, need_w, ctx.geom,
                                           ctx.pgeom)
        return gx, gw, gb, None, None, None


def conv2d_maxpool(x, w, b=None, stride=1, padding: str = "valid", dilation=1,
                   activation: str | None = None, pool_size=(2, 2), pool_stride=None,
                   pool_padding: str = "valid", name: str = "conv2d") -> Tensor:
    """`max_pool2d(conv2d(x, w, b, ..., activation), pool_size, ...)`, fused."""
    x, w = as_tensor(x), as_tensor(w)
    b = None if b is None else as_tensor(b)
    geom = _conv_geometry(x, w, b, stride, padding, dilation, name)
    z_shape = (x.shape[0], geom[6], geom[7], w.shape[-1])
    pgeom = pool_geometry(z_shape, pool_size, pool_stride, pool_padding, name)
    # A 'valid' pool can leave the conv's last rows and columns unused (11 -> 5
    # with 2x2 pooling): compute only the conv outputs some window reads.
    ph, pw, psh, psw, ppt, ppl, poh, pow_ = pgeom
    used = (min(geom[6], (poh - 1) * psh - ppt + ph), min(geom[7], (pow_ - 1) * psw - ppl + pw))
    return Conv2DMaxPool.apply(x, w, b, geom[:6] + used, pgeom, fused_relu(activation, name))
