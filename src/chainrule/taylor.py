"""Taylor mode: ``cr.jet``, the derivatives of ``f`` along a polynomial path in one pass.

See docs/taylor.md and :mod:`chainrule._interpreters.taylor`.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, new_level
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.taylor import JetTracer
from chainrule.api import _as_input, _callable, _check_outputs, _float_dtype, _raw_dtype, _scalar

__all__ = ["jet"]


def jet(f: Callable[..., Any], primals: Sequence[Any], series: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), [y_1, ..., y_K])``: the derivatives of ``f`` along a path, as ``jax.experimental.jet``.

    ``series[i]`` is the list ``[x_1, ..., x_K]`` of the i-th argument's path
    ``x(t) = x_0 + x_1 t + x_2 t^2/2! + ... + x_K t^K/K!`` (``x_0 = primals[i]``;
    each ``x_k`` has the structure, shapes and dtype of ``primals[i]``, which may be
    a pytree).  The result's ``y_k`` is ``d^k/dt^k f(x(t))`` at ``t = 0``; for a pytree
    output, each leaf of the output's structure holds its list of K coefficients.
    One pass costs about K^2 multiplications per product (K per linear operation),
    where K nested ``cr.jvp`` cost 2^K.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> y, (y1, y2, y3) = cr.jet(cnp.sin, (0.0,), ([1.0, 0.0, 0.0],))
    >>> float(y), float(y1), float(y2), float(y3)      # sin, cos, -sin, -cos at 0
    (0.0, 1.0, 0.0, -1.0)
    """
    _callable(f, "jet")
    if not isinstance(primals, (tuple, list)) or not isinstance(series, (tuple, list)):
        raise TypeError("jet: primals and series must be tuples (one entry per argument of f), "
                        f"got {type(primals).__name__} and {type(series).__name__}")
    if len(series) != len(primals):
        raise ValueError(f"jet: {len(primals)} primals but {len(series)} series; give one list of "
                         f"coefficients per argument of f")
    order = None
    for i, s in enumerate(series):
        if not isinstance(s, (tuple, list)):
            raise TypeError(f"jet: series[{i}] must be a list of coefficients [x_1, ..., x_K], "
                            f"got {type(s).__name__}")
        if order is None:
            order = len(s)
        elif len(s) != order:
            raise ValueError(f"jet: series[{i}] has {len(s)} terms but series[0] has {order}; every "
                             f"argument needs the same number of coefficients K (pad with zeros)")
    order = order or 0
    level = new_level()
    args = []
    for i, (x, s) in enumerate(zip(primals, series)):
        leaves, tree = tree_flatten(x)
        cols = []
        for k, term in enumerate(s):
            t_leaves, t_tree = tree_flatten(term)
            if t_tree != tree:
                raise ValueError(f"jet: series[{i}][{k}] has structure {t_tree} but primals[{i}] has "
                                 f"structure {tree}")
            cols.append(t_leaves)
        tracers = []
        for n, (leaf, path) in enumerate(zip(leaves, tree.paths())):
            what = f"jet: primals[{i}]{path}"
            leaf = _as_input(leaf, what)
            dt = _raw_dtype(leaf)
            shape = tuple(np.shape(leaf)) if type(leaf) not in TRACER_TYPES else tuple(leaf.shape)
            terms = []
            for k, col in enumerate(cols):
                t = col[n]
                t = t if type(t) in TRACER_TYPES else np.asarray(t)
                _as_input(t, f"jet: series[{i}][{k}]{path}")
                if tuple(t.shape) != shape:
                    raise ValueError(f"jet: series[{i}][{k}]{path} has shape {tuple(t.shape)} but its "
                                     f"primal has shape {shape}; each coefficient has its primal's shape")
                if type(t) not in TRACER_TYPES and t.dtype != dt:
                    t = t.astype(dt)
                terms.append(t)
            tracers.append(JetTracer(leaf, terms, level) if order else leaf)
        args.append(tree_unflatten(tree, tracers))
    out = f(*args)
    o_leaves, o_tree = _check_outputs(out, "jet")
    outs, terms = [], []
    for o in o_leaves:
        if type(o) is JetTracer and o._level == level:
            v = o._value
            outs.append(v)
            zero = None
            row = []
            for c in o._series:
                if c is None:
                    zero = np.zeros(v.shape, _float_dtype(v)) if zero is None else zero
                    c = zero
                row.append(_scalar(c))
            terms.append(row)
        else:
            outs.append(o)
            shape = o.shape if hasattr(o, "shape") else np.shape(o)
            terms.append([_scalar(np.zeros(shape, _float_dtype(o))) for _ in range(order)])
    return tree_unflatten(o_tree, outs), tree_unflatten(o_tree, terms)
