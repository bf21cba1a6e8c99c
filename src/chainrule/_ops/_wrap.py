"""Public-function makers: a no-tracer fast path straight to NumPy.

A ``chainrule.numpy`` function first asks whether any argument is a tracer
(``type(x) in TRACER_TYPES``: one hash lookup).  If none is, it calls NumPy
directly, so plain-array code pays a few tens of nanoseconds.  Otherwise the
primitive is bound and the top tracer handles it.
"""
from __future__ import annotations

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind

EMPTY: dict = {}  # shared, never mutated: the params of parameterless primitives


def unary(p, np_fn, name=None, doc=None):
    def f(x):
        if type(x) in TRACER_TYPES:
            return x._process(p, (x,), EMPTY)
        return np_fn(x)

    return _named(f, name or p.name, doc or f"Elementwise ``numpy.{name or p.name}``, differentiable.")


def binary(p, np_fn, name=None, doc=None):
    def f(x, y):
        if type(x) in TRACER_TYPES or type(y) in TRACER_TYPES:
            return bind(p, (x, y), EMPTY)
        return np_fn(x, y)

    return _named(f, name or p.name, doc or f"Elementwise ``numpy.{name or p.name}`` with broadcasting, differentiable.")


def _named(f, name, doc):
    f.__name__ = f.__qualname__ = name
    f.__module__ = "chainrule.numpy"
    f.__doc__ = doc
    return f


def raw(x):
    """The plain NumPy value under every level of tracing (no derivative)."""
    while type(x) in TRACER_TYPES:
        x = x._value
    return x


def shape_of(x):
    return x.shape if hasattr(x, "shape") else np.shape(x)


def ndim_of(x):
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def dtype_of(x):
    dt = getattr(x, "dtype", None)
    return dt if dt is not None else np.result_type(x)


def normalize_axis(fn, axis, ndim):
    """One integer ``axis`` in ``[0, ndim)``, with an error naming the function ``fn``."""
    try:
        ax = int(axis)
    except TypeError:
        raise TypeError(f"{fn}: axis must be an integer or None, got {axis!r}") from None
    if not -ndim <= ax < ndim:
        raise np.exceptions.AxisError(
            f"{fn}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return ax % ndim
