"""PyTorch-style optimisers over tape parameters, each a thin wrapper of a functional core.

``opt = SGD(model.parameters(), lr=0.1)``; then per step ``opt.zero_grad()``,
``loss.backward()``, ``opt.step()``.  ``step`` reads each parameter's ``.grad``, asks
the core for the new values and writes them into the parameters in place (an
unrecorded write, so the parameters stay the same leaves).  A parameter whose
``.grad`` is ``None`` -- one the loss did not use, or one frozen with
``requires_grad_(False)`` -- is left alone, its state too.  ``LBFGS.step(closure)`` re-evaluates the loss
through ``closure`` (which zeroes the gradients, computes the loss, calls
``backward`` and returns the loss).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Iterable, Union

import numpy as np

from chainrule._core.grad_mode import enable_grad
from chainrule._interpreters.reverse import Tensor, _write
from chainrule.nn.module import _is_parameter, _zero_grads
from chainrule.optim.functional import adam, adamw, sgd
from chainrule.optim.lbfgs import lbfgs

if TYPE_CHECKING:
    from typing_extensions import Self

    from chainrule.nn.module import Module

#: What an optimiser takes: tensors, a model, or PyTorch's parameter groups (dicts with "params").
Params = Union[Iterable[Tensor], Iterable[Mapping[str, Any]], "Module"]

__all__ = ["Optimizer", "ParamGroup", "SGD", "Adam", "AdamW", "LBFGS"]


def _param_list(params, name):
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    params = list(params)
    if not params:
        raise ValueError(f"{name}: got an empty parameter list")
    for i, p in enumerate(params):
        if isinstance(p, dict) and "params" in p:
            raise TypeError(f"{name}: a parameter group (a dict with 'params') among plain parameters; "
                            f"pass either a list of parameters or a list of groups")
        if type(p) is not Tensor:
            raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor; pass "
                            f"model.parameters() or tensors made with cr.tensor(..., requires_grad=True)")
        if p._prim is not None or p._level != 0:
            raise TypeError(f"{name}: parameter {i} is not a leaf: it was computed (by "
                            f"{p._prim.name if p._prim is not None else 'a transform'}), so writing "
                            f"to it would not change what it was computed from; optimise the leaf "
                            f"tensors it came from (model.parameters())")
        if not p.requires_grad and not _is_parameter(p):
            raise TypeError(f"{name}: parameter {i} does not require grad; make it with "
                            f"cr.tensor(..., requires_grad=True) or cr.nn.parameter(...)")
    if len({id(p) for p in params}) != len(params):
        raise ValueError(f"{name}: a parameter appears more than once in the list")
    return params


def _split_groups(params, name):
    """``[(params, overrides), ...]`` for a list of ``{"params": [...], "lr": ...}`` dicts, else None."""
    if hasattr(params, "parameters") and callable(params.parameters):
        return None
    params = list(params)
    if not params or not all(isinstance(g, dict) for g in params):
        return None
    groups = []
    for i, g in enumerate(params):
        if "params" not in g:
            raise TypeError(f"{name}: parameter group {i} has no 'params' entry; a group is "
                            f"{{'params': [tensors], 'lr': ..., ...}}")
        ps = g["params"]
        ps = [ps] if type(ps) is Tensor else ps
        groups.append((_param_list(ps, f"{name}: parameter group {i}"),
                       {k: v for k, v in g.items() if k != "params"}))
    seen = [id(p) for ps, _ in groups for p in ps]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{name}: a parameter appears in more than one parameter group")
    return groups


def _hyper(core):
    """A core's hyperparameters, the keyword arguments that rebuild it."""
    return {k: v for k, v in vars(core).items() if k != "buffers"}


def _core_with(core, overrides, where):
    """A core like ``core`` with some hyperparameters changed (checked by its constructor)."""
    hyper = _hyper(core)
    unknown = sorted(set(overrides) - set(hyper))
    if unknown:
        raise KeyError(f"{where}: unknown hyperparameter(s) {unknown}; a group may set {sorted(hyper)}")
    if "amsgrad" in overrides and bool(overrides["amsgrad"]) != hyper.get("amsgrad"):
        raise ValueError(f"{where}: amsgrad is fixed when the optimiser is made (it changes the state)")
    return type(core)(**{**hyper, **overrides})


class ParamGroup(Mapping):
    """One entry of ``opt.param_groups``: ``group["params"]`` and the group's hyperparameters.

    ``group["lr"] = 0.01`` (or ``weight_decay``, ``momentum``, ``betas``, ...) changes
    them for the next step, checked as the constructor checks them, as in PyTorch.
    """

    __slots__ = ("_opt",)

    def __init__(self, opt):
        self._opt = opt

    def __getitem__(self, key):
        if key == "params":
            return self._opt.params
        return _hyper(self._opt.core)[key]

    def __setitem__(self, key, value):
        if key == "params":
            raise TypeError("param_groups: the parameters of a group are fixed; make a new optimiser")
        new = _core_with(self._opt.core, {key: value}, "param_groups")
        setattr(self._opt.core, key, getattr(new, key))

    def __iter__(self):
        return iter(["params", *_hyper(self._opt.core)])

    def __len__(self):
        return 1 + len(_hyper(self._opt.core))

    def __repr__(self):
        hyper = ", ".join(f"{k!r}: {v!r}" for k, v in _hyper(self._opt.core).items())
        return f"{{'params': [{len(self._opt.params)} tensors], {hyper}}}"


class Optimizer:
    """Base of the wrappers: the parameters, a functional core and its state.

    ``params`` is a list of tensors (or a model), or PyTorch's list of parameter groups,
    ``[{"params": [...], "lr": 0.01}, {"params": [...]}]``, each group's missing
    hyperparameters taken from the constructor's arguments.  With groups, each runs as
    an optimiser of its own (``opt.groups``); ``opt.param_groups`` lists them either way.

    >>> import chainrule as cr
    >>> model = cr.nn.MLP([2, 4, 1])
    >>> opt = cr.optim.SGD([{"params": model.layers[0].parameters(), "lr": 0.1},
    ...                     {"params": model.layers[1].parameters()}], lr=0.01)
    >>> [group["lr"] for group in opt.param_groups]
    [0.1, 0.01]
    >>> isinstance(opt, cr.optim.Optimizer)
    True
    """

    def __init__(self, params: Any, core: Any) -> None:  # the subclasses take Params
        name = type(self).__name__
        if not (hasattr(params, "parameters") and callable(params.parameters)):
            params = list(params)  # a generator is read once
        groups = _split_groups(params, name)
        self.groups = None
        if groups is not None and len(groups) > 1:
            self.groups = []
            for i, (ps, overrides) in enumerate(groups):
                group = object.__new__(type(self))
                Optimizer.__init__(group, ps, _core_with(core, overrides, f"{name}: parameter group {i}"))
                self.groups.append(group)
            self.params = [p for g in self.groups for p in g.params]
            self.core = self.groups[0].core
            return
        if groups is not None:  # one group: its hyperparameters are the optimiser's
            params, core = groups[0][0], _core_with(core, groups[0][1], f"{name}: parameter group 0")
        self.params = params if groups is not None else _param_list(params, name)
        self.core = core
        self.state = core.init([p._value for p in self.params])
        # The fused step: one flat array per buffer, and the parameters and gradients
        # gathered into flat arrays, so that a step is a dozen NumPy operations in all
        # rather than a dozen per parameter (PyTorch's foreach, in effect).
        sizes = np.cumsum([0] + [int(np.prod(p.shape, dtype=np.int64)) for p in self.params])
        self._slices = [slice(int(a), int(b)) for a, b in zip(sizes[:-1], sizes[1:])]
        self._set_dtypes()

    def _set_dtypes(self):
        """Fit the fused step (and the state's buffers) to the parameters' dtypes.

        Called again by ``step`` when ``model.to(dtype)`` has changed them since,
        so that float32 parameters get float32 optimiser state.
        """
        self._dtypes = [p.dtype for p in self.params]
        one = len(set(self._dtypes)) == 1
        self._fused = getattr(self.core, "_fused", None) if one else None
        self._dtype = self._dtypes[0]
        self._flat, self._flat_for = None, None
        self._g = self._x = None  # flat scratch for the gradients and parameters, reused
        for k in getattr(self.core, "buffers", ()):
            if k in self.state:
                self.state = {**self.state, k: tuple(np.asarray(b, dt) for b, dt in zip(self.state[k], self._dtypes))}

    @property
    def lr(self):
        """The learning rate (of the first group; settable between steps, setting every group's).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> opt.lr = 0.05; opt.lr, opt.param_groups[0]["lr"]
        (0.05, 0.05)
        """
        return self.core.lr

    @lr.setter
    def lr(self, value):
        for group in self.groups or [self]:
            group.core.lr = float(value)

    @property
    def param_groups(self):
        """PyTorch's ``param_groups``: one mapping per group, ``group["lr"] = ...`` settable.

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> opt.param_groups
        [{'params': [1 tensors], 'lr': 0.1, 'momentum': 0.9, 'dampening': 0.0, 'nesterov': False, 'weight_decay': 0.0}]
        >>> opt.param_groups[0]["lr"] = 0.01; opt.lr
        0.01
        """
        return [ParamGroup(g) for g in self.groups or [self]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's ``.grad`` to ``None`` (``set_to_none=False``: to zeros).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward(); w.grad
        tensor([ 2., -2.])
        >>> opt.zero_grad(set_to_none=False); w.grad
        tensor([0., 0.])
        """
        _zero_grads(self.params, set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update from the parameters' ``.grad``; returns ``closure()`` if one is given.

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward()
        >>> opt.step(); w                   # w - 0.1 * 2w
        tensor([ 0.8, -0.8], requires_grad=True)
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if self.groups is not None:
            for group in self.groups:
                group.step()
            return loss
        if any(p.dtype != dt for p, dt in zip(self.params, self._dtypes)):
            self._set_dtypes()  # model.to(dtype) since the last step
        grads = [None if p.grad is None else p.grad._value for p in self.params]
        if self._fused is not None and all(g is not None for g in grads) \
                and self.core._fuses_in_place(self._slices[-1].stop):
            self._fused_step(grads)
            return loss
        new, self.state = self.core._update_leaves(grads, self.state, [p._value for p in self.params])
        for p, v in zip(self.params, new):
            if v is not p._value:
                _write(p, v, f"{type(self).__name__}.step")
        return loss

    def _fused_step(self, grads):
        """The core's update in place on flat arrays: the same operations, so the same numbers.

        ``self.state`` then holds views of the flat buffers; a state put there from
        elsewhere (``load_state_dict``, a step that skipped a parameter) is flattened anew.
        """
        if self._flat_for is not self.state:
            self._flat = {k: np.concatenate([np.ravel(b) for b in self.state[k]], dtype=self._dtype)
                          for k in self.core.buffers}
            views = {k: tuple(flat[sl].reshape(p.shape) for sl, p in zip(self._slices, self.params))
                     for k, flat in self._flat.items()}
            self.state = self._flat_for = {**self.state, **views}
        if self._g is None:
            n = self._slices[-1].stop
            self._g, self._x = np.empty(n, self._dtype), np.empty(n, self._dtype)
        # .reshape methods: numpy scalars (0-d parameters) have them too
        g = np.concatenate([g.reshape(-1) for g in grads], out=self._g, casting="same_kind")
        x = np.concatenate([p._value.reshape(-1) for p in self.params], out=self._x)
        self._fused(g, self._flat, x, self.state["step"])
        self.state["step"] += 1
        name = f"{type(self).__name__}.step"
        for p, sl in zip(self.params, self._slices):
            _write(p, x[sl].reshape(p.shape), name)

    # -- saving -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The state as ``{name: array}``: ``step``, ``lr`` and ``<buffer>.<i>`` per parameter
        (with parameter groups, each group's keys prefixed by ``groups.<g>.``).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward(); opt.step()
        >>> opt.state_dict()
        {'step': array(1), 'lr': array(0.1), 'momentum_buffer.0': array([ 2., -2.])}
        """
        if self.groups is not None:
            return {f"groups.{i}.{k}": v for i, g in enumerate(self.groups) for k, v in g.state_dict().items()}
        out = {"step": np.asarray(self.state["step"]), "lr": np.asarray(self.core.lr)}
        for k in self.core.buffers:
            for i, b in enumerate(self.state[k]):
                out[f"{k}.{i}"] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> Self:
        """Restore ``state_dict()`` output; keys and shapes are checked before anything changes.

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward(); opt.step()
        >>> resumed = cr.optim.SGD([w], lr=0.1, momentum=0.9).load_state_dict(opt.state_dict())
        >>> resumed.state_dict()["momentum_buffer.0"]
        array([ 2., -2.])
        """
        if self.groups is not None:
            self._check_keys(state)
            parts = [{k[len(f"groups.{i}."):]: v for k, v in state.items() if k.startswith(f"groups.{i}.")}
                     for i in range(len(self.groups))]
            loaded = [g._loaded(part) for g, part in zip(self.groups, parts)]  # every group checked first
            for g, (new, lr) in zip(self.groups, loaded):
                g.state, g.core.lr = new, lr
            return self
        self.state, self.core.lr = self._loaded(state)
        return self

    def _check_keys(self, state):
        expected = self.state_dict()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected} (was the state saved from another optimiser, or for other "
                           f"parameters?); nothing was loaded")
        return expected

    def _loaded(self, state):
        """``(new_state, lr)`` from ``state``, every key, shape and value checked; nothing changed."""
        name = type(self).__name__
        expected = self._check_keys(state)
        for k, ref in expected.items():
            if np.shape(state[k]) != ref.shape:
                raise ValueError(f"{name}.load_state_dict: {k!r} has shape {np.shape(state[k])}, expected "
                                 f"{ref.shape}; nothing was loaded")
        step, lr = _step_and_lr(name, state)
        new = {"step": step}
        for k in self.core.buffers:
            new[k] = tuple(_entry(name, f"{k}.{i}", state, ref.dtype) for i, ref in enumerate(self.state[k]))
        return new, lr

    def __repr__(self):
        if self.groups is not None:
            return f"{type(self).__name__}(" + "; ".join(
                f"group {i}: {len(g.params)} parameters, {g.core!r}" for i, g in enumerate(self.groups)) + ")"
        return f"{type(self).__name__}({len(self.params)} parameters, {self.core!r})"


class SGD(Optimizer):
    """SGD with momentum, Nesterov momentum and weight decay (PyTorch's ``torch.optim.SGD``).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(100):
    ...     opt.zero_grad()
    ...     ((w - 3.0) ** 2).sum().backward()
    ...     _ = opt.step()
    >>> w
    tensor([3., 3.], requires_grad=True)
    """

    def __init__(self, params: Params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, sgd(lr, momentum, dampening, nesterov, weight_decay))


class Adam(Optimizer):
    """Adam (Kingma & Ba), with L2 ``weight_decay`` as ``torch.optim.Adam``.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = cr.optim.Adam([w], lr=0.1)
    >>> for _ in range(200):
    ...     opt.zero_grad()
    ...     ((w - 3.0) ** 2).sum().backward()
    ...     _ = opt.step()
    >>> w.detach().numpy().round(3)
    array([3., 3.])
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, adam(lr, betas, eps, weight_decay, amsgrad))


class AdamW(Optimizer):
    """AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0], requires_grad=True)
    >>> opt = cr.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = cr.tensor([0.0]); _ = opt.step()   # a zero gradient: only the decay acts
    >>> w                                            # 3 * (1 - 0.1 * 0.5)
    tensor([2.85], requires_grad=True)
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, adamw(lr, betas, eps, weight_decay, amsgrad))


class LBFGS(Optimizer):
    """L-BFGS with a strong-Wolfe line search; ``step(closure)`` runs up to ``max_iter`` iterations.

    ``closure()`` zeroes the gradients, computes the loss, calls ``backward()`` and
    returns the loss; ``step`` returns the loss at the start.  ``rtol_change`` stops on a
    relative decrease of the loss below it (SciPy's ``ftol``; see ``cr.optim.lbfgs``).  Needs SciPy
    (``pip install 'chainrule[special]'``).

    >>> import chainrule as cr
    >>> xy = cr.tensor([-1.2, 1.0], requires_grad=True)
    >>> opt = cr.optim.LBFGS([xy], max_iter=100)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = 100 * (xy[1] - xy[0] ** 2) ** 2 + (1 - xy[0]) ** 2
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> xy.detach().numpy().round(6)
    array([1., 1.])
    """

    def __init__(self, params: Params, lr: float = 1.0, max_iter: int = 20, history_size: int = 10,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 line_search_fn: str | None = "strong_wolfe", rtol_change: float = 0.0) -> None:
        if not (hasattr(params, "parameters") and callable(params.parameters)):
            params = list(params)
        groups = _split_groups(params, "LBFGS")
        if groups is not None and len(groups) > 1:
            raise TypeError("LBFGS: parameter groups are not supported (as in PyTorch, L-BFGS has one); "
                            "pass one list of parameters")
        super().__init__(params, lbfgs(lr, history_size, tolerance_grad, tolerance_change, line_search_fn,
                                       rtol_change))
        self.max_iter = int(max_iter)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if closure is None:
            raise TypeError("LBFGS.step needs a closure that zeroes the gradients, computes the loss, "
                            "calls backward() and returns the loss")
        params = self.params

        def fun(values):
            for p, v in zip(params, values):
                _write(p, v, "LBFGS.step")
            with enable_grad():
                loss = closure()
            return float(_value(loss)), [_grad_of(p) for p in params]

        with enable_grad():
            first = closure()
        if all(p.grad is None for p in params):
            raise RuntimeError("LBFGS.step: after closure() no parameter has a .grad; the closure must "
                               "call loss.backward() (after opt.zero_grad()) and return the loss")
        value, grads = float(_value(first)), [_grad_of(p) for p in params]
        state = dict(self.state, converged=False)
        current = [np.array(p._value, copy=True) for p in params]
        for _ in range(self.max_iter):
            current, state = self.core.update(grads, state, current, fun=fun, value=value)
            value, grads = state["value"], state["grads"]
            if state["converged"]:
                break
        for p, v in zip(params, current):
            _write(p, v, "LBFGS.step")
        self.state = state
        return first

    def state_dict(self) -> dict[str, Any]:
        """``step``, ``lr`` and the curvature pairs ``s.<i>``, ``y.<i>``."""
        out = {"step": np.asarray(self.state["step"]), "lr": np.asarray(self.core.lr)}
        for i, (s, y) in enumerate(zip(self.state["s"], self.state["y"])):
            out[f"s.{i}"], out[f"y.{i}"] = s.copy(), y.copy()
        return out

    def _expected_state(self):
        """``{key: array}`` of every key a state may hold (``cr.nn.load`` checks file headers on it)."""
        n = sum(int(np.prod(p.shape, dtype=np.int64)) for p in self.params)
        pairs = [f"{k}.{i}" for i in range(self.core.history_size) for k in "sy"]
        return {"step": np.zeros(()), "lr": np.zeros(()), **dict.fromkeys(pairs, np.zeros(n))}

    def load_state_dict(self, state: Mapping[str, Any]) -> Self:
        n = sum(int(np.prod(p.shape, dtype=np.int64)) for p in self.params)
        pairs = sorted(int(k[2:]) for k in state if k.startswith("s."))
        if pairs != list(range(len(pairs))) or any(f"y.{i}" not in state for i in pairs) \
                or "step" not in state or "lr" not in state:
            raise KeyError(f"LBFGS.load_state_dict: expected keys step, lr, s.<i>, y.<i>; got "
                           f"{sorted(state)}; nothing was loaded")
        for i in pairs:
            for k in (f"s.{i}", f"y.{i}"):
                if np.shape(state[k]) != (n,):
                    raise ValueError(f"LBFGS.load_state_dict: {k!r} has shape {np.shape(state[k])}, "
                                     f"expected ({n},); nothing was loaded")
        step, lr = _step_and_lr("LBFGS", state)
        new = dict(self.core.init(None), step=step,
                   s=tuple(_entry("LBFGS", f"s.{i}", state, np.float64) for i in pairs),
                   y=tuple(_entry("LBFGS", f"y.{i}", state, np.float64) for i in pairs))
        self.state = new
        self.core.lr = lr
        return self


def _step_and_lr(name, state):
    """The step count and learning rate of a state dict, checked as the constructor checks them."""
    from chainrule.optim.functional import _check
    try:
        step = float(np.asarray(state["step"]))
        lr = _check(f"{name}.load_state_dict: lr", np.asarray(state["lr"]))
    except (TypeError, ValueError) as e:
        said = str(e) if str(e).startswith(name) else f"{name}.load_state_dict: step and lr must be numbers ({e})"
        raise ValueError(f"{said}; nothing was loaded") from None
    if not (step >= 0 and step == int(step)):
        raise ValueError(f"{name}.load_state_dict: step must be an integer >= 0, got {state['step']!r}; "
                         f"nothing was loaded")
    return int(step), lr


def _entry(name, key, state, dtype):
    a = np.array(state[key], dtype=dtype)  # a copy: the optimiser never shares the caller's arrays
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}.load_state_dict: {key!r} holds non-finite values (nan or inf); "
                         f"nothing was loaded")
    return a


def _value(loss):
    return loss._value if type(loss) is Tensor else loss


def _grad_of(p):
    return np.zeros(p.shape, p.dtype) if p.grad is None else np.array(p.grad._value, copy=True)
