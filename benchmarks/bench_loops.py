"""Loops: ``cr.scan`` against the unrolled loop and ``jax.lax.scan``, all under jit (issue 13).

Two programs, each as loss + gradient with respect to its parameters, float64:

* **RNN**: ``h <- tanh(W h + U x_t + b)`` over T = 1,000 steps, hidden 32, input 8, loss
  ``sum_t |h_t|^2 / T``; gradient w.r.t. (W, U, b).
* **ODE**: RK4 on ``dx/dt = tanh(A x) - k x`` (16 states), 1,000 steps of 0.01, loss ``|x_T|^2``;
  gradient w.r.t. (A, k).

Rows: ``cr.jit`` of the ``cr.scan`` program (and with ``checkpoint=True``), ``cr.jit`` of the
same loop written out in Python (a graph of T copies of the body), the eager ``cr.scan`` (a
Python loop on the tape), and JAX's ``jax.jit`` of ``lax.scan`` and of the unrolled loop.  The
first call (trace + compile) is timed separately; the graph size is the number of equations.
Every row is checked against the first before timing.  Single-threaded, one CPU (``_env``).
Run: ``python benchmarks/bench_loops.py [--quick] [--steps T]``.
"""
from __future__ import annotations

import argparse
import time

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import DASH, fnum, fratio, measure_all, peer, table

HIDDEN, INPUT, STATES, DT = 32, 8, 16, 0.01


def rnn_data(steps, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((HIDDEN, HIDDEN)) / np.sqrt(HIDDEN), rng.standard_normal((HIDDEN, INPUT)) * 0.3,
            rng.standard_normal(HIDDEN) * 0.1, rng.standard_normal((steps, INPUT)))


def ode_data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((STATES, STATES)) / np.sqrt(STATES), 0.5, rng.standard_normal(STATES)


def rnn_programs(np_, scan, steps):
    """``(scan form, unrolled form)`` of the RNN loss, on the array module ``np_``."""
    def step(W, U, b):
        return lambda h, x: (lambda h2: (h2, np_.sum(h2 * h2)))(np_.tanh(W @ h + U @ x + b))

    def with_scan(W, U, b, xs, checkpoint=False):
        kw = {"checkpoint": checkpoint} if checkpoint else {}
        _, ys = scan(step(W, U, b), np_.zeros(HIDDEN), xs, **kw)
        return np_.sum(ys) / steps

    def unrolled(W, U, b, xs):
        h, total, f = np_.zeros(HIDDEN), 0.0, step(W, U, b)
        for t in range(steps):
            h, y = f(h, xs[t])
            total = total + y
        return total / steps
    return with_scan, unrolled


def ode_programs(np_, scan, steps, x0):
    def rk4(A, k):
        def f(x):
            return np_.tanh(A @ x) - k * x

        def step(x, _):
            k1 = f(x)
            k2 = f(x + 0.5 * DT * k1)
            k3 = f(x + 0.5 * DT * k2)
            k4 = f(x + DT * k3)
            return x + DT / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None
        return step

    def with_scan(A, k, checkpoint=False):
        kw = {"checkpoint": checkpoint} if checkpoint else {}
        x, _ = scan(rk4(A, k), x0, None, length=steps, **kw)
        return np_.sum(x * x)

    def unrolled(A, k):
        x, step = x0, rk4(A, k)
        for _ in range(steps):
            x, _ = step(x, None)
        return np_.sum(x * x)
    return with_scan, unrolled


def _graph_size(cr, f, args):
    return len(cr.make_ir(f)(*args).eqns)


def rows(program, steps, quick):
    """``[(name, first-call seconds, callable, graph size, note)]`` for one program."""
    import chainrule as cr
    import chainrule.numpy as cnp
    if program == "rnn":
        args = rnn_data(steps)
        sc, un = rnn_programs(cnp, cr.scan, steps)
        argnums = (0, 1, 2)
    else:
        A, k, x0 = ode_data()
        args = (A, k)
        sc, un = ode_programs(cnp, cr.scan, steps, x0)
        argnums = (0, 1)
    out = []

    def add(name, make, note, size_of=None):
        t0 = time.perf_counter()
        fn = make()
        first = fn()
        out.append((name, time.perf_counter() - t0, fn, size_of, note, first))
    vg = cr.value_and_grad
    add("chainrule cr.jit(cr.scan)", lambda: (lambda j: lambda: j(*args))(cr.jit(vg(sc, argnums))), "",
        _graph_size(cr, vg(sc, argnums), args))
    ck = lambda *a: sc(*a, checkpoint=True)
    add("chainrule cr.jit(cr.scan, checkpoint=True)", lambda: (lambda j: lambda: j(*args))(cr.jit(vg(ck, argnums))),
        "O(sqrt T) residuals", _graph_size(cr, vg(ck, argnums), args))
    add("chainrule cr.scan, eager", lambda: (lambda g: lambda: g(*args))(vg(sc, argnums)), "a Python loop on the tape")
    if not quick:
        add("chainrule cr.jit(unrolled loop)", lambda: (lambda j: lambda: j(*args))(cr.jit(vg(un, argnums))),
            "T copies of the body", _graph_size(cr, vg(un, argnums), args))
    torch = peer("torch")
    if torch is None:
        out.append(("PyTorch", None, None, None, "skipped: torch not installed", None))
    else:
        out.append(_torch_row(torch, program, args, steps))
    jax = peer("jax")
    if jax is None:
        out.append(("JAX", None, None, None, "skipped: jax not installed", None))
        return out
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    jargs = tuple(jnp.asarray(a) for a in args)
    if program == "rnn":
        jsc, jun = rnn_programs(jnp, jax.lax.scan, steps)
    else:
        jsc, jun = ode_programs(jnp, jax.lax.scan, steps, jnp.asarray(ode_data()[2]))

    def jrow(f):
        j = jax.jit(jax.value_and_grad(f, argnums))
        return lambda: jax.block_until_ready(j(*jargs))
    add("JAX jax.jit(lax.scan)", lambda: jrow(jsc), "")
    if not quick and program == "rnn":
        add("JAX jax.jit(unrolled loop)", lambda: jrow(jun), "T copies of the body")
    elif not quick:  # measured once: still compiling after 10 min, at 8 GB
        out.append(("JAX jax.jit(unrolled loop)", None, None, None,
                    "not run: XLA did not finish compiling 1,000 unrolled RK4 steps in 10 min (8 GB)", None))
    return out


def _torch_row(torch, program, args, steps):
    """PyTorch eager: the loop in Python, the tape's backward (what a PyTorch user writes)."""
    class _T:  # the array-module names the programs use
        tanh, sum, zeros = torch.tanh, torch.sum, staticmethod(lambda n: torch.zeros(n, dtype=torch.float64))

    def scan(f, c, xs, length=None):
        ys = []
        for t in range(length if xs is None else xs.shape[0]):
            c, y = f(c, None if xs is None else xs[t])
            ys.append(y)
        return c, (None if ys[0] is None else torch.stack(ys))
    if program == "rnn":
        sc, _ = rnn_programs(_T, scan, steps)
        leaves = [torch.tensor(a, dtype=torch.float64) for a in args]
        n = 3
    else:
        sc, _ = ode_programs(_T, scan, steps, torch.tensor(ode_data()[2], dtype=torch.float64))
        leaves = [torch.tensor(np.asarray(a), dtype=torch.float64) for a in args]
        n = 2

    def call():
        params = [a.detach().requires_grad_(True) for a in leaves[:n]]
        v = sc(*params, *leaves[n:])
        v.backward()
        return v.detach().numpy(), tuple(p.grad.numpy() for p in params)
    t0 = time.perf_counter()
    first = call()
    return ("PyTorch eager (Python loop)", time.perf_counter() - t0, call, None, "", first)


def run(quick=False, steps=None, programs=("rnn", "ode")):
    steps = steps or (200 if quick else 1000)
    results = {}
    for program in programs:
        rs = rows(program, steps, quick)
        live = [r for r in rs if r[2] is not None]
        want_v, want_g = live[0][5]
        for name, _, _, _, _, (v, g) in live[1:]:
            np.testing.assert_allclose(float(v), float(want_v), rtol=1e-8, err_msg=name)
            for a, b in zip(g, want_g):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-7, atol=1e-10, err_msg=name)
        times = measure_all([r[2] for r in live], repeats=3 if quick else 5, min_time=0.05 if quick else 0.3)
        best = {r[0]: t.best for r, t in zip(live, times)}
        ref = best.get("JAX jax.jit(lax.scan)")
        body = []
        for name, first, fn, size, note, _ in rs:
            if fn is None:
                body.append((name, DASH, DASH, DASH, DASH, note))
                continue
            body.append((name, fnum(best[name] * 1e3), fratio(best[name] / ref) if ref else DASH,
                         f"{first:.2f}", DASH if size is None else str(size), note))
        what = (f"RNN hidden {HIDDEN}, input {INPUT}" if program == "rnn" else f"RK4, {STATES} states")
        print(f"\n(k) loops: {what}, {steps} steps, loss + gradient, float64, one thread")
        print(table(["row", "best ms", "x jax.jit(lax.scan)", "first call s", "graph eqns", "note"], body,
                    left=(0, 5)))
        results[program] = {"steps": steps, "ms": {k: v * 1e3 for k, v in best.items()},
                            "first_call_s": {r[0]: r[1] for r in live}}
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats, no unrolled rows")
    ap.add_argument("--steps", type=int, default=None, help="number of steps (default 1000; 200 with --quick)")
    ap.add_argument("--programs", default="rnn,ode", help="comma-separated subset of rnn,ode")
    a = ap.parse_args(argv)
    return run(a.quick, a.steps, tuple(a.programs.split(",")))


if __name__ == "__main__":
    main()
