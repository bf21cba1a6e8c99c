"""Array creation: constants, with no derivative."""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["array", "asarray", "zeros", "ones", "zeros_like", "ones_like"]

import numpy as np

from chainrule._core.primitive import TRACER_TYPES
from chainrule._ops._wrap import dtype_of, shape_of


def array(object, dtype=None, copy=True):  # noqa: A002 (NumPy's name)
    """``numpy.array``; a tracer passes through (cast if ``dtype`` is given).

    >>> import chainrule.numpy as cnp
    >>> cnp.array([1.0, 2.0])
    array([1., 2.])
    """
    if type(object) in TRACER_TYPES:
        from chainrule._ops.elementwise import astype
        return object if dtype is None else astype(object, dtype)
    if isinstance(object, (list, tuple)) and _has_tracer(object):
        raise TypeError("array: building an array from a list of traced values is not supported yet; "
                        "combine them with arithmetic, or compute with whole arrays")
    return np.array(object, dtype=dtype, copy=copy)


def asarray(a, dtype=None):
    """``numpy.asarray``; a tracer passes through (cast if ``dtype`` is given)."""
    return array(a, dtype=dtype, copy=None)


def _has_tracer(seq):
    return any(type(x) in TRACER_TYPES or (isinstance(x, (list, tuple)) and _has_tracer(x)) for x in seq)


def zeros_like(a, dtype=None):
    """A constant array of zeros with ``a``'s shape and dtype."""
    return np.zeros(shape_of(a), dtype or dtype_of(a))


def ones_like(a, dtype=None):
    """A constant array of ones with ``a``'s shape and dtype."""
    return np.ones(shape_of(a), dtype or dtype_of(a))


zeros = np.zeros
ones = np.ones
