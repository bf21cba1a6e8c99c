"""Numba behind :mod:`chainrule._jit.fuse`: kernels from source files, cached on disk.

Imported only when a graph has a group to compile, so ``import chainrule``
never imports Numba.  A kernel's source is written once to
``<cache dir>/fk_<hash of the source>.py`` and imported from there;
``numba.njit(cache=True)`` keeps its machine code next to it (in
``__pycache__``), keyed by that file, so a later process with the same
kernel loads the code instead of compiling it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

import numba
from numba import types

_MODULES = {}


def _module(source, directory):
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"fk_{digest}"
    mod = _MODULES.get(name)
    if mod is not None:
        return mod
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name + ".py")
    if not os.path.exists(path):  # written once, atomically: Numba's cache index keys on the file's stamp
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    modname = f"chainrule_kernel_{digest}"
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod  # Numba's disk cache finds a kernel's globals through its module
    spec.loader.exec_module(mod)
    _MODULES[name] = mod
    return mod


def forget():
    """Drop the kernel modules imported so far (their files were deleted)."""
    for name in _MODULES:
        sys.modules.pop(f"chainrule_kernel_{name[3:]}", None)
    _MODULES.clear()


def _type(dtype, ndim, layout):
    t = numba.from_dtype(dtype)
    return t if ndim == 0 else types.Array(t, ndim, layout)


def compile_kernel(source, directory, in_types, out_types, scalar_out, layout):
    """``(entry point, loaded from disk?)`` of the kernel in ``source`` for these operand types.

    Inputs are typed with ``layout``: ``C`` (contiguous, the fast loops) or
    ``A`` (any strides: views and broadcasts need no copy); outputs ``C``.  The
    entry point is called directly, without Numba's per-call type dispatch
    (the graph fixes every dtype and rank; the caller checks the layout).
    """
    disp = _module(source, directory).kernel
    sig = tuple(_type(d, n, layout) for d, n in in_types)
    if not scalar_out:
        sig += tuple(_type(d, n, "C") for d, n in out_types)
    before = sum(disp.stats.cache_hits.values())
    disp.compile(sig)
    hit = sum(disp.stats.cache_hits.values()) > before
    return disp.overloads[sig].entry_point, hit
