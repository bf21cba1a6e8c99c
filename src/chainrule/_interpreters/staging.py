"""Staging: a ``StageTracer`` records every primitive bound on it as an equation of a graph IR.

Tracing a function at a fresh level wraps its inputs in ``StageTracer``\\ s.
Each primitive that reaches one is *recorded* -- primitive, operands, params,
the output's shape and dtype -- and also *evaluated* one level down (on the
plain arrays, or on the tracers of enclosing transforms), exactly as every
other interpreter does.  So shapes and dtypes come from the primitive's own
evaluation: there is no second implementation of any operation, and no
shape rules to drift from it.

What the trace may not do is look at the values: a traced value is the
stand-in for *every* value of its shape and dtype.  ``bool()``, ``float()``,
``int()``, ``.item()``, ``np.asarray()`` and index arithmetic on one raise a
``TypeError`` that names the operation and the line of user code, and says
what to write instead.  The library's own value-dependent shortcuts (a guard
skipped when no entry is zero) see through every tracer except this one
(``_ops._wrap.peel`` stops here), so a trace always records the general
branch.  A branch is never silently baked in.

A value of an *enclosing* transform that the function reads without
receiving it as an argument (a closure, a global, an attribute) is
*captured*: it becomes an extra input of the graph, so the enclosing
transform still sees it flow through (``grad`` of a function that calls a
jitted closure over its argument).
"""
from __future__ import annotations

import itertools
import os
import sys

import numpy as np

from chainrule._core.arrayops import ArrayOps
from chainrule._core.primitive import OPAQUE, SEE_THROUGH, TRACER_TYPES, bind, new_level

__all__ = ["Var", "Lit", "Eqn", "IR", "StageTracer", "trace", "tracing", "eval_ir", "TracedValueError"]


class TracedValueError(TypeError):
    """Python needed a concrete value (a branch, ``float()``) of a value traced by ``cr.jit``."""


class Var:
    """One value of the graph: its shape and dtype (the value itself exists only at run time)."""

    __slots__ = ("shape", "dtype", "__weakref__")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def __repr__(self):
        return f"Var({_type_str(self)})"


class Lit:
    """A constant operand: a Python or NumPy scalar, an array, or a non-array argument (an index)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Lit({_short(self.value)})"


class Eqn:
    """``out = prim(*ins, **params)``: one primitive application."""

    __slots__ = ("prim", "ins", "params", "out")

    def __init__(self, prim, ins, params, out):
        self.prim = prim
        self.ins = ins        # tuple of Var | Lit
        self.params = params  # dict, as bound
        self.out = out        # Var

    def __repr__(self):
        return f"Eqn({self.prim.name})"


class IR:
    """A traced function: inputs, equations in evaluation order, outputs.

    ``invars`` are the flat input leaves (then the captured values of
    enclosing transforms, if any); ``outs`` are the flat output leaves
    (``Var`` or ``Lit``); ``in_tree`` and ``out_tree`` rebuild the pytrees.
    ``str(ir)`` is a listing, one equation a line with shapes and dtypes.

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> print(cr.make_ir(lambda x: cnp.sin(x) * 2.0)(np.ones(3)))
    { lambda a:f64[3] .
        b:f64[3] = sin a
        c:f64[3] = multiply b 2.0
      in (c) }
    """

    __slots__ = ("invars", "eqns", "outs", "in_tree", "out_tree", "n_captured", "name", "derived",
                 "__weakref__")

    def __init__(self, invars, eqns, outs, in_tree=None, out_tree=None, n_captured=0, name="f"):
        self.invars = list(invars)
        self.eqns = list(eqns)
        self.outs = list(outs)
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.n_captured = n_captured
        self.name = name
        self.derived = {}  # graphs made from this one (vjp, jvp, batched), by kind and key

    def replace(self, invars=None, eqns=None, outs=None):
        """A copy with some parts replaced (the trees and the name kept, no derived graphs)."""
        return IR(self.invars if invars is None else invars, self.eqns if eqns is None else eqns,
                  self.outs if outs is None else outs, self.in_tree, self.out_tree, self.n_captured,
                  self.name)

    @property
    def out_shapes(self):
        return [v.shape if type(v) is Var else tuple(np.shape(v.value)) for v in self.outs]

    @property
    def out_dtypes(self):
        return [v.dtype if type(v) is Var else np.result_type(v.value) for v in self.outs]

    def __str__(self):
        return format_ir(self)

    def __repr__(self):
        return f"<IR {self.name}: {len(self.invars)} inputs, {len(self.eqns)} equations, {len(self.outs)} outputs>"


# -- the listing ------------------------------------------------------------------------

_DT = {"float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32",
       "int8": "i8", "int16": "i16", "uint8": "u8", "bool": "bool", "complex128": "c128"}


def _type_str(v):
    return f"{_DT.get(v.dtype.name, v.dtype.name)}[{','.join(map(str, v.shape))}]"


def _names():
    for n in itertools.count(1):
        for t in itertools.product("abcdefghijklmnopqrstuvwxyz", repeat=n):
            yield "".join(t)


def _short(v):
    if isinstance(v, (bool, int, float, np.generic)) and np.ndim(v) == 0:
        return repr(v.item() if isinstance(v, np.generic) else v)
    if isinstance(v, np.ndarray):
        if v.size <= 4:
            return np.array2string(v, separator=",").replace("\n", "")
        return f"array<{_DT.get(v.dtype.name, v.dtype.name)}[{','.join(map(str, v.shape))}]>"
    if isinstance(v, slice):
        return ":".join("" if x is None else str(x) for x in (v.start, v.stop)) + \
            ("" if v.step is None else f":{v.step}")
    if isinstance(v, tuple):
        return "(" + ", ".join(_short(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, type):
        return v.__name__
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def format_ir(ir, indent=0):
    """The listing of ``ir`` (``str(ir)``), in the spirit of ``jax.make_jaxpr``."""
    gen = _names()
    names = {}

    def name(v):
        if type(v) is Lit:
            return _short(v.value)
        n = names.get(id(v))
        if n is None:
            n = names[id(v)] = next(gen)
        return n

    pad = " " * indent
    head = " ".join(f"{name(v)}:{_type_str(v)}" for v in ir.invars)
    lines = [f"{pad}{{ lambda {head} ."]
    for e in ir.eqns:
        ins = " ".join(name(v) for v in e.ins)
        params = " ".join(f"{k}={_short(v)}" for k, v in e.params.items())
        out = f"{name(e.out)}:{_type_str(e.out)}"
        lines.append(f"{pad}    {out} = {e.prim.name} {ins}{' ' + params if params else ''}".rstrip())
    lines.append(f"{pad}  in ({', '.join(name(v) for v in ir.outs)}) }}")
    return "\n".join(lines)


# -- the tracer -----------------------------------------------------------------------

class _Trace:
    """What one trace has recorded so far."""

    __slots__ = ("level", "eqns", "captured", "captured_vars", "consts")

    def __init__(self, level):
        self.level = level
        self.eqns = []
        self.captured = []       # values of enclosing transforms read by the function
        self.captured_vars = {}  # id(value) -> Var
        self.consts = {}

    def operand(self, a):
        """The graph operand for an argument that is not a tracer of this trace."""
        t = type(a)
        if t in TRACER_TYPES:
            if t.__name__ == "Tensor" and a._level == 0 and not a.requires_grad:
                return Lit(a._value)  # a tape constant: no history, no transform
            var = self.captured_vars.get(id(a))
            if var is None:
                var = self.captured_vars[id(a)] = Var(a.shape, a.dtype)
                self.captured.append(a)
            return var
        return Lit(a)


def _stand_in(a):
    """The value a trace computes with for ``a``, an operand from outside it.

    A value of an *enclosing* trace stands for every value of its shape: zeros take its
    place, so that tracing a nested graph (a loop's body, a branch) does not also record
    its operations, dead, in the enclosing graph.
    """
    b = a
    while type(b) in SEE_THROUGH:
        b = b._value
    if type(b) in OPAQUE:
        return np.zeros(a.shape, a.dtype)
    return a


class StageTracer(ArrayOps):
    """A value inside ``cr.jit`` / ``cr.make_ir``: its graph variable, and its value one level down."""

    __slots__ = ("_value", "_level", "_var", "_trace")

    def __init__(self, value, var, level, trace):
        self._value = value
        self._var = var
        self._level = level
        self._trace = trace

    @property
    def shape(self):
        return self._var.shape

    @property
    def dtype(self):
        return self._var.dtype

    def _process(self, p, args, params):
        if p.expand is not None:  # a call of a graph: record the graph's equations, inlined
            out = p.expand(*args, **params)
            if out is not NotImplemented:  # (a call that must stay one equation says so)
                return out
        level = self._level
        tr = self._trace
        ins, vals = [], []
        for a in args:
            if type(a) is StageTracer and a._level == level:
                ins.append(a._var)
                vals.append(a._value)
            else:
                ins.append(tr.operand(a))
                vals.append(_stand_in(a))
        ans = bind(p, vals, params)
        var = Var(_shape(ans), _dtype(ans))
        tr.eqns.append(Eqn(p, tuple(ins), params, var))
        return StageTracer(ans, var, level, tr)

    # -- no concrete values -----------------------------------------------------------
    def _no_value(self, what):
        return TracedValueError(_no_value_message(what))

    def __bool__(self): raise self._no_value("bool() (an `if`, `while`, `and`/`or` or assert on it)")
    def __float__(self): raise self._no_value("float()")
    def __int__(self): raise self._no_value("int()")
    def __index__(self): raise self._no_value("using it as a Python integer (an index, range())")
    def item(self): raise self._no_value(".item()")
    def tolist(self): raise self._no_value(".tolist()")

    def __len__(self):
        if not self._var.shape:  # a traced number used as a count, shape or axis (cnp.tile(x, n))
            raise self._no_value("using it as a shape, axis or count (len() of a 0-d value)")
        return self._var.shape[0]

    def __round__(self, ndigits=None):
        raise self._no_value("round() (cnp.round(x, decimals) rounds inside the graph)")

    def __format__(self, spec):
        if not spec:  # f"{x}": the tracer's repr, as str() gives it
            return repr(self)
        raise self._no_value(f"formatting with {{:{spec}}} (an f-string or str.format)")

    def __array__(self, dtype=None, copy=None):
        raise self._no_value("conversion to a NumPy array (np.asarray, a NumPy function)")

    def __repr__(self):
        return f"StageTracer({_type_str(self._var)})"


TRACER_TYPES.add(StageTracer)
OPAQUE.add(StageTracer)


def _no_value_message(what):
    where = user_line()
    return (f"cr.jit: {what} of a traced value{where}. Inside cr.jit (and cr.make_ir) the function is "
            f"traced once for all values of the inputs' shapes and dtypes, so Python cannot branch on, "
            f"convert or index with an array's value. Instead: select with cnp.where(cond, a, b); mark "
            f"an argument that is a Python setting static (cr.jit(f, static_argnums=(i,)) or "
            f"static_argnames=('name',)); keep shapes independent of values (a mask multiplies, "
            f"cnp.where selects, rather than x[mask]); or call the function without jit.")


_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the libraries whose frames are never the user's line: chainrule, and NumPy (np.shape(x) calls asarray)
_LIBS = tuple(d + os.sep for d in (_PKG, os.path.dirname(os.path.abspath(np.__file__))))


def user_line():
    """`` at file:line (`code`)``: the innermost frame outside chainrule and NumPy, or ``""``."""
    import linecache
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(("<jit ", "<frozen ")) and not os.path.abspath(fn).startswith(_LIBS):
            code = linecache.getline(fn, f.f_lineno).strip()
            return f" at {os.path.basename(fn)}:{f.f_lineno}" + (f" (`{code}`)" if code else "")
        f = f.f_back
    return ""


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _dtype(x):
    dt = getattr(x, "dtype", None)
    return dt if dt is not None else np.result_type(x)


def input_var(x):
    """The graph variable for an input leaf ``x`` (an array, a Python/NumPy scalar, a tracer)."""
    return Var(_shape(x), _dtype(x))


_tracing = 0  # how many traces are running (a loop inside one is staged, not run in Python)


def tracing():
    """True while a function is being traced (by ``cr.jit``, ``cr.make_ir`` or a rule making a graph)."""
    return _tracing > 0


def trace(fn, leaves, name="f"):
    """Trace ``fn(*tracers)`` (flat in, flat out) at a fresh level: ``(ir, out_values)``.

    ``leaves`` are the values the trace evaluates on (plain arrays, or tracers of
    enclosing transforms); ``out_values`` are ``fn``'s results on them.  The
    graph's inputs are the leaves, then the captured values of enclosing transforms.
    """
    global _tracing
    level = new_level()
    tr = _Trace(level)
    invars = [input_var(x) for x in leaves]
    tracers = [StageTracer(x, v, level, tr) for x, v in zip(leaves, invars)]
    _tracing += 1
    try:
        with np.errstate(all="ignore"):
            outs = fn(*tracers)
    finally:
        _tracing -= 1
    out_ops, out_vals = [], []
    for o in outs:
        if type(o) is StageTracer and o._level == level:
            out_ops.append(o._var)
            out_vals.append(o._value)
        else:
            out_ops.append(tr.operand(o))
            out_vals.append(o)
    ir = IR(invars + [tr.captured_vars[id(c)] for c in tr.captured], tr.eqns, out_ops,
            n_captured=len(tr.captured), name=name)
    return ir, out_vals, list(tr.captured)


def eval_ir(ir, vals):
    """Run ``ir`` on ``vals`` by binding every equation's primitive (any level; the flat outputs)."""
    env = {}
    for v, x in zip(ir.invars, vals):
        env[v] = x
    for e in ir.eqns:
        args = [a.value if type(a) is Lit else env[a] for a in e.ins]
        env[e.out] = bind(e.prim, args, e.params)
    return [o.value if type(o) is Lit else env[o] for o in ir.outs]
