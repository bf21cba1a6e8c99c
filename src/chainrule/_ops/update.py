"""Functional index updates: ``cnp.at(x)[idx].set(v)`` and ``.add(v)`` (JAX's ``x.at[idx]``).

Both return a new array and differentiate in ``x`` and ``v``.  ``set`` is the
``index_set`` primitive (where an index repeats a position, the last write is
kept, as in NumPy, and only it gets a derivative); ``add`` scatters ``v`` with accumulation, so repeated
integer indices add up, as ``np.add.at`` does.
"""
from __future__ import annotations

import numpy as np

from chainrule._ops._wrap import shape_of
from chainrule._ops.elementwise import add as _add
from chainrule._ops.gather import indexed_shape
from chainrule._ops.shape import _scatter_add, broadcast_to, canonical_index, index_set

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["at"]


class at:  # noqa: N801 (reads as cnp.at(x)[idx])
    """``cnp.at(x)[idx].set(v)`` / ``.add(v)``: ``x`` with ``x[idx]`` replaced / incremented.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> x = cnp.array([1.0, 2.0, 3.0])
    >>> cnp.at(x)[1].set(10.0)
    array([ 1., 10.,  3.])
    >>> cnp.at(x)[[0, 0]].add(1.0)           # repeated indices accumulate
    array([3., 2., 3.])
    >>> cr.grad(lambda v: cnp.at(x)[1:].set(v).sum())(5.0)   # v lands in two places
    np.float64(2.0)
    >>> cr.grad(lambda v: cnp.at(x)[[2, 2]].set(v).sum())(cnp.array([5.0, 6.0]))  # last write kept
    array([0., 1.])
    """

    __slots__ = ("_x",)

    def __init__(self, x):
        self._x = x

    def __getitem__(self, idx):
        return _At(self._x, canonical_index(idx))


class _At:
    __slots__ = ("_x", "_idx")

    def __init__(self, x, idx):
        self._x = x
        self._idx = idx

    def _target_shape(self):
        return indexed_shape(shape_of(self._x), self._idx)

    def set(self, v):
        """A copy of ``x`` with ``x[idx] = v`` (``v`` broadcast to ``x[idx]``)."""
        return index_set(self._x, _broadcast(v, self._target_shape()), self._idx)

    def add(self, v):
        """A copy of ``x`` with ``v`` added at ``idx``; repeated indices accumulate."""
        v = _broadcast(v, self._target_shape())
        return _add(self._x, _scatter_add(v, self._idx, shape_of(self._x)))


def _broadcast(v, shape):
    if shape_of(v) == shape:
        return v
    try:
        np.broadcast_shapes(shape_of(v), shape)
    except ValueError:
        raise ValueError(f"at: a value of shape {shape_of(v)} cannot be broadcast to the "
                         f"indexed shape {shape}") from None
    return broadcast_to(v, shape)
