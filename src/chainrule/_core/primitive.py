"""Primitives, levels and dispatch: the one idea of chainrule.

Every derivative chainrule computes is the chain rule applied to *primitives*
whose local derivatives are known.  A :class:`Primitive` is declared once, with

* ``impl`` -- its NumPy evaluation;
* ``vjps`` -- one *staged* reverse-mode rule per input,
  ``(ans, *args, **params) -> (g -> cotangent)``, or ``None`` for an input
  with no derivative (an index, an integer argument, a condition); for a
  variadic primitive, ``PerInput(make)`` with ``make(i)`` giving input i's rule;
* ``jvp`` -- its forward-mode rule ``(primals, tangents, ans, params) ->
  tangent``, usually *derived* from the VJP rules by a shortcut:
  ``"elementwise"`` (the Jacobian is diagonal, so the VJP formula applied to
  the tangent is the JVP), ``"linear"`` (apply the primitive to the tangents)
  or ``"bilinear"`` (``f(tx, y) + f(x, ty)``);
* ``taylor`` -- its Taylor-mode rule for ``cr.jet``, usually a shortcut (see
  :func:`defprim` and :mod:`chainrule._interpreters.taylor`);
* ``batch`` -- its ``vmap`` rule (elementwise primitives batch by broadcasting;
  every other primitive of the library declares one);
* ``formulas`` -- per input, the local derivative as ``(text, latex)`` for
  ``cr.explain``, or a function ``(i, shapes, params, names, names_tex, g, g_tex)
  -> (text, latex)`` where it depends on the step's shapes and parameters
  (concatenate's slice, einsum's spec, mean's 1/n).  Names are the primitive's argument names (``x``, ``y``),
  ``ans`` for its output and ``g`` for the downstream adjoint, which appears
  in the formula of non-elementwise primitives (``g @ y.T``).

Rules are written with chainrule's own differentiable operations, so the
backward pass of one level is an ordinary computation for the level above it:
higher derivatives need no extra code.

Transforms are *interpreters*.  Each transform call gets a fresh integer
*level* (the tape of bare ``cr.Tensor`` objects is level 0); a tracer carries
its level, and :func:`bind` hands an operation to the highest-level tracer
among its arguments.  That tracer unwraps its own level, re-binds the
primitive on the unwrapped values (which may be tracers of lower levels, or
plain arrays for the no-tracer fast path) and records what its transform
needs.  Values of other levels are constants to it, which is what rules out
perturbation confusion.  A transform never special-cases a primitive: it only
reads the fields above.
"""
from __future__ import annotations

import itertools
import threading

import numpy as np

__all__ = ["Primitive", "PerInput", "defprim", "bind", "TRACER_TYPES", "SEE_THROUGH", "OPAQUE", "new_level", "last_level", "grad_state"]

#: Classes of tracers.  ``type(x) in TRACER_TYPES`` is the dispatch test on
#: the hot path (one hash lookup; no ``isinstance`` chain).
TRACER_TYPES: set = set()

#: Tracer classes whose ``_value`` is the logical value itself (the differentiation
#: tracers): ``raw`` values see through them.  A batch tracer's value has an extra
#: axis, so it is not among them and a batch stays a batch.
SEE_THROUGH: set = set()

#: Tracer classes that stand for every value of a shape and dtype (``cr.jit``'s staged
#: values): a value-dependent shortcut must not look beneath them (``_ops._wrap.peel``).
OPAQUE: set = set()

_level_counter = itertools.count(1)
_last_level = 0


def new_level() -> int:
    """A fresh level, higher than every level handed out before."""
    global _last_level
    _last_level = next(_level_counter)
    return _last_level


def last_level() -> int:
    """The highest level handed out so far."""
    return _last_level


class _GradState(threading.local):
    """Per-thread grad mode: levels ``<= frozen`` record nothing.

    ``no_grad`` freezes the tape (level 0) and every transform level that is
    active when it is entered; a transform started inside ``no_grad`` still
    differentiates (as ``torch.func.grad`` does).
    """

    frozen = -1


grad_state = _GradState()


class Primitive:
    """One primitive operation with its evaluation and derivative rules."""

    __slots__ = ("name", "impl", "vjps", "jvp", "formulas", "view", "uses_ans",
                 "differentiable", "elementwise", "batch", "notation", "expand", "units", "noop",
                 "broadcasting", "fresh", "scalar", "taylor", "fwd")

    def __init__(self, name, impl, vjps, jvp, formulas, view, uses_ans):
        self.name = name
        self.impl = impl
        if isinstance(vjps, PerInput):  # variadic: any number of inputs
            self.vjps = vjps
            self.formulas = formulas if formulas is not None else PerInput(lambda i: None)
            self.differentiable = vjps[0] is not None
        else:
            self.vjps = tuple(vjps)
            self.formulas = tuple(formulas) if formulas is not None else (None,) * len(self.vjps)
            self.differentiable = any(r is not None for r in self.vjps)
        self.view = view
        self.uses_ans = uses_ans
        self.jvp = _derive_jvp(self, jvp)
        # vmap: an elementwise primitive batches by broadcasting; every other one
        # declares ``batch`` ``(vals, batched, params) -> out`` (batch axis 0).
        self.elementwise = jvp == "elementwise"
        self.batch = None
        self.notation = None
        self.expand = None
        self.units = None         # cr.jit's simplify pass: see defprim
        self.noop = None
        self.broadcasting = False
        self.fresh = False
        self.scalar = None
        self.taylor = None
        self.fwd = None

    def bind(self, *args, **params):
        return bind(self, args, params)

    def __repr__(self):
        return f"<primitive {self.name}>"


class PerInput:
    """Per-input rules (or formulas) of a *variadic* primitive, made on demand.

    ``make(i)`` gives input ``i``'s rule, for any number of inputs
    (``concatenate``, ``einsum``).  It indexes like a tuple and iterates
    without end, so the engines' ``zip(p.vjps, args)`` pairs every input
    with its rule and stops with the arguments.
    """

    __slots__ = ("make", "_made")

    def __init__(self, make):
        self.make = make
        self._made = []

    def __getitem__(self, i):
        made = self._made
        while len(made) <= i:
            made.append(self.make(len(made)))
        return made[i]

    def __iter__(self):
        i = 0
        while True:
            yield self[i]
            i += 1


def bind(p: Primitive, args: tuple, params: dict):
    """Apply ``p`` to ``args``: the highest-level tracer among them handles it."""
    top = None
    lvl = -1
    for a in args:
        if type(a) in TRACER_TYPES and a._level > lvl:
            top = a
            lvl = a._level
    if top is None:
        try:
            return p.impl(*args, **params)
        except (ValueError, TypeError) as e:
            raise type(e)(_describe_failure(p, args, params, e)) from e
    if top._no_complex:  # a complex or masked constant must not meet a value being differentiated
        for a in args:
            ta = type(a)
            if ta in _ODD or (ta is _NDARRAY and a.dtype.kind == "c"):
                _refuse_constant(p, a)
    return top._process(p, args, params)


_NDARRAY = np.ndarray
#: Constants that must not meet a value being differentiated (besides complex ndarrays)
_ODD = frozenset({complex, np.complex64, np.complex128, np.clongdouble, np.ma.MaskedArray})


def _refuse_constant(p, a):
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{p.name}: a masked array meets a value being differentiated; masked arrays "
                        f"are not supported (the mask would be dropped or spread silently): pass "
                        f"a.filled(value), or multiply by a weight array of 0s and 1s")
    _refuse_complex(p, a)


def _refuse_complex(p, a):
    """Complex numbers entering differentiated code (a complex constant, a cast) give wrong
    derivatives, since every rule assumes real values: refuse them, naming the operation."""
    from chainrule._interpreters.staging import user_line
    raise TypeError(f"{p.name}: a complex operand ({a!r:.60}) meets a value being differentiated"
                    f"{user_line()}; complex differentiation is not supported yet, and mixing complex "
                    f"numbers in would give wrong derivatives (abs(x * 1j) is |x|, but its derivative would "
                    f"come out with the wrong sign). Write the real and imaginary parts as float arrays.")


def _describe_failure(p, args, params, e):
    """NumPy's complaint, with the operation and its operands' shapes and dtypes."""
    if "[operands:" in str(e):          # an inner operation already said what failed
        return f"{p.name}: {e}"
    ops = ", ".join(f"{np.shape(a)} {getattr(a, 'dtype', type(a).__name__)}" for a in args)
    extra = "".join(f", {k}={v!r}" for k, v in params.items() if _is_plain(v))
    return f"{p.name}: {e} [operands: {ops}{extra}]"


def _is_plain(v):
    """A parameter worth quoting in an error: a number, string, axis tuple or None."""
    if isinstance(v, (tuple, list)):
        return len(v) <= 8 and all(_is_plain(x) for x in v)
    return v is None or isinstance(v, (bool, int, float, str))


REGISTRY: dict[str, Primitive] = {}

#: The shortcut names of ``defprim``'s ``taylor=`` (implemented by ``_interpreters.taylor.SHORTCUTS``).
TAYLOR_SHORTCUTS = ("linear", "bilinear", "multilinear", "jvp")


def defprim(name, impl, vjps, jvp="elementwise", formulas=None, view=False, uses_ans=False, batch=None,
            notation=None, expand=None, units=None, noop=None, broadcasting=False,
            fresh=False, scalar=None, taylor=None, fwd=None):
    """Declare a primitive once: evaluation, per-input VJP rules, JVP rule, vmap rule, formulas.

    ``view=True`` marks a primitive whose NumPy result may share memory with
    its first input (reshape, transpose, basic indexing), so in-place changes
    are tracked across the two.  ``uses_ans=True`` marks a primitive whose
    VJP rules read its output, so an in-place change to the output is caught.
    ``batch`` is the ``vmap`` rule ``(vals, batched, params) -> out`` (batch axis 0),
    or a maker of one marked ``makes_batch_rule`` (called with the new primitive).
    ``notation`` is how ``explain`` writes the operation itself, ``(text, latex)``
    templates over the operands ``{0}``, ``{1}`` (``("{0} + {1}", "{0} + {1}")``);
    without it the operation is written as a call, ``name(x, y)``.
    ``expand`` ``(*args, **params) -> out`` computes the primitive by binding other
    primitives (a call of a compiled graph): staging records those instead, so a
    graph traced inside another is inlined into it and optimised with it.
    ``scalar`` is an elementwise primitive's operation on one element, for the loops
    ``cr.jit`` compiles (:mod:`chainrule._jit.fuse`): a Python expression over the
    operands ``{0}``, ``{1}``, ... converted to the dtype the primitive computes in
    (its output's; the operands' common dtype for a comparison), ``{r0}``, ... as
    they are, and the params by name, using ``np.`` functions Numba compiles
    (``"({0} + {1})"``); or ``(dtype, size) -> expression or None`` where it depends
    on that dtype or on the output's number of elements (a libm call per element only
    beats NumPy's SIMD loops on small arrays).  It must give NumPy's value (NaN,
    signed zeros, ties).
    ``taylor`` is the rule of ``cr.jet`` (Taylor mode), ``(primals, series, ans, params) ->
    [y_1, ..., y_K]`` where ``series[i]`` is input i's list of K derivative coefficients
    (``None``: a constant input; ``None`` entries are zeros), or a shortcut name:
    ``"linear"`` (affine or piecewise affine: the JVP rule applied to each coefficient),
    ``"bilinear"`` / ``"multilinear"`` (Leibniz's rule with binomial coefficients) or
    ``"jvp"`` (derived from the JVP rule by running it under a jet of one order less, the
    default).  Left out, it follows ``jvp``: ``"linear"`` and ``"bilinear"`` carry over,
    no JVP means no Taylor rule, anything else is ``"jvp"``.
    ``fwd`` ``(vals, params, diff) -> (ans, params)`` is the forward pass of a primitive that
    saves residuals for its VJP rules (a loop: ``scan``): a recording reverse-mode level calls
    it instead of binding the primitive, with ``diff`` the positions it differentiates, and
    gives the rules of that node the params it returns.  It binds primitives one level down,
    as an evaluation would, and must give the primitive's value.
    """
    if name in REGISTRY:
        raise ValueError(f"primitive {name!r} is declared twice")
    p = Primitive(name, impl, vjps, jvp, formulas, view, uses_ans)
    p.batch = batch(p) if getattr(batch, "makes_batch_rule", False) else batch
    p.notation = notation
    p.expand = expand
    p.units, p.noop, p.broadcasting, p.fresh = units, noop, broadcasting, fresh
    p.scalar = scalar
    p.fwd = fwd
    if isinstance(taylor, str) and taylor not in TAYLOR_SHORTCUTS:
        raise ValueError(f"primitive {name}: unknown taylor shortcut {taylor!r}; one of {TAYLOR_SHORTCUTS}")
    p.taylor = taylor if taylor is not None else (
        None if jvp is None else jvp if jvp in ("linear", "bilinear") else "jvp")
    REGISTRY[name] = p
    return p


# -- JVP rules derived from the VJP table -------------------------------------

def _derive_jvp(p: Primitive, jvp):
    if callable(jvp):
        return jvp
    if jvp == "elementwise":
        return _elementwise_jvp(p)
    if jvp == "linear":
        return _linear_jvp(p)
    if jvp == "bilinear":
        return _bilinear_jvp(p)
    if jvp is None:
        return None
    raise ValueError(f"primitive {p.name}: unknown jvp shortcut {jvp!r}")


def _elementwise_jvp(p):
    # For an elementwise primitive the Jacobian with respect to each input is
    # diagonal (after broadcasting), so applying the VJP formula to a tangent
    # gives the JVP.  The JVP interpreter broadcasts the sum to ``ans``'s
    # shape, the mirror of the reverse engine's unbroadcast.
    vjps = p.vjps

    def jvp(primals, tangents, ans, params):
        out = None
        for rule, t in zip(vjps, tangents):
            if t is None or rule is None:
                continue
            c = rule(ans, *primals, **params)(t)
            out = c if out is None else _add(out, c)
        return out

    return jvp


def _linear_jvp(p):
    # A primitive linear in its differentiable inputs jointly: its JVP is the
    # primitive applied to the tangents (zeros standing in for missing ones).
    vjps = p.vjps

    def jvp(primals, tangents, ans, params):
        if all(t is None for t in tangents):
            return None
        ts = tuple(
            x if rule is None else (t if t is not None else _zeros_like(x))
            for x, t, rule in zip(primals, tangents, vjps)
        )
        return bind(p, ts, params)

    return jvp


def _bilinear_jvp(p):
    def jvp(primals, tangents, ans, params):
        (x, y), (tx, ty) = primals, tangents
        out = None if tx is None else bind(p, (tx, y), params)
        if ty is not None:
            c = bind(p, (x, ty), params)
            out = c if out is None else _add(out, c)
        return out

    return jvp


#: What the derived JVP rules need from the operations layer above (``add``,
#: ``zeros_like``): installed by ``chainrule._ops`` at import, so the core never imports it.
CORE_OPS: dict = {}


def _add(a, b):
    return CORE_OPS["add"](a, b)


def _zeros_like(x):
    return CORE_OPS["zeros_like"](x)
