"""(l) The transform matrix: 3 functions x n in {4, 64, 1024} x 16 transforms, eager against eager.

Issue 16's side-by-side audit: every cell is one (function, n, transform); in
each cell chainrule eager is timed next to every eager peer that has the
transform -- ``torch.func`` (eager, not compiled), PyTorch eager (the autograd
tape, ``torch.autograd.functional``, forward AD), JAX eager (not jitted) and
HIPS autograd -- and the cell shows chainrule's time and its ratio to the
fastest of those peers.  Target: no cell above 1.2x the best eager peer.

The functions, of x in R^n, float64, written once per framework as
``f(x) = r(g(x))`` with a vector stage ``g`` (used by the vector-output
transforms) and a reduction ``r``::

    f1 (elementwise):  g(x) = tanh(x) * sin(x) + x**2 / 2                  r(y) = sum(y)
    f2 (MLP layer):    g(x) = tanh(W @ x + b), W n x n, b fixed            r(y) = sum(y**2)
    f3 (lse, cumsum):  g(x) = lse(x) - x + cumsum(x)**2 / n                r(y) = y[0] + sum(y) / n
                       lse(x) = m + log(sum(exp(x - m))), m = stop_gradient(max(x))

The 16 transforms (the rows; ``f`` scalar, ``g`` vector, B = 16):

    grad             grad(f)(x)
    value_and_grad   value_and_grad(f)(x)
    vjp              out, pullback = vjp(g, x); pullback(u)       (forward included)
    jvp              jvp(g, (x,), (v,))
    jacfwd           jacfwd(g)(x)                                 n x n
    jacrev           jacrev(g)(x)
    jacobian         the library's default Jacobian: cr.jacobian (mode "auto"),
                     jax.jacobian, autograd.jacobian, torch.autograd.functional.jacobian
    hessian          hessian(f)(x)                                n x n
    hvp              jvp(grad(f), (x,), (v,)) (forward-over-reverse; PyTorch eager and
                     autograd: their reverse-over-reverse hvp)
    grad(sum grad)   grad(x -> sum(grad(f)(x)))(x)                reverse-over-reverse
    vmap f           vmap(f)(X), X: B x n
    vmap grad        vmap(grad(f))(X): per-example gradients
    jvp of vmap      jvp(vmap(g), (X,), (V,))
    vmap jvp         vmap(v -> jvp(g, (x,), (v,))[1])(V): B tangents at one point
    tape backward    x = cr.tensor(x0, requires_grad=True); x.grad = None; f(x).backward()
                     against the same in PyTorch eager
    checkpoint grad  grad(x -> r(checkpoint(g)(x))): cr.checkpoint, jax.checkpoint,
                     autograd.checkpoint, torch.utils.checkpoint (non-reentrant, eager)

A peer without the transform is "—" in the detail table (HIPS autograd has no vmap
and no forward-mode Jacobian; PyTorch's tape has no vmap; torch.func cannot run
torch.utils.checkpoint (saved-tensor hooks) and has no tape; JAX has no tape).
Every cell first checks chainrule's result against JAX eager's (else the first
peer's) to a normwise relative 1e-10 -- a mismatch stops the run -- and every
peer's against chainrule's (a mismatch is noted).  The peers of one cell are
then timed interleaved, best of ``repeats`` runs; a row whose checking call and
one more call both took over a second is timed by those two calls only (the better).

Note: the issue speaks of "117 cells"; 3 x 3 x 16 is 144, and that is what
this benchmark measures (117 = 3 x 3 x 13: the audit's own script is not in the
repository, so which 13 of these it had is not known).
"""
from __future__ import annotations

import time

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import DASH, fnum, measure_all, peer, table

NS = (4, 64, 1024)
B = 16          # batch of the vmap rows
TOL = 1e-10     # chainrule against the reference peer, normwise relative
PEER_TOL = 1e-9
LIMIT = 1.2     # the target
SLOW_S = 1.0    # a row whose check call takes longer is timed by one more call only

TRANSFORMS = ("grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "jacobian", "hessian",
              "hvp", "grad(sum grad)", "vmap f", "vmap grad", "jvp of vmap", "vmap jvp",
              "tape backward", "checkpoint grad")
FUNCS = ("f1", "f2", "f3")
TITLES = {
    "f1": "f1(x) = sum(tanh(x)*sin(x) + x**2/2)   [elementwise chain]",
    "f2": "f2(x) = sum(tanh(W@x + b)**2), W n x n   [matmul + reduction]",
    "f3": "f3(x) = y[0] + sum(y)/n, y = lse(x) - x + cumsum(x)**2/n   [logsumexp, indexing, cumsum]",
}
#: peer key -> column label (short, for the cells)
PEERS = {"tfunc": "torch.func", "torch": "torch eager", "jax": "jax", "ag": "autograd"}


def make_data(n, seed=0):
    rng = np.random.default_rng(seed + n)
    return {
        "x": rng.standard_normal(n),
        "u": rng.standard_normal(n),
        "v": rng.standard_normal(n),
        "X": rng.standard_normal((B, n)),
        "V": rng.standard_normal((B, n)),
        "W": rng.standard_normal((n, n)) / np.sqrt(n),
        "b": 0.1 * rng.standard_normal(n),
    }


# -- the functions, written once for any framework's ops --------------------------------

def make_funcs(ops, n, W, b):
    """``{"f1": (g, r), ...}`` from a namespace of ops: tanh sin exp log total cumsum amax sg."""
    def g1(x):
        return ops.tanh(x) * ops.sin(x) + x ** 2 / 2

    def g2(x):
        return ops.tanh(W @ x + b)

    def lse(x):
        m = ops.sg(ops.amax(x))
        return m + ops.log(ops.total(ops.exp(x - m)))

    def g3(x):
        return lse(x) - x + ops.cumsum(x) ** 2 / n

    return {"f1": (g1, ops.total), "f2": (g2, lambda y: ops.total(y ** 2)),
            "f3": (g3, lambda y: y[0] + ops.total(y) / n)}


class _Ops:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def compose(g, r):
    def f(x):
        return r(g(x))
    return f


# -- results to NumPy, and the check ----------------------------------------------------

def to_np(out):
    """A result (array, tensor, nested tuple) as a flat list of float64 arrays."""
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in to_np(o)]
    if hasattr(out, "detach"):  # torch or chainrule Tensor
        out = out.detach()
        out = out.numpy() if hasattr(out, "numpy") else out
    return [np.array(out, dtype=np.float64)]


def rel_err(a, b):
    if len(a) != len(b):
        return float("inf")
    worst = 0.0
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return float("inf")
        scale = max(float(np.max(np.abs(y))) if y.size else 0.0, 1e-300)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale if x.size else 0.0)
    return worst


# -- per framework: {transform: callable} for one (function, n) ---------------------------

def cr_cells(fn, n, d):
    import chainrule as cr
    import chainrule.numpy as cnp
    ops = _Ops(tanh=cnp.tanh, sin=cnp.sin, exp=cnp.exp, log=cnp.log, total=cnp.sum, cumsum=cnp.cumsum,
               amax=cnp.max, sg=cr.stop_gradient)
    g, r = make_funcs(ops, n, d["W"], d["b"])[fn]
    f = compose(g, r)
    x, u, v, X, V = d["x"], d["u"], d["v"], d["X"], d["V"]
    grad_f, vg_f = cr.grad(f), cr.value_and_grad(f)
    jf, jr, ja, hs = cr.jacfwd(g), cr.jacrev(g), cr.jacobian(g), cr.hessian(f)
    ggs = cr.grad(lambda x: cnp.sum(cr.grad(f)(x)))
    vf, vgr, vgb = cr.vmap(f), cr.vmap(cr.grad(f)), cr.vmap(g)
    vj = cr.vmap(lambda t: cr.jvp(g, (x,), (t,))[1])
    ck = cr.grad(compose(cr.checkpoint(g), r))
    xt = cr.tensor(x, requires_grad=True)

    def vjp():
        out, pb = cr.vjp(g, x)
        return out, pb(u)

    def tape():
        xt.grad = None
        f(xt).backward()
        return xt.grad

    return {"grad": lambda: grad_f(x), "value_and_grad": lambda: vg_f(x), "vjp": vjp,
            "jvp": lambda: cr.jvp(g, (x,), (v,)), "jacfwd": lambda: jf(x), "jacrev": lambda: jr(x),
            "jacobian": lambda: ja(x), "hessian": lambda: hs(x),
            "hvp": lambda: cr.jvp(grad_f, (x,), (v,))[1], "grad(sum grad)": lambda: ggs(x),
            "vmap f": lambda: vf(X), "vmap grad": lambda: vgr(X),
            "jvp of vmap": lambda: cr.jvp(vgb, (X,), (V,)), "vmap jvp": lambda: vj(V),
            "tape backward": tape, "checkpoint grad": lambda: ck(x)}


def torch_ops(torch):
    return _Ops(tanh=torch.tanh, sin=torch.sin, exp=torch.exp, log=torch.log, total=torch.sum,
                cumsum=lambda x: torch.cumsum(x, dim=-1), amax=torch.max, sg=lambda t: t.detach())


def tfunc_cells(fn, n, d):
    torch = peer("torch")
    if torch is None:
        return {}
    tf = torch.func
    T = {k: torch.from_numpy(a) for k, a in d.items()}
    g, r = make_funcs(torch_ops(torch), n, T["W"], T["b"])[fn]
    f = compose(g, r)
    x, u, v, X, V = T["x"], T["u"], T["v"], T["X"], T["V"]
    grad_f, gv_f = tf.grad(f), tf.grad_and_value(f)
    jf, jr, hs = tf.jacfwd(g), tf.jacrev(g), tf.hessian(f)
    ggs = tf.grad(lambda x: torch.sum(tf.grad(f)(x)))
    vf, vgr, vgb = tf.vmap(f), tf.vmap(tf.grad(f)), tf.vmap(g)
    vj = tf.vmap(lambda t: tf.jvp(g, (x,), (t,))[1])

    def vg():
        gr, val = gv_f(x)
        return val, gr

    def vjp():
        out, pb = tf.vjp(g, x)
        return out, pb(u)

    return {"grad": lambda: grad_f(x), "value_and_grad": vg, "vjp": vjp,
            "jvp": lambda: tf.jvp(g, (x,), (v,)), "jacfwd": lambda: jf(x), "jacrev": lambda: jr(x),
            "jacobian": lambda: jr(x), "hessian": lambda: hs(x),
            "hvp": lambda: tf.jvp(grad_f, (x,), (v,))[1], "grad(sum grad)": lambda: ggs(x),
            "vmap f": lambda: vf(X), "vmap grad": lambda: vgr(X),
            "jvp of vmap": lambda: tf.jvp(vgb, (X,), (V,)), "vmap jvp": lambda: vj(V)}


def torch_cells(fn, n, d):
    """PyTorch eager: the autograd tape, forward AD and torch.autograd.functional."""
    torch = peer("torch")
    if torch is None:
        return {}
    import torch.autograd.forward_ad as fwAD
    import torch.utils.checkpoint as tuc
    AF = torch.autograd.functional
    T = {k: torch.from_numpy(a) for k, a in d.items()}
    g, r = make_funcs(torch_ops(torch), n, T["W"], T["b"])[fn]
    f = compose(g, r)
    x, u, v = T["x"], T["u"], T["v"]
    xl = x.clone().requires_grad_(True)

    def leaf():
        return x.detach().requires_grad_(True)

    def grad():
        xr = leaf()
        return torch.autograd.grad(f(xr), xr)[0]

    def vg():
        xr = leaf()
        val = f(xr)
        return val.detach(), torch.autograd.grad(val, xr)[0]

    def vjp():
        xr = leaf()
        out = g(xr)
        return out.detach(), torch.autograd.grad(out, xr, u)[0]

    def jvp():
        with fwAD.dual_level():
            p, t = fwAD.unpack_dual(g(fwAD.make_dual(x, v)))
            return p, t

    def hvp():  # double backward
        xr = leaf()
        gx = torch.autograd.grad(f(xr), xr, create_graph=True)[0]
        return torch.autograd.grad(gx, xr, v)[0]

    def ggs():
        xr = leaf()
        gx = torch.autograd.grad(f(xr), xr, create_graph=True)[0]
        return torch.autograd.grad(gx.sum(), xr)[0]

    def tape():
        xl.grad = None
        f(xl).backward()
        return xl.grad

    def ck():
        xr = leaf()
        return torch.autograd.grad(r(tuc.checkpoint(g, xr, use_reentrant=False)), xr)[0]

    return {"grad": grad, "value_and_grad": vg, "vjp": vjp, "jvp": jvp,
            "jacfwd": lambda: AF.jacobian(g, x, vectorize=True, strategy="forward-mode"),
            "jacrev": lambda: AF.jacobian(g, x, vectorize=True),
            "jacobian": lambda: AF.jacobian(g, x),
            "hessian": lambda: AF.hessian(f, x, vectorize=True, outer_jacobian_strategy="forward-mode"),
            "hvp": hvp, "grad(sum grad)": ggs, "tape backward": tape, "checkpoint grad": ck}


def jax_cells(fn, n, d):
    jax = peer("jax")
    if jax is None:
        return {}
    jnp = jax.numpy
    J = {k: jnp.asarray(a) for k, a in d.items()}
    ops = _Ops(tanh=jnp.tanh, sin=jnp.sin, exp=jnp.exp, log=jnp.log, total=jnp.sum,
               cumsum=lambda x: jnp.cumsum(x, axis=-1), amax=jnp.max, sg=jax.lax.stop_gradient)
    g, r = make_funcs(ops, n, J["W"], J["b"])[fn]
    f = compose(g, r)
    x, u, v, X, V = J["x"], J["u"], J["v"], J["X"], J["V"]
    grad_f, vg_f = jax.grad(f), jax.value_and_grad(f)
    jf, jr, ja, hs = jax.jacfwd(g), jax.jacrev(g), jax.jacobian(g), jax.hessian(f)
    ggs = jax.grad(lambda x: jnp.sum(jax.grad(f)(x)))
    vf, vgr, vgb = jax.vmap(f), jax.vmap(jax.grad(f)), jax.vmap(g)
    vj = jax.vmap(lambda t: jax.jvp(g, (x,), (t,))[1])
    ck = jax.grad(compose(jax.checkpoint(g), r))
    br = jax.block_until_ready

    def vjp():
        out, pb = jax.vjp(g, x)
        return br((out, pb(u)))

    return {"grad": lambda: br(grad_f(x)), "value_and_grad": lambda: br(vg_f(x)), "vjp": vjp,
            "jvp": lambda: br(jax.jvp(g, (x,), (v,))), "jacfwd": lambda: br(jf(x)),
            "jacrev": lambda: br(jr(x)), "jacobian": lambda: br(ja(x)), "hessian": lambda: br(hs(x)),
            "hvp": lambda: br(jax.jvp(grad_f, (x,), (v,))[1]), "grad(sum grad)": lambda: br(ggs(x)),
            "vmap f": lambda: br(vf(X)), "vmap grad": lambda: br(vgr(X)),
            "jvp of vmap": lambda: br(jax.jvp(vgb, (X,), (V,))), "vmap jvp": lambda: br(vj(V)),
            "checkpoint grad": lambda: br(ck(x))}


def ag_cells(fn, n, d):
    ag = peer("autograd")
    if ag is None:
        return {}
    anp = ag.numpy
    from autograd.differential_operators import checkpoint, hessian_vector_product, make_vjp
    from autograd.tracer import getval
    ops = _Ops(tanh=anp.tanh, sin=anp.sin, exp=anp.exp, log=anp.log, total=anp.sum, cumsum=anp.cumsum,
               amax=anp.max, sg=getval)
    g, r = make_funcs(ops, n, d["W"], d["b"])[fn]
    f = compose(g, r)
    x, u = d["x"], d["u"]
    grad_f, vg_f = ag.grad(f), ag.value_and_grad(f)
    ja, hs = ag.jacobian(g), ag.hessian(f)
    hvp = hessian_vector_product(f)
    ggs = ag.grad(lambda x: anp.sum(ag.grad(f)(x)))
    ck = ag.grad(compose(checkpoint(g), r))

    def vjp():
        pb, out = make_vjp(g)(x)
        return out, pb(u)

    return {"grad": lambda: grad_f(x), "value_and_grad": lambda: vg_f(x), "vjp": vjp,
            "jvp": lambda: ag.make_jvp(g)(x)(d["v"]),
            "jacrev": lambda: ja(x), "jacobian": lambda: ja(x), "hessian": lambda: hs(x),
            "hvp": lambda: hvp(x, d["v"]), "grad(sum grad)": lambda: ggs(x), "checkpoint grad": lambda: ck(x)}


def numpy_cells(fn, n, d):
    """The NumPy floor of the cells where one exists: the same arithmetic written by hand in NumPy.

    Not a peer (it differentiates nothing): where NumPy's own kernels are slower than a peer's
    (float64 ``tanh`` and ``sin``: PyTorch's vectorised ones run 2-3x faster), chainrule, which
    computes with NumPy, can be no faster than this floor.
    """
    X, W, b = d["X"], d["W"], d["b"]

    def vf():
        if fn == "f1":
            return np.sum(np.tanh(X) * np.sin(X) + X ** 2 / 2, axis=1)
        if fn == "f2":
            return np.sum(np.tanh(X @ W.T + b) ** 2, axis=1)
        m = np.max(X, axis=1, keepdims=True)
        y = m + np.log(np.sum(np.exp(X - m), axis=1, keepdims=True)) - X + np.cumsum(X, axis=1) ** 2 / n
        return y[:, 0] + np.sum(y, axis=1) / n

    return {"vmap f": vf}


PEER_CELLS = {"tfunc": tfunc_cells, "torch": torch_cells, "jax": jax_cells, "ag": ag_cells}
FLOOR = "np"  # the key of the NumPy floor (timed with the peers, never the best peer)
#: the check order: chainrule is compared with the first of these that has the transform
REF_ORDER = ("jax", "tfunc", "torch", "ag")


# -- one cell ------------------------------------------------------------------------------

def _call_timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_cell(fn_name, n, transform, cells, repeats, min_time):
    """Check and time one cell; ``cells`` is ``{framework: {transform: callable}}``."""
    rows = {k: c[transform] for k, c in cells.items() if transform in c}
    outs, first = {}, {}
    for k, fn in rows.items():
        out, first[k] = _call_timed(fn)
        outs[k] = to_np(out)
    ref_key = next((k for k in REF_ORDER if k in outs), None)
    cell = {"function": fn_name, "n": n, "transform": transform, "us": {}, "notes": []}
    if ref_key is None:
        raise AssertionError(f"{fn_name} n={n} {transform}: no peer has this transform")
    err = rel_err(outs["cr"], outs[ref_key])
    if not err <= TOL:
        raise AssertionError(f"{fn_name} n={n} {transform}: chainrule differs from {PEERS[ref_key]} "
                             f"(rel. error {err:.2e})")
    cell["checked_against"], cell["rel_err"] = ref_key, err
    for k in rows:
        if k != "cr":
            e = rel_err(outs[k], outs["cr"])
            if not e <= PEER_TOL:
                cell["notes"].append(f"{PEERS.get(k, 'NumPy floor')} differs from chainrule (rel. error {e:.1e})")

    # the check call was the first (JAX eager compiles each primitive there, torch.func loads):
    # a row is slow only if a second call is slow too; it is then timed by that call alone
    second = {k: _call_timed(rows[k])[1] for k in rows if first[k] > SLOW_S}
    slow = {k for k, t in second.items() if t > SLOW_S}
    fast = [k for k in rows if k not in slow]
    timings = measure_all([rows[k] for k in fast], repeats=repeats, min_time=min_time)
    for k, t in zip(fast, timings):
        cell["us"][k] = t.best * 1e6
    for k in slow:
        cell["us"][k] = min(second[k], first[k]) * 1e6
        cell["notes"].append(f"{PEERS.get(k, k)}: over {SLOW_S:.0f} s per call, best of 2 calls")
    peers = {k: t for k, t in cell["us"].items() if k not in ("cr", FLOOR)}
    best = min(peers, key=peers.get)
    cell["best_peer"], cell["best_peer_us"] = best, peers[best]
    cell["ratio"] = cell["us"]["cr"] / peers[best]
    if FLOOR in cell["us"]:
        cell["floor_us"] = cell["us"][FLOOR]
        cell["ratio_to_floor"] = cell["us"]["cr"] / cell["floor_us"]
        cell["floor_ratio_to_best_peer"] = cell["floor_us"] / peers[best]
    return cell


def fcell(c):
    return f"{fnum(c['us']['cr'])} ({c['ratio']:.2f}x {PEERS[c['best_peer']]})"


def run(quick=False, funcs=FUNCS, ns=NS, transforms=TRANSFORMS):
    """Check and time every cell; print a table per function and the summary; returns the results."""
    repeats, min_time = (2, 0.005) if quick else (7, 0.03)
    print(f"\n(l) Transform matrix: {len(funcs)} functions x n in {{{', '.join(map(str, ns))}}} x {len(transforms)} transforms, "
          f"float64, eager against eager; best of {repeats} runs (interleaved)")
    print(f"    cell = chainrule µs per call (its ratio to the fastest eager peer, which peer); "
          f"target: no cell above {LIMIT}x.  B = {B} for the vmap rows.")
    print("    Peers: torch.func (eager), PyTorch eager (tape, forward AD, torch.autograd.functional), "
          "JAX eager (not jitted), HIPS autograd.")
    cells = []
    for fn_name in funcs:
        by = {}
        for n in ns:
            d = make_data(n)
            fw = {"cr": cr_cells(fn_name, n, d), FLOOR: numpy_cells(fn_name, n, d)}
            for k, make in PEER_CELLS.items():
                c = make(fn_name, n, d)
                if c:
                    fw[k] = c
            for tr in transforms:
                c = bench_cell(fn_name, n, tr, fw, repeats, min_time)
                cells.append(c)
                by[tr, n] = c
        rows = [[tr] + [fcell(by[tr, n]) for n in ns] for tr in transforms]
        print(f"\n(l) {TITLES[fn_name]}")
        print(table(["transform"] + [f"n = {n}" for n in ns], rows))
        sys_flush()
    # the detail: every peer's time
    print("\n(l) detail: µs per call of every framework (— : the framework has no such transform)")
    head = ["function", "n", "transform", "chainrule"] + list(PEERS.values()) + ["NumPy floor", "ratio", "notes"]
    drows = []
    for c in cells:
        drows.append([c["function"], str(c["n"]), c["transform"], fnum(c["us"]["cr"])]
                     + [fnum(c["us"][k]) if k in c["us"] else DASH for k in (*PEERS, FLOOR)]
                     + [f"{c['ratio']:.2f}x", "; ".join(c["notes"])])
    print(table(head, drows, left=(0, 2, 9)))
    summary = summarize(cells)
    print("\n" + "\n".join(summary["lines"]))
    return {"repeats": repeats, "min_time": min_time, "limit": LIMIT, "cells": cells,
            "summary": {k: v for k, v in summary.items() if k != "lines"}}


def summarize(cells):
    at_or_under = [c for c in cells if c["ratio"] <= 1.0]
    above = sorted((c for c in cells if c["ratio"] > LIMIT), key=lambda c: -c["ratio"])
    between = [c for c in cells if 1.0 < c["ratio"] <= LIMIT]
    lines = [f"(l) summary: {len(cells)} cells; chainrule at or under the best eager peer in {len(at_or_under)}, "
             f"within 1.0-{LIMIT}x in {len(between)}, above {LIMIT}x in {len(above)}."]
    bound = [c for c in above if c.get("floor_ratio_to_best_peer", 0) > LIMIT]
    for c in above:
        why = (f"; NumPy's own kernels: the hand-written NumPy floor takes {fnum(c['floor_us'])} µs, "
               f"{c['floor_ratio_to_best_peer']:.2f}x the peer, and chainrule is {c['ratio_to_floor']:.2f}x that floor"
               if c in bound else "")
        lines.append(f"    above {LIMIT}x: {c['function']} n={c['n']} {c['transform']}: {c['ratio']:.2f}x "
                     f"({fnum(c['us']['cr'])} µs vs {PEERS[c['best_peer']]} {fnum(c['best_peer_us'])} µs){why}")
    verdict = "MET" if not above else "MISSED"
    if above and len(bound) == len(above):
        verdict += (f" only where NumPy's own kernels are above {LIMIT}x the peer ({len(bound)} cell"
                    f"{'s' if len(bound) != 1 else ''}: chainrule within {max(c['ratio_to_floor'] for c in bound):.2f}x "
                    f"of the NumPy floor there)")
    lines.append(f"    target (no cell above {LIMIT}x the best eager peer): {verdict}")
    return {"lines": lines, "cells": len(cells), "at_or_under": len(at_or_under), "between": len(between),
            "above": [(c["function"], c["n"], c["transform"], c["ratio"]) for c in above],
            "numpy_bound": [(c["function"], c["n"], c["transform"], c["ratio_to_floor"]) for c in bound],
            "met": not above}


def sys_flush():
    import sys
    sys.stdout.flush()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer, shorter repeats")
    ap.add_argument("--functions", default=",".join(FUNCS), help="comma-separated subset of f1,f2,f3")
    ap.add_argument("--n", default=",".join(map(str, NS)), help="comma-separated sizes")
    ap.add_argument("--transforms", default=None, help="comma-separated subset of the transforms")
    a = ap.parse_args()
    run(quick=a.quick, funcs=tuple(a.functions.split(",")), ns=tuple(int(s) for s in a.n.split(",")),
        transforms=tuple(a.transforms.split(",")) if a.transforms else TRANSFORMS)
