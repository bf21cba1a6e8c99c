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
    ind = peel(ind)  # every example of a batch
    if ind is None:  # staged (cr.jit): NumPy checks the indices when the graph runs
        return
    ind = np.asarray(ind)
    if ind.size and (ind.max() >= n or ind.min() < -n):
        bad = ind.max() if ind.max() >= n else ind.min()
        raise IndexError(f"{fn}: index {bad} is out of bounds for axis {axis} with size {n}")


def take(a, indices, axis=None, out=None, mode="raise"):
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
        return np.take(a, raw(indices), axis, out, mode)
    from chainrule._ops._wrap import refuse_keywords
    refuse_keywords("take", out=out)
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    ind = _int_indices("take", indices)
    if axis is None:
        a = reshape(a, -1)
        axis = 0
    ndim = ndim_of(a)
    if ndim == 0:
        raise ValueError("take: cannot take from a zero-dimensional array along an axis")
    axis = normalize_axis("take", axis, ndim)
    if mode != "raise":  # out-of-range indices wrap around or clip to the ends, as in NumPy
        n = shape_of(a)[axis]
        if type(ind) in TRACER_TYPES:
            raise TypeError(f"take: mode={mode!r} with traced (batched) indices is not supported; "
                            f"wrap or clip the indices first (np.mod / np.clip) and use mode='raise'")
        ind = np.mod(ind, n) if mode == "wrap" else np.clip(ind, 0, n - 1)
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


def sort(a, axis=-1, kind=None, order=None, *, stable=None, descending=np._NoValue):
    """``numpy.sort(a, axis, kind)``, differentiable: values move with their gradients
    (``take_along_axis`` with the ``argsort`` of the plain values; ``axis=None`` flattens).

    Every ``kind`` (and ``stable``) gives the same sorted values; ties are
    always broken stably, so their gradients follow the stable order.  ``descending``
    (NumPy 2.5) is passed on for plain values and refused for traced ones.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.sort(cnp.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    >>> cr.grad(lambda x: cnp.sort(x)[0] * 10.0 + cnp.sort(x)[2])(cnp.array([3.0, 1.0, 2.0]))
    array([ 1., 10.,  0.])
    """
    if type(a) not in TRACER_TYPES:
        more = {} if descending is np._NoValue else {"descending": descending}  # NumPy >= 2.5 only
        return np.sort(a, axis, kind, order, stable=stable, **more)
    if descending is not np._NoValue and descending:
        raise TypeError("sort: the keyword descending=True is not supported for traced values (under grad, "
                        "jvp, vmap, jit or on cr.Tensors); sort ascending and flip: "
                        "cnp.flip(cnp.sort(a, axis), axis) (ties then come in reverse order)")
    if order is not None:
        raise TypeError("sort: order= sorts structured arrays by field, which traced values are not; "
                        "sort the field itself")
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


#: NumPy's pad modes and the keywords each takes.
_PAD_KEYWORDS = {"constant": {"constant_values"}, "edge": set(), "linear_ramp": {"end_values"},
                 "maximum": {"stat_length"}, "minimum": {"stat_length"}, "mean": {"stat_length"},
                 "median": {"stat_length"}, "reflect": {"reflect_type"}, "symmetric": {"reflect_type"},
                 "wrap": set()}


def pad(array, pad_width, mode="constant", **kwargs):
    """``numpy.pad(array, pad_width, mode="constant", **kwargs)``: every NumPy mode, differentiable.

    The modes ``constant``, ``edge``, ``linear_ramp``, ``mean``, ``reflect``,
    ``symmetric`` and ``wrap`` are linear in ``array`` (plus a constant for
    ``constant_values`` and ``end_values``, which are differentiable too):
    each axis is padded in turn, as NumPy does, by the linear map NumPy's own
    ``pad`` gives on that axis -- a gather (``take``) where it only copies
    entries, a contraction otherwise.  ``maximum``, ``minimum`` and
    ``median`` pad with the statistic of the ``stat_length`` entries at each
    edge (ties share the gradient, as ``max`` does).  Every per-axis form of
    ``constant_values``, ``end_values``, ``stat_length`` and
    ``reflect_type='odd'`` is accepted; a callable mode and ``'empty'`` are refused.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.pad(cnp.array([1.0, 2.0]), (1, 2), constant_values=9.0)
    array([9., 1., 2., 9., 9.])
    >>> cr.grad(lambda x: cnp.sum(cnp.pad(x, 1) ** 2))(cnp.array([1.0, 2.0]))
    array([2., 4.])
    >>> cr.grad(lambda x: cnp.sum(cnp.pad(x, 2, mode="edge")))(cnp.array([1.0, 2.0, 3.0]))
    array([3., 1., 3.])
    """
    cv, ev = kwargs.get("constant_values", 0), kwargs.get("end_values", 0)
    if type(array) not in TRACER_TYPES and type(cv) not in TRACER_TYPES and type(ev) not in TRACER_TYPES:
        return np.pad(array, pad_width, mode, **kwargs)
    if callable(mode) or mode not in _PAD_KEYWORDS:
        raise NotImplementedError(f"pad: mode={mode!r} is not differentiable in chainrule; use one of "
                                  f"NumPy's modes {', '.join(_PAD_KEYWORDS)}"
                                  + (" ('empty' leaves the padding undefined)" if mode == "empty" else ""))
    extra = set(kwargs) - _PAD_KEYWORDS[mode]
    if extra:
        raise TypeError(f"pad: mode={mode!r} takes no keyword {sorted(extra)[0]!r} "
                        f"(it takes {sorted(_PAD_KEYWORDS[mode]) or 'none'})")
    x = array if type(array) in TRACER_TYPES else np.asarray(array)
    ndim = len(shape_of(x))
    plain = {k: raw(v) if type(raw(v)) not in TRACER_TYPES else 0 for k, v in kwargs.items()}
    pw = np.asarray(raw(pad_width))
    if pw.dtype.kind not in "iu" or (pw < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative integers, got {pad_width!r}")
    try:
        pw = np.broadcast_to(pw, (ndim, 2))
        np.pad(np.zeros(shape_of(x), dtype_of(x)), pw, mode, **plain)  # NumPy's own checks of the keywords
    except ValueError as e:
        raise ValueError(f"pad: {e} (an array of shape {tuple(shape_of(x))}, pad_width={pad_width!r}, "
                         f"mode={mode!r}); give pad_width as (before, after) pairs per axis") from None
    stat = np.broadcast_to(np.asarray(kwargs.get("stat_length") or np.iinfo(np.intp).max, dtype=object), (ndim, 2))
    for k in range(ndim):
        before, after = int(pw[k, 0]), int(pw[k, 1])
        if before == after == 0:
            continue
        if mode in ("maximum", "minimum", "median"):
            x = _pad_with_statistic(x, k, before, after, mode, stat[k])
            continue
        x = _pad_linear(x, k, before, after, mode, kwargs)
    return x


def _pad_linear(x, k, before, after, mode, kwargs):
    """Pad axis ``k`` by NumPy's map on that axis: ``M @ x`` along ``k``, plus the constant part."""
    n = shape_of(x)[k]
    ndim = len(shape_of(x))
    zeroed = {key: (0 if key in ("constant_values", "end_values") else _on_axis(v, k, ndim))
              for key, v in kwargs.items()}
    m = np.pad(np.eye(n), ((before, after), (0, 0)), mode, **zeroed)  # (n + before + after, n)
    if mode == "constant":
        out = _pad_zeros(x, k, before, after)
    elif ((m != 0).sum(axis=1) == 1).all() and (m.max(axis=1) == 1).all():  # copies entries: a gather
        out = take(x, m.argmax(axis=1), axis=k)
    else:
        from chainrule._ops.linalg import tensordot
        from chainrule._ops.shape import moveaxis
        out = moveaxis(tensordot(m.astype(dtype_of(x)), x, axes=([1], [k])), 0, k)
    key = {"constant": "constant_values", "linear_ramp": "end_values"}.get(mode)
    if key is None or key not in kwargs:
        return out
    from chainrule._ops.elementwise import add, multiply
    vals = kwargs[key]
    for side in (0, 1):  # each side's value times where it lands along axis k
        unit = np.pad(np.zeros(n), (before, after), mode, **{key: (1.0, 0.0) if side == 0 else (0.0, 1.0)})
        v = _on_axis(vals, k, ndim, side)
        if type(v) not in TRACER_TYPES:
            if not np.any(v):
                continue
            v = np.asarray(v).astype(dtype_of(x))  # NumPy casts the pad value to the array's dtype
        shape = (1,) * k + (-1,) + (1,) * (ndim - k - 1)
        out = add(out, multiply(unit.astype(dtype_of(x)).reshape(shape), v))
    return out


def _on_axis(v, k, ndim, side=None):
    """Axis ``k``'s entry (and one side's, if ``side`` is given) of a per-axis pad keyword."""
    if isinstance(v, str):
        return v
    if type(v) in TRACER_TYPES:
        v = broadcast_to(v, (ndim, 2))
        return v[k] if side is None else v[k, side]
    v = np.broadcast_to(np.asarray(v, dtype=object if v is None else None), (ndim, 2))
    return tuple(v[k]) if side is None else v[k, side]


def _pad_zeros(x, k, before, after):
    widths = tuple((before, after) if i == k else (0, 0) for i in range(len(shape_of(x))))
    return x._process(pad_p, (x,), {"pad_width": widths}) if type(x) in TRACER_TYPES else np.pad(x, widths)


def _pad_with_statistic(x, k, before, after, mode, lengths):
    """Pad axis ``k`` with the max, min or median of the ``stat_length`` entries at each edge."""
    from chainrule._ops.joining import concatenate
    from chainrule._ops.reductions import max as max_, min as min_
    from chainrule._ops.shape import moveaxis
    n = shape_of(x)[k]
    parts = []
    for width, length, at_end in ((before, lengths[0], False), (after, lengths[1], True)):
        if width == 0:
            parts.append(None)
            continue
        length = n if length is None else min(int(length), n)
        sl = (slice(None),) * k + ((slice(n - length, n) if at_end else slice(0, length)),)
        chunk = _getitem(x, sl)
        if mode == "median":
            srt = moveaxis(sort(chunk, axis=k), k, 0)
            mid = _getitem(srt, slice((length - 1) // 2, length // 2 + 1))
            from chainrule._ops.reductions import mean
            s = moveaxis(mean(mid, axis=0, keepdims=True), 0, k)
        else:
            s = (max_ if mode == "maximum" else min_)(chunk, axis=k, keepdims=True)
        shape = list(shape_of(x))
        shape[k] = width
        parts.append(broadcast_to(s, tuple(shape)))
    pieces = [p for p in (parts[0], x, parts[1]) if p is not None]
    return concatenate(pieces, axis=k)


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
    # only the keywords given, as np.argmax passes them: np.matrix's methods lack keepdims
    return getattr(np, p.name)(a, axis=axis, **{k: v for k, v in extra.items() if v})


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
