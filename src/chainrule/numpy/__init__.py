"""``chainrule.numpy``: NumPy's functions, differentiable.

Outside any transform these return plain NumPy values, so this module is a
drop-in for ``numpy`` in user code; given tracers (``cr.Tensor`` or the
values inside ``cr.grad``/``cr.jvp``) they record or propagate derivatives.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(cnp.array([0.5, 1.0]))
array([0.72686198, 0.63970001])
"""
from chainrule._ops import (  # noqa: F401
    abs, absolute, add, amax, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh,
    array, asarray, astype, broadcast_to, cbrt, ceil, clip, cos, cosh, divide, dot, equal,
    exp, exp2, expm1, floor, greater, greater_equal, hypot, less, less_equal, log, log1p,
    log2, log10, logaddexp, logaddexp2, matmul, max, maximum, mean, minimum, multiply,
    negative, not_equal, ones, ones_like, power, reciprocal, reshape, round, sign, sin, sinh,
    sqrt, square, subtract, sum, swapaxes, tan, tanh, transpose, true_divide, trunc, where,
    zeros, zeros_like,
)
from numpy import e, float32, float64, inf, nan, newaxis, pi  # noqa: F401
