"""The functional cores of the optimisers: ``init(params) -> state``, ``update(grads, state, params)``.

Each core is a small object holding its hyperparameters (``core.lr`` may be changed
between steps).  ``params`` and ``grads`` are pytrees of arrays of one structure (a
dict by parameter path, as ``Module.params()`` gives); the state is a dict of plain
values and tuples of arrays aligned with the flattened parameters, and ``update``
returns new parameters and a new state without modifying its inputs -- so a
training step built on them is an ordinary function for ``cr.grad``, ``cr.vmap``
and ``cr.jit``.  The updates are written with array operators only.

>>> import numpy as np, chainrule as cr
>>> core = cr.optim.adam(lr=0.1)
>>> params = {"w": np.array([1.0, -2.0])}
>>> state = core.init(params)
>>> params, state = core.update({"w": np.array([0.5, 0.5])}, state, params)
>>> params["w"]                          # Adam's first step is lr * sign(g)
array([ 0.9, -2.1])
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule.numpy import maximum, sqrt, where

__all__ = ["sgd", "adam", "adamw", "FunctionalOptimizer"]


def _check(name, value, low=0.0, high=None, strict=False):
    value = float(value)
    bad = value <= low if strict else value < low
    if bad or (high is not None and value >= high) or math.isnan(value):
        rng = f"({low}, {high})" if high is not None else (f"> {low}" if strict else f">= {low}")
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value


class FunctionalOptimizer:
    """Base of the cores: pytree handling, and the choice between a core's ``_fused`` flat
    update (NumPy leaves of one dtype) and its ``_update_each`` leaf-by-leaf one (tracers).

    A core (``sgd``, ``adam``, ``adamw``, ``lbfgs``) is pure: ``init(params)`` makes the
    state, ``update(grads, state, params)`` returns the new parameters and state.

    >>> import numpy as np, chainrule as cr
    >>> opt = cr.optim.sgd(lr=0.1, momentum=0.9)
    >>> params = {"w": np.array([1.0, -1.0])}
    >>> state = opt.init(params)
    >>> state
    {'step': np.int64(0), 'momentum_buffer': (array([0., 0.]),)}
    >>> grads = cr.grad(lambda p: ((p["w"] - 3.0) ** 2).sum())(params)
    >>> params, state = opt.update(grads, state, params)
    >>> params
    {'w': array([ 1.4, -0.2])}
    """

    #: the state keys holding one array per parameter
    buffers: tuple = ()

    def init(self, params: Any) -> dict[str, Any]:
        """The initial state for ``params`` (a pytree of arrays)."""
        leaves, _ = tree_flatten(params)
        # the counter is an int64 scalar from the start, as every update returns it: a
        # jitted step sees one signature (a Python 0, then np.int64, would trace twice)
        return {"step": np.int64(0), **{k: tuple(np.zeros(np.shape(p), np.result_type(p)) for p in leaves)
                              for k in self.buffers}}

    def update(self, grads: Any, state: dict[str, Any], params: Any) -> tuple[Any, dict[str, Any]]:
        """``(new_params, new_state)`` after one step with gradients ``grads``."""
        p_leaves, tree = tree_flatten(params)
        g_leaves, g_tree = tree_flatten(grads)
        if g_tree != tree:
            raise ValueError(f"{type(self).__name__}.update: grads have structure {g_tree} but params "
                             f"have {tree}; pass gradients shaped like the parameters")
        new, state = self._update_leaves(g_leaves, state, p_leaves)
        return tree_unflatten(tree, new), state

    def _update_leaves(self, grads, state, params):
        """The new parameter leaves and state: fused on flat arrays when every leaf is a NumPy
        array of one dtype (a dozen operations in all), else leaf by leaf (any tracer)."""
        bufs = [state[k] for k in self.buffers]
        if _one_plain_dtype(grads, params, *bufs) is None or sum(a.size for a in params) > _FUSE_MAX:
            return self._update_each(grads, state, params)
        # concatenate copies: the in-place _fused then touches nothing of the caller's
        flat = {k: np.concatenate([b.reshape(-1) for b in leaves]) for k, leaves in zip(self.buffers, bufs)}
        g = np.concatenate([a.reshape(-1) for a in grads])
        x = np.concatenate([a.reshape(-1) for a in params])
        step = _counter(state["step"])
        self._fused(g, flat, x, step)
        ends = np.cumsum([a.size for a in params]).tolist()
        starts = [0] + ends[:-1]

        def split(vec):
            return [vec[a:b].reshape(p.shape) for a, b, p in zip(starts, ends, params)]
        return split(x), {"step": step + 1, **{k: tuple(split(v)) for k, v in flat.items()}}

    def _update_each(self, grads, state, params):  # pragma: no cover - every core overrides it
        raise NotImplementedError

    def _fuses_in_place(self, n):
        """Whether the wrappers' in-place flat step beats the leaf-by-leaf one for ``n`` elements."""
        return n <= _FUSE_MAX

    def _fused(self, g, bufs, x, step):  # pragma: no cover - every core overrides it
        """``_update_each`` in place on flat arrays ``g``, ``bufs[k]``, ``x``, with the same rounding."""
        raise NotImplementedError

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "buffers")
        return f"{type(self).__name__.lstrip('_')}({hyper})"


def _counter(step):
    """The step counter as an int64 scalar (a Python int from an older state is converted).

    NumPy's ``0.999 ** np.int64(7)`` and Python's ``0.999 ** 7`` differ in the last bit;
    the eager, fused and jitted updates all take NumPy's, so they agree bitwise.
    """
    return np.int64(step) if type(step) is int else step


def _in_dtype_of(scalar, leaf):
    """``scalar`` (a float64 NumPy or traced scalar) in ``leaf``'s dtype.

    It acts as a Python float would (NumPy casts those to the array's dtype), so
    float32 parameters stay float32 -- a float64 scalar would promote them.
    """
    dt = getattr(scalar, "dtype", None)
    return scalar if dt is None or dt == leaf.dtype else scalar.astype(leaf.dtype)


def _first_or(first, value, later):
    """``value`` at the first step, else ``later()``.

    A concrete ``first`` is a Python branch (no work for the other side); a traced
    one (a jitted step) cannot be branched on, so both sides are computed and
    ``where`` selects -- the same numbers.
    """
    if type(first) is bool or type(first) is np.bool_:
        return value if first else later()
    return where(first, value, later())


#: Above this many parameter elements the per-operation overhead that fusing saves is
#: small, and the flat copies cost more than it (large fresh arrays are slow to allocate).
_FUSE_MAX = 1 << 15


def _one_plain_dtype(*groups):
    """The dtype shared by every array of ``groups`` if all are NumPy arrays (no ``None``), else None."""
    dt = None
    for group in groups:
        for a in group:
            if type(a) is not np.ndarray:
                return None
            if dt is None:
                dt = a.dtype
            elif a.dtype != dt:
                return None
    return dt


class _SGD(FunctionalOptimizer):
    buffers = ("momentum_buffer",)

    def _fuses_in_place(self, n):
        return n <= _FUSE_MAX or self.momentum > 0  # plain SGD on large arrays: two ops per leaf anyway

    def __init__(self, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        self.lr = _check("sgd: lr", lr)
        self.momentum = _check("sgd: momentum", momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check("sgd: weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("sgd: nesterov=True needs momentum > 0 and dampening = 0")

    def _update_each(self, grads, state, params):
        step = _counter(state["step"])
        lr, mu, wd, first = self.lr, self.momentum, self.weight_decay, step == 0
        new_params, new_bufs = [], []
        for g, p, buf in zip(grads, params, state["momentum_buffer"]):
            if g is None:  # a parameter the loss did not use: left alone (as PyTorch)
                new_params.append(p)
                new_bufs.append(buf)
                continue
            if wd:
                g = g + wd * p
            if mu:
                buf = _first_or(first, g, lambda: mu * buf + (1.0 - self.dampening) * g)
                g = g + mu * buf if self.nesterov else buf
            new_params.append(p - lr * g)
            new_bufs.append(buf)
        return new_params, {"step": step + 1, "momentum_buffer": tuple(new_bufs)}

    def _fused(self, g, bufs, x, step):
        """``_update_each`` in place on flat arrays, operation for operation (same rounding)."""
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        if wd:
            g += wd * x
        if mu:
            buf = bufs["momentum_buffer"]
            if step == 0:
                buf[...] = g
            else:
                buf *= mu
                buf += (1.0 - self.dampening) * g
            if self.nesterov:
                g += mu * buf
            else:
                g = buf
        if g is not bufs.get("momentum_buffer"):
            g *= lr  # g is scratch: no temporary (lr * g and g * lr round alike)
            x -= g
        else:
            x -= lr * g


class _Adam(FunctionalOptimizer):
    buffers = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def _fuses_in_place(self, n):
        return True  # in place, a dozen large temporaries fewer per leaf

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        name = type(self).__name__.lstrip("_").lower()
        self.amsgrad = bool(amsgrad)
        if self.amsgrad:  # Reddi et al. (2018): the running maximum of v in the denominator
            self.buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        self.lr = _check(f"{name}: lr", lr)
        b1, b2 = betas
        self.betas = (_check(f"{name}: betas[0]", b1, 0.0, 1.0), _check(f"{name}: betas[1]", b2, 0.0, 1.0))
        self.eps = _check(f"{name}: eps", eps)
        self.weight_decay = _check(f"{name}: weight_decay", weight_decay)

    def _update_each(self, grads, state, params):
        # Kingma & Ba (2015), Algorithm 1, arranged as PyTorch does:
        #   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        #   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
        # which is lr * mhat / (sqrt(vhat) + eps) with mhat, vhat the bias-corrected moments.
        b1, b2 = self.betas
        t, step_size, root_bc2 = self._bias_corrections(state["step"])
        lr, wd, eps, ams = self.lr, self.weight_decay, self.eps, self.amsgrad
        new_params, ms, vs, vmaxes = [], [], [], []
        maxes = state["max_exp_avg_sq"] if ams else [None] * len(params)
        for g, p, m, v, vmax in zip(grads, params, state["exp_avg"], state["exp_avg_sq"], maxes):
            if g is None:
                new_params.append(p)
                ms.append(m)
                vs.append(v)
                vmaxes.append(vmax)
                continue
            if wd:
                if self.decoupled:
                    p = p * _in_dtype_of(1.0 - lr * wd, p)  # AdamW: decay the weights, not the gradient
                else:
                    g = g + wd * p               # Adam: L2 penalty in the gradient
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * (g * g)
            if ams:
                vmax = maximum(vmax, v)
            ss, rb = _in_dtype_of(step_size, p), _in_dtype_of(root_bc2, p)
            new_params.append(p - ss * (m / (sqrt(v if vmax is None else vmax) / rb + eps)))
            ms.append(m)
            vs.append(v)
            vmaxes.append(vmax)
        out = {"step": t, "exp_avg": tuple(ms), "exp_avg_sq": tuple(vs)}
        if ams:
            out["max_exp_avg_sq"] = tuple(vmaxes)
        return new_params, out

    def _bias_corrections(self, step):
        """``(t, lr / (1 - b1^t), sqrt(1 - b2^t))`` for ``t = step + 1``.

        ``step`` may be traced (a jitted step): array operations only, no ``math``.
        """
        b1, b2 = self.betas
        t = _counter(step) + 1
        return t, self.lr / (1.0 - b1 ** t), sqrt(1.0 - b2 ** t)

    def _fused(self, g, bufs, x, step):
        """``_update_each`` in place on flat arrays, operation for operation (same rounding)."""
        b1, b2 = self.betas
        _, step_size, root_bc2 = self._bias_corrections(step)
        lr, wd = self.lr, self.weight_decay
        m, v = bufs["exp_avg"], bufs["exp_avg_sq"]
        if wd:
            if self.decoupled:
                x *= 1.0 - lr * wd
            else:
                g += wd * x
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        g *= g
        g *= 1.0 - b2
        v += g
        if self.amsgrad:
            v = np.maximum(bufs["max_exp_avg_sq"], v, out=bufs["max_exp_avg_sq"])
        d = np.sqrt(v, out=g)
        d /= root_bc2
        d += self.eps
        np.divide(m, d, out=d)
        d *= step_size
        x -= d


class _AdamW(_Adam):
    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


def sgd(lr: float, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0) -> FunctionalOptimizer:
    """Stochastic gradient descent, with PyTorch's momentum, Nesterov and weight decay.

    ``g += weight_decay * p``; ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g``
    at the first step); ``g = g + momentum * buf`` (Nesterov) or ``buf``; ``p -= lr * g``.

    >>> import numpy as np, chainrule as cr
    >>> opt = cr.optim.sgd(lr=0.25)
    >>> p = np.array([1.0, -1.0]); state = opt.init(p)
    >>> p, state = opt.update(cr.grad(lambda p: ((p - 3.0) ** 2).sum())(p), state, p)
    >>> p                                     # p - 0.25 * 2 (p - 3): halfway to 3
    array([2., 1.])
    """
    return _SGD(lr, momentum, dampening, nesterov, weight_decay)


def adam(lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
         amsgrad: bool = False) -> FunctionalOptimizer:
    """Adam (Kingma & Ba, 2015); ``weight_decay`` adds ``weight_decay * p`` to the gradient.

    ``amsgrad=True`` divides by the running maximum of the second moment (AMSGrad,
    Reddi et al. 2018), as ``torch.optim.Adam(amsgrad=True)``.

    >>> import numpy as np, chainrule as cr
    >>> opt = cr.optim.adam(lr=0.1)
    >>> p = np.array([1.0, -1.0]); state = opt.init(p)
    >>> loss = lambda p: ((p - 3.0) ** 2).sum()
    >>> for _ in range(200):
    ...     p, state = opt.update(cr.grad(loss)(p), state, p)
    >>> p.round(3), state["step"]
    (array([3., 3.]), np.int64(200))
    """
    return _Adam(lr, betas, eps, weight_decay, amsgrad)


def adamw(lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
          amsgrad: bool = False) -> FunctionalOptimizer:
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay ``p *= 1 - lr * wd``.

    >>> import numpy as np, chainrule as cr
    >>> opt = cr.optim.adamw(lr=0.1, weight_decay=0.5)
    >>> p = np.array([3.0]); state = opt.init(p)
    >>> p, state = opt.update(np.zeros(1), state, p)   # no gradient: only the decay acts
    >>> p                                               # 3 * (1 - 0.1 * 0.5)
    array([2.85])
    """
    return _AdamW(lr, betas, eps, weight_decay, amsgrad)
