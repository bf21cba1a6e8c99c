"""Shape and indexing primitives: reshape, transpose, broadcast, index, scatter.

All are linear, so their JVPs are the primitive applied to the tangent.
``broadcast_to``'s VJP is the identity: the reverse engine sums the cotangent
back to the input's recorded shape, as it does for every broadcasting op.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["reshape", "transpose", "swapaxes", "broadcast_to"]

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind, defprim
from chainrule._ops._wrap import raw


def _inverse_perm(axes):
    return tuple(np.argsort(axes))


reshape_p = defprim(
    "reshape", lambda x, shape: np.reshape(x, shape),
    [lambda ans, x, shape: lambda g: reshape(g, x.shape)],
    jvp="linear", view=True, formulas=[("reshape(g, x.shape)", r"\operatorname{reshape}(\bar g)")])

transpose_p = defprim(
    "transpose", lambda x, axes: np.transpose(x, axes),
    [lambda ans, x, axes: lambda g: transpose(g, _inverse_perm(axes))],
    jvp="linear", view=True, formulas=[("transpose(g)", r"\bar g^{\top}")])

broadcast_to_p = defprim(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    [lambda ans, x, shape: lambda g: g],
    jvp="linear", view=True, formulas=[("sum of g over broadcast axes", r"\textstyle\sum \bar g")])

getitem_p = defprim(
    "getitem", lambda x, idx: x[idx],
    [lambda ans, x, idx: lambda g: _scatter_add(g, idx, x.shape)],
    jvp="linear", view=True, formulas=[("g scattered to x[idx]", r"\bar g \text{ at } [\mathrm{idx}]")])


def _scatter_add_impl(g, idx, shape):
    out = np.zeros(shape, dtype=np.result_type(g))
    if _is_basic(idx):
        out[idx] = g
    else:  # repeated integer indices accumulate
        np.add.at(out, idx, g)
    return out


scatter_add_p = defprim(
    "scatter_add", _scatter_add_impl,
    [lambda ans, g, idx, shape: lambda h: _getitem(h, idx)],
    jvp="linear", formulas=[("h[idx]", r"\bar h[\mathrm{idx}]")])


def _index_set_impl(x, v, idx):
    out = np.array(x, copy=True)
    out[idx] = v
    return out


index_set_p = defprim(
    "index_set", _index_set_impl,
    [lambda ans, x, v, idx: lambda g: index_set(g, 0.0, idx),
     lambda ans, x, v, idx: lambda g: _getitem(g, idx)],
    jvp="linear", formulas=[("1 outside idx, 0 at idx", r"[\notin \mathrm{idx}]"), ("g[idx]", r"\bar g[\mathrm{idx}]")])


def _is_basic(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


def canonical_index(idx):
    """An index with every tracer replaced by its plain value (indices have no derivative)."""
    if isinstance(idx, tuple):
        return tuple(raw(i) for i in idx)
    if isinstance(idx, list):
        return np.asarray([raw(i) for i in idx]) if any(type(i) in TRACER_TYPES for i in idx) else idx
    return raw(idx)


# -- public functions ---------------------------------------------------------

def reshape(a, shape):
    """``numpy.reshape(a, shape)``, differentiable (``-1`` infers one size)."""
    if type(a) in TRACER_TYPES:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        if -1 in shape:
            shape = np.empty(a.shape, dtype=np.bool_).reshape(shape).shape
        elif int(np.prod(shape, dtype=np.int64)) != a.size:
            raise ValueError(f"reshape: cannot reshape an array of shape {a.shape} "
                             f"(size {a.size}) into shape {shape}")
        if shape == a.shape:
            return a
        return a._process(reshape_p, (a,), {"shape": shape})
    return np.reshape(a, shape)


def transpose(a, axes=None):
    """``numpy.transpose(a, axes)``: reverses the axes by default, differentiable."""
    if type(a) in TRACER_TYPES:
        ndim = a.ndim
        axes = tuple(range(ndim))[::-1] if axes is None else tuple(int(ax) % max(ndim, 1) for ax in axes)
        if sorted(axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of shape {a.shape}")
        return a._process(transpose_p, (a,), {"axes": axes})
    return np.transpose(a, axes)


def swapaxes(a, axis1, axis2):
    """``numpy.swapaxes``, differentiable."""
    if type(a) in TRACER_TYPES:
        perm = list(range(a.ndim))
        perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
        return transpose(a, perm)
    return np.swapaxes(a, axis1, axis2)


def broadcast_to(a, shape):
    """``numpy.broadcast_to(a, shape)``, differentiable."""
    if type(a) in TRACER_TYPES:
        shape = tuple(shape)
        if shape == a.shape:
            return a
        try:
            ok = np.broadcast_shapes(a.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"broadcast_to: cannot broadcast an array of shape {a.shape} to shape {shape}")
        return a._process(broadcast_to_p, (a,), {"shape": shape})
    return np.broadcast_to(a, shape)


def _getitem(x, idx):
    """``x[idx]`` for tracers: basic and integer-array indexing, differentiable."""
    idx = canonical_index(idx)
    if type(x) in TRACER_TYPES:
        return x._process(getitem_p, (x,), {"idx": idx})
    return x[idx]


def _scatter_add(g, idx, shape):
    if type(g) in TRACER_TYPES:
        return g._process(scatter_add_p, (g,), {"idx": idx, "shape": shape})
    return _scatter_add_impl(g, idx, shape)


def index_set(x, v, idx):
    """A copy of ``x`` with ``x[idx] = v``; differentiable in ``x`` and ``v``."""
    idx = canonical_index(idx)
    if type(x) in TRACER_TYPES or type(v) in TRACER_TYPES:
        return bind(index_set_p, (x, v), {"idx": idx})
    return _index_set_impl(x, v, idx)
