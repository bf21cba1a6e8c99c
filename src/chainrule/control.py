"""``cr.cond`` and ``cr.switch``: structured control flow, JAX ``lax.cond`` / ``lax.switch`` semantics.

A concrete index (a plain number, or one under differentiation tracers only)
just calls the chosen branch: every transform then sees that branch's
primitives, as a Python ``if`` would.  A traced index (inside ``cr.jit``, or
batched by ``vmap``) binds one primitive, ``cond``, whose params carry the
traced graphs of all branches (:class:`chainrule.jit.Compiled`, traced on the
operands' shapes and dtypes).  Its rules transform those graphs, as
``jit_call``'s do:

* evaluation runs only the chosen branch's compiled code;
* forward mode: ``cond`` over the branches' jvp graphs;
* reverse mode: ``cond`` over the branches' whole vjp graphs (each recomputes
  its forward; a branch that does not read an operand gives it a zero
  cotangent), so no residuals need to agree across branches;
* ``vmap``: an unbatched index keeps a ``cond`` of the batched branches; a
  batched index evaluates every branch and selects, leaf by leaf, with ``where``.
"""
from __future__ import annotations

import numpy as np

from chainrule._core.primitive import OPAQUE, SEE_THROUGH, TRACER_TYPES, PerInput, bind, defprim
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.staging import eval_ir, trace
from chainrule.jit import Compiled, _Call, _differentiated, _is_dynamic, _trace_values, jit_call_p, same_call

__all__ = ["cond", "switch"]


class _Branches:
    """The params of one ``cond``: the compiled graph of each branch (same inputs, same outputs)."""

    __slots__ = ("graphs", "name", "_ct_key", "_cts")

    def __init__(self, graphs, name):
        self.graphs = graphs
        self.name = name
        self._ct_key = None
        self._cts = None

    def __repr__(self):
        return f"<{self.name} of {len(self.graphs)} branches>"

    def cotangents(self, index, ops, g):
        """All the operands' cotangents, computed once per backward step."""
        if not same_call(self._ct_key, g, (index, *ops)):
            idx = self.graphs[0].float_inputs()
            vgs = tuple(gr.vjp_graph(ops, g, idx).whole for gr in self.graphs)
            out = bind(cond_p, (index, *ops, g), {"branches": _Branches(vgs, f"vjp({self.name})")})
            cts = [None] * len(ops)
            for i, c in zip(idx, vgs[0].unpack(out)[1:]):
                cts[i] = c
            self._cts, self._ct_key = cts, (g, (index, *ops))
        return self._cts


def _clamp(index, n):
    return min(max(int(index), 0), n - 1)


def _impl(index, *ops, branches):
    graph = branches.graphs[_clamp(index, len(branches.graphs))]
    return graph.pack(graph.run(*ops))


def _make_vjp(i):
    if i == 0:
        return None  # the index
    return lambda ans, index, *ops, branches: lambda g: branches.cotangents(index, ops, g)[i - 1]


def _jvp(primals, tangents, ans, params):
    branches = params["branches"]
    index, ops, tans = primals[0], primals[1:], tangents[1:]
    idx = tuple(i for i, t in enumerate(tans) if t is not None)
    if not idx:
        return None
    jgs = tuple(gr.jvp_graph(idx, ops, tans) for gr in branches.graphs)
    return bind(cond_p, (index, *ops, *(tans[i] for i in idx)), {"branches": _Branches(jgs, f"jvp({branches.name})")})


def _batch(vals, batched, params):
    import chainrule.numpy as cnp
    branches = params["branches"]
    index, ops, obatched = vals[0], tuple(vals[1:]), batched[1:]
    if any(obatched):
        graphs = tuple(gr.batch_graph(ops, obatched) for gr in branches.graphs)
    else:
        graphs = branches.graphs
    if not batched[0]:  # one branch for the whole batch
        return bind(cond_p, (index, *ops), {"branches": _Branches(graphs, branches.name)})
    # a batched index (in range: switch clamps it before binding): every branch, then a select
    outs = [bind(jit_call_p, ops, {"call": _Call(gr, _differentiated(ops))}) for gr in graphs]
    rank = len(np.shape(branches.graphs[0].cotangent_example()))
    k = cnp.reshape(index, (index.shape[0],) + (1,) * rank)
    out = outs[0]
    for j in range(1, len(outs)):
        out = cnp.where(k == j, outs[j], out)
    return out


def _formula(i, shapes, params, names, names_tex, g, g_tex):
    who = params["branches"].name
    return (f"vjp of the taken branch of {who} applied to {g}", rf"\operatorname{{vjp}}_{{\mathrm{{{who}}}}}({g_tex})")


cond_p = defprim("cond", _impl, PerInput(_make_vjp), jvp=_jvp, batch=_batch,
                 formulas=PerInput(lambda i: _formula))
cond_p.differentiable = True  # PerInput judges by input 0, here the index (no derivative); the operands have one


# -- the user API ----------------------------------------------------------------------------

def _concrete(x):
    """``x`` beneath differentiation tracers, or ``None`` when it is traced (jit) or batched (vmap)."""
    while type(x) in SEE_THROUGH:
        x = x._value
    return None if type(x) in TRACER_TYPES else x


def _check_index(what, index, kinds):
    shape = tuple(np.shape(index))
    dtype = np.result_type(index) if type(index) not in TRACER_TYPES else np.dtype(index.dtype)
    if shape or dtype.kind not in kinds:
        raise TypeError(f"{what}: the {'predicate' if what == 'cond' else 'index'} must be a scalar "
                        f"{'boolean or number' if what == 'cond' else 'integer'}, got shape {shape} and dtype "
                        f"{dtype} -- reduce it first (cnp.any, cnp.all) or map over it with cr.vmap")


def _staged(what, index, branches, operands):
    """Bind ``cond`` on the traced graphs of every branch; the output pytree."""
    leaves, in_tree = tree_flatten(operands)
    for leaf in leaves:
        if not _is_dynamic(leaf):
            raise TypeError(f"{what}: operand leaf {leaf!r:.40} is a {type(leaf).__name__}; operands are "
                            f"arrays and numbers (pytrees of them) -- close over other values in the branches")
    # a staged (jit) value stands for every value of its shape: trace the branches on zeros, so that
    # their operations are not also recorded, dead, in the enclosing graph
    vals = [np.zeros(v.shape, v.dtype) if type(v) in OPAQUE else v for v in _trace_values(leaves)]
    irs, trees, caps = [], [], []
    for k, branch in enumerate(branches):
        out_tree = []

        def flat(*xs, branch=branch):
            ls, t = tree_flatten(branch(*tree_unflatten(in_tree, list(xs))))
            out_tree.append(t)
            return ls
        ir, _, captured = trace(flat, vals, name=f"{what}_branch{k}")
        irs.append(ir)
        trees.append(out_tree[0])
        caps.append(captured)
    for k in range(1, len(irs)):
        _same(what, irs[0], trees[0], irs[k], trees[k], k)
    extra = list({id(c): c for cs in caps for c in cs}.values())
    if extra:  # values of enclosing transforms the branches read: inputs of every branch graph
        pos = {id(c): j for j, c in enumerate(extra)}
        n = len(vals)
        irs = [trace(lambda *a, ir=ir, cs=cs: eval_ir(ir, [*a[:n], *(a[n + pos[id(c)]] for c in cs)]),
                     [*vals, *_trace_values(extra)], name=ir.name)[0] for ir, cs in zip(irs, caps)]
    graphs = tuple(Compiled(ir) for ir in irs)
    out = bind(cond_p, (index, *leaves, *extra), {"branches": _Branches(graphs, what)})
    outs = graphs[0].unpack(out)
    return outs[0] if trees[0].kind == "leaf" else tree_unflatten(trees[0], outs)


def _same(what, ir0, tree0, ir, tree, k):
    first = "false_fun" if what == "cond" else "branch 0"
    other = "true_fun" if what == "cond" else f"branch {k}"
    if tree != tree0:
        raise TypeError(f"{what}: {first} and {other} must return the same tree structure, got {tree0} "
                        f"and {tree}")
    for path, s0, d0, s, d in zip(tree0.paths(), ir0.out_shapes, ir0.out_dtypes, ir.out_shapes, ir.out_dtypes):
        if tuple(s0) != tuple(s) or np.dtype(d0) != np.dtype(d):
            raise TypeError(f"{what}: {first} and {other} must return the same shapes and dtypes, but output "
                            f"{path or '(the leaf)'} is {np.dtype(d0)}{list(s0)} in {first} and "
                            f"{np.dtype(d)}{list(s)} in {other}")


def switch(index, branches, *operands):
    """``branches[index](*operands)`` with ``index`` clamped into range; JAX ``lax.switch`` semantics.

    Inside ``cr.jit`` (or with an index batched by ``cr.vmap``) every branch is
    traced and staged as one ``cond`` primitive: the compiled code runs only the
    chosen branch, and ``grad``, ``jvp`` and ``vmap`` go through it.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> f = cr.jit(lambda i, x: cr.switch(i, [cnp.sin, cnp.cos, lambda x: -x], x))
    >>> float(f(1, 0.0)), float(f(7, 2.0))
    (1.0, -2.0)
    """
    branches = tuple(branches)
    if not branches or not all(callable(b) for b in branches):
        raise TypeError(f"switch: branches must be a non-empty sequence of functions, got {branches!r:.60}")
    c = _concrete(index)
    if c is not None:
        _check_index("switch", c, "biu")
        return branches[_clamp(c, len(branches))](*operands)
    _check_index("switch", index, "biu")
    if np.dtype(index.dtype).kind != "b":
        import chainrule.numpy as cnp
        index = cnp.clip(index, 0, len(branches) - 1)
    return _staged("switch", index, branches, operands)


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands) if pred else false_fun(*operands)``; JAX ``lax.cond`` semantics.

    ``pred`` is a scalar boolean (or number: nonzero is true).  With a concrete
    ``pred`` this is Python's ``if``; inside ``cr.jit`` (or with ``pred`` batched
    by ``cr.vmap``) both branches are traced, must return the same pytree of
    shapes and dtypes, and are staged as one ``cond`` primitive (see :func:`switch`).

    >>> import chainrule as cr
    >>> f = cr.jit(lambda x: cr.cond(x > 0, lambda x: x ** 2, lambda x: -x, x))
    >>> float(f(3.0)), float(f(-2.0)), float(cr.grad(f)(3.0))
    (9.0, 2.0, 6.0)
    """
    if not (callable(true_fun) and callable(false_fun)):
        raise TypeError("cond: true_fun and false_fun must be functions -- cond(pred, true_fun, false_fun, *operands)")
    c = _concrete(pred)
    if c is not None:
        _check_index("cond", c, "biuf")
        return (true_fun if bool(c) else false_fun)(*operands)
    _check_index("cond", pred, "biuf")
    if np.dtype(pred.dtype).kind != "b":
        pred = pred != 0
    return _staged("cond", pred, (false_fun, true_fun), operands)
