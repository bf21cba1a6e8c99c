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

import math
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["save", "load", "load_npz"]


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj.state_dict()`` (``{name: array}``) to the ``.npz`` file ``path``, atomically.

    ``obj`` may also be the ``{name: array}`` dict itself, as ``torch.save(model.state_dict(), path)``
    is written; ``model.load_state_dict(cr.nn.load(path))`` reads it back.

    The file is written to a temporary file in the same folder, flushed to disk
    (``fsync``) and renamed over ``path`` (``os.replace``, atomic on POSIX and Windows),
    as TensorFlow's and Orbax's checkpoints are: a save that fails or is killed
    midway leaves the previous file whole, and concurrent savers never interleave
    (the last rename wins).

    >>> import os, tempfile, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> model = cr.nn.Linear(2, 1)
    >>> cr.nn.save(model, path)
    >>> sorted(cr.nn.load(path))
    ['bias', 'weight']
    """
    if isinstance(obj, Mapping):
        state = obj
    elif callable(getattr(obj, "state_dict", None)):
        state = obj.state_dict()
    else:
        raise TypeError(f"save: pass a model, an optimiser or a state dict ({{name: array}}), got "
                        f"{type(obj).__name__}")
    arrays = {}
    for k, v in state.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise TypeError(f"save: state entry {k!r} is not a numeric array (dtype object); "
                            f"only arrays can be saved without pickle")
        arrays[k] = a
    save_arrays(arrays, path)


def save_arrays(arrays, path):
    """``np.savez(path, **arrays)``, atomically (see :func:`save`), to exactly ``path``."""
    path = os.fspath(path)  # exactly this path (np.savez would add .npz)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):  # keep the permissions the file had (mkstemp makes it 0600)
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


#: deflate cannot expand data more than about 1032-fold: a member whose header declares
#: more bytes than that is lying about its size, and is refused before it is read.
_DEFLATE_RATIO = 1100


def load_npz(path, expected=None, max_bytes=None):
    """``{name: array}`` from an ``.npz`` file, with ``allow_pickle=False`` and clear errors.

    Every member's ``.npy`` header (name, shape, dtype) is checked before any
    data is decompressed: object dtypes (pickle) are refused, and so is a
    declared size larger than the member can hold, or (``max_bytes``) than
    all the arrays may take together.  With ``expected`` (``{name: array}``,
    what the file should hold), an entry of another shape raises
    ``ValueError`` naming it, and an entry not in ``expected`` is not read: it
    comes back as a zero-cost read-only stand-in of its declared shape
    (``np.broadcast_to``), for the caller's key check.

    >>> import io, numpy as np, chainrule as cr
    >>> f = io.BytesIO(); np.savez(f, w=np.ones(2)); _ = f.seek(0)
    >>> from chainrule.nn.serialization import load_npz
    >>> load_npz(f, max_bytes=8)
    Traceback (most recent call last):
        ...
    ValueError: load: 'w' declares shape (2,) float64 (16 bytes), more than max_bytes=8 for the whole file; nothing was loaded
    """
    state, mismatches = _read_npz(path, expected, max_bytes)
    if mismatches:
        key, want, got, extra = mismatches[0]
        raise ValueError(f"load: {key!r} has shape {got}, expected {want}; nothing was loaded{extra}")
    return state


def _read_npz(path, expected, max_bytes):
    """``(state, mismatches)``: ``load_npz``'s reading, shape mismatches listed, not raised."""
    name = path if hasattr(path, "read") else os.fspath(path)
    try:
        with zipfile.ZipFile(name) as zf:
            archive = _length(zf.fp)
            headers = [(info, _npy_header(zf, info)) for info in zf.infolist()]
            out, total, mismatches = {}, 0, []
            for info, (key, shape, dtype, nbytes) in headers:
                what = f"{key!r} declares shape {shape} {dtype} ({nbytes} bytes)"
                if dtype.hasobject:
                    raise _Refused(f"{what}: Python objects, which would need pickle (allow_pickle=False)")
                ref = None if expected is None else expected.get(key)
                if expected is not None and ref is None:  # not wanted: never decompressed
                    out[key] = np.broadcast_to(np.zeros((), dtype), shape)
                    continue
                if ref is not None and shape != np.shape(ref):  # refused, but after the key check
                    mismatches.append((key, np.shape(ref), shape, f"; the file declares "
                                       f"{dtype}{list(shape)}, {nbytes} bytes, and was not read"))
                    out[key] = np.broadcast_to(np.zeros((), dtype), shape)
                    continue
                # the sizes in the zip directory are the file's word too: the archive's own
                # length bounds the stored bytes
                stored = min(info.compress_size, archive)
                room = min(info.file_size, stored if info.compress_type == zipfile.ZIP_STORED
                           else stored * _DEFLATE_RATIO)
                if nbytes > room:
                    raise _Refused(f"{what}, but its member holds at most {room} bytes (truncated, "
                                   f"or a forged header)")
                total += nbytes
                if max_bytes is not None and total > max_bytes:
                    raise _Refused(f"{what}, more than max_bytes={max_bytes} for the whole file")
                with zf.open(info) as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
            return out, mismatches
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file {name!r}") from None
    except _Refused as e:
        raise ValueError(f"load: {e}; nothing was loaded") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise ValueError(f"load: {name!r} is not a readable .npz file saved by chainrule "
                         f"(corrupted, truncated, or holding pickled objects): {e}; "
                         f"nothing was loaded") from None


class _Refused(Exception):
    pass


def _length(f):
    """The length in bytes of the open file ``f``."""
    here = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(here)
    return end


def _npy_header(zf, info):
    """``(key, shape, dtype, nbytes)`` from the ``.npy`` header of a zip member, reading nothing else."""
    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"entry {key!r} uses zip compression method {info.compress_type}; "
                         f"numpy.savez writes stored or deflated entries only")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"entry {key!r} is a .npy file of version {version}, which is not read")
        shape, _, dtype = read(f)
    return key, shape, dtype, math.prod(shape) * dtype.itemsize


def load(obj: Any, path: str | os.PathLike[str] | None = None, strict: bool = True) -> Any:
    """Read ``path`` into ``obj`` with ``obj.load_state_dict``; ``obj`` is unchanged on any error.

    ``load(path)`` alone returns the file's ``{name: array}`` dict (``load_npz``), as
    ``torch.load(path)``: ``model.load_state_dict(cr.nn.load(path))``.

    Names, shapes and dtypes are checked from the file's headers against
    ``obj.state_dict()`` before any array is decompressed, so a file of the
    wrong shapes costs nothing to refuse and an extra entry is never read.

    >>> import os, tempfile, numpy as np, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> a, b = cr.nn.Linear(2, 1), cr.nn.Linear(2, 1)
    >>> cr.nn.save(a, path)
    >>> cr.nn.load(b, path)                       # b now has a's weights
    Linear(in_features=2, out_features=1, bias=True)
    >>> bool(np.array_equal(a.weight.detach().numpy(), b.weight.detach().numpy()))
    True
    """
    if path is None:
        if callable(getattr(obj, "load_state_dict", None)):
            raise TypeError(f"load: pass the path to read into the {type(obj).__name__}: load(obj, path)")
        return load_npz(obj)
    every = getattr(obj, "_expected_state", None)  # a state whose keys vary (LBFGS's history)
    expected = obj.state_dict() if every is None else every()
    state, mismatches = _read_npz(path, expected, None)
    unexpected = [k for k in state if k not in expected]
    if every is not None and unexpected:
        raise KeyError(f"{type(obj).__name__}.load_state_dict: unexpected keys {unexpected} (the keys "
                       f"are step, lr and at most {len(expected) - 2} others); nothing was loaded")
    if strict and every is None and set(state) != set(expected):
        obj.load_state_dict(state)  # raises, naming the missing and unexpected keys; no stand-in is read
        raise RuntimeError("load: internal error, a state with other keys was accepted; please report it")
    if mismatches:
        key, want, got, extra = mismatches[0]
        from chainrule.nn.module import Module, shape_error
        if isinstance(obj, Module):
            raise shape_error(type(obj).__name__, key, want, got, extra)
        raise ValueError(f"{type(obj).__name__}.load_state_dict: {key!r} has shape {got}, expected "
                         f"{want}; nothing was loaded{extra}")
    if strict:
        obj.load_state_dict(state)
    else:  # models only: optimiser state is all or nothing
        obj.load_state_dict(state, strict=False)
    return obj
