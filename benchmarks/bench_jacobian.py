"""(d) Jacobians and Hessians: whole derivative matrices, float64.

Three functions, each written once and run in every framework:

    f(x) = tanh(W @ x)          W: 4 x 1000    (R^1000 -> R^4: wide, reverse mode wins)
    g(x) = tanh(V @ x)          V: 1000 x 4    (R^4 -> R^1000: tall, forward mode wins)
    h(x) = sum(tanh(A @ x)**2)  A: 64 x 64     (R^64 -> R, its 64 x 64 Hessian)

The Jacobians of f and g are taken by ``cr.jacfwd``, ``cr.jacrev`` and
``cr.jacobian`` (mode "auto": forward when the outputs outnumber the inputs,
reverse otherwise); the table says which of the two modes was faster and
whether auto picked it.  The Hessian of h is ``cr.hessian``
(forward-over-reverse).  Peers: ``torch.func.jacfwd/jacrev/hessian``,
``jax.jacfwd/jacrev/hessian`` (eager and jitted) and HIPS autograd's
``jacobian`` / ``hessian``.

The NumPy floor is hand-written: ``J = diag(1 - t**2) W`` with
``t = tanh(W x)``, and ``H = A^T diag(d2) A`` with ``t = tanh(A x)`` and
``d2 = (2 - 6 t**2)(1 - t**2)``, the second derivative of ``tanh(u)**2``.
Before timing, every framework's matrix is checked against the floor's.

Compiled rows: ``cr.jit`` of ``cr.jacfwd`` / ``cr.jacrev`` / ``cr.hessian``
next to ``jax.jit`` of JAX's; both are traced and compiled in the warm-up
calls.  With ``jit_only=True`` only the Hessian table runs, with the rows of
issue 11's target (the floor, ``cr.jit(cr.hessian)``, PyTorch and ``jax.jit``).
"""
from __future__ import annotations

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import cores_note, fnum, measure_all, peer, ratio_rows, skipped, table

N_WIDE = 1000   # inputs of f, outputs of g
K_NARROW = 4    # outputs of f, inputs of g
N_HESS = 64     # h: R^64 -> R
TOL = 1e-8      # relative, float64; normwise: max |J - ref| / max |ref|


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((K_NARROW, N_WIDE))
    xf = rng.standard_normal(N_WIDE) / np.sqrt(N_WIDE)       # W @ xf ~ N(0, 1): tanh not saturated
    V = rng.standard_normal((N_WIDE, K_NARROW))
    xg = rng.standard_normal(K_NARROW) / np.sqrt(K_NARROW)
    A = rng.standard_normal((N_HESS, N_HESS))
    xh = rng.standard_normal(N_HESS) / np.sqrt(N_HESS)
    return {"f": (W, xf), "g": (V, xg), "h": (A, xh)}


def make_tanh_linear(tanh, M):
    def fn(x):
        return tanh(M @ x)
    return fn


def make_h(tanh, total, A):
    def h(x):
        return total(tanh(A @ x) ** 2)
    return h


# -- NumPy floor: hand-written derivative matrices -------------------------------------------

def floor_jacobian(M, x):
    t = np.tanh(M @ x)
    return (1.0 - t * t)[:, None] * M


def floor_hessian(A, x):
    t = np.tanh(A @ x)
    t2 = t * t
    d2 = (2.0 - 6.0 * t2) * (1.0 - t2)   # d^2/du^2 tanh(u)^2
    return A.T @ (d2[:, None] * A)


# -- the rows ------------------------------------------------------------------------------

FLOOR = "NumPy floor (hand-written)"
CR_FWD, CR_REV, CR_AUTO = "chainrule cr.jacfwd", "chainrule cr.jacrev", 'chainrule cr.jacobian (mode="auto")'
CR_HESS = "chainrule cr.hessian"
CR_JIT_HESS = "chainrule cr.jit(cr.hessian)"
JAX_JIT_HESS = "JAX jax.jit(jax.hessian) [compiled ref.]"
TORCH_FWD, TORCH_REV = "PyTorch torch.func.jacfwd", "PyTorch torch.func.jacrev"
TORCH_HESS = "PyTorch torch.func.hessian"
JIT_ROWS = {FLOOR, CR_JIT_HESS, TORCH_HESS, JAX_JIT_HESS}


def _jac_rows(M, x):
    """``(name, timed_fn, check_fn, peer, note)`` for the Jacobian of tanh(M @ x)."""
    import chainrule as cr
    import chainrule.numpy as cnp

    rows = [(FLOOR, lambda: floor_jacobian(M, x), lambda: floor_jacobian(M, x), None,
             "diag(1 - t^2) M")]
    fn = make_tanh_linear(cnp.tanh, M)
    for name, tr in ((CR_FWD, cr.jacfwd), (CR_REV, cr.jacrev), (CR_AUTO, cr.jacobian)):
        j = tr(fn)
        rows.append((name, lambda j=j: j(x), lambda j=j: np.asarray(j(x)), None,
                     "one recorded pass decides; reused in rev mode" if name == CR_AUTO else "one cr.vmap pass"))
    for label, tr in (("jacfwd", cr.jacfwd), ("jacrev", cr.jacrev)):
        j = cr.jit(tr(fn))
        rows.append((f"chainrule cr.jit(cr.{label})", lambda j=j: j(x), lambda j=j: np.asarray(j(x)), None,
                     "compiled once, in warm-up"))

    torch = peer("torch")
    if torch is None:
        rows += [(TORCH_FWD, None, None, "torch", None), (TORCH_REV, None, None, "torch", None)]
    else:
        tfn = make_tanh_linear(torch.tanh, torch.from_numpy(M))
        xt = torch.from_numpy(x)
        for name, tr in ((TORCH_FWD, torch.func.jacfwd), (TORCH_REV, torch.func.jacrev)):
            j = tr(tfn)
            rows.append((name, lambda j=j: j(xt), lambda j=j: j(xt).numpy().copy(), "torch", "vmap inside"))

    jax = peer("jax")
    if jax is None:
        rows += [("JAX eager jax.jacfwd / jacrev", None, None, "jax", None)]
    else:
        jnp = jax.numpy
        jfn = make_tanh_linear(jnp.tanh, jnp.asarray(M))
        xj = jnp.asarray(x)
        for label, tr in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
            j = tr(jfn)
            rows.append((f"JAX eager jax.{label}", lambda j=j: jax.block_until_ready(j(xj)),
                         lambda j=j: np.asarray(j(xj)), "jax", "not jitted"))
        for label, tr in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
            j = jax.jit(tr(jfn))
            rows.append((f"JAX jax.jit(jax.{label}) [compiled ref.]", lambda j=j: jax.block_until_ready(j(xj)),
                         lambda j=j: np.asarray(j(xj)), "jax", "compiled once, in warm-up"))

    ag = peer("autograd")
    if ag is None:
        rows.append(("HIPS autograd jacobian", None, None, "autograd", None))
    else:
        afn = make_tanh_linear(ag.numpy.tanh, M)
        j = ag.jacobian(afn)
        rows.append(("HIPS autograd jacobian", lambda: j(x), lambda: np.asarray(j(x)), "autograd",
                     "reverse mode, one vjp per output"))
    return rows


def _hess_rows(A, x):
    import chainrule as cr
    import chainrule.numpy as cnp

    rows = [(FLOOR, lambda: floor_hessian(A, x), lambda: floor_hessian(A, x), None,
             "A^T diag(d2) A")]
    hh = cr.hessian(make_h(cnp.tanh, cnp.sum, A))
    rows.append((CR_HESS, lambda: hh(x), lambda: np.asarray(hh(x)), None, "forward-over-reverse"))
    jhh = cr.jit(hh)
    rows.append((CR_JIT_HESS, lambda: jhh(x), lambda: np.asarray(jhh(x)), None, "compiled once, in warm-up"))

    torch = peer("torch")
    if torch is None:
        rows.append((TORCH_HESS, None, None, "torch", None))
    else:
        th = torch.func.hessian(make_h(torch.tanh, torch.sum, torch.from_numpy(A)))
        xt = torch.from_numpy(x)
        rows.append((TORCH_HESS, lambda: th(xt), lambda: th(xt).numpy().copy(), "torch",
                     "jacfwd(jacrev)"))

    jax = peer("jax")
    if jax is None:
        rows.append(("JAX eager jax.hessian", None, None, "jax", None))
        rows.append((JAX_JIT_HESS, None, None, "jax", None))
    else:
        jnp = jax.numpy
        jh = jax.hessian(make_h(jnp.tanh, jnp.sum, jnp.asarray(A)))
        xj = jnp.asarray(x)
        rows.append(("JAX eager jax.hessian", lambda: jax.block_until_ready(jh(xj)),
                     lambda: np.asarray(jh(xj)), "jax", "not jitted"))
        jjh = jax.jit(jh)
        rows.append((JAX_JIT_HESS, lambda: jax.block_until_ready(jjh(xj)),
                     lambda: np.asarray(jjh(xj)), "jax", "compiled once, in warm-up"))

    ag = peer("autograd")
    if ag is None:
        rows.append(("HIPS autograd hessian", None, None, "autograd", None))
    else:
        ah = ag.hessian(make_h(ag.numpy.tanh, ag.numpy.sum, A))
        rows.append(("HIPS autograd hessian", lambda: ah(x), lambda: np.asarray(ah(x)), "autograd",
                     "jacobian(jacobian)"))
    return rows


def _rel_err(J, ref):
    return float(np.max(np.abs(np.asarray(J, dtype=np.float64) - ref)) / max(float(np.max(np.abs(ref))), 1e-300))


def _bench(rows, ref, repeats, min_time, torch_names, jax_jit_name, jit_only=False):
    """Check, time and tabulate one set of rows; returns ``(results, table rows, notes)``."""
    results, notes, fns = [], [], []
    for name, fn, check, peer_name, note in rows:
        if jit_only and name not in JIT_ROWS:
            continue
        if fn is None:
            results.append({"name": name, "skipped": skipped(peer_name)})
            continue
        # correctness first: a wrong matrix makes a time meaningless
        J = check()
        err = _rel_err(J, ref) if np.shape(J) == ref.shape else float("inf")
        if not err <= TOL:
            msg = f"result differs from the NumPy floor's (shape {np.shape(J)}, rel. error {err:.2e})"
            if name.startswith("chainrule"):
                raise AssertionError(f"{name}: {msg}")
            notes.append(f"CHECK FAILED: {name}: {msg}")
        row = {"name": name, "note": note, "peer": peer_name, "rel_err_vs_floor": err}
        results.append(row)
        fns.append((row, fn))

    timings = measure_all([f for _, f in fns], repeats=repeats, min_time=min_time)
    for (row, _), t in zip(fns, timings):
        row["ms_per_call"] = t.best * 1e3
        row["timing"] = t.as_dict()
    timings = [(row["name"], t) for (row, _), t in zip(fns, timings)]

    trows = ratio_rows(results, "ms_per_call", "rel_err_vs_floor", FLOOR, torch_names, jax_jit_name)
    return results, trows, notes + cores_note(timings)


HEADERS = ["framework", "ms/call", "vs NumPy floor", "vs PyTorch", "vs jax.jit", "err", "notes"]


def _mode_verdict(results, n_in, n_out):
    """Which of cr.jacfwd / cr.jacrev was faster, and whether mode="auto" picked it."""
    by = {r["name"]: r for r in results}
    t_fwd, t_rev, t_auto = (by[n]["ms_per_call"] for n in (CR_FWD, CR_REV, CR_AUTO))
    faster = "fwd" if t_fwd < t_rev else "rev"
    picked = "fwd" if n_out > n_in else "rev"   # cr.jacobian's rule
    t_fast, t_slow = min(t_fwd, t_rev), max(t_fwd, t_rev)
    auto_ratio = t_auto / t_fast
    # auto "matches" the faster mode when its time is nearer the faster mode's than the slower's
    matches = abs(t_auto - t_fast) < abs(t_auto - t_slow)
    verdict = {"faster_mode": faster, "speedup_of_faster": t_slow / t_fast, "auto_picked": picked,
               "auto_picked_faster": picked == faster, "auto_over_faster": auto_ratio,
               "auto_time_matches_faster": matches}
    lines = [f"    faster mode: cr.jac{faster} ({fnum(t_fast)} ms vs {fnum(t_slow)} ms, "
             f"{t_slow / t_fast:.1f}x faster); auto picked jac{picked} "
             f"({n_out} outputs {'>' if n_out > n_in else '<='} {n_in} inputs): "
             f"{'the faster mode' if picked == faster else 'NOT the faster mode'}",
             f"    auto's time = {auto_ratio:.2f}x the faster mode's "
             f"({'matches it' if matches else 'does NOT match it'}; auto records one reverse pass to count outputs, reused when it picks rev)"]
    return verdict, lines


def run(quick=False, jit_only=False):
    """Check every matrix, time every row, print the tables; returns the results.

    ``jit_only``: only the Hessian table, with the rows of the compiled-code target.
    """
    repeats, min_time = (3, 0.015) if quick else (7, 0.05)
    data = make_data()
    out = {"repeats": repeats}
    print(f"\n(d) Jacobians and Hessians, float64; one call = the whole matrix; best of {repeats} runs; "
          f"'err' = max |J - floor| / max |floor| (checked before timing);")
    print("    'vs PyTorch' divides by the faster PyTorch row (torch.func.jacfwd or jacrev) of the table; "
          "'vs jax.jit' by jax.jit of the faster mode (jacrev for d1, jacfwd for d2, hessian for d3)")

    for key, n_in, n_out, title in (
            ("f", N_WIDE, K_NARROW, f"f(x) = tanh(W @ x), W {K_NARROW}x{N_WIDE}: R^{N_WIDE} -> R^{K_NARROW} "
                                    f"(Jacobian {K_NARROW}x{N_WIDE}; wide: reverse mode should win)"),
            ("g", K_NARROW, N_WIDE, f"g(x) = tanh(V @ x), V {N_WIDE}x{K_NARROW}: R^{K_NARROW} -> R^{N_WIDE} "
                                    f"(Jacobian {N_WIDE}x{K_NARROW}; tall: forward mode should win)")):
        if jit_only:
            break
        M, x = data[key]
        ref = floor_jacobian(M, x)
        jax_ref = f"JAX jax.jit(jax.jac{'rev' if key == 'f' else 'fwd'}) [compiled ref.]"
        results, trows, notes = _bench(_jac_rows(M, x), ref, repeats, min_time, (TORCH_FWD, TORCH_REV), jax_ref)
        verdict, lines = _mode_verdict(results, n_in, n_out)
        print(f"\n(d{1 if key == 'f' else 2}) Jacobian of {title}")
        print(table(HEADERS, trows, notes, left=(0, 6)))
        print("\n".join(lines))
        out[f"jacobian_{key}"] = {"n_in": n_in, "n_out": n_out, "rows": results, "auto_mode": verdict}

    A, x = data["h"]
    results, trows, notes = _bench(_hess_rows(A, x), floor_hessian(A, x), repeats, min_time, (TORCH_HESS,),
                                   JAX_JIT_HESS, jit_only)
    print(f"\n(d3) Hessian of h(x) = sum(tanh(A @ x)**2), A {N_HESS}x{N_HESS}: R^{N_HESS} -> R "
          f"(Hessian {N_HESS}x{N_HESS})")
    print(table(HEADERS, trows, notes, left=(0, 6)))
    out["hessian_h"] = {"n": N_HESS, "rows": results}
    return out
