"""Learning-rate schedules: optax-style functions of the step, PyTorch-style scheduler objects.

Functions ``schedule(step) -> lr`` (optax's names and definitions)::

    exponential_decay(init_value, transition_steps, decay_rate, staircase=False)
        init_value * decay_rate ** (step / transition_steps)      (floor of the ratio if staircase:
                                                                    PyTorch's StepLR)
    cosine_decay_schedule(init_value, decay_steps, alpha=0.0)
        init_value * ((1 - alpha) * (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2 + alpha)

Objects that set each parameter group's ``lr`` on every ``step()`` (PyTorch's names and
definitions; ``optimizer`` is a ``cr.optim`` optimiser or a functional core, anything with ``lr``)::

    StepLR(opt, step_size, gamma=0.1)           lr0 * gamma ** (epoch // step_size)
    ExponentialLR(opt, gamma)                   lr0 * gamma ** epoch
    CosineAnnealingLR(opt, T_max, eta_min=0)    eta_min + (lr0 - eta_min) (1 + cos(pi epoch / T_max)) / 2
    OneCycleLR(opt, max_lr, total_steps)        warm up to max_lr, anneal to max_lr / 25e4 (per batch)
    ReduceLROnPlateau(opt, factor=0.1, patience=10)   lr *= factor when step(metric) stalls

>>> import chainrule as cr
>>> s = cr.optim.exponential_decay(1.0, transition_steps=10, decay_rate=0.5, staircase=True)
>>> [s(0), s(9), s(10), s(25)]
[1.0, 1.0, 0.5, 0.25]
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["exponential_decay", "cosine_decay_schedule", "StepLR", "ExponentialLR", "CosineAnnealingLR",
           "OneCycleLR", "ReduceLROnPlateau"]


def _positive(name, value, what):
    value = float(value)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{name}: {what} must be a positive finite number, got {value}")
    return value


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float, transition_begin: int = 0,
                      staircase: bool = False, end_value: float | None = None) -> Callable[[Any], Any]:
    """``init_value * decay_rate ** ((step - transition_begin) / transition_steps)`` (optax's).

    Constant at ``init_value`` before ``transition_begin``; ``staircase`` floors the
    exponent; ``end_value`` bounds the value (below for decay, above for growth).

    >>> exponential_decay(0.1, 100, 0.5)(200)
    0.025
    """
    transition_steps = _positive("exponential_decay", transition_steps, "transition_steps")
    init_value, decay_rate = float(init_value), _positive("exponential_decay", decay_rate, "decay_rate")

    def schedule(step):
        p = max(float(step) - transition_begin, 0.0) / transition_steps
        value = init_value * decay_rate ** (math.floor(p) if staircase else p)
        if end_value is not None:
            value = max(value, end_value) if decay_rate < 1 else min(value, end_value)
        return value

    return schedule


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0,
                          exponent: float = 1.0) -> Callable[[Any], Any]:
    """Cosine decay from ``init_value`` to ``alpha * init_value`` over ``decay_steps``, then constant (optax's).

    >>> s = cosine_decay_schedule(1.0, 10, alpha=0.1)
    >>> [round(s(k), 6) for k in (0, 5, 10, 20)]
    [1.0, 0.55, 0.1, 0.1]
    """
    decay_steps = _positive("cosine_decay_schedule", decay_steps, "decay_steps")
    init_value, alpha = float(init_value), float(alpha)

    def schedule(step):
        frac = min(max(float(step), 0.0), decay_steps) / decay_steps
        return init_value * ((1 - alpha) * (0.5 * (1 + math.cos(math.pi * frac))) ** exponent + alpha)

    return schedule


class _CoreGroup:
    """A functional core seen as one parameter group: ``group["lr"]`` is ``core.lr``."""

    def __init__(self, core):
        self.core = core

    def __getitem__(self, key):
        return getattr(self.core, key)

    def __setitem__(self, key, value):
        setattr(self.core, key, value)

    def __contains__(self, key):
        return hasattr(self.core, key)


def _groups(optimizer, who):
    groups = getattr(optimizer, "param_groups", None)
    if groups is not None:
        return groups
    if not hasattr(optimizer, "lr"):
        raise TypeError(f"{who}: the optimizer must have an 'lr' attribute (a cr.optim optimiser or "
                        f"functional core), got {type(optimizer).__name__}")
    return [_CoreGroup(optimizer)]


class _Scheduler:
    """``step()`` advances the epoch and sets each group's ``lr``; ``get_last_lr()`` as PyTorch's.

    ``optimizer`` is a ``cr.optim`` optimiser (its ``param_groups``, one learning rate each)
    or a functional core (one group, ``core.lr``).
    """

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.param_groups = _groups(optimizer, type(self).__name__)
        self.base_lrs = [float(g["lr"]) for g in self.param_groups]
        self.last_epoch = 0
        self._last_lr = list(self.base_lrs)

    @property
    def base_lr(self):
        """The first group's initial learning rate."""
        return self.base_lrs[0]

    def lr_at(self, epoch: int, base_lr: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self._set([self.lr_at(self.last_epoch, b) for b in self.base_lrs])

    def _set(self, lrs):
        for g, lr in zip(self.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = [float(g["lr"]) for g in self.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = [float(b) for b in np.ravel(state["base_lrs"] if "base_lrs" in state else state["base_lr"])]
        self._set([self.lr_at(self.last_epoch, b) for b in self.base_lrs])


class StepLR(_Scheduler):
    """``lr0 * gamma ** (epoch // step_size)`` (``torch.optim.lr_scheduler.StepLR``).

    >>> import chainrule as cr
    >>> opt = cr.optim.sgd(lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     sched.step(); lrs.append(opt.lr)
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(_Scheduler):
    """``lr0 * gamma ** epoch`` (``torch.optim.lr_scheduler.ExponentialLR``).

    >>> import chainrule as cr
    >>> opt = cr.optim.sgd(lr=1.0)
    >>> sched = cr.optim.ExponentialLR(opt, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(4):
    ...     sched.step(); lrs.append(opt.lr)
    >>> lrs
    [0.5, 0.25, 0.125, 0.0625]
    """

    def __init__(self, optimizer: Any, gamma: float) -> None:
        super().__init__(optimizer)
        self.gamma = float(gamma)

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(_Scheduler):
    """``eta_min + (lr0 - eta_min) (1 + cos(pi epoch / T_max)) / 2`` (``torch.optim.lr_scheduler.
    CosineAnnealingLR``'s closed form; past ``T_max`` the cosine rises again, as PyTorch's).

    >>> import chainrule as cr
    >>> opt = cr.optim.sgd(lr=1.0)
    >>> sched = cr.optim.CosineAnnealingLR(opt, T_max=4)
    >>> lrs = []
    >>> for _ in range(5):
    ...     sched.step(); lrs.append(round(opt.lr, 4))
    >>> lrs
    [0.8536, 0.5, 0.1464, 0.0, 0.1464]
    """

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer)
        self.T_max = _positive("CosineAnnealingLR", T_max, "T_max")
        self.eta_min = float(eta_min)

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


def _per_group(value, n, name):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{name}: expected one value per parameter group ({n}), got {len(values)}")
    return [float(v) for v in values]


class OneCycleLR(_Scheduler):
    """Smith & Topin's one-cycle policy, as ``torch.optim.lr_scheduler.OneCycleLR``: call ``step()``
    after every batch.

    The learning rate starts at ``max_lr / div_factor``, rises to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` (``= epochs * steps_per_epoch`` if not given), then falls
    to ``initial / final_div_factor``; ``anneal_strategy`` is ``"cos"`` or ``"linear"``;
    ``three_phase`` comes back down to the initial rate before the final fall.  With
    ``cycle_momentum`` the momentum (SGD's ``momentum``, Adam's ``betas[0]``) moves the other
    way, between ``max_momentum`` and ``base_momentum``.  Stepping past ``total_steps``
    raises ``ValueError``, as PyTorch's does.  (The ``total_steps``-th step, after the last
    batch, extrapolates the last phase; PyTorch's linear anneal there can go below zero,
    where this one stops at 0.)

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    >>> lrs = [opt.lr]
    >>> for _ in range(9):
    ...     sched.step(); lrs.append(opt.lr)
    >>> [round(lr, 4) for lr in lrs]
    [0.04, 0.52, 1.0, 0.9505, 0.8117, 0.6113, 0.3887, 0.1883, 0.0495, 0.0]
    """

    def __init__(self, optimizer: Any, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False) -> None:
        groups = _groups(optimizer, "OneCycleLR")
        n = len(groups)
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
            total_steps = int(epochs) * int(steps_per_epoch)
        if int(total_steps) < 1:
            raise ValueError(f"OneCycleLR: total_steps must be a positive integer, got {total_steps}")
        if not 0.0 <= float(pct_start) <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must lie in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy = int(total_steps), anneal_strategy
        max_lrs = _per_group(max_lr, n, "OneCycleLR: max_lr")
        initial = [m / float(div_factor) for m in max_lrs]
        self.min_lrs = [i / float(final_div_factor) for i in initial]
        self.max_lrs = max_lrs
        T, p = float(self.total_steps), float(pct_start)
        if three_phase:  # (end step, lr from, lr to, momentum from, momentum to), by group index
            self._phases = [(p * T - 1, "initial", "max", "max_m", "base_m"),
                            (2 * p * T - 2, "max", "initial", "base_m", "max_m"),
                            (T - 1, "initial", "min", "max_m", "max_m")]
        else:
            self._phases = [(p * T - 1, "initial", "max", "max_m", "base_m"),
                            (T - 1, "max", "min", "base_m", "max_m")]
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if not all("momentum" in g or "betas" in g for g in groups):
                raise ValueError("OneCycleLR: the optimizer must have momentum or betas to cycle the momentum; "
                                 "pass cycle_momentum=False")
            self.base_momentums = _per_group(base_momentum, n, "OneCycleLR: base_momentum")
            self.max_momentums = _per_group(max_momentum, n, "OneCycleLR: max_momentum")
            for g, m in zip(groups, self.max_momentums):
                self._set_momentum(g, m)
        for g, lr in zip(groups, initial):
            g["lr"] = lr
        super().__init__(optimizer)  # base_lrs: the initial rates just set

    @staticmethod
    def _set_momentum(group, m):
        if "betas" in group:
            group["betas"] = (m, group["betas"][1])
        else:
            group["momentum"] = m

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, step, values):
        start_step = 0.0
        for i, (end_step, a, b, ma, mb) in enumerate(self._phases):
            if step <= end_step or i == len(self._phases) - 1:
                pct = (step - start_step) / (end_step - start_step)
                return self._anneal(values[a], values[b], pct), self._anneal(values[ma], values[mb], pct)
            start_step = end_step
        raise AssertionError("unreachable")

    def lr_at(self, epoch: int, base_lr: float) -> float:
        raise NotImplementedError  # per group, with momentum: see step()

    def step(self) -> None:
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {self.last_epoch + 1} times, more than total_steps="
                             f"{self.total_steps}")
        self.last_epoch += 1
        self._apply()

    def _apply(self):
        lrs = []
        for i, g in enumerate(self.param_groups):
            values = {"initial": self.base_lrs[i], "max": self.max_lrs[i], "min": self.min_lrs[i],
                      "max_m": self.max_momentums[i] if self.cycle_momentum else 0.0,
                      "base_m": self.base_momentums[i] if self.cycle_momentum else 0.0}
            lr, m = self._at(float(self.last_epoch), values)
            # past the last phase (the total_steps-th step, after the last batch) the linear
            # anneal of PyTorch goes below zero; a learning rate cannot, so it stops at 0
            lrs.append(max(lr, 0.0))
            if self.cycle_momentum:
                self._set_momentum(g, m)
        self._set(lrs)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = [float(b) for b in np.ravel(state["base_lrs"])]
        self._apply()


class ReduceLROnPlateau:
    """Divide the learning rate by ``1 / factor`` when a metric stops improving, as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``: ``step(metric)`` once per epoch.

    ``mode`` ``"min"`` (a loss) or ``"max"`` (an accuracy); an epoch improves on the best
    by more than ``threshold`` (relative, or absolute with ``threshold_mode="abs"``);
    after more than ``patience`` epochs without improvement each group's rate becomes
    ``max(lr * factor, min_lr)`` (unless that changes it by at most ``eps``), then
    ``cooldown`` epochs pass before counting again.

    >>> import chainrule as cr
    >>> opt = cr.optim.sgd(lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 1.0]:
    ...     sched.step(loss)
    >>> opt.lr                   # the fourth epoch was the second without improvement
    0.5
    """

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:
        if not float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.param_groups = _groups(optimizer, "ReduceLROnPlateau")
        self.min_lrs = _per_group(min_lr, len(self.param_groups), "ReduceLROnPlateau: min_lr")
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.eps = int(cooldown), float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [float(g["lr"]) for g in self.param_groups]

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: Any) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, low in zip(self.param_groups, self.min_lrs):
                old = float(g["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [float(g["lr"]) for g in self.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = (
            int(state[k]) for k in ("num_bad_epochs", "cooldown_counter", "last_epoch"))
