"""Batching (``vmap``): a ``BatchTracer`` carries a value with the batch axis first.

For each primitive the tracer asks the primitive's ``batch`` rule, which maps
the batched values (batch axis 0) to a batched result; ``batched`` says which
operands carry the batch axis (the others are shared by every example).  An
elementwise primitive needs no rule: its batched inputs get singleton axes
after the batch axis so that NumPy broadcasting lines the element axes up.

Every primitive of the library has a rule (``tests/test_vmap_rules.py``
fails for one that has not).  A primitive with neither, declared outside the
library, is mapped over the batch one element at a time by :func:`one_by_one`
and the results stacked: always correct, only slower.
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule._core.arrayops import ArrayOps
from chainrule._core.primitive import TRACER_TYPES, bind

__all__ = ["BatchTracer", "is_batched"]


class BatchTracer(ArrayOps):
    __slots__ = ("_value", "_level")

    def __init__(self, value, level):
        self._value = value   # batch axis first
        self._level = level

    @property
    def shape(self):
        return self._value.shape[1:]

    def _process(self, p, args, params):
        level = self._level
        if len(args) == 1:  # (then self is args[0])
            vals, batched = [self._value], [True]
        else:
            vals, batched = [], []
            for a in args:
                if type(a) is BatchTracer and a._level == level:
                    vals.append(a._value)
                    batched.append(True)
                else:
                    vals.append(a)
                    batched.append(False)
        try:
            if p.batch is not None:
                out = p.batch(vals, batched, params)
            elif p.elementwise:
                out = bind(p, vals if len(vals) == 1 else align(vals, batched), params)
            else:
                out = one_by_one(p, vals, batched, params)
        except (ValueError, TypeError, IndexError) as e:
            raise _one_example_error(p, vals, batched, params, e) from e
        return BatchTracer(out, level)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("converting a batched value (inside cr.vmap) to a NumPy array would see the "
                        "whole batch, not one example; use chainrule.numpy functions "
                        "(cnp.asarray passes it through; index a NumPy array x with a batched index "
                        "i through cnp.take(x, i, axis=0))")

    def __repr__(self):
        return f"BatchTracer(level={self._level}, {self._value!r})"


TRACER_TYPES.add(BatchTracer)
_warned: set = set()  # primitives already warned about (one_by_one)


def is_batched(x):
    """True if a ``vmap`` batches ``x`` (at any level, under differentiation tracers too)."""
    while type(x) in TRACER_TYPES:
        if type(x) is BatchTracer:
            return True
        x = x._value
    return False


def _ndim(x):
    t = type(x)
    if t is np.ndarray:
        return x.ndim
    if t in _SCALARS:  # (getattr of a missing attribute raises inside: slow)
        return 0
    shape = getattr(x, "shape", None)
    return 0 if shape is None else len(shape)


_SCALARS = frozenset({int, float, bool, complex})


def align(vals, batched):
    """Batched operands reshaped to (B, 1, ..., 1, *shape) so broadcasting lines up elements."""
    ranks = [_ndim(v) - b for v, b in zip(vals, batched)]
    rank = max(ranks, default=0)
    if min(ranks, default=0) == rank:  # every operand of the same rank: nothing to align
        return vals
    out = []
    for v, b, r in zip(vals, batched, ranks):
        if b and r < rank:
            shape = v.shape
            v = _ops.reshape(v, shape[:1] + (1,) * (rank - len(shape) + 1) + shape[1:])
        out.append(v)
    return out


def _add_note(e, note):
    """``e.add_note(note)``; on Python 3.10, which has no notes to print, ``__notes__`` as 3.11
    keeps them and the note on a line of the message."""
    if hasattr(e, "add_note"):
        e.add_note(note)
        return
    e.__notes__ = [*getattr(e, "__notes__", []), note]
    if len(e.args) == 1 and isinstance(e.args[0], str):
        e.args = (f"{e.args[0]}\n{note}",)


def _one_example_error(p, vals, batched, params, err):
    """The error ``p`` raises on the first example alone: it speaks of one example's shapes
    and axes (as the user wrote them), not of the batched arrays.  ``err`` itself when the
    batch is empty or the first example goes through (another example failed)."""
    if not any(b and v.shape[0] for v, b in zip(vals, batched)):
        return err
    try:
        bind(p, [v[0] if b else v for v, b in zip(vals, batched)], params)
    except (ValueError, TypeError, IndexError) as e:
        _add_note(e, f"(raised by {p.name!r} inside cr.vmap, shown for the first example; the "
                     f"shapes are those of one example)")
        return e
    return err


def one_by_one(p, vals, batched, params):
    """The fallback: ``p`` applied to one example at a time, the results stacked (slow, once warned)."""
    if p.name not in _warned:
        _warned.add(p.name)
        warnings.warn(f"vmap: primitive {p.name!r} has no batching rule, so it is mapped one example at "
                      f"a time in a Python loop; declare batch= in its defprim block", RuntimeWarning,
                      stacklevel=2)
    n = next(v.shape[0] for v, b in zip(vals, batched) if b)
    rows = [bind(p, [v[i] if b else v for v, b in zip(vals, batched)], params) for i in range(n)]
    return _ops.stack(rows)


import chainrule._ops as _ops  # noqa: E402
