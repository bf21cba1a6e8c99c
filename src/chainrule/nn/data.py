"""``DataLoader``: mini-batches of arrays, PyTorch's ``torch.utils.data.DataLoader`` for NumPy data.

``DataLoader((X, y), batch_size=32, shuffle=True, seed=0)`` yields ``(xb, yb)`` tuples of
NumPy arrays, slices of the arrays along their first axis.  Each pass (``for xb, yb in
loader``) is one epoch: with ``shuffle`` every epoch draws a new order from the loader's
generator, so epochs differ while the whole run is reproducible from ``seed`` (without a
seed, the order comes from the global generator that ``cr.manual_seed`` sets).
``drop_last`` drops a last batch smaller than ``batch_size``; ``len(loader)`` is the
number of batches in an epoch.

>>> import numpy as np, chainrule as cr
>>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
>>> [yb.tolist() for _, yb in cr.nn.DataLoader((X, y), batch_size=2)]
[[0, 1], [2, 3], [4]]
>>> loader = cr.nn.DataLoader((X, y), batch_size=2, shuffle=True, drop_last=True, seed=0)
>>> len(loader), [[yb.tolist() for _, yb in loader] for epoch in range(2)]
(2, [[[2, 4], [3, 0]], [[4, 1], [2, 0]]])
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from chainrule._seed import default_generator

__all__ = ["DataLoader"]


class DataLoader:
    """Batches of ``data`` -- an array, or a tuple / list / dict of arrays of one length.

    Yields what ``data`` is made of: arrays for an array, tuples for a tuple or list, dicts
    for a dict.  ``seed`` (an int or a ``numpy.random.Generator``) fixes the shuffles.

    >>> import numpy as np, chainrule as cr
    >>> loader = cr.nn.DataLoader((np.arange(5.0), np.arange(5)), batch_size=2)
    >>> len(loader), [(x.tolist(), y.tolist()) for x, y in loader]
    (3, [([0.0, 1.0], [0, 1]), ([2.0, 3.0], [2, 3]), ([4.0], [4])])
    >>> len(cr.nn.DataLoader(np.arange(5.0), batch_size=2, shuffle=True, drop_last=True, seed=0))
    2
    """

    def __init__(self, data: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, *,
                 seed: Any = None) -> None:
        if isinstance(data, dict):
            self._keys, arrays = list(data), [np.asarray(v) for v in data.values()]
        elif isinstance(data, (tuple, list)):
            self._keys, arrays = None, [np.asarray(v) for v in data]
        else:
            self._keys, arrays = False, [np.asarray(data)]
        if not arrays or any(a.ndim == 0 for a in arrays):
            raise ValueError("DataLoader: data must be an array or a tuple/list/dict of arrays with a first "
                             "(example) axis")
        n = {len(a) for a in arrays}
        if len(n) != 1:
            raise ValueError(f"DataLoader: the arrays hold different numbers of examples "
                             f"{[len(a) for a in arrays]}; their first axes must match")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.arrays, self.n = arrays, n.pop()
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        if seed is None or isinstance(seed, np.random.Generator):
            self.rng = seed
        else:
            self.rng = np.random.default_rng(int(seed))

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Any]:
        order = (self.rng or default_generator()).permutation(self.n) if self.shuffle else None
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            if order is None:
                idx = slice(start, start + self.batch_size)  # views, no copy
            else:
                idx = order[start:start + self.batch_size]
            batch = [a[idx] for a in self.arrays]
            if self._keys is False:
                yield batch[0]
            elif self._keys is None:
                yield tuple(batch)
            else:
                yield dict(zip(self._keys, batch))

    def __repr__(self):
        return (f"DataLoader({self.n} examples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")
