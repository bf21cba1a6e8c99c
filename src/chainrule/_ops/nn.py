"""Neural-network primitives: ``log_softmax``, fused for speed and stability.

``log_softmax(x) = x - logsumexp(x)`` along one axis.  Written with ``max``,
``exp``, ``sum`` and ``log`` it records eight operations per call and keeps
eight intermediates for the backward pass; as one primitive it records one
and keeps only its output, from which the derivative follows:

    d log_softmax(x) / dx  applied to g  =  g - softmax(x) * sum(g)
    softmax(x) = exp(ans)

The rule is written with chainrule's operations, so it has derivatives of every
order.  ``cross_entropy`` in ``cr.nn.functional`` is built on it.  The function is
not a ``chainrule.numpy`` name (NumPy and SciPy have no ``log_softmax``); it is
exported by ``cr.nn.functional``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind, defprim
from chainrule._ops._wrap import batch_with_axes_shifted, normalize_axis, shape_of
from chainrule._ops.elementwise import exp, multiply, subtract
from chainrule._ops.reductions import sum

#: Not exported by chainrule.numpy (see the module docstring).
__all__: list = []


def _log_softmax_impl(x, axis):
    x = np.asarray(x)
    m = x.max(axis=axis, keepdims=True)  # array methods: no Python-level wrapper per call
    finite = np.isfinite(m)
    if not finite.all():  # a row of -inf (or an inf): no shift there
        m = np.where(finite, m, 0.0)
    shifted = x - m
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _log_softmax_vjp(ans, x, axis):
    softmax = exp(ans)
    return lambda g: subtract(g, multiply(softmax, sum(g, axis=axis, keepdims=True)))


def _log_softmax_jvp(primals, tangents, ans, params):
    (t,) = tangents
    if t is None:
        return None
    return subtract(t, sum(multiply(exp(ans), t), axis=params["axis"], keepdims=True))


log_softmax_p = defprim(
    "log_softmax", _log_softmax_impl, [_log_softmax_vjp], jvp=_log_softmax_jvp,
    formulas=[("g - exp(ans) sum(g)", r"g - e^{\mathrm{ans}} \textstyle\sum g")], uses_ans=True)
log_softmax_p.batch = batch_with_axes_shifted(log_softmax_p)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x, axis, keepdims=True)``: log-probabilities from logits, stable.

    One primitive: its derivative ``g - softmax(x) sum(g)`` is finite for any
    finite input, and it batches under ``vmap``.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import log_softmax
    >>> log_softmax(np.array([1000.0, 1000.0]))
    array([-0.69314718, -0.69314718])
    >>> cr.grad(lambda z: log_softmax(z)[0])(np.array([0.0, 0.0]))
    array([ 0.5, -0.5])
    """
    if type(x) in TRACER_TYPES:
        return bind(log_softmax_p, (x,), {"axis": _axis(axis, x)})
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    return _log_softmax_impl(x, _axis(axis, x))


def _axis(axis, x):
    shape = shape_of(x)
    if not shape:
        raise ValueError("log_softmax: the input is a scalar; it needs at least one axis "
                         "(the classes)")
    return normalize_axis("log_softmax", axis, len(shape))
