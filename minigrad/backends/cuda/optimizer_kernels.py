"""numba-cuda kernels of the optimizer updates (backends/optimizer_ops.py): one
thread per element, the CPU kernels' bodies (bodies.py), B.prepare (gradient
scale, clipping, weight decay) first."""
from numba import cuda

from .kernels import B


@cuda.jit
def adam_update(p, g, m, v, lr_t, beta_1, beta_2, epsilon, scale, clip, decay):
    """Keras's Adam step in place; lr_t already bias-corrected."""
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], v[i] = B.adam_step(q, h, m[i], v[i], lr_t, beta_1, beta_2, epsilon)


@cuda.jit
def adam_amsgrad_update(p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon, scale, clip, decay):
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], v[i], vhat[i] = B.adam_amsgrad_step(q, h, m[i], v[i], vhat[i], lr_t,
                                                        beta_1, beta_2, epsilon)


@cuda.jit
def sgd_update(p, g, velocity, lr, momentum, nesterov, scale, clip, decay):
    """Keras's SGD step in place."""
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], velocity[i] = B.sgd_step(q, h, velocity[i], lr, momentum, nesterov)


@cuda.jit
def rmsprop_update(p, g, velocity, mom, avg, lr, rho, momentum, epsilon, centered, scale,
                   clip, decay):
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], velocity[i], new_mom, new_avg = B.rmsprop_step(
            q, h, velocity[i], mom[i], avg[i], lr, rho, momentum, epsilon, centered)
        if momentum > 0.0:
            mom[i] = new_mom
        if centered:
            avg[i] = new_avg


@cuda.jit
def adagrad_update(p, g, accumulator, lr, epsilon, scale, clip, decay):
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], accumulator[i] = B.adagrad_step(q, h, accumulator[i], lr, epsilon)


@cuda.jit
def adadelta_update(p, g, acc_grad, acc_delta, lr, rho, epsilon, scale, clip, decay):
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], acc_grad[i], acc_delta[i] = B.adadelta_step(q, h, acc_grad[i], acc_delta[i],
                                                          lr, rho, epsilon)


@cuda.jit
def adamax_update(p, g, m, u, lr, bias, beta_1, beta_2, epsilon, scale, clip, decay):
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], u[i] = B.adamax_step(q, h, m[i], u[i], lr, bias, beta_1, beta_2, epsilon)


@cuda.jit
def nadam_update(p, g, m, v, lr, beta_1, beta_2, epsilon, u_t, u_t_1, u_prod, u_prod_1,
                 beta_2_power, scale, clip, decay):
    i = cuda.grid(1)
    if i < p.size:
        q, h = B.prepare(p[i], g[i], scale, clip, decay)
        p[i], m[i], v[i] = B.nadam_step(q, h, m[i], v[i], lr, beta_1, beta_2, epsilon, u_t,
                                        u_t_1, u_prod, u_prod_1, beta_2_power)
