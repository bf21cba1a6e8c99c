"""Optimisation passes on the graph IR, each a small function ``IR -> IR``.

:func:`optimize` runs them in order.  Passes never special-case a primitive
beyond what its ``defprim`` block declares.
"""
from __future__ import annotations

from chainrule._interpreters.staging import IR, Lit, Var

__all__ = ["optimize", "dce", "split_known"]


def optimize(ir: IR) -> IR:
    """The graph after every pass."""
    return dce(ir)


def dce(ir: IR) -> IR:
    """Dead-code elimination: drop equations whose output no output needs (primitives are pure)."""
    live = {id(v) for v in ir.outs if type(v) is Var}
    kept = []
    for e in reversed(ir.eqns):
        if id(e.out) in live:
            kept.append(e)
            for a in e.ins:
                if type(a) is Var:
                    live.add(id(a))
    if len(kept) == len(ir.eqns):
        return ir
    kept.reverse()
    return ir.replace(eqns=kept)


def split_known(ir: IR, n_known: int, n_known_outs: int):
    """Partial evaluation: ``(fwd, bwd, n_res)`` for a graph whose first ``n_known`` inputs are known first.

    ``fwd`` maps the known inputs to the first ``n_known_outs`` outputs and the
    *residuals*: the known values that the rest of the graph reads.  ``bwd``
    maps (residuals, the other inputs) to the remaining outputs.  An equation
    is known when none of its operands depends on the other inputs.
    """
    unknown = {id(v) for v in ir.invars[n_known:]}
    known_eqns, unknown_eqns = [], []
    for e in ir.eqns:
        if any(type(a) is Var and id(a) in unknown for a in e.ins):
            unknown.add(id(e.out))
            unknown_eqns.append(e)
        else:
            known_eqns.append(e)
    residuals, seen = [], set()

    def need(v):
        if type(v) is Var and id(v) not in unknown and id(v) not in seen:
            seen.add(id(v))
            residuals.append(v)
    for e in unknown_eqns:
        for a in e.ins:
            need(a)
    for v in ir.outs[n_known_outs:]:
        need(v)
    fwd = dce(IR(ir.invars[:n_known], known_eqns, list(ir.outs[:n_known_outs]) + residuals,
                 name=ir.name + ".fwd"))
    for v in ir.outs[:n_known_outs]:
        if type(v) is Var and id(v) in unknown:
            raise ValueError(f"split_known: output {v} of {ir.name} depends on the unknown inputs")
    bwd = dce(IR(residuals + ir.invars[n_known:], unknown_eqns, list(ir.outs[n_known_outs:]),
                 name=ir.name + ".bwd"))
    return fwd, bwd, len(residuals)
