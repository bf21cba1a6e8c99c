"""Reductions over axes: ``sum``, ``mean``, ``max``/``amax``, ``min``/``amin``,
``prod``, ``var``, ``std``, and the cumulative ``cumsum``, ``cumprod``.

The public functions canonicalise ``axis`` to a sorted tuple of non-negative
ints before binding, so every rule sees one form.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["sum", "mean", "max", "amax", "min", "amin", "prod", "var", "std", "cumsum", "cumprod", "any", "all"]

import builtins
import math

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, defprim
from chainrule._ops._wrap import batch_with_axes_shifted, dtype_of, peel, raw, refuse_keywords
from chainrule._ops.elementwise import add, astype, divide, multiply, sqrt, square, subtract, where
from chainrule._ops.elementwise import where as where_
from chainrule._ops.shape import _getitem, _scatter_add, broadcast_to, reshape, transpose


def canonical_axis(op, axis, shape):
    """``axis`` as a sorted tuple of non-negative ints, with NumPy's checks."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise np.exceptions.AxisError(
                f"{op}: axis {a} is out of bounds for an array of shape {tuple(shape)} "
                f"(ndim {ndim}); pass an axis in [{-ndim}, {ndim - 1}] or None")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r} for shape {tuple(shape)}")
    return tuple(sorted(out))


def _kept_shape(shape, axis):
    return tuple(1 if i in axis else d for i, d in enumerate(shape))


def _spread(g, shape, axis, keepdims):
    """A reduction's cotangent spread back over the reduced axes."""
    kept = keepdims or axis == tuple(range(len(axis)))  # (reduced leading axes broadcast as they are)
    if type(g) is np.ndarray or isinstance(g, np.generic):  # plain values: NumPy's methods, no wrappers
        if not kept:
            g = g.reshape(_kept_shape(shape, axis))
        if math.prod(shape) <= _SPREAD_COPY:  # small: a filled array is cheaper than a broadcast view
            out = np.empty(shape, g.dtype)
            out[...] = g
            return out
        return np.broadcast_to(g, shape)
    if not kept:
        g = reshape(g, _kept_shape(shape, axis))
    return broadcast_to(g, shape)


#: ``_spread`` fills a new array up to this size (a broadcast view above: NumPy's ``broadcast_to``
#: costs about as much as filling a few thousand entries)
_SPREAD_COPY = 4096


def _reducer(ufunc, np_fn):
    """A reduction's impl: the ufunc's ``reduce`` on arrays (without ``np.sum``'s Python wrapper), else ``np_fn``."""
    def impl(x, axis, keepdims):
        if type(x) is np.ndarray:
            return ufunc.reduce(x, axis=axis, keepdims=keepdims)
        return np_fn(x, axis=axis, keepdims=keepdims)
    return impl


def _count(shape, axis):
    return int(np.prod([shape[i] for i in axis], dtype=np.int64))


sum_p = defprim(
    "sum", _reducer(np.add, np.sum),
    [lambda ans, x, axis, keepdims: lambda g: _spread(g, x.shape, axis, keepdims)],
    jvp="linear", formulas=[("1", "1")],
    fresh=True, batch=batch_with_axes_shifted,
    notation=("Σ {0}", r"\textstyle\sum {0}"))

def _mean_formula(i, shapes, params, names, names_tex, g, g_tex):
    """``1/n`` with the number of entries averaged (for ``explain``)."""
    n = _count(shapes[0], params["axis"])
    return f"1/{n}", rf"\frac{{1}}{{{n}}}"


mean_p = defprim(
    "mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    [lambda ans, x, axis, keepdims: lambda g: _spread(
        multiply(g, 1.0 / (_count(x.shape, axis) or 1)), x.shape, axis, keepdims)],
    jvp="linear", formulas=[_mean_formula],
    fresh=True, batch=batch_with_axes_shifted)


def _max_weights(ans, x, axis, keepdims):
    # Ties share the gradient evenly (JAX's convention): w = [x == max] / count.
    xr, ar = raw(x), raw(ans)
    hit = xr == (ar if keepdims else np.reshape(ar, _kept_shape(xr.shape, axis)))
    return (hit / hit.sum(axis=axis, keepdims=True)).astype(xr.dtype, copy=False)


def _max_vjp(ans, x, axis, keepdims):
    w = _max_weights(ans, x, axis, keepdims)
    return lambda g: multiply(_spread(g, x.shape, axis, keepdims), w)


def _max_jvp(primals, tangents, ans, params):
    (x,), (t,) = primals, tangents
    w = _max_weights(ans, x, **params)
    return sum(multiply(t, w), **params)


max_p = defprim(
    "max", _reducer(np.maximum, np.max),
    [_max_vjp], jvp=_max_jvp,
    formulas=[("[x == ans] / #ties", r"\frac{[x=\mathrm{ans}]}{\#\text{ties}}")],
    fresh=True, batch=batch_with_axes_shifted, taylor="linear")  # piecewise linear


# min shares max's rules: the weights are [x == ans] / #ties for either.
min_p = defprim(
    "min", _reducer(np.minimum, np.min),
    [_max_vjp], jvp=_max_jvp,
    formulas=[("[x == ans] / #ties", r"\frac{[x=\mathrm{ans}]}{\#\text{ties}}")],
    fresh=True, batch=batch_with_axes_shifted, taylor="linear")  # piecewise linear


def _reduction(p, np_fn, name, what, with_dtype):
    """A public reduction with NumPy's signature: ``dtype``, ``initial`` and ``where`` implemented, ``out`` refused."""
    def traced(a, axis, dtype, out, keepdims, initial, where):
        a = _prepare(a, name, dtype, out)
        return _reduce(p, name, a, canonical_axis(name, axis, a.shape), keepdims, initial, where)

    if with_dtype:
        def f(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
            if type(a) in TRACER_TYPES:
                if dtype is None and initial is _NV and where is _NV and out is None:
                    return a._process(p, (a,), {"axis": canonical_axis(name, axis, a.shape),
                                                "keepdims": bool(keepdims)})
                return traced(a, axis, dtype, out, keepdims, initial, where)
            return np_fn(a, axis=axis, dtype=dtype, out=out, keepdims=_given(keepdims), initial=initial, where=where)
    else:
        def f(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
            if type(a) in TRACER_TYPES:
                if initial is _NV and where is _NV and out is None:
                    return a._process(p, (a,), {"axis": canonical_axis(name, axis, a.shape),
                                                "keepdims": bool(keepdims)})
                return traced(a, axis, None, out, keepdims, initial, where)
            return np_fn(a, axis=axis, out=out, keepdims=_given(keepdims), initial=initial, where=where)

    return _public(f, name, f"the {what} over ``axis``, differentiable.\n\n"
                   f"    ``initial`` and ``where`` work as in NumPy (entries outside ``where`` get no\n"
                   f"    gradient){'; ``dtype`` casts first' if with_dtype else ''}; ``out`` is refused for traced "
                   f"values.", np_fn, "cnp.array([[1.0, 2.0], [3.0, 4.0]])", np.array([[1.0, 2.0], [3.0, 4.0]]))


def _public(f, name, what, np_fn, example, value):
    """``f`` as ``chainrule.numpy.name``, its docstring with a runnable example (``np_fn`` gives the answer)."""
    f.__name__ = f.__qualname__ = name
    f.__module__ = "chainrule.numpy"
    f.__doc__ = (f"``numpy.{name}``: {what}\n\n"
                 f"    >>> import chainrule.numpy as cnp\n"
                 f"    >>> cnp.{name}({example}, axis={0 if name not in ('any', 'all') else 1})\n"
                 f"    {np_fn(value, axis=0 if name not in ('any', 'all') else 1)!r}\n")
    return f


_NV = np._NoValue  # NumPy's "not given"


def _given(keepdims):
    """``keepdims`` for NumPy's own function: "not given" unless true, so ``np.matrix`` (whose
    methods have no ``keepdims``) and other array subclasses reduce as under NumPy."""
    return keepdims if keepdims else _NV

#: What an entry outside ``where`` counts as, per reduction (its identity).
_IDENTITY = {"sum": 0.0, "prod": 1.0, "max": -np.inf, "min": np.inf, "amax": -np.inf, "amin": np.inf}


def _reduce(p, name, a, ax, keepdims, initial, mask):
    """Reduce over the entries where ``mask`` holds (the others replaced by the identity), then ``initial``."""
    if mask is not True and mask is not np._NoValue:
        mask = np.broadcast_to(np.asarray(raw(mask), dtype=bool), a.shape)
        if name == "mean":
            total = sum(where(mask, a, 0.0), axis=ax, keepdims=keepdims)
            return divide(total, np.sum(mask, axis=ax, keepdims=keepdims).astype(dtype_of(a)))
        a = where(mask, a, np.asarray(_IDENTITY[name], dtype_of(a)))
    r = a._process(p, (a,), {"axis": ax, "keepdims": bool(keepdims)})
    if initial is np._NoValue:
        return r
    from chainrule._ops.elementwise import maximum, minimum
    return {"sum": add, "prod": multiply, "max": maximum, "min": minimum, "amax": maximum,
            "amin": minimum}[name](r, initial)


sum = _reduction(sum_p, np.sum, "sum", "sum", True)  # noqa: A001 (NumPy's name)
max = _reduction(max_p, np.max, "max", "maximum; ties share the gradient evenly", False)  # noqa: A001
amax = _reduction(max_p, np.amax, "amax", "maximum; ties share the gradient evenly", False)
min = _reduction(min_p, np.min, "min", "minimum; ties share the gradient evenly", False)  # noqa: A001
amin = _reduction(min_p, np.amin, "amin", "minimum; ties share the gradient evenly", False)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    """``numpy.mean``: the mean over ``axis``, differentiable (``where`` averages the selected entries).

    >>> import chainrule.numpy as cnp
    >>> cnp.mean(cnp.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([2., 3.])
    """
    if type(a) not in TRACER_TYPES:
        return np.mean(a, axis=axis, dtype=dtype, out=out, keepdims=_given(keepdims), where=where)
    a = _prepare(a, "mean", dtype, out)
    return _reduce(mean_p, "mean", a, canonical_axis("mean", axis, a.shape), keepdims, np._NoValue, where)


# -- prod ------------------------------------------------------------------------
# d prod(x) / dx_j is the product of the OTHER entries: exclusive cumulative
# products from the left and from the right along the reduced axes (moved to
# the end and flattened), multiplied.  No division, so zeros (one or several)
# are exact, and the rule is built from chainrule ops so it differentiates again.

_REV = (Ellipsis, slice(None, None, -1))


def _to_last(x, axis):
    """``x`` with the axes of ``axis`` moved to the end and flattened into one."""
    ndim = len(x.shape)
    perm = tuple(i for i in range(ndim) if i not in axis) + tuple(axis)
    xt = transpose(x, perm) if perm != tuple(range(ndim)) else x
    rest = tuple(x.shape[i] for i in perm[:ndim - len(axis)])
    return reshape(xt, rest + (_count(x.shape, axis),)), perm, xt.shape


def _from_last(y, perm, tshape):
    y = reshape(y, tshape)
    return transpose(y, tuple(np.argsort(perm))) if perm != tuple(range(len(perm))) else y


def _exclusive_cumprod(x):
    """``out[..., k] = prod(x[..., :k])`` along the last axis (1 at ``k = 0``)."""
    n = x.shape[-1]
    inner = cumprod(_getitem(x, (Ellipsis, slice(None, -1))), axis=-1)
    first = np.zeros(n, dtype=dtype_of(x))
    first[:1] = 1
    return add(_scatter_add(inner, (Ellipsis, slice(1, None)), x.shape), first)


def _prod_others(x, axis):
    """The product of all entries but ``x_j`` over ``axis``, for each ``j``."""
    xf, perm, tshape = _to_last(x, axis)
    left = _exclusive_cumprod(xf)
    right = _getitem(_exclusive_cumprod(_getitem(xf, _REV)), _REV)
    return _from_last(multiply(left, right), perm, tshape)


def _prod_vjp(ans, x, axis, keepdims):
    w = _prod_others(x, axis)
    return lambda g: multiply(_spread(g, x.shape, axis, keepdims), w)


def _prod_jvp(primals, tangents, ans, params):
    (x,), (t,) = primals, tangents
    return sum(multiply(t, _prod_others(x, params["axis"])), **params)


prod_p = defprim(
    "prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    [_prod_vjp], jvp=_prod_jvp,
    formulas=[("prod of the other entries", r"\prod_{i \ne j} x_i")],
    batch=batch_with_axes_shifted)

# -- cumulative sum and product ------------------------------------------------------


def _reverse(x, axis):
    idx = (slice(None),) * axis + (slice(None, None, -1),)
    return x[idx] if type(x) is np.ndarray else _getitem(x, idx)


def _revcumsum(g, axis):
    """``sum_{k >= j} g_k`` along ``axis``: cumsum's cotangent."""
    if type(g) is np.ndarray:
        return _reverse(_reverse(g, axis).cumsum(axis), axis)
    return _reverse(cumsum(_reverse(g, axis), axis=axis), axis)


cumsum_p = defprim(
    "cumsum", lambda x, axis: np.cumsum(x, axis=axis),
    [lambda ans, x, axis: lambda g: _revcumsum(g, axis)],
    jvp="linear", formulas=[("revcumsum(g)", r"\textstyle\sum_{k \ge j} \bar g_k")],
    batch=batch_with_axes_shifted)


def _move_last(x, axis):
    ndim = len(x.shape)
    perm = tuple(i for i in range(ndim) if i != axis) + (axis,)
    return (transpose(x, perm) if axis != ndim - 1 else x), perm


def _move_back(y, perm):
    return transpose(y, tuple(np.argsort(perm))) if perm[-1] != len(perm) - 1 else y


def _cumprod_partials(x, axis):
    """``C[..., j, k] = d ans_k / d x_j = prod(x_i, i <= k, i != j)`` for ``k >= j``, else 0.

    The axis is moved last; each row ``j`` is the cumulative product of ``x``
    with ``x_j`` replaced by 1, so zeros in ``x`` are exact.  O(n^2) on the
    axis: used only where a partial product is zero (or overflows).
    """
    xl, perm = _move_last(x, axis)
    n = xl.shape[-1]
    rows = where(np.eye(n, dtype=bool), 1.0, reshape(xl, xl.shape[:-1] + (1, n)))
    upper = np.triu(np.ones((n, n), dtype=dtype_of(x)))
    return multiply(cumprod(rows, axis=-1), upper), perm


def _no_zero_products(ans):
    # With no zero (and no overflow) among the partial products, no x_j is 0
    # and ans_k / x_j is exact to rounding: the O(n) formulas apply (to every example
    # of a vmap batch: peel, not raw).
    a = peel(ans)
    return a is not None and bool(np.all(a != 0) and np.all(np.isfinite(a)))


def _cumprod_vjp(ans, x, axis):
    if _no_zero_products(ans):  # ct_j = sum_{k>=j} g_k ans_k / x_j
        return lambda g: divide(_revcumsum(multiply(g, ans), axis), x)
    c, perm = _cumprod_partials(x, axis)

    def vjp(g):
        gl, _ = _move_last(g, axis)
        gl = reshape(gl, gl.shape[:-1] + (1, gl.shape[-1]))
        return _move_back(sum(multiply(c, gl), axis=-1), perm)
    return vjp


def _cumprod_jvp(primals, tangents, ans, params):
    (x,), (t,) = primals, tangents
    axis = params["axis"]
    if _no_zero_products(ans):  # t_out_k = ans_k sum_{j<=k} t_j / x_j
        return multiply(ans, cumsum(divide(t, x), axis=axis))
    c, perm = _cumprod_partials(x, axis)
    tl, _ = _move_last(t, axis)
    tl = reshape(tl, tl.shape + (1,))
    return _move_back(sum(multiply(c, tl), axis=-2), perm)


cumprod_p = defprim(
    "cumprod", lambda x, axis: np.cumprod(x, axis=axis),
    [_cumprod_vjp], jvp=_cumprod_jvp, uses_ans=True,
    batch=batch_with_axes_shifted,
    formulas=[("revcumsum(g ⊙ ans) / x",
               r"\textstyle\sum_{k \ge j} \bar g_k\, \mathrm{ans}_k / x_j")])


# -- public functions -------------------------------------------------------------


def _prepare(a, name, dtype, out):
    refuse_keywords(name, out=out)
    return a if dtype is None else astype(a, dtype)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    """``numpy.prod``, differentiable; ``initial`` and ``where`` as in NumPy.

    The derivative with respect to ``a[j]`` is the product of the other
    entries (exact with zeros: no division).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.prod(cnp.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([3., 8.])
    >>> cr.grad(cnp.prod)(cnp.array([2.0, 0.0, 5.0]))
    array([ 0., 10.,  0.])
    """
    if type(a) in TRACER_TYPES:
        a = _prepare(a, "prod", dtype, out)
        return _reduce(prod_p, "prod", a, canonical_axis("prod", axis, a.shape), keepdims, initial, where)
    return np.prod(a, axis=axis, dtype=dtype, out=out, keepdims=_given(keepdims), initial=initial, where=where)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue,
        mean=np._NoValue, correction=np._NoValue):
    """``numpy.var``: the sum of squared deviations from the mean, divided by ``n - ddof``, differentiable.

    ``correction`` is ``ddof``'s other name; ``where`` selects the entries;
    ``mean`` (with ``keepdims=True`` shape) is used instead of computing it,
    and is differentiable too.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.var(cnp.array([1.0, 2.0, 4.0]), ddof=1)
    np.float64(2.333333333333333)
    >>> cr.grad(cnp.var)(cnp.array([1.0, 2.0, 4.0]))
    array([-0.88888889, -0.22222222,  1.11111111])
    """
    if type(a) not in TRACER_TYPES and type(mean) not in TRACER_TYPES:
        return np.var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=_given(keepdims), where=where,
                      mean=mean, correction=correction)
    return _variance("var", a, axis, dtype, out, ddof, keepdims, where, mean, correction)


def _variance(name, a, axis, dtype, out, ddof, keepdims, where, mean, correction):
    if correction is not np._NoValue:
        if ddof != 0:
            raise ValueError(f"{name}: ddof and correction are the same; give one of them")
        ddof = correction
    a = _prepare(a, name, dtype, out)
    ax = canonical_axis(name, axis, a.shape)
    masked = where is not True and where is not np._NoValue
    n = np.sum(np.broadcast_to(np.asarray(raw(where), dtype=bool), a.shape), axis=ax, keepdims=keepdims) \
        if masked else _count(a.shape, ax)
    m = _reduce(mean_p, "mean", a, ax, True, np._NoValue, where) if mean is np._NoValue else mean
    d2 = square(subtract(a, m))
    if masked:
        d2 = where_(np.broadcast_to(np.asarray(raw(where), dtype=bool), a.shape), d2, 0.0)
    total = sum(d2, axis=ax, keepdims=keepdims)
    if masked:
        return divide(total, np.asarray(n - ddof, dtype=dtype_of(total)))
    dof = n - ddof
    return multiply(total, 1.0 / dof if dof > 0 else float("inf"))


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue,
        mean=np._NoValue, correction=np._NoValue):
    """``numpy.std``: ``sqrt(var)`` with ``var``'s keywords, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.std(cnp.array([1.0, 3.0]))
    np.float64(1.0)
    >>> cr.grad(cnp.std)(cnp.array([1.0, 3.0]))
    array([-0.5,  0.5])
    """
    if type(a) not in TRACER_TYPES and type(mean) not in TRACER_TYPES:
        return np.std(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=_given(keepdims), where=where,
                      mean=mean, correction=correction)
    return sqrt(_variance("std", a, axis, dtype, out, ddof, keepdims, where, mean, correction))


def _cumulative(p, np_fn, name, a, axis, dtype, out):
    if type(a) not in TRACER_TYPES:
        return np_fn(a, axis=axis, dtype=dtype, out=out)
    a = _prepare(a, name, dtype, out)
    if axis is None or len(a.shape) == 0:
        if axis is not None:
            canonical_axis(name, axis, a.shape)
        if len(a.shape) != 1:
            a = reshape(a, (-1,))
        axis = 0
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an int or None, not {axis!r}")
    (ax,) = canonical_axis(name, axis, a.shape)
    return a._process(p, (a,), {"axis": ax})


def cumsum(a, axis=None, dtype=None, out=None):
    """``numpy.cumsum(a, axis=None, dtype=None, out=None)``, differentiable (``axis=None`` flattens).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.cumsum(cnp.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([[1., 3.],
           [3., 7.]])
    >>> cr.grad(lambda x: cnp.cumsum(x).sum())(cnp.array([1.0, 2.0, 3.0]))
    array([3., 2., 1.])
    """
    return _cumulative(cumsum_p, np.cumsum, "cumsum", a, axis, dtype, out)


def cumprod(a, axis=None, dtype=None, out=None):
    """``numpy.cumprod(a, axis=None, dtype=None, out=None)``, differentiable (``axis=None`` flattens).

    The derivative is exact when ``a`` has zeros (no division).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.cumprod(cnp.array([2.0, 0.0, 5.0]))
    array([2., 0., 0.])
    >>> cr.grad(lambda x: cnp.cumprod(x).sum())(cnp.array([2.0, 0.0, 5.0]))
    array([ 1., 12.,  0.])
    """
    return _cumulative(cumprod_p, np.cumprod, "cumprod", a, axis, dtype, out)


def sum_to_shape(g, shape):
    """Sum ``g`` down to ``shape``: the inverse of NumPy broadcasting.

    This is the one place where broadcasting is undone; the reverse engine
    calls it on every cotangent whose shape differs from its input's.
    """
    gshape = g.shape
    lead = len(gshape) - len(shape)
    ones = tuple(lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1)
    if lead:  # summing the leading axes away leaves the shape right (a bias gradient)
        g = sum(g, axis=tuple(range(lead)))
        ones = tuple(a - lead for a in ones)
    if ones:
        g = sum(g, axis=ones, keepdims=True)
    return g


def _logical(name, np_fn, test):
    """``numpy.any`` / ``numpy.all``: a boolean reduction, of traced values too (no derivative)."""
    def f(a, axis=None, out=None, keepdims=False, *, where=np._NoValue):
        if type(a) not in TRACER_TYPES:
            return np_fn(a, axis=axis, out=out, keepdims=keepdims, where=where)
        if out is not None or where is not _NV:
            raise TypeError(f"{name}: out= and where= are not supported on a traced value; "
                            f"select first with cnp.where")
        from chainrule._ops.elementwise import equal, greater, not_equal
        count = sum(test(a, not_equal, equal), axis=axis, keepdims=keepdims)
        return equal(count, 0) if name == "all" else greater(count, 0)
    return _public(f, name, f"whether {'every' if name == 'all' else 'some'} element along ``axis`` is true "
                   f"(nonzero); on traced values too.\n\n    A boolean result has no derivative.", np_fn,
                   "cnp.array([[1.0, 0.0], [3.0, 4.0]]) > 0.5", np.array([[1.0, 0.0], [3.0, 4.0]]) > 0.5)


any = _logical("any", np.any, lambda a, ne, eq: ne(a, 0))  # noqa: A001 (NumPy's name)
all = _logical("all", np.all, lambda a, ne, eq: eq(a, 0))  # noqa: A001
