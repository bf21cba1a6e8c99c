"""``cr.detect_anomaly``: stop at the first operation that makes a NaN (or an inf).

A NaN in a gradient is usually born far from where it is seen.  In anomaly
mode every operation chainrule traces or records is checked as it runs, in
the forward pass (its value and, under forward mode, its tangent) and in
the backward pass (every contribution a VJP rule sends to an input, and
every sum of contributions), and the first one that turns NaN-free values
into a NaN raises ``FloatingPointError``, naming

* the primitive and the user's line that called it -- the first stack frame
  outside chainrule (and NumPy); for the backward pass, the line recorded
  when the operation ran forward in anomaly mode, as PyTorch does;
* the step in ``cr.explain``'s notation, with its numbers: ``y = log(x) =
  log(-1) = nan`` forward, ``x̄ += ȳ · ∂y/∂x = 0 · 1/(2·sqrt(x)) = nan``
  backward, with the value of the local derivative;
* backward, the path from the output back to the operation, and where an
  infinite downstream adjoint came from.

Blame goes to the operation that *makes* a NaN: one whose inputs (values,
tangents, downstream adjoints) already hold a NaN is passing one on and is
not blamed, so a NaN in the data is never blamed on the first operation
that reads it.  Infinities are often legitimate (``log(0) = -inf`` as a
mask, ``-inf`` logits), so only NaNs are checked unless ``check_inf=True``,
which also stops at the first operation that turns finite values into an
inf (JAX's ``jax_debug_infs``).

Zero cost when off: nothing on the per-operation path reads a flag.
Turning the mode on swaps each tracer class's ``_process`` for a checking
one and hands :func:`backward_pass` a checker (one global read per pass);
turning it off swaps them back.  Only the *outermost* operation is checked:
what a transform or a rule computes inside it (a JVP rule's intermediate
steps, a batching rule's, the steps of a VJP rule) is intermediate, and a
NaN it masks out again is no anomaly.  The mode is process-wide, as
PyTorch's is; plain NumPy arrays outside every transform and the tape are
NumPy's business (``np.errstate(invalid="raise")``).
"""
from __future__ import annotations

import linecache
import os
import sys
import threading
from typing import Literal

import numpy as np

from chainrule._core.primitive import TRACER_TYPES
from chainrule._interpreters import reverse
from chainrule._interpreters.batching import is_batched
from chainrule._interpreters.jvp import JVPTracer
from chainrule._interpreters.reverse import Tensor, TensorNotes
from chainrule.explain import notation as nt
from chainrule.explain.core import _constant, edge_text, forward_text

__all__ = ["detect_anomaly", "is_anomaly_enabled"]


class _Mode:
    on = False
    check_inf = False


_mode = _Mode()  # process-wide, as torch's


class _Local(threading.local):
    depth = 0     # > 0 inside an operation or backward pass being checked: what runs there is intermediate
    where = None  # the user's line of the outermost operation (or backward pass) running


_local = _Local()
_originals: dict = {}  # tracer class -> its own ``_process``, while the checking one stands in
_where = TensorNotes()  # the user's line that recorded each Tensor


class detect_anomaly:
    """Raise ``FloatingPointError`` at the first operation that makes a NaN, forward or backward.

    A context manager and a flag, as ``torch.set_grad_enabled``: calling it
    sets the mode at once (``cr.detect_anomaly(True)`` / ``cr.detect_anomaly(False)``
    switch it for the process); used in ``with``, the mode before it comes back at the
    end of the block.  ``check_inf=True`` also stops at the first operation that turns
    finite values into an inf.  See docs/debugging.md.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> with cr.detect_anomaly():
    ...     cr.grad(lambda x: cnp.log(x))(-1.0)
    Traceback (most recent call last):
    FloatingPointError: detect_anomaly: log made nan from inputs free of NaN (forward pass)
      log was called at <doctest chainrule.anomaly.detect_anomaly[1]>:2 in <lambda>
          cr.grad(lambda x: cnp.log(x))(-1.0)
      step: y = log(x) = log(-1) = nan
    >>> cr.anomaly.is_anomaly_enabled()
    False
    """

    def __init__(self, mode: bool = True, *, check_inf: bool = False) -> None:
        self._before = (_mode.on, _mode.check_inf)
        _set(bool(mode), bool(check_inf))

    def __enter__(self) -> detect_anomaly:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        _set(*self._before)
        return False

    def __repr__(self):
        return f"detect_anomaly(on={_mode.on}, check_inf={_mode.check_inf})"


def is_anomaly_enabled() -> bool:
    """True while ``cr.detect_anomaly`` is on."""
    return _mode.on


def _set(on, check_inf):
    if on and not _mode.on:
        for cls in list(TRACER_TYPES):
            own = cls.__dict__.get("_process")
            if own is not None:
                _originals[cls] = own
                cls._process = _checking(own)
        reverse._anomaly = _checked_pass
    elif not on and _mode.on:
        reverse._anomaly = None
        for cls, own in _originals.items():
            cls._process = own
        _originals.clear()
    _mode.on, _mode.check_inf = on, check_inf and on


# -- the forward pass --------------------------------------------------------------

def _checking(process):
    def _process(self, p, args, params):
        local = _local
        if local.depth:  # an intermediate step of an operation being checked
            out = process(self, p, args, params)
            if type(out) is Tensor and out._prim is p and local.where is not None:
                _where.note(out, local.where)
            return out
        where = local.where = _user_line()
        local.depth = 1
        try:
            out = process(self, p, args, params)
        finally:
            local.depth = 0
            local.where = None
        if type(out) is Tensor and out._prim is p:
            _where.note(out, where)
        bad = _new_bad(_parts(out), _parts_of(args))
        if bad is not None:
            raise FloatingPointError(_forward_message(p, args, params, out, bad, where))
        return out

    _process.__wrapped__ = process
    return _process


_SKIP = tuple(os.path.dirname(m.__file__) + os.sep for m in (sys.modules["chainrule"], np))


def _user_line():
    """``(file, line, function)`` of the first frame outside chainrule and NumPy."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_SKIP):
        f = f.f_back
    return None if f is None else (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def _parts(x):
    """The plain arrays a value is made of: ``(role, array)``, role ``"value"`` or ``"tangent"``."""
    out, stack = [], [(x, "value")]
    while stack:
        v, role = stack.pop()
        if type(v) in TRACER_TYPES:
            stack.append((v._value, role))
            if isinstance(v, JVPTracer) and v._tangent is not None:  # and forward_ad's dual values
                stack.append((v._tangent, "tangent"))
        elif isinstance(v, (list, tuple)):
            stack.extend((a, role) for a in v)
        elif v is not None:
            out.append((role, v))
    return out


def _parts_of(values):
    return [p for v in values for p in _parts(v)]


def _flags(v):
    """``(has a NaN, has an inf)`` for a floating value; ``(False, False)`` for anything else."""
    if isinstance(v, (float, complex)):
        v = np.asarray(v)
    elif not isinstance(v, (np.ndarray, np.generic)) or v.dtype.kind not in "fc":
        return False, False
    if np.isfinite(v).all():  # the common case: one pass
        return False, False
    nan = bool(np.isnan(v).any())
    return nan, bool(np.isinf(v).any())


def _new_bad(out_parts, in_parts):
    """``(kind, role, array)`` of the first NaN (or inf) in ``out_parts`` that no input had."""
    outs = [(role, v, _flags(v)) for role, v in out_parts]
    if not any(nan or inf for _, _, (nan, inf) in outs):
        return None
    ins = [_flags(v) for _, v in in_parts]
    in_nan = any(nan for nan, _ in ins)
    in_inf = any(inf for _, inf in ins)
    for role, v, (nan, inf) in outs:
        if nan and not in_nan:
            return "nan", role, v
    if _mode.check_inf and not (in_nan or in_inf):
        for role, v, (nan, inf) in outs:
            if inf:
                return "inf", role, v
    return None


def _first(kind, v):
    """The index of the first NaN (or inf) in ``v``; ``()`` for a scalar."""
    a = np.asarray(v)
    hit = np.isnan(a) if kind == "nan" else np.isinf(a)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(hit)), a.shape)) if a.ndim else ()


def _bottom(x):
    while type(x) in TRACER_TYPES:
        x = x._value
    return x


def _names(p, n):
    """Names for ``p``'s inputs and output, from its own rules: ``x, y`` and ``z``."""
    names = nt.arg_names(p, n)
    out = next(c for c in ("y", "z", "u", "v", "w", "out") if c not in names)
    return names, out


def _forward_message(p, args, params, out, bad, where):
    kind, role, arr = bad
    idx = _first(kind, arr)
    names, out_name = _names(p, len(args))
    vals = [_bottom(a) for a in args]
    free = "NaN" if kind == "nan" else "NaN and inf"
    head = (f"detect_anomaly: {p.name}'s JVP rule made a tangent of {kind} from primals and tangents free "
            f"of {free} (forward mode)" if role == "tangent" else
            f"detect_anomaly: {p.name} made {kind} from inputs free of {free} (forward pass)")
    lines = [head, _line_text(p, where)]
    value = _bottom(out)
    picked = _elementwise_at(p, args, vals, value, idx)
    shown, numeric = [], []
    for a, name, v in zip(args, names, picked if picked is not None else vals):
        if type(a) in TRACER_TYPES:
            shown.append((name, nt.tex(name)))
            numeric.append(nt.paren(nt.num(v)) if np.size(v) == 1 else None)
        elif a is not None:
            c = _constant(a)
            shown.append(c)
            numeric.append(c[0])
    at = value[idx] if picked is not None else value
    arrays = sum(np.size(v) > 1 for v in vals) >= 2
    sym, _, num_text, shown_value = forward_text(p.name, shown, numeric, params, arrays, at)
    step = " = ".join([out_name, sym] + ([num_text] if num_text else []) + [shown_value])
    lines.append(f"  step: {step}" + _at_text(kind, idx, arr, role))
    if role == "tangent":
        lines.append(_tangent_text(p, args, names, out_name, value, idx if picked is not None else (), arr))
    return "\n".join(lines)


def _tangent_text(p, args, names, out_name, ans, idx, tangent):
    """``ẏ = ∂y/∂x · ẋ = inf · 0 = nan``: the tangent step, with the local derivatives' values."""
    vals = [_bottom(a) for a in args]
    terms, numbers = [], []
    for i, (a, name) in enumerate(zip(args, names)):
        while type(a) in TRACER_TYPES and not isinstance(a, JVPTracer):  # under vmap: the tangent inside
            a = a._value
        if not isinstance(a, JVPTracer) or a._tangent is None:
            continue
        t = _bottom(a._tangent)
        local = _local_value(p, i, vals, ans, idx)
        terms.append(f"∂{out_name}/∂{name} · {name}\u0307")
        t = np.broadcast_to(np.asarray(t), np.shape(ans))[idx] if idx else t
        numbers.append(f"{nt.paren(nt.num(local)) if local is not None else '?'} · {nt.paren(nt.num(t))}")
    out = tangent[idx] if idx else tangent
    if not (p.elementwise and terms):
        return f"  tangent: {out_name}\u0307 = {nt.num(out)}"
    return f"  tangent: {out_name}\u0307 = {' + '.join(terms)} = {' + '.join(numbers)} = {nt.num(out)}"


def _elementwise_at(p, args, vals, value, idx):
    """For an elementwise ``p``: each operand's element at ``idx`` of the output, or None."""
    if not p.elementwise:
        return None
    if not idx:
        return None if any(np.size(v) > 1 for v in vals) else list(vals)
    return _elements(vals, np.shape(value), idx, any(is_batched(a) for a in args))


def _elements(vals, shape, idx, strict):
    """Each value's element at ``idx`` of a ``shape`` array it broadcasts to; None where that
    cannot be told.  ``strict``: under vmap, where raw operands need not line up on the right."""
    out = []
    for v in vals:
        if v is None or np.size(v) == 1:
            out.append(v)
        elif strict and np.shape(v) != tuple(shape):
            return None
        else:
            try:
                out.append(np.broadcast_to(np.asarray(v), shape)[idx])
            except (ValueError, TypeError, IndexError):
                return None
    return out


def _at_text(kind, idx, arr, role):
    """Where in an array the first bad element is (the step shows that element when it can)."""
    return f"   (the first {kind} is at index {idx}; the {role} has shape {np.shape(arr)})" if idx else ""


def _line_text(p, where, verb="was called"):
    if where is None:
        return (f"  {p.name}: where it was called is unknown (it ran forward outside detect_anomaly; "
                f"run the forward pass inside it too)")
    file, line, fn = where
    try:
        rel = os.path.relpath(file)
        file = rel if not rel.startswith("..") else file
    except ValueError:
        pass
    code = linecache.getline(where[0], line).strip()
    return f"  {p.name} {verb} at {file}:{line} in {fn}" + (f"\n      {code}" if code else "")


# -- the backward pass ---------------------------------------------------------------

def _checked_pass(run, roots, cts, retain_graph, create_graph, capture, on_edge):
    local = _local
    if local.depth:  # a backward pass inside a checked step (a rule): intermediate
        return run(roots, cts, retain_graph, create_graph, capture, on_edge)
    watch = _Watch(on_edge)
    local.where = _user_line()
    local.depth = 1
    try:
        return run(roots, cts, retain_graph, create_graph, capture, watch.edge)
    finally:
        local.depth = 0
        local.where = None


class _Watch:
    """The checks on each edge of one backward pass, and what a message needs to say."""

    def __init__(self, on_edge):
        self.on_edge = on_edge
        self.parent = {}  # id(Tensor) -> the node whose adjoint first reached it
        self.inf_from = {}  # id(Tensor) -> (node, input) whose rule first sent it an inf
        self.sums = {}  # id(Tensor) -> the running sum of its contributions, once one held an inf

    def edge(self, node, g, i, a, ct):
        key = id(a)
        self.parent.setdefault(key, node)
        forward = [node._value, *node._args]
        bad = _new_bad(_parts(ct), _parts_of([g, *forward]))
        if bad is not None:
            raise FloatingPointError(self._message(node, g, i, a, ct, bad))
        parts = [v for _, v in _parts(ct)]
        inf = any(_flags(v)[1] for v in parts)
        if inf and key not in self.inf_from:  # made here, or passed on from where the adjoint got it
            passed = any(_flags(v)[1] for _, v in _parts(g))
            origin = self.inf_from.get(id(node)) if passed else (node, i)
            if origin is not None:
                self.inf_from[key] = origin
        if inf or key in self.sums:
            self._add(node, i, a, parts)
        if self.on_edge is not None:
            self.on_edge(node, g, i, a, ct)

    def _add(self, node, i, a, parts):
        """The engine sums the contributions to ``a``: +inf and -inf make a NaN there."""
        prev = self.sums.get(id(a))
        if prev is None or len(prev) != len(parts):
            self.sums[id(a)] = [np.asarray(v) for v in parts]
            return
        with np.errstate(invalid="ignore"):
            total = [x + y for x, y in zip(prev, parts)]
        self.sums[id(a)] = total
        for x, y, s in zip(prev, parts, total):
            if _flags(s)[0] and not (_flags(x)[0] or _flags(y)[0]):
                raise FloatingPointError(
                    f"detect_anomaly: summing the contributions to the adjoint of {self._label(a)} made "
                    f"nan (inf + (-inf)) (backward pass)\n"
                    f"  the sum so far: {nt.num(x)}; the contribution of {node._prim.name}'s VJP rule "
                    f"(input {i}): {nt.num(y)}\n{self._path(node)}")

    def _message(self, node, g, i, a, ct, bad):
        kind, role, arr = bad
        p = node._prim
        args = node._args
        names, out_name = _names(p, len(args))
        head = (f"detect_anomaly: the backward pass made {kind}: the VJP rule of {p.name}, for its "
                f"input {names[i]}, made it from values free of "
                f"{'NaN' if kind == 'nan' else 'NaN and inf'}")
        if role == "tangent":
            head += " (in a tangent: forward over reverse)"
        lines = [head, _line_text(p, _where.get(node))]
        vals = [_bottom(x) for x in args]
        ans, gv, ctv = _bottom(node._value), _bottom(g), _bottom(ct)
        idx = _first(kind, arr) if role == "value" else ()
        picked = _elements(vals, np.shape(ans), idx, any(is_batched(x) for x in args)) \
            if idx and p.elementwise and np.shape(ans) == np.shape(ctv) == np.shape(gv) else None
        same = picked is not None
        if same:
            vals, ans, gv, ctv = picked, ans[idx], gv[idx], ctv[idx]
        subs_text, subs_tex = [], []
        for x, name in zip(args, names):
            if type(x) in TRACER_TYPES or x is None:
                subs_text.append(name if x is not None else "\x02")
                subs_tex.append(nt.tex(name) if x is not None else "\x02")
            else:
                c = _constant(x)
                subs_text.append(c[0])
                subs_tex.append(c[1])
        subs_text.append(out_name)
        subs_tex.append(nt.tex(out_name))
        e = edge_text(p, i, subs_text, subs_tex, _Name(out_name), _Name(names[i]), gv, np.asarray(ctv),
                      dict(node._params), [np.shape(v) for v in vals], np.shape(ans))
        step = " = ".join([f"{e.lhs} {e.sym}"] + ([e.numeric] if e.numeric else []) + [nt.num(ctv)])
        lines.append(f"  step: {step}" + _at_text(kind, idx, arr, role))
        shown = [(n, nt.tex(n)) if type(x) in TRACER_TYPES else _constant(x)
                 for x, n in zip(args, names) if x is not None]
        numeric = [nt.paren(nt.num(v)) if np.size(v) == 1 else None for v in vals if v is not None]
        sym, _, num_text, value = forward_text(p.name, shown, numeric, dict(node._params),
                                               sum(np.size(v) > 1 for v in vals) >= 2, ans)
        lines.append("  where " + " = ".join([out_name, sym] + ([num_text] if num_text else []) + [value]))
        local = _local_value(p, i, [_bottom(x) for x in args], _bottom(node._value), idx if same else ())
        if local is not None and not e.whole:
            lines.append(f"  local derivative ∂{out_name}/∂{names[i]} = {nt.num(local)}, downstream adjoint "
                         f"{nt.bar(out_name)} = {nt.num(gv)}")
        origin = self.inf_from.get(id(node))
        if origin is not None and _flags(gv)[1]:
            src, j = origin
            where = _where.get(src)
            at = f" at {os.path.basename(where[0])}:{where[1]}" if where else ""
            lines.append(f"  the downstream adjoint {nt.bar(out_name)} was already infinite: the VJP rule of "
                         f"{src._prim.name}{at} (input {j}) made it (check_inf=True stops there)")
        lines.append(self._path(node))
        return "\n".join(lines)

    def _label(self, t):
        return "an input" if t._prim is None else t._prim.name

    def _path(self, node):
        """The operations from the output back to ``node``, each with its line."""
        chain, seen = [node], {id(node)}
        while id(chain[-1]) in self.parent and len(chain) < 50:
            nxt = self.parent[id(chain[-1])]
            if id(nxt) in seen:
                break
            seen.add(id(nxt))
            chain.append(nxt)
        steps = []
        for t in reversed(chain):
            where = _where.get(t)
            steps.append(t._prim.name + (f" ({os.path.basename(where[0])}:{where[1]})" if where else ""))
        more = " ← …" if len(chain) == 50 else ""
        return "  path from the output: " + more + " → ".join(steps)


class _Name:
    __slots__ = ("name", "tex")

    def __init__(self, name):
        self.name, self.tex = name, nt.tex(name)


def _local_value(p, i, vals, ans, idx):
    """The local derivative's value, for an elementwise ``p``: its VJP rule applied to ones."""
    if not p.elementwise or p.vjps[i] is None:
        return None
    try:
        with np.errstate(all="ignore"):
            d = _bottom(p.vjps[i](ans, *vals)(np.ones(np.shape(ans), np.result_type(ans))))
    except Exception:  # noqa: BLE001 - a message helper: better no number than a second error
        return None
    d = np.asarray(d)
    return d[idx] if idx and d.shape == np.shape(ans) else d
