"""(h) Laplacian: the Laplacian of a tanh MLP at a batch of points, and the parameter gradient of mean(Δu²).

The network ``u: R^d -> R`` is a tanh MLP with 3 hidden layers of width 128, in
float64, at 256 points, for d = 2, 16 and 64.  One call = ``mean(Δu(x_n)^2)``
and its gradient with respect to every weight and bias (the shape of a
Poisson PINN's loss).  Rows:

* chainrule forward Laplacian (``cr.vmap(cr.laplacian(u))``), eager and under ``cr.jit``;
* chainrule Hessian trace (``method="hessian_trace"``: forward-over-reverse), eager;
* PyTorch nested autograd: ``torch.autograd.grad(..., create_graph=True)`` once for the
  gradient and once per coordinate for the diagonal of the Hessian, as PINN code does;
* torch.func: ``vmap`` of the trace of ``torch.func.hessian`` (forward-over-reverse, as
  chainrule's ``hessian_trace``), eager, the parameter gradient by ``torch.autograd.grad``;
* JAX: ``jax.jit`` of ``vmap`` of the trace of ``jax.hessian``;
* folx: ``jax.jit`` of ``vmap`` of ``folx.forward_laplacian`` (skipped if not installed).

Before timing every row's value and gradient are checked against chainrule eager.
Single-threaded (``_env``).  Run: ``python benchmarks/bench_laplacian.py [--quick]``.
"""
from __future__ import annotations

import sys

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import DASH, cores_note, fnum, fratio, measure_all, peer, table

WIDTH, DEPTH, N = 128, 3, 256
DIMS = (2, 16, 64)
CR_EAGER, CR_JIT, CR_HT = "chainrule forward Laplacian", "chainrule forward Laplacian, cr.jit", \
    "chainrule hessian_trace"
TORCH, JAX, FOLX = "PyTorch nested autograd", "jax.jit hessian trace", "folx forward_laplacian (jax.jit)"
TFUNC = "torch.func hessian trace"


def make_data(d, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [d] + [WIDTH] * DEPTH + [1]
    params = [(rng.standard_normal((a, b)) / np.sqrt(a), 0.1 * rng.standard_normal(b))
              for a, b in zip(sizes[:-1], sizes[1:])]
    return params, rng.standard_normal((N, d))


def _flat(g):
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for W, b in g for a in (W, b)])


def _rows(params, X):
    import chainrule as cr
    import chainrule.numpy as cnp

    def net(p, x):
        h = x
        for W, b in p[:-1]:
            h = cnp.tanh(h @ W + b)
        return (h @ p[-1][0] + p[-1][1])[0]

    def loss(method):
        return lambda p: cnp.mean(cr.vmap(cr.laplacian(lambda x: net(p, x), method=method))(X) ** 2)

    eager = cr.value_and_grad(loss("forward"))
    jitted = cr.jit(cr.value_and_grad(loss("forward")))
    ht = cr.value_and_grad(loss("hessian_trace"))
    yield CR_EAGER, lambda: eager(params), "vmap of laplacian, value_and_grad"
    yield CR_JIT, lambda: jitted(params), "compiled in warm-up"
    yield CR_HT, lambda: ht(params), "trace of cr.hessian (fwd over rev)"

    torch = peer("torch")
    if torch is None:
        yield TORCH, None, "torch"
        yield TFUNC, None, "torch"
    else:
        tp = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
        flat = [t for pair in tp for t in pair]
        Xt = torch.tensor(X)

        def torch_vg():
            x = Xt.clone().requires_grad_(True)
            h = x
            for W, b in tp[:-1]:
                h = torch.tanh(h @ W + b)
            u = (h @ tp[-1][0] + tp[-1][1]).sum()
            (g,) = torch.autograd.grad(u, x, create_graph=True)
            lap = 0
            for i in range(x.shape[1]):
                (gi,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=True)
                lap = lap + gi[:, i]
            val = (lap ** 2).mean()
            grads = torch.autograd.grad(val, flat, allow_unused=True)   # the last bias has no effect
            grads = [np.zeros(t.shape) if g is None else g.numpy() for g, t in zip(grads, flat)]
            return val.item(), [(grads[2 * k], grads[2 * k + 1]) for k in range(len(tp))]

        yield TORCH, torch_vg, "grad(create_graph=True), d+1 times"

        def u(x):
            h = x
            for W, b in tp[:-1]:
                h = torch.tanh(h @ W + b)
            return (h @ tp[-1][0] + tp[-1][1])[0]

        def tfunc_vg():
            lap = torch.func.vmap(lambda x: torch.trace(torch.func.hessian(u)(x)))(Xt)
            val = (lap ** 2).mean()
            grads = torch.autograd.grad(val, flat, allow_unused=True)
            grads = [np.zeros(t.shape) if g is None else g.numpy() for g, t in zip(grads, flat)]
            return val.item(), [(grads[2 * k], grads[2 * k + 1]) for k in range(len(tp))]

        yield TFUNC, tfunc_vg, "vmap of trace(torch.func.hessian), eager"

    jax = peer("jax")
    if jax is None:
        yield JAX, None, "jax"
        yield FOLX, None, "jax"
        return
    import jax.numpy as jnp
    jp = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    Xj = jnp.asarray(X)

    def jnet(p, x):
        h = x
        for W, b in p[:-1]:
            h = jnp.tanh(h @ W + b)
        return (h @ p[-1][0] + p[-1][1])[0]

    def jloss(p):
        lap = jax.vmap(lambda x: jnp.trace(jax.hessian(lambda z: jnet(p, z))(x)))(Xj)
        return jnp.mean(lap ** 2)

    jvg = jax.jit(jax.value_and_grad(jloss))
    yield JAX, lambda: _block(jvg(jp)), "jit(value_and_grad), vmap of trace(hessian)"

    try:
        import folx
    except ImportError:
        yield FOLX, None, "folx"
        return

    def floss(p):
        lap = jax.vmap(lambda x: folx.forward_laplacian(lambda z: jnet(p, z))(x).laplacian)(Xj)
        return jnp.mean(lap ** 2)

    fvg = jax.jit(jax.value_and_grad(floss))
    yield FOLX, lambda: _block(fvg(jp)), "jit(value_and_grad), vmap of forward_laplacian"


def _block(out):
    v, g = out
    return float(v), [(np.asarray(W), np.asarray(b)) for W, b in g]


def _check(out):
    v, g = out
    return float(v), _flat(g)


def run_dim(d, quick=False):
    repeats, min_time = (3, 0.0) if quick else (5, 0.3)
    params, X = make_data(d)
    results, fns, notes, ref = [], [], [], None
    for name, fn, note in _rows(params, X):
        if fn is None:
            results.append({"name": name, "skipped": f"skipped: {note} not installed"})
            continue
        value, g = _check(fn())
        if ref is None:
            ref = (value, g)
        err = float(np.max(np.abs(g - ref[1])) / np.max(np.abs(ref[1])))
        verr = abs(value - ref[0]) / abs(ref[0])
        if not (err <= 1e-8 and verr <= 1e-8):
            msg = f"value / gradient differ from chainrule eager's (rel. errors {verr:.1e} / {err:.1e})"
            if name.startswith("chainrule"):
                raise AssertionError(f"{name}: {msg}")
            notes.append(f"CHECK FAILED: {name}: {msg}")
        row = {"name": name, "note": note, "grad_rel_err_vs_eager": err}
        results.append(row)
        fns.append((row, fn))
    timings = measure_all([f for _, f in fns], repeats=repeats, min_time=min_time, warmup=2)
    for (row, _), t in zip(fns, timings):
        row["ms_per_call"] = t.best * 1e3
        row["timing"] = t.as_dict()
    by = {r["name"]: r.get("ms_per_call") for r in results}
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["name"], DASH, DASH, DASH, DASH, DASH, DASH, r["skipped"]])
            continue
        t = r["ms_per_call"]
        ratio = {k: (t / by[k] if by.get(k) else None) for k in (TORCH, TFUNC, JAX, FOLX)}
        r.update(ratio_to_torch=ratio[TORCH], ratio_to_torch_func=ratio[TFUNC], ratio_to_jax_jit=ratio[JAX],
                 ratio_to_folx=ratio[FOLX])
        rows.append([r["name"], fnum(t), fratio(ratio[TORCH]), fratio(ratio[TFUNC]), fratio(ratio[JAX]),
                     fratio(ratio[FOLX]),
                     f"{r['grad_rel_err_vs_eager']:.0e}", r["note"]])
    print(f"\n(h) Laplacian of a tanh MLP {d}-{WIDTH}x{DEPTH}-1 at {N} points + grad of mean(Δu²), float64, d = {d}")
    print(f"    best of {repeats} runs; 'err' = max rel. difference from chainrule eager's gradient")
    headers = ["framework", "ms/call", "vs PyTorch", "vs torch.func", "vs jax.jit", "vs folx", "err", "notes"]
    print(table(headers, rows, notes + cores_note([(r["name"], t) for (r, _), t in zip(fns, timings)]),
                left=(0, 7)))
    return {"d": d, "width": WIDTH, "depth": DEPTH, "points": N, "rows": results}


def run(quick=False, dims=DIMS):
    return {f"d{d}": run_dim(d, quick) for d in dims}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    run("--quick" in sys.argv, tuple(int(a) for a in args) or DIMS)
