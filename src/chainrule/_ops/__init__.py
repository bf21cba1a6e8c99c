"""The primitive table, one module per family, and the functions built on it."""
from chainrule._ops._wrap import raw as _raw
from chainrule._ops.elementwise import (
    add, astype, cos, divide, equal, exp, greater, greater_equal, less, less_equal, log,
    maximum, minimum, multiply, negative, not_equal, power, sin, sqrt, stop_gradient,
    subtract, tanh, true_divide, where,
)
from chainrule._ops.creation import array, asarray, ones, ones_like, zeros, zeros_like
from chainrule._ops.linalg import dot, matmul
from chainrule._ops.reductions import amax, max, mean, sum, sum_to_shape
from chainrule._ops.shape import (
    _getitem, broadcast_to, index_set, reshape, swapaxes, transpose,
)

#: NumPy ufuncs that tracers accept through ``__array_ufunc__``.
_UFUNCS = {
    "add": add, "subtract": subtract, "multiply": multiply, "divide": divide,
    "true_divide": divide, "power": power, "negative": negative, "exp": exp,
    "log": log, "sqrt": sqrt, "sin": sin, "cos": cos, "tanh": tanh,
    "maximum": maximum, "minimum": minimum, "matmul": matmul,
    "less": less, "less_equal": less_equal, "greater": greater,
    "greater_equal": greater_equal, "equal": equal, "not_equal": not_equal,
}
