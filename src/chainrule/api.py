"""Functional transforms, JAX style: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``.

Each call of a transformed function takes a fresh level, wraps the inputs
being differentiated in tracers of that level, runs the function, and reads
the result off the tracers.  Pytrees are flattened here, at the boundary.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, new_level
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.jvp import JVPTracer
from chainrule._interpreters.reverse import Tensor, _plain, backward_pass, box, own

__all__ = ["grad", "value_and_grad", "vjp", "jvp"]


# -- input checks ---------------------------------------------------------------

def _raw_dtype(x):
    while type(x) in TRACER_TYPES:
        x = x._value
    return np.result_type(x)


def _as_input(x, what):
    """A differentiable input as an array (or tracer), with a clear error otherwise."""
    if type(x) in TRACER_TYPES:
        dt = _raw_dtype(x)
    elif isinstance(x, (np.ndarray, np.generic)):
        dt = x.dtype
    elif isinstance(x, numbers.Number) and not isinstance(x, bool):
        if isinstance(x, numbers.Integral):
            dt = np.dtype(np.int64)
        else:
            x = np.asarray(x, dtype=np.complex128 if isinstance(x, complex) else np.float64)
            dt = x.dtype
    else:
        x = np.asarray(x)
        dt = x.dtype
    if np.issubdtype(dt, np.complexfloating):
        raise TypeError(f"{what} has complex dtype {dt}; complex differentiation is not supported yet")
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"{what} has dtype {np.dtype(dt) if dt != object else 'object'}; only float "
                        f"inputs (float64, float32) can be differentiated -- pass e.g. "
                        f"np.asarray(x, dtype=float), or move the argument out of argnums")
    return x


def _argnums(argnums, nargs, name):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"{name}: argnums {argnums!r} does not fit a call with {nargs} "
                             f"positional argument{'s' if nargs != 1 else ''}")
    return single, tuple(i % nargs for i in nums)


# -- reverse mode -------------------------------------------------------------------

class _VJP:
    """The pullback of one call: maps output cotangents to input cotangents."""

    __slots__ = ("level", "boxes", "in_trees", "out_leaves", "out_tree", "retain", "used", "name")

    def __call__(self, cotangent):
        ct_leaves, ct_tree = tree_flatten(cotangent)
        if ct_tree != self.out_tree:
            raise ValueError(f"{self.name}: the cotangent has structure {ct_tree} but the output "
                             f"has structure {self.out_tree}")
        if self.used and not self.retain:
            raise RuntimeError(f"{self.name}: this pullback was already used and its graph freed")
        self.used = True
        roots, cts = [], []
        for out, ct in zip(self.out_leaves, ct_leaves):
            shape = _shape(out)
            if type(ct) not in TRACER_TYPES:  # a copy: results never alias the caller's array
                ct = np.array(ct, dtype=_float_dtype(out), copy=True)
            if tuple(ct.shape) != tuple(shape):
                raise ValueError(f"{self.name}: a cotangent has shape {tuple(ct.shape)} but the "
                                 f"matching output has shape {tuple(shape)}")
            if type(out) is Tensor and out._level == self.level:
                roots.append(out)
                cts.append(ct)
        grads = backward_pass(roots, cts, retain_graph=self.retain) if roots else {}
        results, seen = [], set()
        for boxes, tree in zip(self.boxes, self.in_trees):
            results.append(tree_unflatten(tree, [_boundary(grads.get(b), b, seen) for b in boxes]))
        return tuple(results)


def _boundary(g, b, seen):
    """A cotangent made concrete for the user: zeros for a symbolic zero, the input's type."""
    v = b._value
    if g is None:
        g = np.zeros(np.shape(v) if type(v) not in TRACER_TYPES else v.shape, _raw_dtype(v))
    g = own(g, seen)
    if type(v) is Tensor and v._level == 0 and type(g) is not Tensor:
        return _plain(g)
    if isinstance(g, np.ndarray) and g.ndim == 0:
        return g[()]
    return g


def _unbox(x, level):
    if type(x) is Tensor and x._level == level:
        return x._value
    return x


def _trace_vjp(f, args, kwargs, argnums, has_aux, name, retain):
    single, nums = _argnums(argnums, len(args), name)
    level = new_level()
    args = list(args)
    all_boxes, in_trees = [], []
    for i in nums:
        leaves, tree = tree_flatten(args[i])
        boxes = [box(_as_input(leaf, f"{name}: argument {i}{path}"), level)
                 for leaf, path in zip(leaves, tree.paths())]
        args[i] = tree_unflatten(tree, boxes)
        all_boxes.append(boxes)
        in_trees.append(tree)
    out = f(*args, **kwargs)
    aux = None
    if has_aux:
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            got = f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) \
                else "a single output"
            raise ValueError(f"{name} with has_aux=True needs the function to return a pair "
                             f"(output, aux), got {got}")
        out, aux = out
        aux_leaves, aux_tree = tree_flatten(aux)
        aux = tree_unflatten(aux_tree, [_unbox(a, level) for a in aux_leaves])
    out_leaves, out_tree = tree_flatten(out)
    pull = _VJP()
    pull.level, pull.boxes, pull.in_trees = level, all_boxes, in_trees
    pull.out_leaves, pull.out_tree, pull.retain, pull.used, pull.name = out_leaves, out_tree, retain, False, name
    primal_out = tree_unflatten(out_tree, [_unbox(o, level) for o in out_leaves])
    return single, primal_out, pull, aux


def vjp(f, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` is a tuple, one cotangent per primal.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> out, f_vjp = cr.vjp(lambda x: cnp.sin(x) * 2.0, 0.0)
    >>> f_vjp(1.0)
    (np.float64(2.0),)

    With ``has_aux=True``, ``f`` returns ``(out, aux)`` and the result is
    ``(out, vjp_fn, aux)``.
    """
    _, out, pull, aux = _trace_vjp(f, primals, {}, tuple(range(len(primals))), has_aux, "vjp", retain=True)
    return (out, pull, aux) if has_aux else (out, pull)


def value_and_grad(f, argnums=0, has_aux=False, _name="value_and_grad"):
    """A function giving ``(f(*args), grad)``; with ``has_aux``, ``((value, aux), grad)``.

    >>> import chainrule as cr
    >>> cr.value_and_grad(lambda x: x ** 2)(3.0)
    (np.float64(9.0), np.float64(6.0))
    """
    name = f"{_name}({getattr(f, '__name__', 'f')})"

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        single, out, pull, aux = _trace_vjp(f, args, kwargs, argnums, has_aux, name, retain=False)
        leaves = pull.out_leaves
        if len(leaves) != 1 or _size(leaves[0]) != 1:
            what = f"shape {_shape(leaves[0])}" if len(leaves) == 1 else f"a pytree {pull.out_tree}"
            raise ValueError(f"{name}: grad needs a scalar output (0-d or size 1), but the function "
                             f"returned {what}; use cr.vjp or cr.jacobian for non-scalar outputs")
        o = leaves[0]
        seed = np.ones(_shape(o), _float_dtype(o))
        grads = pull(tree_unflatten(pull.out_tree, [seed]))
        g = grads[0] if single else grads
        return ((out, aux) if has_aux else out), g

    return value_and_grad_f


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _size(x):
    return int(np.prod(_shape(x), dtype=np.int64))


def _float_dtype(o):
    dt = _raw_dtype(o)
    return dt if np.issubdtype(dt, np.floating) else np.float64


def grad(f, argnums=0, has_aux=False):
    """A function giving the gradient of scalar-valued ``f`` with respect to ``args[argnums]``.

    ``argnums`` may be a tuple (then a tuple of gradients is returned); the
    arguments may be pytrees.  With ``has_aux=True``, ``f`` returns
    ``(value, aux)`` and the result is ``(grad, aux)``.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x, y, w: cnp.exp(x * y) + w, argnums=(0, 1, 2))(1.0, 2.0, 3.0)
    (np.float64(14.7781121978613), np.float64(7.38905609893065), np.float64(1.0))
    """
    vg = value_and_grad(f, argnums, has_aux, _name="grad")

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        (value_aux, g) = vg(*args, **kwargs)
        return (g, value_aux[1]) if has_aux else g

    return grad_f


# -- forward mode ------------------------------------------------------------------

def jvp(f, primals, tangents):
    """``(f(*primals), J·tangents)`` by forward mode; ``primals`` and ``tangents`` are tuples.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.jvp(cnp.sin, (0.0,), (2.0,))
    (np.float64(0.0), np.float64(2.0))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument of f), "
                        f"got {type(primals).__name__} and {type(tangents).__name__}")
    p_leaves, p_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise ValueError(f"jvp: tangents have structure {t_tree} but primals have structure {p_tree}")
    level = new_level()
    tracers = []
    for k, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        p = _as_input(p, f"jvp primal {k}")
        dt = _raw_dtype(p)
        t = t if type(t) in TRACER_TYPES else np.asarray(t)
        _as_input(t, f"jvp tangent {k}")
        pshape = p.shape if hasattr(p, "shape") else np.shape(p)
        if tuple(t.shape) != tuple(pshape):
            raise ValueError(f"jvp: tangent {k} has shape {tuple(t.shape)} but its primal has shape {tuple(pshape)}")
        if type(t) not in TRACER_TYPES and t.dtype != dt:
            t = t.astype(dt)
        tracers.append(JVPTracer(p, t, level))
    out = f(*tree_unflatten(p_tree, tracers))
    o_leaves, o_tree = tree_flatten(out)
    outs, touts = [], []
    for o in o_leaves:
        if type(o) is JVPTracer and o._level == level:
            outs.append(o._value)
            touts.append(o._tangent)
        else:
            outs.append(o)
            shape = o.shape if hasattr(o, "shape") else np.shape(o)
            touts.append(np.zeros(shape, _float_dtype(o)))
    seen = set()
    return tree_unflatten(o_tree, outs), tree_unflatten(o_tree, [_scalar(own(t, seen)) for t in touts])


def _scalar(x):
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x
