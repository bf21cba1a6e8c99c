"""NumPy functions composed from the primitives: ``median``, ``diff``, ``meshgrid``; and the
array API standard's names for NumPy's functions (NumPy 2 has them too).

None needs a rule of its own: ``median`` sorts (``take_along_axis`` with the
``argsort`` of the values) and averages the middle entries, ``diff`` subtracts
shifted slices, ``meshgrid`` reshapes and broadcasts.  Their derivatives, to
every order and in every transform, are those of the pieces.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["median", "diff", "meshgrid", "matrix_transpose",
           # the array API's names (x.__array_namespace__() is chainrule.numpy), as NumPy 2's
           "concat", "permute_dims", "pow", "asin", "acos", "atan", "atan2", "asinh", "acosh", "atanh"]

import numpy as np

from chainrule._core.primitive import TRACER_TYPES
from chainrule._ops._wrap import dtype_of, ndim_of, normalize_axis, refuse_keywords, shape_of
from chainrule._ops.elementwise import (
    arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, astype, isnan, not_equal, power, subtract, where,
)
from chainrule._ops.indexing import sort
from chainrule._ops.joining import concatenate
from chainrule._ops.reductions import canonical_axis, mean
from chainrule._ops.shape import _getitem, broadcast_to, reshape, swapaxes, transpose

concat, permute_dims, pow = concatenate, transpose, power  # noqa: A001 (the standard's names)
asin, acos, atan, atan2, asinh, acosh, atanh = arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh


def _traced(*xs):
    return any(type(x) in TRACER_TYPES for x in xs)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``numpy.median``, differentiable: the middle entry (the mean of the two middle
    entries for an even count) of the sorted values, so its gradient is 1 there (1/2 each).

    ``axis`` may be a tuple; a NaN makes the median NaN (with no derivative), as in NumPy.
    Tied entries give their gradient to one of the ties (the stable sort's), as JAX's sort.
    ``overwrite_input`` is a hint NumPy may ignore, and so do traced values.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.median(cnp.array([3.0, 1.0, 4.0, 2.0]))
    np.float64(2.5)
    >>> cr.grad(cnp.median)(cnp.array([3.0, 1.0, 4.0, 2.0]))
    array([0.5, 0. , 0. , 0.5])
    """
    if not _traced(a):
        return np.median(a, axis=axis, out=out, overwrite_input=overwrite_input, keepdims=keepdims)
    refuse_keywords("median", out=out)
    if not np.issubdtype(dtype_of(a), np.inexact):
        a = astype(a, np.float64)  # as NumPy: the median of integers is a float
    shape = tuple(shape_of(a))
    axes = canonical_axis("median", axis, shape)
    rest = tuple(i for i in range(len(shape)) if i not in axes)
    x = transpose(a, rest + axes) if rest + axes != tuple(range(len(shape))) else a
    x = reshape(x, tuple(shape[i] for i in rest) + (-1,))  # the reduced axes, flattened last
    n = shape_of(x)[-1]
    s = sort(x, axis=-1)
    m = mean(_getitem(s, (Ellipsis, slice((n - 1) // 2, n // 2 + 1))), axis=-1)
    if n:  # NaNs sort last: the largest entry says whether there is one
        m = where(isnan(_getitem(s, (Ellipsis, -1))), np.nan, m)
    if keepdims:
        m = reshape(m, tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return m


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``numpy.diff``: the ``n``-th differences along ``axis``, differentiable (in ``a``,
    ``prepend`` and ``append``); each is ``a[1:] - a[:-1]`` (``!=`` for booleans, as NumPy).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.diff(cnp.array([1.0, 4.0, 9.0, 16.0]), n=2)
    array([2., 2.])
    >>> cr.grad(lambda x: cnp.sum(cnp.diff(x) ** 2))(cnp.array([1.0, 2.0, 4.0]))
    array([-2., -2.,  4.])
    """
    if not _traced(a, prepend, append):
        return np.diff(a, n=n, axis=axis, prepend=prepend, append=append)
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"diff: order must be non-negative but got {n!r}")
    nd = ndim_of(a)
    if nd == 0:
        raise ValueError("diff: needs an input that is at least one dimensional")
    axis = normalize_axis("diff", axis, nd)
    ends = [v for v in (prepend, append) if v is not np._NoValue]
    if ends:
        end_shape = tuple(1 if i == axis else d for i, d in enumerate(shape_of(a)))
        fit = [broadcast_to(v, end_shape) if ndim_of(v) == 0 else v for v in (prepend, append)]
        a = concatenate(([fit[0]] if prepend is not np._NoValue else []) + [a]
                        + ([fit[1]] if append is not np._NoValue else []), axis=axis)
    before = (slice(None),) * axis
    op = not_equal if dtype_of(a) == np.bool_ else subtract
    for _ in range(n):
        a = op(_getitem(a, before + (slice(1, None),)), _getitem(a, before + (slice(None, -1),)))
    return a


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``numpy.meshgrid``: coordinate arrays from coordinate vectors, differentiable (a tuple,
    as NumPy 2).  ``copy`` has nothing to do for traced values (results are never written).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> X, Y = cnp.meshgrid(cnp.array([1.0, 2.0, 3.0]), cnp.array([10.0, 20.0]))
    >>> X.shape, Y[:, 0]
    ((2, 3), array([10., 20.]))
    >>> cr.grad(lambda x: cnp.sum(cnp.meshgrid(x, cnp.ones(4))[0]))(cnp.array([1.0, 2.0]))
    array([4., 4.])
    """
    if not _traced(*xi):
        return np.meshgrid(*xi, copy=copy, sparse=sparse, indexing=indexing)
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    k = len(xi)
    axes = list(range(k))
    if indexing == "xy" and k > 1:  # the first two axes swap: x varies along columns
        axes[0], axes[1] = 1, 0
    out = [reshape(x, tuple(-1 if j == ax else 1 for j in range(k))) for x, ax in zip(xi, axes)]
    if not sparse:
        full = np.broadcast_shapes(*(tuple(shape_of(o)) for o in out))
        out = [broadcast_to(o, full) for o in out]
    return tuple(out)


def matrix_transpose(x, /):
    """``numpy.matrix_transpose``: the last two axes swapped, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.matrix_transpose(cnp.ones((2, 3, 4))).shape
    (2, 4, 3)
    """
    if not _traced(x):
        return np.matrix_transpose(x)
    if ndim_of(x) < 2:
        raise ValueError(f"matrix_transpose: needs at least 2 dimensions, got shape {tuple(shape_of(x))}")
    return swapaxes(x, -1, -2)
