"""Structured control flow with JAX ``lax`` semantics: ``cond``, ``switch``, ``scan``, ``fori_loop``, ``while_loop``.

Loops (second half of this module): on concrete values each is a Python loop.
Traced (``cr.jit``) or batched (``vmap``), ``scan`` and ``while_loop`` are
primitives whose params carry the body's compiled graph (:class:`_Scan`,
:class:`_While`); their rules build new bodies from it (the body's jvp, its
vjp split into a per-step forward that saves residuals and a backward step,
its vmap) and bind the same primitives on them, so every transform composes
and higher orders come free.  ``fori_loop`` is a ``scan`` (concrete bounds) or
a ``while_loop``.  Conditionals:

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

from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import numpy as np

from chainrule._core.primitive import SEE_THROUGH, TRACER_TYPES, PerInput, bind, defprim
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.staging import eval_ir, trace, tracing
from chainrule._jit import passes
from chainrule._ops._wrap import dtype_of
from chainrule.custom import pack, unpack
from chainrule.jit import (Compiled, _Call, _differentiated, _is_dynamic, _trace_values, jit_call_p,
                           nested_trace_values, same_call)

__all__ = ["cond", "switch", "scan", "fori_loop", "while_loop"]

if TYPE_CHECKING:
    from chainrule.typing import ArrayLike

R = TypeVar("R")  # what the branches return
C = TypeVar("C")  # a loop's carry: its structure and types are kept from step to step
Y = TypeVar("Y")  # what a step of scan emits (stacked along a new leading axis: the same pytree type)


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
    vals = nested_trace_values(leaves)
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


def switch(index: ArrayLike, branches: Sequence[Callable[..., R]], *operands: Any) -> R:
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


def cond(pred: ArrayLike, true_fun: Callable[..., R], false_fun: Callable[..., R], *operands: Any) -> R:
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


# -- loops: the scan primitive ------------------------------------------------------------------

def _inexact(dtype):
    return np.issubdtype(dtype, np.inexact)


def _zeros(shape, dtype):
    return np.zeros(shape, dtype)[()] if not shape else np.zeros(shape, dtype)


class _Scan:
    """The params of one ``scan``: the compiled body and the loop's length and direction.

    The body maps ``(carry..., x..., consts...)`` to ``(carry..., y...)`` (flat leaves,
    ``x`` one slice of each scanned array); the primitive maps ``(init..., xs...,
    consts...)`` to the final carry and the stacked ``y`` (``length`` first), packed
    into one array.  A node recorded by reverse mode holds the residuals of its
    forward pass (``res``, for the values ``res_key``).
    """

    __slots__ = ("body", "nc", "nx", "length", "reverse", "name", "shapes", "dtypes", "diff", "res", "res_key",
                 "_ct_key", "_cts")

    def __init__(self, body, nc, nx, length, reverse, name="scan"):
        self.body = body
        self.nc, self.nx, self.length, self.reverse, self.name = nc, nx, int(length), bool(reverse), name
        self.shapes = [tuple(sh) for sh in body.out_shapes[:nc]] + [(self.length, *sh) for sh in body.out_shapes[nc:]]
        self.dtypes = [np.dtype(d) for d in body.out_dtypes]
        self.diff = self.res = self.res_key = None
        self._ct_key = self._cts = None

    def __repr__(self):
        return f"<{self.name} of {self.length} steps{', reversed' if self.reverse else ''}>"

    def saved(self, vals, diff, res):
        """This scan's params for one recorded node: with its residuals."""
        s = _Scan.__new__(_Scan)
        for k in _Scan.__slots__:
            setattr(s, k, getattr(self, k))
        s.diff, s.res, s.res_key, s._ct_key, s._cts = diff, res, tuple(vals), None, None
        return s

    def pack(self, outs):
        return outs[0] if len(outs) == 1 else pack(outs, self.dtypes)

    def unpack(self, flat):
        return [flat] if len(self.dtypes) == 1 else unpack(flat, self.shapes, self.dtypes)

    def floats(self):
        return [_inexact(v.dtype) for v in self.body.ir.invars]

    def run(self, vals):
        """The loop on plain values: the compiled body once per step."""
        nc, nx = self.nc, self.nx
        carry, xs, ks = list(vals[:nc]), vals[nc:nc + nx], vals[nc + nx:]
        ys = [np.empty(sh, d) for sh, d in zip(self.shapes[nc:], self.dtypes[nc:])]
        run = self.body.run
        for i in (range(self.length - 1, -1, -1) if self.reverse else range(self.length)):
            out = run(*carry, *[x[i] for x in xs], *ks)
            carry = out[:nc]
            for buf, y in zip(ys, out[nc:]):
                buf[i] = y
        return [*carry, *ys]

    # -- reverse mode --------------------------------------------------------------------
    def vjp_parts(self, diff):
        """The graphs of the forward pass that saves residuals and of the backward step (cached)."""
        fl = self.floats()
        idx = tuple(i for i in range(len(fl)) if fl[i] and (i < self.nc or i in diff))
        return self.body.derived(("scan-vjp", self.nc, self.nx, idx), lambda: _VJPParts(self, idx))

    def forward_with_residuals(self, vals, parts):
        """``(outputs, residuals)`` of the loop, bound at the level of ``vals``."""
        nc, nx = self.nc, self.nx
        inv = eval_ir(parts.inv, vals[nc + nx:])
        fscan = _Scan(parts.fwd, nc, nx, self.length, self.reverse, f"{self.name}.fwd")
        flat = bind(scan_p, tuple(vals), {"scan": fscan})
        outs = fscan.unpack(flat)
        m = len(self.dtypes)
        return self.packed_prefix(flat, outs[:m]), (inv, outs[m:])

    def packed_prefix(self, flat, outs):
        """This scan's packed output, from a scan whose packed output starts with it (no copy)."""
        if len(outs) == 1:
            return outs[0]
        import chainrule.numpy as cnp
        n = sum(int(np.prod(sh)) for sh in self.shapes)
        head = flat[:n]
        dt = np.result_type(*self.dtypes)
        return head if dtype_of(head) == dt else cnp.astype(head, dt)

    def cotangents(self, i, vals, g):
        """Every input's cotangent, from one backward scan per backward step."""
        if same_call(self._ct_key, g, vals):
            return self._cts
        if self.res is not None and i in self.diff and len(self.res_key) == len(vals) \
                and all(a is b for a, b in zip(self.res_key, vals)):
            parts = self.vjp_parts(self.diff)
            inv, new = self.res
        else:  # not this node's values (a second derivative on the tape): the forward pass again
            parts = self.vjp_parts(tuple(range(len(vals))))
            _, (inv, new) = self.forward_with_residuals(vals, parts)
        it = iter(new)
        step_res = [next(it) if p is None else vals[p] for p in parts.positions]
        gs = self.unpack(g)
        nc = self.nc
        args = (*(gs[j] for j in parts.fc), *(_zeros(self.body.ir.invars[j].shape, self.body.ir.invars[j].dtype)
                                              for j in parts.kd),
                *step_res, *(gs[j] for j in parts.fy), *inv)
        bscan = _Scan(parts.bwd, len(parts.fc) + len(parts.kd), len(step_res) + len(parts.fy), self.length,
                      not self.reverse, f"vjp({self.name})")
        outs = bscan.unpack(bind(scan_p, args, {"scan": bscan}))
        cts = [None] * len(vals)
        for j, c in zip((*parts.fc, *parts.kd, *parts.xd), outs):
            cts[j] = c
        for j in range(len(vals)):
            if cts[j] is None:
                v = self.body.ir.invars[j]
                cts[j] = _zeros(v.shape if j < nc or j >= nc + self.nx else (self.length, *v.shape), v.dtype)
        self._cts, self._ct_key = cts, (g, tuple(vals))
        return cts


class _VJPParts:
    """A scan body's vjp, split for a loop: what runs once, per step forward, per step backward."""

    __slots__ = ("inv", "fwd", "bwd", "positions", "fc", "kd", "xd", "fy")

    def __init__(self, scan, idx):
        from chainrule.api import vjp
        body, nc, nx = scan.body, scan.nc, scan.nx
        ir = body.ir
        n = len(ir.invars)
        fo = [j for j, d in enumerate(body.out_dtypes) if _inexact(d)]
        rest = [j for j in range(len(body.out_dtypes)) if j not in fo]

        def fn(*a):
            ins, gs = list(a[:n]), list(a[n:])
            fouts, pull, aux = vjp(_on(ir, ins, idx, fo, rest), *(ins[i] for i in idx), has_aux=True)
            return [*_merge(fo, rest, fouts, aux), *pull(gs)]
        ex = [_zeros(v.shape, v.dtype) for v in ir.invars] + \
             [_zeros(body.out_shapes[j], body.out_dtypes[j]) for j in fo]
        whole, _, captured = trace(fn, ex, name=f"vjp({ir.name})")
        if captured:
            raise RuntimeError(f"scan: internal error, the vjp graph of {ir.name} captured a value")
        inv, fwd, bwd, self.positions = passes.split_loop(whole, nc + nx, n - nc - nx, len(body.out_dtypes),
                                                          kept=range(nc, nc + nx))
        self.inv = inv
        self.fwd = Compiled(fwd)
        self.fc = tuple(j for j in idx if j < nc)
        self.kd = tuple(j for j in idx if j >= nc + nx)
        self.xd = tuple(j for j in idx if nc <= j < nc + nx)
        self.fy = tuple(j for j in fo if j >= nc)
        n_inv, n_sr = len(inv.outs), len(self.positions)
        fc, kd, xd, fy = self.fc, self.kd, self.xd, self.fy
        pos = {j: k for k, j in enumerate(idx)}

        def bstep(*a):
            m = len(fc) + len(kd)
            gc, acc = a[:len(fc)], a[len(fc):m]
            sr, gy, inv_r = a[m:m + n_sr], a[m + n_sr:m + n_sr + len(fy)], a[m + n_sr + len(fy):]
            g_fo = [gc[fc.index(j)] if j < nc else gy[fy.index(j)] for j in fo]
            cts = eval_ir(bwd, [*inv_r, *sr, *g_fo])
            ct = [_fit(cts[pos[j]], ir.invars[j]) for j in idx]
            return [*(ct[pos[j]] for j in fc), *(s + ct[pos[j]] for s, j in zip(acc, kd)),
                    *(ct[pos[j]] for j in xd)]
        bex = [*(ex[j] for j in fc), *(ex[j] for j in kd),
               *(_zeros(v.shape, v.dtype) for v in bwd.invars[n_inv:n_inv + n_sr]),
               *(_zeros(body.out_shapes[j], body.out_dtypes[j]) for j in fy),
               *(_zeros(v.shape, v.dtype) for v in bwd.invars[:n_inv])]
        bir, _, captured = trace(bstep, bex, name=f"vjp({ir.name}).step")
        if captured:
            raise RuntimeError(f"scan: internal error, the backward step of {ir.name} captured a value")
        self.bwd = Compiled(bir)


def _on(ir, ins, idx, fo, rest):
    """A loop body as a function of its inputs at ``idx`` (the others fixed at ``ins``), for
    ``vjp``/``jvp`` with ``has_aux``: ``(float outputs, the other outputs)``."""
    def sub(*s):
        xs = list(ins)
        for i, v in zip(idx, s):
            xs[i] = v
        outs = eval_ir(ir, xs)
        return [outs[j] for j in fo], [outs[j] for j in rest]
    return sub


def _merge(fo, rest, fouts, aux):
    """The body's outputs in order, from :func:`_on`'s two lists."""
    outs = [None] * (len(fo) + len(rest))
    for j, o in zip((*fo, *rest), (*fouts, *aux)):
        outs[j] = o
    return outs


def _fit(ct, var):
    """A cotangent with its input's shape and dtype (a zero may come back as a scalar)."""
    import chainrule.numpy as cnp
    if tuple(np.shape(ct)) != tuple(var.shape):
        ct = cnp.broadcast_to(ct, var.shape)
    if dtype_of(ct) != np.dtype(var.dtype):
        ct = cnp.astype(ct, var.dtype)
    return ct


def _scan_impl(*vals, scan):
    return scan.pack(scan.run(vals))


def _scan_fwd(vals, params, diff):
    scan = params["scan"]
    parts = scan.vjp_parts(diff)
    ans, res = scan.forward_with_residuals(vals, parts)
    return ans, {"scan": scan.saved(vals, diff, res)}


def _scan_make_vjp(i):
    return lambda ans, *vals, scan: lambda g: scan.cotangents(i, vals, g)[i]


def _scan_jvp(primals, tangents, ans, params):
    from chainrule.api import jvp
    scan = params["scan"]
    if all(t is None for t in tangents):
        return None
    body, nc, nx = scan.body, scan.nc, scan.nx
    ir = body.ir
    fl = scan.floats()
    act = tuple(i for i in range(len(fl)) if fl[i] and (i < nc or tangents[i] is not None))
    fc = tuple(i for i in act if i < nc)
    xa = tuple(i for i in act if nc <= i < nc + nx)
    ka = tuple(i for i in act if i >= nc + nx)
    fo = [j for j, d in enumerate(body.out_dtypes) if _inexact(d)]
    fy = tuple(j for j in fo if j >= nc)

    def make():
        n = len(ir.invars)
        rest = [j for j in range(len(body.out_dtypes)) if j not in fo]

        def fn(*a):
            c, tc = a[:nc], a[nc:nc + len(fc)]
            o = nc + len(fc)
            x, tx = a[o:o + nx], a[o + nx:o + nx + len(xa)]
            o += nx + len(xa)
            k, tk = a[o:o + n - nc - nx], a[o + n - nc - nx:]
            ins = [*c, *x, *k]
            tans = dict(zip((*fc, *xa, *ka), (*tc, *tx, *tk)))
            fouts, touts, aux = jvp(_on(ir, ins, act, fo, rest), tuple(ins[i] for i in act),
                                    tuple(tans[i] for i in act), has_aux=True)
            outs = _merge(fo, rest, fouts, aux)
            tout = dict(zip(fo, touts))
            return [*outs[:nc], *(_fit(tout[j], ir.invars[j]) for j in fc), *outs[nc:], *(tout[j] for j in fy)]
        iv = ir.invars
        ex = [*(_zeros(v.shape, v.dtype) for v in iv[:nc]), *(_zeros(iv[j].shape, iv[j].dtype) for j in fc),
              *(_zeros(v.shape, v.dtype) for v in iv[nc:nc + nx]), *(_zeros(iv[j].shape, iv[j].dtype) for j in xa),
              *(_zeros(v.shape, v.dtype) for v in iv[nc + nx:]), *(_zeros(iv[j].shape, iv[j].dtype) for j in ka)]
        jir, _, captured = trace(fn, ex, name=f"jvp({ir.name})")
        if captured:
            raise RuntimeError(f"scan: internal error, the jvp graph of {ir.name} captured a value")
        return Compiled(jir)
    jbody = body.derived(("scan-jvp", nc, nx, act), make)
    iv = ir.invars
    tan = [tangents[i] if tangents[i] is not None else _zeros(iv[i].shape, iv[i].dtype) for i in fc]
    args = (*primals[:nc], *tan, *primals[nc:nc + nx], *(tangents[i] for i in xa), *primals[nc + nx:],
            *(tangents[i] for i in ka))
    jscan = _Scan(jbody, nc + len(fc), nx + len(xa), scan.length, scan.reverse, f"jvp({scan.name})")
    outs = jscan.unpack(bind(scan_p, args, {"scan": jscan}))
    ny = len(scan.dtypes) - nc
    tc = dict(zip(fc, outs[nc:nc + len(fc)]))
    ty = dict(zip(fy, outs[nc + len(fc) + ny:]))
    tout = [tc[j] if j in tc else ty[j] if j in ty else _zeros(scan.shapes[j], scan.dtypes[j])
            for j in range(len(scan.dtypes))]
    return scan.pack(tout)


def _scan_batch(vals, batched, params):
    """vmap of a scan: every carry batched, the scanned arrays iterated along their second axis."""
    import chainrule.numpy as cnp
    from chainrule.api import vmap
    scan = params["scan"]
    body, nc, nx = scan.body, scan.nc, scan.nx
    size = next(v.shape[0] for v, b in zip(vals, batched) if b)
    vals = list(vals)
    for j in range(nc):
        if not batched[j]:
            v = vals[j]
            vals[j] = cnp.broadcast_to(v, (size, *np.shape(v)))
    for j in range(nc, nc + nx):
        if batched[j]:
            vals[j] = cnp.moveaxis(vals[j], 0, 1)
    flags = tuple(j < nc or bool(batched[j]) for j in range(len(vals)))

    def make():
        ir = body.ir
        axes = tuple(0 if f else None for f in flags)
        ex = [_zeros((size, *v.shape) if f else v.shape, v.dtype) for v, f in zip(ir.invars, flags)]
        bir, _, _ = trace(lambda *a: list(vmap(lambda *b: eval_ir(ir, b), in_axes=axes)(*a)), ex,
                          name=f"vmap({ir.name})")
        return Compiled(bir)
    bbody = body.derived(("scan-vmap", nc, nx, flags, size), make)
    bscan = _Scan(bbody, nc, nx, scan.length, scan.reverse, scan.name)
    outs = bscan.unpack(bind(scan_p, tuple(vals), {"scan": bscan}))
    return _batched_pack([*outs[:nc], *(cnp.moveaxis(y, 1, 0) for y in outs[nc:])], scan.dtypes, size)


def _scan_formula(i, shapes, params, names, names_tex, g, g_tex):
    who = params["scan"].name
    return (f"vjp of {who} (a reverse scan over its steps) applied to {g}",
            rf"\operatorname{{vjp}}_{{\mathrm{{{who}}}}}({g_tex})")


scan_p = defprim("scan", _scan_impl, PerInput(_scan_make_vjp), jvp=_scan_jvp, batch=_scan_batch,
                 formulas=PerInput(lambda i: _scan_formula), fwd=_scan_fwd)


# -- the while primitive ------------------------------------------------------------------------

class _While:
    """The params of one ``while_loop``: the compiled predicate and body.

    The predicate maps ``(carry..., its consts...)`` to a boolean scalar, the body
    ``(carry..., its consts...)`` to the carry; the primitive maps ``(init...,
    predicate consts..., body consts...)`` to the final carry, packed.
    """

    __slots__ = ("cond", "body", "nc", "nk", "name", "shapes", "dtypes")

    def __init__(self, cond, body, nc, nk, name="while_loop"):
        self.cond, self.body, self.nc, self.nk, self.name = cond, body, nc, nk, name
        self.shapes = [tuple(sh) for sh in body.out_shapes]
        self.dtypes = [np.dtype(d) for d in body.out_dtypes]

    def __repr__(self):
        return f"<{self.name}>"

    def split(self, vals):
        nc, nk = self.nc, self.nk
        return list(vals[:nc]), vals[nc:nc + nk], vals[nc + nk:]

    def pack(self, outs):
        return outs[0] if len(outs) == 1 else pack(outs, self.dtypes)

    def unpack(self, flat):
        return [flat] if len(self.dtypes) == 1 else unpack(flat, self.shapes, self.dtypes)


def _while_impl(*vals, loop):
    carry, kc, kb = loop.split(vals)
    cond, body = loop.cond.run, loop.body.run
    while cond(*carry, *kc)[0]:
        carry = body(*carry, *kb)
    return loop.pack(carry)


def _no_reverse(*_):
    raise TypeError(
        "while_loop: reverse-mode differentiation (grad, vjp, the tape) does not go through a while_loop "
        "with a traced predicate -- its number of steps is only known when it runs, so there is no graph to "
        "run backwards (JAX's lax.while_loop refuses it too). Use cr.scan or cr.fori_loop with a fixed number "
        "of steps; for a solver iterated to convergence, differentiate its solution implicitly with cr.root "
        "(or cr.fixed_point), which never differentiates the iterations. Forward mode (cr.jvp, jacfwd) works.")


def _while_jvp(primals, tangents, ans, params):
    from chainrule.api import jvp
    loop = params["loop"]
    if all(t is None for t in tangents):
        return None
    nc, nk = loop.nc, loop.nk
    body = loop.body
    iv = body.ir.invars  # (carry..., body consts...)
    fc = tuple(j for j in range(nc) if _inexact(iv[j].dtype))
    ka = tuple(nc + j for j in range(len(iv) - nc) if tangents[nc + nk + j] is not None)
    act = (*fc, *ka)

    def make():
        ir = body.ir

        def jbody(*a):
            c, tc = a[:nc], a[nc:nc + len(fc)]
            k, tk = a[nc + len(fc):nc + len(fc) + len(iv) - nc], a[nc + len(fc) + len(iv) - nc:]
            ins = [*c, *k]
            rest = [j for j in range(nc) if j not in fc]
            fouts, touts, aux = jvp(_on(ir, ins, act, fc, rest), tuple(ins[j] for j in act), (*tc, *tk), has_aux=True)
            return [*_merge(fc, rest, fouts, aux), *(_fit(t, iv[j]) for j, t in zip(fc, touts))]
        ex = [*(_zeros(v.shape, v.dtype) for v in iv[:nc]), *(_zeros(iv[j].shape, iv[j].dtype) for j in fc),
              *(_zeros(v.shape, v.dtype) for v in iv[nc:]), *(_zeros(iv[j].shape, iv[j].dtype) for j in ka)]
        jb, _, _ = trace(jbody, ex, name=f"jvp({ir.name})")
        cir = loop.cond.ir  # the predicate reads the primal carry only
        jc, _, _ = trace(lambda *a: eval_ir(cir, [*a[:nc], *a[nc + len(fc):]]),
                         [*ex[:nc + len(fc)], *(_zeros(v.shape, v.dtype) for v in cir.invars[nc:])],
                         name=cir.name)
        return Compiled(jc), Compiled(jb)
    jcond, jbody = body.derived(("while-jvp", nc, act), make)
    carry, kc, kb = loop.split(primals)
    tan = [tangents[j] if tangents[j] is not None else _zeros(iv[j].shape, iv[j].dtype) for j in fc]
    tkb = [tangents[nc + nk + (j - nc)] for j in ka]
    jloop = _While(jcond, jbody, nc + len(fc), nk, f"jvp({loop.name})")
    outs = jloop.unpack(bind(while_p, (*carry, *tan, *kc, *kb, *tkb), {"loop": jloop}))
    tc = dict(zip(fc, outs[nc:]))
    return loop.pack([tc[j] if j in tc else _zeros(loop.shapes[j], loop.dtypes[j]) for j in range(nc)])


def _while_batch(vals, batched, params):
    """vmap of a while_loop: run until every member's predicate is false; finished members keep their carry."""
    import chainrule.numpy as cnp
    from chainrule.api import vmap
    loop = params["loop"]
    nc, nk = loop.nc, loop.nk
    size = next(v.shape[0] for v, b in zip(vals, batched) if b)
    vals = list(vals)
    for j in range(nc):
        if not batched[j]:
            vals[j] = cnp.broadcast_to(vals[j], (size, *np.shape(vals[j])))
    flags = tuple(j < nc or bool(batched[j]) for j in range(len(vals)))

    def make():
        cir, bir = loop.cond.ir, loop.body.ir
        ca = tuple(0 if f else None for f in (*flags[:nc], *flags[nc:nc + nk]))
        ba = tuple(0 if f else None for f in (*flags[:nc], *flags[nc + nk:]))

        def preds(c, kc):
            return vmap(lambda *a: eval_ir(cir, a)[0], in_axes=ca)(*c, *kc)

        def bcond(*a):
            return [cnp.max(preds(a[:nc], a[nc:]))]

        def bbody(*a):
            c, kc, kb = a[:nc], a[nc:nc + nk], a[nc + nk:]
            p = preds(c, kc)
            new = vmap(lambda *b: eval_ir(bir, b), in_axes=ba)(*c, *kb)
            return [cnp.where(cnp.reshape(p, (size,) + (1,) * (len(n.shape) - 1)), n, o) for n, o in zip(new, c)]
        ex = [_zeros((size, *np.shape(v)[1:]) if f and j >= nc else np.shape(v), dtype_of(v))
              for j, (v, f) in enumerate(zip(vals, flags))]
        jc, _, _ = trace(bcond, ex[:nc + nk], name=f"vmap({cir.name})")
        jb, _, _ = trace(bbody, ex, name=f"vmap({bir.name})")
        return Compiled(jc), Compiled(jb)
    bcond, bbody = loop.body.derived(("while-vmap", nc, flags, size), make)
    # the body's consts now lead with the predicate's (it selects with the predicate)
    out = bind(while_p, (*vals[:nc], *vals[nc:nc + nk], *vals[nc:]),
               {"loop": _While(bcond, bbody, nc, nk, loop.name)})
    outs = [out] if len(loop.dtypes) == 1 else unpack(out, [(size, *sh) for sh in loop.shapes], loop.dtypes)
    return _batched_pack(outs, loop.dtypes, size)


def _batched_pack(outs, dtypes, size):
    """A batch rule's result: the packed output of every batch member, stacked (batch axis 0)."""
    import chainrule.numpy as cnp
    if len(outs) == 1:
        return outs[0]
    dt = np.result_type(*dtypes)
    return cnp.concatenate([cnp.astype(cnp.reshape(o, (size, -1)), dt) for o in outs], axis=1)


while_p = defprim("while_loop", _while_impl, PerInput(lambda i: _no_reverse), jvp=_while_jvp, batch=_while_batch,
                  fwd=lambda vals, params, diff: _no_reverse())


# -- the user API of loops ------------------------------------------------------------------------

def _staged_now(leaves):
    """Whether a loop over ``leaves`` is staged (a primitive) rather than run as a Python loop."""
    return tracing() or any(_concrete(x) is None for x in leaves)


def _aval(x):
    """Shape and dtype; a Python number's dtype is ``None`` (weak: it takes the body's)."""
    return tuple(np.shape(x)), (None if type(x) in (bool, int, float) else dtype_of(x))


def _typestr(sh, d):
    return f"{'a Python number' if d is None else d}{list(sh) if sh or d is not None else ''}"


def _check_carry(what, tree0, avals0, tree, leaves, weak=True):
    """The carry a body returns must have the carry's structure, shapes and dtypes (JAX's rule)."""
    if tree != tree0:
        raise TypeError(f"{what}: the body must return a carry with the structure of init, {tree0}, "
                        f"but returned {tree}")
    for path, (sh0, d0), x in zip(tree0.paths(), avals0, leaves):
        sh, d = _aval(x)
        if sh != sh0 or (d0 is not None and d is not None and d != d0):
            raise TypeError(f"{what}: the body returns carry{path or ''} as {_typestr(sh, d)} but init has "
                            f"{_typestr(sh0, d0)}; the carry must keep its shape and dtype from step to step "
                            f"(give init the dtype the body computes, e.g. 0.0 rather than 0, or cast "
                            f"in the body with .astype)")


def _trace_loop_fn(what, fn, in_avals, in_tree, name):
    """``fn`` traced on flat leaves of ``in_tree`` with those avals: ``(ir, captured, out_tree)``."""
    box = []

    def flat(*a):
        out = fn(*tree_unflatten(in_tree, list(a)))
        leaves, tree = tree_flatten(out)
        box.append(tree)
        for path, leaf in zip(tree.paths(), leaves):
            if not _is_dynamic(leaf):
                raise TypeError(f"{what}: the function returned {path or 'a leaf'} of type "
                                f"{type(leaf).__name__}; it must return arrays and numbers (pytrees of them)")
        return leaves
    ir, _, captured = trace(flat, [_zeros(sh, d) for sh, d in in_avals], name=name)
    return ir, captured, box[0]


def _leaf_avals(leaves):
    return [(tuple(np.shape(x)), dtype_of(x)) for x in leaves]


def _trace_body(what, f, init, x_avals, x_tree):
    """Trace a loop body ``f(carry, x) -> (carry, y)``; a Python-number carry takes the body's dtype."""
    c_leaves, c_tree = tree_flatten(init)
    c_avals = _leaf_avals(c_leaves)
    nc = len(c_leaves)
    box = []

    def fn(*a):
        carry, y = _pair(what, f(tree_unflatten(c_tree, list(a[:nc])), tree_unflatten(x_tree, list(a[nc:]))))
        cl, ct = tree_flatten(carry)
        yl, yt = tree_flatten(y)
        box.append((ct, yt))
        return [*cl, *yl]
    for attempt in range(2):
        ir, captured, _ = _trace_loop_fn(what, fn, [*c_avals, *x_avals], _flat_tree(nc + len(x_avals)), what)
        ct, yt = box[-1]
        outs = list(zip(ir.out_shapes[:nc], ir.out_dtypes[:nc]))
        weak = [type(x) in (bool, int, float) for x in c_leaves]
        fixed = [(sh, np.dtype(od)) if w and tuple(osh) == sh and np.dtype(od) != d else (sh, d)
                 for (sh, d), (osh, od), w in zip(c_avals, outs, weak)]
        if fixed == c_avals or attempt:
            break
        c_avals = fixed  # a Python number's dtype is the one the body gives it (JAX's weak types)
    _check_carry(what, c_tree, c_avals, ct, [_zeros(sh, d) for sh, d in zip(ir.out_shapes[:nc], ir.out_dtypes[:nc])])
    init_leaves = [np.asarray(x, d)[()] if type(x) in (bool, int, float) else x
                   for x, (_, d) in zip(c_leaves, c_avals)]
    return Compiled(ir), captured, init_leaves, c_tree, yt


def _pair(what, out):
    """The body's ``(carry, y)``, or the error that says what it returned instead."""
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{what}: the body must return a pair (carry, y), got {type(out).__name__}")
    return out


def _flat_tree(n):
    return tree_flatten(tuple(range(n)))[1]


def _scan_length(what, x_leaves, x_tree, length):
    lens = {np.shape(x)[0] if np.ndim(x) else None for x in x_leaves}
    if None in lens:
        raise ValueError(f"{what}: every leaf of xs must have a leading axis to scan over; got a 0-d leaf")
    if length is not None:
        length = int(length)
        if lens and lens != {length}:
            raise ValueError(f"{what}: length={length} but the leaves of xs have leading axes {sorted(lens)}")
        return length
    if not lens:
        raise ValueError(f"{what}: with no xs to scan over, give the number of steps: length=n")
    if len(lens) > 1:
        detail = ", ".join(f"xs{p or ''} {np.shape(x)[0]}" for p, x in zip(x_tree.paths(), x_leaves))
        raise ValueError(f"{what}: the leaves of xs must share their leading axis length, got {detail}")
    return lens.pop()


def _eager_scan(f, init, x_leaves, x_tree, length, reverse):
    """scan on concrete values: Python's loop, every step's operations seen by every transform."""
    import chainrule.numpy as cnp
    c_leaves, c_tree = tree_flatten(init)
    avals = [_aval(x) for x in c_leaves]
    carry, ys, y_tree = init, [None] * length, None
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        carry, y = _pair("scan", f(carry, tree_unflatten(x_tree, [x[i] for x in x_leaves])))
        leaves, tree = tree_flatten(carry)
        _check_carry("scan", c_tree, avals, tree, leaves)
        avals = [(sh, d if d is not None else _aval(x)[1]) for (sh, d), x in zip(avals, leaves)]
        y_leaves, t = tree_flatten(y)
        if y_tree is None:
            y_tree = t
        elif t != y_tree:
            raise TypeError(f"scan: the body returned y with structure {t} at step {i} but {y_tree} before")
        ys[i] = y_leaves
    stacked = [cnp.stack([ys[i][k] for i in range(length)]) for k in range(len(ys[0]))]
    return carry, tree_unflatten(y_tree, stacked)


def _staged_scan(f, init, x_leaves, x_tree, length, reverse, checkpoint):
    x_avals = [(tuple(np.shape(x)[1:]), dtype_of(x)) for x in x_leaves]
    body, captured, c_leaves, c_tree, y_tree = _trace_body("scan", f, init, x_avals, x_tree)
    nc, nx = len(c_leaves), len(x_leaves)
    if not body.out_dtypes:
        return init, tree_unflatten(y_tree, [])
    step = _segment(checkpoint, length)
    if step:
        outs = _checkpointed(body, nc, c_leaves, list(x_leaves), list(captured), length, reverse, step)
    else:
        sc = _Scan(body, nc, nx, length, reverse)
        outs = sc.unpack(bind(scan_p, (*c_leaves, *x_leaves, *captured), {"scan": sc}))
    return tree_unflatten(c_tree, outs[:nc]), tree_unflatten(y_tree, outs[nc:])


def _segment(checkpoint, length):
    """The steps per checkpointed segment, or 0 for a scan that keeps every step's residuals."""
    if checkpoint is False or checkpoint is None or checkpoint == 0:
        return 0
    if checkpoint is True:
        step = max(1, int(np.ceil(np.sqrt(length))))
    elif isinstance(checkpoint, (int, np.integer)) and checkpoint > 0:
        step = int(checkpoint)
    else:
        raise ValueError(f"scan: checkpoint must be True, False or a number of steps per segment, got {checkpoint!r}")
    return step if step < length else 0


def _checkpointed(body, nc, c_leaves, x_leaves, consts, length, reverse, step):
    """A scan whose reverse mode keeps one carry per segment of ``step`` steps and recomputes the rest.

    An outer scan over the segments, whose body is a checkpointed inner scan: the
    backward pass of each segment runs its forward pass again, keeping its steps'
    residuals only while that segment's backward pass runs.  About ``length/step``
    carries and ``step`` steps' residuals are alive at once (``step = sqrt(length)``).
    """
    import chainrule.numpy as cnp
    from chainrule.checkpoint import checkpoint as remat
    nx, nk = len(x_leaves), len(consts)
    m, r = divmod(length, step)

    def segment(n):
        sc = _Scan(body, nc, nx, n, reverse)

        def run(*a):
            return tuple(sc.unpack(bind(scan_p, a, {"scan": sc})))
        return run
    inner = remat(segment(step))
    outer_body = Compiled(trace(lambda *a: list(inner(*a)), [*(_zeros(v.shape, v.dtype) for v in body.ir.invars[:nc]),
                                                            *(_zeros((step, *v.shape), v.dtype)
                                                              for v in body.ir.invars[nc:nc + nx]),
                                                            *(_zeros(v.shape, v.dtype) for v in body.ir.invars[nc + nx:])],
                                name="scan_segment")[0])
    head = [cnp.reshape(x[:m * step], (m, step, *np.shape(x)[1:])) for x in x_leaves]
    tail = [x[m * step:] for x in x_leaves]
    outer = _Scan(outer_body, nc, nx, m, reverse, "scan_segments")

    def run_outer(carry):
        outs = outer.unpack(bind(scan_p, (*carry, *head, *consts), {"scan": outer}))
        return outs[:nc], [cnp.reshape(y, (m * step, *np.shape(y)[2:])) for y in outs[nc:]]

    def run_tail(carry):
        if not r:
            return carry, None
        return (lambda o: (o[:nc], o[nc:]))(segment(r)(*carry, *tail, *consts))
    if reverse:  # the tail holds the last steps: a reversed scan runs them first
        carry, ys_tail = run_tail(list(c_leaves))
        carry, ys_head = run_outer(carry)
    else:
        carry, ys_head = run_outer(list(c_leaves))
        carry, ys_tail = run_tail(carry)
    ys = ys_head if ys_tail is None else [cnp.concatenate([a, b]) for a, b in zip(ys_head, ys_tail)]
    return [*carry, *ys]


def scan(f: Callable[[C, Any], tuple[C, Y]], init: C, xs: Any = None, length: int | None = None,
         reverse: bool = False, unroll: int = 1, *, checkpoint: bool | int = False) -> tuple[C, Y]:
    """Loop ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``; JAX ``lax.scan`` semantics.

    Returns ``(carry, ys)``: the final carry and the ``y`` of every step stacked
    along a new leading axis.  ``init``, ``xs`` and ``y`` are pytrees; ``xs=None``
    with ``length=n`` runs ``n`` steps with ``x=None``; ``reverse=True`` runs from
    the last step to the first (``ys`` keep their order).  The carry must keep its
    structure, shapes and dtypes.

    On concrete values this is a Python loop, so every transform (and
    ``cr.explain``) sees each step.  Inside ``cr.jit`` or ``vmap`` the body is
    traced once and the loop is one ``scan`` primitive: a graph whose size does not
    grow with the number of steps.  Its reverse mode saves each step's residuals
    and runs a reverse scan over them; ``checkpoint=True`` keeps only one carry per
    segment of ``sqrt(length)`` steps (an int: that many steps per segment) and
    recomputes each segment in the backward pass: ``O(sqrt(n))`` memory for one more
    forward pass (the body is then traced, also eagerly).  ``unroll`` is accepted for
    JAX compatibility and changes nothing (a step is one call of the compiled body).

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> cumsum = lambda xs: cr.scan(lambda c, x: (c + x, c + x), 0.0, xs)
    >>> cumsum(np.arange(4.0))
    (np.float64(6.0), array([0., 1., 3., 6.]))
    >>> cr.jit(cumsum)(np.arange(4.0))[1]
    array([0., 1., 3., 6.])
    >>> cr.grad(lambda xs: cr.jit(cumsum)(xs)[1].sum())(np.arange(4.0))
    array([4., 3., 2., 1.])
    """
    if not callable(f):
        raise TypeError(f"scan: f must be a function f(carry, x) -> (carry, y), got {type(f).__name__}")
    if unroll is not True and (type(unroll) is bool or not isinstance(unroll, (int, np.integer)) or unroll < 1):
        raise ValueError(f"scan: unroll must be a positive int (or True), got {unroll!r}")
    x_leaves, x_tree = tree_flatten(xs)
    length = _scan_length("scan", x_leaves, x_tree, length)
    if not _segment(checkpoint, length) and not _staged_now([*tree_flatten(init)[0], *x_leaves]) and length:
        return _eager_scan(f, init, x_leaves, x_tree, length, reverse)
    return _staged_scan(f, init, x_leaves, x_tree, length, reverse, checkpoint)


def fori_loop(lower: ArrayLike, upper: ArrayLike, body_fun: Callable[[Any, C], C], init_val: C) -> C:
    """``for i in range(lower, upper): val = body_fun(i, val)``; JAX ``lax.fori_loop`` semantics.

    With concrete bounds this is a ``scan`` of ``upper - lower`` steps, so reverse
    mode works; with traced bounds it is a ``while_loop`` (forward mode only).

    >>> import chainrule as cr
    >>> f = lambda x: cr.fori_loop(0, 3, lambda i, v: v * x + i, 1.0)
    >>> f(2.0), cr.jit(f)(2.0), cr.grad(cr.jit(f))(2.0)
    (12.0, np.float64(12.0), np.float64(13.0))
    """
    if not callable(body_fun):
        raise TypeError(f"fori_loop: body_fun must be a function body_fun(i, val), got {type(body_fun).__name__}")
    lo, hi = _concrete(lower), _concrete(upper)
    if lo is not None and hi is not None:
        for b, name in ((lo, "lower"), (hi, "upper")):
            if np.ndim(b) or np.result_type(b).kind not in "biu":
                raise TypeError(f"fori_loop: {name} must be an integer scalar, got {b!r:.40}")
        lo, hi = int(lo), int(hi)
        n = max(hi - lo, 0)
        if not _staged_now(tree_flatten(init_val)[0]):
            val = init_val
            for i in range(lo, hi):
                val = body_fun(i, val)
            return val
        (_, val), _ = scan(lambda c, _: ((c[0] + 1, body_fun(c[0], c[1])), None), (np.int64(lo), init_val),
                           None, length=n)
        return val
    return while_loop(lambda c: c[0] < upper, lambda c: (c[0] + 1, body_fun(c[0], c[1])),
                      (lower, init_val))[1]


def while_loop(cond_fun: Callable[[C], Any], body_fun: Callable[[C], C], init_val: C) -> C:
    """``while cond_fun(val): val = body_fun(val)``; JAX ``lax.while_loop`` semantics.

    On concrete values this is Python's ``while``.  Inside ``cr.jit`` or ``vmap``
    the predicate and the body are traced once and staged as one ``while_loop``
    primitive.  Forward mode goes through it; reverse mode does not (as in JAX):
    use ``scan``/``fori_loop`` with a fixed trip count, or ``cr.root`` for a solver.
    Under ``vmap`` with a batched predicate the loop runs until every member stops.

    >>> import chainrule as cr
    >>> halve = cr.jit(lambda x: cr.while_loop(lambda v: v > 1.0, lambda v: v / 2.0, x))
    >>> float(halve(10.0)), float(cr.jvp(halve, (10.0,), (1.0,))[1])
    (0.625, 0.0625)
    """
    if not (callable(cond_fun) and callable(body_fun)):
        raise TypeError("while_loop: cond_fun and body_fun must be functions -- while_loop(cond_fun, body_fun, init_val)")
    c_leaves, c_tree = tree_flatten(init_val)
    if not _staged_now(c_leaves):
        val = init_val
        avals = [_aval(x) for x in c_leaves]
        while _predicate(cond_fun(val)):
            val = body_fun(val)
            leaves, tree = tree_flatten(val)
            _check_carry("while_loop", c_tree, avals, tree, leaves)
        return val
    body, captured, c_leaves, c_tree, _ = _trace_body("while_loop", lambda c, _: (body_fun(c), None), init_val, [],
                                                      _flat_tree(0))
    c_avals = [(tuple(v.shape), v.dtype) for v in body.ir.invars[:len(c_leaves)]]
    cir, kc, out_tree = _trace_loop_fn("while_loop", lambda *a: cond_fun(tree_unflatten(c_tree, list(a))),
                                       c_avals, _flat_tree(len(c_avals)), "while_cond")
    if out_tree.kind != "leaf" or len(cir.outs) != 1 or cir.out_shapes[0] != () or \
            np.dtype(cir.out_dtypes[0]).kind not in "biuf":
        raise TypeError(f"while_loop: cond_fun must return a scalar boolean, got "
                        f"{[f'{np.dtype(d)}{list(s)}' for s, d in zip(cir.out_shapes, cir.out_dtypes)]}")
    if np.dtype(cir.out_dtypes[0]).kind != "b":
        import chainrule.numpy as cnp
        cir = trace(lambda *a: [cnp.not_equal(eval_ir(cir, a)[0], 0)], [_zeros(v.shape, v.dtype) for v in cir.invars],
                    name="while_cond")[0]
    nc = len(c_leaves)
    loop = _While(Compiled(cir), body, nc, len(kc))
    outs = loop.unpack(bind(while_p, (*c_leaves, *kc, *captured), {"loop": loop}))
    return tree_unflatten(c_tree, outs)


def _predicate(p):
    c = _concrete(p)
    if c is None or np.ndim(c):
        raise TypeError(f"while_loop: cond_fun must return a scalar boolean, got {p!r:.60}")
    return bool(c)
