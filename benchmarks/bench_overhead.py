"""(a) Per-operation overhead: the gradient of a chain of 200 elementwise ops.

The chain is the same in every framework: 50 repetitions of
``x = tanh(x); x = sin(x); x = x * 1.1; x = x + 0.1`` on a 16-element
float64 vector, then ``loss = sum(x)``.  The arrays are so small that the
arithmetic costs almost nothing: what is measured is what each framework
spends per operation on dispatch, recording and the backward pass.

Times are reported per op (one call's time / 200), in microseconds.

The compiled rows (``cr.jit`` of ``cr.grad``, ``jax.jit`` of ``jax.grad``)
are traced and compiled in the warm-up calls; what they measure is the
dispatch of one compiled call plus its straight-line body.  With
``jit_only=True`` only the rows that issue 11's target compares are run
(the floor, chainrule's compiled rows, PyTorch eager and ``jax.jit``).
"""
from __future__ import annotations

import math

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import DASH, cores_note, fnum, fratio, measure_all, peer, skipped, table

N_REP = 50
N_OPS = 4 * N_REP  # tanh, sin, *1.1, +0.1 per repetition (the final sum is not counted)
SIZE = 16
SCALE = 1.1
SHIFT = 0.1

FLOOR = "NumPy floor (hand-written fwd + bwd)"
CR_JIT = "chainrule cr.jit(cr.grad(f))"
CR_GRAD_OF_JIT = "chainrule cr.grad(cr.jit(f))"
TORCH = "PyTorch eager (loss.backward())"
JAX_JIT = "JAX jax.jit(jax.grad) [compiled ref.]"
JIT_ROWS = {FLOOR, CR_JIT, CR_GRAD_OF_JIT, TORCH, JAX_JIT}


def make_loss(tanh, sin, total):
    """The benchmark function, written once, for any framework's ``tanh``/``sin``/``sum``."""
    def loss(x):
        for _ in range(N_REP):
            x = tanh(x)
            x = sin(x)
            x = x * SCALE
            x = x + SHIFT
        return total(x)
    return loss


# -- NumPy floor: hand-written forward (storing intermediates) and backward ------------

def floor_forward(x):
    saved = []
    for _ in range(N_REP):
        t = np.tanh(x)
        saved.append(t)  # tanh'(x) = 1 - t^2; the input of sin is t, sin'(t) = cos(t)
        x = np.sin(t)
        x = x * SCALE
        x = x + SHIFT
    return x.sum(), saved


def floor_grad(x):
    _, saved = floor_forward(x)
    g = np.ones_like(x)
    for t in reversed(saved):
        # + SHIFT: derivative 1; * SCALE; sin at t; tanh with output t
        g = g * SCALE
        g = g * np.cos(t)
        g = g * (1.0 - t * t)
    return g


# -- micrograd: scalar Values; tanh and sin added in micrograd's own style -------------

def _micrograd_ops():
    from micrograd.engine import Value

    def tanh(v):
        t = math.tanh(v.data)
        out = Value(t, (v,), "tanh")

        def _backward():
            v.grad += (1.0 - t * t) * out.grad
        out._backward = _backward
        return out

    def sin(v):
        out = Value(math.sin(v.data), (v,), "sin")
        c = math.cos(v.data)

        def _backward():
            v.grad += c * out.grad
        out._backward = _backward
        return out

    return Value, tanh, sin


# -- the rows ------------------------------------------------------------------------------

def _rows(x0):
    """``(name, forward_fn, fwd_bwd_fn, grad_fn_for_check, peer, note)`` for every framework.

    ``fwd_bwd_fn`` may be None (a forward-only row); ``grad_fn_for_check``
    returns the gradient as a NumPy array, for the correctness check.
    """
    import chainrule as cr
    import chainrule.numpy as cnp

    rows = []
    rows.append((FLOOR, lambda: floor_forward(x0),
                 lambda: floor_grad(x0), lambda: floor_grad(x0), None, None))

    cr_loss = make_loss(cnp.tanh, cnp.sin, cnp.sum)
    cr_grad = cr.grad(cr_loss)
    rows.append(("chainrule cr.grad (functional)", lambda: cr.vjp(cr_loss, x0),
                 lambda: cr_grad(x0), lambda: np.asarray(cr_grad(x0)), None,
                 "fwd = cr.vjp(f, x) (recorded, no backward)"))

    xt = cr.tensor(x0, requires_grad=True)

    def tape_fwd_bwd():
        xt.grad = None
        cr_loss(xt).backward()
        return xt.grad

    rows.append(("chainrule tape (.backward())", lambda: cr_loss(xt), tape_fwd_bwd,
                 lambda: tape_fwd_bwd().detach().numpy(), None,
                 "x = cr.tensor(..., requires_grad=True)"))
    rows.append(("chainrule.numpy on ndarrays (no tracer)", lambda: cr_loss(x0), None, None, None,
                 "forward only: the no-tracer fast path"))

    cr_jf, cr_jg = cr.jit(cr_loss), cr.jit(cr.grad(cr_loss))
    rows.append((CR_JIT, lambda: cr_jf(x0), lambda: cr_jg(x0), lambda: np.asarray(cr_jg(x0)), None,
                 "fwd = cr.jit(f); one compiled graph"))
    cr_gj = cr.grad(cr_jf)
    rows.append((CR_GRAD_OF_JIT, lambda: cr_jf(x0), lambda: cr_gj(x0), lambda: np.asarray(cr_gj(x0)), None,
                 "jit_call's vjp rule: compiled fwd + bwd graphs"))

    torch = peer("torch")
    if torch is None:
        rows.append((TORCH, None, None, None, "torch", None))
    else:
        tl = make_loss(torch.tanh, torch.sin, torch.sum)
        xtt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)

        def torch_fwd_bwd():
            xtt.grad = None
            tl(xtt).backward()
            return xtt.grad

        rows.append((TORCH, lambda: tl(xtt), torch_fwd_bwd,
                     lambda: torch_fwd_bwd().numpy().copy(), "torch", "x requires_grad"))

    jax = peer("jax")
    if jax is None:
        rows.append(("JAX eager jax.grad", None, None, None, "jax", None))
        rows.append((JAX_JIT, None, None, None, "jax", None))
    else:
        jnp = jax.numpy
        jl = make_loss(jnp.tanh, jnp.sin, jnp.sum)
        xj = jnp.asarray(x0)
        jg = jax.grad(jl)
        rows.append(("JAX eager jax.grad (not jitted)",
                     lambda: jax.block_until_ready(jax.vjp(jl, xj)[0]),
                     lambda: jg(xj).block_until_ready(), lambda: np.asarray(jg(xj)), "jax",
                     "fwd = jax.vjp(f, x)"))
        jf, jjg = jax.jit(jl), jax.jit(jg)
        rows.append((JAX_JIT, lambda: jf(xj).block_until_ready(),
                     lambda: jjg(xj).block_until_ready(), lambda: np.asarray(jjg(xj)), "jax",
                     "fwd = jax.jit(f); XLA fuses the chain"))

    ag = peer("autograd")
    if ag is None:
        rows.append(("HIPS autograd grad", None, None, None, "autograd", None))
    else:
        anp = ag.numpy
        al = make_loss(anp.tanh, anp.sin, anp.sum)
        agrad = ag.grad(al)
        rows.append(("HIPS autograd grad", lambda: ag.make_vjp(al)(x0), lambda: agrad(x0),
                     lambda: np.asarray(agrad(x0)), "autograd", "fwd = make_vjp(f)(x)"))

    mg = peer("micrograd")
    if mg is None:
        rows.append(("micrograd (scalar)", None, None, None, "micrograd", None))
    else:
        Value, mtanh, msin = _micrograd_ops()
        chain = make_loss(mtanh, msin, lambda v: v)
        xs = [float(v) for v in x0]

        def mg_fwd():
            vs = [Value(v) for v in xs]
            return vs, sum(chain(v) for v in vs)

        def mg_fwd_bwd():
            vs, loss = mg_fwd()
            loss.backward()
            return np.array([v.grad for v in vs])

        rows.append(("micrograd (16 scalar Values)", mg_fwd, mg_fwd_bwd, mg_fwd_bwd, "micrograd",
                     "16 scalar chains: 1 op = 16 scalar ops (*)"))
    return rows


def run(quick=False, jit_only=False):
    """Check every gradient, time every row, print the table; returns the results.

    ``jit_only``: only the rows of the compiled-code target (``JIT_ROWS``).
    """
    repeats, min_time = (3, 0.015) if quick else (7, 0.05)
    x0 = np.random.default_rng(0).uniform(-1.0, 1.0, SIZE)
    ref = floor_grad(x0)

    results = []
    notes = []
    fns = []  # (result row, "fwd" or "fwd_bwd", callable)
    for name, fwd, fwdbwd, check, peer_name, note in _rows(x0):
        if jit_only and name not in JIT_ROWS:
            continue
        if fwd is None:
            results.append({"name": name, "skipped": skipped(peer_name)})
            continue
        err = None
        if check is not None:  # correctness first: a wrong gradient makes a time meaningless
            g = check()
            err = float(np.max(np.abs(g - ref) / np.abs(ref)))
            tol = 1e-10 if name.startswith("chainrule") else 1e-9
            if not err <= tol:
                msg = f"{name}: gradient differs from the NumPy floor's (max rel. error {err:.2e})"
                if name.startswith("chainrule"):
                    raise AssertionError(msg)
                notes.append("CHECK FAILED: " + msg)
        row = {"name": name, "note": note, "peer": peer_name, "fwd_us_per_op": None,
               "fwd_bwd_us_per_op": None, "fwd_timing": None, "fwd_bwd_timing": None,
               "max_rel_err_vs_floor": err}
        results.append(row)
        fns.append((row, "fwd", fwd))
        if fwdbwd is not None:
            fns.append((row, "fwd_bwd", fwdbwd))

    timings = measure_all([f for _, _, f in fns], repeats=repeats, min_time=min_time)
    for (row, kind, _), t in zip(fns, timings):
        row[f"{kind}_us_per_op"] = t.best / N_OPS * 1e6
        row[f"{kind}_timing"] = t.as_dict()
    timings = [(f"{row['name']} {kind}", t) for (row, kind, _), t in zip(fns, timings)]

    by = {r["name"]: r for r in results if "skipped" not in r}
    floor = by[FLOOR]["fwd_bwd_us_per_op"]
    torch_row, jax_row = by.get(TORCH), by.get(JAX_JIT)
    torch_t = torch_row["fwd_bwd_us_per_op"] if torch_row else None
    jax_t = jax_row["fwd_bwd_us_per_op"] if jax_row else None
    for r in results:
        t = r.get("fwd_bwd_us_per_op")
        r["ratio_to_torch"] = t / torch_t if t is not None and torch_t else None
        r["ratio_to_floor"] = t / floor if t is not None else None
        r["ratio_to_jax_jit"] = t / jax_t if t is not None and jax_t else None

    headers = ["framework", "µs/op fwd", "µs/op fwd+bwd", "vs PyTorch", "vs NumPy floor", "vs jax.jit", "notes"]
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["name"], DASH, DASH, DASH, DASH, DASH, r["skipped"]])
            continue
        rows.append([r["name"], fnum(r["fwd_us_per_op"]), fnum(r["fwd_bwd_us_per_op"]),
                     fratio(r["ratio_to_torch"]), fratio(r["ratio_to_floor"]),
                     fratio(r["ratio_to_jax_jit"]), r["note"] or ""])
    print(f"\n(a) Op overhead: gradient of {N_OPS} elementwise ops "
          f"(50 x [tanh, sin, *1.1, +0.1], then sum) on a {SIZE}-element float64 vector")
    print(f"    time per op = one call / {N_OPS}; best of {repeats} runs; "
          f"ratios are of the fwd+bwd column")
    notes = notes + cores_note(timings)
    if any(r["name"].startswith("micrograd") and "skipped" not in r for r in results):
        notes += ["(*) micrograd is scalar-only: each element runs its own chain of Values; micrograd has no",
                  "    tanh or sin, so the benchmark adds them in micrograd's own style (a Value with a _backward)."]
    print(table(headers, rows, notes, left=(0, 6)))
    return {"n_ops": N_OPS, "size": SIZE, "repeats": repeats, "rows": results}
