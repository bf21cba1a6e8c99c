"""Special functions (``chainrule.numpy.special``): logistic, softplus, logsumexp, erf, gamma.

``expit``, ``logit``, ``softplus`` and ``logsumexp`` are evaluated with NumPy
alone, in forms that stay finite for any input (``logsumexp`` subtracts the
maximum; its derivative is the softmax ``exp(x - ans)``, exact at +-1e308).  ``erf``,
``gammaln``, ``digamma`` and ``polygamma`` evaluate with SciPy, imported
only when they are first evaluated, so chainrule itself does not need it.
The derivative of ``gammaln`` is ``digamma`` and that of ``polygamma(n, .)``
is ``polygamma(n + 1, .)``: every derivative is again a primitive, so
derivatives of any order work.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__: list = []
#: The functions of ``chainrule.numpy.special`` (defined in this module).
SPECIAL: list = ["expit", "logit", "softplus", "logsumexp", "erf", "gammaln", "digamma", "polygamma"]

import math

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind, defprim
from chainrule._ops._wrap import peel, raw, shape_of, unary
from chainrule._ops.elementwise import absolute, add, divide, equal, exp, multiply, negative, subtract, where
from chainrule._ops.reductions import _kept_shape, _spread, canonical_axis, sum
from chainrule._ops.reductions import max as _max
from chainrule._ops.shape import broadcast_to


def _scipy_special(name):
    """``scipy.special``, imported on first use, with a clear message when it is missing."""
    try:
        import scipy.special
    except ImportError:
        raise ImportError(f"chainrule.numpy.special.{name} needs SciPy: "
                          f"pip install 'chainrule[special]' (or pip install scipy)") from None
    return scipy.special


# -- logistic, logit, softplus: NumPy only ---------------------------------------------


def _expit_impl(x):
    # expit(x) = exp(-softplus(-x)): no overflow, full relative precision in both tails.
    return np.exp(-np.logaddexp(0.0, np.negative(x)))


# expit' = ans (1 - ans), written ans * expit(-x): 1 - ans would lose every digit for large x.
expit_p = defprim(
    "expit", _expit_impl,
    [lambda ans, x: lambda g: multiply(g, multiply(ans, expit(negative(x))))],
    formulas=[("expit(x) (1 - expit(x))", r"\sigma(x)\,(1-\sigma(x))")], uses_ans=True)


def _logit_impl(x):
    x = np.asarray(x)
    return np.log(x) - np.log1p(-x)


logit_p = defprim(
    "logit", _logit_impl,
    [lambda ans, x: lambda g: divide(g, multiply(x, subtract(1.0, x)))],
    formulas=[("1/(x (1 - x))", r"\frac{1}{x(1-x)}")])


def _softplus_impl(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


softplus_p = defprim(
    "softplus", _softplus_impl,
    [lambda ans, x: lambda g: multiply(g, expit(x))],
    formulas=[("expit(x)", r"\sigma(x)")])

# -- erf, gammaln, digamma, polygamma: SciPy, imported lazily ---------------------------

_TWO_OVER_SQRT_PI = float(2.0 / np.sqrt(np.pi))

erf_p = defprim(
    "erf", lambda x: _scipy_special("erf").erf(x),
    [lambda ans, x: lambda g: multiply(g, multiply(_TWO_OVER_SQRT_PI, exp(negative(multiply(x, x)))))],
    formulas=[("2/sqrt(pi) exp(-x^2)", r"\frac{2}{\sqrt{\pi}}e^{-x^{2}}")])

gammaln_p = defprim(
    "gammaln", lambda x: _scipy_special("gammaln").gammaln(x),
    [lambda ans, x: lambda g: multiply(g, digamma(x))],
    formulas=[("digamma(x)", r"\psi(x)")])


def _polygamma_impl(x, n):
    sc = _scipy_special("digamma" if n == 0 else "polygamma")
    if n == 0:
        return sc.digamma(x)
    out = sc.polygamma(n, x)  # float64 for any x: keep x's float dtype, as the other functions do
    dt = getattr(x, "dtype", None)
    return out.astype(dt) if dt is not None and np.issubdtype(dt, np.floating) and out.dtype != dt else out


polygamma_p = defprim(
    "polygamma", _polygamma_impl,
    [lambda ans, x, n: lambda g: multiply(g, polygamma(n + 1, x))],
    formulas=[("polygamma(n+1, x)", r"\psi^{(n+1)}(x)")])

# -- logsumexp: one primitive, stable, with an optional scale b -------------------------


def _logsumexp_impl(x, b, axis, keepdims):
    x = np.asarray(x)
    if b is not None:
        x = np.broadcast_to(x, np.broadcast_shapes(x.shape, np.shape(b)))
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros(_kept_shape(x.shape, axis), x.dtype)
    m = np.where(np.isfinite(m), m, 0.0)  # all -inf (or an inf) along an axis: no shift
    e = np.exp(x - m)
    if b is not None:
        e = e * b
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(e, axis=axis, keepdims=True)) + m
    out = out if keepdims else np.squeeze(out, axis=axis)
    return out[()] if out.ndim == 0 else out


def _lse_weights(ans, x, b, axis, keepdims):
    """``exp(x - ans)``, the softmax weights, as ``e / sum(b e)`` with ``e = exp(x - max x)``.

    ``ans`` itself would round: at ``x = [1e308, 1e308]`` it is ``1e308`` and ``exp(x - ans)``
    would be 1, not 1/2.  The shift is a constant (the weights do not depend on it), so the
    derivatives of this form are exact too.
    """
    shape = _lse_shape(x, b)
    xr = raw(x)
    if shape_of(xr) != shape:  # b broadcasts x
        xr = broadcast_to(xr, shape)
    m = _max(xr, axis=axis, keepdims=True) if math.prod(shape) else 0.0
    known = peel(m)
    if known is None or not np.all(np.isfinite(known)):  # a slice of -inf (or an inf): no shift there
        m = where(equal(absolute(m), np.inf), 0.0, m)
    e = exp(subtract(x, m))
    return shape, divide(e, sum(e if b is None else multiply(e, b), axis=axis, keepdims=True))


def _lse_shape(x, b):
    return shape_of(x) if b is None else np.broadcast_shapes(shape_of(x), shape_of(b))


def _lse_dx(ans, x, b, axis, keepdims):
    shape, w = _lse_weights(ans, x, b, axis, keepdims)
    if b is not None:
        w = multiply(w, b)
    return lambda g: multiply(_spread(g, shape, axis, keepdims), w)


def _lse_db(ans, x, b, axis, keepdims):
    shape, w = _lse_weights(ans, x, b, axis, keepdims)
    return lambda g: multiply(_spread(g, shape, axis, keepdims), w)


def _lse_jvp(primals, tangents, ans, params):
    (x, b), (tx, tb) = primals, tangents
    axis, keepdims = params["axis"], params["keepdims"]
    _, w = _lse_weights(ans, x, b, axis, keepdims)
    inner = None
    if tx is not None:
        inner = multiply(tx, w if b is None else multiply(w, b))
    if tb is not None:
        c = multiply(tb, w)
        inner = c if inner is None else add(inner, c)
    if inner is None:
        return None
    return sum(inner, axis=axis, keepdims=keepdims)


def _batch_logsumexp(vals, batched, params):
    """``x`` and ``b`` aligned as for broadcasting, the reduced axes shifted past the batch axis."""
    from chainrule._interpreters.batching import align
    return bind(logsumexp_p, align(vals, batched), {**params, "axis": tuple(a + 1 for a in params["axis"])})


logsumexp_p = defprim(
    "logsumexp", _logsumexp_impl, [_lse_dx, _lse_db], jvp=_lse_jvp,
    formulas=[("b exp(x - ans)", r"b\,e^{x-\mathrm{ans}}"), ("exp(x - ans)", r"e^{x-\mathrm{ans}}")],
    uses_ans=True, batch=_batch_logsumexp)

# -- public functions ------------------------------------------------------------------


expit = unary(expit_p, _expit_impl, "expit", """``scipy.special.expit``: the logistic function ``1 / (1 + exp(-x))``, stable for any ``x``.

    Its derivative ``expit(x) (1 - expit(x))`` is finite everywhere.

    >>> import chainrule as cr
    >>> from chainrule._ops.special import expit
    >>> expit(0.0)
    np.float64(0.5)
    >>> cr.grad(expit)(0.0), cr.grad(expit)(1000.0)
    (np.float64(0.25), np.float64(0.0))
    """)


logit = unary(logit_p, _logit_impl, "logit", """``scipy.special.logit``: ``log(x / (1 - x))``, the inverse of ``expit``.

    >>> import chainrule as cr
    >>> from chainrule._ops.special import logit
    >>> logit(0.5)
    np.float64(0.0)
    >>> cr.grad(logit)(0.5)
    np.float64(4.0)
    """)


softplus = unary(softplus_p, _softplus_impl, "softplus", """Softplus ``log(1 + exp(x))``, computed as ``log1p(exp(-|x|)) + max(x, 0)`` (stable).

    Its derivative is ``expit(x)``, finite for any ``x``.

    >>> import chainrule as cr
    >>> from chainrule._ops.special import softplus
    >>> softplus(1000.0)
    np.float64(1000.0)
    >>> cr.grad(softplus)(0.0)
    np.float64(0.5)
    """)


erf = unary(erf_p, lambda x: _scipy_special("erf").erf(x), "erf", """``scipy.special.erf``, the error function (needs SciPy); derivative ``2/sqrt(pi) exp(-x^2)``.

    >>> import chainrule as cr
    >>> from chainrule._ops.special import erf
    >>> erf(0.0)
    np.float64(0.0)
    >>> round(float(cr.grad(erf)(0.0)), 6)
    1.128379
    """)


gammaln = unary(gammaln_p, lambda x: _scipy_special("gammaln").gammaln(x), "gammaln", """``scipy.special.gammaln``: ``log |Gamma(x)|`` (needs SciPy); its derivative is ``digamma(x)``.

    >>> import chainrule as cr
    >>> from chainrule._ops.special import gammaln
    >>> round(float(gammaln(5.0)), 6)  # log(4!)
    3.178054
    >>> round(float(cr.grad(gammaln)(1.0)), 6)  # digamma(1) = -Euler's gamma
    -0.577216
    """)



def polygamma(n, x):
    """``scipy.special.polygamma(n, x)``, the ``n``-th derivative of ``digamma`` (needs SciPy).

    ``n`` is a non-negative integer (not differentiated); the derivative in
    ``x`` is ``polygamma(n + 1, x)``.

    >>> import chainrule as cr
    >>> from chainrule._ops.special import polygamma
    >>> round(float(polygamma(1, 1.0)), 6)  # pi^2 / 6
    1.644934
    >>> round(float(cr.grad(lambda x: polygamma(0, x))(1.0)), 6)
    1.644934
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"polygamma: the order n must be a non-negative integer, got {n}")
    if type(x) in TRACER_TYPES:
        return x._process(polygamma_p, (x,), {"n": n})
    return _polygamma_impl(x, n)


def digamma(x):
    """``scipy.special.digamma``: the derivative of ``gammaln`` (needs SciPy).

    Its derivative is ``polygamma(1, x)``, so ``gammaln`` has second derivatives.

    >>> from chainrule._ops.special import digamma
    >>> round(float(digamma(1.0)), 6)
    -0.577216
    """
    return polygamma(0, x)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``scipy.special.logsumexp``: ``log(sum(b * exp(a)))`` over ``axis``, stable.

    The maximum is subtracted before exponentiating, and the derivative
    ``b * exp(a - logsumexp(a))`` (the softmax) is finite for any inputs.
    ``b`` (optional, broadcast against ``a``) is differentiable too.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule._ops.special import logsumexp
    >>> logsumexp(cnp.array([1000.0, 1000.0]))
    np.float64(1000.6931471805599)
    >>> cr.grad(logsumexp)(cnp.array([1000.0, 1000.0]))
    array([0.5, 0.5])
    >>> logsumexp(cnp.array([[0.0, 0.0], [1.0, 1.0]]), axis=1, keepdims=True)
    array([[0.69314718],
           [1.69314718]])
    """
    if return_sign:
        from chainrule._ops._wrap import refuse_keywords
        refuse_keywords("logsumexp", return_sign=return_sign)
    if type(a) in TRACER_TYPES or type(b) in TRACER_TYPES:
        if type(a) not in TRACER_TYPES:
            a = _float(a)
        ax = canonical_axis("logsumexp", axis, _lse_shape(a, b))
        return bind(logsumexp_p, (a, b), {"axis": ax, "keepdims": bool(keepdims)})
    a = _float(a)
    shape = _lse_shape(a, b)
    return _logsumexp_impl(a, b, canonical_axis("logsumexp", axis, shape), bool(keepdims))


def _float(a):
    a = np.asarray(a)
    return a if np.issubdtype(a.dtype, np.inexact) else a.astype(np.float64)


for _f in (expit, logit, softplus, erf, gammaln, polygamma, digamma, logsumexp):
    _f.__module__ = "chainrule.numpy.special"
del _f
