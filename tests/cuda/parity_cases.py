"""Inputs for the parity test: every function of the backend contract, called on the
CPU and the CUDA backend with the same arguments (tests/cuda/test_parity.py).

Importing this needs neither numba-cuda nor a GPU, so the plain CPU suite can
check that every contract function has a case (tests/test_backend_contract.py).
A case is (name, args, indices of arguments updated in place or None, id).
"""
import numpy as np

from minigrad.backends import bodies, get_backend
from minigrad.backends.contract import ConvGeometry, GradPrep, PoolGeometry
from minigrad.utils import same_or_valid

cpu = get_backend("cpu")
F32, F64 = np.float32, np.float64
R = np.random.default_rng(7)
PREP = GradPrep(scale=0.5, clip=0.3, decay=0.01)  # clipnorm's scale, clipvalue, weight decay


def rand(*shape, dtype=F32):
    return R.standard_normal(shape).astype(dtype)


class Host:
    """An array argument passed to both backends as a NumPy array (not moved first)."""

    def __init__(self, a):
        self.a = a


def conv_geom(x_shape, w_shape, stride, padding, dilation):
    (_, h, w, _), (kh, kw, _, _) = x_shape, w_shape
    oh, pt, _ = same_or_valid(h, kh, stride, dilation, padding)
    ow, pl, _ = same_or_valid(w, kw, stride, dilation, padding)
    return ConvGeometry(stride, stride, pt, pl, dilation, dilation, oh, ow)


def pool_geom(x_shape, pool, stride, padding):
    _, h, w, _ = x_shape
    oh, pt, _ = same_or_valid(h, pool, stride, 1, padding)
    ow, pl, _ = same_or_valid(w, pool, stride, 1, padding)
    return PoolGeometry(pool, pool, stride, stride, pt, pl, oh, ow)


# conv configs: (x shape, w shape, stride, padding, dilation). The first has
# N*OH*OW = 72 rows, enough for the weight gradient's split-K path.
CONVS = [((2, 6, 6, 1), (3, 3, 1, 2), 1, "same", 1),
         ((1, 5, 5, 2), (3, 3, 2, 2), 2, "same", 1),
         ((1, 6, 5, 1), (2, 2, 1, 2), 1, "valid", 2),
         ((1, 5, 6, 2), (2, 3, 2, 1), 2, "valid", 1),
         ((1, 6, 5, 3), (3, 3, 3, 2), 1, "same", 1)]   # the CPU's im2col_3x3x3


def conv_cases():
    out = []
    for xs, ws, s, pad, d in CONVS:
        x, w = rand(*xs), rand(*ws)
        g = conv_geom(xs, ws, s, pad, d)
        y, cols = cpu.conv2d_forward(x, w, g)
        gy = rand(*y.shape)
        tag = f"{xs}-{ws}-s{s}-{pad}-d{d}"
        out += [("conv2d_forward", (x, w, g), None, tag),
                ("conv2d_backward_input", (gy, w, xs, g), None, tag),
                ("conv2d_backward_weight", (gy, cols, ws), None, tag),
                ("conv2d_inference", (x, w, rand(ws[3]), True, g), None, f"{tag}-bias-relu"),
                ("conv2d_inference", (x, w, None, False, g), None, tag)]
        for pool, stride, pad in [(2, 2, "valid"), (3, 1, "same")]:  # overlapping windows too
            pg = pool_geom(y.shape, pool, stride, pad)
            py, arg = cpu.maxpool2d_forward(y, pg)
            out.append(("maxpool_conv2d_backward_weight",
                        (rand(*py.shape), arg, cols, ws, y.shape, pg), None,
                        f"{tag}-p{pool}-s{stride}-{pad}"))
            out.append(("conv2d_maxpool_forward", (x, w, g, pg), None,
                        f"{tag}-p{pool}-s{stride}-{pad}"))
            out.append(("conv2d_maxpool_train_forward", (x, w, g, pg), None,
                        f"{tag}-p{pool}-s{stride}-{pad}"))
    return out


def pool_cases():
    out = []
    # integer-valued inputs make ties, which must go to the first element on both
    ties = np.round(rand(2, 5, 5, 2) * 2)
    nans = rand(2, 4, 4, 2)
    nans[0, 1, 1, 0] = nans[1, 0, 0, 1] = nans[1, 3, 2, 0] = np.nan
    for x, pool, stride, pad in [(rand(2, 4, 4, 2), 2, 2, "valid"), (ties, 2, 2, "valid"),
                                 (rand(1, 5, 5, 2), 3, 2, "same"), (ties, 3, 1, "same"),
                                 (nans, 2, 2, "valid"), (nans, 3, 1, "same")]:
        g = pool_geom(x.shape, pool, stride, pad)
        y, arg = cpu.maxpool2d_forward(x, g)
        tag = f"{x.shape}-p{pool}-s{stride}-{pad}" + ("-nan" if x is nans else "")
        out += [("maxpool2d_forward", (x, g), None, tag),
                ("maxpool2d_backward", (rand(*y.shape), arg, x.shape), None, tag)]
    return out


def pooled_norm_cases():
    """BatchNormalization + ReLU + MaxPooling2D (windows that do not overlap): the pool in
    the normalisation's pass, and the backward's sums and input gradient read through
    its winners; an odd size leaves pixels in no window, a NaN input wins its window."""
    out = []
    for xs, pool, tag in [((2, 5, 7, 3), 2, "2x2 odd"), ((1, 6, 6, 2), 3, "3x3")]:
        x = rand(*xs) * 2 - 1
        x[0, 1, 1, 0] = np.nan if tag == "2x2 odd" else x[0, 1, 1, 0]
        mean, var = cpu.batchnorm_stats(x)
        invstd = (1 / np.sqrt(var + 1e-3)).astype(F32)
        scale, shift = rand(xs[3]) + 0.5, rand(xs[3]) - 0.5
        pg = pool_geom(xs, pool, pool, "valid")
        _, arg = cpu.scale_shift_maxpool(x, scale, shift, True, pg)
        gp = rand(xs[0], pg.oh, pg.ow, xs[3])
        s_g, s_gx = cpu.norm_param_sums(x, gp, mean, invstd, False, (scale, shift), (arg, pg))
        out += [("scale_shift_maxpool", (x, scale, shift, True, pg), None, tag),
                ("scale_shift_maxpool", (x, scale, shift, False, pg), None, tag + " no-relu"),
                ("norm_param_sums", (x, gp, mean, invstd, False, (scale, shift), (arg, pg)),
                 None, tag + " pooled"),
                ("batchnorm_backward_input", (x, gp, mean, invstd, scale, s_g, s_gx,
                                              (scale, shift), (arg, pg)), None,
                 tag + " pooled")]
    return out


def layer_cases():
    """Normalisation, average pool, grouped conv, embedding gradient, pad/crop."""
    out = []
    x = rand(3, 4, 5) * 2 + 1
    mean, var = cpu.batchnorm_stats(x)
    invstd = (1 / np.sqrt(var + 1e-3)).astype(F32)
    gamma, gy = rand(5), rand(3, 4, 5)
    s_g, s_gx = cpu.norm_param_sums(x, gy, mean, invstd, False)
    relu = (gamma * invstd, rand(5) - 0.5)   # a fused ReLU after x * scale + shift: some pass
    y_ln, m_ln, inv_ln = cpu.layernorm_forward(x, gamma, rand(5), 1e-3)
    out += [("batchnorm_stats", (x,), None, ""),
            ("batchnorm_stats", (rand(70, 3, dtype=F64) + 5,), None, "f64-chunks"),
            ("batchnorm_stats", (with_nan(rand(6, 4)),), None, "nan"),
            ("scale_shift", (x, rand(5), rand(5)), None, ""),
            ("scale_shift", (x, rand(5), None), None, "no-shift"),
            ("scale_shift", (x, rand(5) - 0.5, rand(5) - 0.5, True), None, "relu"),
            ("norm_param_sums", (x, gy, mean, invstd, False), None, "per-column"),
            ("norm_param_sums", (x, gy, m_ln, inv_ln, True), None, "per-row"),
            ("batchnorm_backward_input", (x, gy, mean, invstd, gamma * invstd, s_g, s_gx), None,
             ""),
            ("norm_param_sums", (x, gy, mean, invstd, False, relu), None, "relu"),
            ("batchnorm_backward_input", (x, gy, mean, invstd, gamma * invstd, s_g, s_gx,
                                          relu), None, "relu"),
            ("layernorm_forward", (x, gamma, rand(5), 1e-3), None, ""),
            *pooled_norm_cases(),
            ("layernorm_forward", (with_nan(rand(4, 6)), rand(6), rand(6), 1e-5), None, "nan"),
            ("layernorm_backward_input", (x, gy, m_ln, inv_ln, gamma), None, "")]
    for xs, pool, stride, pad in [((2, 5, 5, 3), 2, 2, "valid"), ((1, 5, 6, 2), 3, 2, "same"),
                                  ((2, 4, 4, 2), 3, 1, "same"), ((1, 6, 6, 1), 6, 6, "valid")]:
        xp = rand(*xs)
        g = pool_geom(xs, pool, stride, pad)
        tag = f"{xs}-p{pool}-s{stride}-{pad}"
        out += [("avgpool2d_forward", (xp, g), None, tag),
                ("avgpool2d_backward", (rand(xs[0], g.oh, g.ow, xs[3]), xs, g), None, tag)]
    for xs, ws, s, pad, d, groups in [((2, 6, 6, 4), (3, 3, 1, 4), 1, "same", 1, 4),
                                      ((1, 7, 6, 4), (3, 2, 2, 6), 2, "valid", 1, 2),
                                      ((1, 6, 6, 3), (2, 2, 1, 6), 1, "same", 2, 3)]:
        xg, wg = rand(*xs), rand(*ws)
        g = conv_geom(xs, ws, s, pad, d)
        gyg = rand(xs[0], g.oh, g.ow, ws[3])
        tag = f"{xs}-{ws}-g{groups}-s{s}-{pad}-d{d}"
        out += [("grouped_conv2d_forward", (xg, wg, g, groups), None, tag),
                ("grouped_conv2d_backward_input", (gyg, wg, xs, g, groups), None, tag),
                ("grouped_conv2d_backward_weight", (xg, gyg, ws, g, groups), None, tag)]
    out += [("take_backward", (rand(6, 3), np.array([2, 0, 2, 4, 2, 0]), 5), None, ""),
            ("take_backward", (rand(4, 2, 3), np.array([1, 1, 1, 1]), 3), None, "3-d"),
            ("pad", (x, ((0, 0), (1, 2), (3, 0))), None, ""),
            ("crop", (x, ((1, 0), (0, 2), (1, 1))), None, ""),
            ("batched_matmul", (rand(3, 4, 5), rand(3, 5, 2)), None, ""),
            ("batched_matmul", (rand(2, 9, 40, dtype=F64), rand(2, 40, 6, dtype=F64)), None,
             "split-k-f64")]
    return out


def with_nan(a):
    a = a.copy()
    a.flat[::3] = np.nan
    return a


def elementwise_cases():
    """Every op of bodies.ELEMENTWISE, by its contract names and through map_*."""
    out = []
    x = rand(3, 5) * 3
    for op, e in bodies.ELEMENTWISE.items():
        defaults = tuple(d for _, d in e.params)
        saved = cpu.map_forward(op, x, *defaults) if e.saves == "y" else x
        for xin, tag in ((x, ""), (with_nan(x), "nan")):
            out += [(f"{op}_forward", (xin,), None, tag),
                    ("map_forward", (op, xin, *defaults), None, f"{op}-{tag}")]
        out += [(f"{op}_backward", (saved, rand(3, 5)), None, ""),
                ("map_backward", (op, saved, rand(3, 5), *defaults), None, op),
                (f"{op}_backward", (with_nan(saved), rand(3, 5)), None, "nan")]
        if e.params:  # parameters other than the defaults, in float64 too
            params = (0.3, -1.5)[:len(e.params)]
            x64 = x.astype(F64)
            out += [("map_forward", (op, x64, *params), None, f"{op}-params"),
                    ("map_backward", (op, x64, rand(3, 5, dtype=F64), *params), None,
                     f"{op}-params")]
    return out


def cases():
    x = rand(2, 3, 4)
    pos = np.abs(x) + 0.1
    y_act = np.maximum(rand(3, 5), 0)  # a ReLU output, zeros included
    sm = cpu.softmax_forward(rand(3, 5))
    lsm = cpu.log_softmax_forward(rand(2, 3, 4))
    logits = rand(4, 5)
    target = cpu.softmax_forward(rand(4, 5))
    bounded = np.array([-1.5, -1.0, -0.2, 0.0, 0.7, 1.0, 2.0, np.nan], F32)
    p, g = rand(3, 4), rand(3, 4)
    m, v = rand(3, 4), np.abs(rand(3, 4))
    return [
        ("is_device_array", (Host(np.zeros(2)),), None, "host"),
        ("asarray", (x,), None, "passthrough"),
        ("asarray", (x, F64), None, "cast"),
        ("asarray", (Host(x), F64), None, "host"),
        ("to_numpy", (x,), None, ""),
        ("empty", ((2, 3), F64), None, "shape"),
        ("zeros", ((2, 3), F32), None, ""),
        ("constant", (0.25, F64), None, ""),
        ("full", ((3, 2), 1.5, F64), None, ""),
        ("broadcast_copy", (rand(2, 1, 4), (2, 3, 4)), None, "middle"),
        ("broadcast_copy", (rand(1, 1, dtype=F64), (3, 2)), None, "f64"),
        ("copy", (x,), None, ""),
        ("copy", (x, F64), None, "cast"),
        ("add", (x, rand(4)), None, "row"),
        ("add", (rand(2, 1, 4), rand(3, 1)), None, "both"),
        ("add", (x, np.asarray(2.5, F32)), None, "0-d"),
        ("add", (rand(3), rand(3, dtype=F64)), None, "promote"),
        ("subtract", (rand(3, 1), x), None, ""),
        ("multiply", (x, F32(3.0)), None, "scalar"),
        ("multiply", (rand(1, 3, 1), rand(2, 1, 4)), None, ""),
        ("divide", (x, pos), None, ""),
        ("divide", (rand(4), rand(5, 1)), None, ""),
        ("negative", (x,), None, ""),
        ("exp", (x,), None, ""),
        ("log", (pos,), None, ""),
        ("sqrt", (pos,), None, ""),
        ("power", (pos, F32(3.0)), None, "cube"),
        ("power", (pos, F32(-0.5)), None, "rsqrt"),
        ("matmul", (rand(5, 7), rand(7, 3)), None, "tiles"),
        ("matmul", (rand(3, 100), rand(100, 2)), None, "split-k"),
        ("matmul", (rand(2, 3, dtype=F64), rand(3, 6, dtype=F64)), None, "f64"),
        ("matmul", (rand(3, 2), rand(2, 41)), None, "many-column-tiles"),
        ("matmul", (rand(9, 5), rand(5, 10)), None, "3x3-tiles"),
        ("matmul_tn", (rand(7, 5), rand(7, 3)), None, "small"),
        ("matmul_tn", (rand(300, 20), rand(300, 10)), None, "rows-past-min-rows"),
        ("sum", (x,), None, "all"),
        ("sum", (x, 1), None, "axis1"),
        ("sum", (x, (0, 2), True), None, "keepdims"),
        ("sum", (x, -1), None, "last"),
        ("sum", (rand(50, 3), 0), None, "long"),
        ("reshape", (x, (4, -1)), None, ""),
        ("transpose", (x,), None, "reverse"),
        ("transpose", (x, (1, 0, 2)), None, "perm"),
        ("sum_to_shape", (x, (3, 1)), None, "lead+keep"),
        ("sum_to_shape", (x, (4,)), None, "lead"),
        ("sum_to_shape", (x, (2, 3, 4)), None, "same"),
        ("sum_to_shape", (x, (1, 3, 1)), None, "ones"),
        ("clip", (bounded, -1.0, 1.0), None, ""),
        ("clip_mask", (bounded, -1.0, 1.0), None, ""),
        ("one_hot", (Host(np.array([2, 0, 3, 3])), 4, F32), None, ""),
        ("take", (rand(5, 2, 3), np.array([4, 0, 0, 2])), None, "rows"),
        ("take", (np.array([7, 1, 3]), np.array([2, 1])), None, "labels"),
        # ties: the first maximum wins on both
        ("compare", (with_nan(rand(3, 4)), rand(4), "less"), None, "broadcast-nan"),
        ("compare", (np.round(rand(3, 4)), np.round(rand(3, 1)), "equal"), None, "equal"),
        ("compare", (rand(3, 4), 0.25, "greater_equal"), None, "scalar"),
        ("where", (rand(3, 4) > 0, rand(3, 4), rand(1, 4)), None, ""),
        ("argmax", (np.round(rand(3, 4, 5)), -1), None, "ties-last"),
        ("argmax", (with_nan(rand(3, 4, 5)), 1), None, "nan-middle"),
        ("count_correct", (np.array([1, 0, 2, 2]),
                           np.array([[0, 1, 0], [2, 2, 0], [1, 0, 3], [0, 1, 0]], F32),
                           "sparse"), None, "sparse"),
        ("count_correct", (Host(np.array([1, 0, 2])), rand(3, 3), "sparse"), None, "host"),
        ("count_correct", (np.eye(3, dtype=F32)[[0, 2, 1, 1]], rand(4, 3), "categorical"),
         None, "categorical"),
        ("count_correct", (np.array([[1], [0], [1]], F32), np.array([[.7], [.2], [.5]], F32),
                           "binary"), None, "binary"),
        *conv_cases(),
        ("bias_act", (rand(2, 3, 3, 4), rand(4), True), (0,), "relu"),
        ("bias_act", (rand(5, 4), rand(4), False), (0,), "bias"),
        ("bias_act", (rand(5, 4), None, True), (0,), "relu-only"),
        ("bias_act", (with_nan(rand(5, 4)), rand(4), True), (0,), "nan"),
        ("bias_act_backward", (y_act, rand(3, 5), True), None, "bias"),
        ("bias_act_backward", (y_act, rand(3, 5), False), None, "nobias"),
        ("bias_act_backward", (with_nan(y_act), rand(3, 5), True), None, "nan"),
        ("bias_grad", (rand(2, 3, 3, 4),), None, ""),
        *pool_cases(),
        *elementwise_cases(),
        *layer_cases(),
        ("softmax_forward", (rand(3, 5) * 10,), None, ""),
        ("softmax_forward", (x,), None, "3-d"),
        ("softmax_forward", (with_nan(rand(3, 5)),), None, "nan"),
        ("softmax_backward", (sm, rand(3, 5)), None, ""),
        ("log_softmax_forward", (x,), None, ""),
        ("log_softmax_backward", (lsm, rand(2, 3, 4)), None, ""),
        ("sparsemax_forward", (rand(4, 6) * 2,), None, ""),
        ("sparsemax_forward", (np.round(rand(2, 3, 5) * 2),), None, "ties-3-d"),
        ("sparsemax_forward", (with_nan(rand(3, 5)),), None, "nan"),
        ("sparsemax_backward", (cpu.sparsemax_forward(rand(4, 6) * 2), rand(4, 6)), None, ""),
        ("softmax_cross_entropy_forward", (logits, target), None, ""),
        ("softmax_cross_entropy_forward", (with_nan(logits), target), None, "nan"),
        ("softmax_cross_entropy_backward", (target, cpu.one_hot(np.arange(4), 5, F32),
                                            rand(4)), None, ""),
        ("dropout", (rand(5, 7), 0.3, 2**62 + 12345), None, ""),
        ("dropout", (with_nan(rand(5, 7)), 0.5, 2**64 - 1), None, "nan-top-seed"),
        ("adam_update", (p, g, m, v, 0.01, 0.9, 0.999, 1e-7), (0, 2, 3), ""),
        ("sgd_update", (p, g, rand(3, 4), 0.1, 0.0, False), (0, 2), "plain"),
        ("sgd_update", (p, g, rand(3, 4), 0.1, 0.9, False), (0, 2), "momentum"),
        ("sgd_update", (p, g, rand(3, 4), 0.1, 0.9, True), (0, 2), "nesterov"),
        ("sgd_update", (p, g, rand(3, 4), 0.1, 0.9, False, PREP), (0, 2), "prep"),
        ("adam_update", (p, g, m, v, 0.01, 0.9, 0.999, 1e-7, PREP), (0, 2, 3), "prep"),
        ("adam_amsgrad_update", (p, g, m, v, v * 2, 0.01, 0.9, 0.999, 1e-7), (0, 2, 3, 4), ""),
        ("rmsprop_update", (p, g, v, None, None, 0.01, 0.9, 0.0, 1e-7, False), (0, 2),
         "plain"),
        ("rmsprop_update", (p, g, v, m, rand(3, 4) * 0.1, 0.01, 0.9, 0.5, 1e-7, True, PREP),
         (0, 2, 3, 4), "momentum-centered-prep"),
        ("adagrad_update", (p, g, v + 0.1, 0.01, 1e-7), (0, 2), ""),
        ("adadelta_update", (p, g, v, v * 0.5, 1.0, 0.95, 1e-7), (0, 2, 3), ""),
        ("adamax_update", (p, g, m, v, 0.01, 0.19, 0.9, 0.999, 1e-7), (0, 2, 3), ""),
        ("adamax_update", (with_nan(p), with_nan(g), m, v, 0.01, 0.19, 0.9, 0.999, 1e-7),
         (0, 2, 3), "nan"),
        ("nadam_update", (p, g, m, v, 0.01, 0.9, 0.999, 1e-7, 0.8568, 0.8618, 0.8568, 0.7384,
                          0.001), (0, 2, 3), ""),
        ("power", (pos, rand(4)), None, "array-exponent"),
        # merge layers: NaN propagates as np.maximum, ties go to the first operand
        ("maximum", (x, rand(4)), None, "broadcast"),
        ("maximum", (np.array([1, np.nan, 2, 3], F32), np.array([np.nan, 1, 2, -1], F32)),
         None, "nan-ties"),
        ("minimum", (rand(3, 1), x), None, ""),
        ("extremum_backward", (x, rand(4), rand(2, 3, 4), True), None, "max"),
        ("extremum_backward", (rand(3, 1), x, rand(2, 3, 4), False), None, "min"),
        ("extremum_backward", (np.ones(3, F32), np.ones(3, F32), rand(3), True), None, "ties"),
        ("concatenate", ([x, rand(2, 3, 2)], -1), None, "last"),
        ("concatenate", ([x, rand(1, 3, 4), rand(3, 3, 4)], 0), None, "first"),
        ("concatenate", ([rand(2, 1, 2, dtype=F64), rand(2, 2, 2, dtype=F64)], 1), None, "f64"),
        ("split", (x, [1, 3], 2), None, "last"),
        ("split", (x, [1, 1], 0), None, "first"),
    ]


CASES = cases()
# compared exactly: copies, masks, integer outputs (argmax), selects
EXACT = {"constant", "dropout", "compare", "where", "argmax", "one_hot", "reshape",
         "transpose", "asarray", "to_numpy",
         "zeros", "full", "broadcast_copy", "copy", "negative", "relu_forward", "relu_backward", "clip", "clip_mask",
         "maxpool2d_forward", "is_device_array", "count_correct", "take",
         "maximum", "minimum", "extremum_backward", "concatenate", "split"}


def every_other(backend, a):
    """A non-contiguous array of backend holding a's values: every other element of a
    wider array along the last axis (a view, as a slice of a Tensor's data is)."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return backend.asarray(wide)[..., ::2]


def column_major(backend, a):
    """a's values in Fortran order (a transpose's layout); every_other for 1-D a."""
    if a.ndim < 2:
        return every_other(backend, a)
    f = np.asfortranarray(a)
    return backend.cuda.to_device(f) if backend.name == "cuda" else f


LAYOUTS = (every_other, column_major)


def strided_run(backend, name, args, inplace):
    """backend.name on contiguous and on strided copies of the array arguments (each
    layout of LAYOUTS): equal results, and in-place results written into the strided
    arrays themselves."""
    def call(make):
        moved = [make(a.copy()) if isinstance(a, np.ndarray) else
                 a.a.copy() if isinstance(a, Host) else a for a in args]
        out = getattr(backend, name)(*moved)
        if inplace:
            out = tuple(moved[i] for i in inplace)
        return [None if o is None else np.asarray(backend.to_numpy(o))
                for o in (out if isinstance(out, tuple) else (out,))]

    want = call(backend.asarray)
    for layout in LAYOUTS:
        got = call(lambda a: layout(backend, a) if a.ndim and a.size else backend.asarray(a))
        for w, g in zip(want, got):
            if w is None or name == "empty":
                continue
            if w.dtype.kind in "iub":
                np.testing.assert_array_equal(g, w, err_msg=layout.__name__)
            else:  # reductions and BLAS may take another order for a strided input
                np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, err_msg=layout.__name__)
