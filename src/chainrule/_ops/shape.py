"""Shape and indexing primitives: reshape, transpose, broadcast, index, scatter.

All are linear, so their JVPs are the primitive applied to the tangent.
``broadcast_to``'s VJP is the identity: the reverse engine sums the cotangent
back to the input's recorded shape, as it does for every broadcasting op.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["reshape", "transpose", "swapaxes", "broadcast_to", "ravel", "moveaxis", "expand_dims",
           "squeeze", "flip", "roll", "tile", "repeat", "triu", "tril"]

import math

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind, defprim
from chainrule._ops._wrap import batch_size, batch_with_axes_shifted, peel, raw, refuse_keywords


def _inverse_perm(axes):
    return tuple(int(a) for a in np.argsort(axes))


reshape_p = defprim(
    "reshape", lambda x, shape: np.reshape(x, shape),
    [lambda ans, x, shape: lambda g: reshape(g, x.shape)],
    jvp="linear", view=True, formulas=[("reshape(g, x.shape)", r"\operatorname{reshape}(\bar g)")],
    noop=lambda x, shape: tuple(shape) == x.shape,
    batch=lambda vals, batched, params: bind(reshape_p, vals, {"shape": vals[0].shape[:1] + params["shape"]}))

def _transpose_formula(i, shapes, params, names, names_tex, g, g_tex):
    """``ḡᵀ`` for the full transpose, else ``ḡ`` put back by the inverse permutation (for ``explain``)."""
    ndim = len(shapes[0])
    axes = tuple(params.get("axes") or range(ndim)[::-1])
    if axes == tuple(range(ndim))[::-1]:
        return f"{g}ᵀ", rf"{g_tex}^{{\top}}"
    back = _inverse_perm(axes)
    return f"transpose({g}, axes={back})", rf"\operatorname{{transpose}}({g_tex}, {back})"


transpose_p = defprim(
    "transpose", lambda x, axes: np.transpose(x, axes),
    [lambda ans, x, axes: lambda g: transpose(g, _inverse_perm(axes))],
    jvp="linear", view=True, formulas=[_transpose_formula],
    noop=lambda x, axes: axes is not None and tuple(axes) == tuple(range(len(x.shape))),
    batch=lambda vals, batched, params: bind(
        transpose_p, vals, {"axes": (0,) + tuple(a + 1 for a in params["axes"])}),
    notation=("{0}ᵀ", r"{0}^{{\top}}"))


def _batch_broadcast_to(vals, batched, params):
    x, shape = vals[0], params["shape"]
    lead = len(shape) - (len(x.shape) - 1)  # new leading axes go after the batch axis
    if lead:
        x = reshape(x, x.shape[:1] + (1,) * lead + x.shape[1:])
    return bind(broadcast_to_p, (x,), {"shape": x.shape[:1] + shape})


broadcast_to_p = defprim(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    [lambda ans, x, shape: lambda g: g],
    jvp="linear", view=True, formulas=[("sum of g over broadcast axes", r"\textstyle\sum \bar g")],
    noop=lambda x, shape: tuple(shape) == x.shape, broadcasting=True,
    batch=_batch_broadcast_to)


def _batch_getitem(vals, batched, params):
    idx = params["idx"]
    out = bind(getitem_p, vals, {"idx": _batched_index(idx)})
    ax = _batch_axis_after(idx)
    return moveaxis(out, ax, 0) if ax else out


def _getitem_impl(x, idx):
    if type(idx) is np.ndarray and idx.dtype.kind in "iu" and type(x) is np.ndarray:
        return x.take(idx, axis=0)  # x[i] for one integer array: the same rows, without fancy indexing's overhead
    return x[idx]


getitem_p = defprim(
    "getitem", _getitem_impl,
    [lambda ans, x, idx: lambda g: _scatter_add(g, idx, x.shape)],
    jvp="linear", view=True, formulas=[("g scattered to x[idx]", r"\bar g \text{ at } [\mathrm{idx}]")],
    batch=_batch_getitem)


def _scatter_add_impl(g, idx, shape, at=None):
    """Zeros of ``shape`` with ``g`` added at ``[idx]``.

    ``at`` is :func:`scatter_positions`'s plan, made once where the operation is
    staged (a constant of the ``cr.jit`` graph): the flat position of every
    element of ``x[idx]``, where repeated positions accumulate with
    ``np.bincount`` (several times faster than ``np.add.at``; the same sums, in
    the same order).  Without it (eagerly, where a plan would cost as much as
    it saves), an index that picks each position at most once (slices,
    integers, masks) is a plain assignment, and any other ``np.add.at``.
    """
    out = np.zeros(shape, dtype=g.dtype if type(g) is np.ndarray or isinstance(g, np.generic) else np.result_type(g))
    if at is not None and at.size and out.dtype == np.float64:  # (bincount of nothing is an integer array)
        w = g.ravel() if np.shape(g) == at.shape else np.broadcast_to(g, at.shape).ravel()
        return np.bincount(at.ravel(), w, minlength=out.size).reshape(shape)
    if at is None and _picks_once(idx):
        out[idx] = g
    else:  # repeated positions add up (bincount sums in float64: other dtypes accumulate in their own)
        np.add.at(out, idx, g)
    return out


def _picks_once(idx):
    """True if ``x[idx]`` reads each position of ``x`` at most once: no integer arrays (slices, integers, masks)."""
    items = idx if type(idx) is tuple else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) or np.asarray(i).dtype == np.bool_
               for i in items)


def scatter_positions(idx, shape):
    """``at`` of :func:`_scatter_add_impl`: ``None`` for an index whose positions are distinct, else the
    flat positions into ``x.ravel()`` (``x`` of ``shape``) of the elements of ``x[idx]``, shaped like it.

    >>> import numpy as np
    >>> scatter_positions(np.array([2, 0, -1]), (3, 2))
    array([[4, 5],
           [0, 1],
           [4, 5]])
    >>> scatter_positions(slice(1, None), (3, 2)) is None
    True
    """
    if type(idx) is np.ndarray and idx.dtype.kind in "iu" and shape:  # x[i], the common gather: fast path
        return _row_positions((idx,), shape)
    if _picks_once(idx):
        return None  # basic indexing and masks: an assignment
    items = idx if type(idx) is tuple else (idx,)
    arrays = [np.asarray(i) for i in items
              if not (i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)))]
    if len(arrays) == len(items) and all(a.dtype.kind in "iu" for a in arrays) and len(items) <= len(shape):
        return _row_positions(arrays, shape)  # integer arrays on the leading axes: x[i], x[i, j]
    # anything else (arrays mixed with slices, masks with integer arrays): ask NumPy where x[idx] reads from
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.intp).reshape(shape)[idx]


def _row_positions(arrays, shape):
    """Flat positions of ``x[i, j, ...]`` for integer arrays on the leading axes: their rows, then the
    trailing elements of each row.  Bounds are checked here (``bincount`` would grow its output)."""
    k = len(arrays)
    for ax, (a, n) in enumerate(zip(arrays, shape)):
        if a.size:
            lo, hi = a.min(), a.max()
            if hi >= n or lo < -n:
                raise IndexError(f"scatter_add (the transpose of x[idx]): index {hi if hi >= n else lo} is out "
                                 f"of bounds for axis {ax} with size {n} (x has shape {tuple(shape)})")
    if k == 1:
        a = arrays[0]
        rows = np.where(a < 0, a + shape[0], a) if a.size and lo < 0 else a
    else:
        arrays = np.broadcast_arrays(*arrays)
        rows = np.ravel_multi_index(tuple(np.where(a < 0, a + n, a) for a, n in zip(arrays, shape)), shape[:k])
    rows = rows.astype(np.intp, copy=False)  # (bincount refuses unsigned 64-bit positions)
    trailing = math.prod(shape[k:])
    if trailing == 1:
        return rows.reshape(rows.shape + tuple(shape[k:]))
    at = (rows * trailing).reshape(rows.shape + (1,)) + np.arange(trailing, dtype=np.intp)
    return at.reshape(rows.shape + tuple(shape[k:]))


def _batch_scatter_add(vals, batched, params):
    (g,), idx = vals, params["idx"]
    ax = _batch_axis_after(idx)
    g = moveaxis(g, 0, ax) if ax else g
    idx, shape = _batched_index(idx), g.shape[ax:ax + 1] + params["shape"]
    at = scatter_positions(idx, shape) if peel(g) is None else None
    return bind(scatter_add_p, (g,), {"idx": idx, "shape": shape, "at": at})


scatter_add_p = defprim(
    "scatter_add", _scatter_add_impl,
    [lambda ans, g, idx, shape, at: lambda h: _getitem(h, idx)],
    jvp="linear", formulas=[("h[idx]", r"\bar h[\mathrm{idx}]")],
    batch=_batch_scatter_add)


def _index_set_impl(x, v, idx):
    out = np.array(x, copy=True)
    out[idx] = v
    return out


def _batch_index_set(vals, batched, params):
    x, v = vals
    n = batch_size(vals, batched)
    if not batched[0]:
        x = broadcast_to(x, (n,) + x.shape)
    idx = params["idx"]
    target = np.empty(x.shape[1:], dtype=np.bool_)[idx].shape
    if batched[1]:  # (B, 1, ..., 1, *v.shape) then (B, *target)
        v = reshape(v, v.shape[:1] + (1,) * (len(target) + 1 - len(v.shape)) + v.shape[1:])
        v = broadcast_to(v, (n,) + target)
    else:
        v = reshape(broadcast_to(v, target), (1,) + target)
    ax = _batch_axis_after(idx)
    v = moveaxis(v, 0, ax) if ax else v
    return bind(index_set_p, (x, v), {"idx": _batched_index(idx)})


def kept_writes(ids, write, read):
    """Which elements of a write ``out[idx] = v`` NumPy keeps (the last of each repeated position).

    ``write(ids)`` stores ``ids`` (``0, 1, …``, shaped like ``v``) at the index and
    ``read(out)`` reads the index back: element ``k`` survived iff it reads back ``k``.
    This asks NumPy itself, so it matches whatever order NumPy writes in.
    """
    from chainrule._ops.elementwise import equal
    return equal(read(write(ids)), ids)


def _index_set_dv(ans, x, v, idx):
    # Only the write NumPy keeps reaches the output, so only it gets the cotangent: with
    # repeated integer indices the earlier writes are overwritten and get zero (as JAX).
    if _is_basic(idx):
        return lambda g: _getitem(g, idx)
    shape = x.shape
    target = np.empty(shape, dtype=np.bool_)[idx].shape
    ids = np.arange(int(np.prod(target, dtype=np.int64)), dtype=np.float64).reshape(target)
    keep = kept_writes(ids, lambda i: _index_set_impl(np.full(shape, -1.0), i, idx), lambda o: o[idx])
    if keep.all():
        return lambda g: _getitem(g, idx)
    from chainrule._ops.elementwise import where
    return lambda g: where(keep, _getitem(g, idx), 0.0)


index_set_p = defprim(
    "index_set", _index_set_impl,
    [lambda ans, x, v, idx: lambda g: index_set(g, 0.0, idx),
     _index_set_dv],
    jvp="linear", formulas=[("g with 0 at [idx]", r"\bar g \text{ with 0 at } [\mathrm{idx}]"), ("g[idx]", r"\bar g[\mathrm{idx}]")],
    batch=_batch_index_set)


def _is_basic(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


def _traced_index(idx):
    """True if an index (canonical) holds a traced integer array (batched under vmap)."""
    if type(idx) is tuple:
        return any(type(i) in TRACER_TYPES for i in idx)
    return type(idx) in TRACER_TYPES


def canonical_index(idx):
    """An index with every tracer replaced by its plain value (indices have no derivative)."""
    if isinstance(idx, tuple):
        return tuple(raw(i) for i in idx)
    if isinstance(idx, list):
        return np.asarray([raw(i) for i in idx]) if any(type(i) in TRACER_TYPES for i in idx) else idx
    return raw(idx)


# -- public functions ---------------------------------------------------------

def reshape(a, shape, order="C", *, copy=None):
    """``numpy.reshape(a, shape, order='C')``, differentiable (``-1`` infers one size).

    ``order='F'`` reads and writes in Fortran (column-major) order: it is
    ``transpose(reshape(transpose(a), shape[::-1]))``.  ``copy`` is refused
    for traced values (results are new arrays, never views the user can write to).

    >>> import chainrule.numpy as cnp
    >>> cnp.reshape(cnp.array([1.0, 2.0, 3.0, 4.0]), (2, 2), order="F")
    array([[1., 3.],
           [2., 4.]])
    """
    if type(a) in TRACER_TYPES:
        refuse_keywords("reshape", copy=copy)
        if order not in ("C", "F", "A"):
            raise ValueError(f"reshape: order must be 'C' or 'F', got {order!r}")
        if order == "A":
            raise TypeError("reshape: order='A' depends on the memory layout of the input, which traced "
                            "values do not have; pass order='C' or order='F'")
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        if -1 in shape:
            shape = np.empty(a.shape, dtype=np.bool_).reshape(shape).shape
        elif int(np.prod(shape, dtype=np.int64)) != a.size:
            raise ValueError(f"reshape: cannot reshape an array of shape {a.shape} "
                             f"(size {a.size}) into shape {shape}")
        if order == "F":
            return transpose(reshape(transpose(a), shape[::-1]))
        if shape == a.shape:
            return a
        return a._process(reshape_p, (a,), {"shape": shape})
    if copy is not None:
        return np.reshape(a, shape, order=order, copy=copy)
    return np.reshape(a, shape, order=order)


def transpose(a, axes=None):
    """``numpy.transpose(a, axes)``: reverses the axes by default, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> a = cnp.array([[1.0, 2.0, 3.0]])
    >>> cnp.transpose(a).shape, cnp.transpose(cnp.ones((2, 3, 4)), (1, 0, 2)).shape
    ((3, 1), (3, 2, 4))
    >>> cr.grad(lambda a: cnp.sum(cnp.transpose(a) * cnp.array([[1.0], [2.0], [3.0]])))(a)
    array([[1., 2., 3.]])
    """
    if type(a) in TRACER_TYPES:
        ndim = a.ndim
        given = None if axes is None else tuple(int(ax) for ax in axes)
        if given is not None and (len(given) != ndim or any(not -ndim <= ax < ndim for ax in given)
                                  or len({ax % ndim for ax in given}) != ndim):
            raise ValueError(f"transpose: axes {given} are not a permutation of the axes of shape "
                             f"{a.shape}; pass {ndim} distinct axes in range(-{ndim}, {ndim})")
        axes = tuple(range(ndim))[::-1] if given is None else tuple(ax % ndim for ax in given)
        return a._process(transpose_p, (a,), {"axes": axes})
    return np.transpose(a, axes)


def swapaxes(a, axis1, axis2):
    """``numpy.swapaxes``, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.swapaxes(cnp.ones((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    >>> cr.grad(lambda a: cnp.swapaxes(a, 0, 1)[2, 0])(cnp.zeros((1, 3)))
    array([[0., 0., 1.]])
    """
    if type(a) in TRACER_TYPES:
        perm = list(range(a.ndim))
        perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
        return transpose(a, perm)
    return np.swapaxes(a, axis1, axis2)


def broadcast_to(array, shape, subok=False):
    """``numpy.broadcast_to(a, shape)``, differentiable: the gradient sums over the copies.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.broadcast_to(cnp.array([1.0, 2.0]), (3, 2))
    array([[1., 2.],
           [1., 2.],
           [1., 2.]])
    >>> cr.grad(lambda a: cnp.sum(cnp.broadcast_to(a, (3, 2))))(cnp.array([1.0, 2.0]))
    array([3., 3.])
    """
    a = array
    if type(a) in TRACER_TYPES:
        refuse_keywords("broadcast_to", {"subok": (False,)}, subok=subok)
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
    return np.broadcast_to(a, shape, subok)


def _getitem(x, idx):
    """``x[idx]`` for tracers: basic and integer-array indexing, differentiable."""
    idx = canonical_index(idx)
    if _traced_index(idx):  # e.g. a batched integer array under vmap: an operand, not a param
        from chainrule._ops.gather import getitem_traced
        return getitem_traced(x, idx)
    if type(x) in TRACER_TYPES:
        return x._process(getitem_p, (x,), {"idx": idx})
    return x[idx]


def _scatter_add(g, idx, shape):
    if _traced_index(idx):
        from chainrule._ops.gather import scatter_add_traced
        return scatter_add_traced(g, idx, shape)
    if type(g) in TRACER_TYPES:  # the plan is made when the graph is staged (cr.jit), where it is made once
        at = scatter_positions(idx, shape) if peel(g) is None else None
        return g._process(scatter_add_p, (g,), {"idx": idx, "shape": shape, "at": at})
    return _scatter_add_impl(g, idx, shape)


def index_set(x, v, idx):
    """A copy of ``x`` with ``x[idx] = v``; differentiable in ``x`` and ``v``."""
    idx = canonical_index(idx)
    if _traced_index(idx):
        from chainrule._ops.gather import index_set_traced
        return index_set_traced(x, v, idx)
    if type(x) in TRACER_TYPES or type(v) in TRACER_TYPES:
        return bind(index_set_p, (x, v), {"idx": idx})
    return _index_set_impl(x, v, idx)


# -- more shape functions: compositions, and roll / tile / repeat primitives ---

def _axes(op, axis, ndim, allow_repeats=False):
    """``axis`` (an int or a sequence) as a tuple of non-negative ints, checked."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an integer or a tuple of integers, got {ax!r}")
        if not -ndim <= ax < ndim:
            raise np.exceptions.AxisError(
                f"{op}: axis {ax} is out of bounds for an array of dimension {ndim}; "
                f"pass an axis in [{-ndim}, {ndim - 1}]")
        out.append(int(ax) % ndim)
    if not allow_repeats and len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(out)


def ravel(a, order="C"):
    """``numpy.ravel(a)``: a flattened 1-D array, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.ravel(cnp.array([[1.0, 2.0], [3.0, 4.0]]))
    array([1., 2., 3., 4.])
    >>> cr.grad(lambda x: (cnp.ravel(x) * cnp.array([1.0, 2.0, 3.0, 4.0])).sum())(cnp.ones((2, 2)))
    array([[1., 2.],
           [3., 4.]])
    """
    if type(a) in TRACER_TYPES:
        if order not in ("C", "F", "A", "K"):
            raise ValueError(f"ravel: order must be one of 'C', 'F', 'A', 'K', got {order!r}")
        if order in ("A", "K"):
            raise TypeError(f"ravel: order={order!r} depends on the memory layout of the input, which traced "
                            f"values do not have; pass order='C' or order='F'")
        return reshape(a, (a.size,), order=order)
    return np.ravel(a, order=order)


def moveaxis(a, source, destination):
    """``numpy.moveaxis(a, source, destination)``, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.moveaxis(cnp.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    ndim = np.ndim(a)
    src = _axes("moveaxis", source, ndim)
    dst = _axes("moveaxis", destination, ndim)
    if len(src) != len(dst):
        raise ValueError("moveaxis: `source` and `destination` arguments must have "
                         f"the same number of elements, got {source!r} and {destination!r}")
    if type(a) in TRACER_TYPES:
        order = [n for n in range(ndim) if n not in src]
        for d, s_ in sorted(zip(dst, src)):
            order.insert(d, s_)
        return transpose(a, order)
    return np.moveaxis(a, source, destination)


def expand_dims(a, axis):
    """``numpy.expand_dims(a, axis)``: insert size-1 axes (``axis`` may be a tuple).

    >>> import chainrule.numpy as cnp
    >>> cnp.expand_dims(cnp.zeros((2, 3)), (0, -1)).shape
    (1, 2, 3, 1)
    """
    if type(a) in TRACER_TYPES:
        n = 1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))
        axes = _axes("expand_dims", axis, a.ndim + n)
        it = iter(a.shape)
        shape = tuple(1 if i in axes else next(it) for i in range(a.ndim + n))
        return reshape(a, shape)
    n = 1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))
    _axes("expand_dims", axis, np.ndim(a) + n)
    return np.expand_dims(a, axis)


def squeeze(a, axis=None):
    """``numpy.squeeze(a, axis)``: remove size-1 axes (all of them by default).

    >>> import chainrule.numpy as cnp
    >>> cnp.squeeze(cnp.zeros((1, 2, 1, 3)), axis=(0, -2)).shape
    (2, 3)
    """
    shape = np.shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = _axes("squeeze", axis, len(shape))
        for ax in axes:
            if shape[ax] != 1:
                raise ValueError(f"squeeze: cannot squeeze axis {ax} of shape {tuple(shape)}: "
                                 "its size is not one")
    if type(a) in TRACER_TYPES:
        return reshape(a, tuple(d for i, d in enumerate(shape) if i not in axes))
    return np.squeeze(a, axis)


def flip(m, axis=None):
    """``numpy.flip(m, axis)``: reverse the order of elements along ``axis`` (all by default).

    >>> import chainrule.numpy as cnp
    >>> cnp.flip(cnp.array([[1.0, 2.0], [3.0, 4.0]]), axis=-1)
    array([[2., 1.],
           [4., 3.]])
    """
    ndim = np.ndim(m)
    axes = tuple(range(ndim)) if axis is None else _axes("flip", axis, ndim)
    if type(m) in TRACER_TYPES:
        return _getitem(m, tuple(slice(None, None, -1) if i in axes else slice(None)
                                 for i in range(ndim)))
    return np.flip(m, axis)


def _roll(x, shift, axis):
    if type(x) in TRACER_TYPES:
        return x._process(roll_p, (x,), {"shift": shift, "axis": axis})
    return np.roll(x, shift, axis)


def _batch_roll(vals, batched, params):
    (x,), shift, axis = vals, params["shift"], params["axis"]
    if axis is None:  # the flattened array is rolled: roll each example's row
        flat = bind(roll_p, (reshape(x, x.shape[:1] + (-1,)),), {"shift": (shift,), "axis": (1,)})
        return reshape(flat, x.shape)
    return bind(roll_p, vals, {"shift": shift, "axis": tuple(a + 1 for a in axis)})


roll_p = defprim(
    "roll", lambda x, shift, axis: np.roll(x, shift, axis),
    [lambda ans, x, shift, axis: lambda g: _roll(
        g, -shift if axis is None else tuple(-s for s in shift), axis)],
    jvp="linear", formulas=[("roll(g, -shift)", r"\operatorname{roll}(\bar g, -\mathrm{shift})")],
    batch=_batch_roll)


def roll(a, shift, axis=None):
    """``numpy.roll(a, shift, axis)``: elements shifted cyclically, differentiable.

    ``shift`` and ``axis`` may be tuples (broadcast against each other); with
    ``axis=None`` the flattened array is rolled and the shape restored.

    >>> import chainrule.numpy as cnp
    >>> cnp.roll(cnp.array([1.0, 2.0, 3.0, 4.0]), 1)
    array([4., 1., 2., 3.])
    """
    ndim = np.ndim(a)
    if axis is None:
        sh = int(np.sum(shift))
        ax = None
    else:
        axes = _axes("roll", axis, ndim, allow_repeats=True)
        try:
            shifts, axes = np.broadcast_arrays(np.asarray(shift, dtype=np.int64), np.asarray(axes))
        except ValueError:
            raise ValueError(f"roll: shift {shift!r} and axis {axis!r} cannot be broadcast together") from None
        total = {}
        for s_, ax_ in zip(shifts.ravel().tolist(), axes.ravel().tolist()):
            total[ax_] = total.get(ax_, 0) + s_
        ax = tuple(sorted(total))
        sh = tuple(total[k] for k in ax)
    if type(a) in TRACER_TYPES:
        return a._process(roll_p, (a,), {"shift": sh, "axis": ax})
    return np.roll(a, shift, axis)


def _tile_vjp(ans, x, reps):
    from chainrule._ops.reductions import sum as _sum

    def vjp(g):
        inter = tuple(d for r, s_ in zip(reps, x.shape) for d in (r, s_))
        return _sum(reshape(g, inter), axis=tuple(range(0, 2 * len(reps), 2)))
    return vjp


tile_p = defprim(
    "tile", lambda x, reps: np.tile(x, reps), [_tile_vjp],
    jvp="linear", formulas=[("sum of the tiles of g", r"\textstyle\sum_{\text{tiles}} \bar g")],
    batch=lambda vals, batched, params: bind(tile_p, vals, {"reps": (1,) + params["reps"]}))


def tile(A, reps):
    """``numpy.tile(A, reps)``: ``A`` repeated ``reps`` times along each axis, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.tile(cnp.array([1.0, 2.0]), 2)
    array([1., 2., 1., 2.])
    >>> cr.grad(lambda x: cnp.tile(x, (2, 3)).sum())(cnp.array([1.0, 2.0]))
    array([6., 6.])
    """
    if type(A) in TRACER_TYPES:
        reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
        for r in reps:
            if not isinstance(r, (int, np.integer)) or r < 0:
                raise ValueError(f"tile: reps must be non-negative integers, got {reps!r}")
        n = max(len(reps), A.ndim)
        reps = (1,) * (n - len(reps)) + tuple(int(r) for r in reps)
        if A.ndim < n:
            A = reshape(A, (1,) * (n - A.ndim) + A.shape)
        if all(r == 1 for r in reps):
            return A
        return A._process(tile_p, (A,), {"reps": reps})
    return np.tile(A, reps)


def _segment_sum_impl(g, repeats, axis):
    n = len(repeats) if isinstance(repeats, tuple) else None
    if n is None:
        shape = list(g.shape)
        shape[axis:axis + 1] = [g.shape[axis] // repeats, repeats]  # repeats > 0 here
        return np.sum(np.reshape(g, shape), axis=axis + 1)
    r = np.asarray(repeats, dtype=np.int64)
    out_shape = list(g.shape)
    out_shape[axis] = n
    out = np.zeros(out_shape, dtype=np.result_type(g))
    nz = r > 0
    if nz.any():
        starts = (np.cumsum(r) - r)[nz]
        idx = [slice(None)] * g.ndim
        idx[axis] = nz
        out[tuple(idx)] = np.add.reduceat(g, starts, axis=axis)
    return out


def _segment_sum(g, repeats, axis):
    if type(g) in TRACER_TYPES:
        return g._process(segment_sum_p, (g,), {"repeats": repeats, "axis": axis})
    return _segment_sum_impl(g, repeats, axis)


def _repeat(x, repeats, axis):
    if type(x) in TRACER_TYPES:
        return x._process(repeat_p, (x,), {"repeats": repeats, "axis": axis})
    return np.repeat(x, repeats, axis)


repeat_p = defprim(
    "repeat", lambda x, repeats, axis: np.repeat(x, repeats, axis),
    [lambda ans, x, repeats, axis: lambda g: _segment_sum(g, repeats, axis)],
    jvp="linear", formulas=[("sum of g over each repeated group", r"\textstyle\sum_{\text{group}} \bar g")],
    batch=batch_with_axes_shifted)

segment_sum_p = defprim(
    "segment_sum", _segment_sum_impl,
    [lambda ans, g, repeats, axis: lambda h: _repeat(h, repeats, axis)],
    jvp="linear", formulas=[("repeat(h)", r"\operatorname{repeat}(\bar h)")],
    batch=batch_with_axes_shifted)


def repeat(a, repeats, axis=None):
    """``numpy.repeat(a, repeats, axis)``: each element repeated, differentiable.

    ``repeats`` is an int or one non-negative int per element along ``axis``;
    with ``axis=None`` the flattened array is used.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.repeat(cnp.array([1.0, 2.0]), [1, 3])
    array([1., 2., 2., 2.])
    >>> cr.grad(lambda x: cnp.repeat(x, [1, 3]).sum())(cnp.array([1.0, 2.0]))
    array([1., 3.])
    """
    if type(a) in TRACER_TYPES:
        if axis is None:
            a, ax = ravel(a), 0
        else:
            (ax,) = _axes("repeat", axis, a.ndim)
        r = np.asarray(raw(repeats))
        if not np.issubdtype(r.dtype, np.integer) or r.ndim > 1 or (r < 0).any():
            raise ValueError(f"repeat: repeats must be a non-negative integer or a 1-D array "
                             f"of them, got {repeats!r}")
        n = a.shape[ax]
        if r.ndim == 1 and r.size == 1:
            r = r[0]
        if r.ndim == 0:
            r = int(r)
            if r == 0:  # the result is empty: no derivative flows
                return a._process(repeat_p, (a,), {"repeats": (0,) * n, "axis": ax})
        else:
            if r.size != n:
                raise ValueError(f"repeat: {r.size} repeats for an axis of length {n}")
            r = tuple(int(v) for v in r)
        return a._process(repeat_p, (a,), {"repeats": r, "axis": ax})
    if axis is not None:
        _axes("repeat", axis, np.ndim(a))
    return np.repeat(a, repeats, axis)


def _tri_where(op, m, k, lower):
    from chainrule._ops.elementwise import where
    if m.ndim < 1:
        raise ValueError(f"{op}: the input must be at least 1-D, got a 0-d array")
    keep = np.tri(*m.shape[-2:], k=k, dtype=bool) if lower else ~np.tri(*m.shape[-2:], k=k - 1, dtype=bool)
    return where(keep, m, np.zeros((), dtype=m.dtype))


def triu(m, k=0):
    """``numpy.triu(m, k)``: zero the elements below the ``k``-th diagonal, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.triu(cnp.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 2.],
           [0., 4.]])
    """
    if type(m) in TRACER_TYPES:
        return _tri_where("triu", m, int(k), lower=False)
    return np.triu(m, k)


def tril(m, k=0):
    """``numpy.tril(m, k)``: zero the elements above the ``k``-th diagonal, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.tril(cnp.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 0.],
           [3., 4.]])
    """
    if type(m) in TRACER_TYPES:
        return _tri_where("tril", m, int(k), lower=True)
    return np.tril(m, k)


# -- vmap of indexing (batch axis first): where NumPy puts the batch axis -------------------

def _batched_index(idx):
    """``idx`` for the batched value: the batch axis is kept whole."""
    return (slice(None),) + (idx if isinstance(idx, tuple) else (idx,))


def _batch_axis_after(idx):
    """Where ``x[_batched_index(idx)]`` puts the batch axis.

    0, unless ``idx`` holds index arrays separated by a slice, an ellipsis or
    a new axis: NumPy then moves the broadcast index axes to the front, so
    the batch axis follows them.
    """
    items = idx if isinstance(idx, tuple) else (idx,)
    if _is_basic(items):
        return 0
    adv = [k for k, i in enumerate(items) if not (i is None or i is Ellipsis or isinstance(i, slice))]
    if adv[-1] - adv[0] == len(adv) - 1:  # adjacent: they stay where they are
        return 0
    shapes = [(int(np.count_nonzero(i)),) if np.asarray(i).dtype == np.bool_ else np.shape(i)
              for i in (items[k] for k in adv)]
    return len(np.broadcast_shapes(*shapes))
