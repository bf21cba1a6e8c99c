"""Functional transforms, JAX style: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``.

Each call of a transformed function takes a fresh level, wraps the inputs
being differentiated in tracers of that level, runs the function, and reads
the result off the tracers.  Pytrees are flattened here, at the boundary.
"""
from __future__ import annotations

import functools
import numbers
import reprlib
from typing import Any, Callable, Literal, ParamSpec, Sequence, TypeVar, overload

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, new_level
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.jvp import JVPTracer
from chainrule._interpreters.reverse import Tensor, _plain, backward_pass, box, own

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "vmap", "jacfwd", "jacrev", "jacobian", "hessian"]

# Static types: a transform keeps the parameters of the function it is given (P); the
# ones that keep its output type say so (R), the rest return derivatives, pytrees (Any).
P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")  # the auxiliary output of a has_aux function
Argnums = int | Sequence[int]


# -- input checks ---------------------------------------------------------------

def _raw_dtype(x):
    while type(x) in TRACER_TYPES:
        x = x._value
    return x.dtype if type(x) is np.ndarray else np.result_type(x)


def _as_input(x, what):
    """A differentiable input as an array (or tracer), with a clear error otherwise."""
    given = x
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{what}: " + "masked arrays are not supported: the mask would be dropped silently (sums and derivatives would count the masked entries); pass x.filled(value) or x.compressed(), or a weight array of 0s and 1s")
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
        x = np.asarray(x) if isinstance(x, (bool, list, tuple)) else np.asarray(x, dtype=object)
        dt = x.dtype
    if dt.kind == "c":
        raise TypeError(f"{what} has complex dtype {dt} ({_described(given)}); complex differentiation is "
                        f"not supported yet -- differentiate the real and imaginary parts as float inputs")
    if dt.kind != "f":
        said = (f"has dtype {dt} ({_described(given)})" if dt.kind in "biuf" or hasattr(given, "dtype")
                else f"is {_described(given)}, not a number")
        raise TypeError(f"{what} {said}; only float inputs (float64, float32: Python floats, float arrays, "
                        f"cr.Tensors, or pytrees of them) can be differentiated -- pass e.g. "
                        f"np.asarray(x, dtype=float), or move the argument out of argnums")
    return x


def _described(x):
    """What the user passed, in their words: its Python type (and the value, if it is not an array)."""
    kind = type(x)
    if isinstance(x, (np.ndarray, np.generic)) or kind in TRACER_TYPES:
        return f"a {kind.__module__.split('.')[0]}.{kind.__qualname__}"
    owner = "Python " if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"a {owner}{kind.__qualname__}, {x!r:.40}"


def _callable(f, name):
    if not callable(f):
        raise TypeError(f"{name}: expected a function to transform, got {type(f).__name__} "
                        f"{f!r:.60}; pass the function itself (f, not f(x))")


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
        cts = []
        for out, ct in zip(self.out_leaves, ct_leaves):
            shape = _shape(out)
            if type(ct) not in TRACER_TYPES:  # a copy: results never alias the caller's array
                ct = np.array(ct, dtype=_float_dtype(out), copy=True)
            if tuple(ct.shape) != tuple(shape):
                raise ValueError(f"{self.name}: a cotangent has shape {tuple(ct.shape)} but the "
                                 f"matching output has shape {tuple(shape)}")
            cts.append(ct)
        return self.run(cts)

    def run(self, ct_leaves):
        """The pullback of checked cotangent leaves (one per output leaf, of its shape)."""
        if self.used and not self.retain:
            raise RuntimeError(f"{self.name}: this pullback was already used and its graph freed")
        self.used = True
        roots, cts = [], []
        for out, ct in zip(self.out_leaves, ct_leaves):
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


def _split_aux(out, has_aux, name, unbox):
    """``(out, aux)``: with ``has_aux`` the function's pair, aux read off this level's tracers."""
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        got = f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) \
            else "a single output"
        raise ValueError(f"{name} with has_aux=True needs the function to return a pair "
                         f"(output, aux), got {got}")
    out, aux = out
    aux_leaves, aux_tree = tree_flatten(aux)
    return out, tree_unflatten(aux_tree, [unbox(a) for a in aux_leaves])


def _trace_vjp(f, args, kwargs, argnums, has_aux, name, retain):
    single, nums = _argnums(argnums, len(args), name)
    level = new_level()
    args = list(args)
    all_boxes, in_trees = [], []
    for i in nums:
        leaves, tree = tree_flatten(args[i])
        if all(type(leaf) is np.ndarray and leaf.dtype.kind == "f" for leaf in leaves):  # the usual case
            boxes = [box(leaf, level) for leaf in leaves]
        else:
            boxes = [box(_as_input(leaf, f"{name}: argument {i}{path}"), level)
                     for leaf, path in zip(leaves, tree.paths())]
        args[i] = tree_unflatten(tree, boxes)
        all_boxes.append(boxes)
        in_trees.append(tree)
    out, aux = _split_aux(f(*args, **kwargs), has_aux, name, lambda a: _unbox(a, level))
    out_leaves, out_tree = tree_flatten(out)
    pull = _VJP()
    pull.level, pull.boxes, pull.in_trees = level, all_boxes, in_trees
    pull.out_leaves, pull.out_tree, pull.retain, pull.used, pull.name = out_leaves, out_tree, retain, False, name
    primal_out = tree_unflatten(out_tree, [_unbox(o, level) for o in out_leaves])
    return single, primal_out, pull, aux


@overload
def vjp(f: Callable[..., R], *primals: Any,
        has_aux: Literal[False] = False) -> tuple[R, Callable[[Any], tuple[Any, ...]]]: ...
@overload
def vjp(f: Callable[..., tuple[R, A]], *primals: Any,
        has_aux: Literal[True]) -> tuple[R, Callable[[Any], tuple[Any, ...]], A]: ...


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` is a tuple, one cotangent per primal.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> out, f_vjp = cr.vjp(lambda x: cnp.sin(x) * 2.0, 0.0)
    >>> f_vjp(1.0)
    (np.float64(2.0),)

    With ``has_aux=True``, ``f`` returns ``(out, aux)`` and the result is
    ``(out, vjp_fn, aux)``.
    """
    _callable(f, 'vjp')
    _, out, pull, aux = _trace_vjp(f, primals, {}, tuple(range(len(primals))), has_aux, "vjp", retain=True)
    return (out, pull, aux) if has_aux else (out, pull)


def value_and_grad(f: Callable[P, R], argnums: Argnums = 0, has_aux: bool = False,
                   _name: str = "value_and_grad") -> Callable[P, tuple[R, Any]]:
    """A function giving ``(f(*args), grad)``; with ``has_aux``, ``((value, aux), grad)``.

    >>> import chainrule as cr
    >>> cr.value_and_grad(lambda x: x ** 2)(3.0)
    (np.float64(9.0), np.float64(6.0))
    """
    _callable(f, _name)
    name = f"{_name}({getattr(f, '__name__', 'f')})"

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        single, out, pull, aux = _trace_vjp(f, args, kwargs, argnums, has_aux, name, retain=False)
        leaves = pull.out_leaves
        if len(leaves) != 1 or _size(leaves[0]) != 1:
            what = f"shape {_shape(leaves[0])}" if len(leaves) == 1 else f"a pytree {pull.out_tree}"
            hint = ("" if leaves else " (no value at all: check that the function returns its result, "
                    "and that no argument is None -- None is an empty pytree, with nothing to differentiate)")
            raise ValueError(f"{name}: grad needs a scalar output (0-d or size 1), but the function "
                             f"returned {what}{hint}; use cr.vjp or cr.jacobian for non-scalar outputs")
        o = leaves[0]
        grads = pull.run([np.ones(_shape(o), _float_dtype(o))])  # a fresh seed: no checks, no copy
        g = grads[0] if single else grads
        return ((out, aux) if has_aux else out), g

    return value_and_grad_f


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _size(x):
    n = getattr(x, "size", None)  # arrays, Tensors, tracers
    return n if type(n) is int else int(np.prod(_shape(x), dtype=np.int64))


def _float_dtype(o):
    dt = _raw_dtype(o)
    return dt if dt.kind == "f" else np.float64


def grad(f: Callable[P, Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[P, Any]:
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

@overload
def jvp(f: Callable[..., R], primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: Literal[False] = False, _name: str = "jvp") -> tuple[R, R]: ...
@overload
def jvp(f: Callable[..., tuple[R, A]], primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: Literal[True], _name: str = "jvp") -> tuple[R, R, A]: ...


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False, _name: str = "jvp") -> tuple[Any, ...]:
    """``(f(*primals), J·tangents)`` by forward mode; ``primals`` and ``tangents`` are tuples.

    With ``has_aux=True``, ``f`` returns ``(out, aux)`` and the result is
    ``(out, tangent_out, aux)``, as in JAX.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.jvp(cnp.sin, (0.0,), (2.0,))
    (np.float64(0.0), np.float64(2.0))
    """
    _callable(f, 'jvp')
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
    out, aux = _split_aux(f(*tree_unflatten(p_tree, tracers)), has_aux, _name,
                          lambda a: a._value if type(a) is JVPTracer and a._level == level else a)
    o_leaves, o_tree = _check_outputs(out, _name)
    outs, touts = [], []
    for o in o_leaves:
        if type(o) is JVPTracer and o._level == level:
            outs.append(o._value)
            touts.append(o._tangent)
        else:
            outs.append(o)
            shape = o.shape if hasattr(o, "shape") else np.shape(o)
            touts.append(np.zeros(shape, _float_dtype(o)))
    seen: set[int] = set()
    result = tree_unflatten(o_tree, outs), tree_unflatten(o_tree, [_scalar(own(t, seen)) for t in touts])
    return result + (aux,) if has_aux else result


def _scalar(x):
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


# -- batching and Jacobians ----------------------------------------------------------

def _axis_leaves(spec, tree, what):
    """One axis (an int or ``None``) per leaf of ``tree``, from ``spec``: an int or ``None``
    for the whole subtree, or a container of the same kind as ``tree`` holding such specs
    (a pytree *prefix*, as in JAX; ``None`` in it is an axis, not an empty subtree).
    Walked with a stack, so any depth works."""
    out, todo = [], [(spec, tree, what)]
    while todo:
        spec, tree, what = todo.pop()
        if spec is None or isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            out += [None if spec is None else int(spec)] * tree.num_leaves
            continue
        kind = tree.kind
        same = (type(spec) is kind or (isinstance(spec, (tuple, list)) and kind in (tuple, list))
                or (kind not in ("leaf", "none", dict, tuple, list) and isinstance(spec, tuple)))
        if kind is dict and isinstance(spec, dict):
            if set(spec) != set(tree.meta):
                raise ValueError(f"vmap: {what} is a dict with keys {sorted(spec, key=repr)}, but the "
                                 f"value has keys {list(tree.meta)}; give one entry per key (an int "
                                 f"or None)")
            subs = [(spec[k], c, f"{what}[{k!r}]") for k, c in zip(tree.meta, tree.children)]
        elif not same or kind is dict or len(spec) != len(tree.children):
            raise ValueError(f"vmap: {what} is {reprlib.repr(spec)}, which does not match the value's "
                             f"structure {reprlib.repr(tree)}; use an int or None, or a pytree prefix "
                             f"of the value")
        else:
            subs = [(sp, c, f"{what}[{i}]") for i, (sp, c) in enumerate(zip(spec, tree.children))]
        todo.extend(reversed(subs))
    return out


def vmap(f: Callable[P, R], in_axes: Any = 0, out_axes: Any = 0,
         axis_size: int | None = None) -> Callable[P, R]:
    """``f`` mapped over a batch axis: ``vmap(f)(xs)[i] == f(xs[i])``, in one vectorised call.

    ``in_axes`` is an int (the batch axis of every argument), ``None`` (not
    mapped), or a tuple with one entry per positional argument, each an int,
    ``None`` or a pytree prefix of that argument (e.g. ``(None, {"w": 0, "b": None})``).
    Keyword arguments are mapped over their leading axis, as in JAX.
    ``out_axes`` (an int, negative counting from the end, ``None`` or a pytree
    prefix of the output) places the batch axis of the outputs; ``None``
    requires an output that does not depend on the mapped inputs.  ``axis_size``
    gives the batch size when no argument is mapped.  Composes with
    ``grad``/``vjp``/``jvp`` in either order: ``vmap(grad(loss))`` gives
    per-example gradients.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.vmap(lambda x: cnp.sum(x ** 2))(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([ 5., 25.])
    >>> cr.vmap(cr.grad(lambda w, x: cnp.sum(w * x) ** 2), in_axes=(None, 0))(
    ...     np.array([1.0, 1.0]), np.array([[1.0, 0.0], [0.0, 2.0]]))
    array([[2., 0.],
           [0., 8.]])
    """
    _callable(f, 'vmap')
    from chainrule._interpreters.batching import BatchTracer
    from chainrule._ops import broadcast_to, moveaxis

    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if axis_size is not None and not (isinstance(axis_size, (int, np.integer)) and axis_size >= 0):
        raise ValueError(f"vmap: axis_size must be a non-negative int, got {axis_size!r}")

    @functools.wraps(f)
    def vmapped(*args, **kwargs):
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        if len(axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(axes)} entries for {len(args)} positional "
                             f"argument{'s' if len(args) != 1 else ''}; give one entry per argument "
                             f"(an int, None or a pytree prefix)")
        named = [(f"argument {k}", a, ax) for k, (a, ax) in enumerate(zip(args, axes))]
        named += [(f"keyword argument {k!r}", a, 0) for k, a in kwargs.items()]
        level = new_level()
        sizes = []  # (where, size) of every mapped leaf
        new_vals = []
        for where, a, ax in named:
            leaves, tree = tree_flatten(a)
            ax_leaves = _axis_leaves(ax, tree, f"in_axes for {where}")
            wrapped = []
            for leaf, lax, path in zip(leaves, ax_leaves, tree.paths()):
                if lax is None:
                    wrapped.append(leaf)
                    continue
                leaf = leaf if type(leaf) in TRACER_TYPES else np.asarray(leaf)
                shape = _shape(leaf)
                if not -len(shape) <= lax < len(shape):
                    raise ValueError(f"vmap: in_axes {lax} asks to map axis {lax} of {where}{path}, "
                                     f"but it has shape {shape} (rank {len(shape)}); pick an axis in "
                                     f"range, or None to leave it unmapped" + (
                                         " (keyword arguments are always mapped over axis 0, as in "
                                         "JAX: pass an unmapped value positionally with in_axes "
                                         "None, or close over it)" if where[0] == "k" else ""))
                sizes.append((f"{where}{path} (shape {shape}, axis {lax})", shape[lax]))
                wrapped.append(BatchTracer(moveaxis(leaf, lax, 0) if lax % len(shape) else leaf, level))
            new_vals.append(tree_unflatten(tree, wrapped))
        n = axis_size if axis_size is not None else (sizes[0][1] if sizes else None)
        if any(s != n for _, s in sizes):
            detail = "; ".join(f"{w} has size {s}" for w, s in sizes)
            extra = f"axis_size={axis_size}, but " if axis_size is not None else ""
            raise ValueError(f"vmap: inconsistent sizes of the mapped axes: {extra}{detail}")
        if n is None:
            raise ValueError("vmap: no argument is mapped (every in_axes is None); pass axis_size= "
                             "to give the batch size")
        new_args = new_vals[:len(args)]
        new_kwargs = dict(zip(kwargs, new_vals[len(args):]))
        o_leaves, o_tree = tree_flatten(f(*new_args, **new_kwargs))
        o_axes = _axis_leaves(out_axes, o_tree, "out_axes")
        outs = []
        for o, oax, path in zip(o_leaves, o_axes, o_tree.paths()):
            batched = type(o) is BatchTracer and o._level == level
            if oax is None:
                if batched:
                    raise ValueError(f"vmap: out_axes is None for output{path or ''}, but that output "
                                     f"depends on the mapped inputs (it differs per example); give it "
                                     f"an int out_axes, or return an unbatched value")
                outs.append(o)
                continue
            v = o._value if batched else broadcast_to(o, (n,) + _shape(o))
            nd = len(_shape(v))
            if not -nd <= oax < nd:
                raise ValueError(f"vmap: out_axes {oax} is out of range for output{path} of shape "
                                 f"{_shape(v)[1:]} (the batch axis makes rank {nd})")
            outs.append(moveaxis(v, 0, oax) if oax % nd else v)
        return tree_unflatten(o_tree, outs)

    return vmapped


def _with(args, nums, values):
    args = list(args)
    for i, v in zip(nums, values):
        args[i] = v
    return args


def _basis(leaves, dtype_of):
    """Rows of the identity over the concatenated leaves, cut back into one array per
    leaf, each of shape ``(n,) + leaf.shape``; also each leaf's (start, size) slice."""
    if not leaves:  # nothing to differentiate (None, {}) or no output: no basis
        return [], []
    pieces, spans = _basis_of(tuple((tuple(_shape(x)), np.dtype(dtype_of(x))) for x in leaves))
    return list(pieces), list(spans)


def _own(block):
    """A Jacobian block the caller owns: a view of the cached read-only basis (the Jacobian
    of ``x -> x``) is copied."""
    if type(block) is np.ndarray and not block.flags.writeable:
        return block.copy()
    return block


@functools.lru_cache(maxsize=64)
def _basis_of(specs):
    """``_basis`` for leaves of these (shape, dtype)s, built once (read-only arrays: a
    Jacobian of R^1000 -> R^4 spent 60 % of its time making np.eye(1000) each call)."""
    sizes = [int(np.prod(shape, dtype=np.int64)) for shape, _ in specs]
    n = sum(sizes)
    eye = np.eye(n, dtype=np.result_type(*[dt for _, dt in specs]))
    pieces, spans, start = [], [], 0
    for (shape, dt), s in zip(specs, sizes):
        piece = eye[:, start:start + s].reshape((n,) + shape).astype(dt)
        piece.flags.writeable = False
        pieces.append(piece)
        spans.append((start, s))
        start += s
    return tuple(pieces), tuple(spans)


def _assemble(out, diff, single, block):
    """The Jacobian as a pytree: the output's structure, each output leaf holding the
    structure of the differentiated arguments (unwrapped for a single ``argnums``),
    with ``block(k, j)`` the array of output leaf k by input leaf j."""
    o_leaves, o_tree = tree_flatten(out)
    i_leaves, i_tree = tree_flatten(diff)
    rows = []
    for k in range(len(o_leaves)):
        per_input = tree_unflatten(i_tree, [_scalar(block(k, j)) for j in range(len(i_leaves))])
        rows.append(per_input[0] if single else tuple(per_input))
    return tree_unflatten(o_tree, rows)


def _jac_inputs(args, argnums, name):
    """``(single, nums, diff)`` for a Jacobian, every differentiated leaf checked to be a
    float array (a ``TypeError`` naming ``name`` and the argument path otherwise)."""
    single, nums = _argnums(argnums, len(args), name)
    for i in nums:
        leaves, tree = tree_flatten(args[i])
        for leaf, path in zip(leaves, tree.paths()):
            _as_input(leaf, f"{name}: argument {i}{path}")
    return single, nums, tuple(args[i] for i in nums)


def _check_outputs(out, name):
    leaves, tree = tree_flatten(out)
    for o, path in zip(leaves, tree.paths()):
        if type(o) in TRACER_TYPES or isinstance(o, (np.ndarray, np.generic, numbers.Number)):
            continue
        raise TypeError(f"{name}: output{path} is a {type(o).__name__}, not an array or number; "
                        f"return arrays (pytrees of them), or return other values through has_aux "
                        f"of cr.grad / cr.vjp")
    return leaves, tree


def _record(f, args, kwargs, nums, diff, has_aux, name):
    """One recorded reverse-mode pass of ``f`` in the arguments ``nums``: ``(out, pullback, aux)``."""
    _, out, pull, aux = _trace_vjp(lambda *d: f(*_with(args, nums, d), **kwargs), diff, {},
                                   tuple(range(len(diff))), has_aux, name, retain=True)
    return out, pull, aux


#: Up to this many output elements, a reverse-mode Jacobian calls the pullback per row
_FEW_OUTPUTS = 2


def _jacrev_from(out, pull, diff, single, name):
    """The Jacobian from one recorded reverse-mode pass: its output and pullback."""
    from chainrule._ops import reshape
    o_leaves, o_tree = _check_outputs(out, name)
    cts, spans = _basis(o_leaves, _float_dtype)
    n = sum(_size(o) for o in o_leaves)
    if 0 < n <= _FEW_OUTPUTS:  # one or two outputs: the pullback itself, once a row, beats vmapping it
        from chainrule._ops import stack
        per = [tree_flatten(pull(tree_unflatten(o_tree, [c[r] for c in cts])))[0] for r in range(n)]
        rows = [stack([p[j] for p in per]) for j in range(len(per[0]))]
    else:
        rows = tree_flatten(vmap(lambda *c: pull(tree_unflatten(o_tree, list(c))), axis_size=n)(*cts))[0]
    i_leaves = tree_flatten(diff)[0]

    def block(k, j):
        (start, s), out_shape = spans[k], _shape(o_leaves[k])
        return _own(reshape(rows[j][start:start + s], out_shape + _shape(i_leaves[j])))

    return _assemble(out, diff, single, block)


def jacrev(f: Callable[P, Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[P, Any]:
    """The Jacobian of ``f`` by reverse mode: one batched pullback over the output basis.

    Each block has shape ``out.shape + in.shape``.  Pytrees work on both sides, as
    in JAX: the result has the output's structure, and each output leaf holds the
    structure of the differentiated arguments (a tuple of them for a tuple ``argnums``).
    Keyword arguments are passed through to ``f`` and not differentiated.  With
    ``has_aux=True``, ``f`` returns ``(out, aux)`` and the result is ``(jacobian, aux)``.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.jacrev(lambda x: cnp.sin(x) * x[0])(np.array([0.0, 1.0]))
    array([[0.        , 0.        ],
           [0.84147098, 0.        ]])
    >>> J = cr.jacrev(lambda p: {"sum": cnp.sum(p["w"]), "sq": p["w"] ** 2})({"w": np.array([1.0, 2.0])})
    >>> J["sq"]["w"], J["sum"]["w"]
    (array([[2., 0.],
           [0., 4.]]), array([1., 1.]))
    """
    _callable(f, 'jacrev')
    @functools.wraps(f)
    def jac(*args, **kwargs):
        single, nums, diff = _jac_inputs(args, argnums, "jacrev")
        out, pull, aux = _record(f, args, kwargs, nums, diff, has_aux, "jacrev")
        J = _jacrev_from(out, pull, diff, single, "jacrev")
        return (J, aux) if has_aux else J

    return jac


def jacfwd(f: Callable[P, Any], argnums: Argnums = 0, has_aux: bool = False, *,
           chunk_size: int | None = None) -> Callable[P, Any]:
    """The Jacobian of ``f`` by forward mode: one batched push-forward over the input basis.

    Shapes, pytree structure, keyword arguments and ``has_aux`` as for :func:`jacrev`.
    ``chunk_size`` (``torch.func.jacfwd``'s) pushes that many basis directions at a time
    instead of all at once: the intermediates of each batched pass shrink by ``n /
    chunk_size``, which keeps a large batched computation (a Hessian inside ``vmap`` over
    many points) in cache, at the price of one pass per chunk.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.jacfwd(lambda x: cnp.sin(x) * x[0])(np.array([0.0, 1.0]))
    array([[0.        , 0.        ],
           [0.84147098, 0.        ]])
    >>> cr.jacfwd(lambda x, y: (x * y, x + y), argnums=(0, 1))(2.0, 3.0)
    ((np.float64(3.0), np.float64(2.0)), (np.float64(1.0), np.float64(1.0)))
    """
    _callable(f, 'jacfwd')
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"jacfwd: chunk_size must be a positive int or None, got {chunk_size!r}")

    @functools.wraps(f)
    def jac(*args, **kwargs):
        from chainrule._ops import moveaxis, reshape
        single, nums, diff = _jac_inputs(args, argnums, "jacfwd")
        i_leaves, i_tree = tree_flatten(diff)
        tangents, spans = _basis(i_leaves, _float_dtype)

        def push(*ts):
            _, tout, *aux = jvp(lambda *d: f(*_with(args, nums, d), **kwargs), diff,
                                tree_unflatten(i_tree, list(ts)), has_aux=has_aux, _name="jacfwd")
            return tout, (aux[0] if has_aux else None)

        # the output's structure, leaves (n, *out.shape); aux is the same for every tangent
        n = sum(_size(x) for x in i_leaves)
        if chunk_size is None or chunk_size >= n:
            tout, aux = vmap(push, out_axes=(0, None), axis_size=n)(*tangents)
        else:
            from chainrule._ops import concatenate
            parts = [vmap(push, out_axes=(0, None), axis_size=min(chunk_size, n - s))(
                *(t[s:s + chunk_size] for t in tangents)) for s in range(0, n, chunk_size)]
            aux = parts[0][1]
            trees = [tree_flatten(p[0]) for p in parts]
            tout = tree_unflatten(trees[0][1], [concatenate([t[0][k] for t in trees])
                                                for k in range(len(trees[0][0]))])
        t_leaves = tree_flatten(tout)[0]

        def block(k, j):
            (start, s), out_shape = spans[j], _shape(t_leaves[k])[1:]
            piece = t_leaves[k][start:start + s]
            piece = moveaxis(piece, 0, -1) if out_shape else piece
            return _own(reshape(piece, out_shape + _shape(i_leaves[j])))

        J = _assemble(tout, diff, single, block)
        return (J, aux) if has_aux else J

    return jac


def jacobian(f: Callable[P, Any], argnums: Argnums = 0, mode: Literal["auto", "fwd", "rev"] = "auto",
             has_aux: bool = False) -> Callable[P, Any]:
    """The Jacobian of ``f``, shape ``out.shape + in.shape``, in the cheaper mode.

    A k x n Jacobian takes n forward passes or k reverse passes (each batched
    into one vectorised pass here).  ``mode="auto"`` picks **forward mode when
    the outputs outnumber the inputs** (k > n) and reverse mode otherwise;
    ``mode="fwd"`` / ``"rev"`` forces one.  To learn k, auto mode records one
    reverse-mode pass of ``f``; when reverse mode is chosen, that pass (its
    output and pullback) is the one the Jacobian is pulled back through, so
    ``f`` runs once; only when forward mode wins is it followed by the forward pass.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.jacobian(lambda x: cnp.outer(x, x).ravel())(np.array([1.0, 2.0]))  # 4 outputs > 2 inputs: fwd
    array([[2., 0.],
           [2., 1.],
           [2., 1.],
           [0., 4.]])
    """
    _callable(f, 'jacobian')
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
    if mode != "auto":
        return (jacfwd if mode == "fwd" else jacrev)(f, argnums, has_aux)

    @functools.wraps(f)
    def jac(*args, **kwargs):
        single, nums, diff = _jac_inputs(args, argnums, "jacobian")
        out, pull, aux = _record(f, args, kwargs, nums, diff, has_aux, "jacobian")
        n_in = sum(_size(x) for x in tree_flatten(diff)[0])
        n_out = sum(_size(o) for o in _check_outputs(out, "jacobian")[0])
        if n_out > n_in:
            return jacfwd(f, argnums, has_aux)(*args, **kwargs)
        J = _jacrev_from(out, pull, diff, single, "jacobian")
        return (J, aux) if has_aux else J

    return jac


def hessian(f: Callable[P, Any], argnums: Argnums = 0, has_aux: bool = False, *,
            chunk_size: int | None = None) -> Callable[P, Any]:
    """The Hessian of scalar ``f``, forward-over-reverse; shape ``in.shape + in.shape``
    (``(hessian, aux)`` with ``has_aux=True``).  ``chunk_size`` goes to the forward pass
    (:func:`jacfwd`): Hessian-vector products that many directions at a time.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))
    array([[6., 2.],
           [2., 0.]])
    """
    _callable(f, 'hessian')
    h = jacfwd(jacrev(f, argnums, has_aux), argnums, has_aux, chunk_size=chunk_size)

    @functools.wraps(f)
    def hess(*args, **kwargs):
        _jac_inputs(args, argnums, "hessian")  # errors name hessian, not its inner transforms
        return h(*args, **kwargs)

    return hess
