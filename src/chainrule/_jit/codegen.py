"""Code generation: a graph as one straight-line Python function over NumPy.

Each equation becomes one call of its primitive's ``impl`` with the params
bound as constants; a value is released (``del``) right after its last use,
so memory follows the live set, not the whole graph.

With ``reuse=True`` results are also written into buffers that are already
there, through NumPy's ``out=``:

* a primitive whose ``impl`` is a NumPy ufunc with one output (what its
  ``defprim`` block declares by giving ``np.tanh`` rather than a function)
  takes ``out=``, and its result is a fresh array: a *buffer*.  It may be
  written into a dead buffer of the same shape and dtype -- in place, into one
  of its own operands whose last use it is, when it is elementwise;
* a buffer is dead when every value that may share its memory is: the
  results of ``view`` primitives (reshape, transpose, getitem) and of any
  primitive that does not declare a ``fresh`` result (elementwise and ufunc
  ones are; ``stop_gradient`` returns its input, a call of a user's function
  may) are taken to alias their operands.  A graph input is never
  written, nor any buffer that an output may share;
* buffers of at least :data:`POOL_MIN` bytes come from a pool kept with the
  compiled function, so repeated calls reuse the same memory instead of
  paging in fresh memory each time (glibc hands big blocks back to the system
  on free).  The pool is taken under a lock; a call that finds it in use (a
  second thread) allocates its own.  Outputs never live in the pool, so what
  a call returns is never overwritten by the next one.

>>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
>>> ir = cr.make_ir(lambda x: cnp.sum(cnp.exp(cnp.sin(x) * 2.0)))(np.ones(3))
>>> run, source = compile_ir(ir, fused=False)   # NumPy calls only
>>> print(source)
def run(a0):
    v0 = sin(a0)  # sin
    v1 = multiply(v0, 2.0, out=v0)  # multiply, into v0's buffer
    del v0
    v2 = exp(v1, out=v1)  # exp, into v1's buffer
    del v1
    v3 = sum_(v2, axis=(0,), keepdims=False)  # sum
    del v2
    return [v3]
<BLANKLINE>
>>> run(np.zeros(3))
[np.float64(3.0)]
"""
from __future__ import annotations

import keyword
import math
import re
import threading

import numpy as np

from chainrule._interpreters.staging import Lit, eval_ir
from chainrule._jit import fuse

__all__ = ["compile_ir", "POOL_MIN", "POOL_LIMIT"]

_PLAIN = (bool, int)

#: Buffers of at least this many bytes are kept between calls (in the pool).
POOL_MIN = 1 << 16
#: The most bytes one compiled function keeps in its pool.
POOL_LIMIT = 1 << 28


def compile_ir(ir, reuse=True, fused=True):
    """``(run, source)``: ``run(*inputs)`` returns the list of outputs."""
    graph, ir = ir, (fuse.fuse(ir) if fused else ir)
    ns = {}
    names = {}
    args = [f"a{k}" for k in range(len(ir.invars))]
    for v, n in zip(ir.invars, args):
        names[id(v)] = n

    counter = [0]

    def const(value, hint=None):
        if hint is not None and hint.isidentifier() and not keyword.iskeyword(hint) and hint not in ns \
                and not re.fullmatch(r"[avpc]\d+|run|_pool", hint):
            n = hint
        else:
            n = f"c{counter[0]}"
            counter[0] += 1
        ns[n] = value
        return n

    fns = {}

    def fn_name(p):
        n = fns.get(id(p.impl))
        if n is None:
            n = fns[id(p.impl)] = const(p.impl, p.impl.__name__ if isinstance(p.impl, np.ufunc) else p.name + "_")
        return n

    def ref(x):
        if type(x) is Lit:
            v = x.value
            if type(v) in _PLAIN or (type(v) is float and math.isfinite(v)) or v is None:
                return repr(v)
            return const(v)
        return names[id(x)]

    last = {}
    for k, e in enumerate(ir.eqns):
        for a in e.ins:
            if type(a) is not Lit:
                last[id(a)] = k
    outs = {id(o) for o in ir.outs if type(o) is not Lit}
    plan = _plan(ir, last, outs) if reuse else _Plan(len(ir.eqns))
    lines = []
    for k, e in enumerate(ir.eqns):
        call = ", ".join(ref(a) for a in e.ins)
        if e.params:
            call += ", " + ", ".join(f"{p}={_literal(v) or const(v)}" for p, v in e.params.items())
        out = f"v{k}"
        into, note = plan.into[k], ""
        if into is not None:
            call += f", out={into}"
            note = f", into pooled buffer {into}" if into.startswith("p") else f", into {into}'s buffer"
        lines.append(f"    {out} = {fn_name(e.prim)}({call})  # {e.prim.name}{note}")
        names[id(e.out)] = out
        dead = {names[id(a)] for a in e.ins
                if type(a) is not Lit and last.get(id(a)) == k and id(a) not in outs
                and names[id(a)].startswith("v") and id(a) not in plan.holders}
        dead.update(plan.dels[k])
        if dead:
            lines.append(f"    del {', '.join(sorted(dead, key=lambda n: int(n[1:])))}")
    ret = []
    for o in ir.outs:
        r = ref(o)
        ret.append(f"{r}.copy()" if type(o) is Lit and isinstance(o.value, np.ndarray) else r)
    lines.append(f"    return [{', '.join(ret)}]")
    pool = [f"p{k}" for k in range(len(plan.pool))]
    head = f"def run({', '.join(args + (['_pool'] if pool else []))}):\n"
    if pool:
        head += f"    {', '.join(pool)}{',' if len(pool) == 1 else ''} = _pool\n"
    source = head + "\n".join(lines) + "\n"
    exec(compile(source, f"<jit {ir.name}>", "exec"), ns)
    fast = ns["run"]

    if not pool:
        def run(*vals):
            try:
                return fast(*vals)
            except Exception:
                eval_ir(graph, vals)  # the same failure, described by bind (operation, shapes, dtypes)
                raise
    else:
        specs = plan.pool
        lock = threading.Lock()
        kept = []

        def run(*vals):
            try:
                if lock.acquire(False):
                    try:
                        if not kept:
                            kept.extend(np.empty(s, d) for s, d in specs)
                        return fast(*vals, kept)
                    finally:
                        lock.release()
                return fast(*vals, [np.empty(s, d) for s, d in specs])  # the pool is busy: another thread
            except Exception:
                eval_ir(graph, vals)
                raise
    run.__name__ = f"run_{ir.name}"
    return run, source


# -- the buffer plan ------------------------------------------------------------------------

class _Plan:
    """Per equation: the buffer its result is written into (``out=``), and the names to drop after it."""

    __slots__ = ("into", "dels", "holders", "pool")

    def __init__(self, n):
        self.into = [None] * n
        self.dels = [[] for _ in range(n)]
        self.holders = set()  # ids of values whose name holds a buffer: dropped by ``dels`` only
        self.pool = []     # (shape, dtype) of each pooled buffer p0, p1, ...


class _Buffer:
    __slots__ = ("name", "var", "pooled", "freed_at")

    def __init__(self, name, var, pooled):
        self.name, self.var, self.pooled, self.freed_at = name, var, pooled, None


def _fresh(e):
    """Whether ``e``'s result is a new array that ``out=`` can direct: a one-output ufunc, not 0-d."""
    f = e.prim.impl
    return isinstance(f, np.ufunc) and f.nout == 1 and f.nin == len(e.ins) and len(e.out.shape) > 0 \
        and e.out.dtype.kind in "biufc" and not e.params


def _plan(ir, last, outs):
    n = len(ir.eqns)
    plan = _Plan(n)
    # Alias groups (union-find): a fresh result starts its own; any other result may share
    # the memory of its operands, so it joins their groups.
    parent = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for v in ir.invars:
        parent[id(v)] = id(v)
    fresh = [_fresh(e) for e in ir.eqns]
    for k, e in enumerate(ir.eqns):
        o = id(e.out)
        parent[o] = o
        p = e.prim
        if not (fresh[k] or p.fresh or p.elementwise or isinstance(p.impl, np.ufunc)):
            for a in e.ins:
                if type(a) is not Lit and id(a) in parent:
                    parent[find(id(a))] = o
    # A group dies after its members' last use; one with an output never does.
    death = {}
    never = math.inf
    for k, e in enumerate(ir.eqns):
        g = find(id(e.out))
        d = never if id(e.out) in outs else last.get(id(e.out), k)
        death[g] = max(death.get(g, -1), d)
    for v in ir.invars:
        g = find(id(v))
        if g in death:
            death[g] = max(death[g], never if id(v) in outs else last.get(id(v), -1))
    dying = [[] for _ in range(n)]
    for g, d in death.items():
        if d != never:
            dying[d].append(g)
    buffers = {}      # group -> its buffers
    free = {}         # (shape, dtype) -> free buffers (last freed last)
    pooled_bytes = 0

    def release(groups, k):
        for g in groups:
            for b in buffers.pop(g, ()):
                b.freed_at = k
                free.setdefault((b.var.shape, b.var.dtype), []).append(b)

    for k, e in enumerate(ir.eqns):
        if fresh[k] and e.prim.impl.signature is None:
            release(dying[k], k)  # elementwise: may write over an operand read for the last time here
            dying[k] = []
        if fresh[k]:
            g = find(id(e.out))
            pinned = death[g] == never
            spec = (e.out.shape, e.out.dtype)
            cands = [b for b in free.get(spec, ()) if not (pinned and b.pooled)]
            if cands:
                b = cands[-1]
                free[spec].remove(b)
                plan.into[k] = b.name
                if not b.pooled:
                    plan.dels[k].append(b.name)
                    b.name, b.var = f"v{k}", e.out
                    plan.holders.add(id(e.out))
                b.freed_at = None
            else:
                nbytes = e.out.dtype.itemsize * math.prod(e.out.shape)
                if not pinned and nbytes >= POOL_MIN and pooled_bytes + nbytes <= POOL_LIMIT:
                    b = _Buffer(f"p{len(plan.pool)}", e.out, True)
                    plan.pool.append(spec)
                    pooled_bytes += nbytes
                    plan.into[k] = b.name
                else:
                    b = _Buffer(f"v{k}", e.out, False)
                    plan.holders.add(id(e.out))
            buffers.setdefault(g, []).append(b)
        release(dying[k], k)
    for bs in free.values():  # never written again: drop them where they died
        for b in bs:
            if not b.pooled:
                plan.dels[b.freed_at].append(b.name)
    for bs in buffers.values():  # never dead (an output may share it): drop the name after its last use
        for b in bs:
            if not b.pooled and id(b.var) not in outs and id(b.var) in last:
                plan.dels[last[id(b.var)]].append(b.name)
    return plan


def _literal(v):
    """``repr(v)`` where that is the value in source (numbers, None, strings, tuples of them), else ``None``."""
    t = type(v)
    if t in _PLAIN or v is None or t is str or (t is float and math.isfinite(v)):
        return repr(v)
    if t is tuple:
        parts = [_literal(x) for x in v]
        if all(p is not None for p in parts):
            return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"
    return None
