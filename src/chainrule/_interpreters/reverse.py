"""Reverse mode: the ``Tensor`` tape and the backward pass.

One class serves both faces of reverse mode.  A ``Tensor`` at level 0 is the
PyTorch-style tape: ``cr.tensor(..., requires_grad=True)``, operators that
record, ``.backward()``.  A ``Tensor`` at a level >= 1 is the box that
``cr.grad``/``cr.vjp`` wrap their inputs in.  Either way a recorded Tensor is
its own graph node: it keeps the primitive, the argument tuple and the
params; VJP closures are built only when a backward pass runs.

The backward pass (:func:`backward_pass`) is iterative: a depth-first walk
counts, for every node, the edges that will bring it a cotangent; nodes then
run in reverse topological order as their counts reach zero, each cotangent
is dropped as soon as it is consumed, and saved arguments are freed unless the
graph is retained.  No recursion on graph depth anywhere.

Each edge's contribution is ``vjp_rule(ans, *args)(g)``, the downstream
adjoint times the local derivative.  The engine then *fits* it to the input:
sums broadcast axes away and casts to the input's dtype -- the one place in
chainrule where broadcasting is undone.

Without ``create_graph`` the rules run on the values one level down (plain
arrays at level 0, so the backward pass is plain NumPy); with it they run on
the Tensors themselves and are recorded, so the gradient can be
differentiated again.  Transform levels never need ``create_graph``: their
values one level down are the tracers of the enclosing transforms.

In-place safety: every in-place write stamps the written Tensor (and every
view of the same memory) with a fresh epoch; a node whose inputs, or whose
own output when its rules read it, carry a stamp newer than the node raises
at backward time, naming the operation.  Writes through a NumPy array that
shares a Tensor's memory (``.numpy()``, ``np.asarray``) would bypass the stamp,
so memory a graph may read is exported read-only: the memory of a Tensor that
requires grad (and of its ``detach()`` and views), and of a constant a
recorded operation saved.  The version list ``_vc = [epoch, held]``, shared
by every Tensor on the same memory, carries that ``held`` mark.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule._core.arrayops import ArrayOps
from chainrule._core.primitive import SEE_THROUGH, TRACER_TYPES, grad_state

if TYPE_CHECKING:
    from typing_extensions import Self

    from chainrule._core.primitive import Primitive
    from chainrule.typing import ArrayLike, DTypeLike

__all__ = ["Tensor", "tensor", "backward_pass"]

_epoch = 0  # bumped by every in-place write
_anomaly = None  # while cr.detect_anomaly is on: its checker, which runs each backward pass


class TensorNotes:
    """A value noted against a Tensor for as long as it lives.

    Keyed by ``id``, not by the Tensor (``Tensor.__eq__`` is elementwise, as in NumPy);
    a weak reference drops the note with the Tensor and guards against a reused id.
    """

    __slots__ = ("_notes",)

    def __init__(self):
        self._notes = {}

    def note(self, t, value):
        key, notes = id(t), self._notes
        notes[key] = (weakref.ref(t, lambda _, key=key: notes.pop(key, None)), value)

    def get(self, t):
        ref, value = self._notes.get(id(t), (None, None))
        return value if ref is not None and ref() is t else None


#: the version a recorded in-place op replaced, per Tensor it replaced it in
_replaced = TensorNotes()


class Tensor(ArrayOps):
    """An array that records the operations applied to it, for reverse mode.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> loss = (cnp.tanh(x) ** 2).sum()
    >>> loss.backward()
    >>> x.grad
    tensor([0.63970001, 0.13621869])
    """

    # A dict, so that the two public slots have docstrings (``help(Tensor.grad)``, the site).
    __slots__ = {"_value": None, "_level": None, "_prim": None, "_args": None, "_params": None,
                 "_epoch": None, "_vc": None,
                 "requires_grad": """Whether operations on this Tensor are recorded, for ``backward``.

        Set by ``cr.tensor(..., requires_grad=True)`` (or ``requires_grad_()``) on a leaf;
        a result requires grad when any of its inputs does (outside ``cr.no_grad()``).

        >>> import chainrule as cr
        >>> x = cr.tensor(2.0, requires_grad=True)
        >>> x.requires_grad, (x * 3).requires_grad, cr.tensor(2.0).requires_grad
        (True, True, False)
        """,
                 "grad": """The gradient accumulated by ``backward`` into this leaf (``None`` until then).

        Each ``backward`` adds to it; zero it between steps (``x.grad = None``, or an
        optimiser's ``zero_grad()``).

        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> print(x.grad)
        None
        >>> (x * x).backward(); x.grad
        tensor(6.)
        >>> (x * x).backward(); x.grad                   # accumulated: 6 + 6
        tensor(12.)
        """,
                 "__weakref__": None}
    _level: int  # 0 for the tape; a transform's level otherwise
    _prim: Primitive | None
    requires_grad: bool
    grad: Tensor | None  #: the accumulated gradient (a leaf's), or None

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: DTypeLike = None) -> None:
        value = _raw_data(data, dtype)
        if requires_grad:
            _check_differentiable(value.dtype, "tensor(..., requires_grad=True)")
        _init_leaf(self, value)
        self.requires_grad = bool(requires_grad)

    # -- tracing ---------------------------------------------------------------
    def _process(self, p, args, params):
        level = self._level
        if len(args) == 1:
            vals = (self._value,)
            requires = self.requires_grad
        else:
            vals = []
            requires = False
            constant = None  # a Tensor argument that does not require grad (True: several)
            for a in args:
                if type(a) is Tensor and a._level == level:
                    vals.append(a._value)
                    if a.requires_grad:
                        requires = True
                    else:
                        constant = a if constant is None else True
                else:
                    vals.append(a)
        if p.fwd is not None and requires and p.differentiable and level > grad_state.frozen:
            # a primitive that saves residuals for its rules (a loop): its forward pass gives them
            diff = tuple(i for i, a in enumerate(args) if type(a) is Tensor and a._level == level
                         and a.requires_grad)
            ans, params = p.fwd(vals, params, diff)
        else:
            ans = _bind(p, vals, params)
        if not (requires and p.differentiable) or level <= grad_state.frozen:
            if level != 0:
                return ans
            t = _plain(ans)
        else:
            t = Tensor.__new__(Tensor)
            t._value = ans
            t._level = level
            t._prim = p
            t._args = args
            t._params = params
            t._epoch = _epoch
            t._vc = None
            t.requires_grad = True
            t.grad = None
            if len(args) > 1 and constant is not None and level == 0:
                # the rules may read constants: export them read-only from now on
                if constant is True:
                    for a in args:
                        if type(a) is Tensor and not a.requires_grad:
                            _hold(a)
                else:
                    vc = constant._vc
                    if vc is None or not vc[1]:
                        _hold(constant)
        if p.view and level == 0:
            # a view shares its base's memory, so it shares its version stamp
            if self._vc is None:
                self._vc = [0, False]
            if self.requires_grad:
                self._vc[1] = True  # a graph may read this memory: export it read-only
            t._vc = self._vc
        return t

    # -- user API --------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        """True for Tensors made by the user rather than by an operation.

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> x.is_leaf, (2 * x).is_leaf
        (True, False)
        """
        return self._prim is None

    @property
    def grad_fn(self) -> Primitive | None:
        """The primitive that made this Tensor (None for a leaf).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> x.sum().grad_fn, x.grad_fn
        (<primitive sum>, None)
        """
        return self._prim

    def backward(self, grad: ArrayLike | None = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate ``d self / d leaf`` into ``leaf.grad`` for every leaf.

        ``grad`` is the cotangent to start from (needed for a non-scalar
        Tensor).  ``create_graph=True`` records the backward pass, so the
        gradients can be differentiated again; it implies ``retain_graph``.

        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> (x ** 3).backward(create_graph=True)
        >>> x.grad
        tensor(27., grad_fn=<multiply>)
        >>> g = x.grad; x.grad = None; g.backward(); x.grad
        tensor(18.)
        """
        if self._level != 0:
            raise RuntimeError("backward() is for the tape (tensors made by cr.tensor); "
                               "inside cr.grad/cr.vjp use those transforms")
        if not self.requires_grad:
            raise RuntimeError("backward(): this Tensor does not require grad and has no graph; "
                               "make an input with cr.tensor(..., requires_grad=True)")
        seed = _seed(self, grad, "backward()")
        grads = backward_pass([self], [seed], retain_graph=retain_graph or create_graph,
                              create_graph=create_graph)
        seen: set[int] = set()
        for leaf, g in grads.items():
            if leaf._prim is None:
                g = g if type(g) is Tensor else _plain(own(g, seen))
                leaf.grad = g if leaf.grad is None else leaf.grad + g

    def detach(self) -> Tensor:
        """The same value with no history (a leaf that does not require grad).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * x).detach()          # a constant from here on
        >>> y, y.requires_grad, y.is_leaf
        (tensor([1., 4.]), False, True)
        """
        if self._level == 0:
            t = _plain(self._value)
            if self._vc is None:  # shared memory, shared version stamp
                self._vc = [0, False]
            if self.requires_grad:
                self._vc[1] = True  # a graph may read this memory: export it read-only
            t._vc = self._vc
            return t
        from chainrule._ops import stop_gradient
        return stop_gradient(self)

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Start (or stop) recording operations on this leaf, in place; returns the Tensor.

        >>> import chainrule as cr
        >>> w = cr.tensor([0.5, -1.0]).requires_grad_()
        >>> (w ** 2).sum().backward(); w.grad
        tensor([ 1., -2.])
        """
        if self._prim is not None:
            raise RuntimeError("requires_grad_() can only change leaf Tensors; use detach() first")
        if requires_grad:
            _check_differentiable(self.dtype, "requires_grad_()")
        elif self.requires_grad:
            _hold(self)  # graphs recorded so far may read it
        self.requires_grad = bool(requires_grad)
        return self

    def numpy(self) -> np.ndarray[Any, Any]:
        """The value as a NumPy array sharing memory; refuses to drop a gradient silently.

        The array is read-only when a graph may read this memory (the Tensor
        was detached from one that requires grad, or a recorded operation
        saved it), so a write cannot corrupt a gradient unseen: write through
        the Tensor (``with cr.no_grad(): t[...] = v``), which the version
        counter sees, or take a private copy with ``.numpy().copy()``.

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> w.detach().numpy().flags.writeable, cr.tensor([1.0]).numpy().flags.writeable
        (False, True)
        """
        if self.requires_grad or self._level != 0:
            raise RuntimeError("numpy() on a Tensor that requires grad would drop its gradient; "
                               "use tensor.detach().numpy()")
        return _export(self)

    # Hidden from type checkers: NumPy's stubs would read a Tensor as an array and type
    # ``ndarray * tensor`` as an ndarray, where at run time NumPy defers to the Tensor.
    if not TYPE_CHECKING:
        def __array__(self, dtype=None, copy=None):
            if self.requires_grad or self._level != 0:
                raise TypeError("converting a Tensor that requires grad to a NumPy array would drop its "
                                "gradient; use chainrule.numpy functions, or tensor.detach().numpy()")
            if copy or (dtype is not None and np.dtype(dtype) != self.dtype):
                return np.array(self._value, dtype=dtype, copy=True)
            return _export(self)

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(_raw(self._value)), separator=", ", prefix="tensor(")
        if self._level != 0:
            return f"Tensor(level={self._level}, {body})"
        extra = "" if _raw(self._value).dtype in (np.float64, np.int64, np.bool_) else \
            f", dtype={_raw(self._value).dtype}"
        if self.requires_grad:
            extra += f", grad_fn=<{self._prim.name}>" if self._prim is not None else ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- in-place operations (level 0 only; transforms are functional) --------------
    def _inplace(self, fn, other, name):
        if self._level != 0:
            return fn(self, other)  # a transform's box is immutable: rebind, don't write
        recording = grad_state.frozen < 0 and (
            self.requires_grad or (type(other) is Tensor and other.requires_grad))
        if recording and self._prim is None and self.requires_grad:
            raise RuntimeError(f"{name}: a leaf Tensor that requires grad is used in an in-place "
                               f"operation; wrap the update in `with cr.no_grad():`")
        if recording and isinstance(self._value, np.ndarray) and self._value.base is not None:
            # The write would change the Tensor this one views without giving it history.
            raise RuntimeError(f"{name}: this Tensor is a view of another Tensor's memory (made by "
                               f"indexing, reshape or transpose); a recorded in-place write to a view "
                               f"is not supported -- write to the base with base[idx] = value, or "
                               f"compute out of place")
        if recording:
            old = self._snapshot()
            result = fn(old, old if other is self else other)
        else:
            result = fn(self, other)
        new = result._value if type(result) is Tensor else result
        if type(new) in TRACER_TYPES:
            raise RuntimeError(f"{name}: the value written is traced by a transform (cr.grad, cr.vmap, ...) "
                               f"or carries a tangent (cr.forward_ad), which a tape Tensor cannot hold; "
                               f"compute out of place (x = cnp.at(x)[idx].set(v), x = x + y)")
        if np.shape(new) != self.shape:
            raise ValueError(f"{name}: the result has shape {np.shape(new)}, which cannot be written "
                             f"in place into a Tensor of shape {self.shape}")
        _write(self, new, name)
        if recording:
            self._prim, self._args, self._params = result._prim, result._args, result._params
            self.requires_grad = True
            self._epoch = _epoch
        return self

    def _snapshot(self):
        """This Tensor's current value and history, moved to a new handle.

        The in-place operation then records ``self = op(snapshot, other)``.
        The snapshot owns a copy of the old value, so the old node's saved
        output and the new node's saved input stay what they were, and it is
        remembered as the version ``self`` replaced: nodes recorded before the
        write that refer to ``self`` are pointed at it by the backward pass.
        """
        old = Tensor.__new__(Tensor)
        for s in tuple(Tensor.__slots__)[:-1]:
            setattr(old, s, getattr(self, s))
        old._value = np.array(self._value, copy=True)
        old._vc = None if self._vc is None else [self._vc[0], False]  # its own memory, same stamp
        earlier = _replaced.get(self)
        if earlier is not None:  # the chain of versions goes on behind the snapshot
            _replaced.note(old, earlier)
        _replaced.note(self, old)
        return old

    @property
    def _differentiates(self):  # a value inside cr.grad/vjp (a level), not the user's tape Tensor
        return self._level != 0

    _no_complex = True  # complex Tensors are not supported yet (cr.tensor refuses complex data too)

    def __iadd__(self, other: ArrayLike) -> Self: return self._inplace(type(self).__add__, other, "iadd (+=)")
    def __isub__(self, other: ArrayLike) -> Self: return self._inplace(type(self).__sub__, other, "isub (-=)")
    def __imul__(self, other: ArrayLike) -> Self: return self._inplace(type(self).__mul__, other, "imul (*=)")
    def __itruediv__(self, other: ArrayLike) -> Self: return self._inplace(type(self).__truediv__, other, "itruediv (/=)")

    def __setitem__(self, idx: Any, v: ArrayLike) -> None:
        if self._level != 0:
            return super().__setitem__(idx, v)
        from chainrule._ops import index_set
        self._inplace(lambda x, val: index_set(x, val, idx), v, "setitem (x[idx] = v)")


TRACER_TYPES.add(Tensor)
SEE_THROUGH.add(Tensor)


def _write(t, new, name):
    """Write ``new`` into ``t``'s memory and stamp ``t`` and its views with a new epoch."""
    global _epoch
    _epoch += 1
    if isinstance(t._value, np.ndarray) and t._value.ndim:
        if not t._value.flags.writeable:
            raise RuntimeError(f"{name}: this Tensor is a read-only view (e.g. of broadcast_to); "
                               f"make a copy before writing in place")
        np.copyto(t._value, new, casting="same_kind")
    else:
        t._value = np.asarray(new, dtype=t.dtype)[()]
    if t._vc is None:
        t._vc = [_epoch, False]
    else:
        t._vc[0] = _epoch


def _hold(t):
    """Mark ``t``'s memory as read by a graph: its NumPy exports are read-only from now on.

    Arrays exported writeable before (``vc[2:]``, weakly held) become read-only too.
    """
    vc = t._vc
    if vc is None:
        t._vc = [0, True]
    elif not vc[1]:
        vc[1] = True
        for r in vc[2:]:
            a = r()
            if a is not None:
                a.flags.writeable = False
        del vc[2:]


def _export(t):
    """``t``'s value as an ndarray view of its memory, read-only if a graph may read it."""
    a = np.asarray(t._value)
    if not a.flags.writeable:
        return a
    a = a.view()
    vc = t._vc
    if vc is None:
        vc = t._vc = [0, False]
    if vc[1]:
        a.flags.writeable = False
    elif a.ndim:  # remembered, to be made read-only if a graph comes to read the memory
        if len(vc) > 64:
            vc[2:] = [r for r in vc[2:] if r() is not None]
        vc.append(weakref.ref(a))
    return a


def own(g, seen):
    """``g``, copied if it is a view or was already handed out (results never alias)."""
    if type(g) is np.ndarray and (not g.flags.owndata or id(g) in seen):
        g = g.copy()
    seen.add(id(g))
    return g


def _init_leaf(t, value):
    t._value = value
    t._level = 0
    t._prim = None
    t._args = None
    t._params = None
    t._epoch = 0
    t._vc = None
    t.requires_grad = False
    t.grad = None


def _plain(value):
    """A tape Tensor with no history that does not require grad."""
    t = Tensor.__new__(Tensor)
    _init_leaf(t, value)
    return t


def box(value, level):
    """Wrap ``value`` as an input of the reverse transform at ``level``."""
    t = _plain(value)
    t._level = level
    t.requires_grad = True
    return t


def tensor(data: ArrayLike, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Make a tape ``Tensor`` (a copy of ``data``), PyTorch style.

    Python floats become float64 (chainrule's default float dtype).

    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _raw_data(data, dtype):
    if type(data) is Tensor:
        data = _raw(data._value)
    if isinstance(data, np.ma.MaskedArray):
        raise TypeError("tensor: " + "masked arrays are not supported: the mask would be dropped silently (sums and derivatives would count the masked entries); pass x.filled(value) or x.compressed(), or a weight array of 0s and 1s")
    if hasattr(type(data), "__dlpack__") and not isinstance(data, (np.ndarray, np.generic)):
        try:  # a PyTorch or JAX array: read through DLPack (their __array__ may be missing or dated)
            data = np.from_dlpack(data)
        except (BufferError, TypeError, ValueError, RuntimeError):
            pass  # not readable there (a device, a dtype): np.array below tries, or says why
    value = np.array(data, dtype=dtype, copy=True)
    if value.dtype == object:
        raise TypeError(f"tensor: cannot make a Tensor from {type(data).__name__} data of dtype object")
    if np.iscomplexobj(value):
        raise TypeError(f"tensor: complex dtype {value.dtype} is not supported yet")
    return value


def _check_differentiable(dtype, what):
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{what}: only floating-point Tensors can require gradients, got dtype "
                        f"{np.dtype(dtype)}; convert first, e.g. cr.tensor(data, dtype=float)")


def _raw(x):
    while type(x) in TRACER_TYPES:
        x = x._value
    return x


def _seed(out, grad, what):
    if grad is None:
        if out.size != 1:
            raise RuntimeError(f"{what}: the output has shape {out.shape}; a gradient can be "
                               f"seeded implicitly only for a scalar output -- pass grad= "
                               f"(a cotangent of shape {out.shape})")
        return np.ones(out.shape, _raw(out._value).dtype)
    if type(grad) is Tensor and grad._level == 0 and not grad.requires_grad:
        grad = grad._value
    if type(grad) is not Tensor:
        grad = np.array(grad, dtype=_raw(out._value).dtype, copy=True)  # never alias the caller's array
    if tuple(np.shape(grad)) != tuple(out.shape):
        raise ValueError(f"{what}: grad has shape {np.shape(grad)} but the output has shape {out.shape}")
    return grad


# -- the backward pass ----------------------------------------------------------

def backward_pass(roots, cts, retain_graph=False, create_graph=False, capture=None,
                  on_edge=None):
    """Propagate cotangents ``cts`` of ``roots`` back through their level's graph.

    All roots are Tensors of one level.  Returns ``{tensor: cotangent}`` for
    the leaves reached, plus the non-leaf Tensors listed in ``capture`` (for
    ``cr.autograd.grad``).  ``on_edge(node, g, i, a, ct)``, if given, is called
    for every edge as it runs: ``node``'s adjoint ``g`` sent ``ct`` to its
    input ``i``, the Tensor ``a`` (for ``cr.explain``).
    """
    if _anomaly is not None:  # cr.detect_anomaly is on: it runs the pass and checks every edge
        return _anomaly(_backward_pass, roots, cts, retain_graph, create_graph, capture, on_edge)
    return _backward_pass(roots, cts, retain_graph, create_graph, capture, on_edge)


def _backward_pass(roots, cts, retain_graph, create_graph, capture, on_edge):
    level = roots[0]._level
    counts = _count_edges(roots, level)
    grads = {}
    add = _ops.add
    for r, ct in zip(roots, cts):
        prev = grads.get(r)
        grads[r] = ct if prev is None else add(prev, ct)
    ready = [r for r in grads if r._prim is not None and counts[r] == 0]
    out = {}
    processed = 0
    while ready:
        node = ready.pop()
        processed += 1
        g = grads.pop(node)
        if capture is not None and node in capture:
            out[node] = g
        args = node._args
        if args is None:
            raise _freed_error(node)
        p = node._prim
        epoch = node._epoch
        if p.uses_ans and node._vc is not None and node._vc[0] > epoch:
            raise _inplace_error(p, "its output")
        if create_graph:
            ans, vals = node, args
        else:
            ans = node._value
            vals = [a._value if type(a) is Tensor and a._level == level else a for a in args]
        params = node._params
        for i, (rule, a) in enumerate(zip(p.vjps, args)):
            if rule is None or type(a) is not Tensor or a._level != level or not a.requires_grad:
                continue
            ct = rule(ans, *vals, **params)(g)
            if ct.shape != a._value.shape or ct.dtype != a._value.dtype:
                ct = _fit(ct, a._value)
            if on_edge is not None:
                on_edge(node, g, i, a, ct)
            prev = grads.get(a)
            grads[a] = ct if prev is None else add(prev, ct)
            if a._prim is not None:
                c = counts[a] - 1
                counts[a] = c
                if c == 0:
                    ready.append(a)
        if not retain_graph:
            node._args = None
    if processed != len(counts):  # an invariant: versions taken by epoch cannot form a loop
        raise RuntimeError("backward: internal error, the graph has a cycle; please report it")
    out.update(grads)  # what is left are the leaves
    return out


def _count_edges(roots, level):
    """For every non-leaf node reachable from ``roots``: the edges into it.

    On the way it checks every input of every node against in-place writes
    made after the node was recorded: an input that a recorded in-place
    operation rewrote is replaced by the version the node saw; any other
    change raises, naming the operation.
    """
    counts = {}
    stack = []
    for r in roots:
        if r._prim is not None and r not in counts:
            counts[r] = 0
            stack.append(r)
    now = _epoch
    while stack:
        node = stack.pop()
        args = node._args
        if args is None:
            raise _freed_error(node)
        if node._epoch != now:  # something was written in place since this node was recorded
            args = node._args = tuple(
                _version_at(a, node._epoch, node._prim, i)
                if type(a) is Tensor and a._vc is not None else a  # constants too: rules read them
                for i, a in enumerate(args))
        for rule, a in zip(node._prim.vjps, args):
            if rule is None or type(a) is not Tensor or a._level != level or a._prim is None \
                    or not a.requires_grad:
                continue
            c = counts.get(a)
            if c is None:
                counts[a] = 1
                stack.append(a)
            else:
                counts[a] = c + 1
    return counts


def _version_at(t, epoch, p, i):
    """The version of ``t`` that a node recorded at ``epoch`` used, or raise."""
    while t._vc is not None and t._vc[0] > epoch:
        prev = _replaced.get(t)
        if prev is not None:
            t = prev
        elif t._prim is not None and t._prim.view and t._args is not None:
            t = _view_of_version(t, p, i)  # a view of a rewritten base: view that version
        else:  # an unrecorded write (no_grad, through a view): the value the node read is gone
            raise _inplace_error(p, f"input {i}")
    return t


def _view_of_version(t, p, i):
    """``t``, a recorded view, rebuilt on the version of its base that ``t`` was made from."""
    base = _version_at(t._args[0], t._epoch, p, i)
    if base is t._args[0]:
        raise _inplace_error(p, f"input {i}")
    v = Tensor.__new__(Tensor)
    for s in tuple(Tensor.__slots__)[:-1]:
        setattr(v, s, getattr(t, s))
    v._value = t._prim.impl(base._value, **t._params)
    v._args = (base,) + t._args[1:]
    v._vc = base._vc
    return v


def _fit(ct, like):
    """``ct`` summed over broadcast axes and cast to the dtype of ``like``."""
    shape = like.shape
    if ct.shape != shape:
        ct = _ops.sum_to_shape(_ops.broadcast_to(ct, np.broadcast_shapes(ct.shape, shape))
                               if len(ct.shape) < len(shape) else ct, shape)
    dt = like.dtype
    if ct.dtype != dt:
        ct = _ops.astype(ct, dt)
    return ct


def _freed_error(node):
    return RuntimeError(
        f"Trying to backward through the graph a second time: the values saved by "
        f"'{node._prim.name}' were freed after the first backward. Pass retain_graph=True "
        f"to the first backward() (or autograd.grad) to keep them.")


def _inplace_error(p, what):
    return RuntimeError(
        f"'{p.name}': {what} was modified by an in-place operation after the operation was "
        f"recorded, so its gradient would be wrong. Use an out-of-place operation "
        f"(x = x + y instead of x += y), or write into a copy made with cr.tensor(x) "
        f"(x.detach() shares memory).")


from chainrule._core.primitive import bind as _bind  # noqa: E402
import chainrule._ops as _ops  # noqa: E402
