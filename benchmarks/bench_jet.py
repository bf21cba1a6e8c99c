"""Taylor mode: ``cr.jet`` of order 4 against 4 nested ``cr.jvp`` (issue 12).

The function is a tanh MLP 2-64-64-1 in float64 on a batch of N points ``x`` (N, 2); the
path is ``x(t) = x + v t`` (one direction ``v`` per point), and a call computes the four
derivatives ``d^k/dt^k u(x + v t)``, k = 1..4, at t = 0:

* ``cr.jet(u, (x,), ([v, 0, 0, 0],))``: one pass, K^2 products per layer;
* 4 nested ``cr.jvp`` in the scalar t (each level doubles the work: 2^4 = 16 passes'
  worth), which also gives the four derivatives (the k-th is the k-th level's tangent);
* the same two in JAX, ``jax.experimental.jet`` and nested ``jax.jvp``, eager and under
  ``jax.jit`` (when JAX is installed).

Every row is checked against the ``cr.jet`` row before timing.  Single-threaded, pinned to one CPU
(``_env``).  Run: ``python benchmarks/bench_jet.py [--quick] [--n N]``.
"""
from __future__ import annotations

import argparse

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import DASH, fnum, fratio, measure_all, peer, table

SIZES = (2, 64, 64, 1)
K = 4


def make(n, seed=0):
    rng = np.random.default_rng(seed)
    params = [(rng.standard_normal((a, b)) / np.sqrt(a), 0.1 * rng.standard_normal(b))
              for a, b in zip(SIZES[:-1], SIZES[1:])]
    return params, rng.uniform(-1, 1, (n, 2)), rng.standard_normal((n, 2))


def mlp(params, x, tanh):
    h = x
    for W, b in params[:-1]:
        h = tanh(h @ W + b)
    W, b = params[-1]
    return h @ W + b


def nested(jvp, f, depth):
    """``t -> [f(t), f'(t), ..., f^(depth)(t)]`` by ``depth`` nested forward passes."""
    if depth == 0:
        return lambda t: [f(t)]

    def g(t):
        inner = nested(jvp, f, depth - 1)
        outs, touts = jvp(inner, (t,), (1.0,))
        return list(outs) + [touts[-1]]
    return g


def rows(params, x, v):
    import chainrule as cr
    import chainrule.numpy as cnp

    zero = np.zeros_like(x)

    def cr_jet():
        return cr.jet(lambda x: mlp(params, x, cnp.tanh), (x,), ([v, zero, zero, zero],))[1]

    def cr_nested():
        return nested(cr.jvp, lambda t: mlp(params, x + v * t, cnp.tanh), K)(0.0)[1:]

    out = [("chainrule cr.jet (order 4)", cr_jet, "one pass"),
           ("chainrule 4 nested cr.jvp", cr_nested, "2^4 passes' worth")]
    jit_jet = cr.jit(lambda x, v: cr.jet(lambda x: mlp(params, x, cnp.tanh), (x,), ([v, zero, zero, zero],))[1])
    out.append(("chainrule cr.jit(cr.jet)", lambda: jit_jet(x, v), "compiled in warm-up"))
    jit_nested = cr.jit(lambda x, v: nested(cr.jvp, lambda t: mlp(params, x + v * t, cnp.tanh), K)(0.0)[1:])
    out.append(("chainrule cr.jit(4 nested cr.jvp)", lambda: jit_nested(x, v),
                "compiled; CSE merges the repeated passes"))
    jax = peer("jax")
    if jax is None:
        out.append(("JAX", None, "skipped: jax not installed"))
        return out
    from jax.experimental.jet import jet
    jnp = jax.numpy
    jp = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    jx, jv, jz = jnp.asarray(x), jnp.asarray(v), jnp.zeros_like(jnp.asarray(x))

    def j_jet(x, v):
        return jet(lambda x: mlp(jp, x, jnp.tanh), (x,), ([v, jz, jz, jz],))[1]

    def j_nested(x, v):
        return nested(jax.jvp, lambda t: mlp(jp, x + v * t, jnp.tanh), K)(0.0)[1:]

    jj, jn = jax.jit(j_jet), jax.jit(j_nested)
    out += [("JAX jax.experimental.jet", lambda: jax.block_until_ready(j_jet(jx, jv)), "eager"),
            ("JAX 4 nested jax.jvp", lambda: jax.block_until_ready(j_nested(jx, jv)), "eager"),
            ("JAX jax.jit(jet)", lambda: jax.block_until_ready(jj(jx, jv)), "compiled in warm-up"),
            ("JAX jax.jit(4 nested jvp)", lambda: jax.block_until_ready(jn(jx, jv)), "compiled in warm-up")]
    return out


NESTED = "chainrule 4 nested cr.jvp"
JET = "chainrule cr.jet (order 4)"


def run(quick=False, n=256):
    """Check every row against ``cr.jet``, time them, print the table; the times and the speed-up."""
    params, x, v = make(n)
    rs = rows(params, x, v)
    want = [np.asarray(c) for c in rs[0][1]()]
    for name, fn, _ in rs[1:]:
        if fn is not None:
            got = fn()
            for k, (g, w) in enumerate(zip(got, want), 1):
                np.testing.assert_allclose(np.asarray(g), w, rtol=1e-8, atol=1e-10,
                                           err_msg=f"{name}: derivative {k}")
    live = [(nm, f, note) for nm, f, note in rs if f is not None]
    times = measure_all([f for _, f, _ in live], repeats=3 if quick else 7, min_time=0.1 if quick else 0.3)
    base = {nm: t.best for (nm, _, _), t in zip(live, times)}
    ref = base[NESTED]
    body = []
    for nm, f, note in rs:
        if f is None:
            body.append((nm, DASH, DASH, note))
            continue
        body.append((nm, fnum(base[nm] * 1e3), fratio(ref / base[nm]), note))
    print(f"\n(i) Taylor mode, order {K}: tanh MLP {'-'.join(map(str, SIZES))}, float64, {n} points, one thread")
    print(table(["row", "best ms", "speed-up vs 4 nested cr.jvp", "note"], body, left=(0, 3)))
    return {"n": n, "ms": {k: t * 1e3 for k, t in base.items()}, "speedup": ref / base[JET]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter timing runs")
    ap.add_argument("--n", type=int, default=256, help="number of points (default 256)")
    a = ap.parse_args(argv)
    r = run(a.quick, a.n)
    print(f"\ntarget (issue 12): cr.jet >= 2x faster than 4 nested cr.jvp: {r['speedup']:.1f}x "
          f"{'MET' if r['speedup'] >= 2 else 'MISSED'}")
    return r


if __name__ == "__main__":
    main()
