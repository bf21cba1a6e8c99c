"""Gradient checkpointing: trade compute for memory in reverse mode.

``cr.checkpoint(f)`` is ``f`` with the same values and the same derivatives of
every order, but reverse mode does not keep ``f``'s intermediates: the whole
call is recorded as *one* node, ``checkpoint``, that saves only its inputs and
its output.  When the backward pass reaches that node, ``f`` is run again
under ``cr.vjp`` and the pullback is applied to the incoming cotangent, so the
intermediates of one checkpointed block live only while that block's
backward pass runs.  A chain of ``n`` layers cut into blocks of ``k`` keeps
about ``n / k + k`` activations instead of ``n``.

How it fits chainrule: ``checkpoint`` is an ordinary variadic
:class:`~chainrule._core.primitive.Primitive` over the array leaves of the
arguments.  Its evaluation runs ``f`` on plain values (one level down, so
nothing is recorded); its VJP rule re-runs ``f`` under ``cr.vjp``, and its JVP
rule runs ``f`` under ``cr.jvp``.  Because the rules are written with
chainrule's own transforms, the backward pass of one level is an ordinary
computation for the level above it: ``grad`` of ``grad``, ``jvp`` of
``grad``, and ``.backward(create_graph=True)`` all work through a checkpoint.

One re-run per backward: the rule of every input of a node reads the
cotangents from a single pullback, cached for the cotangent it was given.
Under ``cr.vmap`` a checkpointed call stays one node: its batching rule binds
``checkpoint`` again on ``vmap(f)``.

Closures: the primitive sees only its operands, so a traced value that
``f`` captures in a closure cell (``lambda x: x * w`` with ``w`` being
differentiated or vmapped) is lifted into an extra argument
(:func:`lift_closure`).  One captured more deeply (a global, an attribute,
another function's closure) cannot be seen; that raises a ``ValueError``
that names the transform, rather than giving wrong results.
"""
from __future__ import annotations

import functools
import types
import weakref
from typing import Any, Callable, ParamSpec, Sequence, TypeVar, overload

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, PerInput, defprim, bind
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.reverse import Tensor
from chainrule._ops._wrap import dtype_of
from chainrule._ops._wrap import raw as _raw
from chainrule.custom import pack, unpack
from chainrule._interpreters.staging import trace

__all__ = ["checkpoint"]


P = ParamSpec("P")
R = TypeVar("R")


@overload
def checkpoint(f: Callable[P, R], *, static_argnums: int | Sequence[int] = (), policy: Any = None,
               prevent_cse: bool = True) -> Callable[P, R]: ...
@overload
def checkpoint(f: None = None, *, static_argnums: int | Sequence[int] = (), policy: Any = None,
               prevent_cse: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def checkpoint(f: Callable[P, R] | None = None, *, static_argnums: int | Sequence[int] = (), policy: Any = None,
               prevent_cse: bool = True) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """``f`` with the same values and derivatives, its intermediates recomputed in the backward pass.

    Reverse mode stores only the inputs and the output of each call of the
    returned function; the backward pass runs ``f`` again to get the
    intermediates it needs.  Wrap blocks of a deep network to cut the peak
    memory of its gradient, at the price of one more forward pass per block.

    The arguments may be pytrees (tuples, lists, dicts of arrays) and keyword
    arguments; array and float leaves are traced, other leaves (ints,
    strings, ``None``) are passed through unchanged.  The output may be an
    array or a pytree of arrays.  Derivatives of any order work, in any mix
    of ``grad``, ``vjp``, ``jvp`` and the tape.  As in JAX, ``static_argnums``
    marks arguments passed through untraced (e.g. a float that drives Python
    control flow); ``policy`` and ``prevent_cse`` are accepted for compatibility
    and change nothing here (every intermediate is recomputed).  Values being differentiated
    should reach ``f`` as arguments or closure variables (which are lifted
    into arguments); a deeper capture (a global, an attribute) raises.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule.checkpoint import checkpoint   # also cr.checkpoint
    >>> block = checkpoint(lambda x: cnp.sin(cnp.sin(x)))
    >>> cr.grad(lambda x: block(x) * 2.0)(0.0)
    np.float64(2.0)
    >>> x = cr.tensor([0.0, 1.0], requires_grad=True)
    >>> block(x).sum().backward()
    >>> x.grad
    tensor([1.        , 0.36003949])
    """
    if f is None:  # @cr.checkpoint(static_argnums=...) as a decorator factory
        return functools.partial(checkpoint, static_argnums=static_argnums, policy=policy,
                                 prevent_cse=prevent_cse)
    if not callable(f):
        raise TypeError(f"checkpoint: expected a function, got {type(f).__name__}")
    statics = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(f)
    def checkpointed(*args, **kwargs):
        fn, closed = lift_closure(f)  # traced values f closes over become arguments
        fixed = set()  # leaves of static_argnums: passed through, never traced
        for i in statics:
            if not -len(args) <= i < len(args):
                raise ValueError(f"checkpoint: static_argnums {static_argnums!r} does not fit a call "
                                 f"with {len(args)} positional arguments")
            sub = tree_flatten(args[i])[0]
            if any(type(leaf) in TRACER_TYPES for leaf in sub):
                raise TypeError(f"checkpoint: argument {i % len(args)} is in static_argnums but holds "
                                f"a traced value (differentiated or vmapped); remove it from "
                                f"static_argnums")
            start = len(tree_flatten(args[:i % len(args)])[0])
            fixed.update(range(start, start + len(sub)))
        args = args + closed
        leaves, in_tree = tree_flatten((args, kwargs))
        dyn_pos, dyn, static = [], [], list(leaves)
        for k, leaf in enumerate(leaves):
            if k not in fixed and _is_dynamic(leaf):
                dyn_pos.append(k)
                dyn.append(leaf)
                static[k] = None
        if not dyn:  # nothing to trace: a plain call
            return fn(*args, **kwargs)
        spec = _Spec(fn, in_tree, tuple(dyn_pos), static,
                     tuple(i for i, a in enumerate(dyn) if _requires_grad(a)))
        out = bind(checkpoint_p, tuple(dyn), {"spec": spec})
        return spec.unpack(out)

    return checkpointed


def _is_dynamic(x):
    return (type(x) in TRACER_TYPES or isinstance(x, (np.ndarray, np.generic))
            or (isinstance(x, float)))


def _requires_grad(x):
    """True if some reverse-mode level differentiates ``x``."""
    while type(x) in TRACER_TYPES:
        if type(x) is Tensor and x.requires_grad:
            return True
        x = x._value
    return False



def _is_float(x):
    return np.issubdtype(dtype_of(x), np.floating)


class _Spec:
    """The params of one call: ``f``, how to rebuild its arguments, its output layout, a cache."""

    __slots__ = ("f", "in_tree", "dyn_pos", "static", "diff", "out_tree", "out_meta", "_entry")

    def __init__(self, f, in_tree, dyn_pos, static, diff):
        self.f = f
        self.in_tree = in_tree
        self.dyn_pos = dyn_pos
        self.static = static
        self.diff = diff          # inputs that some reverse level differentiates
        self.out_tree = None      # set by the first evaluation
        self.out_meta = None      # (shapes, dtypes) of the output leaves, when there are several
        self._entry = None        # the cached pullback results: (g, vals, {i: cotangent})

    def __repr__(self):
        return f"<checkpointed {getattr(self.f, '__name__', 'function')}>"

    # -- running f on flat values ---------------------------------------------------
    def call(self, dyn):
        """``f`` on the flat dynamic leaves, its output packed into one array."""
        leaves = list(self.static)
        for k, v in zip(self.dyn_pos, dyn):
            leaves[k] = v
        args, kwargs = tree_unflatten(self.in_tree, leaves)
        out_leaves, out_tree = tree_flatten(self.f(*args, **kwargs))
        if not out_leaves:
            raise ValueError(f"checkpoint: {self!r} returned no arrays")
        for o, path in zip(out_leaves, out_tree.paths()):
            if not (type(o) in TRACER_TYPES or isinstance(o, (np.ndarray, np.generic, int, float))) \
                    or isinstance(o, (str, bytes, np.str_, np.bytes_)):
                raise TypeError(f"{self!r} returned output{path} of type "
                                f"{type(o).__name__}; a checkpointed function returns arrays or "
                                f"numbers (pytrees of them) -- return other values outside it")
        if self.out_tree is None:
            self.out_tree = out_tree
            if len(out_leaves) > 1:
                self.out_meta = ([tuple(np.shape(_raw(o))) for o in out_leaves],
                                 [dtype_of(o) for o in out_leaves])
        if len(out_leaves) == 1:
            return out_leaves[0]
        return pack(out_leaves, self.out_meta[1])

    def call_with(self, vals, idx, sub):
        """``f`` with ``vals``, positions ``idx`` replaced by ``sub``."""
        vals = list(vals)
        for i, v in zip(idx, sub):
            vals[i] = v
        return self.call(vals)

    def unpack(self, out):
        """The packed output of :meth:`call` as ``f``'s output pytree."""
        if self.out_tree is None:  # evaluated by an interpreter that did not run f: one array
            return out
        if self.out_meta is None:
            return tree_unflatten(self.out_tree, [out])
        return tree_unflatten(self.out_tree, unpack(out, *self.out_meta))

    # -- reverse mode: one re-run per (node, cotangent) -------------------------------
    def cotangent(self, i, vals, g):
        entry = self._entry
        if entry is None or entry[0]() is not g or len(entry[1]) != len(vals) \
                or any(a is not b for a, b in zip(entry[1], vals)) or i not in entry[2]:
            entry = self._pullback(i, vals, g)
        cts = entry[2]
        ct = cts.pop(i)
        if not cts:
            self._entry = None
        return ct

    def _pullback(self, i, vals, g):
        from chainrule.api import vjp
        # the inputs differentiated when the call was made; a call traced before it was differentiated
        # (inside cr.jit, a loop body) did not know them: then every float input, in one recomputation
        want = self.diff if i in self.diff else range(len(vals))
        idx = tuple(j for j in sorted(set(want) | {i}) if _is_float(vals[j]))
        if i not in idx:
            idx = idx + (i,)
        from chainrule.jit import is_staged
        staged = self._staged_pullback(vals, g, idx) if any(map(is_staged, (g, *vals))) else None
        if staged is not None:
            cts = dict(zip(idx, staged))
        else:
            _, pull = vjp(lambda *sub: self.call_with(vals, idx, sub), *(vals[j] for j in idx))
            cts = dict(zip(idx, pull(g)))
            del pull  # the recomputed intermediates go now
        try:  # drop the cache with the cotangent it answers (arrays, Tensors)
            ref = weakref.ref(g, self._forget)
        except TypeError:  # NumPy scalars, JVP tracers: hold it until every input is served
            ref = _Strong(g)
        entry = self._entry = (ref, tuple(vals), cts)
        return entry

    def _staged_pullback(self, vals, g, idx):
        """Inside ``cr.jit``: the recomputation and the pullback as one call of their compiled graph.

        Bound as separate equations, the recomputed forward pass would depend only on
        the inputs, and partial evaluation would move it to the forward graph and keep
        its intermediates: no memory saved.  One call that reads the cotangent stays in
        the backward graph.  ``None`` when ``f`` reads values the graph cannot take.
        """
        from chainrule.api import vjp
        from chainrule.jit import Compiled, _Call, _differentiated, jit_call_p, nested_trace_values

        def fn(*a):
            vs, ct = a[:-1], a[-1]
            _, pull = vjp(lambda *sub: self.call_with(vs, idx, sub), *(vs[j] for j in idx))
            return list(pull(ct))
        ir, _, captured = trace(fn, nested_trace_values((*vals, g)), name=f"vjp({self!r:.40})")
        if captured:
            return None
        graph = Compiled(ir)
        out = bind(jit_call_p, (*vals, g), {"call": _Call(graph, _differentiated((*vals, g)), keep=True)})
        return graph.unpack(out)

    def _forget(self, ref):
        if self._entry is not None and self._entry[0] is ref:
            self._entry = None


class _Strong:
    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __call__(self):
        return self.obj


# -- the primitive --------------------------------------------------------------------

def _impl(*vals, spec):
    out = spec.call(vals)
    if type(out) is Tensor and out._level == 0 and not out.requires_grad:
        out = out._value  # a closed-over constant Tensor: no history to lose
    if type(out) in TRACER_TYPES:
        raise ValueError(
            f"{spec!r} closes over a value traced by {transform_of(out)}: it captures it from an "
            f"enclosing scope instead of receiving it as an argument, and checkpoint only sees its "
            f"arguments. Pass the value as an explicit argument: cr.checkpoint(lambda x, w: ...)(x, w) "
            f"rather than cr.checkpoint(lambda x: ... w ...)(x)")
    return out


def lift_closure(f):
    """``(g, values)``: ``g(*args, *values, **kw) == f(*args, **kw)``, ``values`` the traced ones ``f`` closes over.

    A value that ``f`` captures in a closure cell (``lambda x: x * w``) is
    invisible to a primitive that only sees its arguments.  The cells whose
    contents hold a tracer are lifted into trailing arguments: ``g`` is ``f``
    rebuilt with those cells refilled from its last arguments.  Deeper
    captures (a global, an attribute, another function's closure) are not
    seen; they still raise the closure error.
    """
    cells = getattr(f, "__closure__", None)
    if not cells or type(f) is not types.FunctionType:
        return f, ()
    lifted = []
    for k, cell in enumerate(cells):
        try:
            v = cell.cell_contents
        except ValueError:  # not yet assigned
            continue
        if any(type(leaf) in TRACER_TYPES for leaf in tree_flatten(v)[0]):
            lifted.append(k)
    if not lifted:
        return f, ()
    m = len(lifted)

    def g(*args, **kwargs):
        new = list(cells)
        for k, v in zip(lifted, args[-m:]):
            new[k] = types.CellType(v)
        rebuilt = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, tuple(new))
        rebuilt.__kwdefaults__ = f.__kwdefaults__
        return rebuilt(*args[:-m], **kwargs)

    g.__name__ = getattr(f, "__name__", "function")
    return g, tuple(cells[k].cell_contents for k in lifted)


def transform_of(x):
    """The transform that traces ``x``, as a user knows it (for errors about closures)."""
    return {"Tensor": "reverse mode (cr.grad, cr.vjp or .backward())",
            "JVPTracer": "forward mode (cr.jvp or cr.jacfwd)",
            "BatchTracer": "cr.vmap"}.get(type(x).__name__, type(x).__name__)


def _make_vjp(i):
    def rule(ans, *vals, spec):
        return lambda g: spec.cotangent(i, vals, g)
    return rule


def _jvp(primals, tangents, ans, params):
    from chainrule.api import jvp
    spec = params["spec"]
    idx = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not idx:
        return None
    _, t = jvp(lambda *sub: spec.call_with(primals, idx, sub),
               tuple(primals[i] for i in idx), tuple(tangents[i] for i in idx))
    return t


def _batch(vals, batched, params):
    """vmap of a checkpointed call: one checkpointed call of ``vmap(f)`` (as JAX batches ``remat``)."""
    from chainrule.api import vmap
    spec = params["spec"]
    inner = vmap(lambda *dyn: spec.call(dyn), in_axes=tuple(0 if b else None for b in batched))
    _, in_tree = tree_flatten((tuple(vals), {}))
    batched_spec = _Spec(inner, in_tree, tuple(range(len(vals))), [None] * len(vals),
                         tuple(i for i, a in enumerate(vals) if _requires_grad(a)))
    return bind(checkpoint_p, tuple(vals), {"spec": batched_spec})


def _formula(i, shapes, params, names, names_tex, g, g_tex):
    """For ``explain``: the wrapped function's vjp, its forward pass recomputed."""
    who = getattr(params["spec"].f, "__name__", "")
    who = who if who.isidentifier() else "the checkpointed function"
    return (f"vjp of {who} (forward recomputed) applied to {g}",
            rf"\operatorname{{vjp}}_{{\mathrm{{{who.replace('_', '-')}}}}}({g_tex})")


checkpoint_p = defprim(
    "checkpoint", _impl, PerInput(_make_vjp), jvp=_jvp,
    batch=_batch,
    formulas=PerInput(lambda i: _formula))
