"""Joining and splitting: concatenate, stack, hstack, vstack, split.

``concatenate`` is one variadic primitive: linear in all its inputs jointly,
so its JVP is ``concatenate`` of the tangents (zeros for constants) and the
VJP for input ``i`` is the slice of ``g`` along ``axis`` that input filled.
``stack``, ``hstack`` and ``vstack`` reshape and then concatenate; ``split``
is a list of basic slices.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["concatenate", "stack", "hstack", "vstack", "split"]

import weakref

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, PerInput, bind, defprim
from chainrule._ops._wrap import batch_all, ndim_of, normalize_axis, refuse_keywords, shape_of
from chainrule._ops.shape import _getitem, reshape

_offsets_of = [None, None]  # (a weak reference to the last output whose offsets were computed, offsets)


def _offsets(ans, xs, axis):
    """Where each input starts along ``axis``: computed once per node (the rules of all its
    inputs ask in turn, with the same output), not once per input, which was quadratic."""
    ref = _offsets_of[0]
    if ref is not None and ref() is ans and len(_offsets_of[1]) == len(xs) + 1:
        return _offsets_of[1]
    offsets = np.concatenate([[0], np.cumsum([shape_of(x)[axis] for x in xs])]).tolist()
    try:
        _offsets_of[:] = [weakref.ref(ans), offsets]
    except TypeError:  # a NumPy scalar output: nothing to key on
        pass
    return offsets


def _concat_vjp(i):
    def rule(ans, *xs, axis):
        offsets = _offsets(ans, xs, axis)
        idx = (slice(None),) * axis + (slice(offsets[i], offsets[i + 1]),)
        return lambda g: _getitem(g, idx)
    return rule


def _concat_formula(i, shapes, params, names, names_tex, g, g_tex):
    """``ḡ[3:6]``: the slice of the adjoint that input ``i`` filled (for ``explain``)."""
    axis = params.get("axis", 0)
    start = sum(s[axis] for s in shapes[:i])
    idx = ", ".join([":"] * axis + [f"{start}:{start + shapes[i][axis]}"])
    return f"{g}[{idx}]", f"{g_tex}_{{[{idx}]}}"


concatenate_p = defprim(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis),
    PerInput(_concat_vjp),
    jvp="linear", fresh=True,
    formulas=PerInput(lambda i: _concat_formula),
    batch=lambda vals, batched, params: bind(
        concatenate_p, batch_all(vals, batched), {"axis": params["axis"] + 1}))


def _any_tracer(xs):
    return any(type(x) in TRACER_TYPES for x in xs)




def _cast_all(op, arrays, out, dtype, casting):
    """``dtype`` casts every input first; ``out`` and a non-default ``casting`` are refused for tracers."""
    refuse_keywords(op, out=out, casting=casting)
    if dtype is None:
        return tuple(arrays)
    from chainrule._ops.elementwise import astype
    return tuple(astype(a, dtype) for a in arrays)


def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``numpy.concatenate(arrays, axis)``: join arrays along an existing axis, differentiable.

    Tracers and plain arrays may be mixed; ``axis=None`` flattens every input first.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.concatenate([cnp.array([1.0, 2.0]), cnp.array([3.0])])
    array([1., 2., 3.])
    >>> cr.grad(lambda x: cnp.sum(cnp.concatenate([x, x ** 2]) * cnp.array([1.0, 1.0, 1.0, 1.0])))(
    ...     cnp.array([1.0, 2.0]))
    array([3., 5.])
    """
    arrays = tuple(arrays)
    if not _any_tracer(arrays):
        return np.concatenate(arrays, axis, out=out, dtype=dtype, casting=casting)
    arrays = _cast_all("concatenate", arrays, out, dtype, casting)
    if axis is None:
        arrays = tuple(reshape(a, -1) if type(a) in TRACER_TYPES else np.ravel(a) for a in arrays)
        axis = 0
    arrays = tuple(a if type(a) in TRACER_TYPES else np.asarray(a) for a in arrays)
    ndim = ndim_of(arrays[0])
    if ndim == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    axis = normalize_axis("concatenate", axis, ndim)
    ref = shape_of(arrays[0])
    for k, a in enumerate(arrays[1:], 1):
        s = shape_of(a)
        if len(s) != ndim:
            raise ValueError(f"concatenate: all the input arrays must have the same number of "
                             f"dimensions, but array 0 has shape {ref} and array {k} has shape {s}")
        if s[:axis] != ref[:axis] or s[axis + 1:] != ref[axis + 1:]:
            raise ValueError(f"concatenate: all the input array dimensions except for axis {axis} "
                             f"must match, but array 0 has shape {ref} and array {k} has shape {s}")
    return bind(concatenate_p, arrays, {"axis": axis})


def _expand(a, axis):
    s = shape_of(a)
    new = s[:axis] + (1,) + s[axis:]
    return reshape(a, new) if type(a) in TRACER_TYPES else np.reshape(a, new)


def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``numpy.stack(arrays, axis)``: join equal-shaped arrays along a new axis, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.stack([cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0])], axis=1)
    array([[1., 3.],
           [2., 4.]])
    >>> cr.grad(lambda x: cnp.sum(cnp.stack([x, 2.0 * x], axis=-1)))(cnp.array([1.0, 2.0]))
    array([3., 3.])
    """
    arrays = tuple(arrays)
    if not _any_tracer(arrays):
        return np.stack(arrays, axis, out=out, dtype=dtype, casting=casting)
    arrays = _cast_all("stack", arrays, out, dtype, casting)
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shapes = {tuple(shape_of(a)) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    ndim = len(next(iter(shapes)))
    axis = normalize_axis("stack", axis, ndim + 1)
    return concatenate([_expand(a, axis) for a in arrays], axis)


def _at_least(a, n):
    s = shape_of(a)
    if len(s) >= n:
        return a
    new = (1,) * (n - len(s)) + tuple(s) if n == 1 or len(s) == 0 else (1,) + tuple(s)
    return reshape(a, new) if type(a) in TRACER_TYPES else np.reshape(a, new)


def hstack(tup, *, dtype=None, casting="same_kind"):
    """``numpy.hstack``: 1-D inputs join along axis 0, others along axis 1; differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.hstack([cnp.array([1.0, 2.0]), cnp.array([3.0])])
    array([1., 2., 3.])
    >>> cr.grad(lambda x: cnp.sum(cnp.hstack([x, x]) ** 2))(cnp.array([[1.0], [2.0]]))
    array([[4.],
           [8.]])
    """
    tup = tuple(tup)
    if not _any_tracer(tup):
        return np.hstack(tup, dtype=dtype, casting=casting)
    tup = _cast_all("hstack", tup, None, dtype, casting)
    arrs = [_at_least(a, 1) for a in tup]
    return concatenate(arrs, 0 if ndim_of(arrs[0]) == 1 else 1)


def vstack(tup, *, dtype=None, casting="same_kind"):
    """``numpy.vstack``: 1-D inputs of length ``N`` become rows ``(1, N)``; join along axis 0.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.vstack([cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0])])
    array([[1., 2.],
           [3., 4.]])
    >>> cr.grad(lambda x: cnp.sum(cnp.vstack([x, 3.0 * x])))(cnp.array([1.0, 2.0]))
    array([4., 4.])
    """
    tup = tuple(tup)
    if not _any_tracer(tup):
        return np.vstack(tup, dtype=dtype, casting=casting)
    tup = _cast_all("vstack", tup, None, dtype, casting)
    return concatenate([_at_least(a, 2) for a in tup], 0)


def split(ary, indices_or_sections, axis=0):
    """``numpy.split``: a list of sub-arrays along ``axis``, each differentiable.

    An integer asks for that many equal sections (an error if they cannot be
    equal); a sequence gives the split points.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.split(cnp.array([1.0, 2.0, 3.0, 4.0]), [1, 3])
    [array([1.]), array([2., 3.]), array([4.])]
    >>> cr.grad(lambda x: cnp.sum(cnp.split(x, 2)[1] ** 2))(cnp.array([1.0, 2.0, 3.0, 4.0]))
    array([0., 0., 6., 8.])
    """
    if type(ary) not in TRACER_TYPES:
        return np.split(ary, indices_or_sections, axis)
    ndim = ary.ndim
    if ndim == 0:
        raise ValueError("split: cannot split a zero-dimensional array")
    axis = normalize_axis("split", axis, ndim)
    n = ary.shape[axis]
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"split: number of sections must be larger than 0, got {sections}")
        if n % sections:
            raise ValueError(f"split: array split does not result in an equal division "
                             f"({n} along axis {axis} into {sections} sections)")
        step = n // sections
        bounds = [(k * step, (k + 1) * step) for k in range(sections)]
    else:
        pts = [int(p) for p in indices_or_sections]
        bounds = list(zip([0] + pts, pts + [n]))
    pre = (slice(None),) * axis
    return [_getitem(ary, pre + (slice(a, b),)) for a, b in bounds]
