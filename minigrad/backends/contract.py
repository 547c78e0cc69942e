"""The backend contract: every function a backend offers, its signature and meaning.

`Backend` is the one list. The CPU backend (cpu/backend.py) and the CUDA backend
(cuda/backend.py) subclass it and implement every abstract method with the same
signature; tests/test_backend_contract.py fails when one is missing, differs, or
has no parity case (tests/cuda/parity_cases.py). The methods written here are
compositions of the others, the same on both backends.

Arrays are the backend's own (NumPy on the CPU, numba-cuda device arrays on the
GPU). Every entry point accepts any strided array (F-ordered, transposed,
sliced) and makes it contiguous at the boundary when its kernel needs that;
outputs are new C-contiguous arrays unless the entry says "in place". Kernels
take float32 or float64 (ops check the dtype before calling). No Tensors, no
autograd: that is minigrad.tensor and minigrad.ops, above.
"""
from __future__ import annotations

import abc
from typing import NamedTuple

from .elementwise import ElementwiseFunctions


class ConvGeometry(NamedTuple):
    """A 2-D convolution's strides, leading padding, dilation and output size."""
    sh: int
    sw: int
    pad_top: int
    pad_left: int
    dh: int
    dw: int
    oh: int
    ow: int


class PoolGeometry(NamedTuple):
    """A 2-D max pool's window, strides, leading padding and output size."""
    ph: int
    pw: int
    sh: int
    sw: int
    pad_top: int
    pad_left: int
    oh: int
    ow: int


class GradPrep(NamedTuple):
    """What an optimizer update does to a gradient and weight first (bodies.prepare):
    the gradient times `scale` (clipnorm), clipped to [-clip, clip] when clip > 0
    (clipvalue), then the weight times (1 - decay) (decoupled weight decay, lr * wd)."""
    scale: float = 1.0
    clip: float = 0.0
    decay: float = 0.0


NO_PREP = GradPrep()


class Backend(ElementwiseFunctions, abc.ABC):
    """What ops and the autograd core may ask of a backend (`ctx.backend`)."""

    name: str = ""

    # ------------------------------------------------------------- arrays
    @abc.abstractmethod
    def is_device_array(self, a) -> bool:
        """True if a lives on this backend's device and not on the host (CPU: never)."""

    @abc.abstractmethod
    def asarray(self, a, dtype=None):
        """a (host or backend array) as a C-contiguous backend array; no copy if it is one."""

    @abc.abstractmethod
    def to_numpy(self, a):
        """a as a NumPy array on the host."""

    @abc.abstractmethod
    def empty(self, shape, dtype):
        """An uninitialised array."""

    @abc.abstractmethod
    def constant(self, value, dtype):
        """A read-only 0-d array holding value (shared: never write into it)."""

    @abc.abstractmethod
    def zeros(self, shape, dtype):
        """An array of zeros."""

    @abc.abstractmethod
    def copy(self, a, dtype=None):
        """A new C-contiguous array equal to a (cast to dtype if given): never a view."""

    @abc.abstractmethod
    def full(self, shape, value, dtype):
        """An array filled with value."""

    def broadcast_copy(self, a, shape):
        """A new array of `shape` holding `a` broadcast to it (a sum's gradient)."""
        return self.add(self.zeros(shape, a.dtype), a)

    # ------------------------------------------ generic math (autograd core)
    @abc.abstractmethod
    def add(self, a, b):
        """a + b with NumPy broadcasting and type promotion."""

    @abc.abstractmethod
    def subtract(self, a, b):
        """a - b, broadcast."""

    @abc.abstractmethod
    def multiply(self, a, b):
        """a * b, broadcast."""

    @abc.abstractmethod
    def divide(self, a, b):
        """a / b, broadcast (IEEE: x/0 is inf or NaN)."""

    @abc.abstractmethod
    def negative(self, a):
        """-a."""

    @abc.abstractmethod
    def exp(self, a):
        """exp(a)."""

    @abc.abstractmethod
    def log(self, a):
        """log(a): -inf at 0, NaN below."""

    @abc.abstractmethod
    def sqrt(self, a):
        """sqrt(a): NaN below 0."""

    @abc.abstractmethod
    def power(self, a, exponent):
        """a ** exponent; exponent a scalar or an array, broadcast (NumPy's power)."""

    @abc.abstractmethod
    def clip(self, a, low, high):
        """a limited to [low, high]; NaN stays NaN."""

    @abc.abstractmethod
    def clip_mask(self, a, low, high):
        """1 where low <= a <= high (where clip passes the gradient), else 0."""

    @abc.abstractmethod
    def matmul(self, a, b):
        """(M, K) @ (K, N)."""

    def matmul_tn(self, a, b):
        """a.T @ b for a (K, M), b (K, N): a weight gradient (x.T @ gy). A backend may
        read a transposed instead of copying it."""
        return self.matmul(self.transpose(a), b)

    @abc.abstractmethod
    def batched_matmul(self, a, b):
        """(B, M, K) @ (B, K, N) -> (B, M, N): one product per batch entry."""

    @abc.abstractmethod
    def sum(self, a, axis=None, keepdims=False):
        """Sum over axis (None: all), as np.sum."""

    @abc.abstractmethod
    def reshape(self, a, shape):
        """a with a new shape (one -1 inferred); ValueError if the sizes differ."""

    @abc.abstractmethod
    def transpose(self, a, axes=None):
        """A contiguous copy of a with its axes permuted (None: reversed)."""

    @abc.abstractmethod
    def pad(self, a, widths):
        """a with zeros added: widths ((before, after), ...) per axis (ZeroPadding2D)."""

    @abc.abstractmethod
    def crop(self, a, widths):
        """a without widths ((before, after), ...) elements at the ends of each axis: the
        adjoint of pad (Cropping2D)."""

    @abc.abstractmethod
    def maximum(self, a, b):
        """Elementwise max(a, b), broadcast; a NaN operand gives NaN (np.maximum)."""

    @abc.abstractmethod
    def minimum(self, a, b):
        """Elementwise min(a, b), broadcast; a NaN operand gives NaN (np.minimum)."""

    @abc.abstractmethod
    def extremum_backward(self, a, b, g, take_max):
        """The gradients of maximum (take_max) or minimum of a, b at g's broadcast shape:
        (g where a wins, else 0; 0 where a wins, else g). Ties go to a (TensorFlow)."""

    @abc.abstractmethod
    def concatenate(self, arrays, axis):
        """The arrays joined along axis (every other axis equal)."""

    @abc.abstractmethod
    def split(self, a, sizes, axis):
        """A tuple of contiguous pieces of a along axis, of the given sizes (sum = a.shape[axis])."""

    def sum_to_shape(self, g, shape):
        """Undo broadcasting: g summed down to shape (the gradient of a broadcast)."""
        shape = tuple(shape)
        if tuple(g.shape) == shape:
            return g
        lead = len(g.shape) - len(shape)
        if lead:
            g = self.sum(g, axis=tuple(range(lead)))
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
        return self.sum(g, axis=axes, keepdims=True) if axes else g

    @abc.abstractmethod
    def compare(self, a, b, op):
        """a op b elementwise, broadcast, as a bool array; op one of bodies.COMPARISONS
        ('equal', 'not_equal', 'less', ...; NaN is unequal to everything, as NumPy)."""

    @abc.abstractmethod
    def where(self, cond, a, b):
        """a where cond (bool) else b, broadcast to one shape, of a's and b's dtype."""

    @abc.abstractmethod
    def argmax(self, a, axis):
        """The index (int64) of the first maximum along axis; a NaN counts as the
        maximum, as NumPy's."""

    # ------------------------------------------------- data and metrics
    @abc.abstractmethod
    def one_hot(self, labels, k, dtype):
        """(N,) int class ids -> (N, k); a label outside [0, k) gives a row of NaN."""

    @abc.abstractmethod
    def take(self, a, idx):
        """a[idx]: the rows of a picked by the integer array idx (a copy)."""

    @abc.abstractmethod
    def count_correct(self, y_true, y_pred, kind):
        """How many predictions are right (an int). kind 'sparse': argmax(pred) == label;
        'categorical': argmax(pred) == argmax(true); 'binary': (pred > 0.5) == (true
        > 0.5) per element. The first maximum wins ties. y_true may be on the host."""

    # --------------------------------------------------------- convolution
    @abc.abstractmethod
    def conv2d_forward(self, x, w, geom):
        """x (N,H,W,C), w (KH,KW,C,F) -> (y (N,OH,OW,F), cols); cols (the im2col
        matrix) is what conv2d_backward_weight needs. No bias: see bias_act."""

    @abc.abstractmethod
    def conv2d_backward_input(self, gy, w, x_shape, geom):
        """The gradient of conv2d_forward's x, of shape x_shape."""

    @abc.abstractmethod
    def conv2d_backward_weight(self, gy, cols, w_shape):
        """The gradient of conv2d_forward's w: cols.T @ gy, of shape w_shape."""

    @abc.abstractmethod
    def bias_act(self, y, b, relu):
        """In place: y += b (None: no bias), then ReLU if relu; one pass. Returns y."""

    @abc.abstractmethod
    def bias_act_backward(self, y, gy, need_bias):
        """Through bias_act with ReLU, from its output y: (gy where y > 0 else 0,
        that summed over all but the last axis, or None unless need_bias)."""

    @abc.abstractmethod
    def bias_grad(self, gy):
        """gy summed over every axis but the last (a bias gradient)."""

    # ------------------------------------------------------------ max pool
    @abc.abstractmethod
    def maxpool2d_forward(self, x, geom):
        """x (N,H,W,C) -> (y, arg): each window's max (NaN wins, then the first
        maximum), and int32 arg = the winner's index row*W + col in x."""

    @abc.abstractmethod
    def maxpool2d_backward(self, gy, arg, x_shape):
        """gy sent to each window's winner (summed where windows overlap), shape x_shape."""

    def conv2d_maxpool_forward(self, x, w, geom, pgeom):
        """maxpool2d_forward(conv2d_forward(x, w, geom)'s output, pgeom) when no backward
        will follow: (y, arg), no im2col columns kept. A backend may go block by block."""
        z, _ = self.conv2d_forward(x, w, geom)
        return self.maxpool2d_forward(z, pgeom)

    def conv2d_maxpool_train_forward(self, x, w, geom, pgeom):
        """conv2d_forward, then maxpool2d_forward of its output, for a backward: (y, arg,
        cols); the conv output itself is not kept, so a backend may compute y and arg
        without it."""
        z, cols = self.conv2d_forward(x, w, geom)
        y, arg = self.maxpool2d_forward(z, pgeom)
        return y, arg, cols

    def conv2d_inference(self, x, w, b, relu, geom):
        """bias_act(conv2d_forward(x, w, geom)'s output, b, relu) when no backward will
        follow: y alone, no im2col columns kept. A backend may go block by block."""
        y, _ = self.conv2d_forward(x, w, geom)
        return self.bias_act(y, b, relu)

    def maxpool_conv2d_backward_weight(self, gy, arg, cols, w_shape, z_shape, pgeom):
        """The gradient of conv2d_forward's w when max pooling (pgeom) follows the conv
        (z, of z_shape, pooled to gy with winners arg): maxpool2d_backward, then
        conv2d_backward_weight. A backend may skip the dense gradient of z between."""
        gz = self.maxpool2d_backward(gy, arg, z_shape)
        return self.conv2d_backward_weight(gz, cols, w_shape)

    # ---------------------------------------------------------- average pool
    @abc.abstractmethod
    def avgpool2d_forward(self, x, geom):
        """x (N,H,W,C) -> each window's mean over its in-bounds cells (PoolGeometry;
        'same' padding is not counted, as Keras's AveragePooling2D)."""

    @abc.abstractmethod
    def avgpool2d_backward(self, gy, x_shape, geom):
        """avgpool2d_forward's input gradient: each window's gy / its cell count, summed."""

    # -------------------------------------------------- grouped convolution
    @abc.abstractmethod
    def grouped_conv2d_forward(self, x, w, geom, groups):
        """x (N,H,W,C), w (KH,KW,C/groups,F) -> y (N,OH,OW,F): filter f sees only the
        C/groups channels of its group f // (F/groups); a direct kernel (depthwise:
        groups = C)."""

    @abc.abstractmethod
    def grouped_conv2d_backward_input(self, gy, w, x_shape, geom, groups):
        """The gradient of grouped_conv2d_forward's x."""

    @abc.abstractmethod
    def grouped_conv2d_backward_weight(self, x, gy, w_shape, geom, groups):
        """The gradient of grouped_conv2d_forward's w (fixed chunks: deterministic)."""

    # -------------------------------------------------------- normalisation
    # Over (rows, C) views: every axis but the last is a row axis.
    @abc.abstractmethod
    def batchnorm_stats(self, x):
        """(mean, variance) of x over every axis but the last, each (C,) of x's dtype;
        the population variance, in one pass of float64 sums in fixed chunks."""

    @abc.abstractmethod
    def scale_shift(self, x, scale, shift, relu=False):
        """x * scale + shift, scale and shift (C,) per last-axis channel (shift None: 0),
        then ReLU if relu (a BatchNormalization followed by ReLU, in one pass)."""

    def scale_shift_maxpool(self, x, scale, shift, relu, pgeom):
        """maxpool2d_forward(scale_shift(x, scale, shift, relu), pgeom) -> (y, arg) for x
        (N, H, W, C) and a pool of windows that do not overlap (strides = pool size,
        unpadded): BatchNormalization (+ ReLU) + MaxPooling2D. A backend may skip the
        normalised values in between."""
        return self.maxpool2d_forward(self.scale_shift(x, scale, shift, relu), pgeom)

    @abc.abstractmethod
    def norm_param_sums(self, x, gy, mean, invstd, per_row, relu=None, pooled=None):
        """(sum of gy, sum of gy * xhat) over the rows, per last-axis column, in x's
        dtype; xhat = (x - mean) * invstd with mean and invstd per column (C,), or per
        row (x.shape[:-1]) if per_row. Fixed chunks: deterministic. `relu`: None, or
        the (scale, shift) of a scale_shift(x, scale, shift, relu=True) whose output
        gy is the gradient of: gy is taken as the ReLU passes it back (0 where
        x * scale + shift <= 0, computed as scale_shift does). `pooled`: None, or the
        (arg, pgeom) of a scale_shift_maxpool over x (batch norm: per column), gy then
        its pooled gradient, taken as maxpool2d_backward(gy, arg, x.shape) first."""

    @abc.abstractmethod
    def batchnorm_backward_input(self, x, gy, mean, invstd, scale, sum_gy, sum_gy_xhat,
                                 relu=None, pooled=None):
        """Batch norm's input gradient with batch statistics: scale * (gy - sum_gy / n
        - xhat * sum_gy_xhat / n) per channel, n the number of rows; gy through the
        pool of `pooled` and the ReLU of `relu` first, as in norm_param_sums."""

    @abc.abstractmethod
    def layernorm_forward(self, x, gamma, beta, epsilon):
        """Each last-axis row of x normalised: (x - mean) / sqrt(var + epsilon) * gamma
        + beta -> (y, mean, invstd), mean and invstd of shape x.shape[:-1]."""

    @abc.abstractmethod
    def layernorm_backward_input(self, x, gy, mean, invstd, gamma):
        """Layer norm's input gradient per row: invstd * (g - mean(g) - xhat *
        mean(g * xhat)), g = gy * gamma."""

    # ------------------------------------------------------------ embedding
    @abc.abstractmethod
    def take_backward(self, gy, idx, rows):
        """The gradient of take(a, idx) for an a of `rows` rows: gy's rows added at idx
        into zeros, each row's uses in the order of idx (deterministic)."""

    # ---------------------------------------------------------- activations
    # Elementwise: one body pair each in backends/bodies.ELEMENTWISE; map_forward
    # and map_backward run any of them, and elementwise.py names them
    # (relu_forward, elu_backward, ...), for every backend at once.
    @abc.abstractmethod
    def map_forward(self, op, x, a=0.0, b=0.0):
        """bodies.ELEMENTWISE[op].forward(x, a, b) on every element of x; a and b are
        the op's parameters (cast to x's dtype), ignored by ops that have none."""

    @abc.abstractmethod
    def map_backward(self, op, saved, gy, a=0.0, b=0.0):
        """bodies.ELEMENTWISE[op].backward(saved, gy, a, b) elementwise: saved is the
        forward's output or input, as the table says."""

    # Row functions: over the last axis of any rank.
    @abc.abstractmethod
    def softmax_forward(self, x):
        """softmax over the last axis (max-shifted: finite for finite input)."""

    @abc.abstractmethod
    def softmax_backward(self, y, gy):
        """y * (gy - sum(gy * y)) per row, from the output y."""

    @abc.abstractmethod
    def log_softmax_forward(self, x):
        """x - logsumexp(x) over the last axis."""

    @abc.abstractmethod
    def log_softmax_backward(self, y, gy):
        """gy - exp(y) * sum(gy) per row, from the output y."""

    @abc.abstractmethod
    def sparsemax_forward(self, x):
        """The projection of each last-axis row onto the probability simplex."""

    @abc.abstractmethod
    def sparsemax_backward(self, y, gy):
        """On the support (y > 0): gy minus its mean over the support; 0 elsewhere."""

    @abc.abstractmethod
    def softmax_cross_entropy_forward(self, logits, target):
        """(N,K) logits and (N,K) target distribution -> (per-row loss (N,), probs)."""

    @abc.abstractmethod
    def softmax_cross_entropy_backward(self, probs, target, gloss):
        """d loss / d logits = gloss[:, None] * (probs * sum(target, -1) - target)."""

    # ------------------------------------------------------ dropout, updates
    @abc.abstractmethod
    def dropout(self, x, rate, seed, offset=0):
        """x * keep / (1 - rate), keep = uniform(seed, offset + i) >= rate per flat
        index i (`offset`: where x starts in the global batch, under data
        parallelism); seed in [0, 2**64). Forward and backward alike; the same mask
        on both backends."""

    # Optimizer updates, in place on p and the slots (any layout), one kernel each;
    # `prep` (a GradPrep, default none) scales/clips g and decays p first.
    @abc.abstractmethod
    def adam_update(self, p, g, m, v, lr_t, beta_1, beta_2, epsilon, prep=None):
        """Keras's Adam step on p with moments m, v; lr_t bias-corrected."""

    @abc.abstractmethod
    def adam_amsgrad_update(self, p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon, prep=None):
        """Adam with amsgrad: vhat = max(vhat, v), the step divides by sqrt(vhat)."""

    @abc.abstractmethod
    def sgd_update(self, p, g, velocity, lr, momentum, nesterov, prep=None):
        """Keras's SGD step on p (velocity used when momentum > 0)."""

    @abc.abstractmethod
    def rmsprop_update(self, p, g, velocity, mom, avg, lr, rho, momentum, epsilon, centered,
                       prep=None):
        """Keras's RMSprop step; mom (momentum > 0) and avg (centered) may be None."""

    @abc.abstractmethod
    def adagrad_update(self, p, g, accumulator, lr, epsilon, prep=None):
        """Keras's Adagrad step: accumulator += g^2, p -= lr g / sqrt(acc + eps)."""

    @abc.abstractmethod
    def adadelta_update(self, p, g, acc_grad, acc_delta, lr, rho, epsilon, prep=None):
        """Keras's Adadelta step with its two accumulators."""

    @abc.abstractmethod
    def adamax_update(self, p, g, m, u, lr, bias, beta_1, beta_2, epsilon, prep=None):
        """Keras's Adamax step; bias = 1 - beta_1 ** t."""

    @abc.abstractmethod
    def nadam_update(self, p, g, m, v, lr, beta_1, beta_2, epsilon, u_t, u_t_1, u_prod,
                     u_prod_1, beta_2_power, prep=None):
        """Keras's Nadam step, its momentum-schedule scalars for this step given."""


def contract_methods() -> dict:
    """{name: function} of every public method of the contract (Backend's own and
    those it inherits, the named elementwise functions)."""
    methods = {}
    for cls in reversed(Backend.__mro__[:Backend.__mro__.index(abc.ABC)]):
        methods.update({n: f for n, f in vars(cls).items()
                        if callable(f) and not n.startswith("_")})
    return methods
