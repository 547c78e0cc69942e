"""The named elementwise functions of the backend contract.

Each is one body pair of backends/bodies.ELEMENTWISE run by the backend's
`map_forward` / `map_backward`; they are written once here, so both backends
have them. `Backend` (contract.py) inherits them, and they are part of the
contract (parity cases, the contract test) like any other function.
"""
from __future__ import annotations


class ElementwiseFunctions:
    """Named elementwise ops over contract.Backend's map_forward / map_backward."""

    def relu_forward(self, x):
        """max(x, 0); NaN stays NaN."""
        return self.map_forward("relu", x)

    def relu_backward(self, y, gy):
        """gy where the output y > 0, else 0."""
        return self.map_backward("relu", y, gy)

    def sigmoid_forward(self, x):
        """1 / (1 + exp(-x)), without overflow."""
        return self.map_forward("sigmoid", x)

    def sigmoid_backward(self, y, gy):
        """gy * y * (1 - y), from the output y."""
        return self.map_backward("sigmoid", y, gy)

    def tanh_forward(self, x):
        """tanh(x)."""
        return self.map_forward("tanh", x)

    def tanh_backward(self, y, gy):
        """gy * (1 - y**2), from the output y."""
        return self.map_backward("tanh", y, gy)

    def gelu_forward(self, x):
        """x * Phi(x) (Phi: the standard normal CDF), the exact erf form."""
        return self.map_forward("gelu", x)

    def gelu_backward(self, x, gy):
        """gy * (Phi(x) + x * phi(x)), from the input x."""
        return self.map_backward("gelu", x, gy)

    def gelu_tanh_forward(self, x):
        """GELU's tanh form (Keras's gelu(approximate=True))."""
        return self.map_forward("gelu_tanh", x)

    def gelu_tanh_backward(self, x, gy):
        """Its derivative times gy, from x."""
        return self.map_backward("gelu_tanh", x, gy)

    def leaky_relu_forward(self, x, negative_slope=0.2):
        """x, or negative_slope * x below 0."""
        return self.map_forward("leaky_relu", x, negative_slope)

    def leaky_relu_backward(self, x, gy, negative_slope=0.2):
        """gy, or negative_slope * gy below 0."""
        return self.map_backward("leaky_relu", x, gy, negative_slope)

    def relu6_forward(self, x):
        """min(max(x, 0), 6)."""
        return self.map_forward("relu6", x)

    def relu6_backward(self, x, gy):
        """gy where 0 < x < 6, else 0."""
        return self.map_backward("relu6", x, gy)

    def hard_sigmoid_forward(self, x):
        """relu6(x + 3) / 6."""
        return self.map_forward("hard_sigmoid", x)

    def hard_sigmoid_backward(self, x, gy):
        """gy / 6 where -3 < x < 3, else 0."""
        return self.map_backward("hard_sigmoid", x, gy)

    def hard_silu_forward(self, x):
        """x * hard_sigmoid(x) (hard_swish)."""
        return self.map_forward("hard_silu", x)

    def hard_silu_backward(self, x, gy):
        """gy * (0 below -3, 1 above 3, (2x + 3) / 6 between)."""
        return self.map_backward("hard_silu", x, gy)

    def hard_tanh_forward(self, x):
        """x limited to [-1, 1]."""
        return self.map_forward("hard_tanh", x)

    def hard_tanh_backward(self, x, gy):
        """gy where -1 < x < 1, else 0."""
        return self.map_backward("hard_tanh", x, gy)

    def sparse_sigmoid_forward(self, x):
        """0 below -1, 1 above 1, (x + 1) / 2 between."""
        return self.map_forward("sparse_sigmoid", x)

    def sparse_sigmoid_backward(self, x, gy):
        """gy / 2 where -1 < x < 1, else 0."""
        return self.map_backward("sparse_sigmoid", x, gy)

    def sparse_plus_forward(self, x):
        """0 below -1, x above 1, (x + 1)**2 / 4 between."""
        return self.map_forward("sparse_plus", x)

    def sparse_plus_backward(self, x, gy):
        """gy * (0, 1, (x + 1) / 2) on those pieces."""
        return self.map_backward("sparse_plus", x, gy)

    def soft_shrink_forward(self, x, threshold=0.5):
        """x - threshold above it, x + threshold below -threshold, else 0."""
        return self.map_forward("soft_shrink", x, threshold)

    def soft_shrink_backward(self, x, gy, threshold=0.5):
        """gy outside [-threshold, threshold], else 0."""
        return self.map_backward("soft_shrink", x, gy, threshold)

    def hard_shrink_forward(self, x, threshold=0.5):
        """x where |x| > threshold, else 0."""
        return self.map_forward("hard_shrink", x, threshold)

    def hard_shrink_backward(self, x, gy, threshold=0.5):
        """gy where |x| > threshold, else 0."""
        return self.map_backward("hard_shrink", x, gy, threshold)

    def threshold_forward(self, x, threshold=0.0, default_value=0.0):
        """x where x > threshold, else default_value."""
        return self.map_forward("threshold", x, threshold, default_value)

    def threshold_backward(self, x, gy, threshold=0.0, default_value=0.0):
        """gy where x > threshold, else 0."""
        return self.map_backward("threshold", x, gy, threshold, default_value)

    def elu_forward(self, x, alpha=1.0):
        """x above 0, else alpha * (exp(x) - 1)."""
        return self.map_forward("elu", x, alpha)

    def elu_backward(self, x, gy, alpha=1.0):
        """gy above 0, else gy * alpha * exp(x)."""
        return self.map_backward("elu", x, gy, alpha)

    def selu_forward(self, x):
        """scale * elu(x, alpha), Keras's (self-normalising) constants."""
        return self.map_forward("selu", x)

    def selu_backward(self, x, gy):
        """gy * scale * (1 above 0, else alpha * exp(x))."""
        return self.map_backward("selu", x, gy)

    def celu_forward(self, x, alpha=1.0):
        """x above 0, else alpha * (exp(x / alpha) - 1)."""
        return self.map_forward("celu", x, alpha)

    def celu_backward(self, x, gy, alpha=1.0):
        """gy above 0, else gy * exp(x / alpha)."""
        return self.map_backward("celu", x, gy, alpha)

    def exponential_forward(self, x):
        """exp(x)."""
        return self.map_forward("exponential", x)

    def exponential_backward(self, y, gy):
        """gy * y, from the output y."""
        return self.map_backward("exponential", y, gy)

    def softplus_forward(self, x):
        """log(1 + exp(x)), without overflow."""
        return self.map_forward("softplus", x)

    def softplus_backward(self, x, gy):
        """gy * sigmoid(x)."""
        return self.map_backward("softplus", x, gy)

    def log_sigmoid_forward(self, x):
        """log(sigmoid(x)) = -softplus(-x)."""
        return self.map_forward("log_sigmoid", x)

    def log_sigmoid_backward(self, x, gy):
        """gy * sigmoid(-x)."""
        return self.map_backward("log_sigmoid", x, gy)

    def softsign_forward(self, x):
        """x / (|x| + 1)."""
        return self.map_forward("softsign", x)

    def softsign_backward(self, x, gy):
        """gy / (|x| + 1)**2."""
        return self.map_backward("softsign", x, gy)

    def silu_forward(self, x):
        """x * sigmoid(x) (swish)."""
        return self.map_forward("silu", x)

    def silu_backward(self, x, gy):
        """gy * s * (1 + x * (1 - s)), s = sigmoid(x)."""
        return self.map_backward("silu", x, gy)

    def mish_forward(self, x):
        """x * tanh(softplus(x))."""
        return self.map_forward("mish", x)

    def mish_backward(self, x, gy):
        """gy * (t + x * (1 - t**2) * sigmoid(x)), t = tanh(softplus(x))."""
        return self.map_backward("mish", x, gy)

    def squareplus_forward(self, x, b=4.0):
        """(x + sqrt(x**2 + b)) / 2."""
        return self.map_forward("squareplus", x, b)

    def squareplus_backward(self, x, gy, b=4.0):
        """gy * (1 + x / sqrt(x**2 + b)) / 2."""
        return self.map_backward("squareplus", x, gy, b)

    def tanh_shrink_forward(self, x):
        """x - tanh(x)."""
        return self.map_forward("tanh_shrink", x)

    def tanh_shrink_backward(self, x, gy):
        """gy * tanh(x)**2."""
        return self.map_backward("tanh_shrink", x, gy)
