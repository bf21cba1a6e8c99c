"""Forward mode on the tape: ``cr.forward_ad``, as ``torch.autograd.forward_ad``.

Inside ``with dual_level():``, ``make_dual(x, t)`` pairs a value with a
tangent; every operation on the pair carries the tangent along (the JVP
rules of the primitives), and ``unpack_dual(y)`` gives back
``(primal, tangent)``.

A dual value is a :class:`Dual`, the forward-mode tracer (``JVPTracer``) of
the level that ``dual_level()`` opened -- a fresh level like any transform's,
so dual levels nest with each other and with ``cr.grad``, ``cr.jvp`` and
``cr.vmap`` in either order.  Its primal is whatever ``x`` was: a tape
``cr.Tensor`` (then the primal *and* the tangent computations are recorded on
the tape), a NumPy array, or a value traced by an enclosing transform.

Forward-over-reverse: ``cr.autograd.grad`` of a dual output returns dual
gradients, whose tangent is the Hessian-vector product.  The tangent of
``d primal / d w`` is ``d tangent / d w`` (the order of mixed partials does
not matter), so it is one more backward pass, over the tangent's recorded
graph.  Reverse-over-forward: the tangent that ``unpack_dual`` returns is an
ordinary tape Tensor; call ``backward()`` on it.

Leaving ``dual_level()`` drops the tangents: dual values made inside then
behave as their primals.
"""
from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Literal

import numpy as np

from chainrule._core.primitive import SEE_THROUGH, TRACER_TYPES, bind, new_level
from chainrule._interpreters.jvp import JVPTracer
from chainrule._interpreters.reverse import Tensor, _plain, _raw

if TYPE_CHECKING:
    from chainrule.typing import ArrayLike

__all__ = ["dual_level", "make_dual", "unpack_dual", "UnpackedDualTensor"]

#: What ``unpack_dual`` returns: ``tangent`` is ``None`` when the value has none.
UnpackedDualTensor = collections.namedtuple("UnpackedDualTensor", ["primal", "tangent"])
UnpackedDualTensor.__doc__ = """What ``unpack_dual`` returns: a named pair ``(primal, tangent)``.

>>> import chainrule as cr
>>> import chainrule.forward_ad as fwAD
>>> with fwAD.dual_level():
...     y = fwAD.make_dual(cr.tensor(3.0), cr.tensor(1.0)) ** 2
...     primal, tangent = fwAD.unpack_dual(y)
>>> primal, tangent, fwAD.unpack_dual(y).tangent is None   # outside the level: no tangent
(tensor(9.), tensor(6.), True)
"""


class _Levels(threading.local):
    def __init__(self):
        self.stack = []  # the dual levels open in this thread, innermost last


_levels = _Levels()
_live: set = set()  # every open dual level (a Dual of a closed level acts as its primal)


class dual_level:
    """Open a level for dual values; leaving it drops their tangents.

    ``with dual_level() as level:`` binds the level (an int) for ``make_dual``
    and ``unpack_dual``'s ``level=``.  Levels nest (the innermost one is the
    default); PyTorch allows only one.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> import chainrule.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     y = cnp.sin(fwAD.make_dual(cr.tensor(0.0), cr.tensor(2.0)))
    ...     fwAD.unpack_dual(y)
    UnpackedDualTensor(primal=tensor(0.), tangent=tensor(2.))
    >>> fwAD.unpack_dual(y).tangent is None        # outside the level: no tangent
    True
    """

    __slots__ = ("level",)

    def __enter__(self) -> int:
        self.level = new_level()
        _levels.stack.append(self.level)
        _live.add(self.level)
        return self.level

    def __exit__(self, *exc: object) -> Literal[False]:
        _levels.stack.remove(self.level)
        _live.discard(self.level)
        return False


def _current(level, what):
    if level is None:
        if not _levels.stack:
            return None
        return _levels.stack[-1]
    if level not in _live:
        raise RuntimeError(f"{what}: dual level {level} is not open; pass the value that "
                           f"`with cr.forward_ad.dual_level() as level:` bound, inside that block")
    return level


class Dual(JVPTracer):
    """A dual value: a primal and its tangent at one dual level (``make_dual``'s result)."""

    __slots__ = ()
    _differentiates = False  # torch.autograd.forward_ad: float()/.item() give the primal
    _no_complex = True

    def _process(self, p, args, params):
        level = self._level
        if level not in _live:  # the level was left: the tangent is gone
            return bind(p, [a._value if type(a) is Dual and a._level == level else a for a in args], params)
        return JVPTracer._process(self, p, args, params)

    # -- the tape's face, read from the primal --------------------------------------------------
    @property
    def requires_grad(self):
        return bool(getattr(self._value, "requires_grad", False))

    @property
    def grad_fn(self):
        return getattr(self._value, "grad_fn", None)

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """``backward()`` of the primal: the leaves' ``.grad`` get the gradient, without tangent.

        For the tangent of a gradient (a Hessian-vector product), use
        ``cr.autograd.grad(y, inputs)``, whose results are dual.
        """
        if type(self._value) is not Dual and type(self._value) is not Tensor:
            raise RuntimeError("backward(): this dual value's primal is not a tape Tensor; make the "
                               "primal with cr.tensor(..., requires_grad=True)")
        self._value.backward(grad, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self):
        """The primal with no history and no tangent (PyTorch drops both too)."""
        return _as_tensor(_raw(self))

    def numpy(self):
        raise RuntimeError("numpy() on a dual value would drop its tangent; use "
                           "cr.forward_ad.unpack_dual(y) first")

    def __array__(self, dtype=None, copy=None):
        raise TypeError("converting a dual value (cr.forward_ad) to a NumPy array would drop its "
                        "tangent; use chainrule.numpy functions, or cr.forward_ad.unpack_dual(y) first")

    def __setitem__(self, idx, v):
        # In place, as for a tape Tensor: this dual value (primal and tangent) is rebound
        # to the written one; the array it was made from is not written.
        from chainrule.numpy import at
        new = at(self)[idx].set(v)
        if type(new) is not Dual or new._level != self._level:
            new = Dual(new, _zero_tangent(new), self._level)
        self._value, self._tangent = new._value, new._tangent

    def __repr__(self):
        if self._level not in _live:
            return repr(self._value)
        return f"dual({_as_tensor(self._value)!r}, tangent={_as_tensor(self._tangent)!r})"


TRACER_TYPES.add(Dual)
SEE_THROUGH.add(Dual)


def _zero_tangent(x):
    from chainrule._ops.creation import zeros_like
    return zeros_like(_raw(x))


def make_dual(tensor: ArrayLike, tangent: ArrayLike, *, level: int | None = None) -> Dual:
    """``tensor`` paired with ``tangent``: operations on the result carry the tangent along.

    Needs an open ``dual_level()``.  ``tangent`` must have ``tensor``'s shape; a
    tangent of another float dtype is cast to ``tensor``'s dtype.  ``tensor`` may be a
    tape Tensor (requiring grad or not), a NumPy array or number, or a value traced
    by a transform (``cr.grad``, ``cr.vmap``) started outside the level.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> import chainrule.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     x = fwAD.make_dual(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 0.0]))
    ...     y = x ** 2 + 1
    ...     y.shape, fwAD.unpack_dual(y).tangent
    ((2,), tensor([2., 0.]))
    """
    lvl = _current(level, "make_dual")
    if lvl is None:
        raise RuntimeError("make_dual: no dual level is open; enter `with cr.forward_ad.dual_level():` "
                           "first, and make and unpack dual values inside it")
    x = _operand(tensor, "make_dual: the primal", lvl)
    t = _operand(tangent, "make_dual: the tangent", lvl)
    if type(x) is Dual and x._level == lvl:
        raise RuntimeError(f"make_dual: the primal already has a tangent at dual level {lvl}; "
                           f"unpack_dual(x).primal gives the value without it")
    xdt, tdt = np.dtype(_raw(x).dtype), np.dtype(_raw(t).dtype)
    if not np.issubdtype(xdt, np.floating):
        raise TypeError(f"make_dual: the primal has dtype {xdt}; only floating-point values can carry "
                        f"a tangent -- convert first, e.g. cr.tensor(x, dtype=float)")
    if not np.issubdtype(tdt, np.floating):
        raise TypeError(f"make_dual: the tangent has dtype {tdt} but the primal has dtype {xdt}; "
                        f"the tangent must be floating-point (it is cast to the primal's dtype)")
    if tuple(np.shape(t)) != tuple(np.shape(x)):
        raise ValueError(f"make_dual: the tangent has shape {tuple(np.shape(t))} but the primal has "
                         f"shape {tuple(np.shape(x))}; they must be equal")
    if tdt != xdt:
        from chainrule._ops import astype
        t = astype(t, xdt)
    return Dual(x, t, lvl)


def _operand(v, what, lvl):
    """``v`` as an array or tracer that a Dual at ``lvl`` may hold, or a clear error."""
    if type(v) in TRACER_TYPES:
        if v._level > lvl:
            raise ValueError(f"{what} is traced by a transform or dual level started inside this "
                             f"dual level (level {v._level} > {lvl}); call make_dual outside that "
                             f"transform, or open the dual level inside it")
        return v
    a = np.asarray(v)
    if a.dtype == object:
        raise TypeError(f"{what} is a {type(v).__name__} of dtype object, not numbers")
    return a


def unpack_dual(tensor: ArrayLike, *, level: int | None = None) -> UnpackedDualTensor:
    """``UnpackedDualTensor(primal, tangent)`` of a dual value; ``tangent`` is ``None`` if it has none.

    Outside every ``dual_level()`` the value comes back as the primal, with no
    tangent.  NumPy results come back as tape Tensors that do not require grad.

    >>> import chainrule as cr, chainrule.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     fwAD.unpack_dual(fwAD.make_dual(cr.tensor(3.0), cr.tensor(1.0)) * 2)
    ...     fwAD.unpack_dual(cr.tensor(3.0))
    UnpackedDualTensor(primal=tensor(6.), tangent=tensor(2.))
    UnpackedDualTensor(primal=tensor(3.), tangent=None)
    """
    lvl = _current(level, "unpack_dual")
    if lvl is None:
        return UnpackedDualTensor(_as_tensor(_drop_closed(tensor)), None)
    p, t = _split(tensor, lvl)
    return UnpackedDualTensor(_as_tensor(p), None if t is None else _as_tensor(t))


def _drop_closed(x):
    while type(x) is Dual and x._level not in _live:
        x = x._value
    return x


def _split(x, lvl):
    """``(primal, tangent or None)`` of ``x`` at dual level ``lvl``."""
    x = _drop_closed(x)
    if type(x) is Dual:
        if x._level == lvl:
            return x._value, x._tangent
        if x._level > lvl:  # a nested (inner) level: split its primal and its tangent alike
            p, t = _split(x._value, lvl)
            tp, tt = _split(x._tangent, lvl)
            if t is None and tt is None:
                return x, None
            return (Dual(p, tp, x._level),
                    Dual(_zero_tangent(p) if t is None else t, _zero_tangent(p) if tt is None else tt,
                         x._level))
    if type(x) in TRACER_TYPES and x._level > lvl and _holds(x, lvl):
        raise ValueError(f"unpack_dual: the value is traced by a transform started inside dual level "
                         f"{lvl} (level {x._level}); unpack it after that transform returns, or open "
                         f"the dual level inside the transform")
    return x, None


def _holds(x, lvl):
    while type(x) in TRACER_TYPES:
        if type(x) is Dual and x._level == lvl:
            return True
        x = x._value
    return False


def _as_tensor(v):
    """Tape style: a NumPy result comes back as a Tensor (tracers and Tensors as they are)."""
    if type(v) in TRACER_TYPES:
        return v
    return _plain(np.asarray(v)[()] if np.ndim(v) == 0 else np.asarray(v))


# -- forward-over-reverse: cr.autograd.grad of dual outputs -------------------------------------

def involves_duals(*groups):
    """Whether any value in ``groups`` (sequences) is a dual value of an open level."""
    return any(type(v) is Dual and v._level in _live for g in groups for v in g)


def grad_of_duals(grad, outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused):
    """``cr.autograd.grad`` (``grad``) when outputs, inputs or grad_outputs are dual.

    With ``y = yp + ε yt`` and cotangent ``g = gp + ε gt``, the gradient
    ``gp·dyp/dw + ε (gp·dyt/dw + gt·dyp/dw)``: the primal pass, then one more
    pass for the tangent over the graphs of ``yt`` and ``yp``.
    """
    lvl = max(v._level for v in list(outputs) + list(inputs) + list(grad_outputs)
              if type(v) is Dual and v._level in _live)
    outs = [_split(o, lvl) for o in outputs]
    cts = [(None, None) if g is None else _split(g, lvl) for g in grad_outputs]
    ins = [_split(i, lvl)[0] for i in inputs]
    primal = grad([p for p, _ in outs], ins, [g for g, _ in cts], retain_graph=True,
                  create_graph=create_graph, allow_unused=allow_unused)
    roots, seeds = [], []
    for (p, t), (g, gt) in zip(outs, cts):
        if t is not None and getattr(t, "requires_grad", False):
            roots.append(t)
            seeds.append(g)
        if gt is not None and getattr(p, "requires_grad", False):
            roots.append(p)
            seeds.append(gt)
    tangent = (grad(roots, ins, seeds, retain_graph=retain_graph, create_graph=create_graph,
                    allow_unused=True) if roots else [None] * len(ins))
    return tuple(gp if gt is None or gp is None else Dual(gp, gt, lvl) for gp, gt in zip(primal, tangent))

