"""Names for annotating code that uses chainrule; ``mypy --strict`` reads the package.

- ``Array``: what chainrule's functions return -- a NumPy array outside any
  transform, a traced value (``Traced``: ``cr.Tensor`` and the values inside
  ``grad``, ``jvp``, ``vmap``, ``jit``) inside one.  A 0-d result may be a NumPy
  scalar (``np.float64``), as in NumPy; it acts as a 0-d array.  Annotate a function that
  is transformed with it: ``def loss(w: Array, x: Array) -> Array``.
- ``ArrayLike``: what they accept -- anything NumPy accepts, or a traced value.
- ``Traced``: the class of every traced value (the operators and methods of arrays).
- ``PyTree``: nested tuples, lists and dicts of arrays (a dict of layer
  parameters); ``Any``, as a type checker cannot follow a structure's leaves.
- ``DTypeLike``, ``Shape``: NumPy's dtypes and shapes.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> from chainrule.typing import Array
>>> def loss(w: Array) -> Array:
...     return cnp.sum(w ** 2)
>>> cr.grad(loss)(np.array([1.0, 2.0]))
array([2., 4.])
"""
from __future__ import annotations

from typing import Any, Sequence, Union

import numpy.typing as npt

from chainrule._core.arrayops import ArrayOps as Traced

__all__ = ["Array", "ArrayLike", "Traced", "PyTree", "DTypeLike", "Shape"]

Array = Union[npt.NDArray[Any], Traced]
ArrayLike = Union[npt.ArrayLike, Traced]
PyTree = Any
DTypeLike = Union[npt.DTypeLike, None]
Shape = Union[int, Sequence[int]]
