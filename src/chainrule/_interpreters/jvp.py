"""Forward mode: a ``JVPTracer`` carries a primal and its tangent.

For each primitive the tracer binds the primitive on the primals (one level
down) and asks the primitive's JVP rule for the output tangent.  A missing
tangent is ``None``, a symbolic zero: rules skip it, and an output whose
tangent is zero is returned as a plain value, so the zeros of Jacobians and
Hessians cost nothing.  The tangent is fitted to the output -- broadcast to
its shape, cast to its dtype -- the mirror image of the reverse engine's
unbroadcast, so JVP rules derived from elementwise VJP rules need no care.
"""
from __future__ import annotations

from chainrule._core.arrayops import ArrayOps
from chainrule._core.primitive import SEE_THROUGH, TRACER_TYPES, bind

__all__ = ["JVPTracer"]


class JVPTracer(ArrayOps):
    __slots__ = ("_value", "_tangent", "_level")
    _differentiates = True
    _no_complex = True

    def __init__(self, primal, tangent, level):
        self._value = primal
        self._tangent = tangent
        self._level = level

    def __array__(self, dtype=None, copy=None):
        raise TypeError("converting a value traced by forward mode (cr.jvp, cr.jacfwd, cr.hessian) to "
                        "a NumPy array would drop its derivative; use chainrule.numpy functions "
                        "(cnp.asarray passes it through)")

    def _process(self, p, args, params):
        level = self._level
        cls = type(self)  # a subclass (forward_ad's dual values) keeps its class through operations
        primals = []
        tangents = []
        for a in args:
            if type(a) is cls and a._level == level:
                primals.append(a._value)
                tangents.append(a._tangent)
            else:
                primals.append(a)
                tangents.append(None)
        ans = bind(p, primals, params)
        if p.jvp is None:
            return ans
        t = p.jvp(primals, tangents, ans, params)
        if t is None:
            return ans
        return cls(ans, _fit(t, ans), level)

    def __repr__(self):
        return f"JVPTracer(level={self._level}, primal={self._value!r}, tangent={self._tangent!r})"


TRACER_TYPES.add(JVPTracer)
SEE_THROUGH.add(JVPTracer)


def _fit(t, ans):
    shape = ans.shape
    if t.shape != shape:
        t = _ops.broadcast_to(t, shape)
    dt = ans.dtype
    if t.dtype != dt:
        t = _ops.astype(t, dt)
    return t


import chainrule._ops as _ops  # noqa: E402
