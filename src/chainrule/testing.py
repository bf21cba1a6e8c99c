"""Testing utilities: derivatives checked against central finite differences.

``check_grads`` checks every derivative of ``f`` up to ``order`` in each
mode, recursively (forward of forward, reverse of forward, forward of
reverse, ...), as JAX's ``check_grads`` and autograd's ``check_grads`` do:

* forward mode: ``jvp(f, x, t)`` against ``(f(x + εt) - f(x - εt)) / 2ε``
  for a random direction ``t``;
* reverse mode: ``vjp(f, x)(c)`` against the numerical gradient of
  ``<c, f(x)>`` for a random cotangent ``c`` (element by element for small
  inputs, as the inner product ``<vjp(c), t>`` vs ``<c, jvp(t)>`` for large).

The numerical side is computed in float64 whatever the input dtype.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule.api import jvp, vjp

__all__ = ["check_grads"]

_SMALL = 64  # inputs up to this many elements get an element-by-element VJP check


def check_grads(f: Callable[..., Any], args: Sequence[Any], order: int = 2, modes: Sequence[str] = ("fwd", "rev"),
                eps: float | None = None, rtol: float | None = None, atol: float | None = None) -> None:
    """Check every derivative of ``f`` at ``args`` up to ``order`` in each of ``modes``.

    Raises ``AssertionError`` naming the derivative (e.g. ``rev of fwd``) and
    the worst element on a mismatch.

    >>> import chainrule.numpy as cnp
    >>> from chainrule.testing import check_grads
    >>> check_grads(lambda x, y: cnp.sin(x) * y, (cnp.array([0.3, 1.2]), 2.0), order=2)
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")
    leaves, tree = tree_flatten(args)
    leaves = [_float_array(x, k) for k, x in enumerate(leaves)]
    single = any(x.dtype == np.float32 for x in leaves)
    eps = eps if eps is not None else (1e-3 if single else 1e-6)
    rtol = rtol if rtol is not None else (2e-3 if single else 1e-5)
    atol = atol if atol is not None else rtol
    flat_f = _flatten_fun(f, tree)
    rng = np.random.default_rng(0)
    _check(flat_f, leaves, order, modes, eps, rtol, atol, rng, "")


def _float_array(x, k):
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"check_grads: argument leaf {k} has dtype {a.dtype}; pass float arrays")
    return a


def _flatten_fun(f, tree):
    def flat_f(*leaves):
        out = f(*tree_unflatten(tree, list(leaves)))
        return tuple(tree_flatten(out)[0])
    return flat_f


def _check(f, args, order, modes, eps, rtol, atol, rng, path):
    n = len(args)
    if "fwd" in modes:
        where = f"fwd{path}"
        tangents = [_rand_like(rng, x) for x in args]
        out, t_out = jvp(f, tuple(args), tuple(tangents))
        _assert_close(out, f(*args), rtol, atol, f"{where}: the primal output of jvp")
        _assert_close(t_out, _numerical_jvp(f, args, tangents, eps), rtol, atol, f"{where}: jvp")
        if order > 1:
            def f_jvp(*pt):
                return jvp(f, tuple(pt[:n]), tuple(pt[n:]))[1]
            _check(f_jvp, list(args) + tangents, order - 1, modes, eps, rtol, atol, rng, f" of fwd{path}")
    if "rev" in modes:
        where = f"rev{path}"
        out, pull = vjp(f, *args)
        cts = [_rand_like(rng, np.asarray(o)) for o in out]
        ct_in = pull(tuple(cts))
        _check_vjp(f, args, cts, ct_in, eps, rtol, atol, rng, where)
        if order > 1:
            def f_vjp(*xs):
                return vjp(f, *xs)[1](tuple(cts))
            _check(f_vjp, args, order - 1, modes, eps, rtol, atol, rng, f" of rev{path}")


def _check_vjp(f, args, cts, ct_in, eps, rtol, atol, rng, where):
    def inner(*xs):
        return sum(np.sum(np.asarray(o, np.float64) * c) for o, c in zip(f(*xs), cts))

    if sum(np.size(x) for x in args) <= _SMALL:
        expected = []
        for k, x in enumerate(args):
            g = np.zeros(np.shape(x))
            for idx in np.ndindex(*np.shape(x)):
                e = np.zeros(np.shape(x))
                e[idx] = 1.0
                g[idx] = _central(inner, args, k, e, eps)
            expected.append(g)
        _assert_close(tuple(ct_in), tuple(expected), rtol, atol, f"{where}: vjp")
    else:
        tangents = [_rand_like(rng, x) for x in args]
        t_out = _numerical_jvp(f, args, tangents, eps)
        lhs = sum(np.sum(np.asarray(c, np.float64) * t) for c, t in zip(ct_in, tangents))
        rhs = sum(np.sum(np.asarray(t, np.float64) * c) for t, c in zip(t_out, cts))
        _assert_close(lhs, rhs, rtol, atol, f"{where}: <vjp(c), t> vs <c, jvp(t)>")


def _central(fun, args, k, direction, eps):
    plus = [np.asarray(x, np.float64) for x in args]
    minus = list(plus)
    plus[k] = plus[k] + eps * direction
    minus[k] = minus[k] - eps * direction
    return (fun(*plus) - fun(*minus)) / (2 * eps)


def _numerical_jvp(f, args, tangents, eps):
    plus = [np.asarray(x, np.float64) + eps * t for x, t in zip(args, tangents)]
    minus = [np.asarray(x, np.float64) - eps * t for x, t in zip(args, tangents)]
    return tuple((np.asarray(a, np.float64) - np.asarray(b, np.float64)) / (2 * eps)
                 for a, b in zip(f(*plus), f(*minus)))


def _rand_like(rng, x):
    return rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype if np.issubdtype(
        np.asarray(x).dtype, np.floating) else np.float64)


def _assert_close(actual, expected, rtol, atol, what):
    a_leaves = tree_flatten(actual)[0]
    e_leaves = tree_flatten(expected)[0]
    if len(a_leaves) != len(e_leaves):
        raise AssertionError(f"{what}: {len(a_leaves)} results, expected {len(e_leaves)}")
    for k, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a = np.asarray(a, np.float64)
        e = np.asarray(e, np.float64)
        if a.shape != e.shape:
            raise AssertionError(f"{what}: result {k} has shape {a.shape}, expected {e.shape}")
        excess = np.abs(a - e) - (atol + rtol * np.abs(e))
        bad = ~(excess <= 0)  # NaN counts as a mismatch unless both are NaN/inf alike
        bad &= ~((a == e) | (np.isnan(a) & np.isnan(e)))
        if np.any(bad):
            i = np.unravel_index(np.nanargmax(np.where(bad, np.nan_to_num(excess, nan=np.inf), -np.inf)), a.shape)
            raise AssertionError(
                f"{what} mismatch in result {k} at index {tuple(int(j) for j in i)}: got {a[i]!r}, "
                f"expected {e[i]!r} (|diff| {abs(a[i] - e[i]):.3g}, tolerance {atol + rtol * abs(e[i]):.3g}; "
                f"{int(bad.sum())} of {a.size} elements differ)")
