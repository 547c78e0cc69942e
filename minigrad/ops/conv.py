"""2-D convolution, NHWC input, (KH, KW, C, F) kernel, as Keras's Conv2D."""
from __future__ import annotations

from ..tensor import Function, Tensor, as_tensor
from ..utils import pair, padding_mode, same_or_valid


class Conv2D(Function):
    @staticmethod
    def forward(ctx, x, w, b, geom):
        sh, sw, pt, pl, dh, dw, oh, ow = geom
        y, cols = ctx.backend.conv2d_forward(x, w, b, sh, sw, pt, pl, dh, dw, oh, ow)
        ctx.save_for_backward(cols, w)
        ctx.x_shape, ctx.geom = x.shape, geom
        return y

    @staticmethod
    def backward(ctx, g):
        B, (cols, w) = ctx.backend, ctx.saved_tensors
        sh, sw, pt, pl, dh, dw, _, _ = ctx.geom
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = B.conv2d_backward_input(g, w, ctx.x_shape, sh, sw, pt, pl, dh, dw) if need_x else None
        gw = B.conv2d_backward_weight(g, cols, w.shape) if need_w else None
        gb = B.bias_grad(g) if need_b else None
        return gx, gw, gb, None


def conv2d(x, w, b=None, stride=1, padding: str = "valid", dilation=1,
           name: str = "conv2d") -> Tensor:
    """y[n,i,j,f] = sum_{p,q,c} x[n, i*s-pad+p*d, j*s-pad+q*d, c] * w[p,q,c,f] (+ b[f]).

    x: (N, H, W, C); w: (KH, KW, C, F); b: (F,) or None. `padding` is 'valid' or
    'same' (TensorFlow's split: the extra pixel goes bottom/right).
    """
    x, w = as_tensor(x), as_tensor(w)
    b = None if b is None else as_tensor(b)
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
    return Conv2D.apply(x, w, b, (sh, sw, pt, pl, dh, dw, oh, ow))
