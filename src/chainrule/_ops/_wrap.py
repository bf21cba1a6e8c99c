"""Public-function makers: a no-tracer fast path straight to NumPy.

A ``chainrule.numpy`` function first asks whether any argument is a tracer
(``type(x) in TRACER_TYPES``: one hash lookup).  If none is, it calls NumPy
directly, so plain-array code pays a few tens of nanoseconds.  Otherwise the
primitive is bound and the top tracer handles it.
"""
from __future__ import annotations

import numpy as np

from chainrule._core.primitive import OPAQUE, SEE_THROUGH, TRACER_TYPES, bind

EMPTY: dict = {}  # shared, never mutated: the params of parameterless primitives


def unary(p, np_fn, name=None, doc=None):
    name = name or p.name

    def f(x, /, out=None, **kwargs):
        if out is not None or kwargs:
            return ufunc_keywords(name, np_fn, f, (x,), dict(kwargs, out=out))
        if type(x) in TRACER_TYPES:
            return x._process(p, (x,), EMPTY)
        return np_fn(x)

    return _named(f, name, _example(doc or f"Elementwise ``numpy.{name}``, differentiable.", name, np_fn, 1))


def binary(p, np_fn, name=None, doc=None):
    name = name or p.name

    def f(x, y, /, out=None, **kwargs):
        if out is not None or kwargs:
            return ufunc_keywords(name, np_fn, f, (x, y), dict(kwargs, out=out))
        if type(x) in TRACER_TYPES or type(y) in TRACER_TYPES:
            return bind(p, (x, y), EMPTY)  # a failure is described by bind, with the operation's name
        try:
            return np_fn(x, y)
        except ValueError:
            check_broadcast(name, x, y)
            raise

    if doc is None:
        doc = (f"Elementwise ``numpy.{name}`` with broadcasting, differentiable."
               if np.result_type(np_fn(*_EXAMPLE_AT[2])) != bool else
               f"Elementwise ``numpy.{name}`` with broadcasting: a comparison, so its result is bool "
               f"and has no derivative.")
    return _named(f, name, _example(doc, name, np_fn, 2))


#: Where the examples of the generated docstrings evaluate a function (in its domain).
_EXAMPLE_AT = {1: (0.5,), 2: (0.5, 2.0)}
_EXAMPLE_AT_ABOVE_ONE = {"arccosh": (1.5,)}


def _example(doc, name, np_fn, arity):
    """``doc`` with a runnable example, unless it has one: the value, and the derivative(s).

    Both are computed here with NumPy (the derivative by a central difference, shown to
    six decimals, which pytest's NUMBER flag compares at that precision), and the
    doctests check them against chainrule's own.
    """
    if ">>>" in doc:
        return doc
    at = _EXAMPLE_AT_ABOVE_ONE.get(name, _EXAMPLE_AT[arity])
    args = ", ".join(map(repr, at))
    value = np_fn(*at)
    lines = ["", "", ">>> import chainrule as cr, chainrule.numpy as cnp",
             f">>> cnp.{name}({args})", repr(value)]
    if value.dtype.kind == "f":
        h, derivs = 1e-6, []
        for i in range(arity):
            up, down = list(at), list(at)
            up[i] += h
            down[i] -= h
            derivs.append(np.float64(round(float((np_fn(*up) - np_fn(*down)) / (2 * h)), 6) + 0.0))  # no -0.0
        argnums = "" if arity == 1 else f", argnums={tuple(range(arity))}"
        shown = repr(derivs[0]) if arity == 1 else repr(tuple(derivs))
        lines += [f">>> cr.grad(cnp.{name}{argnums})({args})", shown]
    return doc + "\n".join(lines) + "\n"


def check_broadcast(op, *xs):
    """Every operand's shape quoted when the shapes do not broadcast together."""
    shapes = [tuple(shape_of(x)) for x in xs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: operands could not be broadcast together with shapes "
                         f"{' '.join(map(str, shapes))}: trailing axes must be equal or 1 -- reshape or "
                         f"add an axis (x[:, None]) to say which axes pair up") from None


# -- NumPy's keywords: implemented, or refused by name ------------------------------------

#: NumPy's default of each keyword chainrule refuses when it is set to anything else.
KEYWORD_DEFAULTS = {"out": (None,), "where": (True, np._NoValue), "casting": ("same_kind",),
                    "order": ("K",), "subok": (True,), "signature": (None,), "initial": (np._NoValue,),
                    "like": (None,), "device": (None, "cpu"), "copy": (None,), "mean": (np._NoValue,),
                    "correction": (np._NoValue,), "mode": ("raise",), "axes": (None,),
                    "return_sign": (False,), "upper": (False,), "UPLO": ("L",), "ndmin": (0,),
                    "ndmax": (0,), "shape": (None,), "keepdims": (False,), "axis": (None,)}

#: Keywords whose default (under any function without ``defaults``) is None.
_NONE_IS_DEFAULT = frozenset(k for k, d in KEYWORD_DEFAULTS.items() if None in d)

#: What to do instead, per keyword.
_INSTEAD = {
    "out": "results are new arrays: assign the result (y = f(x)) instead of writing into out",
    "where": "compute everywhere and select with cnp.where(mask, result, other) instead",
    "initial": "combine it with the result instead (e.g. cnp.maximum(cnp.max(a), initial), cnp.sum(a) + initial)",
    "mean": "let the function compute the mean itself",
    "correction": "use ddof= (the same number)",
    "mode": "indices are checked (mode='raise'); clip or wrap them with np.clip / np.mod first",
    "return_sign": "compute the sign separately (np.sign of the sum) if you need it",
    "upper": "transpose the lower factor: cnp.swapaxes(cnp.linalg.cholesky(a), -1, -2)",
    "UPLO": "symmetrise the input from its upper triangle yourself (cnp.triu) and use the default",
    "ndmin": "add axes with cnp.expand_dims / reshape instead",
    "ndmax": "leave it at its default",
    "shape": "use cnp.zeros(shape) / cnp.ones(shape) / cnp.full(shape, v) instead",
    "axes": "move the axes first (cnp.moveaxis) so that the matrices are the last two axes",
    "axis": "move the axes first (cnp.moveaxis) so that the vectors are the last axis",
    "keepdims": "add the axes back with cnp.expand_dims",
}


def refuse_keywords(fn, defaults=None, **given):
    """Refuse, by name, NumPy keywords that ``fn`` does not implement for traced values.

    A keyword left at NumPy's default passes; any other value raises
    ``TypeError`` naming the function, the keyword and what to do instead, so
    no keyword is ever silently ignored.  ``defaults`` gives ``fn``'s own
    defaults where they differ from the usual ones (``order='C'``, ``subok=False``).
    """
    for k, v in given.items():
        if v is None and defaults is None and k in _NONE_IS_DEFAULT:  # the usual call: out=None
            continue
        if not any(v is d or (isinstance(d, str) and isinstance(v, str) and v == d)
                   for d in (defaults or {}).get(k, KEYWORD_DEFAULTS.get(k, (None,)))):
            instead = _INSTEAD.get(k, "it only concerns NumPy's memory layout or array subclasses, "
                                      "which chainrule's functional results do not have: leave it at its default")
            raise TypeError(f"{fn}: the keyword {k}={_shown(v)} is not supported for traced values "
                            f"(under grad, jvp, vmap, jit or on cr.Tensors); {instead}")


def _shown(v):
    """A keyword's value for a message: arrays by their shape, not their entries."""
    if isinstance(v, np.ndarray) or type(v) in TRACER_TYPES:
        return f"<an array of shape {np.shape(v)}>"
    if isinstance(v, tuple) and v and all(isinstance(x, np.ndarray) for x in v):
        return "(" + ", ".join(_shown(x) for x in v) + ",)"
    return repr(v)


#: The ufunc keywords ``dtype`` (implemented: the inputs are cast first) and the refused rest.
UFUNC_KEYWORDS = ("out", "where", "casting", "order", "dtype", "subok", "signature")


def ufunc_keywords(name, np_fn, f, args, kwargs):
    """A ufunc called with keywords: NumPy's own for plain values; ``dtype`` or a refusal for tracers."""
    unknown = set(kwargs) - set(UFUNC_KEYWORDS)
    if unknown:
        raise TypeError(f"{name}() got an unexpected keyword argument {sorted(unknown)[0]!r}; "
                        f"NumPy's ufunc keywords are {', '.join(UFUNC_KEYWORDS)}")
    plain = not any(type(x) in TRACER_TYPES for x in args)
    if plain and isinstance(np_fn, np.ufunc):
        return np_fn(*args, **kwargs)
    dtype, out = kwargs.pop("dtype", None), kwargs.pop("out", None)
    refuse_keywords(name, out=None if plain else out, **kwargs)
    if dtype is not None:
        from chainrule._ops.elementwise import astype
        args = [astype(x, dtype) for x in args]
    if out is None:
        return f(*args)
    np.copyto(out, f(*args))  # a plain result written into a plain out, as a ufunc would
    return out


def _named(f, name, doc):
    f.__name__ = f.__qualname__ = name
    f.__module__ = "chainrule.numpy"
    f.__doc__ = doc
    return f


def raw(x):
    """The value with no derivative: under every differentiation level (a batch stays a batch)."""
    while type(x) in SEE_THROUGH:
        x = x._value
    return x


def peel(x):
    """The plain array under every tracer, batch axes included.

    For a choice that depends on the values and must hold for every example
    of a ``vmap`` batch at once (a branch taken in Python, a bounds check).
    ``None`` when a staged value (``cr.jit``) is beneath: it stands for every
    value, so the caller takes its general branch (or skips its check).
    """
    while type(x) in TRACER_TYPES:
        if type(x) in OPAQUE:
            return None
        x = x._value
    return x


def shape_of(x):
    return x.shape if hasattr(x, "shape") else np.shape(x)


def ndim_of(x):
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def dtype_of(x):
    dt = getattr(x, "dtype", None)
    return dt if dt is not None else np.result_type(x)


def normalize_axis(fn, axis, ndim):
    """One integer ``axis`` in ``[0, ndim)``, with an error naming the function ``fn``."""
    try:
        ax = int(axis)
    except TypeError:
        raise TypeError(f"{fn}: axis must be an integer or None, got {axis!r}") from None
    if not -ndim <= ax < ndim:
        raise np.exceptions.AxisError(
            f"{fn}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return ax % ndim


# -- vmap rules shared by the families (batch axis first) ------------------------------

def rule_maker(make):
    """Mark ``make(p) -> rule``, so that ``defprim(..., batch=make)`` makes the primitive's rule."""
    make.makes_batch_rule = True
    return make


@rule_maker
def batch_by_broadcasting(p):
    """The vmap rule of a primitive that broadcasts like an elementwise one."""
    def rule(vals, batched, params):
        from chainrule._interpreters.batching import align
        return bind(p, align(vals, batched), params)
    return rule


@rule_maker
def batch_with_axes_shifted(p):
    """The vmap rule of a unary primitive whose ``axis`` param (an int or a tuple) counts from 0."""
    def rule(vals, batched, params):
        ax = params["axis"]
        ax = ax + 1 if isinstance(ax, int) else tuple(a + 1 for a in ax)
        return bind(p, vals, {**params, "axis": ax})
    return rule


def batch_size(vals, batched):
    """The size of the batch axis: the leading axis of any batched value."""
    return next(v.shape[0] for v, b in zip(vals, batched) if b)


def batch_all(vals, batched):
    """Every operand batched: the unbatched ones broadcast along a new leading axis."""
    if all(batched):
        return list(vals)
    from chainrule._ops.shape import broadcast_to
    n = batch_size(vals, batched)
    return [v if b else broadcast_to(v, (n,) + tuple(shape_of(v))) for v, b in zip(vals, batched)]
