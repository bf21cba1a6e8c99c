"""Optimisation passes on the graph IR, each a small function ``IR -> IR``.

:func:`optimize` runs them in order: :func:`fold` (constant folding),
:func:`simplify` (algebraic identities), :func:`cse` (common
subexpressions), :func:`dce` (dead code).  Passes never special-case a
primitive beyond what its ``defprim`` block declares (``units``, ``noop``,
``broadcasting``, ``elementwise``, ``impl``).

Every pass keeps the values *bit for bit*: the optimised graph gives what the
traced graph gives, signed zeros and NaNs included (eager and jitted code
agree).  So ``x + 0.0`` stays (``-0.0 + 0.0`` is ``+0.0``), while
``x + (-0.0)``, ``x - 0.0``, ``x * 1``, ``x / 1`` and ``x ** 1`` become ``x``.
This is stricter than JAX, whose compiler (XLA) rewrites ``x + 0.0`` to ``x``
under ``jit`` (``jax.jit(lambda x: x + 0.0)(-0.0)`` is ``-0.0``, eager JAX
gives ``0.0``).  ``x * 0`` is never ``0`` (``inf * 0`` is NaN).  The
optimised graph is also what ``grad``/``jvp``/``vmap`` of a jitted function
differentiate, so a pass must keep derivatives too: it only removes
operations whose result is exactly an operand (derivative 1) and never
removes ``stop_gradient``.

>>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
>>> ir = cr.make_ir(lambda x: cnp.sin(x * 1.0) + cnp.sin(x * 1.0) * (2.0 + 3.0))(np.ones(3))
>>> len(ir.eqns), len(optimize(ir).eqns)
(6, 3)
"""
from __future__ import annotations

import math
import struct

import numpy as np

from chainrule._interpreters.staging import IR, Eqn, Lit, Var

__all__ = ["optimize", "fold", "simplify", "cse", "dce", "split_known"]

#: The largest array (in bytes) that constant folding makes a constant of the
#: compiled code; a bigger one stays an equation (computed at run time).
FOLD_LIMIT = 1 << 16


def optimize(ir: IR) -> IR:
    """The graph after every pass: fold, simplify, cse, dce."""
    return dce(cse(simplify(fold(ir))))


# -- rewriting helpers ---------------------------------------------------------------------

def _rewrite(ir, eqns, subst):
    """``ir`` with ``eqns`` and every operand replaced through ``subst`` (id(Var) -> operand)."""
    if not subst:
        return ir if eqns is None else ir.replace(eqns=eqns)

    def get(a):
        return subst.get(id(a), a) if type(a) is Var else a
    outs = [get(o) for o in ir.outs]
    return ir.replace(eqns=eqns if eqns is not None else ir.eqns, outs=outs)


def _sub_ins(e, subst):
    """``e`` with its operands replaced through ``subst`` (the same object when none is)."""
    if not subst:
        return e
    ins = tuple(subst.get(id(a), a) if type(a) is Var else a for a in e.ins)
    if all(a is b for a, b in zip(ins, e.ins)):
        return e
    return Eqn(e.prim, ins, e.params, e.out)


def _nbytes(v):
    return v.nbytes if isinstance(v, (np.ndarray, np.generic)) else 0


# -- constant folding ----------------------------------------------------------------------

def fold(ir: IR) -> IR:
    """Constant folding: an equation whose operands are all constants becomes a constant.

    It is evaluated now with its primitive's ``impl``.  A result bigger than
    :data:`FOLD_LIMIT` bytes, or one whose evaluation fails (the run will say
    why, naming the operation), stays an equation.

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> print(fold(cr.make_ir(lambda x: x * cnp.exp(cnp.asarray(0.0)))(np.ones(2))))
    { lambda a:f64[2] .
        b:f64[2] = multiply a 1.0
      in (b) }
    """
    subst, eqns, changed = {}, [], False
    for e in ir.eqns:
        e = _sub_ins(e, subst)
        if e.prim.expand is None and all(type(a) is Lit for a in e.ins):
            value = _evaluate(e)
            if value is not None:
                subst[id(e.out)] = Lit(value)
                changed = True
                continue
        eqns.append(e)
    return _rewrite(ir, eqns, subst) if changed else ir


def _evaluate(e):
    try:
        with np.errstate(all="ignore"):
            value = e.prim.impl(*(a.value for a in e.ins), **e.params)
    except Exception:
        return None
    if _nbytes(value) > FOLD_LIMIT or not isinstance(value, (np.ndarray, np.generic)):
        return None
    if tuple(np.shape(value)) != e.out.shape or value.dtype != e.out.dtype:
        return None
    return value


# -- algebraic simplification -----------------------------------------------------------------

def simplify(ir: IR) -> IR:
    """Algebraic simplification: drop operations whose result is exactly one of their operands.

    Declared by the primitives: an operand equal to one of ``units``
    (``x * 1``, ``x + (-0.0)``, ``x - 0.0``, ``x / 1``, ``x ** 1``), a ``noop``
    (a reshape to the same shape), and a ``broadcasting`` operand of a
    primitive that broadcasts anyway (read its input directly).  Only when
    the result has the survivor's shape and dtype; never for a graph output
    (the caller would get an input array, or a view of one, back).

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> print(simplify(cr.make_ir(lambda x: cnp.sin((x * 1.0 + 0.0) / 1))(np.ones(2))))
    { lambda a:f64[2] .
        b:f64[2] = add a 0.0
        c:f64[2] = sin b
      in (c) }
    """
    outs = {id(o) for o in ir.outs if type(o) is Var}
    producer = {}
    subst, eqns, changed = {}, [], False
    for e in ir.eqns:
        e = _sub_ins(e, subst)
        if id(e.out) not in outs:
            survivor = _survivor(e)
            if survivor is not None:
                subst[id(e.out)] = survivor
                changed = True
                continue
        e2 = _read_through_broadcasts(e, producer)
        changed |= e2 is not e
        producer[id(e2.out)] = e2
        eqns.append(e2)
    return _rewrite(ir, eqns, subst) if changed else ir


def _same_type(a, out):
    if type(a) is Var:
        return a.shape == out.shape and a.dtype == out.dtype
    return False  # a constant result is fold's business


def _survivor(e):
    """The operand that ``e``'s result is exactly, or ``None``."""
    p = e.prim
    if p.units is not None and len(e.ins) == 2:
        for i, unit in enumerate(p.units):
            other = e.ins[1 - i]
            if unit is not None and type(e.ins[i]) is Lit and _same_type(other, e.out) \
                    and _is_unit(e.ins[i].value, unit, e.out.dtype):
                return other
    if p.noop is not None and len(e.ins) == 1 and type(e.ins[0]) is Var and _same_type(e.ins[0], e.out):
        try:
            if p.noop(e.ins[0], **e.params):
                return e.ins[0]
        except Exception:
            return None
    return None


def _is_unit(value, unit, dtype):
    """Whether the constant ``value`` is ``unit`` (every entry; the sign of a zero too for floats).

    Never for a complex result: ``(a + inf j) * 1`` is ``nan + inf j`` (the 1 is ``1 + 0j``).
    """
    if dtype.kind == "c" or isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.ndarray, np.generic)):
        return False
    a = np.asarray(value)
    if a.size == 0 or a.size > 64 or a.dtype.kind not in "iuf":
        return False
    if not np.all(a == unit):
        return False
    return dtype.kind != "f" or bool(np.all(np.signbit(a) == np.signbit(unit)))


def _broadcasts(p):
    """Whether ``p`` broadcasts its operands elementwise (so a broadcast operand can be read unbroadcast)."""
    return p.elementwise or (isinstance(p.impl, np.ufunc) and p.impl.signature is None)


def _read_through_broadcasts(e, producer):
    """``e`` reading the inputs of ``broadcasting`` operands directly, where that changes nothing."""
    if not _broadcasts(e.prim) or not any(type(a) is Var and id(a) in producer
                                          and producer[id(a)].prim.broadcasting for a in e.ins):
        return e
    ins = list(e.ins)
    for i, a in enumerate(e.ins):
        b = producer.get(id(a)) if type(a) is Var else None
        if b is None or not b.prim.broadcasting or not b.ins:
            continue
        trial = ins[:i] + [b.ins[0]] + ins[i + 1:]
        if _result_type(e, trial) == (e.out.shape, e.out.dtype):
            ins = trial
    if all(a is b for a, b in zip(ins, e.ins)):
        return e
    return Eqn(e.prim, tuple(ins), e.params, e.out)


def _result_type(e, ins):
    """``(shape, dtype)`` of ``e``'s primitive on operands ``ins`` (evaluated on 0-d stand-ins)."""
    def stand_in(a):
        if type(a) is Var:
            return np.zeros((), a.dtype)
        v = a.value
        return np.zeros((), v.dtype) if isinstance(v, np.ndarray) else v
    try:
        shape = np.broadcast_shapes(*(a.shape if type(a) is Var else np.shape(a.value) for a in ins))
        with np.errstate(all="ignore"):
            out = e.prim.impl(*map(stand_in, ins), **e.params)
        return tuple(shape), np.result_type(out)
    except Exception:
        return None


# -- common subexpressions ------------------------------------------------------------------

def cse(ir: IR) -> IR:
    """Common-subexpression elimination: the same primitive on the same operands with equal params is computed once.

    Variables compare by identity, scalar constants by value (bit for bit:
    ``0.0`` and ``-0.0`` differ), arrays by identity (or by value when small),
    params by value however they nest (an unhashable one by identity).

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> print(cse(cr.make_ir(lambda x: cnp.sin(x) * cnp.sin(x))(np.ones(2))))
    { lambda a:f64[2] .
        b:f64[2] = sin a
        c:f64[2] = multiply b b
      in (c) }
    """
    seen, subst, eqns, changed = {}, {}, [], False
    for e in ir.eqns:
        e = _sub_ins(e, subst)
        try:
            key = (e.prim, tuple(_key(a) for a in e.ins), _key(e.params))
            hash(key)
        except Exception:
            key = None
        if key is not None:
            prior = seen.get(key)
            if prior is not None and prior.shape == e.out.shape and prior.dtype == e.out.dtype:
                subst[id(e.out)] = prior
                changed = True
                continue
            seen[key] = e.out
        eqns.append(e)
    return _rewrite(ir, eqns, subst) if changed else ir


def _key(v):
    """A hashable key equal for values that are the same operand or param (conservatively)."""
    t = type(v)
    if t is Var:
        return ("var", id(v))
    if t is Lit:
        return ("lit", _key(v.value))
    if t is float:
        return (t, struct.pack("<d", v))
    if t is bool or t is int or t is str or v is None or t is complex and not math.isnan(abs(v)):
        return (t, v)
    if isinstance(v, np.generic):
        return (t, v.dtype.str, v.tobytes())
    if t is np.ndarray:
        if v.size <= 16 and v.dtype.kind in "biufc":
            return (t, v.dtype.str, v.shape, v.tobytes())
        return ("id", id(v))
    if t is tuple or t is list:
        return (t, tuple(_key(x) for x in v))
    if t is dict:
        return (t, tuple(sorted((k, _key(x)) for k, x in v.items())))
    if t is slice:
        return (t, _key(v.start), _key(v.stop), _key(v.step))
    if isinstance(v, np.dtype):
        return (np.dtype, v.str)
    try:
        hash(v)
        return (t, v)
    except TypeError:
        return ("id", id(v))


# -- dead code --------------------------------------------------------------------------------

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


def split_loop(ir: IR, n_step: int, n_inv: int, n_known_outs: int, kept=()):
    """Partial evaluation of a loop body's vjp graph for a loop that saves residuals per step.

    ``ir``'s inputs are ``n_step`` per-step known inputs (a carry, a slice of the
    scanned arrays), then ``n_inv`` loop-invariant known inputs (the constants),
    then the unknown ones (cotangents).  Returns ``(inv, fwd, bwd, step_res)``:

    * ``inv``: invariant inputs -> the *invariant residuals*, computed once, not per step;
    * ``fwd``: (step inputs, invariant inputs) -> the first ``n_known_outs`` outputs and the
      step residuals the loop must stack, except those that are step inputs listed in
      ``kept`` (positions of inputs the loop already holds stacked: the scanned arrays);
    * ``bwd``: (invariant residuals, step residuals, unknown inputs) -> the other outputs;
    * ``step_res``: for each step residual of ``bwd``, the position of the step input it is
      (one of ``kept``) or ``None`` when ``fwd`` outputs it (in order).

    An equation is invariant when its operands are all invariant, known when none
    depends on the unknown inputs.  Like :func:`split_known`, but a residual that
    does not change from step to step is not stacked once per step.
    """
    n_known = n_step + n_inv
    invariant = {id(v) for v in ir.invars[n_step:n_known]}
    unknown = {id(v) for v in ir.invars[n_known:]}
    inv_eqns, known_eqns, unknown_eqns = [], [], []
    for e in ir.eqns:
        vars_in = [a for a in e.ins if type(a) is Var]
        if any(id(a) in unknown for a in vars_in):
            unknown.add(id(e.out))
            unknown_eqns.append(e)
        else:
            if all(id(a) in invariant for a in vars_in):
                invariant.add(id(e.out))
                inv_eqns.append(e)
            known_eqns.append(e)
    inv_res, step_res, seen = [], [], set()

    def need(v):
        if type(v) is Var and id(v) not in unknown and id(v) not in seen:
            seen.add(id(v))
            (inv_res if id(v) in invariant else step_res).append(v)
    for e in unknown_eqns:
        for a in e.ins:
            need(a)
    for v in ir.outs[n_known_outs:]:
        need(v)
    for v in ir.outs[:n_known_outs]:
        if type(v) is Var and id(v) in unknown:
            raise ValueError(f"split_loop: output {v} of {ir.name} depends on the unknown inputs")
    where = {id(v): k for k, v in enumerate(ir.invars[:n_step])}
    kept = set(kept)
    positions = [where[id(v)] if where.get(id(v)) in kept else None for v in step_res]
    inv = dce(IR(ir.invars[n_step:n_known], inv_eqns, inv_res, name=ir.name + ".inv"))
    fwd = dce(IR(ir.invars[:n_known], known_eqns,
                 list(ir.outs[:n_known_outs]) + [v for v, p in zip(step_res, positions) if p is None],
                 name=ir.name + ".fwd"))
    bwd = dce(IR(inv_res + step_res + ir.invars[n_known:], unknown_eqns, list(ir.outs[n_known_outs:]),
                 name=ir.name + ".bwd"))
    return inv, fwd, bwd, positions
