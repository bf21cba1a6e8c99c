"""Saving and loading to ``.npz``: arrays only, never pickle.

``save(obj, path)`` writes ``obj.state_dict()`` (a model's or an optimiser's) with
``numpy.savez``; ``load(obj, path)`` reads it back with ``allow_pickle=False`` and
hands it to ``obj.load_state_dict``, which checks every key and shape before it
writes anything: a file of the wrong shapes, or a corrupted one, raises a clear
error and leaves ``obj`` unchanged.

>>> import os, tempfile, numpy as np, chainrule as cr
>>> net = cr.nn.MLP([2, 3, 1], rng=0)
>>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
>>> cr.nn.save(net, path)
>>> other = cr.nn.MLP([2, 3, 1], rng=1)
>>> _ = cr.nn.load(other, path)
>>> bool(np.array_equal(other.layers[0].weight.detach().numpy(), net.layers[0].weight.detach().numpy()))
True
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

__all__ = ["save", "load", "load_npz"]


def save(obj, path):
    """Write ``obj.state_dict()`` (``{name: array}``) to the ``.npz`` file ``path``."""
    state = obj.state_dict()
    arrays = {}
    for k, v in state.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise TypeError(f"save: state entry {k!r} is not a numeric array (dtype object); "
                            f"only arrays can be saved without pickle")
        arrays[k] = a
    with open(os.fspath(path), "wb") as f:  # exactly this path (np.savez would add .npz)
        np.savez(f, **arrays)


def load_npz(path):
    """``{name: array}`` from an ``.npz`` file, with ``allow_pickle=False`` and clear errors."""
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not a .npz archive of named arrays")
        with data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file {path!r}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise ValueError(f"load: {path!r} is not a readable .npz file saved by chainrule "
                         f"(corrupted, truncated, or holding pickled objects): {e}; "
                         f"nothing was loaded") from None


def load(obj, path, strict=True):
    """Read ``path`` into ``obj`` with ``obj.load_state_dict``; ``obj`` is unchanged on any error."""
    state = load_npz(path)
    if strict:
        obj.load_state_dict(state)
    else:  # models only: optimiser state is all or nothing
        obj.load_state_dict(state, strict=False)
    return obj
