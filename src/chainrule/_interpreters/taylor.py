"""Taylor mode (``cr.jet``): a ``JetTracer`` carries a primal and K series coefficients.

The coefficients follow ``jax.experimental.jet``: they are *derivatives* along a
path, ``x(t) = x_0 + x_1 t + x_2 t^2/2! + ... + x_K t^K/K!``, and the output's
coefficients are the derivatives ``d^k/dt^k f(x(t))`` at ``t = 0``.  A missing
coefficient is ``None``, a symbolic zero; an input without series (a constant)
has ``series`` ``None``.

For each primitive the tracer binds the primitive on the primals (one level
down) and asks the primitive's ``taylor`` rule for the output coefficients.  A
rule is a function ``(primals, series, ans, params) -> [y_1, ..., y_K]`` or one
of the shortcuts of :data:`SHORTCUTS`:

``"linear"``
    the primitive is affine, or piecewise affine (``abs``, ``maximum``, ``max``),
    in its differentiable inputs: ``y_k`` is its JVP rule applied to the inputs'
    ``k``-th coefficients.
``"bilinear"``, ``"multilinear"``
    Leibniz's rule, ``(xy)_k = sum_j C(k, j) f(x_j, y_{k-j})`` (``multiply``,
    ``matmul``, ``einsum``).
``"jvp"``
    derived from the JVP rule: along the path ``y'(t) = jvp(x(t), x'(t), y(t))``,
    and the series of ``x'`` is that of ``x`` shifted by one, so running the JVP
    rule under a jet of order ``K - 1`` gives ``y_1 ... y_K``.  A rule that reads
    ``ans`` (``exp``: ``y' = y x'``) is run K times with growing order, each run
    fixing one more coefficient: the recurrences JAX writes by hand for each
    function come out of the one JVP table.

Rules are written with chainrule's own operations, so a jet composes with
``grad``, ``vmap`` and ``jit`` like any other computation.
"""
from __future__ import annotations

from math import comb

from chainrule._core.arrayops import ArrayOps
from chainrule._core.primitive import SEE_THROUGH, TRACER_TYPES, bind, new_level
from chainrule._interpreters.jvp import _fit  # a coefficient fitted to the output, as a tangent is

__all__ = ["JetTracer", "SHORTCUTS", "jet_call", "order_of"]


class JetTracer(ArrayOps):
    __slots__ = ("_value", "_series", "_level")
    _differentiates = True
    _no_complex = True

    def __init__(self, primal, series, level):
        self._value = primal
        self._series = series   # K coefficients, None entries are zeros
        self._level = level

    def __array__(self, dtype=None, copy=None):
        raise TypeError("converting a value traced by Taylor mode (cr.jet) to a NumPy array would drop "
                        "its series; use chainrule.numpy functions (cnp.asarray passes it through)")

    def _process(self, p, args, params):
        level = self._level
        primals = []
        series = []
        for a in args:
            if type(a) is JetTracer and a._level == level:
                primals.append(a._value)
                series.append(a._series)
            else:
                primals.append(a)
                series.append(None)
        ans = bind(p, primals, params)
        rule = p.taylor
        if rule is None:
            return ans
        if type(rule) is str:
            rule = _resolved.get(p)
            if rule is None:
                rule = _resolved[p] = SHORTCUTS[p.taylor](p)
        out = rule(primals, series, ans, params)
        if out is None or all(c is None for c in out):
            return ans
        return JetTracer(ans, [None if c is None else _fit(c, ans) for c in out], level)

    def __repr__(self):
        return f"JetTracer(level={self._level}, primal={self._value!r}, series={self._series!r})"


TRACER_TYPES.add(JetTracer)
SEE_THROUGH.add(JetTracer)


def order_of(series):
    """K, the number of coefficients of the inputs that have a series."""
    for s in series:
        if s is not None:
            return len(s)
    return 0


def jet_call(fn, primals, series, order):
    """``fn(*primals)`` and its K coefficients under a fresh level (``None``: zero).

    ``series[i]`` is ``None`` for a constant input.  The building block of
    ``cr.jet`` and of the ``"jvp"`` shortcut; no checks.
    """
    if order == 0:
        return fn(*primals), []
    level = new_level()
    args = [x if s is None else JetTracer(x, list(s), level) for x, s in zip(primals, series)]
    out = fn(*args)
    if type(out) is JetTracer and out._level == level:
        return out._value, out._series
    return out, [None] * order


# -- shortcuts -----------------------------------------------------------------

def _linear(p):
    jvp = p.jvp

    def rule(primals, series, ans, params):
        K = order_of(series)
        return [jvp(primals, [None if s is None else s[k] for s in series], ans, params) for k in range(K)]

    return rule


def _multilinear(p):
    """Generalized Leibniz: the sum over splits of k among the inputs with series."""

    def rule(primals, series, ans, params):
        K = order_of(series)
        live = [i for i, s in enumerate(series) if s is not None]
        full = [None if s is None else [x] + list(s) for x, s in zip(primals, series)]
        out = []
        for k in range(1, K + 1):
            acc = None
            for split in _splits(k, len(live)):
                ops = list(primals)
                weight, rest, skip = 1, k, False
                for i, j in zip(live, split):
                    c = full[i][j]
                    if c is None:
                        skip = True
                        break
                    ops[i] = c
                    weight *= comb(rest, j)
                    rest -= j
                if skip:
                    continue
                c = bind(p, ops, params)
                if weight != 1:
                    c = _ops.multiply(c, float(weight))
                acc = c if acc is None else _ops.add(acc, c)
            out.append(acc)
        return out

    return rule


def _splits(k, n):
    """Every way of writing k as an ordered sum of n non-negative integers."""
    if n == 1:
        yield (k,)
        return
    for j in range(k + 1):
        for rest in _splits(k - j, n - 1):
            yield (j,) + rest


def _from_jvp(p):
    """``y_1 .. y_K`` from the JVP rule run under a jet of order K - 1 (K runs if it reads ``ans``)."""
    jvp = p.jvp
    rereads = p.uses_ans or not p.elementwise   # a custom JVP rule may read ans

    def rule(primals, series, ans, params):
        K = order_of(series)
        if all(s is None or all(c is None for c in s) for s in series):
            return None
        n = len(primals)
        live = [i for i, s in enumerate(series) if s is not None]
        tangents0 = [None] * n
        for i in live:
            s = series[i]
            tangents0[i] = s[0] if s[0] is not None else _ops.zeros_like(primals[i])

        def run(m, ys):
            # y' along the path, to order m: inputs x (coefficients 0..m-1 of x's series), x' and ans
            ser = [None] * (2 * n + 1)
            for i in live:
                ser[i] = series[i][:m]
                ser[n + i] = series[i][1:m + 1]
            ser[2 * n] = ys[:m] if rereads else None

            def f(*a):
                return jvp(list(a[:n]), list(a[n:2 * n]), a[2 * n], params)

            z0, zs = jet_call(f, list(primals) + tangents0 + [ans], ser, m)
            return [z0] + list(zs)

        if not rereads:
            return run(K - 1, [None] * K)
        ys = []
        for k in range(1, K + 1):
            ys.append(run(k - 1, ys)[k - 1])
        return ys

    return rule


_resolved: dict = {}   # primitive -> its shortcut's rule, made once

#: Shortcut name -> maker of the rule from the primitive.
SHORTCUTS = {"linear": _linear, "bilinear": _multilinear, "multilinear": _multilinear, "jvp": _from_jvp}


import chainrule._ops as _ops  # noqa: E402
