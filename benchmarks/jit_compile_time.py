"""How long ``cr.jit`` takes to compile the SGD step of the 784-256-256-10 MLP, cold and warm.

Runs a fresh Python process twice with one temporary kernel cache
(``CHAINRULE_JIT_CACHE``): the first compiles every fused kernel with Numba
(cold), the second loads them from the disk cache (warm).  Each process
reports

* ``numba_start``: the first fused kernel of the process (a one-line function): importing
  Numba and setting up LLVM, paid once per process, not per graph;
* ``compile``: the first two calls of the jitted step (the first traces, optimises
  and fuses; the second compiles or loads the kernels) minus two plain calls' time;
* the kernels compiled and loaded, and the step's time per call after that.

    python benchmarks/jit_compile_time.py          # the table
    python benchmarks/jit_compile_time.py --child  # one process's numbers, as JSON
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(dtype="float32"):
    sys.path.insert(0, HERE)
    import _env  # noqa: F401  (threads, before NumPy)
    import numpy as np

    import chainrule as cr
    from bench_mlp import KEYS, LR, chainrule_loss, make_data
    from chainrule._jit import fuse

    params, X, labels, Y = make_data(np.dtype(dtype))
    loss = chainrule_loss()

    def step(p, X, labels, Y):
        value, g = cr.value_and_grad(loss)(p, X, labels, Y)
        return value, {k: p[k] - LR * g[k] for k in KEYS}

    t0 = time.perf_counter()
    first_kernel = cr.jit(lambda x: x * 2.0 + 1.0)
    first_kernel(np.ones(3))
    first_kernel(np.ones(3))
    startup = time.perf_counter() - t0
    before = dict(fuse.stats)
    jstep = cr.jit(step)
    t0 = time.perf_counter()
    jstep(params, X, labels, Y)  # traces (and runs the trace)
    jstep(params, X, labels, Y)  # runs the compiled code: its kernels compile or load now
    first = time.perf_counter() - t0
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        jstep(params, X, labels, Y)
        times.append(time.perf_counter() - t0)
    run = min(times)
    n_fused = sum(1 for e in fuse.fuse(jstep.lower(params, X, labels, Y).ir).eqns
                  if e.prim.name.startswith("fused["))
    return {"numba_start_s": startup, "compile_s": first - 2 * run, "step_ms": run * 1e3,
            "kernels": n_fused, "compiled": fuse.stats["compiled"] - before["compiled"],
            "loaded": fuse.stats["loaded"] - before["loaded"]}


def main():
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, CHAINRULE_JIT_CACHE=cache)
        for label in ("cold (empty cache)", "warm (disk cache)"):
            out = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True,
                                 text=True, check=True).stdout
            rows.append((label, json.loads(out.strip().splitlines()[-1])))
    print("cr.jit of the MLP SGD step (784-256-256-10, batch 128, float32), a fresh process each:")
    print(f"{'':22}{'compile':>10}{'numba start':>13}{'kernels':>9}{'compiled':>10}{'loaded':>8}{'step':>10}")
    for label, r in rows:
        print(f"{label:22}{r['compile_s']:>9.3f}s{r['numba_start_s']:>12.3f}s{r['kernels']:>9}"
              f"{r['compiled']:>10}{r['loaded']:>8}{r['step_ms']:>8.2f}ms")
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(child()))
    else:
        main()
