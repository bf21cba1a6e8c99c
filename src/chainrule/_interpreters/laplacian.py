"""Forward Laplacian: a ``LapTracer`` carries a value, its Jacobian rows and second derivatives.

Li et al. (2023) propagate, for the input point ``x`` and n directions ``v_1 .. v_n``
(the unit vectors ``e_1 .. e_d`` for a Laplacian), three things through the graph
in one forward pass:

* the value ``y``;
* the Jacobian rows ``J_k = D y [v_k]`` (leading axis n);
* the second derivatives ``L_k = D^2 y [v_k, v_k]``, either per direction (shape
  ``(n, *y.shape)``: a Hessian diagonal, pure partials, STDE samples) or *collapsed*,
  summed over k (shape ``y.shape``: the Laplacian, ``sum_k D^2 y[e_k, e_k]``).

For a primitive ``y = p(x)`` the chain rule to second order reads

    J_y,k = Dp[J_x,k]                       (the JVP rule, on the n rows at once)
    L_y,k = Dp[L_x,k] + D^2p[J_x,k, J_x,k]   (collapsed: summed over k)

The tracer never special-cases a primitive; it reads the primitive's declared
structure (its ``taylor`` shortcut and ``elementwise`` flag) to skip work:

``linear`` (add, reshape, sum, indexing, ...)
    no second-order term: the JVP rule applied to the rows of J and L together.
``bilinear`` / ``multilinear`` (multiply, matmul, einsum)
    with one varying input it is linear in it; with two or more the second-order
    term is ``2 sum_{i<j} p(.., J_i,k, .., J_j,k, ..)``.
elementwise with one varying input (tanh, exp, sin, ...)
    the order-2 Taylor rule run once on a series of ones gives ``f'`` and ``f''``
    at the value's shape; then ``J_y = f' J_x`` and
    ``L_y = f' L_x + f'' sum_k J_x,k^2`` -- no pass over the n rows for ``f''``.
anything else
    the primitive's order-2 Taylor rule (``cr.jet``'s, batched over the n rows by
    the ``vmap`` machinery) gives ``Dp[J_k]`` and ``D^2p[J_k, J_k]``, plus the JVP
    rule on the rows of L.

Every rule is made of chainrule operations, so the result is differentiable again
(``grad`` with respect to parameters) and traces under ``vmap`` and ``jit``.
"""
from __future__ import annotations

import numpy as np

from chainrule._core.arrayops import ArrayOps
from chainrule._core.primitive import SEE_THROUGH, TRACER_TYPES, bind, new_level
from chainrule._interpreters.batching import BatchTracer
from chainrule._interpreters.taylor import SHORTCUTS

__all__ = ["LapTracer", "propagate"]


class _Mode:
    """What a level propagates: ``n`` directions, whether L is summed over them, and the
    number ``m`` of leading directions that carry a second derivative (0: none, n: all)."""

    __slots__ = ("n", "collapse", "m", "second")

    def __init__(self, n, collapse, m):
        self.n, self.collapse, self.m, self.second = n, collapse, m, m > 0


class LapTracer(ArrayOps):
    __slots__ = ("_value", "_jac", "_lap", "_level", "_mode")
    _differentiates = True
    _no_complex = True

    def __init__(self, value, jac, lap, level, mode):
        self._value = value   # the primal (one level down)
        self._jac = jac       # (n, *shape) or None (zero)
        self._lap = lap       # shape, or (n, *shape) when not collapsed, or None (zero)
        self._level = level
        self._mode = mode

    def __array__(self, dtype=None, copy=None):
        raise TypeError("converting a value traced by a PDE operator (cr.laplacian, cr.divergence, "
                        "cr.hessian_diag, cr.derivatives) to a NumPy array would drop its derivatives; "
                        "use chainrule.numpy functions (cnp.asarray passes it through)")

    def _process(self, p, args, params):
        level, mode = self._level, self._mode
        primals, jacs, laps = [], [], []
        for a in args:
            if type(a) is LapTracer and a._level == level:
                primals.append(a._value)
                jacs.append(a._jac)
                laps.append(a._lap)
            else:
                primals.append(a)
                jacs.append(None)
                laps.append(None)
        ans = bind(p, primals, params)
        if p.jvp is None or all(j is None for j in jacs):
            return ans
        jac, lap = _rule(p, primals, jacs, laps, ans, params, mode)
        if jac is None and lap is None:
            return ans
        return LapTracer(ans, jac, lap, level, mode)

    def __repr__(self):
        return f"LapTracer(level={self._level}, primal={self._value!r})"


TRACER_TYPES.add(LapTracer)
SEE_THROUGH.add(LapTracer)


def propagate(f, x, directions, collapse=True, second=True):
    """``f(x)``, its Jacobian rows along ``directions`` (n, *x.shape) and its second derivatives.

    Returns ``(y, J, L)``: ``J`` is ``(n, *y.shape)``, ``L`` is ``y.shape`` (collapsed: the sum
    over the directions) or ``(m, *y.shape)`` for the first m directions (``second``: True for
    all, False for none (``L`` is ``None``), or the number m); ``None`` for a zero.
    """
    n = directions.shape[0]
    m = n if second is True else 0 if second is False else int(second)
    if collapse and m not in (0, n):
        raise ValueError("propagate: a collapsed L sums over every direction")
    level = new_level()
    out = f(LapTracer(x, directions, None, level, _Mode(n, collapse, m)))
    if type(out) is LapTracer and out._level == level:
        return out._value, out._jac, out._lap
    return out, None, None


# -- the rule ------------------------------------------------------------------

def _kind(p):
    """How the primitive declares its second-order structure (its Taylor shortcut)."""
    t = p.taylor
    return t if type(t) is str else "rule"


def _rule(p, primals, jacs, laps, ans, params, mode):
    n, m, collapse, second = mode.n, mode.m, mode.collapse, mode.second
    live = [i for i, j in enumerate(jacs) if j is not None]
    kind = _kind(p)
    if kind in ("bilinear", "multilinear") and len(live) == 1:
        kind = "linear"
    has_lap = second and any(laps[i] is not None for i in live)

    if kind == "linear" or (kind in ("bilinear", "multilinear") and not second):
        return _first_order(p, primals, jacs, laps if has_lap else None, ans, params, mode)

    if p.elementwise and len(live) == 1:
        return _elementwise(p, primals, live[0], jacs, laps, ans, params, mode)

    if kind in ("bilinear", "multilinear"):
        jac, lap = _first_order(p, primals, jacs, laps if has_lap else None, ans, params, mode)
        s = None
        for a in range(len(live)):
            for b in range(a + 1, len(live)):
                ops = list(primals)
                ops[live[a]] = _first(jacs[live[a]], m, n)
                ops[live[b]] = _first(jacs[live[b]], m, n)
                c = _batched(lambda *o: bind(p, o, params), ops, [live[a], live[b]], ans, m)
                s = c if s is None else _ops.add(s, c)
        return jac, _plus(lap, _times(_collapse(s, collapse), 2.0))

    # the general case: the order-2 Taylor rule, batched over the n rows of J
    rule = _taylor_rule(p)
    level = new_level()
    series = [None if j is None else [BatchTracer(j, level), None] for j in jacs]
    out = rule(primals, series, ans, params)
    y1, y2 = (list(out) + [None, None])[:2] if out else (None, None)
    jac = _unbatch(y1, level, ans, n)
    lap = None
    if second:
        lap = _collapse(_first(_unbatch(y2, level, ans, n), m, n), collapse)
        if has_lap:
            lap = _plus(lap, _lap_jvp(p, primals, laps, ans, params, mode))
    return jac, lap


def _first_order(p, primals, jacs, laps, ans, params, mode):
    """The JVP rule applied to the rows of J, and to L: all a linear primitive needs.

    (Stacking L under J to make one call would copy both, forward and backward.)"""
    jac = _batched(lambda *t: p.jvp(primals, list(t), ans, params), jacs, _live(jacs), ans, mode.n)
    return jac, (None if laps is None else _lap_jvp(p, primals, laps, ans, params, mode))


def _elementwise(p, primals, i, jacs, laps, ans, params, mode):
    """``f'`` and ``f''`` from one order-2 Taylor pass on a series of ones, then the chain rule."""
    x = primals[i]
    series = [None] * len(primals)
    # a scalar 1, not an array of ones: the rules scale it (series arithmetic broadcasts), so
    # nothing is multiplied by an array of ones; the results are fitted to ans below
    series[i] = [np.ones((), dtype=_dtype_of(x)), None]
    out = _taylor_rule(p)(primals, series, ans, params)
    d1, d2 = (list(out) + [None, None])[:2] if out else (None, None)
    if d1 is None:
        return None, None
    rank = len(ans.shape)
    j = _align(jacs[i], rank)
    jac = _fit_rows(_ops.multiply(d1, j), ans, mode.n)
    if not mode.second:
        return jac, None
    lap = None
    if laps[i] is not None:
        l = laps[i]
        lap = _ops.multiply(d1, _align(l, rank) if not mode.collapse else l)
    if d2 is not None:
        sq = _ops.square(_first(j, mode.m, mode.n))
        if mode.collapse:
            sq = _ops.sum(sq, axis=0)
        lap = _plus(lap, _ops.multiply(d2, sq))
    if lap is not None:
        lap = _fit(lap, ((mode.m,) if not mode.collapse else ()) + tuple(ans.shape), ans.dtype)
    return jac, lap


def _lap_jvp(p, primals, laps, ans, params, mode):
    """``Dp[L]``: the JVP rule on L (batched over its rows when not collapsed)."""
    if mode.collapse:
        t = p.jvp(primals, laps, ans, params)
        return None if t is None else _fit(t, tuple(ans.shape), ans.dtype)
    return _batched(lambda *t: p.jvp(primals, list(t), ans, params), laps, _live(laps), ans, mode.m)


# -- helpers -------------------------------------------------------------------

_rules: dict = {}


def _taylor_rule(p):
    rule = p.taylor
    if callable(rule):
        return rule
    made = _rules.get(p)
    if made is None:
        made = _rules[p] = SHORTCUTS[rule if type(rule) is str else "jvp"](p)
    return made


def _dtype_of(x):
    while type(x) in TRACER_TYPES:
        x = x._value
    dt = np.result_type(x)
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def _first(j, m, n):
    """The first m rows of j (the directions that carry a second derivative)."""
    return j if j is None or m == n else j[:m]


def _live(xs):
    return [i for i, x in enumerate(xs) if x is not None]


def _batched(fn, vals, which, ans, n):
    """``fn`` on the rows of ``vals[i]`` for i in ``which`` (leading axis n), via ``vmap``'s tracer."""
    if not which:
        return None
    level = new_level()
    args = [BatchTracer(v, level) if i in which else v for i, v in enumerate(vals)]
    return _unbatch(fn(*args), level, ans, n)


def _unbatch(out, level, ans, n):
    """A batched result as a ``(n, *ans.shape)`` array of ans's dtype (``None`` stays ``None``)."""
    if out is None:
        return None
    if type(out) is BatchTracer and out._level == level:
        v = out._value
    else:
        v = _ops.broadcast_to(_ops.expand_dims(out, 0), (n,) + tuple(out.shape))
    return _fit(v, (n,) + tuple(ans.shape), ans.dtype)


def _fit(t, shape, dtype):
    if tuple(t.shape) != shape:
        t = _ops.broadcast_to(t, shape)
    if t.dtype != dtype:
        t = _ops.astype(t, dtype)
    return t


def _fit_rows(t, ans, n):
    return _fit(t, (n,) + tuple(ans.shape), ans.dtype)


def _align(j, rank):
    """Rows ``(n, *s)`` reshaped to ``(n, 1, .., 1, *s)`` so they broadcast against rank-``rank`` values."""
    s = tuple(j.shape)
    if len(s) - 1 < rank:
        j = _ops.reshape(j, s[:1] + (1,) * (rank - len(s) + 1) + s[1:])
    return j


def _collapse(s, collapse):
    if s is None or not collapse:
        return s
    return _ops.sum(s, axis=0)


def _plus(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return _ops.add(a, b)


def _times(a, c):
    return None if a is None else _ops.multiply(a, c)


import chainrule._ops as _ops  # noqa: E402
