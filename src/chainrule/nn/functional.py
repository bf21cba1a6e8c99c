"""``cr.nn.functional``: activations and losses as plain differentiable functions.

They take NumPy arrays, tape ``Tensor``\\ s or the tracers of any transform, so the
same code runs eagerly, under ``cr.grad`` and under ``cr.vmap``.

>>> import numpy as np, chainrule as cr
>>> from chainrule.nn import functional as F
>>> logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
>>> round(float(F.cross_entropy(logits, np.array([0, 2]))), 6)
0.634229
>>> F.relu(np.array([-1.0, 0.0, 2.0]))
array([0., 0., 2.])
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

import chainrule.numpy as cnp
from chainrule._core.primitive import TRACER_TYPES
from chainrule._ops._wrap import peel, raw
from chainrule._ops.nn import log_softmax
from chainrule.nn.conv import conv1d, conv2d, embedding, layer_norm  # noqa: F401  (re-exported)

__all__ = ["tanh", "relu", "sigmoid", "log_sigmoid", "gelu", "softplus", "identity", "softmax", "log_softmax",
           "mse_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "get_activation", "conv1d", "conv2d", "layer_norm", "embedding", "dropout"]

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_REDUCTIONS = ("mean", "sum", "none")
_TINY = 1e-45  # > 0 in float32 too (a subnormal); log(_TINY) < -100


# -- activations -----------------------------------------------------------------------

def tanh(x: Any) -> Any:
    """``tanh(x)``.

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.tanh(np.array([-1.0, 0.0, 2.0]))
    array([-0.76159416,  0.        ,  0.96402758])
    """
    return cnp.tanh(x)


def relu(x: Any) -> Any:
    """``max(x, 0)``, with derivative 0 at 0 (as PyTorch and JAX).

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    return cnp.where(x > 0, x, 0.0)


def sigmoid(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))``, stable for any ``x``.

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.sigmoid(np.array([-1.0, 0.0, 2.0]))
    array([0.26894142, 0.5       , 0.88079708])
    """
    return cnp.special.expit(x)


def log_sigmoid(x: Any) -> Any:
    """``log(sigmoid(x))``, computed as ``-softplus(-x)``: finite and exact for any ``x``.

    The naive ``log(sigmoid(x))`` is ``-inf`` below about -745 (the sigmoid
    underflows); this is ``x`` there, and its derivative ``sigmoid(-x)``.

    >>> from chainrule.nn import functional as F
    >>> [float(F.log_sigmoid(x)) for x in (-1000.0, 0.0, 1000.0)]
    [-1000.0, -0.6931471805599453, -0.0]
    """
    return -cnp.special.softplus(-x)


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, stable for any ``x``.

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.softplus(np.array([-1.0, 0.0, 2.0]))
    array([0.31326169, 0.69314718, 2.12692801])
    """
    return cnp.special.softplus(x)


def identity(x: Any) -> Any:
    """``x``.

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.identity(np.array([-1.0, 0.0, 2.0]))
    array([-1.,  0.,  2.])
    """
    return x


def gelu(x: Any, approximate: str = "none") -> Any:
    """The Gaussian error linear unit ``x Phi(x)``.

    ``approximate="none"`` is the exact form with ``erf`` (needs SciPy:
    ``pip install 'chainrule[special]'``); ``approximate="tanh"`` is the tanh
    approximation of Hendrycks & Gimpel, NumPy only.  Both match PyTorch's
    ``gelu``.

    >>> from chainrule.nn import functional as F
    >>> round(float(F.gelu(1.0, approximate="tanh")), 6)
    0.841192
    """
    if approximate == "tanh":
        return 0.5 * x * (1.0 + cnp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1.0 + cnp.special.erf(x * float(1 / np.sqrt(2.0))))


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x) / sum(exp(x))`` along ``axis``, computed as ``exp(log_softmax(x))`` (stable).

    >>> from chainrule.nn import functional as F
    >>> F.softmax(np.array([1000.0, 1000.0]))
    array([0.5, 0.5])
    """
    return cnp.exp(log_softmax(x, axis))


def dropout(input: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Any:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` if ``training``
    (else ``input`` itself), as ``torch.nn.functional.dropout``; ``rng`` (a ``Generator``)
    draws the mask, by default the global one that ``cr.manual_seed`` sets.

    >>> from chainrule.nn import functional as F
    >>> F.dropout(np.ones(6), 0.5, rng=np.random.default_rng(0))
    array([2., 0., 0., 0., 2., 2.])
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    shape = getattr(input, "shape", None)
    if shape is None:
        input = np.asarray(input)
        shape = input.shape
    dtype = getattr(input, "dtype", np.float64)
    if p == 1.0:
        return input * np.zeros(shape, dtype)
    from chainrule._seed import default_generator
    keep = (rng or default_generator()).random(shape) >= p
    return input * (keep * (1.0 / (1.0 - p))).astype(dtype)


_ACTIVATIONS = {"tanh": tanh, "relu": relu, "sigmoid": sigmoid, "gelu": gelu,
                "softplus": softplus, "identity": identity, "linear": identity, None: identity}


def get_activation(activation: str | Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """An activation function from its name (``"tanh"``, ``"relu"``, ...), ``None`` or itself.

    >>> from chainrule.nn import functional as F
    >>> F.get_activation("relu") is F.relu, F.get_activation(None) is F.identity, F.get_activation(abs) is abs
    (True, True, True)
    """
    if callable(activation):
        return activation
    try:
        return _ACTIVATIONS[activation]
    except (KeyError, TypeError):
        names = sorted(k for k in _ACTIVATIONS if k)
        raise ValueError(f"unknown activation {activation!r}; use one of {names}, None, "
                         f"or a function") from None


# -- losses ----------------------------------------------------------------------------

def _reduce(per_example, reduction, fn):
    if reduction == "mean":
        return cnp.mean(per_example)
    if reduction == "sum":
        return cnp.sum(per_example)
    if reduction == "none":
        return per_example
    raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _shape(x):
    return x.shape if hasattr(x, "shape") else np.shape(x)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean squared error ``mean((input - target)^2)`` (``reduction``: mean, sum or none).

    >>> from chainrule.nn import functional as F
    >>> F.mse_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    np.float64(2.5)
    """
    if _shape(input) != _shape(target):
        raise ValueError(f"mse_loss: input has shape {_shape(input)} but target has shape "
                         f"{_shape(target)}; they must match (reshape one, e.g. y[:, None])")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def cross_entropy(logits: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
    """Softmax cross-entropy from unnormalised ``logits`` of shape ``(..., classes)``.

    ``target`` is either integer class indices of shape ``logits.shape[:-1]``, or
    probabilities of the same shape as ``logits``.  Computed as
    ``-sum(onehot * log_softmax(logits))`` with the fused, stable ``log_softmax``
    primitive: finite whenever the target's logits are finite, even with other logits of
    ``-inf`` (masked classes) or ``±1e308``; a class of weight 0 contributes 0 to the loss
    and its gradient (as PyTorch).  Under ``vmap`` the integer labels may
    be batched too.  ``label_smoothing = e`` mixes the target with the uniform
    distribution, ``(1 - e) target + e / classes``, as PyTorch does.

    >>> from chainrule.nn import functional as F
    >>> F.cross_entropy(np.array([[1000.0, 0.0]]), np.array([1]))
    np.float64(1000.0)
    >>> round(float(F.cross_entropy(np.array([[2.0, -np.inf, 0.5]]), np.array([0]))), 6)
    0.201413
    """
    shape = _shape(logits)
    if len(shape) < 1:
        raise ValueError("cross_entropy: logits must have a class axis (shape (..., classes)), "
                         "got a scalar")
    tshape = _shape(target)
    tdtype = getattr(target, "dtype", None)
    if tdtype is None:
        target = np.asarray(target)
        tdtype = target.dtype
    logp = log_softmax(logits, axis=-1)
    if np.dtype(tdtype).kind in "iu":
        if tuple(tshape) != tuple(shape[:-1]):
            raise ValueError(f"cross_entropy: integer targets (class indices) must have shape "
                             f"{tuple(shape[:-1])} for logits of shape {tuple(shape)}, got {tuple(tshape)}")
        onehot = _one_hot(target, shape[-1], getattr(logits, "dtype", np.float64))
    elif tuple(tshape) == tuple(shape):
        onehot = target
    else:
        raise ValueError(f"cross_entropy: target must be class indices of shape {tuple(shape[:-1])} "
                         f"or probabilities of shape {tuple(shape)}, got shape {tuple(tshape)} "
                         f"and dtype {tdtype}")
    if label_smoothing:
        e = float(label_smoothing)
        if not 0.0 <= e <= 1.0:
            raise ValueError(f"cross_entropy: label_smoothing must lie in [0, 1], got {e}")
        onehot = onehot * (1.0 - e) + e / shape[-1]
    known = peel(logp)
    if known is None or np.isinf(known).any():
        # log_softmax is -inf for a logit of -inf (a mask) or ~1e308 below the largest, and
        # 0 * -inf = nan: a class of weight 0 contributes 0 to the loss and its gradient.
        logp = cnp.where(raw(onehot) == 0, 0.0, logp)
    # The -1 and the 1/N of the mean are folded into the (usually constant) one-hot
    # weights, so the whole loss records three operations: log_softmax, multiply, sum.
    if reduction == "mean":
        n = math.prod(shape[:-1])
        return cnp.sum(logp * (onehot * (-1.0 / n)))
    if reduction == "sum":
        return cnp.sum(logp * -onehot)
    return _reduce(-cnp.sum(onehot * logp, axis=-1), reduction, "cross_entropy")


def _one_hot(labels, n, dtype):
    classes = np.arange(n)
    values = labels
    while type(values) in TRACER_TYPES:  # tape labels, or batched ones under vmap: their values
        values = values._value
    values = np.asarray(values) if isinstance(values, (np.ndarray, np.generic, int, list)) else None
    if values is not None and values.size and (values.min() < 0 or values.max() >= n):
        raise ValueError(f"cross_entropy: class indices must lie in [0, {n}) for {n} classes (the "
                         f"logits' last axis), got values from {values.min()} to {values.max()}")
    if type(labels) in TRACER_TYPES:
        return cnp.astype(cnp.expand_dims(labels, -1) == classes, dtype)
    return (np.asarray(labels)[..., None] == classes).astype(dtype)


def binary_cross_entropy(input: Any, target: Any, reduction: str = "mean") -> Any:
    """``-(t log p + (1 - t) log(1 - p))`` for probabilities ``input = p``.

    As in PyTorch, each log is clamped at -100 so that ``p`` of exactly 0 or 1 gives
    a finite loss, and the gradient is that of the clamped loss: finite everywhere, 0 from
    a clamped log (PyTorch's backward differs at exactly 0 and 1: there it returns
    ``(p - t) / 1e-12``).  From logits, ``binary_cross_entropy_with_logits`` is more
    accurate.

    >>> from chainrule.nn import functional as F
    >>> round(float(F.binary_cross_entropy(np.array([0.9, 0.2]), np.array([1.0, 0.0]))), 6)
    0.164252
    """
    if _shape(input) != _shape(target):
        raise ValueError(f"binary_cross_entropy: input has shape {_shape(input)} but target has "
                         f"shape {_shape(target)}; they must match")
    # log(max(p, 1e-45)), not log(p): at p = 0 the clamp takes the gradient, and log'(0) =
    # inf times that zero would be nan.  The values are those of max(log p, -100).
    log_p = cnp.maximum(cnp.log(cnp.maximum(input, _TINY)), -100.0)
    log_1mp = cnp.maximum(cnp.log(cnp.maximum(1.0 - input, _TINY)), -100.0)
    return _reduce(-(target * log_p + (1.0 - target) * log_1mp), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Any:
    """``binary_cross_entropy(sigmoid(logits), target)``, computed stably as ``softplus(z) - t z``.

    >>> from chainrule.nn import functional as F
    >>> F.binary_cross_entropy_with_logits(np.array([1000.0]), np.array([0.0]))
    np.float64(1000.0)
    """
    if _shape(logits) != _shape(target):
        raise ValueError(f"binary_cross_entropy_with_logits: logits have shape {_shape(logits)} "
                         f"but target has shape {_shape(target)}; they must match")
    return _reduce(cnp.special.softplus(logits) - target * logits, reduction,
                   "binary_cross_entropy_with_logits")
