"""The derivatives a PDE residual needs, behind two small functions.

``partials`` gives ``u``, its gradient and chosen pure second derivatives by nested
reverse-mode gradients of ``sum(u)`` with respect to the points (each point's ``u``
depends only on its own coordinates, so the gradient of the sum is the pointwise
gradient) -- the formulation that ``cr.jit`` runs fastest today: on the Burgers loss
(2-[20]*8-1, N_f = 10,000) it is 73-90 ms per loss and gradient, against 103 ms for the
same residual from ``cr.derivatives`` (forward mode; it computes the same values, and is
the general tool: any partial, one point or a batch).  ``laplacian`` is the forward
Laplacian, ``cr.laplacian``, mapped over the points.  Callers go through these two names
only, so the formulation can change in one place.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import chainrule as cr
import chainrule.numpy as cnp

__all__ = ["partials", "laplacian"]


def partials(u: Callable[[Any], Any], x: Any, second: Sequence[int] = ()) -> tuple[Any, Any, tuple[Any, ...]]:
    """``(u(x), du, d2)`` for a pointwise network ``u: (N, d) -> (N, 1)``.

    ``du`` is ``(N, d)``, the gradient at each point; ``d2`` is a tuple of ``(N, 1)``
    arrays, ``d^2 u / dx_j^2`` for each ``j`` in ``second``.

    >>> import numpy as np
    >>> u = lambda x: x[:, :1] ** 2 * x[:, 1:]           # u = t^2 x
    >>> v, du, (u_tt,) = partials(u, np.array([[1.0, 3.0], [2.0, 5.0]]), second=(0,))
    >>> du
    array([[ 6.,  1.],
           [20.,  4.]])
    >>> u_tt.ravel()
    array([ 6., 10.])
    """
    def total(x):
        v = u(x)
        return cnp.sum(v), v

    def first(x):
        du, v = cr.grad(total, has_aux=True)(x)
        return du, v

    if not second:
        du, v = first(x)
        return v, du, ()
    d2 = []
    for j in second:
        def column(x, j=j):
            du, v = first(x)
            return cnp.sum(du[:, j]), (v, du)
        h, (v, du) = cr.grad(column, has_aux=True)(x)
        d2.append(h[:, j:j + 1])
    return v, du, tuple(d2)


def laplacian(u: Callable[[Any], Any], x: Any, directions: Any = None) -> Any:
    """``sum_j d^2 u / dx_j^2`` at each row of ``x``, ``(N, 1)``, by the forward Laplacian (``cr.laplacian``).

    With ``directions`` (``(k, d)``, ``E[v v^T] = I``, e.g. Rademacher), the stochastic
    Taylor derivative estimator instead: ``mean_k v_k^T H v_k`` at each point, unbiased,
    at the cost of ``k`` directions whatever ``d`` (``cr.laplacian(method="stde")``).
    Pass fresh directions at each step, as an argument of the jitted loss.

    >>> import numpy as np
    >>> u = lambda x: cnp.sum(x ** 3, axis=1, keepdims=True)        # Laplacian 6 (x_0 + x_1)
    >>> laplacian(u, np.array([[1.0, 2.0], [0.5, 0.0]])).ravel()
    array([18.,  3.])
    >>> v = np.array([[1.0, -1.0], [-1.0, -1.0]])                    # Hessian diagonal: exact
    >>> laplacian(u, np.array([[1.0, 2.0], [0.5, 0.0]]), directions=v).ravel()
    array([18.,  3.])
    """
    def one(p):
        return u(p[None, :])[0, 0]

    if directions is None:
        return cr.vmap(cr.laplacian(one))(x)[:, None]
    return cr.vmap(cr.laplacian(one, method="stde", directions=directions))(x)[:, None]
