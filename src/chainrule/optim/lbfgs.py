"""L-BFGS with a strong-Wolfe line search, for full-batch problems (PINNs, least squares).

The direction is the two-loop recursion of Nocedal & Wright (Algorithm 7.4) over the
last ``history_size`` pairs ``s = x_new - x``, ``y = g_new - g`` (a pair with
``s . y <= 0`` is skipped, which keeps the implicit Hessian positive definite), with
the initial scaling ``gamma = s . y / y . y``.  The step length satisfies the strong
Wolfe conditions (``c1 = 1e-4``, ``c2 = 0.9``); it is found by SciPy's
``scipy.optimize.line_search`` (Nocedal & Wright, Algorithm 3.5), imported when first
needed.  Each trial point costs one evaluation of value and gradient together: the
value and gradient callbacks SciPy asks for separately share one cache.

The core works on the flattened parameters in float64 and returns them in the
structure and dtypes they came in.  ``minimize`` runs the iterations under an
iteration, evaluation or wall-time budget with a callback; ``LBFGS_PINN`` holds the
settings for full-batch physics-informed training (those of Raissi et al.'s SciPy
L-BFGS-B run: 50 curvature pairs, stop when the relative decrease of the loss is below
machine epsilon).

``bfgs`` shares the line search, the stopping tests and ``minimize``, and keeps the
dense inverse Hessian instead of a history: ``n^2`` numbers for ``n`` parameters, each
update a few passes over them (SciPy's BLAS ``dsymv``/``dsyr`` on one triangle).  With
``scaling="ssbfgs"`` it is the self-scaled BFGS of Al-Baali (1998) that Urban, Stefanou
& Pons (J. Comput. Phys. 2025) and Kiyani et al. (2025) found to train PINNs orders of
magnitude further than L-BFGS: before each update the inverse Hessian is scaled by
``1 / tau``, ``tau = min(1, 1 / b)``, ``b = s.B.s / s.y`` (the model's curvature along
the step over the measured one), so steps are not held back by curvature the
function no longer has.  ``BFGS_PINN`` holds its settings for full-batch PINN training.
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable

import numpy as np

from chainrule._core.pytree import tree_flatten, tree_unflatten

__all__ = ["lbfgs", "LBFGS_PINN", "bfgs", "BFGS_PINN"]

#: ``cr.optim.lbfgs(**LBFGS_PINN)``: full-batch PINN training runs until a budget, not a
#: loose tolerance -- 50 pairs, no absolute tolerances, relative change below epsilon
LBFGS_PINN = {"history_size": 50, "tolerance_grad": 0.0, "tolerance_change": 0.0,
              "rtol_change": float(np.finfo(np.float64).eps)}
#: ``cr.optim.bfgs(**BFGS_PINN)``: self-scaled dense BFGS, run until a budget, as ``LBFGS_PINN``
BFGS_PINN = {"scaling": "ssbfgs", "tolerance_grad": 0.0, "tolerance_change": 0.0,
             "rtol_change": float(np.finfo(np.float64).eps)}
#: The most parameters ``bfgs`` takes by default: its matrix is then 800 MB (``max_params=``)
BFGS_MAX_PARAMS = 10_000


def _line_search():
    try:
        from scipy.optimize import line_search
    except ImportError:
        raise ImportError("cr.optim L-BFGS uses SciPy's strong-Wolfe line search: "
                          "pip install 'chainrule[special]' (or pip install scipy)") from None
    return line_search


def _flat(leaves):
    if not leaves:
        return np.zeros(0)
    return np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in leaves])


def _unflat(vec, like):
    out, i = [], 0
    for x in like:
        shape, dt = np.shape(x), np.result_type(x)
        n = int(np.prod(shape, dtype=np.int64))
        out.append(vec[i:i + n].reshape(shape).astype(dt))
        i += n
    return out


class _QuasiNewton:
    """The iteration both cores share: direction ``-H g``, strong-Wolfe step, curvature pair, tests.

    A subclass says how ``H`` is kept: ``_fresh()`` (no curvature yet), ``_empty(c)``,
    ``_direction(g, c)`` and ``_record(c, s, y, g, step)`` (after the step ``s = step * d``
    along the direction ``d = -H g`` from a point with gradient ``g``, where the gradient
    changed by ``y``; returns the new ``c``), and
    the state keys that hold it (``_load``/``_store``).
    """

    name = "quasi-newton"

    def __init__(self, lr, tolerance_grad, tolerance_change, line_search, rtol_change):
        if line_search != "strong_wolfe":
            raise ValueError(f"{self.name}: line_search must be 'strong_wolfe', got {line_search!r}")
        self.lr = float(lr)
        self.tolerance_grad = float(tolerance_grad)
        self.tolerance_change = float(tolerance_change)
        self.rtol_change = float(rtol_change)
        if not self.rtol_change >= 0:
            raise ValueError(f"{self.name}: rtol_change must be >= 0, got {rtol_change}")

    def init(self, params: Any) -> dict[str, Any]:
        """The initial state: no curvature information yet."""
        state = {"step": 0, "n_evals": 0, "converged": False, "message": "", "value": None, "grads": None}
        state.update(self._store(self._fresh()))
        return state

    def update(self, grads: Any, state: dict[str, Any], params: Any, *, fun: Callable[[Any], Any],
               value: Any) -> tuple[Any, dict[str, Any]]:
        """One iteration from ``params`` (where ``fun`` gave ``value`` and ``grads``).

        ``fun(params) -> (value, grads)`` is called at the line search's trial points.
        The new state holds the value and gradients at the new parameters
        (``state["value"]``, ``state["grads"]``), for the next iteration, and
        ``state["converged"]`` with ``state["message"]``.
        """
        p_leaves, tree = tree_flatten(params)
        g_leaves, g_tree = tree_flatten(grads)
        if g_tree != tree:
            raise ValueError(f"lbfgs.update: grads have structure {g_tree} but params have {tree}")
        x, g, f = _flat(p_leaves), _flat(g_leaves), float(value)
        state = dict(state)
        if np.max(np.abs(g), initial=0.0) <= self.tolerance_grad:
            state.update(converged=True, message="gradient below tolerance_grad", value=f, grads=grads)
            return params, state

        cache = {}

        def evaluate(z):
            key = z.tobytes()
            if key not in cache:
                fz, gz = fun(tree_unflatten(tree, _unflat(z, p_leaves)))
                cache.clear()  # only the latest point is asked for twice (value, then gradient)
                cache[key] = (float(fz), _flat(tree_flatten(gz)[0]), gz)
                state["n_evals"] += 1
            return cache[key]

        line_search = _line_search()
        curv = self._load(state)
        for attempt in range(2):
            d = self._direction(g, curv) * self.lr
            if float(d @ g) >= 0:  # not a descent direction: forget the curvature
                curv = self._fresh()
                d = -g * self.lr
            old_old = f + np.linalg.norm(g) / 2 if self._empty(curv) else None  # first step ~ 1/|g|, as SciPy's BFGS
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # SciPy's LineSearchWarning, overflow at trial points
                alpha = line_search(lambda z: evaluate(z)[0], lambda z: evaluate(z)[1], x, d, g, f,
                                    old_old, c1=1e-4, c2=0.9, maxiter=25)[0]
            if alpha is not None:
                break
            if self._empty(curv):
                state.update(converged=True, message="line search failed (no step satisfies the strong "
                             "Wolfe conditions)", value=f, grads=grads)
                return params, state
            curv = self._fresh()  # retry once along steepest descent
        x_new = x + alpha * d
        f_new, g_new, grads_new = evaluate(x_new)
        s, y = x_new - x, g_new - g
        if float(s @ y) > 1e-10 * float(y @ y):  # a pair with s.y <= 0 would lose positive definiteness
            curv = self._record(curv, s, y, g, alpha * self.lr)
        message = ""
        if np.max(np.abs(g_new), initial=0.0) <= self.tolerance_grad:
            message = "gradient below tolerance_grad"
        elif abs(f_new - f) < self.tolerance_change or np.max(np.abs(s), initial=0.0) < self.tolerance_change:
            message = "change below tolerance_change"
        elif f - f_new <= self.rtol_change * max(abs(f), abs(f_new), 1.0) and self.rtol_change > 0:
            message = "relative decrease below rtol_change"  # SciPy L-BFGS-B's ftol test
        state.update(step=state["step"] + 1, converged=bool(message), message=message, value=f_new,
                     grads=grads_new, **self._store(curv))
        return tree_unflatten(tree, _unflat(x_new, p_leaves)), state

    def minimize(self, fun: Callable[[Any], Any], params: Any, *, max_iter: int = 1000, max_evals: int | None = None,
                 max_time: float | None = None, deadline: float | None = None,
                 callback: Callable[[Any, dict[str, Any]], Any] | None = None,
                 state: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Iterate from ``params`` until convergence or a budget; ``(params, state)``.

        ``fun(params) -> (value, grads)``.  Budgets: ``max_iter`` iterations,
        ``max_evals`` evaluations of ``fun`` (checked between iterations, so a line
        search may overrun it by a few), ``max_time`` seconds of wall time or an
        absolute ``deadline`` (``time.perf_counter()``).  ``callback(params, state)``
        runs after every iteration; returning ``True`` stops.  ``state["message"]``
        says why it stopped.

        >>> import chainrule as cr
        >>> fun = cr.value_and_grad(lambda p: (p["a"] - 3.0) ** 2 + 10 * (p["b"] + 1.0) ** 2)
        >>> p, state = cr.optim.lbfgs().minimize(fun, {"a": 0.0, "b": 0.0})
        >>> round(float(p["a"]), 6), round(float(p["b"]), 6), state["converged"]
        (3.0, -1.0, True)
        """
        if max_time is not None:
            end = time.perf_counter() + float(max_time)
            deadline = end if deadline is None else min(deadline, end)
        state = self.init(params) if state is None else dict(state)
        value, grads = fun(params)
        state.update(n_evals=state["n_evals"] + 1, value=value, grads=grads)
        first = state["step"]
        while state["step"] - first < max_iter:
            params, state = self.update(grads, state, params, fun=fun, value=value)
            value, grads = state["value"], state["grads"]
            if state["converged"]:
                break
            if callback is not None and callback(params, state):
                state["message"] = "stopped by callback"
                break
            if max_evals is not None and state["n_evals"] >= max_evals:
                state["message"] = "max_evals reached"
                break
            if deadline is not None and time.perf_counter() >= deadline:
                state["message"] = "time budget reached"
                break
        else:
            state["message"] = "max_iter reached"
        return params, state

    def __repr__(self):
        return f"{self.name}(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items()) + ")"


class _LBFGS(_QuasiNewton):
    name = "lbfgs"

    def __init__(self, lr=1.0, history_size=10, tolerance_grad=1e-7, tolerance_change=1e-9,
                 line_search="strong_wolfe", rtol_change=0.0):
        if history_size < 1:
            raise ValueError(f"lbfgs: history_size must be >= 1, got {history_size}")
        super().__init__(lr, tolerance_grad, tolerance_change, line_search, rtol_change)
        self.history_size = int(history_size)

    def _fresh(self):
        return [], []

    def _empty(self, c):
        return not c[0]

    def _load(self, state):
        return list(state["s"]), list(state["y"])

    def _store(self, c):
        return {"s": tuple(c[0]), "y": tuple(c[1])}

    def _direction(self, g, c):
        return self.direction(g, *c)

    def _record(self, c, s, y, g, step):
        s_hist, y_hist = c
        s_hist.append(s)
        y_hist.append(y)
        del s_hist[:-self.history_size], y_hist[:-self.history_size]
        return s_hist, y_hist

    def direction(self, g, s_hist, y_hist):
        """``-H g`` by the two-loop recursion (steepest descent with no history)."""
        q = -g
        alphas = []
        rhos = [1.0 / float(y @ s) for s, y in zip(s_hist, y_hist)]
        for s, y, rho in zip(reversed(s_hist), reversed(y_hist), reversed(rhos)):
            a = rho * float(s @ q)
            alphas.append(a)
            q = q - a * y
        if s_hist:
            s, y = s_hist[-1], y_hist[-1]
            q = q * (float(s @ y) / float(y @ y))
        for s, y, rho, a in zip(s_hist, y_hist, rhos, reversed(alphas)):
            b = rho * float(y @ q)
            q = q + (a - b) * s
        return q


class _BFGS(_QuasiNewton):
    name = "bfgs"

    def __init__(self, lr=1.0, scaling="ssbfgs", tolerance_grad=1e-7, tolerance_change=1e-9,
                 line_search="strong_wolfe", rtol_change=0.0, max_params=BFGS_MAX_PARAMS):
        if scaling not in ("ssbfgs", None):
            raise ValueError(f"bfgs: scaling must be 'ssbfgs' (self-scaled, Al-Baali 1998) or None "
                             f"(plain BFGS), got {scaling!r}")
        super().__init__(lr, tolerance_grad, tolerance_change, line_search, rtol_change)
        self.scaling = scaling
        self.max_params = int(max_params)

    def init(self, params):
        n = sum(int(np.size(x)) for x in tree_flatten(params)[0])
        if n > self.max_params:
            raise ValueError(f"bfgs: {n:,} parameters would need a {n * n * 8 / 2 ** 30:.1f} GiB inverse "
                             f"Hessian (max_params={self.max_params:,}); use cr.optim.lbfgs for this many, "
                             f"or raise max_params")
        return super().init(params)

    def _fresh(self):
        return None

    def _empty(self, c):
        return c is None

    def _load(self, state):
        return state["H"]

    def _store(self, c):
        return {"H": c}

    def _direction(self, g, H):
        if H is None:
            return -g
        return -_blas().dsymv(1.0, H, g, lower=0)

    def _record(self, H, s, y, g, step):
        # H is updated in place on its upper triangle: the previous state's matrix is this one
        blas = _blas()
        ys = float(y @ s)
        if H is None:  # the first pair: H0 = (s.y / y.y) I, as L-BFGS's scaling
            H = np.zeros((len(s), len(s)))
            H[np.diag_indices_from(H)] = ys / float(y @ y)
            return H
        Hy = blas.dsymv(1.0, H, y, lower=0)
        yHy = float(y @ Hy)
        tau = 1.0
        if self.scaling == "ssbfgs":
            b = -step * float(s @ g) / ys  # s.B.s / s.y: s = -step H g, so B s = -step g
            tau = min(1.0, 1.0 / b) if b > 0 else 1.0
        # H <- (H - Hy Hy^T / yHy + v v^T) / tau + s s^T / ys,  v = sqrt(yHy) (s / ys - Hy / yHy)
        v = np.sqrt(yHy) * (s / ys - Hy / yHy)
        if tau != 1.0:
            H *= 1.0 / tau
        H = blas.dsyr(-1.0 / (yHy * tau), Hy, a=H, lower=0, overwrite_a=1)
        H = blas.dsyr(1.0 / tau, v, a=H, lower=0, overwrite_a=1)
        return blas.dsyr(1.0 / ys, s, a=H, lower=0, overwrite_a=1)


def _blas():
    try:
        from scipy.linalg import blas
    except ImportError:
        raise ImportError("cr.optim.bfgs uses SciPy's BLAS: pip install scipy") from None
    return blas


def lbfgs(lr: float = 1.0, history_size: int = 10, tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
          line_search: str | None = "strong_wolfe", rtol_change: float = 0.0) -> _LBFGS:
    """The L-BFGS core: ``init(params)``, ``update(grads, state, params, fun=..., value=...)``, ``minimize``.

    Stops when the largest gradient entry is ``<= tolerance_grad``, when the loss or
    the largest step entry changes by less than ``tolerance_change``, or when the loss
    decreases by at most ``rtol_change * max(|f|, |f_new|, 1)`` (SciPy's ``ftol``; off
    at 0).  ``cr.optim.lbfgs(**cr.optim.LBFGS_PINN)`` for full-batch PINN training.

    ``fun(params) -> (value, grads)``.  A minimisation loop:

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> rosen = lambda p: 100 * (p["y"] - p["x"] ** 2) ** 2 + (1 - p["x"]) ** 2
    >>> fun = cr.value_and_grad(rosen)
    >>> core, params = cr.optim.lbfgs(), {"x": -1.2, "y": 1.0}
    >>> state = core.init(params)
    >>> value, grads = fun(params)
    >>> while not state["converged"] and state["step"] < 100:
    ...     params, state = core.update(grads, state, params, fun=fun, value=value)
    ...     value, grads = state["value"], state["grads"]
    >>> round(float(params["x"]), 6), round(float(params["y"]), 6)
    (1.0, 1.0)
    """
    return _LBFGS(lr, history_size, tolerance_grad, tolerance_change, line_search, rtol_change)


def bfgs(lr: float = 1.0, scaling: str | None = "ssbfgs", tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
         line_search: str | None = "strong_wolfe", rtol_change: float = 0.0, max_params: int = BFGS_MAX_PARAMS) -> _BFGS:
    """Dense BFGS, self-scaled by default: the core of ``lbfgs`` with the whole inverse Hessian.

    The same interface, line search and stopping tests as :func:`lbfgs`; the state keeps
    the ``n x n`` inverse Hessian ``state["H"]`` (upper triangle; updated in place)
    instead of a history.  ``scaling="ssbfgs"`` scales it by ``1 / tau`` before each
    update, ``tau = min(1, s.y / s.B.s)`` (Al-Baali 1998; the optimizer that trains PINNs
    furthest in Urban et al. 2025); ``scaling=None`` is textbook BFGS (Nocedal & Wright,
    eq. 6.17).  An update costs a few passes over ``n^2`` numbers, so it suits up to some
    thousands of parameters, where a full-batch evaluation costs far more; past
    ``max_params`` it refuses and points to ``lbfgs``.  ``cr.optim.bfgs(**cr.optim.BFGS_PINN)``
    for full-batch PINN training.

    >>> import chainrule as cr
    >>> rosen = lambda p: 100 * (p["y"] - p["x"] ** 2) ** 2 + (1 - p["x"]) ** 2
    >>> p, state = cr.optim.bfgs().minimize(cr.value_and_grad(rosen), {"x": -1.2, "y": 1.0})
    >>> round(float(p["x"]), 6), round(float(p["y"]), 6), state["converged"]
    (1.0, 1.0, True)
    """
    return _BFGS(lr, scaling, tolerance_grad, tolerance_change, line_search, rtol_change, max_params)
