"""The primitive table, one module per family, and the functions built on it."""
from chainrule._ops._wrap import raw as _raw
from chainrule._ops.elementwise import (
    abs, absolute, add, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, astype,
    cbrt, ceil, clip, cos, cosh, divide, equal, exp, exp2, expm1, floor, greater,
    greater_equal, hypot, isfinite, isinf, isnan, less, less_equal, log, log1p, log2, log10, logaddexp, logaddexp2,
    maximum, minimum, multiply, negative, not_equal, power, reciprocal, round, sign, sin,
    sinh, sqrt, square, stop_gradient, subtract, tan, tanh, true_divide, trunc, where,
)
from chainrule._ops.creation import *  # noqa: F403
from chainrule._ops import (
    creation as _creation, decompositions as _decompositions, indexing as _indexing, joining as _joining,
    linalg as _linalg, nn as _nn, numeric as _numeric, reductions as _reductions, shape as _shape,
    special as _special, update as _update,
)
from chainrule._ops.indexing import *  # noqa: F403 (each family lists its public names in __all__)
from chainrule._ops.joining import *  # noqa: F403
from chainrule._ops.linalg import *  # noqa: F403
from chainrule._ops.numeric import *  # noqa: F403
from chainrule._ops.special import *  # noqa: F403
from chainrule._ops.update import *  # noqa: F403
from chainrule._ops.reductions import *  # noqa: F403
from chainrule._ops.reductions import sum_to_shape
from chainrule._ops.shape import *  # noqa: F403
from chainrule._ops.shape import _getitem, index_set

#: Everything ``chainrule.numpy`` exports.
PUBLIC = sorted(set(
    _reductions.__all__ + _shape.__all__ + _linalg.__all__ + _creation.__all__ + _joining.__all__
    + _indexing.__all__ + _numeric.__all__ + _special.__all__ + _update.__all__ + """
    abs absolute add arccos arccosh arcsin arcsinh arctan arctan2 arctanh astype cbrt ceil
    clip cos cosh divide equal exp exp2 expm1 floor greater greater_equal hypot isfinite isinf isnan less
    less_equal log log1p log2 log10 logaddexp logaddexp2 maximum minimum multiply negative
    not_equal power reciprocal round sign sin sinh sqrt square subtract tan tanh true_divide
    trunc where""".split()))
__all__ = PUBLIC

#: NumPy ufuncs that tracers accept through ``__array_ufunc__``.
_UFUNCS = {
    "add": add, "subtract": subtract, "multiply": multiply, "divide": divide,
    "true_divide": divide, "power": power, "negative": negative, "exp": exp,
    "log": log, "sqrt": sqrt, "sin": sin, "cos": cos, "tanh": tanh,
    "maximum": maximum, "minimum": minimum, "matmul": matmul,
    "square": square, "reciprocal": reciprocal, "cbrt": cbrt, "exp2": exp2, "expm1": expm1,
    "log2": log2, "log10": log10, "log1p": log1p, "logaddexp": logaddexp,
    "logaddexp2": logaddexp2, "absolute": abs, "tan": tan, "arcsin": arcsin,
    "arccos": arccos, "arctan": arctan, "arctan2": arctan2, "hypot": hypot, "sinh": sinh,
    "cosh": cosh, "arcsinh": arcsinh, "arccosh": arccosh, "arctanh": arctanh,
    "floor": floor, "ceil": ceil, "trunc": trunc, "sign": sign, "rint": round,
    "less": less, "less_equal": less_equal, "greater": greater,
    "greater_equal": greater_equal, "equal": equal, "not_equal": not_equal,
    "isnan": isnan, "isinf": isinf, "isfinite": isfinite,
}


def _install():
    """Hand the core what it needs from this layer (the core never imports it)."""
    import sys

    from chainrule._core import arrayops, primitive
    arrayops.install(sys.modules[__name__])
    primitive.CORE_OPS.update(add=add, zeros_like=zeros_like)


_install()
