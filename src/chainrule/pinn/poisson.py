"""A d-dimensional Poisson problem with a known solution.

    -Laplacian u = f on [0, 1]^d,   u = g on the boundary,
    u(x) = sin(pi s),   s = (1/sqrt(d)) sum_i (x_i - 1/2),   f(x) = pi^2 u(x),   g = u.

``u`` is a ridge function of all d coordinates, scaled so that ``s`` has the same spread
(about N(0, 1/12)) at every d: ``u``, ``f`` and the loss stay of order one, ``u`` has
mean about 0 (so a constant scores a relative error of about 1), and a small network
can represent it at any d -- the cost of the Laplacian, which is what grows with d, does
not know that.

The Laplacian of the network goes through :func:`chainrule.pinn.laplacian`: the forward
Laplacian (``cr.laplacian``), or for large d the stochastic Taylor derivative estimator
(``train(..., stde=k)``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["exact", "source", "Problem", "make_problem", "loss_fn", "train", "relative_l2", "plot"]


def exact(x):
    """``u(x) = sin(pi s)``, ``s = sum_i (x_i - 1/2) / sqrt(d)``, ``(N, 1)``."""
    x = np.asarray(x)
    return np.sin(np.pi * np.sum(x - 0.5, axis=1, keepdims=True) / np.sqrt(x.shape[1]))


def source(x):
    """``f = -Laplacian u = pi^2 u``, ``(N, 1)``."""
    return np.pi ** 2 * exact(x)


class Problem:
    def __init__(self, box, x_f, x_b, x_test, sizes):
        self.box, self.x_f, self.x_b, self.x_test, self.sizes = box, x_f, x_b, x_test, sizes
        self.f, self.g, self.u_test = source(x_f), exact(x_b), exact(x_test)


def make_problem(dim, n_f=None, n_b=None, n_test=2000, seed=0, width=32, depth=3):
    """Interior points by Latin hypercube (``n_f``, default ``500 d`` up to 2000), boundary points on
    all faces (``n_b``, default ``100 d`` up to 2000), uniform test points; a ``d -> depth x width -> 1``
    tanh net.  (Each interior point carries d first derivatives through the forward Laplacian.)"""
    from chainrule.pinn.sampling import Box
    dim = int(dim)
    if dim < 1:
        raise ValueError(f"pinn poisson: --dim must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    box = Box(np.zeros(dim), np.ones(dim))
    x_f = box.sample(min(500 * dim, 2000) if n_f is None else n_f, "lhs", rng)
    x_b = box.sample_boundary(min(100 * dim, 2000) if n_b is None else n_b, "uniform", rng)
    return Problem(box, x_f, x_b, box.sample(n_test, "uniform", rng), [dim] + [width] * depth + [1])


def loss_fn(net):
    """``loss(params, x_f, f, x_b, g, v=None) -> (total, {"pde": ..., "bc": ...})``.

    The Laplacian is the forward Laplacian, or with directions ``v`` (``(k, d)``, k >= 2) the
    stochastic Taylor derivative estimator (:func:`chainrule.pinn.laplacian`); then the PDE
    term is ``mean(r_1 r_2)``, two independent estimates of the residual from half of the
    directions each, an unbiased estimate of ``mean(r^2)``."""
    import chainrule.numpy as cnp
    from chainrule.pinn.model import mse, weighted_loss
    from chainrule.pinn.residual import laplacian

    def loss(params, x_f, f, x_b, g, v=None):
        def u(x):
            return net.apply(params, x)
        if v is None:
            pde = mse(laplacian(u, x_f) + f)
        else:
            # mean(r^2) of a noisy r would add Var(r) to the loss and reward a flat u; the product
            # of two independent estimates (half of the directions each) is unbiased for r^2
            h = v.shape[0] // 2
            pde = cnp.mean((laplacian(u, x_f, directions=v[:h]) + f) * (laplacian(u, x_f, directions=v[h:]) + f))
        return weighted_loss({"pde": pde, "bc": mse(u(x_b) - g)})

    return loss


def relative_l2(net, params, problem):
    pred = np.asarray(net.apply(params, problem.x_test))
    return float(np.linalg.norm(pred - problem.u_test) / np.linalg.norm(problem.u_test))


def train(problem, adam_steps=1000, iters=5000, optimizer="auto", time_budget=None, seed=0, lr=1e-3,
          progress=True, stde=None, batch=100):
    """Train a fresh network (:func:`chainrule.pinn.fit`); ``(net, params, info)``.

    ``stde=None``: the forward Laplacian on the problem's points, Adam then quasi-Newton.
    ``stde=k``: the stochastic Taylor derivative estimator with ``k`` Rademacher directions,
    as Shi et al. (2024) train: every Adam step draws ``batch`` interior and ``batch``
    boundary points and ``k`` directions afresh (a stochastic loss, so no quasi-Newton
    phase; ``iters`` is not used).  The output bias starts at the mean boundary value
    (a network's output starts near 0, and boundary data of another mean would take Adam
    many steps to reach).
    """
    from chainrule.pinn.model import mlp
    from chainrule.pinn.training import fit

    net = mlp(problem.box, problem.sizes, rng=seed)
    params = dict(net.params())
    last_bias = [k for k in params if k.endswith(".bias")][-1]
    params[last_bias] = np.full_like(params[last_bias], float(np.mean(problem.g)))
    data = (problem.x_f, problem.f, problem.x_b, problem.g)
    if stde is None:
        params, info = fit(loss_fn(net), params, data, adam_steps=adam_steps, iters=iters, optimizer=optimizer,
                           time_budget=time_budget, lr=lr, progress=progress)
        return net, params, info
    k, d = int(stde), problem.box.dim
    if k < 2:
        raise ValueError(f"pinn poisson: stde must be a number of directions >= 2 (two independent halves "
                         f"make the squared residual unbiased), got {stde}")
    rng = np.random.default_rng(seed + 1)

    def resample(step):
        x_f = problem.box.sample(batch, "uniform", rng)
        x_b = problem.box.sample_boundary(batch, "uniform", rng)
        v = rng.integers(0, 2, size=(k, d)).astype(np.float64) * 2 - 1
        return x_f, source(x_f), x_b, exact(x_b), v

    data = resample(0)
    params, info = fit(loss_fn(net), params, data, adam_steps=adam_steps, iters=0, time_budget=time_budget,
                       lr=lr, resample=resample, progress=progress)
    return net, params, info


def plot(net, params, problem, path):
    """The prediction at the test points against ``s = sum_i (x_i - 1/2) / sqrt(d)``, on the exact
    ``sin(pi s)``, and the error; saved to ``path``."""
    try:
        from matplotlib.figure import Figure  # not pyplot: the user's backend is left alone
    except ImportError:
        raise ImportError("pinn poisson: the figure needs matplotlib: pip install 'chainrule[viz]'") from None
    x = problem.x_test
    sv = np.sum(x - 0.5, axis=1) / np.sqrt(x.shape[1])
    pred = np.asarray(net.apply(params, x))[:, 0]
    grid = np.linspace(sv.min(), sv.max(), 200)
    fig = Figure(figsize=(10, 4))
    a, b = fig.subplots(1, 2)
    a.plot(grid, np.sin(np.pi * grid), "b-", lw=2, label="exact sin(pi s)")
    a.plot(sv, pred, "r.", ms=2, label=f"prediction ({len(x)} test points)")
    a.set_xlabel("s = sum_i (x_i - 1/2) / sqrt(d)")
    a.set_ylabel("u")
    a.set_title(f"d = {x.shape[1]}")
    a.legend(fontsize=8)
    b.plot(sv, pred - problem.u_test[:, 0], "k.", ms=2)
    b.set_xlabel("s")
    b.set_title("prediction - exact")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
