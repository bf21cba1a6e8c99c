"""``cr.jit`` and ``cr.make_ir``: trace once, optimise the graph, run it as straight-line code.

``jit(f)`` traces ``f`` at a fresh level with the staging interpreter
(:mod:`chainrule._interpreters.staging`) for each new (pytree structure,
shapes, dtypes, static values, grad mode) of its arguments, optimises the
graph (:mod:`chainrule._jit.passes`) and emits it as code
(:mod:`chainrule._jit.codegen`).  A call on plain arrays runs that code
directly.  A call on values of other transforms binds the graph as one
primitive, ``jit_call``, whose rules *transform the graph*:

* reverse mode: the graph of ``vjp`` of the graph, split by partial
  evaluation into a forward graph that also returns the residuals the
  backward pass needs and a backward graph from (residuals, cotangent) to the
  input cotangents.  The tape keeps the residuals of the call; its backward
  pass runs the compiled backward graph.  At higher orders (the cotangent is
  itself traced) the rule binds ``jit_call`` of the whole vjp graph, whose
  rules are derived again;
* forward mode: ``jit_call`` of the graph of ``jvp`` of the graph;
* ``vmap``: ``jit_call`` of the graph of ``vmap`` of the graph.

Every derived graph is itself traced with the staging interpreter from the
rules in the primitives' ``defprim`` blocks, optimised and compiled once, and
kept with the graph it came from.  So ``jit`` composes with every transform,
in either order and at any depth, without knowing any primitive.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Generic, ParamSpec, Sequence, TypeVar, overload

import numpy as np

from chainrule._core.primitive import OPAQUE, SEE_THROUGH, TRACER_TYPES, PerInput, bind, defprim, grad_state
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.reverse import Tensor
from chainrule._interpreters.staging import IR, Lit, Var, eval_ir, trace
from chainrule._jit import codegen, passes

__all__ = ["jit", "make_ir", "Jitted"]

P = ParamSpec("P")
R = TypeVar("R")

_SCALARS = (bool, int, float, complex)


# -- arguments: dynamic leaves, static values, the cache key -------------------------------

def _is_dynamic(x):
    t = type(x)
    return t in TRACER_TYPES or t is np.ndarray or isinstance(x, np.generic) or t in _SCALARS


def _abstract(x):
    """What a traced graph depends on: shape and dtype (and scalar kind)."""
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype)
    if t in _SCALARS:
        return t  # weakly typed, as NumPy treats Python scalars
    if t in TRACER_TYPES:
        return (tuple(x.shape), x.dtype)
    return (t, x.dtype)  # a NumPy scalar


def _trace_value(x):
    """The value a trace evaluates on: the plain array under differentiation tracers, else ``x``."""
    y = x
    while type(y) in SEE_THROUGH:
        y = y._value
    return x if type(y) in TRACER_TYPES else y


def _hashable(v, what):
    try:
        hash(v)
    except TypeError:
        raise TypeError(f"jit: {what} is a {type(v).__name__}, which is not hashable; static values "
                        f"key the compile cache -- pass a tuple instead of a list, or make it an array "
                        f"argument (traced) instead") from None
    return v


class _Signature:
    """How one call's arguments split into dynamic leaves and the static rest."""

    __slots__ = ("key", "dyn", "tree", "leaves", "dyn_pos", "static_args", "static_kw")

    def __init__(self, jitted, args, kwargs):
        n = len(args)
        static_args = {}
        for i in jitted.static_argnums:
            j = i % n if -n <= i < n else None
            if j is None:
                if i in jitted._num_names:  # passed by name, or left to its default
                    continue
                raise ValueError(f"jit({jitted.__name__}): static_argnums {jitted.static_argnums!r} does not "
                                 f"fit a call with {n} positional argument{'s' if n != 1 else ''}")
            static_args[j] = _hashable(args[j], f"static argument {j}")
        for j, name in jitted._named_pos:  # a static_argnames argument passed by position
            if j < n:
                static_args[j] = _hashable(args[j], f"static argument {name!r}")
        static_kw = tuple(sorted((k, _hashable(kwargs[k], f"static argument {k!r}"))
                                 for k in jitted.static_argnames if k in kwargs))
        dyn_args = tuple(None if i in static_args else a for i, a in enumerate(args))
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in jitted.static_argnames}
        leaves, tree = tree_flatten((dyn_args, dyn_kwargs))
        dyn_pos, dyn, fixed = [], [], []
        for k, leaf in enumerate(leaves):
            if _is_dynamic(leaf):
                dyn_pos.append(k)
                dyn.append(leaf)
            else:
                fixed.append((k, _hashable(leaf, f"the non-array argument leaf {leaf!r:.40}")))
        self.key = (tree, tuple(sorted(static_args.items())), static_kw, tuple(fixed),
                    tuple(map(_abstract, dyn)), grad_state.frozen < 0)
        self.dyn = dyn
        self.tree = tree
        self.leaves = leaves
        self.dyn_pos = dyn_pos
        self.static_args = static_args
        self.static_kw = static_kw

    def rebuild(self, dyn):
        """The call's ``(args, kwargs)`` with the dynamic leaves replaced by ``dyn``."""
        leaves = list(self.leaves)
        for k, v in zip(self.dyn_pos, dyn):
            leaves[k] = v
        args, kwargs = tree_unflatten(self.tree, leaves)
        args = list(args)
        for i, v in self.static_args.items():
            args[i] = v
        if self.static_kw:
            kwargs = {**kwargs, **dict(self.static_kw)}
        return args, kwargs


# -- a compiled graph ----------------------------------------------------------------------

class Compiled:
    """One optimised graph with its code, and the graphs derived from it (made on demand)."""

    __slots__ = ("ir", "raw_ir", "run", "source", "out_tree", "out_shapes", "out_dtypes", "zero_d", "constants",
                 "several", "_derived", "__weakref__")

    def __init__(self, ir, out_tree=None):
        self.raw_ir = ir
        self.ir = passes.optimize(ir)
        self.run, self.source = codegen.compile_ir(self.ir)
        self.out_tree = out_tree
        self.out_shapes = self.ir.out_shapes
        self.out_dtypes = self.ir.out_dtypes
        self.zero_d = tuple(k for k, sh in enumerate(self.out_shapes) if not sh)  # returned as NumPy scalars
        self.constants = tuple((k, o.value) for k, o in enumerate(self.ir.outs) if type(o) is Lit)
        self.several = len(self.ir.outs) > 1  # a traced call may split its outputs (Compiled.split)
        self._derived = {}

    # -- one output array for the primitive --------------------------------------------
    def single(self):
        return len(self.ir.outs) == 1

    def pack(self, outs):
        if len(outs) == 1:
            return outs[0]
        from chainrule.custom import pack
        return pack(outs, self.out_dtypes)

    def unpack(self, flat):
        if len(self.ir.outs) == 1:
            return [flat]
        from chainrule.custom import unpack
        return unpack(flat, self.out_shapes, self.out_dtypes)

    def packed_fn(self):
        """The graph as a function of flat inputs with one (packed) output, bound primitive by primitive."""
        ir = self.ir
        return lambda *xs: self.pack(eval_ir(ir, xs))

    # -- derived graphs ---------------------------------------------------------------
    def derived(self, key, make):
        d = self._derived.get(key)
        if d is None:
            d = self._derived[key] = make()
        return d

    def split(self, traced):
        """For a call whose inputs ``traced`` (bools) are values of transforms: ``None`` when every output
        depends on them, else ``(dependent positions, their graph or None, the others, their graph)``.

        The others (data-only metrics, constants) are computed from the plain inputs and come back as
        NumPy values, as they do eagerly; only the dependent part is bound as ``jit_call``.
        """
        def make():
            ir = self.ir
            live = {id(v) for v, t in zip(ir.invars, traced) if t}
            for e in ir.eqns:
                if any(type(a) is Var and id(a) in live for a in e.ins):
                    live.add(id(e.out))
            dep = tuple(k for k, o in enumerate(ir.outs) if type(o) is Var and id(o) in live)
            if len(dep) == len(ir.outs):
                return None
            indep = tuple(k for k in range(len(ir.outs)) if k not in dep)
            return (dep, Compiled(ir.replace(outs=[ir.outs[k] for k in dep])) if dep else None,
                    indep, Compiled(ir.replace(outs=[ir.outs[k] for k in indep])))
        return self.derived(("split", traced), make)

    def float_inputs(self):
        return tuple(i for i, v in enumerate(self.ir.invars) if np.issubdtype(v.dtype, np.inexact))

    def cotangent_example(self):
        """A zero cotangent of the packed output (tracing the vjp graph needs its shape and dtype)."""
        return np.zeros(self.out_shapes[0] if self.single() else
                        (sum(int(np.prod(s)) for s in self.out_shapes),), np.result_type(*self.out_dtypes))

    def vjp_graph(self, vals, g, idx):
        """``(xs..., g) -> [packed output, cotangents of inputs idx...]``: the whole vjp, and it split.

        ``g`` is only traced (for its shape and dtype) the first time; ``None`` means zeros.
        """
        def make():
            ct = self.cotangent_example() if g is None else g
            from chainrule.api import vjp
            f = self.packed_fn()

            def fn(*a):
                xs, ct = list(a[:-1]), a[-1]

                def sub(*s):
                    for i, v in zip(idx, s):
                        xs[i] = v
                    return f(*xs)
                out, pull = vjp(sub, *(a[i] for i in idx))
                return [out, *pull(ct)]
            ir, _, captured = trace(fn, [*_trace_values(vals), _trace_value(ct)], name=f"vjp({self.ir.name})")
            if captured:
                raise RuntimeError(f"jit: internal error, the vjp graph of {self.ir.name} captured a value")
            return _VJPGraphs(ir, idx)
        return self.derived(("vjp", idx), make)

    def jvp_graph(self, idx, primals, tangents):
        """``(xs..., tangents[idx]...) -> tangent of the packed output``."""
        def make():
            from chainrule.api import jvp
            f = self.packed_fn()
            n = len(primals)

            def fn(*a):
                xs = list(a[:n])

                def sub(*s):
                    for i, v in zip(idx, s):
                        xs[i] = v
                    return f(*xs)
                _, t = jvp(sub, tuple(a[i] for i in idx), tuple(a[n:]))
                return [t]
            ir, _, _ = trace(fn, [*_trace_values(primals), *_trace_values([tangents[i] for i in idx])],
                             name=f"jvp({self.ir.name})")
            return Compiled(ir)
        return self.derived(("jvp", idx), make)

    def batch_graph(self, vals, batched):
        """The graph mapped over axis 0 of the ``batched`` inputs."""
        key = ("vmap", tuple(batched), tuple(tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
                                              for v, b in zip(vals, batched) if b))

        def make():
            from chainrule.api import vmap
            f = self.packed_fn()
            axes = tuple(0 if b else None for b in batched)
            ir, _, _ = trace(lambda *a: [vmap(f, in_axes=axes)(*a)], _trace_values(vals),
                             name=f"vmap({self.ir.name})")
            return Compiled(ir)
        return self.derived(key, make)


class _VJPGraphs:
    """The vjp graph of a graph, whole (for traced cotangents) and split at the residuals."""

    __slots__ = ("whole", "idx", "fwd", "bwd", "n_res")

    def __init__(self, ir, idx):
        self.whole = Compiled(ir)          # (xs..., g) -> [out, cts...]
        self.idx = idx
        fwd, bwd, n_res = passes.split_known(self.whole.ir, len(ir.invars) - 1, n_known_outs=1)
        self.fwd = Compiled(fwd)           # xs -> [out, residuals...]
        self.bwd = Compiled(bwd)           # (residuals..., g) -> cts
        self.n_res = n_res


def _trace_values(xs):
    return [_trace_value(x) for x in xs]


def nested_trace_values(xs):
    """The values a graph traced inside a transform evaluates on (a loop's body, a branch).

    A staged value stands for every value of its shape: zeros take its place, so
    that the nested trace does not also record its operations, dead, in the
    enclosing graph.
    """
    return [np.zeros(v.shape, v.dtype) if type(v) in OPAQUE else v for v in _trace_values(xs)]


def is_staged(x):
    """True for a value of a trace (``cr.jit``) beneath any differentiation tracers."""
    while type(x) in SEE_THROUGH:
        x = x._value
    return type(x) in OPAQUE


# -- the primitive ---------------------------------------------------------------------------

class _Call:
    """The params of one ``jit_call``: the compiled graph, and what this call keeps for its backward pass."""

    __slots__ = ("graph", "diff", "keep", "res_key", "res", "_ct_key", "_cts")

    def __init__(self, graph, diff=(), keep=False):
        self.graph = graph
        self.diff = diff  # the inputs a recording reverse level differentiates: keep residuals for them
        self.keep = keep  # stay one equation when staged (a recomputation that must run in the backward pass)
        self.res_key = None
        self.res = None
        self._ct_key = None
        self._cts = None

    def __repr__(self):
        return f"<jit {self.graph.ir.name}>"

    def cotangent(self, i, vals, g):
        if not same_call(self._ct_key, g, vals) or self._cts[i] is None:
            self._cts = self._cotangents(i, vals, g)
            self._ct_key = (g, tuple(vals))
        return self._cts[i]

    def _cotangents(self, i, vals, g):
        graph = self.graph
        plain = type(g) not in TRACER_TYPES and not any(type(v) in TRACER_TYPES for v in vals)
        floats = graph.float_inputs()
        idx = self.diff if i in self.diff else tuple(j for j in floats if j in self.diff or j == i)
        vg = graph.vjp_graph(vals, g, idx)
        if plain:
            if self.res is not None and idx == self.diff and len(self.res_key) == len(vals) \
                    and all(a is b for a, b in zip(self.res_key, vals)):
                flat = vg.bwd.run(*self.res, g)       # the compiled backward graph on the residuals
            else:
                flat = vg.whole.run(*vals, g)[1:]     # no residuals kept: the whole vjp, compiled
        else:  # a traced cotangent or inputs (a higher derivative): the vjp graph as a primitive
            out = bind(jit_call_p, (*vals, g), {"call": _Call(vg.whole, _differentiated((*vals, g)))})
            flat = vg.whole.unpack(out)[1:]
        cts = [None] * len(vals)
        for i, c in zip(vg.idx, flat):
            cts[i] = c
        return cts


def same_call(key, g, vals):
    """Whether ``key`` (``(g, vals)`` of a kept backward step, or ``None``) is this step's, by identity."""
    return key is not None and key[0] is g and len(key[1]) == len(vals) \
        and all(a is b for a, b in zip(key[1], vals))


def _impl(*vals, call):
    graph = call.graph
    if call.diff:
        vg = graph.vjp_graph(vals, None, call.diff)
        outs = vg.fwd.run(*vals)
        call.res_key = vals
        call.res = outs[1:]
        return outs[0]
    return graph.pack(graph.run(*vals))


def _make_vjp(i):
    def rule(ans, *vals, call):
        return lambda g: call.cotangent(i, vals, g)
    return rule


def _jvp(primals, tangents, ans, params):
    graph = params["call"].graph
    idx = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not idx:
        return None
    jg = graph.jvp_graph(idx, primals, tangents)
    args = (*primals, *(tangents[i] for i in idx))
    return bind(jit_call_p, args, {"call": _Call(jg, _differentiated(args))})


def _batch(vals, batched, params):
    bg = params["call"].graph.batch_graph(vals, batched)
    return bind(jit_call_p, tuple(vals), {"call": _Call(bg, _differentiated(vals))})


def _formula(i, shapes, params, names, names_tex, g, g_tex):
    who = params["call"].graph.ir.name
    return (f"vjp of the compiled {who} applied to {g}", rf"\operatorname{{vjp}}_{{\mathrm{{{who}}}}}({g_tex})")


def _expand(*vals, call):
    """The call as the graph's own primitives (staging inlines a jitted call into the graph around it)."""
    if call.keep:
        return NotImplemented
    graph = call.graph
    return graph.pack(eval_ir(graph.ir, vals))


jit_call_p = defprim("jit_call", _impl, PerInput(_make_vjp), jvp=_jvp, batch=_batch,
                     formulas=PerInput(lambda i: _formula), expand=_expand)


def _differentiated(xs):
    """The positions of the ``xs`` that a recording reverse-mode level differentiates.

    For them the call keeps the residuals of its forward graph, and its
    backward graph computes just their cotangents.
    """
    frozen = grad_state.frozen
    out = []
    for k, x in enumerate(xs):
        while type(x) in TRACER_TYPES:
            if type(x) is Tensor and x.requires_grad and x._level > frozen:
                out.append(k)
                break
            if type(x) in OPAQUE:
                break
            x = x._value
    return tuple(out)


# -- the user API ----------------------------------------------------------------------------

class Jitted(Generic[P, R]):
    """A function compiled by :func:`jit`; call it like the function (type checkers see its signature)."""

    __name__: str  # f's, like its other attributes (functools.update_wrapper)

    def __init__(self, f: Callable[P, R], static_argnums: int | Sequence[int],
                 static_argnames: str | Sequence[str]) -> None:
        functools.update_wrapper(self, f)
        self.fun = f
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.static_argnames = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        for i in self.static_argnums:
            if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
                raise TypeError(f"jit({self.__name__}): static_argnums holds {i!r}; it takes argument positions "
                                f"(ints) -- name arguments with static_argnames=('name',)")
        for k in self.static_argnames:
            if not isinstance(k, str):
                raise TypeError(f"jit({self.__name__}): static_argnames holds {k!r}; it takes parameter names "
                                f"(strings) -- give positions with static_argnums=(i,)")
        self._named_pos = ()  # (position, name) of the static_argnames that f also takes by position
        self._num_names: dict[int, str] = {}  # static_argnums -> f's parameter there, which may come by name instead
        self._static_names(f)
        self._cache: dict[Any, Compiled] = {}
        self._static_pos: dict[int, Any] = {}  # number of positional arguments -> static positions
        self.traces = 0  # how many times f was traced (a new shape, dtype or static value)
        self._captured_traces = 0  # of them, traces that captured values (never cached)

    def _static_names(self, f):
        """A static argument is static whether passed by position or by name (f's signature links them)."""
        try:
            params = list(inspect.signature(f).parameters.values())
        except (TypeError, ValueError):  # no signature (a builtin): names and positions stay as given
            return
        pos = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            missing = [k for k in self.static_argnames if k not in {p.name for p in params}]
            if missing:
                raise ValueError(f"jit({self.__name__}): static_argnames names {missing[0]!r}, but the function "
                                 f"has no such parameter (its parameters: {', '.join(p.name for p in params)})")
        self._named_pos = tuple((pos.index(k), k) for k in self.static_argnames if k in pos)
        by_name = {p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD}
        self._num_names = {i: pos[i] for i in self.static_argnums if 0 <= i < len(pos) and pos[i] in by_name}
        self.static_argnames += tuple(k for k in self._num_names.values() if k not in self.static_argnames)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:  # a jitted method binds like a function
        return self if obj is None else functools.partial(self, obj)

    def _graph(self, sig):
        """``(compiled, out_values, captured)`` for this call's signature, tracing on a miss."""
        graph = self._cache.get(sig.key)
        if graph is not None:
            return graph, None, ()
        out_tree = []

        def flat(*dyn):
            args, kwargs = sig.rebuild(dyn)
            leaves, tree = tree_flatten(self.fun(*args, **kwargs))
            for k, leaf in enumerate(leaves):
                if not (_is_dynamic(leaf)):
                    path = tree.paths()[k]
                    raise TypeError(f"jit({self.__name__}): {'output ' + path if path else 'the output'} "
                                    f"is a {type(leaf).__name__} ({leaf!r:.40}); a jitted function returns "
                                    f"arrays and numbers (pytrees of them) -- return other values from "
                                    f"outside it")
            out_tree.append(tree)
            return leaves
        self.traces += 1
        ir, outs, captured = trace(flat, _trace_values(sig.dyn), name=getattr(self.fun, "__name__", "f"))
        ir.in_tree, ir.out_tree = sig.tree, out_tree[0]
        graph = Compiled(ir, out_tree[0])
        if not captured:
            self._cache[sig.key] = graph
        else:
            self._captured_traces += 1
            if self._captured_traces == _CAPTURED_WARN_AFTER:
                import warnings
                shapes = ", ".join(f"{type(c).__name__} of shape {tuple(c.shape)}" for c in captured[:3])
                warnings.warn(f"jit({self.__name__}): traced {self._captured_traces} times because it reads "
                              f"values it is not passed ({shapes}{', ...' if len(captured) > 3 else ''}): a "
                              f"closure over a Tensor with requires_grad, or over a value of grad/vmap, is "
                              f"found only by tracing, so every call traces again -- pass them as arguments "
                              f"to run the compiled graph", RuntimeWarning, stacklevel=3)
        return graph, outs, captured

    def _fast_key(self, args, kwargs):
        """``(key, dynamic leaves)`` without building a TreeDef -- the cache-hit path.

        ``None`` for what only the full signature handles (keywords, non-array
        leaves, an unhashable static value); the leaves come in ``tree_flatten``'s order.
        """
        if kwargs:
            return None
        n = len(args)
        statics = self._static_pos.get(n)
        if statics is None:
            try:
                statics = self._static_pos[n] = frozenset(
                    [i % n for i in self.static_argnums if -n <= i < n] + [i for i, _ in self._named_pos if i < n])
            except ZeroDivisionError:
                statics = self._static_pos[n] = frozenset()
        key = [n, grad_state.frozen < 0]
        dyn = []
        for i, a in enumerate(args):
            if i in statics:
                try:
                    hash(a)
                except TypeError:
                    return None
                key.append(("static", a))
                continue
            todo = [a]
            while todo:
                x = todo.pop()
                t = type(x)
                if t is np.ndarray or t in TRACER_TYPES:
                    key.append((x.shape, x.dtype))
                    dyn.append(x)
                elif t is dict:
                    ks = sorted(x)
                    key.append(("dict", tuple(ks)))
                    todo.extend([x[k] for k in reversed(ks)])
                elif t is tuple or t is list:
                    key.append((t, len(x)))
                    todo.extend(reversed(x))
                elif t in _SCALARS:
                    key.append(t)
                    dyn.append(x)
                elif isinstance(x, np.generic):
                    key.append((t, x.dtype))
                    dyn.append(x)
                else:
                    return None
        return tuple(key), dyn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        fast = self._fast_key(args, kwargs)
        graph = None if fast is None else self._cache.get(fast[0])
        if graph is not None:  # the hit path
            dyn, outs, captured = fast[1], None, ()
        else:
            sig = _Signature(self, args, kwargs)
            graph, outs, captured = self._graph(sig)
            dyn = sig.dyn
            if fast is not None and not captured:
                self._cache[fast[0]] = graph
        traced = captured or any(type(x) in TRACER_TYPES for x in dyn)
        if _inline:  # cr.explain: the steps of the graph as traced (not optimised), primitive by primitive
            outs = eval_ir(graph.raw_ir, [*dyn, *captured])
        elif traced:
            args = (*dyn, *captured)
            parts = graph.split(tuple(type(a) in TRACER_TYPES for a in args)) if graph.several else None
            if parts is None:
                out = bind(jit_call_p, args, {"call": _Call(graph, _differentiated(args))})
                outs = graph.unpack(out)
                for k, v in graph.constants:  # an output that depends on no input is a NumPy value, as eagerly
                    outs[k] = v
            else:  # outputs that depend only on plain inputs are plain values, as eagerly (a data metric)
                dep, dep_graph, indep, rest = parts
                outs = [None] * len(graph.ir.outs)
                for k, v in zip(indep, rest.run(*(None if type(a) in TRACER_TYPES else a for a in args))):
                    outs[k] = v
                if dep:
                    out = bind(jit_call_p, args, {"call": _Call(dep_graph, _differentiated(args))})
                    for k, v in zip(dep, dep_graph.unpack(out)):
                        outs[k] = v
        elif outs is None:
            outs = graph.run(*dyn)
        for k in graph.zero_d:  # a 0-d result is a NumPy scalar, as NumPy's ufuncs and reductions return
            o = outs[k]         # it, whether it came from the trace (the first call) or the compiled code
            if type(o) is np.ndarray:
                outs[k] = o[()]
        if graph.out_tree.kind == "leaf":
            return outs[0]
        return tree_unflatten(graph.out_tree, outs)

    def lower(self, *args: P.args, **kwargs: P.kwargs) -> Compiled:
        """The compiled graph for these arguments: ``.ir`` (optimised), ``.raw_ir`` (as traced), ``.source``."""
        graph, _, _ = self._graph(_Signature(self, args, kwargs))
        return graph

    def clear_cache(self) -> None:
        self._cache.clear()

    def __repr__(self) -> str:
        return f"<jitted {getattr(self.fun, '__name__', 'function')}>"


_inline = False
_CAPTURED_WARN_AFTER = 10  # traces with captured values (each call) before jit warns


class inline_jit:
    """Within: jitted functions run their traced graph primitive by primitive (``cr.explain`` uses it).

    The graph is still traced and cached as usual; only its execution changes,
    so every step of the traced graph is recorded by the transforms around it.
    """

    __slots__ = ("_saved",)

    def __enter__(self):
        global _inline
        self._saved, _inline = _inline, True
        return self

    def __exit__(self, *exc):
        global _inline
        _inline = self._saved
        return False


@overload
def jit(f: Callable[P, R], static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = ()) -> Jitted[P, R]: ...
@overload
def jit(f: None = None, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = ()) -> Callable[[Callable[P, R]], Jitted[P, R]]: ...


def jit(f: Callable[P, R] | None = None, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = ()) -> Jitted[P, R] | Callable[[Callable[P, R]], Jitted[P, R]]:
    """``f`` traced once per argument signature, optimised and compiled; composes with every transform.

    The first call with a new pytree structure, shapes, dtypes or static values
    traces ``f`` (Python side effects such as ``print`` run then, and only then),
    optimises the graph and compiles it; later calls run the compiled code.  A
    new value of an array argument never retraces.  Arguments in
    ``static_argnums`` / ``static_argnames`` (and non-array leaves such as
    strings) are passed to ``f`` as they are and key the cache: use them for
    Python settings that drive control flow; a static argument is static whether
    it is passed by position or by name.  Python control flow on array values
    raises, naming the line (use ``cnp.where``).  Python runs only while
    tracing, so a random draw in Python (a NumPy ``Generator``, ``nn.Dropout``
    in training mode) is made once and baked into the graph: pass random masks
    in as arguments instead.

    ``grad(jit(f))``, ``jit(grad(f))``, ``jvp``, ``vmap``, ``hessian``, the
    tape (``jit(f)(x_tensor).backward()``) and ``cr.explain`` all work, in
    any order.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> f = cr.jit(lambda x: cnp.sum(cnp.tanh(x) ** 2))
    >>> f(cnp.array([0.5, 1.0]))
    np.float64(0.7935779254200465)
    >>> cr.grad(f)(cnp.array([0.5, 1.0]))
    array([0.72686198, 0.63970001])
    """
    if f is None:
        return functools.partial(jit, static_argnums=static_argnums,  # type: ignore[return-value]
                                 static_argnames=static_argnames)
    if not callable(f):
        raise TypeError(f"jit: expected a function, got {type(f).__name__} {f!r:.60}; pass the function "
                        f"itself (f, not f(x))")
    return Jitted(f, static_argnums, static_argnames)


def make_ir(f: Callable[P, Any], static_argnums: int | Sequence[int] = (),
            static_argnames: str | Sequence[str] = ()) -> Callable[P, IR]:
    """A function returning the graph IR that ``jit`` would trace for its arguments (as traced).

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> print(cr.make_ir(lambda x, y: cnp.exp(x * y))(1.0, np.ones(2)))
    { lambda a:f64[] b:f64[2] .
        c:f64[2] = multiply a b
        d:f64[2] = exp c
      in (d) }
    """
    jitted = jit(f, static_argnums, static_argnames)

    @functools.wraps(f)
    def ir_of(*args, **kwargs):
        return jitted.lower(*args, **kwargs).raw_ir
    return ir_of
