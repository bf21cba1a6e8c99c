"""Public-function makers: a no-tracer fast path straight to NumPy.

A ``chainrule.numpy`` function first asks whether any argument is a tracer
(``type(x) in TRACER_TYPES``: one hash lookup).  If none is, it calls NumPy
directly, so plain-array code pays a few tens of nanoseconds.  Otherwise the
primitive is bound and the top tracer handles it.
"""
from __future__ import annotations

import numpy as np

from chainrule._core.primitive import SEE_THROUGH, TRACER_TYPES, bind

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
    """The value with no derivative: under every differentiation level (a batch stays a batch)."""
    while type(x) in SEE_THROUGH:
        x = x._value
    return x


def peel(x):
    """The plain array under every tracer, batch axes included.

    For a choice that depends on the values and must hold for every example
    of a ``vmap`` batch at once (a branch taken in Python, a bounds check).
    """
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


# -- vmap rules shared by the families (batch axis first) ------------------------------

def rule_maker(make):
    """Mark ``make(p) -> rule``, so that ``defprim(..., batch=make)`` makes the primitive's rule."""
    make.makes_batch_rule = True
    return make


@rule_maker
def batch_by_broadcasting(p):
    """The vmap rule of a primitive that broadcasts like an elementwise one."""
    def rule(vals, batched, params):
        from chainrule._interpreters.batching import align
        return bind(p, align(vals, batched), params)
    return rule


@rule_maker
def batch_with_axes_shifted(p):
    """The vmap rule of a unary primitive whose ``axis`` param (an int or a tuple) counts from 0."""
    def rule(vals, batched, params):
        ax = params["axis"]
        ax = ax + 1 if isinstance(ax, int) else tuple(a + 1 for a in ax)
        return bind(p, vals, {**params, "axis": ax})
    return rule


def batch_size(vals, batched):
    """The size of the batch axis: the leading axis of any batched value."""
    return next(v.shape[0] for v, b in zip(vals, batched) if b)


def batch_all(vals, batched):
    """Every operand batched: the unbatched ones broadcast along a new leading axis."""
    if all(batched):
        return list(vals)
    from chainrule._ops.shape import broadcast_to
    n = batch_size(vals, batched)
    return [v if b else broadcast_to(v, (n,) + tuple(shape_of(v))) for v, b in zip(vals, batched)]
