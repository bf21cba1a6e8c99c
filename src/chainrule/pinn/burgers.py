"""Burgers' equation, Raissi, Perdikaris & Karniadakis (2019), section 3.1.1 -- the reproduction.

    u_t + u u_x - (0.01 / pi) u_xx = 0,   x in [-1, 1], t in [0, 1],
    u(0, x) = -sin(pi x),   u(t, -1) = u(t, 1) = 0.

The paper's setup: a 2 -> 8 x 20 tanh -> 1 network (Xavier initialisation, inputs
mapped onto [-1, 1]), N_u = 100 points of initial and boundary data, N_f = 10,000
collocation points by Latin hypercube sampling, the loss MSE_u + MSE_f, trained with
full-batch L-BFGS.  Here a short Adam phase is followed by the self-scaled BFGS of
Al-Baali (``cr.optim.bfgs``; Urban et al. 2025 found it trains PINNs far beyond L-BFGS),
which reaches the paper's accuracy in minutes on one core.  The paper's relative L2
error on the 256 x 100 grid of its data set is 6.7e-4.

The exact solution comes from the Cole-Hopf transform (:func:`exact`).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["NU", "exact", "Problem", "make_problem", "loss_fn", "train", "relative_l2", "plot"]

NU = 0.01 / math.pi


def exact(t, x, nu=NU, order=200):
    """The exact solution ``u(t, x)`` by the Cole-Hopf transform, with Gauss-Hermite quadrature.

    With ``phi_0(y) = exp(-cos(pi y) / (2 pi nu))`` and the substitution
    ``eta = sqrt(4 nu t) z``,

        u(t, x) = - sum_k w_k sin(pi y_k) phi_0(y_k) / sum_k w_k phi_0(y_k),
        y_k = x - sqrt(4 nu t) z_k,

    where ``(z_k, w_k)`` are the ``order`` Gauss-Hermite nodes and weights (weight
    ``exp(-z^2)``).  ``phi_0`` spans ``e^{+-50}``, so both sums are taken with the
    largest exponent factored out.  ``t`` and ``x`` broadcast; ``t = 0`` gives the
    initial condition.

    >>> np.round(exact(np.array([0.0, 0.5, 1.0]), np.array([0.5, 1.0, 0.0])), 12)
    array([-1.,  0.,  0.])
    """
    t, x = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(x, dtype=np.float64))
    z, w = np.polynomial.hermite.hermgauss(order)
    y = x[..., None] - np.sqrt(4.0 * nu * t)[..., None] * z
    e = -np.cos(np.pi * y) / (2.0 * np.pi * nu)
    e = np.exp(e - e.max(axis=-1, keepdims=True)) * w
    return -np.sum(np.sin(np.pi * y) * e, axis=-1) / np.sum(e, axis=-1)


class Problem:
    """The data of one run: the box, the collocation points ``x_f`` (N_f, 2) as ``(t, x)``, the
    initial/boundary points ``x_u`` (N_u, 2) with values ``u_u`` (N_u, 1), and the test grid."""

    def __init__(self, box, x_f, x_u, u_u, grid_t, grid_x):
        self.box, self.x_f, self.x_u, self.u_u = box, x_f, x_u, u_u
        self.grid_t, self.grid_x = grid_t, grid_x
        T, X = np.meshgrid(grid_t, grid_x, indexing="ij")
        self.x_test = np.stack([T.ravel(), X.ravel()], axis=1)
        self.u_test = exact(T, X).ravel()[:, None]


def make_problem(n_u=100, n_f=10_000, seed=0, method="lhs", n_t=100, n_x=256):
    """Raissi's setup: ``n_u`` points drawn from the initial slice and the two boundaries of the
    paper's grid (``n_x`` values of x, ``n_t`` of t), ``n_f`` collocation points (plus the
    ``n_u`` data points, as in the paper) by ``method``; the grid is the error's test set."""
    from chainrule.pinn.sampling import Box
    rng = np.random.default_rng(seed)
    box = Box([0.0, -1.0], [1.0, 1.0], names=("t", "x"))
    grid_t, grid_x = np.linspace(0.0, 1.0, n_t), np.linspace(-1.0, 1.0, n_x)
    # the paper's candidates: (0, x) for every grid x, (t, -1) and (t, 1) for every grid t
    cand = np.concatenate([np.stack([np.zeros(n_x), grid_x], 1),
                           np.stack([grid_t, -np.ones(n_t)], 1),
                           np.stack([grid_t, np.ones(n_t)], 1)])
    x_u = cand[rng.choice(len(cand), size=n_u, replace=False)]
    u_u = exact(x_u[:, 0], x_u[:, 1])[:, None]
    x_f = np.concatenate([box.sample(n_f, method, rng), x_u])
    return Problem(box, x_f, x_u, u_u, grid_t, grid_x)


def loss_fn(net):
    """``loss(params, x_f, x_u, u_u) -> (total, {"u": MSE_u, "f": MSE_f})`` for ``net.apply``."""
    from chainrule.pinn.model import mse, weighted_loss
    from chainrule.pinn.residual import partials

    def loss(params, x_f, x_u, u_u):
        def u(x):
            return net.apply(params, x)
        v, du, (u_xx,) = partials(u, x_f, second=(1,))
        f = du[:, 0:1] + v * du[:, 1:2] - NU * u_xx
        return weighted_loss({"u": mse(u(x_u) - u_u), "f": mse(f)})

    return loss


def relative_l2(net, params, problem):
    """``||u_pred - u_exact||_2 / ||u_exact||_2`` on the test grid."""
    pred = np.asarray(net.apply(params, problem.x_test))
    return float(np.linalg.norm(pred - problem.u_test) / np.linalg.norm(problem.u_test))


def train(net, problem, adam_steps=200, iters=50_000, optimizer="auto", time_budget=None, lr=1e-3,
          progress=True):
    """Adam for ``adam_steps``, then full-batch quasi-Newton (``optimizer``: by default the
    self-scaled BFGS, ``cr.optim.BFGS_PINN``) until it converges, ``iters`` iterations or
    ``time_budget`` seconds in all (:func:`chainrule.pinn.fit` on the ``cr.jit``-compiled loss
    and gradient); ``(params, info)``.  Under ``mpiexec`` each rank takes its share of the
    collocation points ``x_f`` (``shard=(0,)``)."""
    from chainrule.pinn.training import fit
    return fit(loss_fn(net), net.params(), (problem.x_f, problem.x_u, problem.u_u), adam_steps=adam_steps,
               iters=iters, optimizer=optimizer, time_budget=time_budget, lr=lr, progress=progress, shard=(0,))


def plot(net, params, problem, path):
    """The paper's figure 1: prediction, exact solution, error over (t, x), and slices at t = 0.25,
    0.5, 0.75 (exact and predicted), saved to ``path``."""
    try:
        from matplotlib.figure import Figure  # not pyplot: the user's backend is left alone
    except ImportError:
        raise ImportError("pinn burgers: the figure needs matplotlib: pip install 'chainrule[viz]'") from None
    nt, nx = len(problem.grid_t), len(problem.grid_x)
    pred = np.asarray(net.apply(params, problem.x_test)).reshape(nt, nx)
    ex = problem.u_test.reshape(nt, nx)
    ext = [problem.grid_t[0], problem.grid_t[-1], problem.grid_x[0], problem.grid_x[-1]]
    fig = Figure(figsize=(12, 7))
    grid = fig.add_gridspec(2, 3, height_ratios=[1.1, 1.0])
    for k, (title, z, cmap) in enumerate([("prediction u(t, x)", pred, "rainbow"),
                                         ("exact u(t, x)", ex, "rainbow"),
                                         ("|error|", np.abs(pred - ex), "viridis")]):
        ax = fig.add_subplot(grid[0, k])
        im = ax.imshow(z.T, origin="lower", extent=ext, aspect="auto", cmap=cmap)
        fig.colorbar(im, ax=ax)
        ax.set_xlabel("t")
        ax.set_ylabel("x")
        ax.set_title(title)
    ax0 = fig.axes[0]
    ax0.plot(problem.x_u[:, 0], problem.x_u[:, 1], "kx", ms=4, clip_on=False,
             label=f"data ({len(problem.x_u)} points)")
    ax0.legend(loc="upper right", fontsize=7)
    xs = problem.grid_x
    for k, tk in enumerate((0.25, 0.5, 0.75)):
        pts = np.stack([np.full_like(xs, tk), xs], axis=1)
        ax = fig.add_subplot(grid[1, k])
        ax.plot(xs, exact(tk, xs), "b-", lw=2, label="exact")
        ax.plot(xs, np.asarray(net.apply(params, pts))[:, 0], "r--", lw=2, label="prediction")
        ax.set_title(f"t = {tk}")
        ax.set_xlabel("x")
        ax.set_ylabel("u(t, x)")
        ax.set_ylim(-1.1, 1.1)
        if k == 0:
            ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
