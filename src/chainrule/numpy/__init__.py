"""``chainrule.numpy``: NumPy's functions, differentiable.

Outside any transform these return plain NumPy values, so this module is a
drop-in for ``numpy`` in user code; given tracers (``cr.Tensor`` or the
values inside ``cr.grad``/``cr.jvp``) they record or propagate derivatives.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(cnp.array([0.5, 1.0]))
array([0.72686198, 0.63970001])
"""
from chainrule._ops import PUBLIC as _PUBLIC
from chainrule._ops import *  # noqa: F401,F403
from chainrule.numpy import linalg, special  # noqa: F401,E402

__all__ = [*_PUBLIC, "linalg", "special"]
from numpy import e, float32, float64, inf, nan, newaxis, pi  # noqa: F401

from chainrule._core import arrayops as _arrayops  # noqa: E402

_arrayops.install(None, {"numpy": __import__(__name__, fromlist=["linalg"]), "numpy.linalg": linalg})
