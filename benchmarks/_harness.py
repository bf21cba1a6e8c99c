"""Shared pieces of the benchmark suite: peers, timing, tables, machine info.

Peer frameworks (PyTorch, JAX, HIPS autograd, micrograd) are imported
lazily, on first use, and a missing one is reported rather than fatal.
Import ``_env`` before this module so that every thread pool is pinned.
"""
from __future__ import annotations

import gc
import importlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time

import _env  # noqa: F401  (pins the threads before NumPy loads)
import numpy as np

INSTALL_HINT = 'pip install -e ".[bench]"'

# -- peers ----------------------------------------------------------------------

_PEERS: dict = {}
_MISSING: dict = {}


def _load_torch():
    import torch
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started
        pass
    return torch


def _load_jax():
    import jax
    jax.config.update("jax_enable_x64", True)  # float64 as in NumPy; float32 stays float32
    jax.config.update("jax_platforms", "cpu")
    import jax.numpy  # noqa: F401
    return jax


def _load_autograd():
    import autograd
    import autograd.numpy  # noqa: F401
    return autograd


def _load_micrograd():
    import micrograd.engine
    return micrograd


_LOADERS = {"torch": _load_torch, "jax": _load_jax, "autograd": _load_autograd,
            "micrograd": _load_micrograd}


def peer(name):
    """The peer framework's module, imported on first use; None if it is not installed."""
    if name in _PEERS:
        return _PEERS[name]
    try:
        mod = _LOADERS[name]()
    except ImportError as e:  # not installed (or broken): skip, and say so in the tables
        _MISSING[name] = f"{type(e).__name__}: {e}"
        mod = None
    _PEERS[name] = mod
    return mod


def skipped(name):
    """The table note for a peer that is not installed."""
    return f"skipped: {name} not installed ({INSTALL_HINT})"


# -- timing ----------------------------------------------------------------------

class Timing:
    """Best (and median) seconds per call over ``repeats`` runs of ``number`` calls.

    ``cores`` is process CPU time / wall time over the timed runs: about 1.0
    for single-threaded work (a busy-waiting helper thread also raises it).
    """

    __slots__ = ("best", "median", "number", "repeats", "cores")

    def __init__(self, best, median, number, repeats, cores):
        self.best, self.median, self.number, self.repeats = best, median, number, repeats
        self.cores = cores

    def as_dict(self):
        return {"best_s": self.best, "median_s": self.median, "number": self.number,
                "repeats": self.repeats, "cpu_time_over_wall_time": self.cores}


MULTICORE = 1.3  # a cpu/wall ratio above this is flagged in the tables


def cores_note(timings):
    """A table note for rows whose timed runs kept more than one core busy."""
    busy = [f"{name} ({t.cores:.1f})" for name, t in timings if t is not None and t.cores > MULTICORE]
    if not busy:
        return []
    return ["(!) CPU time / wall time above 1.3, i.e. more than one core busy: " + ", ".join(busy)]


def measure(fn, *, repeats, min_time, warmup=2):
    """Time one callable; see :func:`measure_all`."""
    return measure_all([fn], repeats=repeats, min_time=min_time, warmup=warmup)[0]


def measure_all(fns, *, repeats, min_time, warmup=2):
    """Time each of ``fns``: a few warm-up calls, then the best of ``repeats`` runs.

    Each callable gets ``warmup`` calls first (JAX compiles here), which also
    set the number of calls per run so that one run lasts about ``min_time``
    seconds.  The runs are interleaved round-robin (run 1 of every callable,
    then run 2 of every callable, ...), so a burst of other load on the
    machine hits one run of many rows rather than every run of one row, and
    best-of-``repeats`` filters it out.

    As ``timeit`` does, the cyclic garbage collector is off during a timed
    run; it runs before each one.  Of the frameworks here only micrograd
    leaves cyclic garbage (its closures reference their own nodes); for the
    others gc on or off changes the times by ~1%, while micrograd's times
    would depend on how many objects the process holds (PyTorch and JAX
    loaded make every full collection slower).
    """
    numbers = []
    for fn in fns:
        one = float("inf")
        for _ in range(max(warmup, 1)):
            t0 = time.perf_counter()
            fn()
            one = min(one, time.perf_counter() - t0)
        numbers.append(max(1, int(round(min_time / max(one, 1e-9)))))
    runs = [[] for _ in fns]
    wall = [0.0] * len(fns)
    cpu = [0.0] * len(fns)
    was_enabled = gc.isenabled()
    try:
        for _ in range(repeats):
            for i, (fn, number) in enumerate(zip(fns, numbers)):
                gc.collect()
                gc.disable()
                c0 = time.process_time()
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                t1 = time.perf_counter()
                cpu[i] += time.process_time() - c0
                wall[i] += t1 - t0
                runs[i].append((t1 - t0) / number)
                if was_enabled:
                    gc.enable()
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()
    return [Timing(min(r), statistics.median(r), n, repeats, c / w if w else 1.0)
            for r, n, c, w in zip(runs, numbers, cpu, wall)]


# -- tables ----------------------------------------------------------------------

DASH = "—"


def fnum(x):
    """A time with about three significant digits."""
    if x is None:
        return DASH
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fratio(x):
    return DASH if x is None else f"{x:.2f}x"


def ratio_rows(results, time_key, err_key, floor_name, torch_names, jax_jit_name=None):
    """Add ``ratio_to_floor`` / ``ratio_to_torch`` (to the fastest of ``torch_names``) to
    each timed row of ``results``; return the table rows
    ``[name, time, vs floor, vs PyTorch, error, note]`` (dashes for skipped peers).

    With ``jax_jit_name`` (the row of the compiled JAX reference) each row also
    gets ``ratio_to_jax_jit`` and the table a ``vs jax.jit`` column before the error.
    """
    by = {r["name"]: r for r in results if "skipped" not in r}
    floor = by[floor_name][time_key]
    torch_ts = [by[n][time_key] for n in torch_names if n in by]
    torch_t = min(torch_ts) if torch_ts else None
    jax_t = by[jax_jit_name][time_key] if jax_jit_name in by else None
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["name"], DASH, DASH, DASH] + ([DASH] if jax_jit_name else []) + [DASH, r["skipped"]])
            continue
        r["ratio_to_floor"] = r[time_key] / floor
        r["ratio_to_torch"] = r[time_key] / torch_t if torch_t else None
        cells = [r["name"], fnum(r[time_key]), fratio(r["ratio_to_floor"]), fratio(r["ratio_to_torch"])]
        if jax_jit_name:
            r["ratio_to_jax_jit"] = r[time_key] / jax_t if jax_t else None
            cells.append(fratio(r["ratio_to_jax_jit"]))
        rows.append(cells + [f"{r[err_key]:.0e}", r["note"]])
    return rows


def table(headers, rows, notes=(), left=(0,)):
    """An aligned text table: the columns in ``left`` left-aligned, the others right-aligned.

    A row given as a plain string spans the table.
    """
    widths = [len(h) for h in headers]
    for r in rows:
        if isinstance(r, str):
            continue
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    total = sum(widths) + 2 * (len(widths) - 1)
    lines = [line(headers), "-" * total]
    for r in rows:
        lines.append(r if isinstance(r, str) else line(r))
    lines += list(notes)
    return "\n".join(lines)


def banner(title):
    return f"\n{title}\n{'=' * len(title)}"


# -- machine info -----------------------------------------------------------------

def _cpu_model():
    """'model name' from /proc/cpuinfo, with family/model and the widest SIMD (Linux)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if not ln.strip():
                    break  # the first processor is enough
                k, _, v = ln.partition(":")
                fields[k.strip().lower()] = v.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    extra = []
    if "cpu family" in fields and "model" in fields:
        extra.append(f"family {fields['cpu family']} model {fields['model']}")
    flags = set(fields.get("flags", "").split())
    simd = [f for f in ("avx512f", "avx2", "avx") if f in flags]
    if simd:
        extra.append(simd[0])
    return f"{name} ({', '.join(extra)})" if extra else name


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas():
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg.get('name')} {cfg.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        return "unknown"


def _git_rev():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{rev}{' + uncommitted changes in src/' if dirty else ''}" if rev else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info():
    import chainrule
    info = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": f"{np.__version__} ({_blas()})",
        "chainrule": f"{chainrule.__version__}" + (f" (git {_git_rev()})" if _git_rev() else ""),
    }
    for label, dist in [("torch", "torch"), ("jax", "jax"), ("jaxlib", "jaxlib"),
                        ("autograd", "autograd"), ("micrograd", "micrograd")]:
        info[label] = _version(dist) or f"not installed ({INSTALL_HINT})"
    info["threads"] = ", ".join(f"{k}={os.environ[k]}" for k in
                                ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    info["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    info["affinity"] = (f"process pinned to CPU {_env.PINNED_CPU}" if _env.PINNED_CPU is not None
                        else "not pinned (os.sched_setaffinity unavailable)")
    return info


def print_machine_info(info):
    print(banner("Machine"))
    w = max(len(k) for k in info)
    for k, v in info.items():
        print(f"{k.ljust(w)}  {v}")
    print("torch.set_num_threads(1) is called when PyTorch is first imported.")
    sys.stdout.flush()
