"""Series arithmetic for the Taylor rules (``taylor=`` of ``defprim``; see ``cr.jet``).

A *full series* is a list ``[x_0, x_1, ..., x_K]``: the primal then the derivative
coefficients of ``jax.experimental.jet``'s convention (``x(t) = sum_k x_k t^k / k!``), ``None``
standing for zero.  Written with chainrule's own operations, so the rules built on them
differentiate, batch and compile like any other computation.
"""
from __future__ import annotations

from math import comb

__all__ = ["order", "full", "leibniz", "chain", "over", "sub", "neg"]


def order(series):
    """K, the number of coefficients of the inputs that have a series."""
    return next(len(s) for s in series if s is not None)


def full(x, s, K):
    """The full series of an input: its primal, then its K coefficients (``None`` for a constant)."""
    return [x] + (list(s) if s is not None else [None] * K)


def _acc(out, c):
    return c if out is None else _E.add(out, c)


def leibniz(a, b, k, lo=0, hi=None):
    """``sum_{lo <= j <= hi} C(k, j) a_j b_{k-j}`` (``hi`` defaults to k): the k-th coefficient
    of the product ``a b`` when the whole range is taken."""
    out = None
    for j in range(lo, k + 1 if hi is None else hi + 1):
        if a[j] is None or b[k - j] is None:
            continue
        c = _E.multiply(a[j], b[k - j])
        if 0 < j < k:
            c = _E.multiply(c, float(comb(k, j)))
        out = _acc(out, c)
    return out


def chain(d, x, k, lo=0):
    """``sum_{lo <= j < k} C(k-1, j) d_j x_{k-j}``: from ``lo = 0``, the k-th coefficient of
    ``y`` where ``y' = d x'`` (the chain rule along the path)."""
    out = None
    for j in range(lo, k):
        if d[j] is None or x[k - j] is None:
            continue
        c = _E.multiply(d[j], x[k - j])
        if 0 < j < k - 1:
            c = _E.multiply(c, float(comb(k - 1, j)))
        out = _acc(out, c)
    return out


def over(a, b):
    """``a / b`` with ``None`` for zero."""
    return None if a is None else _E.divide(a, b)


def neg(a):
    """``-a`` with ``None`` for zero."""
    return None if a is None else _E.negative(a)


def sub(a, b):
    """``a - b`` with ``None`` for zero."""
    if b is None:
        return a
    return _E.negative(b) if a is None else _E.subtract(a, b)


from chainrule._ops import elementwise as _E  # noqa: E402  (the operations, bound at call time)
