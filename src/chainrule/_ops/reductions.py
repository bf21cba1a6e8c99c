"""Reductions over axes: ``sum``, ``mean``, ``max``/``amax``.

The public functions canonicalise ``axis`` to a sorted tuple of non-negative
ints before binding, so every rule sees one form.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["sum", "mean", "max", "amax"]

import builtins

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, defprim
from chainrule._ops._wrap import raw
from chainrule._ops.elementwise import multiply
from chainrule._ops.shape import broadcast_to, reshape


def canonical_axis(op, axis, shape):
    """``axis`` as a sorted tuple of non-negative ints, with NumPy's checks."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise np.exceptions.AxisError(
                f"{op}: axis {a} is out of bounds for an array of shape {tuple(shape)} "
                f"(ndim {ndim}); pass an axis in [{-ndim}, {ndim - 1}] or None")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r} for shape {tuple(shape)}")
    return tuple(sorted(out))


def _kept_shape(shape, axis):
    return tuple(1 if i in axis else d for i, d in enumerate(shape))


def _spread(g, shape, axis, keepdims):
    """A reduction's cotangent spread back over the reduced axes."""
    if not keepdims:
        g = reshape(g, _kept_shape(shape, axis))
    return broadcast_to(g, shape)


def _count(shape, axis):
    return int(np.prod([shape[i] for i in axis], dtype=np.int64))


sum_p = defprim(
    "sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    [lambda ans, x, axis, keepdims: lambda g: _spread(g, x.shape, axis, keepdims)],
    jvp="linear", formulas=[("1", "1")])

mean_p = defprim(
    "mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    [lambda ans, x, axis, keepdims: lambda g: _spread(
        multiply(g, 1.0 / (_count(x.shape, axis) or 1)), x.shape, axis, keepdims)],
    jvp="linear", formulas=[("1/n", r"\frac{1}{n}")])


def _max_weights(ans, x, axis, keepdims):
    # Ties share the gradient evenly (JAX's convention): w = [x == max] / count.
    xr, ar = raw(x), raw(ans)
    hit = xr == (ar if keepdims else np.reshape(ar, _kept_shape(xr.shape, axis)))
    return (hit / np.sum(hit, axis=axis, keepdims=True)).astype(xr.dtype, copy=False)


def _max_vjp(ans, x, axis, keepdims):
    w = _max_weights(ans, x, axis, keepdims)
    return lambda g: multiply(_spread(g, x.shape, axis, keepdims), w)


def _max_jvp(primals, tangents, ans, params):
    (x,), (t,) = primals, tangents
    w = _max_weights(ans, x, **params)
    return sum(multiply(t, w), **params)


max_p = defprim(
    "max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    [_max_vjp], jvp=_max_jvp,
    formulas=[("[x == max] / #ties", r"\frac{[x=\max]}{\#\text{ties}}")])


def _reduction(p, np_fn, name, what):
    def f(a, axis=None, keepdims=False):
        if type(a) in TRACER_TYPES:
            return a._process(p, (a,), {"axis": canonical_axis(name, axis, a.shape), "keepdims": bool(keepdims)})
        return np_fn(a, axis=axis, keepdims=keepdims)

    f.__name__ = f.__qualname__ = name
    f.__module__ = "chainrule.numpy"
    f.__doc__ = (f"``numpy.{name}(a, axis=None, keepdims=False)``: the {what} over ``axis``, differentiable.\n\n"
                 f"    >>> import chainrule.numpy as cnp\n"
                 f"    >>> cnp.{name}(cnp.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)\n"
                 f"    {np_fn(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)!r}\n")
    return f


sum = _reduction(sum_p, np.sum, "sum", "sum")  # noqa: A001 (NumPy's name)
mean = _reduction(mean_p, np.mean, "mean", "mean")
max = _reduction(max_p, np.max, "max", "maximum; ties share the gradient evenly")  # noqa: A001
amax = max


def sum_to_shape(g, shape):
    """Sum ``g`` down to ``shape``: the inverse of NumPy broadcasting.

    This is the one place where broadcasting is undone; the reverse engine
    calls it on every cotangent whose shape differs from its input's.
    """
    gshape = g.shape
    lead = len(gshape) - len(shape)
    ones = tuple(lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1)
    if lead:  # summing the leading axes away leaves the shape right (a bias gradient)
        g = sum(g, axis=tuple(range(lead)))
        ones = tuple(a - lead for a in ones)
    if ones:
        g = sum(g, axis=ones, keepdims=True)
    return g
