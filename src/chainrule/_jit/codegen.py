"""Code generation: a graph as one straight-line Python function over NumPy.

Each equation becomes one call of its primitive's ``impl`` with the params
bound as constants; a value is released (``del``) right after its last use,
so memory follows the live set, not the whole graph.
"""
from __future__ import annotations

import math

from chainrule._interpreters.staging import Lit, eval_ir
from chainrule._jit import fuse

__all__ = ["compile_ir"]

_PLAIN = (bool, int)


def compile_ir(ir, reuse=True, fused=True):
    """``(run, source)``: ``run(*inputs)`` returns the list of outputs."""
    graph, ir = ir, (fuse.fuse(ir) if fused else ir)
    ns = {}
    names = {}
    args = [f"a{k}" for k in range(len(ir.invars))]
    for v, n in zip(ir.invars, args):
        names[id(v)] = n

    def const(value):
        n = f"c{len(ns)}"
        ns[n] = value
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
    lines = []
    for k, e in enumerate(ir.eqns):
        fn = const(e.prim.impl)
        call = ", ".join(ref(a) for a in e.ins)
        if e.params:
            call += ", " + ", ".join(f"{p}={const(v)}" for p, v in e.params.items())
        out = f"v{k}"
        lines.append(f"    {out} = {fn}({call})  # {e.prim.name}")
        names[id(e.out)] = out
        dead = sorted({names[id(a)] for a in e.ins
                       if type(a) is not Lit and last.get(id(a)) == k and id(a) not in outs
                       and names[id(a)].startswith("v")})
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    lines.append(f"    return [{', '.join(ref(o) for o in ir.outs)}]")
    source = f"def run({', '.join(args)}):\n" + "\n".join(lines) + "\n"
    exec(compile(source, f"<jit {ir.name}>", "exec"), ns)
    fast = ns["run"]

    def run(*vals):
        try:
            return fast(*vals)
        except Exception:
            eval_ir(graph, vals)  # the same failure, described by bind (operation, shapes, dtypes)
            raise
    run.__name__ = f"run_{ir.name}"
    return run, source
