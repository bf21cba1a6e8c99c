"""(g) Compile time: the first call of a jitted step in a fresh process, cold and warm disk cache.

Workloads: benchmark (b)'s MLP step (784-256-256-10, batch 128, float64 and
float32; ``cr.jit`` of value_and_grad + update) and benchmark (f)'s PINN
loss and gradient (2-20-20-20-20-1).  Each measurement runs in a fresh
Python process (``python bench_compile.py --child ...``), which imports
everything first and then times

* the first two calls (``cr.jit``'s first call traces, optimises and generates
  code; fused kernels are compiled, or loaded from the disk cache, when the
  code first reaches them -- for a step whose first call is the trace, that is
  the second call), and
* a steady call (the compiled code only, best of five);

``compile`` = first two calls - 2 x steady: everything a user waits for before
the step runs at its steady speed.  "cold" runs with an empty directory in
``CHAINRULE_JIT_CACHE`` (the disk cache of compiled graphs), "warm" runs
again in a new process with the directory the cold run left.  The table
says how many files the cold run wrote there: none means this build has no
disk cache, and warm is then a second cold run.  ``jax.jit`` runs the same
way, with JAX's persistent compilation cache (``jax_compilation_cache_dir``,
no minimum compile time) as its disk cache.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

WORKLOADS = ("mlp-f64", "mlp-f32", "pinn")
TARGET_S = 0.5   # issue 11: warm-cache compile of (b)'s step


# -- the child process -------------------------------------------------------------------------

def _child_chainrule(workload):
    import numpy as np

    if workload.startswith("mlp"):
        import bench_mlp
        dtype = np.float64 if workload == "mlp-f64" else np.float32
        params, X, labels, Y = bench_mlp.make_data(dtype)
        update = bench_mlp.make_chainrule_jit(params, X, labels, Y)[3]
        return lambda: update(params, X, labels, Y)
    import bench_pinn
    import chainrule as cr
    import chainrule.numpy as cnp
    params, data = bench_pinn.make_data(bench_pinn.SMALL)
    f = cr.jit(cr.value_and_grad(bench_pinn.make_functional_loss(cr.grad, cnp.concatenate, cnp.tanh, cnp.mean)))
    return lambda: f(params, *data)


def _child_jax(workload, cache_dir):
    import numpy as np

    import _harness
    jax = _harness.peer("jax")
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if workload.startswith("mlp"):
        import bench_mlp
        dtype = np.float64 if workload == "mlp-f64" else np.float32
        params, X, labels, Y = bench_mlp.make_data(dtype)
        step = bench_mlp.make_jax(params, X, labels, Y)[0]
        return step
    import bench_pinn
    jnp = jax.numpy
    params, data = bench_pinn.make_data(bench_pinn.SMALL)
    f = jax.jit(jax.value_and_grad(bench_pinn.make_functional_loss(jax.grad, jnp.concatenate, jnp.tanh, jnp.mean)))
    jp = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    jd = tuple(jnp.asarray(a) for a in data)
    return lambda: jax.block_until_ready(f(jp, *jd))


def child(framework, workload, cache_dir):
    """Build the workload, time its first and a steady call; print one JSON line."""
    sys.path.insert(0, HERE)
    import _env  # noqa: F401
    import chainrule  # noqa: F401  (imports are not part of the compile time)
    fn = _child_chainrule(workload) if framework == "chainrule" else _child_jax(workload, cache_dir)
    t0 = time.perf_counter()
    fn()
    fn()
    first = time.perf_counter() - t0
    steady = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        steady = min(steady, time.perf_counter() - t0)
    print(json.dumps({"first_s": first, "steady_s": steady, "compile_s": max(first - 2 * steady, 0.0)}))


# -- the parent --------------------------------------------------------------------------------

def _spawn(framework, workload, cache_dir):
    import chainrule
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.abspath(chainrule.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([src] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["CHAINRULE_JIT_CACHE"] = cache_dir
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", framework, workload, cache_dir],
                         env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"compile-time child ({framework}, {workload}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _files(d):
    return sum(len(fs) for _, _, fs in os.walk(d))


def measure(framework, workload, repeats):
    """Min over ``repeats`` (cold, warm) pairs, each pair with its own fresh cache directory."""
    best = {"cold": None, "warm": None}
    files = 0
    for _ in range(repeats):
        d = tempfile.mkdtemp(prefix=f"cr-compile-{framework}-")
        try:
            for kind in ("cold", "warm"):
                r = _spawn(framework, workload, d)
                if kind == "cold":
                    files = _files(d)
                if best[kind] is None or r["first_s"] < best[kind]["first_s"]:
                    best[kind] = r
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return {"cold": best["cold"], "warm": best["warm"], "cache_files_after_cold": files}


def run(quick=False):
    from _harness import DASH, fnum, peer, table
    repeats = 1 if quick else 3
    workloads = ("mlp-f64", "pinn") if quick else WORKLOADS
    have_jax = peer("jax") is not None
    results, rows = [], []
    for workload in workloads:
        for framework in ("chainrule", "jax") if have_jax else ("chainrule",):
            r = measure(framework, workload, repeats)
            r.update(framework=framework, workload=workload)
            results.append(r)
            rows.append([f"{'chainrule cr.jit' if framework == 'chainrule' else 'JAX jax.jit'}", workload,
                         fnum(r["cold"]["first_s"] * 1e3), fnum(r["cold"]["compile_s"] * 1e3),
                         fnum(r["warm"]["first_s"] * 1e3), fnum(r["warm"]["compile_s"] * 1e3),
                         fnum(min(r["cold"]["steady_s"], r["warm"]["steady_s"]) * 1e3),
                         str(r["cache_files_after_cold"])])
        if not have_jax:
            rows.append(["JAX jax.jit", workload, DASH, DASH, DASH, DASH, DASH, "skipped: jax not installed"])
    print("\n(g) Compile time of a jitted step: first two calls - 2 steady calls, in a fresh process; "
          f"min of {repeats} (cold, warm) pair{'s' if repeats > 1 else ''}")
    print("    cold: empty disk cache; warm: a new process with the cache the cold run wrote "
          "(chainrule: CHAINRULE_JIT_CACHE; JAX: jax_compilation_cache_dir)")
    notes = []
    if any(r["framework"] == "chainrule" and r["cache_files_after_cold"] == 0 for r in results):
        notes.append("chainrule wrote no file to CHAINRULE_JIT_CACHE: this build has no disk cache, "
                     "so warm is a second cold start")
    notes.append("first = the first two calls (trace, compile, two runs); compile = first - 2 x steady")
    print(table(["framework", "workload", "cold first 2 ms", "cold compile ms", "warm first 2 ms",
                 "warm compile ms", "steady ms", "cache files"], rows, notes, left=(0, 1)))
    return {"repeats": repeats, "target_warm_s": TARGET_S, "rows": results}


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        sys.exit("usage: python benchmarks/run.py --only compile (this file runs itself as a child process)")
