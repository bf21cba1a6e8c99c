"""Implicit differentiation: roots and fixed points, differentiated without unrolling.

``cr.root(F, x0, *params)`` finds ``x*`` with ``F(x*, *params) = 0``.  The
solver runs on plain NumPy values -- it never sees a tracer, so its
iterations are never recorded or differentiated.  The derivative comes from
the implicit function theorem instead::

    dx*/dθ = -(∂F/∂x)⁻¹ ∂F/∂θ        (at x = x*)

``root_p`` is one variadic primitive over ``params``: its VJP rule solves
``(∂F/∂x)ᵀ u = g`` and returns ``-(∂F/∂θ_j)ᵀ u``; its JVP rule returns
``-(∂F/∂x)⁻¹ Σ_j ∂F/∂θ_j t_j``.  Both are written with chainrule's own
operations (``cr.vjp``, ``cr.jvp``, ``cnp.linalg.solve``) on the possibly
traced ``x*`` and ``params``, so they are differentiable again: second
derivatives of a root with respect to its parameters need no extra code.

``F`` receives the values it is differentiated with respect to as parameters;
a traced value it captures in a closure cell is lifted into an extra parameter
(``checkpoint.lift_closure``), and a deeper capture raises a clear error.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> from chainrule.implicit import root
>>> sqrt_a = lambda a: root(lambda x, a: x ** 2 - a, 1.0, a)
>>> round(float(sqrt_a(4.0)), 12)
2.0
>>> round(float(cr.grad(sqrt_a)(4.0)), 12)            # 1 / (2 sqrt a)
0.25
>>> round(float(cr.grad(cr.grad(sqrt_a))(4.0)), 12)   # -1 / (4 a^1.5)
-0.03125
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, PerInput, bind, defprim
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.batching import is_batched
from chainrule._ops._wrap import batch_size, shape_of
from chainrule.api import grad, jvp, vjp, vmap
from chainrule.checkpoint import lift_closure

if TYPE_CHECKING:
    from chainrule.typing import ArrayLike

__all__ = ["root", "fixed_point", "implicit_derivative", "SingularJacobianError", "root_p"]


class SingularJacobianError(np.linalg.LinAlgError):
    """``∂F/∂x`` is singular (or not finite) where it must be inverted."""


# -- helpers -------------------------------------------------------------------------

def _traced(x):
    return type(x) in TRACER_TYPES


def _primal(x):
    """The plain value under any tracers (the solver's starting point is a constant)."""
    while type(x) in TRACER_TYPES:
        x = x._value
    return x


def _as_param(p):
    return p if _traced(p) else np.asarray(p)


def _check_residual(F, r, x, where):
    if _traced(r):
        from chainrule.checkpoint import transform_of
        raise TypeError(f"{where}: F closes over a value traced by {transform_of(r)}: it captures it "
                        f"from an enclosing scope, and the solver runs on plain values, so it cannot "
                        f"see it. Pass the value as an explicit argument: root(F, x0, *params) calls "
                        f"F(x, *params) and differentiates (or maps) through params")
    r = np.asarray(r, dtype=np.result_type(r, np.float64))
    if r.shape != np.shape(x):
        raise ValueError(f"{where}: F(x, *params) has shape {r.shape} but x has shape {np.shape(x)}; "
                         f"F must return one equation per unknown")
    return r


def _jacobian_x(F, x, params):
    """``∂F/∂x`` at ``x`` as a chainrule value (differentiable in ``x`` and ``params``).

    Scalar ``x``: a scalar by ``cr.grad``.  Vector ``x`` of length n: an
    ``(n, n)`` matrix, its rows by n pullbacks of one recorded call of F.
    """
    f = lambda x: F(x, *params)  # noqa: E731
    if np.ndim(x) == 0:
        return grad(f)(x)
    n = np.shape(x)[0]
    _, pull = vjp(f, x)
    eye = np.eye(n, dtype=np.float64)
    rows = [pull(eye[i])[0] for i in range(n)]
    if not any(_traced(r) for r in rows):
        return np.stack([np.asarray(r) for r in rows])
    import chainrule.numpy as cnp
    return cnp.stack(rows)


def _singular(where, x, detail):
    hint = ("Newton's method cannot take a step from here; try another x0" if where.startswith("root(")
            else "the root is not isolated, so the implicit function theorem does not apply")
    return SingularJacobianError(
        f"{where}: the Jacobian dF/dx is singular at x = {np.asarray(_primal(x))!r} ({detail}); {hint}")


def _solve(J, b, x, where, transpose=False):
    """``J⁻¹ b`` (or ``J⁻ᵀ b``) with chainrule operations; a clear error if J is singular."""
    Jv = np.asarray(_primal(J), dtype=np.float64)
    if not np.all(np.isfinite(Jv)):
        raise _singular(where, x, "it is not finite")
    # Under vmap, Jv holds one Jacobian per example (leading axes): check each.
    if np.ndim(J) == 0:
        if np.any(Jv == 0):
            raise _singular(where, x, "dF/dx = 0")
        return b / J
    cond = float(np.max(np.linalg.cond(Jv)))
    if cond > 1 / np.finfo(np.float64).eps:
        raise _singular(where, x, f"condition number {cond:.3g}")
    if transpose:
        J = J.T if not _traced(J) else _transpose(J)
    if not (_traced(J) or _traced(b)):
        return np.linalg.solve(J, b)
    import chainrule.numpy as cnp
    return cnp.linalg.solve(J, b)


def _transpose(J):
    import chainrule.numpy as cnp
    return cnp.transpose(J)


# -- the solvers (plain values only) -------------------------------------------------

def _newton(F, x0, params, tol, maxiter):
    where = "root(solver='newton')"
    x = np.array(x0, dtype=np.float64)
    r = _check_residual(F, F(x, *params), x, where)
    res = float(np.max(np.abs(r))) if r.size else 0.0
    for _ in range(maxiter):
        if res <= tol:
            return x
        J = _jacobian_x(F, x, params)
        step = _solve(np.asarray(J, dtype=np.float64), r, x, where)
        # backtracking: halve the step while the residual grows (up to 30 times)
        t = 1.0
        for _ in range(30):
            x_new = x - t * step
            r_new = _check_residual(F, F(x_new, *params), x_new, where)
            res_new = float(np.max(np.abs(r_new))) if r_new.size else 0.0
            if np.isfinite(res_new) and res_new <= res:
                break
            t /= 2
        x, r, res = x_new, r_new, res_new
        if float(np.max(np.abs(t * step), initial=0.0)) <= tol * (1.0 + float(np.max(np.abs(x), initial=0.0))) \
                and res <= max(tol, np.sqrt(tol)):
            return x
    if res <= tol:
        return x
    raise RuntimeError(f"{where}: no convergence after {maxiter} iterations; residual max|F(x)| = "
                       f"{res:.3g} > tol = {tol:g} at x = {x!r}")


def _iterate(g, x0, params, tol, maxiter):
    where = "fixed_point"
    x = np.array(x0, dtype=np.float64)
    diff = np.inf
    for _ in range(maxiter):
        gx = _check_residual(g, g(x, *params), x, where)
        diff = float(np.max(np.abs(gx - x), initial=0.0))
        x = gx
        if not np.isfinite(diff):
            break
        if diff <= tol * (1.0 + float(np.max(np.abs(x), initial=0.0))):
            return x
    raise RuntimeError(f"{where}: plain iteration did not converge after {maxiter} iterations; "
                       f"residual max|g(x) - x| = {diff:.3g} > tol = {tol:g} at x = {x!r}")


def _root_impl(*params, F, g, x0, solver, tol, maxiter, start_in_params=False, dtype=np.float64):
    if start_in_params:  # a starting point that differs per vmap example: the last param
        x0 = np.asarray(params[-1], dtype=np.float64).reshape(x0.shape)
    if solver == "newton":
        x = _newton(F, x0, params, tol, maxiter)
    else:  # "iterate": plain fixed-point iteration of g
        x = _iterate(g, x0, params, tol, maxiter)
    x = x.astype(dtype, copy=False)  # solved in float64, returned in the inputs' precision
    return x[()] if x.ndim == 0 else x


# -- derivative rules (chainrule computations: differentiable again) -------------------

def _sub_fun(F, x, params, idx):
    """``θ_idx ↦ F(x, *params)`` with the other parameters held fixed."""
    def f(*sub):
        full = list(params)
        for j, s in zip(idx, sub):
            full[j] = s
        return F(x, *full)
    return f


def _root_vjp(j):
    def rule(ans, *params, F, **_):
        def vjp_fn(g):
            J = _jacobian_x(F, ans, params)
            u = _solve(J, g, ans, "root: implicit VJP", transpose=True)
            _, pull = vjp(_sub_fun(F, ans, params, (j,)), params[j])
            return -pull(u)[0]
        return vjp_fn
    return rule


def _root_jvp(primals, tangents, ans, params):
    idx = tuple(j for j, t in enumerate(tangents) if t is not None)
    if not idx:
        return None
    F = params["F"]
    _, dF = jvp(_sub_fun(F, ans, primals, idx), tuple(primals[j] for j in idx),
                tuple(tangents[j] for j in idx))
    J = _jacobian_x(F, ans, primals)
    return -_solve(J, dF, ans, "root: implicit JVP")


def _batch_root(vals, batched, params):
    """vmap of a root: one root of the stacked system ``x_b ↦ vmap(F)(x_b, θ_b)``, flattened.

    Its ``∂F/∂x`` is block diagonal, so each example's root and derivative are
    those of its own system; the solver and the implicit rules are unchanged.
    """
    n = batch_size(vals, batched)
    x0 = params["x0"]  # one example's starting point (its shape, when start_in_params)
    in_axes = (0,) + tuple(0 if b else None for b in batched)
    if params["start_in_params"] and not batched[-1]:  # one start for all: stack it too
        from chainrule._ops import broadcast_to
        vals = list(vals[:-1]) + [broadcast_to(vals[-1], (n,) + tuple(shape_of(vals[-1])))]
        in_axes = in_axes[:-1] + (0,)

    def stacked(fun):
        def h(x, *ps):
            import chainrule.numpy as cnp
            out = vmap(fun, in_axes=in_axes)(cnp.reshape(x, (n,) + x0.shape), *ps)
            return cnp.reshape(out, (-1,))
        return None if fun is None else h

    kw = {**params, "F": stacked(params["F"]), "g": stacked(params["g"]),
          "x0": np.broadcast_to(x0, (n,) + x0.shape).ravel()}
    out = bind(root_p, tuple(vals), kw)
    from chainrule._ops import reshape
    return reshape(out, (n,) + x0.shape)


root_p = defprim(
    "root", _root_impl, PerInput(_root_vjp), jvp=_root_jvp, uses_ans=True,
    batch=lambda vals, batched, params: _batch_root(vals, batched, params),
    formulas=PerInput(lambda i: ("-(dF/dθ).T @ solve((dF/dx).T, g)",
                                 r"-\left(\partial_\theta F\right)^{\top} (\partial_x F)^{-\top} \bar g")))


def _bind_root(F, g, x0, params, solver, tol, maxiter):
    # NumPy's promotion of x0 and the params (float32 stays float32), at least a float
    dtype = np.result_type(*[v if isinstance(v, (int, float)) else np.asarray(_primal(v))
                             for v in (x0,) + tuple(params)])
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)
    start_in_params = is_batched(x0)
    if start_in_params:
        # x0 differs per example of a vmap: it becomes a last param that F ignores (so its
        # derivative is zero), and the batching rule stacks it like the other params.
        params = params + (x0,)
        F, g = _IgnoringLast(F), (None if g is None else _IgnoringLast(g))
        x0 = np.zeros(shape_of(x0))
    x0 = np.asarray(_primal(x0), dtype=np.float64)
    if x0.ndim > 1:
        raise ValueError(f"root: x0 must be a scalar or a 1-D array, got shape {x0.shape}")
    if not (isinstance(maxiter, (int, np.integer)) and maxiter >= 1):
        raise ValueError(f"root: maxiter must be a positive integer, got {maxiter!r}")
    params = tuple(_as_param(p) for p in params)
    kw = {"F": F, "g": g, "x0": x0, "solver": solver, "tol": float(tol), "maxiter": int(maxiter),
          "start_in_params": start_in_params, "dtype": dtype}
    if not any(_traced(p) for p in params):
        return _root_impl(*params, **kw)  # no tracer: no primitive to record
    return bind(root_p, params, kw)


# -- public API -----------------------------------------------------------------------

def root(F: Callable[..., Any], x0: ArrayLike, *params: Any, solver: str = "newton", tol: float = 1e-10,
         maxiter: int = 50) -> Any:
    """``x*`` with ``F(x*, *params) = 0``, differentiable in ``params`` by the implicit function theorem.

    ``x0`` is the starting point (a scalar or a 1-D array; it is a constant
    for differentiation), ``F(x, *params)`` returns an array of ``x``'s shape.
    ``solver="newton"`` runs Newton's method with backtracking, the Jacobian
    ``∂F/∂x`` taken by chainrule; it stops when ``max|F(x)| <= tol`` (or the
    step is below ``tol`` relative to ``x``) and raises ``RuntimeError``
    after ``maxiter`` iterations.  A singular ``∂F/∂x`` raises
    :class:`SingularJacobianError`.

    The solver runs on plain values, so it is never differentiated: the
    derivative is ``dx*/dθ = -(∂F/∂x)⁻¹ ∂F/∂θ``, one linear solve, whatever
    the number of iterations -- and it works with ``cr.grad``, ``cr.jvp``,
    tape Tensors, and again for higher derivatives.  Values to be
    differentiated are parameters or closure variables of ``F`` (lifted into
    parameters), not globals or attributes.  Under ``cr.vmap``
    the examples are solved as one stacked system (its ``∂F/∂x`` is block
    diagonal), and ``x0`` may differ per example.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule.implicit import root
    >>> F = lambda x, a, b: cnp.stack([x[0] * x[1] - a, x[0] - x[1] - b])
    >>> x = root(F, cnp.array([1.0, 1.0]), 6.0, 1.0)   # x0 * x1 = 6, x0 - x1 = 1
    >>> np.round(x, 12)
    array([3., 2.])
    >>> dx0_da = cr.grad(lambda a: root(F, cnp.array([1.0, 1.0]), a, 1.0)[0])(6.0)
    >>> round(float(dx0_da), 12)                          # x0 = (b + sqrt(b² + 4a)) / 2
    0.2
    """
    if solver != "newton":
        raise ValueError(f"root: unknown solver {solver!r}; use 'newton' (or cr.fixed_point for "
                         f"plain iteration)")
    F, closed = lift_closure(F)  # traced values F closes over become parameters
    F, params = _flat_params(_AsArray(F), params + closed)
    return _bind_root(F, None, x0, params, solver, tol, maxiter)


def fixed_point(g: Callable[..., Any], x0: ArrayLike, *params: Any, tol: float = 1e-10, maxiter: int = 1000) -> Any:
    """``x*`` with ``x* = g(x*, *params)`` by plain iteration, differentiable in ``params``.

    The iteration ``x ← g(x, *params)`` runs on plain values and stops when
    ``max|g(x) - x| <= tol (1 + max|x|)``; it raises ``RuntimeError`` after
    ``maxiter`` iterations.  Derivatives come from the implicit function
    theorem applied to ``F(x, θ) = x - g(x, θ)``: ``dx*/dθ = (I - ∂g/∂x)⁻¹ ∂g/∂θ``.

    >>> import chainrule as cr
    >>> from chainrule.implicit import fixed_point
    >>> heron = lambda x, a: (x + a / x) / 2            # fixed point: sqrt(a)
    >>> round(float(fixed_point(heron, 1.0, 9.0)), 12)
    3.0
    >>> round(float(cr.grad(lambda a: fixed_point(heron, 1.0, a))(9.0)), 12)
    0.166666666667
    """
    g, closed = lift_closure(g)  # traced values g closes over become parameters
    g, params = _flat_params(_AsArray(g), params + closed)
    return _bind_root(_FixedPointResidual(g), g, x0, params, "iterate", tol, maxiter)


class _AsArray:
    """``F`` whose list or tuple result (``[x[0] - a, x[1] - b]``) becomes one array, as NumPy's would."""

    __slots__ = ("f",)

    def __init__(self, f):
        self.f = f

    def __call__(self, x, *params):
        r = self.f(x, *params)
        if isinstance(r, (list, tuple)):
            import chainrule.numpy as cnp
            r = cnp.array(r)
        return r

    def __repr__(self):
        return repr(self.f)


def _flat_params(F, params):
    """Pytree parameters (a dict of weights, a tuple) as their leaves: ``F`` rebuilt to take
    the leaves and call the user's function with the original structure."""
    leaves, tree = tree_flatten(tuple(params))
    if all(c.kind == "leaf" for c in tree.children):
        return F, tuple(params)
    return _Unflattening(F, tree), tuple(leaves)


class _Unflattening:
    """``F(x, *leaves)`` calling the user's ``F(x, *params)`` with the params rebuilt from leaves."""

    __slots__ = ("f", "tree")

    def __init__(self, f, tree):
        self.f, self.tree = f, tree

    def __call__(self, x, *leaves):
        return self.f(x, *tree_unflatten(self.tree, leaves))

    def __repr__(self):
        return repr(self.f)


class _IgnoringLast:
    """``F(x, *params)`` called with one more param (a per-example starting point), which it ignores."""

    __slots__ = ("f",)

    def __init__(self, f):
        self.f = f

    def __call__(self, x, *params):
        return self.f(x, *params[:-1])

    def __repr__(self):
        return repr(self.f)


class _FixedPointResidual:
    """``F(x, θ) = x - g(x, θ)``, the equation a fixed point of ``g`` solves."""

    __slots__ = ("g",)

    def __init__(self, g):
        self.g = g

    def __call__(self, x, *params):
        return x - self.g(x, *params)

    def __repr__(self):
        return f"<x - {getattr(self.g, '__name__', 'g')}(x, ...)>"


def implicit_derivative(F: Callable[[Any, Any], Any], x: ArrayLike, y: ArrayLike) -> Any:
    """``dy/dx = -F_x / F_y`` for the curve ``F(x, y) = 0`` at the point ``(x, y)`` (scalars).

    The partial derivatives come from ``cr.grad``, so the result is itself
    differentiable.  ``F_y = 0`` (a vertical tangent) raises ``ZeroDivisionError``.

    >>> from chainrule.implicit import implicit_derivative
    >>> circle = lambda x, y: x ** 2 + y ** 2 - 1
    >>> round(float(implicit_derivative(circle, 0.6, 0.8)), 12)   # -x / y
    -0.75
    """
    if np.ndim(x) != 0 or np.ndim(y) != 0:  # the logical shape: under vmap, one example's
        raise ValueError("implicit_derivative: x and y must be scalars; for systems use cr.root")
    Fx, Fy = grad(F, argnums=(0, 1))(x, y)
    if np.any(np.asarray(_primal(Fy)) == 0.0):  # under vmap: at any example
        raise ZeroDivisionError(f"implicit_derivative: F_y = 0 at (x, y) = ({_primal(x)}, "
                                f"{_primal(y)}); y is not a differentiable function of x there")
    return -Fx / Fy
