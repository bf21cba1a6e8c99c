"""cr.jit's buffer reuse: time and page faults per call, with reuse off and on.

Two workloads, float64, one thread:

* PINN-like: an MLP 2-20-20-20-1 (tanh) on N = 10,000 collocation points;
  one call is ``cr.jit(cr.value_and_grad(loss))`` of a mean squared residual
  (the temporaries are N x 20: 1.6 MB each, far above glibc's mmap threshold,
  so without reuse every one is paged in afresh on every call);
* MLP step: a 784-256-256-10 tanh MLP, batch 128, softmax cross-entropy, one
  SGD step (value_and_grad and the update) in one jitted function.

"reuse off" compiles with ``codegen.compile_ir(ir, reuse=False)`` (every result
a new array), "reuse on" with the default (results written into dead buffers
with ``out=``, big ones from a pool kept between calls).  Page faults are
``ru_minflt`` of ``resource.getrusage`` over a run of calls, per call.

Run: ``python benchmarks/bench_jit_buffers.py`` (``--quick`` for a short run).
"""
from __future__ import annotations

import _env  # noqa: F401  (before NumPy)
import functools
import resource
import sys

import numpy as np

from _harness import banner, fnum, measure_all, table


def _compiled_with(reuse):
    """A context in which cr.jit compiles with ``reuse`` (the benchmark's switch; jit itself has none)."""
    from chainrule._jit import codegen

    class Switch:
        def __enter__(self):
            self.orig = codegen.compile_ir
            codegen.compile_ir = functools.partial(self.orig, reuse=reuse)

        def __exit__(self, *exc):
            codegen.compile_ir = self.orig
    return Switch()


def pinn(n=10_000, seed=0):
    import chainrule as cr
    import chainrule.numpy as cnp
    rng = np.random.default_rng(seed)
    sizes = (2, 20, 20, 20, 1)
    params = [(rng.standard_normal((a, b)) / np.sqrt(a), np.zeros(b)) for a, b in zip(sizes[:-1], sizes[1:])]
    X = rng.uniform(-1, 1, (n, 2))
    target = np.sin(np.pi * X[:, :1]) * np.cos(np.pi * X[:, 1:])

    def loss(p, x, y):
        for W, b in p[:-1]:
            x = cnp.tanh(x @ W + b)
        u = x @ p[-1][0] + p[-1][1]
        return cnp.mean((u - y) ** 2)
    fn = cr.value_and_grad(loss)
    return fn, (params, X, target)


def mlp_step(batch=128, seed=0, lr=0.01):
    import chainrule as cr
    import chainrule.numpy as cnp
    rng = np.random.default_rng(seed)
    sizes = (784, 256, 256, 10)
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        p[f"W{i}"] = rng.standard_normal((a, b)) / np.sqrt(a)
        p[f"b{i}"] = 0.1 * rng.standard_normal(b)
    X = rng.standard_normal((batch, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]

    def loss(p, X, Y):
        h1 = cnp.tanh(X @ p["W1"] + p["b1"])
        h2 = cnp.tanh(h1 @ p["W2"] + p["b2"])
        z = h2 @ p["W3"] + p["b3"]
        m = cr.stop_gradient(cnp.max(z, axis=1, keepdims=True))
        logp = z - (cnp.log(cnp.sum(cnp.exp(z - m), axis=1, keepdims=True)) + m)
        return -cnp.sum(Y * logp) / X.shape[0]
    vg = cr.value_and_grad(loss)

    def step(p, X, Y):
        value, g = vg(p, X, Y)
        return value, {k: v - lr * g[k] for k, v in p.items()}
    return step, (p, X, Y)


def faults_per_call(call, calls):
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        call()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / calls


def flat(tree):
    from chainrule._core.pytree import tree_flatten
    return tree_flatten(tree)[0]


def main(quick=False):
    import chainrule as cr
    repeats, min_time, calls = (3, 0.2, 10) if quick else (7, 0.5, 50)
    print(banner("cr.jit buffer reuse: time and page faults per call (float64, one thread)"))
    rows = []
    for name, make in (("PINN 2-20-20-20-1, N=10,000, value_and_grad", pinn),
                       ("MLP 784-256-256-10 step, batch 128", mlp_step)):
        fn, args = make()
        want = flat(fn(*args))
        runs = {}
        for reuse in (False, True):
            jf = cr.jit(fn)
            with _compiled_with(reuse):
                got = flat(jf(*args))  # traces and compiles with this setting
            err = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(got, want))
            assert err < 1e-10, f"{name}: jitted result differs from eager by {err}"
            graph = jf.lower(*args)
            runs[reuse] = (lambda jf=jf: jf(*args), graph.source.count("out="), graph.source.count("out=p"),
                           len(graph.ir.eqns))
        timings = measure_all([runs[False][0], runs[True][0]], repeats=repeats, min_time=min_time)
        for reuse, t in zip((False, True), timings):
            call, n_out, n_pool, n_eqns = runs[reuse]
            pf = faults_per_call(call, calls)
            rows.append([name if not reuse else "", "on" if reuse else "off", fnum(t.best * 1e3),
                         fnum(t.median * 1e3), f"{pf:.0f}", f"{n_out} ({n_pool} pooled)", str(n_eqns)])
        rows.append([" ", f"speedup {timings[0].best / timings[1].best:.2f}x", "", "", "", "", ""])
    print(table(["workload", "reuse", "best ms", "median ms", "page faults/call", "out= writes", "eqns"],
                rows, left=(0, 1)))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
