"""The global random generator behind ``cr.manual_seed``, as PyTorch's ``torch.manual_seed``.

Layers made without ``rng=`` draw their initial weights from it, and a ``Dropout``
made without ``rng=`` draws its masks from it when it runs, so that
``cr.manual_seed(0)`` before building and training a model makes the run
reproducible.  Until it is called the generator is seeded from the operating
system's entropy, so unseeded runs differ, as NumPy's ``default_rng()`` does.

>>> import chainrule as cr
>>> _ = cr.manual_seed(0); a = cr.nn.Linear(2, 2).weight.detach().numpy()
>>> _ = cr.manual_seed(0); b = cr.nn.Linear(2, 2).weight.detach().numpy()
>>> bool((a == b).all())
True
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "default_generator"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator with the integer ``seed``; returns the new ``numpy.random.Generator``.

    >>> import chainrule as cr
    >>> rng = cr.manual_seed(0); w1 = cr.nn.Linear(2, 2).weight.tolist()
    >>> rng = cr.manual_seed(0); w2 = cr.nn.Linear(2, 2).weight.tolist()   # the same weights again
    >>> w1 == w2
    True
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"manual_seed: the seed must be an integer >= 0, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The global generator (the one ``manual_seed`` last set)."""
    return _generator
