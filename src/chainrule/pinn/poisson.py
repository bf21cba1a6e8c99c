"""A d-dimensional Poisson problem with a known solution.

    -Laplacian u = f on [0, 1]^d,   u = g on the boundary,
    u(x) = sum_i sin(pi x_i),   f(x) = pi^2 sum_i sin(pi x_i),   g = u.

The Laplacian of the network goes through :func:`chainrule.pinn.laplacian` (the forward
Laplacian, ``cr.laplacian``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["exact", "source", "Problem", "make_problem", "loss_fn", "train", "relative_l2"]


def exact(x):
    """``u(x) = sum_i sin(pi x_i)``, ``(N, 1)``."""
    return np.sum(np.sin(np.pi * np.asarray(x)), axis=1, keepdims=True)


def source(x):
    """``f = -Laplacian u = pi^2 sum_i sin(pi x_i)``, ``(N, 1)``."""
    return np.pi ** 2 * exact(x)


class Problem:
    def __init__(self, box, x_f, x_b, x_test, sizes):
        self.box, self.x_f, self.x_b, self.x_test, self.sizes = box, x_f, x_b, x_test, sizes
        self.f, self.g, self.u_test = source(x_f), exact(x_b), exact(x_test)


def make_problem(dim, n_f=None, n_b=None, n_test=2000, seed=0, width=32, depth=3):
    """Interior points by Latin hypercube (``n_f``, default ``500 d``), boundary points on all
    faces (``n_b``, default ``100 d``), uniform test points; a ``d -> depth x width -> 1`` tanh net."""
    from chainrule.pinn.sampling import Box
    dim = int(dim)
    if dim < 1:
        raise ValueError(f"pinn poisson: --dim must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    box = Box(np.zeros(dim), np.ones(dim))
    x_f = box.sample(500 * dim if n_f is None else n_f, "lhs", rng)
    x_b = box.sample_boundary(100 * dim if n_b is None else n_b, "uniform", rng)
    return Problem(box, x_f, x_b, box.sample(n_test, "uniform", rng), [dim] + [width] * depth + [1])


def loss_fn(net):
    """``loss(params, x_f, f, x_b, g) -> (total, {"pde": ..., "bc": ...})``."""
    from chainrule.pinn.model import mse, weighted_loss
    from chainrule.pinn.residual import laplacian

    def loss(params, x_f, f, x_b, g):
        def u(x):
            return net.apply(params, x)
        return weighted_loss({"pde": mse(laplacian(u, x_f) + f), "bc": mse(u(x_b) - g)})

    return loss


def relative_l2(net, params, problem):
    pred = np.asarray(net.apply(params, problem.x_test))
    return float(np.linalg.norm(pred - problem.u_test) / np.linalg.norm(problem.u_test))


def train(problem, adam_steps=1000, lbfgs_iters=5000, time_budget=None, seed=0, lr=1e-3, progress=True):
    """Adam, then L-BFGS (:func:`chainrule.pinn.fit`) from a fresh network; ``(net, params, info)``."""
    from chainrule.pinn.model import mlp
    from chainrule.pinn.training import fit

    net = mlp(problem.box, problem.sizes, rng=seed)
    params, info = fit(loss_fn(net), net.params(), (problem.x_f, problem.f, problem.x_b, problem.g),
                       adam_steps=adam_steps, lbfgs_iters=lbfgs_iters, time_budget=time_budget, lr=lr,
                       progress=progress)
    return net, params, info
