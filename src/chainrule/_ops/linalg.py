"""Matrix products: ``matmul`` (the primitive) and ``dot`` (built on it).

``matmul`` follows NumPy: 1-D operands are promoted to a row (left) or a
column (right) and the added axis removed again; leading axes broadcast.  Its
VJP rules undo the promotion; the reverse engine sums away broadcast batch
axes.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["matmul", "dot"]
#: The functions of ``chainrule.numpy.linalg`` (defined in this module too).
LINALG: list = []

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind, defprim
from chainrule._ops._wrap import EMPTY, ndim_of, shape_of
from chainrule._ops.elementwise import multiply
from chainrule._ops.shape import reshape, swapaxes, transpose


def _matmul_dx(ans, x, y):
    xn, yn = x.ndim, y.ndim
    if yn == 1:  # ans = x @ y has shape x.shape[:-1]
        return lambda g: multiply(reshape(g, g.shape + (1,)), y)
    if xn == 1:  # ans has shape y.shape[:-2] + y.shape[-1:]
        return lambda g: reshape(matmul(reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]),
                                        swapaxes(y, -1, -2)), g.shape[:-1] + (x.shape[0],))
    return lambda g: matmul(g, swapaxes(y, -1, -2))


def _matmul_dy(ans, x, y):
    xn, yn = x.ndim, y.ndim
    if xn == 1:  # ans has shape y.shape[:-2] + y.shape[-1:]
        if yn == 1:
            return lambda g: multiply(g, x)
        return lambda g: multiply(reshape(x, (x.shape[0], 1)), reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]))
    if yn == 1:  # ans has shape x.shape[:-1]
        return lambda g: reshape(matmul(swapaxes(x, -1, -2), reshape(g, g.shape + (1,))), g.shape[:-1] + (y.shape[0],))
    return lambda g: matmul(swapaxes(x, -1, -2), g)


matmul_p = defprim(
    "matmul", np.matmul, [_matmul_dx, _matmul_dy], jvp="bilinear",
    formulas=[("g @ y.T", r"\bar g\, y^{\top}"), ("x.T @ g", r"x^{\top} \bar g")])


def matmul(x, y):
    """``numpy.matmul`` (the ``@`` operator), differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> W = cnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.grad(lambda v: (W @ v).sum())(cnp.array([1.0, 1.0]))
    array([4., 6.])
    """
    if type(x) in TRACER_TYPES or type(y) in TRACER_TYPES:
        x = x if type(x) in TRACER_TYPES else np.asarray(x)
        y = y if type(y) in TRACER_TYPES else np.asarray(y)
        xs, ys = x.shape, y.shape
        if not xs or not ys:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {xs} and {ys}; use multiply for scalars")
        inner_x = xs[-1]
        inner_y = ys[-2] if len(ys) > 1 else ys[0]
        if inner_x != inner_y:
            raise ValueError(f"matmul: shapes {xs} and {ys} do not align: {inner_x} (last axis of the first) "
                             f"!= {inner_y} ({'second-last' if len(ys) > 1 else 'only'} axis of the second)")
        return bind(matmul_p, (x, y), EMPTY)
    return np.matmul(x, y)


def dot(a, b):
    """``numpy.dot``: products of scalars, vectors, matrices and N-D arrays, differentiable.

    For N-D ``a`` and ``b`` it sums over the last axis of ``a`` and the
    second-to-last of ``b``, as NumPy does.

    >>> import chainrule.numpy as cnp
    >>> cnp.dot(cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0]))
    np.float64(11.0)
    """
    if not (type(a) in TRACER_TYPES or type(b) in TRACER_TYPES):
        return np.dot(a, b)
    an, bn = ndim_of(a), ndim_of(b)
    if an == 0 or bn == 0:
        return multiply(a, b)
    if bn <= 2:
        return matmul(a, b)
    # N-D: contract a's last axis with b's second-to-last; b's other axes follow a's.
    bs = shape_of(b)
    perm = (bn - 2,) + tuple(i for i in range(bn) if i != bn - 2)
    b2 = reshape(transpose(b, perm), (bs[-2], -1))
    out = matmul(a, b2)
    return reshape(out, shape_of(a)[:-1] + bs[:-2] + bs[-1:])
