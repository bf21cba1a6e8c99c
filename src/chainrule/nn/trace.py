"""The seeds' runtime interface: ``trace = forward(model, x)``, then ``backward(trace, dL/dy)``.

``forward`` runs the model once and keeps what the backward pass needs (it is a
``cr.vjp`` of ``model.apply`` in the model's current parameters); ``backward``
turns the adjoint of the output, ``dL/dy``, into ``dL/d(parameter)`` for every
parameter, as a dict by dotted path.  It may be called several times on one trace
(one call per output direction gives a Jacobian row by row).

>>> import numpy as np, chainrule as cr
>>> net = cr.nn.MLP([1, 2, 1], activation="tanh", rng=0)
>>> trace = cr.nn.forward(net, np.array([[0.8]]))
>>> grads = cr.nn.backward(trace, trace.output - 0.5)      # L = (y - 0.5)^2 / 2
>>> sorted(grads)
['layers.0.bias', 'layers.0.weight', 'layers.1.bias', 'layers.1.weight']
>>> bool(np.allclose(grads["layers.1.bias"], trace.output - 0.5))
True
"""
from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.api import vjp

__all__ = ["Trace", "forward", "backward"]


class Trace:
    """What ``forward`` recorded: ``output`` (a NumPy array), ``input`` and the parameter values.

    >>> import numpy as np, chainrule as cr
    >>> trace = cr.nn.forward(cr.nn.Linear(2, 1), np.array([[1.0, 2.0]]))
    >>> trace, trace.output.shape, sorted(trace.params)
    (Trace(Linear, input shape (1, 2), output shape (1, 1), 2 parameters), (1, 1), ['bias', 'weight'])
    """

    __slots__ = ("model", "input", "params", "output", "_vjp")

    def __init__(self, model: Any, x: Any, params: dict[str, Any], output: Any, vjp_fn: Any) -> None:
        self.model, self.input, self.params, self.output, self._vjp = model, x, params, output, vjp_fn

    def __repr__(self):
        return (f"Trace({type(self.model).__name__}, input shape {np.shape(self.input)}, "
                f"output shape {np.shape(self.output)}, {len(self.params)} parameters)")


def forward(model: Any, x: Any) -> Trace:
    """Run ``model`` on ``x`` and record the computation for :func:`backward`.

    >>> import numpy as np, chainrule as cr
    >>> model = cr.nn.Linear(2, 1)
    >>> trace = cr.nn.forward(model, np.array([[1.0, 2.0]]))
    >>> bool(np.allclose(trace.output, model(np.array([[1.0, 2.0]])).detach().numpy()))
    True
    """
    params = model.params()  # copies: a later in-place update of the model cannot change the trace
    output, vjp_fn = vjp(lambda p: model.apply(p, x), params)
    return Trace(model, x, params, output, vjp_fn)


def backward(trace: Trace, dLdy: Any) -> dict[str, Any]:
    """``{path: dL/d parameter}`` from the adjoint ``dL/dy`` of the traced output.

    ``dLdy`` has the output's shape; the gradients are NumPy arrays shaped like the
    parameters.

    >>> import numpy as np, chainrule as cr
    >>> trace = cr.nn.forward(cr.nn.Linear(2, 1), np.array([[1.0, 2.0]]))   # y = x W + b
    >>> cr.nn.backward(trace, np.ones((1, 1)))                               # dy/dW = x, dy/db = 1
    {'weight': array([[1.],
           [2.]]), 'bias': array([1.])}
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"backward: pass the Trace returned by cr.nn.forward(model, x), "
                        f"got {type(trace).__name__}")
    dLdy = np.asarray(dLdy, dtype=np.result_type(trace.output))
    if dLdy.shape != np.shape(trace.output):
        raise ValueError(f"backward: dL/dy has shape {dLdy.shape} but the traced output has shape "
                         f"{np.shape(trace.output)}; pass one adjoint per output element")
    (grads,) = trace._vjp(dLdy)
    return {name: np.asarray(grads[name]) for name in trace.params}
