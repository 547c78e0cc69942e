"""The optimizer updates of backends/contract.py, written once for both backends.

Each is one fused kernel (bodies.py) over the flat parameter, its gradient and
its slots. The backend's `_update(name, p, g, slots, scalars, prep, written)`
runs the kernel of that name on contiguous copies, converts the scalars to its
kernel argument types and writes the slots in `written` (default: all) back.
"""
from __future__ import annotations


class OptimizerOps:
    """Mixed into CPUBackend and CUDABackend."""

    def adam_update(self, p, g, m, v, lr_t, beta_1, beta_2, epsilon, prep=None):
        self._update("adam_update", p, g, (m, v), (lr_t, beta_1, beta_2, epsilon), prep)

    def adam_amsgrad_update(self, p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon, prep=None):
        self._update("adam_amsgrad_update", p, g, (m, v, vhat),
                     (lr_t, beta_1, beta_2, epsilon), prep)

    def sgd_update(self, p, g, velocity, lr, momentum, nesterov, prep=None):
        self._update("sgd_update", p, g, (velocity,), (lr, momentum, bool(nesterov)), prep)

    def rmsprop_update(self, p, g, velocity, mom, avg, lr, rho, momentum, epsilon, centered,
                       prep=None):
        # the kernel always takes three slots; an absent one is passed as velocity
        # again and not written back
        written = [1] + ([2] if mom is not None else []) + ([3] if avg is not None else [])
        self._update("rmsprop_update", p, g,
                     (velocity, velocity if mom is None else mom,
                      velocity if avg is None else avg),
                     (lr, rho, momentum, epsilon, bool(centered)), prep, written)

    def adagrad_update(self, p, g, accumulator, lr, epsilon, prep=None):
        self._update("adagrad_update", p, g, (accumulator,), (lr, epsilon), prep)

    def adadelta_update(self, p, g, acc_grad, acc_delta, lr, rho, epsilon, prep=None):
        self._update("adadelta_update", p, g, (acc_grad, acc_delta), (lr, rho, epsilon), prep)

    def adamax_update(self, p, g, m, u, lr, bias, beta_1, beta_2, epsilon, prep=None):
        self._update("adamax_update", p, g, (m, u), (lr, bias, beta_1, beta_2, epsilon), prep)

    def nadam_update(self, p, g, m, v, lr, beta_1, beta_2, epsilon, u_t, u_t_1, u_prod,
                     u_prod_1, beta_2_power, prep=None):
        self._update("nadam_update", p, g, (m, v), (lr, beta_1, beta_2, epsilon, u_t, u_t_1,
                                                    u_prod, u_prod_1, beta_2_power), prep)
