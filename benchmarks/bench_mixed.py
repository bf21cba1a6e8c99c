"""(c) Mixed workload: the gradient of a small physics-style energy of 64 particles.

The positions ``X`` (64 x 3, float64) are the input.  With a fixed set of
256 random edges ``(i, j)`` with rest lengths ``L``, an 8 x 8 SPD matrix
``K`` and a vector ``b``, the energy is the same formula in every framework:

    d = X[i] - X[j]                                   # advanced integer indexing
    r = sqrt(einsum('ed,ed->e', d, d))
    springs = sum((r - L) ** 2)
    A = K + einsum('nd,md->nm', X[:8], X[:8])         # depends on X
    solve_term = 0.5 * b @ linalg.solve(A, b)
    E = springs + solve_term + mean(max(X, axis=0))   # reductions

One call = the value and the gradient with respect to ``X`` (``cr.grad``
returns the gradient only).  The NumPy floor is the hand-written gradient:
``2 (r - L) d / r`` scattered onto the endpoints with ``np.add.at``;
``dE/dA = -0.5 y y^T`` with ``y = solve(A, b)`` (A is symmetric), through the
einsum ``dX[:8] = (G + G^T) X[:8]``; and ``1/3`` at each column's argmax (the
positions are random, so there are no ties).  Before timing, every
framework's value and gradient are checked against the floor's.

The compiled rows, ``cr.jit(cr.value_and_grad(E))`` and
``jax.jit(jax.value_and_grad(E))``, are traced and compiled in the warm-up
calls.  With ``jit_only=True`` only the rows of issue 11's target run (the
floor, chainrule's compiled row, PyTorch eager and ``jax.jit``).
"""
from __future__ import annotations

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import cores_note, measure_all, peer, ratio_rows, skipped, table

N = 64          # particles
DIM = 3
N_EDGES = 256
M = 8           # size of the linear system (the first M particles)
TOL = 1e-8      # relative, float64; normwise: max |g - ref| / max |ref|


def make_data(seed=0):
    """Positions X0 and the constants: edge indices, rest lengths, K (SPD), b."""
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((N, DIM))
    i = rng.integers(0, N, N_EDGES)
    j = (i + rng.integers(1, N, N_EDGES)) % N  # j != i, so no edge has length 0
    L = np.linalg.norm(X0[i] - X0[j], axis=1) * rng.uniform(0.8, 1.2, N_EDGES)
    Q = rng.standard_normal((M, M))
    K = Q @ Q.T + M * np.eye(M)
    b = rng.standard_normal(M)
    return X0, {"i": i, "j": j, "L": L, "K": K, "b": b}


def make_energy(einsum, sqrt, total, solve, max0, mean, c):
    """The benchmark function, written once; ``c`` holds the constants in the framework's type."""
    i, j, L, K, b = c["i"], c["j"], c["L"], c["K"], c["b"]

    def energy(X):
        d = X[i] - X[j]
        r = sqrt(einsum("ed,ed->e", d, d))
        springs = total((r - L) ** 2)
        Xs = X[:M]
        A = K + einsum("nd,md->nm", Xs, Xs)
        solve_term = 0.5 * (b @ solve(A, b))
        return springs + solve_term + mean(max0(X))
    return energy


# -- NumPy floor: hand-written forward and backward ------------------------------------

def floor_value_and_grad(X, c):
    i, j, L, K, b = c["i"], c["j"], c["L"], c["K"], c["b"]
    # forward
    d = X[i] - X[j]
    r = np.sqrt(np.einsum("ed,ed->e", d, d))
    res = r - L
    Xs = X[:M]
    A = K + Xs @ Xs.T
    y = np.linalg.solve(A, b)
    am = np.argmax(X, axis=0)
    value = res @ res + 0.5 * (b @ y) + X[am, np.arange(DIM)].mean()
    # backward
    g = np.zeros_like(X)
    dd = (2.0 * res / r)[:, None] * d
    np.add.at(g, i, dd)
    np.add.at(g, j, -dd)
    # dE/dA = -0.5 y y^T (A symmetric); A = K + Xs Xs^T  =>  dXs = (G + G^T) Xs = -y (y^T Xs)
    g[:M] -= np.outer(y, y @ Xs)
    g[am, np.arange(DIM)] += 1.0 / DIM
    return value, g


# -- the rows ------------------------------------------------------------------------------

FLOOR = "NumPy floor (hand-written value + grad)"
TORCH = "PyTorch eager (loss.backward())"
CR_JIT = "chainrule cr.jit(cr.value_and_grad)"
JAX_JIT = "JAX jax.jit(jax.value_and_grad) [compiled ref.]"
JIT_ROWS = {FLOOR, TORCH, CR_JIT, JAX_JIT}


def _rows(X0, c):
    """``(name, timed_fn, check_fn, peer, note)``; ``check_fn`` returns ``(value or None, grad)`` in NumPy."""
    import chainrule as cr
    import chainrule.numpy as cnp

    rows = [(FLOOR, lambda: floor_value_and_grad(X0, c), lambda: floor_value_and_grad(X0, c), None,
             "np.add.at scatter; dA = -0.5 y y^T")]

    cr_E = make_energy(cnp.einsum, cnp.sqrt, cnp.sum, cnp.linalg.solve,
                       lambda X: cnp.max(X, axis=0), cnp.mean, c)
    cr_g = cr.grad(cr_E)
    cr_vg = cr.value_and_grad(cr_E)
    rows.append(("chainrule cr.grad (functional)", lambda: cr_g(X0),
                 lambda: (None, np.asarray(cr_g(X0))), None, "gradient only"))
    rows.append(("chainrule cr.value_and_grad", lambda: cr_vg(X0),
                 lambda: tuple(np.asarray(v) for v in cr_vg(X0)), None, ""))
    cr_jvg = cr.jit(cr_vg)
    rows.append((CR_JIT, lambda: cr_jvg(X0), lambda: tuple(np.asarray(v) for v in cr_jvg(X0)), None,
                 "compiled once, in warm-up"))

    xt = cr.tensor(X0, requires_grad=True)

    def tape():
        xt.grad = None
        E = cr_E(xt)
        E.backward()
        return E, xt.grad

    rows.append(("chainrule tape (.backward())", tape,
                 lambda: tuple(v.detach().numpy() for v in tape()), None,
                 "x = cr.tensor(..., requires_grad=True)"))

    torch = peer("torch")
    if torch is None:
        rows.append((TORCH, None, None, "torch", None))
    else:
        ct = {k: torch.from_numpy(v) for k, v in c.items()}
        tE = make_energy(torch.einsum, torch.sqrt, torch.sum, torch.linalg.solve,
                         lambda X: torch.max(X, dim=0).values, torch.mean, ct)
        xtt = torch.tensor(X0, dtype=torch.float64, requires_grad=True)

        def torch_vg():
            xtt.grad = None
            E = tE(xtt)
            E.backward()
            return E, xtt.grad

        rows.append((TORCH, torch_vg, lambda: tuple(v.detach().numpy().copy() for v in torch_vg()),
                     "torch", "x requires_grad; torch.linalg.solve"))

    jax = peer("jax")
    if jax is None:
        rows.append(("JAX eager jax.value_and_grad", None, None, "jax", None))
        rows.append((JAX_JIT, None, None, "jax", None))
    else:
        jnp = jax.numpy
        cj = {k: jnp.asarray(v) for k, v in c.items()}
        jE = make_energy(jnp.einsum, jnp.sqrt, jnp.sum, jnp.linalg.solve,
                         lambda X: jnp.max(X, axis=0), jnp.mean, cj)
        xj = jnp.asarray(X0)
        jvg = jax.value_and_grad(jE)
        rows.append(("JAX eager jax.value_and_grad", lambda: jax.block_until_ready(jvg(xj)),
                     lambda: tuple(np.asarray(v) for v in jvg(xj)), "jax", "not jitted"))
        jjvg = jax.jit(jvg)
        rows.append((JAX_JIT,
                     lambda: jax.block_until_ready(jjvg(xj)),
                     lambda: tuple(np.asarray(v) for v in jjvg(xj)), "jax", "compiled once, in warm-up"))

    ag = peer("autograd")
    if ag is None:
        rows.append(("HIPS autograd value_and_grad", None, None, "autograd", None))
    else:
        anp = ag.numpy
        aE = make_energy(anp.einsum, anp.sqrt, anp.sum, anp.linalg.solve,
                         lambda X: anp.max(X, axis=0), anp.mean, c)
        avg = ag.value_and_grad(aE)
        rows.append(("HIPS autograd value_and_grad", lambda: avg(X0),
                     lambda: tuple(np.asarray(v) for v in avg(X0)), "autograd", "autograd.numpy"))
    return rows


def _rel_err(g, ref):
    return float(np.max(np.abs(np.asarray(g, dtype=np.float64) - ref)) / max(float(np.max(np.abs(ref))), 1e-300))


def run(quick=False, jit_only=False):
    """Check every value and gradient, time every row, print the table; returns the results.

    ``jit_only``: only the rows of the compiled-code target (``JIT_ROWS``).
    """
    repeats, min_time = (3, 0.015) if quick else (7, 0.05)
    X0, c = make_data()
    ref_value, ref = floor_value_and_grad(X0, c)
    top2 = np.sort(X0, axis=0)[-2:]
    assert np.all(top2[1] > top2[0]), "a tie at a column's max: the max gradient would be split"

    results, notes, fns = [], [], []
    for name, fn, check, peer_name, note in _rows(X0, c):
        if jit_only and name not in JIT_ROWS:
            continue
        if fn is None:
            results.append({"name": name, "skipped": skipped(peer_name)})
            continue
        # correctness first: a wrong gradient makes a time meaningless
        value, g = check()
        err = _rel_err(g, ref)
        msg = None
        if np.shape(g) != ref.shape or not err <= TOL:
            msg = f"gradient differs from the NumPy floor's (rel. error {err:.2e})"
        elif value is not None and not abs(float(value) - ref_value) <= TOL * abs(ref_value):
            msg = f"value {float(value)!r} differs from the NumPy floor's {ref_value!r}"
        if msg is not None:
            if name.startswith("chainrule"):
                raise AssertionError(f"{name}: {msg}")
            notes.append(f"CHECK FAILED: {name}: {msg}")
        row = {"name": name, "note": note, "peer": peer_name, "grad_rel_err_vs_floor": err}
        results.append(row)
        fns.append((row, fn))

    timings = measure_all([f for _, f in fns], repeats=repeats, min_time=min_time)
    for (row, _), t in zip(fns, timings):
        row["us_per_call"] = t.best * 1e6
        row["timing"] = t.as_dict()
    timings = [(row["name"], t) for (row, _), t in zip(fns, timings)]

    headers = ["framework", "µs/call", "vs NumPy floor", "vs PyTorch", "vs jax.jit", "grad err", "notes"]
    rows = ratio_rows(results, "us_per_call", "grad_rel_err_vs_floor", FLOOR, [TORCH], JAX_JIT)
    print(f"\n(c) Mixed workload, float64: energy of {N} particles in {DIM}-D ({N_EDGES} springs via integer "
          f"indexing + einsum, an {M}x{M} linalg.solve, mean of max)")
    print(f"    one call = value + gradient w.r.t. X ({N}x{DIM}); best of {repeats} runs; "
          f"'grad err' = max rel. difference from the floor's gradient (checked before timing)")
    print(table(headers, rows, notes + cores_note(timings), left=(0, 6)))
    return {"n_particles": N, "n_edges": N_EDGES, "system_size": M, "repeats": repeats, "rows": results}
