"""Seeded weight initialisers: Glorot (Xavier) and He (Kaiming), uniform and normal.

Each takes a ``numpy.random.Generator`` first, so a model is reproducible from a
seed, and a shape ``(fan_in, fan_out)`` (chainrule's ``Linear`` stores its weight
that way round, so that a layer is ``x @ W + b``).  They return NumPy arrays.

* Glorot & Bengio (2010), for tanh, sigmoid and linear layers: variance
  ``2 / (fan_in + fan_out)``;
* He et al. (2015), for ReLU layers: variance ``2 / fan_in``.

>>> import numpy as np
>>> from chainrule.nn import init
>>> W = init.glorot_uniform(np.random.default_rng(0), (400, 300))
>>> W.shape, bool(abs(W.var() - 2 / 700) < 2e-4)
((400, 300), True)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from chainrule.typing import DTypeLike, Shape

__all__ = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
           "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "pytorch_uniform", "zeros",
           "get"]


def _fans(shape, name):
    shape = tuple(int(d) for d in shape)
    if len(shape) < 1:
        raise ValueError(f"init.{name}: a weight needs at least one axis, got shape {shape}")
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[0] * receptive, shape[1] * receptive


def _check_rng(rng, name):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"init.{name}: pass a numpy.random.Generator, e.g. np.random.default_rng(0); "
                        f"got {type(rng).__name__}")


def glorot_uniform(rng: np.random.Generator, shape: Shape, gain: float = 1.0,
                   dtype: DTypeLike = np.float64) -> Any:
    """Uniform on ``[-a, a]`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> import numpy as np
    >>> from chainrule.nn import init
    >>> W = init.glorot_uniform(np.random.default_rng(0), (3, 5))   # a = sqrt(6 / 8)
    >>> W.shape, bool(np.abs(W).max() <= np.sqrt(6 / 8))
    ((3, 5), True)
    """
    _check_rng(rng, "glorot_uniform")
    fan_in, fan_out = _fans(shape, "glorot_uniform")
    a = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape).astype(dtype, copy=False)


def glorot_normal(rng: np.random.Generator, shape: Shape, gain: float = 1.0,
                  dtype: DTypeLike = np.float64) -> Any:
    """Normal with standard deviation ``gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import numpy as np
    >>> from chainrule.nn import init
    >>> W = init.glorot_normal(np.random.default_rng(0), (400, 600))
    >>> round(float(W.std()), 3), round(float(np.sqrt(2 / 1000)), 3)
    (0.045, 0.045)
    """
    _check_rng(rng, "glorot_normal")
    fan_in, fan_out = _fans(shape, "glorot_normal")
    return (gain * np.sqrt(2.0 / (fan_in + fan_out)) * rng.standard_normal(shape)).astype(dtype, copy=False)


def he_uniform(rng: np.random.Generator, shape: Shape, gain: float = np.sqrt(2.0),
               dtype: DTypeLike = np.float64) -> Any:
    """Uniform on ``[-a, a]`` with ``a = gain * sqrt(3 / fan_in)`` (variance ``2 / fan_in``).

    >>> import numpy as np
    >>> from chainrule.nn import init
    >>> W = init.he_uniform(np.random.default_rng(0), (6, 4))       # a = sqrt(2) sqrt(3 / 6) = 1
    >>> W.shape, bool(np.abs(W).max() <= 1.0)
    ((6, 4), True)
    """
    _check_rng(rng, "he_uniform")
    fan_in, _ = _fans(shape, "he_uniform")
    a = gain * np.sqrt(3.0 / fan_in)
    return rng.uniform(-a, a, shape).astype(dtype, copy=False)


def he_normal(rng: np.random.Generator, shape: Shape, gain: float = np.sqrt(2.0),
              dtype: DTypeLike = np.float64) -> Any:
    """Normal with standard deviation ``gain / sqrt(fan_in)`` (variance ``2 / fan_in``).

    >>> import numpy as np
    >>> from chainrule.nn import init
    >>> W = init.he_normal(np.random.default_rng(0), (800, 500))
    >>> round(float(W.std()), 3), round(float(np.sqrt(2 / 800)), 3)
    (0.05, 0.05)
    """
    _check_rng(rng, "he_normal")
    fan_in, _ = _fans(shape, "he_normal")
    return (gain / np.sqrt(fan_in) * rng.standard_normal(shape)).astype(dtype, copy=False)


def pytorch_uniform(rng: np.random.Generator, shape: Shape, dtype: DTypeLike = np.float64) -> Any:
    """Uniform on ``[-a, a]`` with ``a = 1 / sqrt(fan_in)``: PyTorch's default for ``nn.Linear``.

    (``kaiming_uniform_(a=sqrt(5))``, variance ``1 / (3 fan_in)``.)  ``Linear(...,
    init="pytorch")`` draws its bias the same way, as PyTorch does, instead of zeros.

    >>> import numpy as np
    >>> from chainrule.nn import init
    >>> W = init.pytorch_uniform(np.random.default_rng(0), (4, 3))   # a = 1 / sqrt(4)
    >>> bool(np.abs(W).max() <= 0.5)
    True
    """
    _check_rng(rng, "pytorch_uniform")
    fan_in, _ = _fans(shape, "pytorch_uniform")
    a = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-a, a, shape).astype(dtype, copy=False)


def zeros(rng: np.random.Generator, shape: Shape, dtype: DTypeLike = np.float64) -> Any:
    """Zeros (``rng`` is accepted for a uniform signature and not used).

    >>> import numpy as np
    >>> from chainrule.nn import init
    >>> init.zeros(None, (2, 2))
    array([[0., 0.],
           [0., 0.]])
    """
    return np.zeros(shape, dtype)


xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal

_BY_NAME = {"glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
            "xavier_uniform": glorot_uniform, "xavier_normal": glorot_normal,
            "he_uniform": he_uniform, "he_normal": he_normal,
            "kaiming_uniform": he_uniform, "kaiming_normal": he_normal, "zeros": zeros,
            "pytorch": pytorch_uniform, "pytorch_uniform": pytorch_uniform}


def get(init: str | Callable[..., Any]) -> Callable[..., Any]:
    """An initialiser from its name (``"glorot_uniform"``, ``"he_normal"``, ...) or itself.

    >>> from chainrule.nn import init
    >>> init.get("xavier_uniform") is init.glorot_uniform, init.get(init.zeros) is init.zeros
    (True, True)
    """
    if callable(init):
        return init
    try:
        return _BY_NAME[init]
    except KeyError:
        raise ValueError(f"unknown initialiser {init!r}; use one of {sorted(_BY_NAME)} "
                         f"or a function (rng, shape, dtype=...) -> array") from None
