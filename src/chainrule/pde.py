"""PDE operators: Laplacian, divergence, Hessian diagonal and the partial derivatives a PINN needs.

Each operator takes a function of *one point* and returns a function of the same
arguments; ``cr.vmap`` maps it over a batch of points.  Each is one forward pass
(:mod:`chainrule._interpreters.laplacian`) written in chainrule operations, so it
is differentiable again -- ``cr.grad`` of a loss built from it with respect to the
network's parameters -- and traces under ``cr.jit``.  See docs/pde.md.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> u = lambda x: cnp.sin(x[0]) * cnp.exp(x[1])          # Δu = 0
>>> float(cr.laplacian(u)(np.array([0.3, 0.7])))   # doctest: +ELLIPSIS
0.0...
"""
from __future__ import annotations

from typing import Any, Callable, ParamSpec

import numpy as np

from chainrule._core.primitive import TRACER_TYPES
from chainrule._interpreters.laplacian import propagate
from chainrule.api import _as_input, _callable, _raw_dtype

__all__ = ["laplacian", "divergence", "hessian_diag", "derivatives"]

P = ParamSpec("P")  # the operators keep the parameters of the function they are given

_METHODS = ("forward", "hessian_trace", "taylor", "stde")
#: Directions per batched pass of ``method="hessian_trace"`` (see :func:`chainrule.jacfwd`'s chunk_size).
HESSIAN_CHUNK = 8


def laplacian(f: Callable[P, Any], method: str = "forward", argnums: int = 0, *, samples: int | None = None,
              seed: Any = None, distribution: str = "rademacher", return_variance: bool = False,
              directions: Any = None) -> Callable[P, Any]:
    """A function giving ``Δf = sum_i ∂²f/∂x_i²`` of scalar ``f`` with respect to ``args[argnums]``.

    ``method``:

    ``"forward"`` (default)
        the forward Laplacian (Li et al., 2023): value, Jacobian and Laplacian
        carried together through ``f`` in one forward pass.
    ``"hessian_trace"``
        the trace of ``cr.hessian(f)`` (forward-over-reverse): the baseline.
    ``"taylor"``
        d second-order Taylor passes (``cr.jet``) along ``e_1 .. e_d``, batched, summed.
    ``"stde"``
        the stochastic Taylor derivative estimator (Shi et al., 2024): the mean of
        ``v^T H v`` over ``samples`` random directions ``v`` with ``E[v v^T] = I``
        (``distribution="rademacher"``, entries ±1, or ``"gaussian"``), an unbiased
        estimate for any d at the cost of ``samples`` directions.  ``seed`` (an int
        or a ``numpy.random.Generator``) seeds the directions, drawn afresh at each
        call; ``return_variance=True`` returns ``(estimate, variance)``, the variance
        of the estimate (the sample variance of ``v^T H v`` over ``samples``).
        Under ``cr.vmap`` every point of a call shares its directions (each point's
        estimate is still unbiased); under ``cr.jit`` the directions drawn while tracing
        are baked into the graph -- pass ``directions=v`` instead, an array of shape
        ``(k,) + x.shape`` given as an argument of the jitted function, drawn afresh
        by the caller for each call (``samples`` and ``seed`` are then not used).

    The argument may have any shape (d = its size).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> f = lambda x: cnp.sum(x ** 3)                 # Δf = 6 sum(x)
    >>> cr.laplacian(f)(np.array([1.0, 2.0]))
    np.float64(18.0)
    >>> cr.vmap(cr.laplacian(f))(np.array([[1.0, 2.0], [0.0, 1.0]]))
    array([18.,  6.])
    """
    _callable(f, "laplacian")
    if method not in _METHODS:
        raise ValueError(f"laplacian: unknown method {method!r}; use one of {', '.join(map(repr, _METHODS))}")
    if directions is not None and method != "stde":
        raise ValueError(f"laplacian: directions= belongs to method='stde', not {method!r}")
    if method == "stde" and directions is not None:
        if samples is not None or seed is not None:
            raise ValueError("laplacian(method='stde'): give directions= or samples=/seed=, not both")
        rng = None
    elif method == "stde":
        if samples is None or int(samples) < 1:
            raise ValueError(f"laplacian(method='stde') needs samples=k >= 1 random directions, got {samples!r}")
        if distribution not in ("rademacher", "gaussian"):
            raise ValueError(f"laplacian: distribution must be 'rademacher' or 'gaussian', got {distribution!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    elif samples is not None or return_variance:
        raise ValueError(f"laplacian: samples= and return_variance= belong to method='stde', not {method!r}")

    def lap(*args, **kwargs):
        x, g, shape, dt, d = _point(f, args, kwargs, argnums, "laplacian")
        if method == "hessian_trace":
            from chainrule.api import hessian
            # HVPs 8 directions at a time: under vmap over many points, all d at once makes
            # intermediates of (points, d, width) that stream through memory (2x slower at d = 64)
            h = hessian(g, chunk_size=HESSIAN_CHUNK)(x)  # shape: f's output shape + shape + shape
            _scalar_out(np.empty(tuple(h.shape)[:len(h.shape) - 2 * len(shape)]), "laplacian")
            return _ops.trace(_ops.reshape(h, (d, d)))
        if method == "taylor":
            return _taylor_laplacian(g, x, shape, dt, d)
        if method == "stde":
            if directions is not None:
                v = directions
                vs = tuple(getattr(v, "shape", np.shape(v)))
                if len(vs) != len(shape) + 1 or vs[1:] != shape or vs[0] < 1:
                    raise ValueError(f"laplacian(method='stde'): directions must have shape (k,) + {shape} "
                                     f"(k directions shaped like the point), got {vs}")
                k = vs[0]
            else:
                k = int(samples)
                if distribution == "rademacher":
                    v = rng.integers(0, 2, size=(k,) + shape).astype(dt) * 2 - 1
                else:
                    v = rng.standard_normal((k,) + shape).astype(dt)
            y, _, quad = propagate(g, x, v, collapse=False)
            _scalar_out(y, "laplacian")
            if quad is None:
                quad = _ops.zeros((k,), dtype=dt)
            est = _ops.mean(quad, axis=0)
            if not return_variance:
                return est
            var = _ops.var(quad, axis=0, ddof=1) / k if k > 1 else _ops.zeros_like(est) + np.inf
            return est, var
        y, _, lp = propagate(g, x, _eye(d, shape, dt), collapse=True)
        _scalar_out(y, "laplacian")
        return lp if lp is not None else _zeros_of(y)

    lap.__name__ = f"laplacian_{getattr(f, '__name__', 'f')}"
    lap.__doc__ = f"The Laplacian of {getattr(f, '__name__', 'f')} ({method})."
    return lap


def divergence(F: Callable[P, Any], argnums: int = 0) -> Callable[P, Any]:
    """A function giving ``div F = sum_i ∂F_i/∂x_i`` for ``F: R^d -> R^d`` at one point.

    One forward pass with the d unit tangents (the Jacobian rows), then its trace.
    ``F``'s output must have as many elements as its input.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> F = lambda x: cnp.stack([x[0] * x[1], x[1] ** 2])       # div F = x1 + 2 x1
    >>> cr.divergence(F)(np.array([2.0, 3.0]))
    np.float64(9.0)
    """
    _callable(F, "divergence")

    def div(*args, **kwargs):
        x, g, shape, dt, d = _point(F, args, kwargs, argnums, "divergence")
        y, jac, _ = propagate(g, x, _eye(d, shape, dt), second=False)
        ys = tuple(getattr(y, "shape", ()))
        if int(np.prod(ys, dtype=np.int64)) != d:
            raise ValueError(f"divergence: F must map R^d to R^d (output with as many elements as the "
                             f"input); the input has shape {shape} (d = {d}) but F returned shape {ys}")
        if jac is None:
            return _ops.zeros((), dtype=_dtype(y))
        return _ops.trace(_ops.reshape(jac, (d, d)))

    div.__name__ = f"divergence_{getattr(F, '__name__', 'F')}"
    return div


def hessian_diag(f: Callable[P, Any], argnums: int = 0) -> Callable[P, Any]:
    """A function giving the diagonal ``∂²f/∂x_i²`` of scalar ``f``'s Hessian, shaped like the argument.

    One forward pass carrying the d second derivatives along ``e_1 .. e_d``; no
    off-diagonal entry is computed.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.hessian_diag(lambda x: x[0] ** 3 * x[1] + x[1] ** 2)(np.array([1.0, 2.0]))
    array([12.,  2.])
    """
    _callable(f, "hessian_diag")

    def hdiag(*args, **kwargs):
        x, g, shape, dt, d = _point(f, args, kwargs, argnums, "hessian_diag")
        y, _, lp = propagate(g, x, _eye(d, shape, dt), collapse=False)
        _scalar_out(y, "hessian_diag")
        if lp is None:
            return _ops.zeros(shape, dtype=dt)
        return _ops.reshape(lp, shape)

    hdiag.__name__ = f"hessian_diag_{getattr(f, '__name__', 'f')}"
    return hdiag


def derivatives(f: Callable[P, Any], *terms: Any, names: Any = None, argnums: int = 0) -> Callable[P, Any]:
    """A function giving ``f`` and the partial derivatives ``terms`` of it, in one call.

    Made for PINNs: ``f`` maps points whose *last axis* holds the coordinates to
    values -- a network applied to a batch ``(N, d) -> (N,)`` or ``(N, 1)``, or a
    function of one point ``(d,) -> ()`` -- and every point's value must depend on
    that point alone (true of a network applied row by row; not of batch
    normalisation).  Each term names one partial derivative:

    * with ``names`` (a string of one-letter coordinate names, ``"tx"``, or a
      sequence of names), a string: ``""`` is ``f`` itself, ``"t"`` is ``∂f/∂t``,
      ``"xx"`` is ``∂²f/∂x²``, ``"tx"`` is ``∂²f/∂t∂x``; a term that is a tuple of
      names also works (for names longer than a letter);
    * without ``names``, a tuple of coordinate indices: ``()`` is ``f``, ``(1,)`` is
      ``∂f/∂x_1``, ``(1, 1)`` is ``∂²f/∂x_1²``.

    Returns a tuple with one array per term, each shaped like ``f``'s output.  All
    first derivatives and pure second derivatives come from one forward pass that
    carries one direction per coordinate involved (no all-ones cotangent, no
    cross terms, no Hessian); a mixed term (``"tx"``) costs nested ``jvp`` along
    its coordinates and a pure term of order three or more a ``cr.jet`` along its
    coordinate.  Differentiable with respect to parameters, like every operator.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> u = lambda X: cnp.sin(X[:, 1]) * cnp.exp(-X[:, 0])      # u(t, x), a batch of points
    >>> X = np.array([[0.0, 0.5], [1.0, 2.0]])
    >>> val, u_t, u_x, u_xx = cr.derivatives(u, "", "t", "x", "xx", names="tx")(X)
    >>> np.allclose(u_t, -val), np.allclose(u_xx, -val), np.allclose(u_x, np.cos(X[:, 1]) * np.exp(-X[:, 0]))
    (True, True, True)
    """
    _callable(f, "derivatives")
    if not terms:
        raise ValueError("derivatives: name at least one term, e.g. derivatives(u, '', 't', 'x', 'xx', "
                         "names='tx') or derivatives(u, (), (0,), (1, 1))")
    parsed = [_parse_term(t, names) for t in terms]
    # one direction per coordinate named; those with a pure second derivative first, so
    # that only they carry one
    pure2 = sorted({t[0] for t in parsed if len(t) == 2 and t[0] == t[1]})
    firsts = pure2 + sorted({t[0] for t in parsed if len(t) == 1} - set(pure2))

    def derivs(*args, **kwargs):
        x, g, shape, dt, _ = _point(f, args, kwargs, argnums, "derivatives")
        if not shape:
            raise ValueError("derivatives: the points must have the coordinates on their last axis "
                             "(shape (d,) for one point, (N, d) for a batch); got a 0-d argument")
        d = shape[-1]
        for t in parsed:
            for c in t:
                if not 0 <= c < d:
                    raise ValueError(f"derivatives: term {terms[parsed.index(t)]!r} asks for coordinate "
                                     f"{c}, but the points have {d} coordinates (last axis of shape {shape})")
        if firsts:
            y, jac, lp = propagate(g, x, _units(firsts, shape, dt), collapse=False, second=len(pure2))
        else:
            y, jac, lp = g(x), None, None
        row = {c: k for k, c in enumerate(firsts)}
        out = []
        for t in parsed:
            if not t:
                out.append(y)
            elif len(t) == 1:
                out.append(jac[row[t[0]]] if jac is not None else _zeros_of(y))
            elif len(t) == 2 and t[0] == t[1]:
                out.append(lp[row[t[0]]] if lp is not None else _zeros_of(y))
            elif len(set(t)) == 1:
                out.append(_pure(g, x, _units([t[0]], shape, dt)[0], len(t)))
            else:
                out.append(_mixed(g, x, [_units([c], shape, dt)[0] for c in t]))
        return tuple(out)

    derivs.__name__ = f"derivatives_{getattr(f, '__name__', 'f')}"
    return derivs


# -- helpers -------------------------------------------------------------------

def _point(f, args, kwargs, argnums, name):
    """The point ``x`` (argument ``argnums``), ``g(x)`` = f with the other arguments fixed,
    and x's shape, float dtype and size d."""
    if not isinstance(argnums, int):
        raise TypeError(f"{name}: argnums must be one int (the argument holding the point), got {argnums!r}")
    if not -len(args) <= argnums < len(args):
        raise ValueError(f"{name}: argnums={argnums} but the function was called with {len(args)} "
                         f"positional argument(s)")
    x = args[argnums]
    x = _as_input(x if type(x) in TRACER_TYPES or hasattr(x, "shape") else np.asarray(x, dtype=float),
                  f"{name}: argument {argnums}")
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    args = list(args)

    def g(xt):
        args[argnums] = xt
        return f(*args, **kwargs)

    shape = tuple(x.shape)
    return x, g, shape, _dtype(x), int(np.prod(shape, dtype=np.int64))


def _dtype(x):
    dt = _raw_dtype(x)
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def _eye(d, shape, dt):
    return np.eye(d, dtype=dt).reshape((d,) + shape)


def _units(coords, shape, dt):
    """One direction per coordinate: ones in that column of the last axis, for every point."""
    e = np.zeros((len(coords),) + shape, dtype=dt)
    for k, c in enumerate(coords):
        e[k, ..., c] = 1
    return e


def _scalar_out(y, name):
    s = tuple(getattr(y, "shape", ()))
    if s:
        raise ValueError(f"{name}: f must return a scalar for one point, got an output of shape {s}; "
                         f"map over points with cr.vmap({name}(f)) and pick one component "
                         f"(lambda x: f(x)[i]) for a vector-valued f")
    return y


def _zeros_of(y):
    if type(y) in TRACER_TYPES or hasattr(y, "shape"):
        return _ops.zeros(tuple(y.shape), dtype=_dtype(y))
    return _ops.zeros((), dtype=np.float64)


def _taylor_laplacian(g, x, shape, dt, d):
    from chainrule.api import vmap
    from chainrule.taylor import jet
    zero = np.zeros(shape, dt)

    def second(e):
        y, (_, y2) = jet(g, (x,), ([e, zero],))
        _scalar_out(y, "laplacian")
        return y2 if y2 is not None else _ops.zeros((), dtype=dt)

    return _ops.sum(vmap(second)(_eye(d, shape, dt)), axis=0)


def _pure(g, x, e, k):
    from chainrule.taylor import jet
    zero = np.zeros_like(e)
    _, ys = jet(g, (x,), ([e] + [zero] * (k - 1),))
    y = ys[-1]
    return y if y is not None else _zeros_of(g(x))


def _mixed(g, x, dirs):
    from chainrule.api import jvp
    h = g
    for e in dirs:
        h = (lambda h, e: lambda z: jvp(h, (z,), (e,))[1])(h, e)
    return h(x)


def _parse_term(t, names):
    if names is not None:
        names_l = list(names)
        if isinstance(t, str):
            t = list(t)
        if not isinstance(t, (list, tuple)):
            raise TypeError(f"derivatives: with names={names!r}, a term is a string such as 'xx' or a "
                            f"tuple of names, got {t!r}")
        out = []
        for c in t:
            if c not in names_l:
                raise ValueError(f"derivatives: term {t!r} uses {c!r}, which is not among names={names!r}")
            out.append(names_l.index(c))
        return tuple(out)
    if isinstance(t, str):
        raise TypeError(f"derivatives: term {t!r} is a string but no names= were given; pass names='tx' "
                        f"(one letter per coordinate) or give terms as tuples of indices, (1, 1) for ∂²/∂x_1²")
    if isinstance(t, int):
        t = (t,)
    if not isinstance(t, (list, tuple)) or not all(isinstance(c, (int, np.integer)) for c in t):
        raise TypeError(f"derivatives: a term is a tuple of coordinate indices such as (1, 1), got {t!r}")
    return tuple(int(c) for c in t)


import chainrule._ops as _ops  # noqa: E402
