"""Custom derivative rules: ``cr.custom_vjp`` and ``cr.custom_jvp`` (JAX semantics).

Each call of a decorated function binds *one* variadic primitive over the
flattened array leaves of its differentiable arguments; the params carry the
user's functions, the static (``nondiff_argnums``) arguments and the tree
structures.  Every transform therefore treats the call as one operation:

* ``custom_vjp`` -- reverse mode (``cr.grad``, ``cr.vjp``, the tape) runs the
  user's ``fwd`` and ``bwd``; forward mode (``cr.jvp``), where JAX refuses,
  differentiates the primal function itself.
* ``custom_jvp`` -- forward mode runs the user's rule; reverse mode
  *linearises* it: since the rule's tangent output is linear in the tangents,
  the VJP is reverse mode through ``t -> rule(primals, t)[1]`` at ``t = 0``.

The rules run one level down, on chainrule's own operations, so when the
user's rules are written with ``chainrule.numpy`` they can be differentiated
again (``grad`` of ``grad``, ``create_graph=True`` on the tape).

A function returning a pytree binds the primitive on the concatenation of
its raveled output leaves and splits the result (:func:`pack`,
:func:`unpack`, shared with ``checkpoint``), so the user's functions run
once per call whatever the number of outputs.

Under ``cr.vmap`` the user's functions run under ``vmap`` (as JAX batches
custom rules): the batching rule binds the primitive again on ``vmap(fun)``
with ``vmap(fwd)``/``vmap(bwd)`` (or ``vmap`` of the jvp rule), once for the
whole batch.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Generic, ParamSpec, Sequence, TypeVar

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, PerInput, bind, defprim, new_level
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.batching import is_batched
from chainrule._interpreters.jvp import JVPTracer
from chainrule._ops._wrap import batch_all, dtype_of
from chainrule._ops._wrap import raw as _raw

__all__ = ["custom_vjp", "custom_jvp"]

P = ParamSpec("P")
R = TypeVar("R")
Rule = TypeVar("Rule", bound=Callable[..., Any])


# -- shared plumbing -------------------------------------------------------------------


def _is_float(x):
    return np.issubdtype(dtype_of(x), np.inexact)


def _zeros(x):
    dt = dtype_of(x)
    return np.zeros(_shape(x), dt if np.issubdtype(dt, np.inexact) else np.float64)


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


class _Call:
    """The static part of one call: user functions, nondiff arguments, tree structures.

    It also holds the output structure (found when the primal first runs) and
    a one-entry cache, so the per-input VJP rules of one node compute the
    user's backward rule once, not once per input.
    """

    def __init__(self, owner, nargs, nondiff, in_tree):
        self.owner = owner          # the custom_vjp / custom_jvp object
        self.nargs = nargs
        self.nondiff = nondiff      # {position: value}
        self.in_tree = in_tree      # tree of the tuple of differentiable arguments
        self.out_tree = None
        self.out_shapes = None
        self.out_dtypes = None
        self._key = None            # (ans, g) the cached cotangents belong to
        self._cts = None
        self._impl_key = None       # plain inputs the cached primal output belongs to
        self._impl_out = None

    @property
    def name(self):
        return self.owner.__name__

    def args(self, leaves):
        """The full positional argument list from the differentiable leaves."""
        diff = list(tree_unflatten(self.in_tree, leaves))
        out = []
        for i in range(self.nargs):
            out.append(self.nondiff[i] if i in self.nondiff else diff.pop(0))
        return out

    def nondiff_values(self):
        return [self.nondiff[i] for i in sorted(self.nondiff)]

    def diff_trees(self, leaves):
        return tuple(tree_unflatten(self.in_tree, leaves))

    # outputs: one flat array for the primitive, split back into the tree
    def record_out(self, out, what):
        leaves, tree = tree_flatten(out)
        if not leaves:
            raise TypeError(f"{self.owner.kind} function '{self.name}': {what} returned no arrays")
        shapes = [_shape(o) for o in leaves]
        dtypes = [dtype_of(o) for o in leaves]
        if self.out_tree is None:
            self.out_tree, self.out_shapes, self.out_dtypes = tree, shapes, dtypes
        elif tree != self.out_tree or shapes != self.out_shapes:
            raise ValueError(f"{self.owner.kind} function '{self.name}': {what} returned structure "
                             f"{tree} with shapes {shapes}, but the function returns {self.out_tree} "
                             f"with shapes {self.out_shapes}")
        return leaves

    def single(self):
        return self.out_tree.kind == "leaf"

    def pack(self, leaves):
        """Output leaves (any level) as the primitive's one output."""
        return leaves[0] if self.single() else pack(leaves, self.out_dtypes)

    def unpack(self, flat):
        """The primitive's one output split back into the output leaves."""
        return [flat] if self.single() else unpack(flat, self.out_shapes, self.out_dtypes)

    def cotangents(self, ans, vals, g, compute):
        """All input cotangents for one (node, adjoint) pair, computed once."""
        key = self._key
        if key is not None and key[0] is ans and key[1] is g and len(key[2]) == len(vals) \
                and all(a is b for a, b in zip(key[2], vals)):
            return self._cts
        cts = compute(vals, g)
        self._key, self._cts = (ans, g, tuple(vals)), cts
        return cts


def pack(leaves, dtypes):
    """Several output leaves (of any level) as one flat array of their common dtype.

    A function with several outputs is bound as a primitive with this one
    output (``custom_vjp``, ``custom_jvp``, ``checkpoint``); :func:`unpack`
    splits it again.

    >>> import numpy as np
    >>> flat = pack([np.ones(2), np.float32(3.0)], [np.dtype(np.float64), np.dtype(np.float32)])
    >>> flat
    array([1., 1., 3.])
    >>> unpack(flat, [(2,), ()], [np.dtype(np.float64), np.dtype(np.float32)])
    [array([1., 1.]), np.float32(3.0)]
    """
    from chainrule._ops import astype, concatenate, ravel
    dt = np.result_type(*dtypes)
    flat = [ravel(o) for o in leaves]
    return concatenate([f if dtype_of(f) == dt else astype(f, dt) for f in flat])


def unpack(flat, shapes, dtypes):
    """The leaves that :func:`pack` joined, with their shapes and dtypes."""
    from chainrule._ops import astype, reshape
    out, start = [], 0
    for shape, dt in zip(shapes, dtypes):
        n = int(np.prod(shape, dtype=np.int64))
        piece = flat[start] if shape == () else reshape(flat[start:start + n], shape)
        if dtype_of(piece) != dt:
            piece = astype(piece, dt)
        if type(piece) is np.ndarray and piece.ndim == 0:
            piece = piece[()]  # a NumPy scalar, as chainrule's operations give
        out.append(piece)
        start += n
    return out


def _impl(*leaves, call):
    key = call._impl_key
    if key is not None and len(key) == len(leaves) and all(a is b for a, b in zip(key, leaves)):
        return call._impl_out
    out = call.owner.fun(*call.args(leaves))
    packed = call.pack(call.record_out(out, "the function"))
    if type(packed) not in TRACER_TYPES and not hasattr(packed, "shape"):
        packed = np.asarray(packed)[()]
    call._impl_key, call._impl_out = tuple(leaves), packed
    return packed


def _jvp_of_primal(call, primals, tangents):
    """Forward mode through the user's primal function (one fresh level)."""
    level = new_level()
    ins = [JVPTracer(p, t, level) if t is not None else p for p, t in zip(primals, tangents)]
    out = call.owner.fun(*call.args(ins))
    leaves = call.record_out(out, "the function")
    touts = []
    for o in leaves:
        if type(o) is JVPTracer and o._level == level:
            touts.append(o._tangent)
        else:
            touts.append(_zeros(o))
    return call.pack(touts)


def _check_cts(call, cts, primals, what):
    """Flatten the user's cotangents and check them against the differentiable inputs."""
    n = len(call.in_tree.children)
    if not isinstance(cts, (tuple, list)) or len(cts) != n:
        got = f"{len(cts)} cotangents" if isinstance(cts, (tuple, list)) else \
            f"a {type(cts).__name__}"
        raise ValueError(f"custom_vjp function '{call.name}': {what} must return a tuple with one "
                         f"cotangent per differentiable argument ({n}), got {got}")
    out = []
    for k, (ct, sub) in enumerate(zip(cts, call.in_tree.children)):
        nleaves = sub.num_leaves
        if ct is None:
            out.extend([None] * nleaves)
            continue
        leaves, tree = tree_flatten(ct)
        if len(leaves) != nleaves or (tree != sub and nleaves != 1):
            raise ValueError(f"custom_vjp function '{call.name}': {what} returned a cotangent of "
                             f"structure {tree} for argument {k}, which has structure {sub}")
        out.extend(leaves)
    for ct, p in zip(out, primals):
        if ct is not None and np.size(_raw(ct)) != np.size(_raw(p)):
            raise ValueError(f"custom_vjp function '{call.name}': {what} returned a cotangent of "
                             f"shape {_shape(ct)} for an input of shape {_shape(p)}")
    return out


def _fit_to(ct, p):
    if ct is None:
        return _zeros(p)
    if _shape(ct) != _shape(p):
        from chainrule._ops import reshape
        ct = reshape(ct, _shape(p))
    return ct


def _resolve_args(fun, args, kwargs, name):
    if not kwargs:
        return args
    try:
        ba = inspect.signature(fun).bind(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise TypeError(f"'{name}': {e}") from e
    if ba.kwargs:
        raise TypeError(f"'{name}': keyword-only arguments {sorted(ba.kwargs)} are not supported "
                        f"by custom derivative rules; pass them positionally")
    return ba.args


class _Custom(Generic[P, R]):
    kind = "custom"
    _prim: Any = None
    __name__: str  # fun's, like its other attributes (functools.update_wrapper)

    def __init__(self, fun: Callable[P, R], nondiff_argnums: Sequence[int] = ()) -> None:
        self.fun = fun
        self.nondiff_argnums = tuple(sorted(int(i) for i in nondiff_argnums))
        functools.update_wrapper(self, fun)

    def _ready(self):
        raise NotImplementedError

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        self._ready()
        args = _resolve_args(self.fun, args, kwargs, self.__name__)
        nargs = len(args)
        nondiff = {}
        for i in self.nondiff_argnums:
            j = i % nargs if -nargs <= i < nargs else None
            if j is None:
                raise ValueError(f"{self.kind} function '{self.__name__}': nondiff_argnums "
                                 f"{self.nondiff_argnums} does not fit a call with {nargs} arguments")
            nondiff[j] = args[j]
            if any(is_batched(leaf) for leaf in tree_flatten(args[j])[0]):
                raise TypeError(f"{self.kind} function '{self.__name__}': argument {j} is in nondiff_argnums "
                                f"but cr.vmap maps it; a nondiff argument is static, the same for every "
                                f"example. Make it a differentiable argument instead (its rule may give "
                                f"None as its cotangent)")
        diff = tuple(a for i, a in enumerate(args) if i not in nondiff)
        leaves, in_tree = tree_flatten(diff)
        leaves = [x if type(x) in TRACER_TYPES or hasattr(x, "shape") else np.asarray(x)[()]
                  for x in leaves]
        call = _Call(self, nargs, nondiff, in_tree)
        flat = bind(self._prim, tuple(leaves), {"call": call})
        return tree_unflatten(call.out_tree, call.unpack(flat))

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)


# -- custom_vjp ------------------------------------------------------------------------

class custom_vjp(_Custom[P, R]):
    """A function with a user-given reverse-mode rule (JAX semantics).

    ``f.defvjp(fwd, bwd)``: ``fwd(*args) -> (out, residuals)`` and
    ``bwd(residuals, g) -> tuple`` with one cotangent per differentiable
    argument (``None`` for zero).  With ``nondiff_argnums``, those arguments
    are static: ``bwd`` receives them first, ``bwd(*nondiff, res, g)``.

    Reverse mode (``cr.grad``, ``cr.vjp``, ``.backward()``) uses the rule;
    forward mode (``cr.jvp``), which JAX refuses, differentiates the primal
    function.  ``fwd`` runs again in the backward pass on the saved inputs.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule.custom import custom_vjp
    >>> @custom_vjp
    ... def log1pexp(x):
    ...     return cnp.log(1.0 + cnp.exp(x))
    >>> def fwd(x):
    ...     return log1pexp(x), x
    >>> def bwd(x, g):
    ...     return (g * (1.0 - 1.0 / (1.0 + cnp.exp(x))),)
    >>> log1pexp.defvjp(fwd, bwd)
    >>> float(cr.grad(log1pexp)(100.0))      # the naive rule gives nan here
    1.0
    >>> float(cr.jvp(log1pexp, (0.0,), (1.0,))[1])
    0.5
    """

    kind = "custom_vjp"

    def __init__(self, fun: Callable[P, R], nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable[..., tuple[R, Any]] | None = None
        self.bwd: Callable[..., Any] | None = None
        self._prim = _custom_vjp_p

    def defvjp(self, fwd: Callable[..., tuple[R, Any]], bwd: Callable[..., Any]) -> None:
        """Set the rule: ``fwd(*args) -> (out, res)``, ``bwd(res, g) -> cotangents``.

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> @cr.custom_vjp
        ... def f(x):
        ...     return cnp.sin(x)
        >>> f.defvjp(lambda x: (cnp.sin(x), cnp.cos(x)),   # fwd: the output, and cos(x) saved
        ...          lambda cos_x, g: (g * cos_x,))         # bwd: one cotangent per argument
        >>> cr.grad(f)(0.0)
        np.float64(1.0)
        """
        self.fwd = fwd
        self.bwd = bwd

    def _ready(self):
        if self.fwd is None:
            raise AttributeError(f"No VJP defined for custom_vjp function '{self.__name__}'; "
                                 f"call {self.__name__}.defvjp(fwd, bwd) first")


def _run_fwd(call, vals):
    """The user's ``fwd`` on the differentiable leaves: ``(output, residuals)``, checked."""
    res = call.owner.fwd(*call.args(list(vals)))
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        raise ValueError(f"custom_vjp function '{call.name}': fwd must return a pair "
                         f"(output, residuals), got {type(res).__name__}")
    return res


def _run_bwd(call, residuals, g, vals):
    """The user's ``bwd`` on the packed cotangent ``g``: one cotangent per leaf (``None`` for zero)."""
    g_tree = tree_unflatten(call.out_tree, call.unpack(g))
    cts = call.owner.bwd(*call.nondiff_values(), residuals, g_tree)
    return _check_cts(call, cts, vals, "bwd")


def _vjp_cotangents(call, vals, g):
    return _run_bwd(call, _run_fwd(call, vals)[1], g, vals)


def _cached_rules(compute):
    """Per-input VJP rules that share one computation of all cotangents per (node, g)."""
    def make(i):
        def rule(ans, *vals, call):
            def pull(g):
                ct = call.cotangents(ans, vals, g, functools.partial(compute, call))[i]
                return _fit_to(ct, vals[i])
            return pull
        return rule
    return PerInput(make)


def _custom_vjp_jvp(primals, tangents, ans, params):
    return _jvp_of_primal(params["call"], primals, tangents)


_custom_vjp_p = defprim("custom_vjp_call", _impl, _cached_rules(_vjp_cotangents), jvp=_custom_vjp_jvp,
                        batch=lambda vals, batched, params: _batch(vals, batched, params))


# -- custom_jvp ------------------------------------------------------------------------

class custom_jvp(_Custom[P, R]):
    """A function with a user-given forward-mode rule (JAX semantics).

    ``f.defjvp(rule)`` (also usable as a decorator):
    ``rule(primals, tangents) -> (primal_out, tangent_out)``, where
    ``primals`` and ``tangents`` are tuples of the differentiable arguments
    (a missing tangent is passed as zeros).  With ``nondiff_argnums`` the rule
    is ``rule(*nondiff, primals, tangents)``.

    Forward mode runs the rule; reverse mode linearises it (the tangent
    output is linear in the tangents), so ``cr.grad`` uses it too.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule.custom import custom_jvp
    >>> @custom_jvp
    ... def f(x, y):
    ...     return cnp.sin(x) * y
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x, y), (tx, ty) = primals, tangents
    ...     return f(x, y), cnp.cos(x) * tx * y + cnp.sin(x) * ty
    >>> float(cr.jvp(f, (0.0, 2.0), (1.0, 0.0))[1])
    2.0
    >>> [float(v) for v in cr.grad(f, argnums=(0, 1))(0.0, 2.0)]
    [2.0, 0.0]
    """

    kind = "custom_jvp"

    def __init__(self, fun: Callable[P, R], nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.jvp_rule: Callable[..., Any] | None = None
        self._prim = _custom_jvp_p

    def defjvp(self, jvp_rule: Rule) -> Rule:
        """Set the rule ``jvp_rule(primals, tangents) -> (primal_out, tangent_out)``; returns it.

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> @cr.custom_jvp
        ... def f(x):
        ...     return cnp.sin(x)
        >>> @f.defjvp
        ... def f_jvp(primals, tangents):
        ...     (x,), (t,) = primals, tangents
        ...     return cnp.sin(x), cnp.cos(x) * t
        >>> cr.jvp(f, (0.0,), (2.0,))
        (np.float64(0.0), np.float64(2.0))
        """
        self.jvp_rule = jvp_rule
        return jvp_rule

    def defjvps(self, *jvps: Callable[..., Any] | None) -> None:
        """One rule per argument, as JAX's ``defjvps``: ``jvps[i](t_i, ans, *primals)`` is the
        tangent contribution of argument ``i`` (``None``: it contributes nothing); they add up.

        >>> import chainrule as cr
        >>> @cr.custom_jvp
        ... def f(x, y):
        ...     return x * y
        >>> f.defjvps(lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
        >>> cr.grad(f, argnums=(0, 1))(2.0, 3.0)
        (np.float64(3.0), np.float64(2.0))
        """
        if self.nondiff_argnums:
            raise TypeError(f"custom_jvp function '{self.__name__}': defjvps cannot be used with "
                            f"nondiff_argnums; use defjvp")

        def rule(primals, tangents):
            if len(jvps) != len(primals):
                raise ValueError(f"custom_jvp function '{self.__name__}': defjvps got {len(jvps)} "
                                 f"rules for {len(primals)} arguments; give one per argument "
                                 f"(None for none)")
            ans = self(*primals)
            parts = [tree_flatten(j(t, ans, *primals))[0] for j, t in zip(jvps, tangents) if j is not None]
            leaves, tree = tree_flatten(ans)
            total = [sum((p[k] for p in parts), _zeros(o)) for k, o in enumerate(leaves)]
            return ans, tree_unflatten(tree, total)

        self.jvp_rule = rule

    def _ready(self):
        if self.jvp_rule is None:
            raise AttributeError(f"No JVP defined for custom_jvp function '{self.__name__}'; "
                                 f"call {self.__name__}.defjvp(rule) first")


def _run_jvp_rule(call, primals, tangents, with_primal=False):
    """The user's rule: the packed tangent output (and the packed primal output first if asked)."""
    res = call.owner.jvp_rule(*call.nondiff_values(), call.diff_trees(list(primals)),
                              call.diff_trees(list(tangents)))
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        raise ValueError(f"custom_jvp function '{call.name}': the jvp rule must return a pair "
                         f"(primal_out, tangent_out), got {type(res).__name__}")
    leaves = call.record_out(res[1], "the jvp rule's tangent output")
    tangent = call.pack([_zeros(o) if o is None else o for o in leaves])
    if not with_primal:
        return tangent
    return call.pack(call.record_out(res[0], "the jvp rule's primal output")), tangent


def _custom_jvp_jvp(primals, tangents, ans, params):
    call = params["call"]
    ts = [_zeros(p) if t is None else t for p, t in zip(primals, tangents)]
    return _run_jvp_rule(call, primals, ts)


def _jvp_cotangents(call, vals, g):
    # Reverse mode through the rule's tangent output, linear in the tangents.
    from chainrule.api import vjp
    vals = list(vals)
    idx = [k for k, v in enumerate(vals) if _is_float(v)]
    zeros = [_zeros(v) for v in vals]

    def lin(*ts):
        full = list(zeros)
        for k, t in zip(idx, ts):
            full[k] = t
        return _run_jvp_rule(call, vals, full)

    _, pull = vjp(lin, *[zeros[k] for k in idx])
    got = pull(g)
    cts = [None] * len(vals)
    for k, c in zip(idx, got):
        cts[k] = c
    return cts




_custom_jvp_p = defprim("custom_jvp_call", _impl, _cached_rules(_jvp_cotangents), jvp=_custom_jvp_jvp,
                        batch=lambda vals, batched, params: _batch(vals, batched, params))


# -- vmap: the user's functions, vmapped, behind a new call of the same primitive ------------


def _batch(vals, batched, params):
    """As JAX batches custom rules: ``fun``, ``fwd``, ``bwd`` (or the jvp rule) run under ``vmap``.

    Every input is made batched (an unbatched one is broadcast, so reverse mode
    sums its cotangent over the batch), and the vmapped functions are bound
    as a new call over the flat leaves, whose one output is the batched
    packed output of the original call.
    """
    from chainrule.api import vmap
    call = params["call"]
    owner = call.owner
    vals = batch_all(vals, batched)
    protos = [_zeros(v)[0] for v in vals]  # one example's leaves: shapes for bwd's cotangents

    def closed(out, inputs):
        """``out``, checked for a value traced at a level that none of ``inputs`` has (a closure)."""
        seen = set()
        for x in tree_flatten(inputs)[0]:
            while type(x) in TRACER_TYPES:
                seen.add(x._level)
                x = x._value
        inner = max(seen)  # the vmap's own: levels above it were made inside the user's function
        for x in tree_flatten(out)[0]:
            while type(x) in TRACER_TYPES:
                if x._level < inner and x._level not in seen:
                    from chainrule.checkpoint import transform_of
                    raise ValueError(
                        f"{owner.kind} function '{call.name}' closes over a value traced by "
                        f"{transform_of(x)}: it captures it from an enclosing scope, and its rules only "
                        f"see its arguments. Pass the value as an explicit argument")
                x = x._value
        return out

    def fun(*leaves):
        out = call.pack(call.record_out(owner.fun(*call.args(list(leaves))), "the function"))
        return closed(out, leaves)

    batched_call = type(owner)(vmap(fun))
    if owner.kind == "custom_vjp":
        def fwd(*leaves):
            out, residuals = _run_fwd(call, leaves)
            return closed(call.pack(call.record_out(out, "fwd")), leaves), residuals

        def bwd(residuals, g):
            return tuple(_fit_to(c, p) for c, p in zip(_run_bwd(call, residuals, g, protos), protos))

        batched_call.defvjp(vmap(fwd), vmap(bwd))
    else:
        batched_call.defjvp(vmap(lambda primals, tangents: closed(_run_jvp_rule(call, primals, tangents, True),
                                                                  (primals, tangents))))
    return batched_call(*vals)

