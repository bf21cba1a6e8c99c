"""Learning-rate schedules: optax-style functions of the step, PyTorch-style scheduler objects.

Functions ``schedule(step) -> lr`` (optax's names and definitions)::

    exponential_decay(init_value, transition_steps, decay_rate, staircase=False)
        init_value * decay_rate ** (step / transition_steps)      (floor of the ratio if staircase:
                                                                    PyTorch's StepLR)
    cosine_decay_schedule(init_value, decay_steps, alpha=0.0)
        init_value * ((1 - alpha) * (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2 + alpha)

Objects that set ``optimizer.lr`` on every ``step()`` (PyTorch's names and definitions;
``optimizer`` is a ``cr.optim`` optimiser or a functional core, anything with ``lr``)::

    StepLR(opt, step_size, gamma=0.1)           lr0 * gamma ** (epoch // step_size)
    ExponentialLR(opt, gamma)                   lr0 * gamma ** epoch
    CosineAnnealingLR(opt, T_max, eta_min=0)    eta_min + (lr0 - eta_min) (1 + cos(pi epoch / T_max)) / 2

>>> import chainrule as cr
>>> s = cr.optim.exponential_decay(1.0, transition_steps=10, decay_rate=0.5, staircase=True)
>>> [s(0), s(9), s(10), s(25)]
[1.0, 1.0, 0.5, 0.25]
"""
from __future__ import annotations

import math

__all__ = ["exponential_decay", "cosine_decay_schedule", "StepLR", "ExponentialLR", "CosineAnnealingLR"]


def _positive(name, value, what):
    value = float(value)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{name}: {what} must be a positive finite number, got {value}")
    return value


def exponential_decay(init_value, transition_steps, decay_rate, transition_begin=0, staircase=False,
                      end_value=None):
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


def cosine_decay_schedule(init_value, decay_steps, alpha=0.0, exponent=1.0):
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


class _Scheduler:
    """``step()`` advances the epoch and sets ``optimizer.lr``; ``get_last_lr()`` as PyTorch's (a list)."""

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__}: the optimizer must have an 'lr' attribute (a cr.optim "
                            f"optimiser or functional core), got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        self._last_lr = [self.base_lr]

    def lr_at(self, epoch):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        lr = self.lr_at(self.last_epoch)
        self.optimizer.lr = lr
        self._last_lr = [lr]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state):
        self.last_epoch, self.base_lr = int(state["last_epoch"]), float(state["base_lr"])
        self._last_lr = [self.lr_at(self.last_epoch)]
        self.optimizer.lr = self._last_lr[0]


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

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(_Scheduler):
    """``lr0 * gamma ** epoch`` (``torch.optim.lr_scheduler.ExponentialLR``)."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(_Scheduler):
    """``eta_min + (lr0 - eta_min) (1 + cos(pi epoch / T_max)) / 2`` (``torch.optim.lr_scheduler.
    CosineAnnealingLR``'s closed form; past ``T_max`` the cosine rises again, as PyTorch's)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        self.T_max = _positive("CosineAnnealingLR", T_max, "T_max")
        self.eta_min = float(eta_min)

    def lr_at(self, epoch):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
