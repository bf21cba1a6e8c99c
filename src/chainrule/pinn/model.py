"""The network and the loss: an input-normalised MLP and weighted mean-square terms."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

import chainrule.numpy as cnp
from chainrule.nn.layers import MLP
from chainrule.nn.module import Module

if TYPE_CHECKING:
    from chainrule.pinn.sampling import Box
    from chainrule.typing import DTypeLike

__all__ = ["Normalized", "mlp", "mse", "weighted_loss"]


class Normalized(Module):
    """``module(box.normalize(x))``: the inputs mapped from ``box`` onto ``[-1, 1]^d`` first.

    Tanh networks train best on inputs of order one (Raissi et al. normalise the same
    way).  The parameters are the wrapped module's, under ``net.``.

    >>> import chainrule as cr
    >>> box = cr.pinn.Box([0.0, -1.0], [1.0, 1.0])
    >>> net = cr.pinn.Normalized(box, cr.nn.MLP([2, 4, 1], rng=0))
    >>> list(net.params())[:1]
    ['net.layers.0.weight']
    >>> net(np.zeros((3, 2))).shape
    (3, 1)
    """

    def __init__(self, box: Box, module: Module) -> None:
        self.box = box
        self.net = module

    def forward(self, x: Any) -> Any:
        return self.net(self.box.normalize(x))

    def extra_repr(self) -> str:
        return repr(self.box)


def mlp(box: Box, sizes: Sequence[int], activation: Any = "tanh", *, rng: Any = None,
        dtype: DTypeLike = np.float64) -> Normalized:
    """``Normalized(box, cr.nn.MLP(sizes, activation))`` -- Glorot (Xavier) weights, zero biases, as
    Raissi et al.; ``sizes[0]`` must be ``box.dim``.

    >>> import chainrule as cr
    >>> net = cr.pinn.mlp(cr.pinn.Box([0, -1], [1, 1]), [2] + [20] * 8 + [1], rng=0)
    >>> net.num_parameters()
    3021
    """
    if int(sizes[0]) != box.dim:
        raise ValueError(f"pinn.mlp: the first size {sizes[0]} must equal the box's dimension {box.dim}")
    return Normalized(box, MLP(sizes, activation, rng=rng, dtype=dtype))


def mse(r: Any) -> Any:
    """``mean(r ** 2)``, the squared residual of a term.

    >>> import numpy as np, chainrule as cr
    >>> cr.pinn.mse(np.array([1.0, -3.0]))      # (1 + 9) / 2
    np.float64(5.0)
    """
    return cnp.mean(r ** 2)


def weighted_loss(terms: Mapping[str, Any], weights: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """``(sum_k w_k * terms[k], terms)`` for a dict of scalar terms (``weights`` default 1 each).

    Return both so a loss can be ``cr.value_and_grad(..., has_aux=True)``'d and every term
    logged.

    >>> total, parts = weighted_loss({"pde": 2.0, "bc": 3.0}, {"bc": 10.0})
    >>> total
    32.0
    """
    weights = {} if weights is None else dict(weights)
    unknown = set(weights) - set(terms)
    if unknown:
        raise KeyError(f"pinn.weighted_loss: weights for unknown terms {sorted(unknown)}; "
                       f"the terms are {sorted(terms)}")
    total = 0.0
    for k, v in terms.items():
        total = total + weights.get(k, 1.0) * v
    return total, dict(terms)
