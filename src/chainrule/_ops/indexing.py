"""Gathering, sorting and padding: take, take_along_axis, sort, pad, arg*.

``take``, ``take_along_axis`` and ``sort`` are integer-array indexing (the
``getitem`` primitive), whose VJP scatters with accumulation, so repeated
indices add up.  ``pad`` (constant mode) is a linear ``pad`` primitive with
zeros plus a constant border; its VJP slices ``g`` back.  ``argmax``,
``argmin`` and ``argsort`` have no derivative and return plain integer arrays.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["take", "take_along_axis", "sort", "pad", "argmax", "argmin", "argsort"]

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind, defprim
from chainrule._ops._wrap import dtype_of, ndim_of, normalize_axis, peel, raw, shape_of
from chainrule._ops.shape import _getitem, broadcast_to, reshape




def _int_indices(fn, indices):
    ind = raw(indices)
    if type(ind) in TRACER_TYPES:  # batched under vmap: checked where it is used
        if not np.issubdtype(dtype_of(ind), np.integer):
            raise TypeError(f"{fn}: indices must be integers, got dtype {dtype_of(ind)}")
        return ind
    ind = np.asarray(ind)
    if ind.dtype.kind not in "iub":
        if ind.size == 0:
            ind = ind.astype(np.intp)
        else:
            raise TypeError(f"{fn}: indices must be integers, got dtype {ind.dtype}")
    return ind.astype(np.intp, copy=False)


def _check_bounds(fn, ind, n, axis):
    ind = np.asarray(peel(ind))  # every example of a batch
    if ind.size and (ind.max() >= n or ind.min() < -n):
        bad = ind.max() if ind.max() >= n else ind.min()
        raise IndexError(f"{fn}: index {bad} is out of bounds for axis {axis} with size {n}")


def take(a, indices, axis=None):
    """``numpy.take(a, indices, axis)``: elements along an axis (of the flattened array
    if ``axis`` is None); differentiable in ``a``, repeated indices accumulate.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.take(cnp.array([[1.0, 2.0], [3.0, 4.0]]), [1, 1, 0], axis=1)
    array([[2., 2., 1.],
           [4., 4., 3.]])
    >>> cr.grad(lambda x: cnp.sum(cnp.take(x, [0, 2, 2])))(cnp.array([1.0, 2.0, 3.0]))
    array([1., 0., 2.])
    """
    if type(a) not in TRACER_TYPES and type(raw(indices)) not in TRACER_TYPES:
        return np.take(a, raw(indices), axis)
    ind = _int_indices("take", indices)
    if axis is None:
        a = reshape(a, -1)
        axis = 0
    ndim = ndim_of(a)
    if ndim == 0:
        raise ValueError("take: cannot take from a zero-dimensional array along an axis")
    axis = normalize_axis("take", axis, ndim)
    _check_bounds("take", ind, shape_of(a)[axis], axis)
    key = ind if type(ind) in TRACER_TYPES else (int(ind) if ind.ndim == 0 else ind)
    return _getitem(a, (slice(None),) * axis + (key,))


def take_along_axis(arr, indices, axis=-1):
    """``numpy.take_along_axis(arr, indices, axis)``: pick values with an index array of
    ``arr``'s rank (as ``argsort`` returns); differentiable, repeated indices accumulate.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> x = cnp.array([[3.0, 1.0, 2.0], [0.5, 4.0, 6.0]])
    >>> cnp.take_along_axis(x, cnp.array([[1], [2]]), axis=1)
    array([[1.],
           [6.]])
    >>> cr.grad(lambda v: cnp.sum(cnp.take_along_axis(v, cnp.array([0, 0, 2]), 0)))(
    ...     cnp.array([1.0, 2.0, 3.0]))
    array([2., 0., 1.])
    """
    if type(arr) not in TRACER_TYPES and type(raw(indices)) not in TRACER_TYPES:
        return np.take_along_axis(arr, raw(indices), axis)
    ind = _int_indices("take_along_axis", indices)
    if axis is None:
        if ind.ndim != 1:
            raise ValueError(f"take_along_axis: with axis=None the indices must be 1-D, "
                             f"got shape {ind.shape}")
        arr = reshape(arr, -1)
        axis = 0
    ndim = ndim_of(arr)
    if ind.ndim != ndim:
        raise ValueError(f"take_along_axis: indices and arr must have the same number of "
                         f"dimensions, got {ind.shape} and {arr.shape}")
    axis = normalize_axis("take_along_axis", axis, ndim)
    shape = shape_of(arr)
    for d in range(ndim):
        if d != axis and ind.shape[d] not in (1, shape[d]) and shape[d] != 1:
            raise ValueError(f"take_along_axis: indices of shape {ind.shape} do not broadcast "
                             f"against arr of shape {shape} outside axis {axis}")
    _check_bounds("take_along_axis", ind, shape[axis], axis)
    out_shape = tuple(max(ind.shape[d], shape[d]) if d != axis else ind.shape[d]
                      for d in range(ndim))
    key = []
    for d in range(ndim):
        if d == axis:
            key.append(broadcast_to(ind, out_shape))
        else:
            r = np.zeros(out_shape[d], np.intp) if shape[d] == 1 else np.arange(out_shape[d], dtype=np.intp)
            key.append(np.broadcast_to(r.reshape((1,) * d + (-1,) + (1,) * (ndim - d - 1)), out_shape))
    return _getitem(arr, tuple(key))


def sort(a, axis=-1):
    """``numpy.sort(a, axis)``, differentiable: values move with their gradients
    (``take_along_axis`` with the ``argsort`` of the plain values; ``axis=None`` flattens).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.sort(cnp.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    >>> cr.grad(lambda x: cnp.sort(x)[0] * 10.0 + cnp.sort(x)[2])(cnp.array([3.0, 1.0, 2.0]))
    array([ 1., 10.,  0.])
    """
    if type(a) not in TRACER_TYPES:
        return np.sort(a, axis)
    if axis is None:
        a = reshape(a, -1)
        axis = 0
    if a.ndim == 0:
        raise np.exceptions.AxisError(f"sort: axis {axis} is out of bounds for an array of dimension 0")
    axis = normalize_axis("sort", axis, a.ndim)
    return take_along_axis(a, argsort(a, axis=axis, kind="stable"), axis)


# -- pad ----------------------------------------------------------------------

def _pad_slices(x, pad_width):
    return tuple(slice(b, b + n) for (b, _), n in zip(pad_width, np.shape(x)))


pad_p = defprim(
    "pad", lambda x, pad_width: np.pad(x, pad_width),
    [lambda ans, x, pad_width: lambda g: _getitem(g, _pad_slices(x, pad_width))],
    jvp="linear", formulas=[("g without the padding", r"\bar g[\text{interior}]")],
    batch=lambda vals, batched, params: bind(pad_p, vals, {"pad_width": ((0, 0),) + params["pad_width"]}))


def pad(array, pad_width, mode="constant", **kwargs):
    """``numpy.pad(array, pad_width, mode="constant", constant_values=0)``, differentiable.

    Only ``mode="constant"`` is differentiable (other modes raise
    ``NotImplementedError`` for tracers; plain arrays go to NumPy).  The
    derivative with respect to ``array`` slices the padding off ``g``; a scalar
    traced ``constant_values`` is differentiable too.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.pad(cnp.array([1.0, 2.0]), (1, 2), constant_values=9.0)
    array([9., 1., 2., 9., 9.])
    >>> cr.grad(lambda x: cnp.sum(cnp.pad(x, 1) ** 2))(cnp.array([1.0, 2.0]))
    array([2., 4.])
    """
    cv = kwargs.get("constant_values", 0)
    if type(array) not in TRACER_TYPES and type(cv) not in TRACER_TYPES:
        return np.pad(array, pad_width, mode, **kwargs)
    if mode != "constant":
        raise NotImplementedError(f"pad: mode={mode!r} is not differentiable in chainrule; "
                                  f"only mode='constant' is supported for traced arrays")
    extra = set(kwargs) - {"constant_values"}
    if extra:
        raise TypeError(f"pad: unsupported keyword arguments for mode='constant': {sorted(extra)}")
    ndim = np.ndim(raw(array))
    try:
        pw = np.broadcast_to(np.asarray(raw(pad_width)), (ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit an array of "
                         f"dimension {ndim}; give (before, after) pairs per axis") from None
    if pw.dtype.kind not in "iu" or (pw < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative integers, got {pad_width!r}")
    pw = tuple((int(b), int(e)) for b, e in pw)
    if type(array) in TRACER_TYPES:
        out = array._process(pad_p, (array,), {"pad_width": pw})
        dtype = array.dtype
    else:
        out = np.pad(np.asarray(array), pw)
        dtype = out.dtype
    from chainrule._ops.elementwise import add, multiply
    if type(cv) in TRACER_TYPES:
        if cv.ndim != 0:
            raise NotImplementedError("pad: a traced constant_values must be a scalar")
        mask = np.pad(np.zeros(np.shape(raw(array)), dtype), pw, constant_values=1)
        return add(out, multiply(mask, cv))
    cvr = np.asarray(cv)
    if not cvr.any():
        return out
    border = np.pad(np.zeros(np.shape(raw(array)), dtype), pw, constant_values=cv)
    return add(out, border)


# -- no derivative --------------------------------------------------------------

# Integer outputs: no derivative (a pass-through at differentiation levels).  Under vmap
# the axis shifts past the batch axis; ``axis=None`` (the flat index) flattens each example.
def _arg_prim(name, fn):
    def batch(vals, batched, params):
        (x,), axis = vals, params["axis"]
        if axis is not None:
            return bind(p, vals, {**params, "axis": axis + 1})
        out = bind(p, (reshape(x, x.shape[:1] + (-1,)),), {**params, "axis": 1})
        if params.get("keepdims"):  # NumPy keeps every axis, as size one
            out = reshape(out, out.shape[:1] + (1,) * (len(x.shape) - 1))
        return out

    p = defprim(name, fn, [None], jvp=None, batch=batch)
    return p


argmax_p = _arg_prim("argmax", lambda a, axis, keepdims: np.argmax(a, axis=axis, keepdims=keepdims))
argmin_p = _arg_prim("argmin", lambda a, axis, keepdims: np.argmin(a, axis=axis, keepdims=keepdims))
argsort_p = _arg_prim("argsort", lambda a, axis, kind: np.argsort(a, axis=axis, kind=kind))


def _integer_result(p, a, axis, extra):
    a = raw(a)
    if type(a) in TRACER_TYPES:
        if axis is not None:
            axis = normalize_axis(p.name, axis, a.ndim)
        return bind(p, (a,), {"axis": axis, **extra})
    return p.impl(a, axis=axis, **extra)


def argmax(a, axis=None, keepdims=False):
    """``numpy.argmax`` of the plain values: a plain integer array (no derivative).

    >>> import chainrule.numpy as cnp
    >>> cnp.argmax(cnp.array([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    array([1, 0])
    """
    return _integer_result(argmax_p, a, axis, {"keepdims": keepdims})


def argmin(a, axis=None, keepdims=False):
    """``numpy.argmin`` of the plain values: a plain integer array (no derivative).

    >>> import chainrule.numpy as cnp
    >>> cnp.argmin(cnp.array([[1.0, 5.0], [7.0, 2.0]]), axis=0)
    array([0, 1])
    """
    return _integer_result(argmin_p, a, axis, {"keepdims": keepdims})


def argsort(a, axis=-1, kind=None):
    """``numpy.argsort`` of the plain values: a plain integer array (no derivative).

    >>> import chainrule.numpy as cnp
    >>> cnp.argsort(cnp.array([3.0, 1.0, 2.0]))
    array([1, 2, 0])
    """
    return _integer_result(argsort_p, a, axis, {"kind": kind})
