"""Where the time of a compiled graph goes: each equation of ``cr.jit(f).lower(*args).ir`` timed alone.

``profile(jitted, *args)`` runs the optimised graph once to get every
intermediate value, then times each equation's ``impl`` on those values
(best of a few repeats) and returns the rows, slowest first; ``report``
prints them with the share of the total.  The sum is close to one compiled
call's time (the compiled code makes the same calls, plus one ``del`` and
one local store per value).

Run ``python benchmarks/profile_jit.py {overhead|mlp|mixed|hessian|pinn}`` for the
graph of one of the suite's compiled rows.

>>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
>>> rows = profile(cr.jit(lambda x: cnp.sum(cnp.tanh(x) ** 2)), np.ones(3))
>>> sorted(rows[0])  # rows[0] is the slowest equation
['ins', 'k', 'op', 'out', 'params', 'us']
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _env  # noqa: E402,F401  (one thread, one CPU: before NumPy)
import numpy as np  # noqa: E402


def _describe(x):
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{np.dtype(x.dtype).name[0]}{np.dtype(x.dtype).itemsize * 8}{list(x.shape)}"
    return repr(x)[:24]


def profile(jitted, *args, repeats=5, min_time=0.002):
    """``[{"k", "op", "ins", "out", "us"}]`` for each equation of the compiled graph, slowest first."""
    from chainrule._interpreters.staging import Lit

    graph = jitted.lower(*args)
    ir = graph.ir
    from chainrule.jit import _Signature
    dyn = _Signature(jitted, args, {}).dyn
    env = dict(zip(map(id, ir.invars), dyn))
    rows = []
    for k, e in enumerate(ir.eqns):
        ins = [a.value if type(a) is Lit else env[id(a)] for a in e.ins]
        impl, params = e.prim.impl, e.params
        out = impl(*ins, **params)
        env[id(e.out)] = out
        t0 = time.perf_counter()
        impl(*ins, **params)
        one = time.perf_counter() - t0
        number = max(1, int(min_time / max(one, 1e-7)))
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(number):
                impl(*ins, **params)
            best = min(best, (time.perf_counter() - t0) / number)
        shown = {p: v for p, v in params.items() if not isinstance(v, np.ndarray)}
        rows.append({"k": k, "op": e.prim.name, "ins": ", ".join(_describe(a) for a in ins),
                     "params": ", ".join(f"{p}={v!r:.30}" for p, v in shown.items()),
                     "out": _describe(out), "us": best * 1e6})
    rows.sort(key=lambda r: -r["us"])
    return rows


def report(rows, top=25, title=""):
    total = sum(r["us"] for r in rows)
    by_op = {}
    for r in rows:
        by_op[r["op"]] = by_op.get(r["op"], 0.0) + r["us"]
    print(f"\n{title}: {len(rows)} equations, sum of their times {total:.1f} µs")
    print("  by primitive: " + ", ".join(f"{op} {us:.1f} ({us / total:.0%})"
                                         for op, us in sorted(by_op.items(), key=lambda kv: -kv[1])[:10]))
    for r in rows[:top]:
        print(f"  {r['us']:9.1f} µs {r['us'] / total:5.1%}  v{r['k']:<4} {r['op']:<14} ({r['ins']})"
              f"{' ' + r['params'] if r['params'] else ''} -> {r['out']}")


def _case(name):
    """``(title, jitted, args)`` of one of the suite's compiled rows."""
    import chainrule as cr
    import chainrule.numpy as cnp
    if name == "overhead":
        import bench_overhead as b
        x0 = np.random.default_rng(0).uniform(-1.0, 1.0, b.SIZE)
        return "(a) cr.jit(cr.grad(chain))", cr.jit(cr.grad(b.make_loss(cnp.tanh, cnp.sin, cnp.sum))), (x0,)
    if name.startswith("mlp"):
        import bench_mlp as b
        dtype, batch = (np.float32, 16) if name == "mlp16" else (np.float64, b.BATCH)
        params, X, labels, Y = b.make_data(dtype, batch=batch)
        update = b.make_chainrule_jit(params, X, labels, Y)[3]
        return f"(b) cr.jit MLP step, {np.dtype(dtype)} batch {batch}", update, (params, X, labels, Y)
    if name == "mixed":
        import bench_mixed as b
        X0, c = b.make_data()
        E = b.make_energy(cnp.einsum, cnp.sqrt, cnp.sum, cnp.linalg.solve, lambda X: cnp.max(X, axis=0),
                          cnp.mean, c)
        return "(c) cr.jit(cr.value_and_grad(energy))", cr.jit(cr.value_and_grad(E)), (X0,)
    if name == "hessian":
        import bench_jacobian as b
        A, x = b.make_data()["h"]
        return "(d) cr.jit(cr.hessian(h))", cr.jit(cr.hessian(b.make_h(cnp.tanh, cnp.sum, A))), (x,)
    if name == "pinn":
        import bench_pinn as b
        params, data = b.make_data(b.SMALL)
        f = cr.jit(cr.value_and_grad(b.make_functional_loss(cr.grad, cnp.concatenate, cnp.tanh, cnp.mean)))
        return "(f) cr.jit PINN loss + gradient", f, (params, *data)
    raise SystemExit(f"profile_jit.py: unknown case {name!r}: overhead, mlp, mlp16, mixed, hessian or pinn")


if __name__ == "__main__":
    for name in sys.argv[1:] or ["hessian"]:
        title, jitted, args = _case(name)
        rows = profile(jitted, *args)
        report(rows, title=title)
        if "--source" in os.environ.get("PROFILE_JIT", ""):
            print(jitted.lower(*args).source)
