"""Gradient clipping for the tape style, as ``torch.nn.utils``: ``clip_grad_norm_``, ``clip_grad_value_``.

They act on the ``.grad`` of tape parameters, between ``loss.backward()`` and
``opt.step()``; a parameter whose ``.grad`` is ``None`` is skipped.  (In the
functional style, clip the gradient pytree with ``chainrule.numpy`` directly.)

>>> import numpy as np, chainrule as cr
>>> w = cr.tensor([3.0, 4.0], requires_grad=True)
>>> (w * w).sum().backward()                  # grad (6, 8), norm 10
>>> float(cr.nn.clip_grad_norm_([w], max_norm=1.0))
10.0
>>> w.grad.numpy().round(6)
array([0.6, 0.8])
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from chainrule._interpreters.reverse import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters, name):
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        parameters = parameters.parameters()
    elif type(parameters) is Tensor:
        parameters = [parameters]
    params = list(parameters)
    for i, p in enumerate(params):
        if type(p) is not Tensor:
            raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor; pass "
                            f"model.parameters()")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0) -> Any:
    """Scale the gradients together so that their joint ``norm_type``-norm is at most ``max_norm``.

    Returns the joint norm before clipping (as PyTorch: the scale is
    ``min(1, max_norm / (norm + 1e-6))``; ``norm_type`` may be ``inf``).

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward(); w.grad
    tensor([6., 8.])
    >>> cr.nn.clip_grad_norm_([w], max_norm=1.0), w.grad      # the norm was 10; now it is 1
    (np.float64(10.0), tensor([0.59999994, 0.79999992]))
    """
    params = _with_grads(parameters, "clip_grad_norm_")
    norm_type = float(norm_type)
    if not params:
        return np.float64(0.0)
    grads = [np.asarray(p.grad._value) for p in params]
    if norm_type == np.inf:
        norms = [np.max(np.abs(g), initial=0.0) for g in grads]
        total = np.max(norms)
    else:
        norms = [np.linalg.norm(g.reshape(-1), norm_type) for g in grads]
        total = np.linalg.norm(np.stack(norms), norm_type)
    total = np.asarray(total, dtype=np.result_type(*grads))[()]
    if not np.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm_: the gradients' norm is {total}; the loss or its "
                                 f"gradient overflowed (lower the learning rate, or check the data)")
    scale = min(1.0, float(max_norm) / (float(total) + 1e-6))
    if scale < 1.0:
        for p, g in zip(params, grads):
            p.grad = Tensor(g * np.asarray(scale, g.dtype))
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clip every gradient element to ``[-clip_value, clip_value]``.

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0, -0.25], requires_grad=True)
    >>> (w * w).sum().backward(); w.grad
    tensor([ 6. , -0.5])
    >>> cr.nn.clip_grad_value_([w], 1.0); w.grad
    tensor([ 1. , -0.5])
    """
    c = float(clip_value)
    for p in _with_grads(parameters, "clip_grad_value_"):
        g = np.asarray(p.grad._value)
        p.grad = Tensor(np.clip(g, -c, c).astype(g.dtype, copy=False))
