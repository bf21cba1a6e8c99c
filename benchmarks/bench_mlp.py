"""(b) One SGD training step of a 784-256-256-10 tanh MLP, batch 128 (and batch 16).

Softmax cross-entropy (mean over the batch), plain SGD with lr = 0.01, in
float32 and in float64.  The loss is the same formula in every framework:

    h1 = tanh(X @ W1 + b1); h2 = tanh(h1 @ W2 + b2); z = h2 @ W3 + b3
    m = stop_gradient(max(z, axis=1, keepdims=True))
    logp = z - (log(sum(exp(z - m), axis=1, keepdims=True)) + m)
    loss = -sum(onehot * logp) / B

The NLL is a one-hot multiply, which every framework writes the same way.
In chainrule it is within noise of the integer-array gather
``-mean(logp[arange(B), labels])`` (whose backward is a scatter-add; about
1% slower in a dedicated measurement); the gather variant is timed as an
extra chainrule row.  One call = forward,
backward and parameter update.  Before timing, every framework's gradient
is checked against the hand-written NumPy one, and in the float32 runs every
gradient and updated parameter is checked to be float32.

The compiled rows are ``cr.jit`` and ``jax.jit`` of the same function, the
whole step (value_and_grad + the update, returning the new parameters);
they are traced and compiled in the warm-up calls.  Batch 16 makes the step
small enough that per-call overhead shows.  With ``jit_only=True`` only the
rows of issue 11's targets run (the floor, chainrule's compiled step,
PyTorch eager and ``jax.jit``).
"""
from __future__ import annotations

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import cores_note, measure_all, peer, ratio_rows, skipped, table

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01
KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


def make_data(dtype, seed=0, batch=BATCH):
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        params[f"W{i}"] = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
        params[f"b{i}"] = (0.1 * rng.standard_normal(n_out)).astype(dtype)
    X = rng.standard_normal((batch, SIZES[0])).astype(dtype)
    labels = rng.integers(0, SIZES[-1], batch)
    onehot = np.eye(SIZES[-1], dtype=dtype)[labels]
    return params, X, labels, onehot


def copy_params(params):
    return {k: v.copy() for k, v in params.items()}


# -- NumPy floor: hand-written forward, backward and update ----------------------------

def floor_loss_and_grads(p, X, Y):
    B = X.shape[0]
    h1 = np.tanh(X @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    z = h2 @ p["W3"] + p["b3"]
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    logp = z - m - np.log(s)
    loss = -(Y * logp).sum() / B
    dz = (e / s - Y) / B                      # d loss / d logits = (softmax - onehot) / B
    g = {"W3": h2.T @ dz, "b3": dz.sum(axis=0)}
    da2 = (dz @ p["W3"].T) * (1 - h2 * h2)    # tanh' = 1 - tanh^2
    g["W2"], g["b2"] = h1.T @ da2, da2.sum(axis=0)
    da1 = (da2 @ p["W2"].T) * (1 - h1 * h1)
    g["W1"], g["b1"] = X.T @ da1, da1.sum(axis=0)
    return loss, g


def make_floor(params, X, labels, Y):
    p = copy_params(params)

    def step():
        _, g = floor_loss_and_grads(p, X, Y)
        for k in KEYS:
            p[k] -= LR * g[k]                 # in place

    return step, lambda: floor_loss_and_grads(copy_params(params), X, Y)[1], lambda: p


# -- chainrule -----------------------------------------------------------------------------

def chainrule_loss(gather=False):
    import chainrule as cr
    import chainrule.numpy as cnp

    def loss(p, X, labels, Y):
        h1 = cnp.tanh(X @ p["W1"] + p["b1"])
        h2 = cnp.tanh(h1 @ p["W2"] + p["b2"])
        z = h2 @ p["W3"] + p["b3"]
        m = cr.stop_gradient(cnp.max(z, axis=1, keepdims=True))
        logp = z - (cnp.log(cnp.sum(cnp.exp(z - m), axis=1, keepdims=True)) + m)
        if gather:
            return -cnp.mean(logp[np.arange(X.shape[0]), labels])
        return -cnp.sum(Y * logp) / X.shape[0]

    return loss


def make_chainrule_functional(params, X, labels, Y, gather=False):
    import chainrule as cr
    vg = cr.value_and_grad(chainrule_loss(gather))
    state = {"p": copy_params(params)}

    def step():
        _, g = vg(state["p"], X, labels, Y)
        state["p"] = {k: v - LR * g[k] for k, v in state["p"].items()}

    def grads():
        return {k: np.asarray(v) for k, v in vg(copy_params(params), X, labels, Y)[1].items()}

    return step, grads, lambda: state["p"]


def make_chainrule_jit(params, X, labels, Y):
    """The whole step under ``cr.jit``, written as the JAX step is: new parameters out."""
    import chainrule as cr
    vg = cr.value_and_grad(chainrule_loss())

    @cr.jit
    def update(p, X, labels, Y):
        value, g = vg(p, X, labels, Y)
        return {k: p[k] - LR * g[k] for k in p}, value

    jvg = cr.jit(vg)
    state = {"p": copy_params(params)}

    def step():
        state["p"], _ = update(state["p"], X, labels, Y)

    def grads():
        return {k: np.asarray(v) for k, v in jvg(copy_params(params), X, labels, Y)[1].items()}

    return step, grads, lambda: state["p"], update


def make_chainrule_tape(params, X, labels, Y):
    import chainrule as cr
    loss = chainrule_loss()
    P = {k: cr.tensor(v, requires_grad=True) for k, v in params.items()}

    def step():
        loss(P, X, labels, Y).backward()
        with cr.no_grad():
            for w in P.values():
                w -= LR * w.grad
                w.grad = None

    def grads():
        Q = {k: cr.tensor(v, requires_grad=True) for k, v in params.items()}
        loss(Q, X, labels, Y).backward()
        return {k: w.grad.numpy() for k, w in Q.items()}

    return step, grads, lambda: {k: w.detach().numpy() for k, w in P.items()}


# -- PyTorch ---------------------------------------------------------------------------------

def make_torch(params, X, labels, Y, fused_ce=False):
    torch = peer("torch")
    F = torch.nn.functional
    Xt, Yt, yt = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(labels)

    def loss(p):
        h1 = torch.tanh(Xt @ p["W1"] + p["b1"])
        h2 = torch.tanh(h1 @ p["W2"] + p["b2"])
        z = h2 @ p["W3"] + p["b3"]
        if fused_ce:
            return F.cross_entropy(z, yt)
        m = torch.amax(z, dim=1, keepdim=True).detach()
        logp = z - (torch.log(torch.exp(z - m).sum(dim=1, keepdim=True)) + m)
        return -(Yt * logp).sum() / Xt.shape[0]

    def leaves(ps):
        return {k: torch.tensor(v, requires_grad=True) for k, v in ps.items()}

    P = leaves(params)

    def step():
        loss(P).backward()
        with torch.no_grad():
            for w in P.values():
                w -= LR * w.grad
                w.grad = None

    def grads():
        Q = leaves(params)
        loss(Q).backward()
        return {k: w.grad.numpy() for k, w in Q.items()}

    return step, grads, lambda: {k: w.detach().numpy() for k, w in P.items()}


# -- JAX ----------------------------------------------------------------------------------------

def make_jax(params, X, labels, Y, jit=True):
    jax = peer("jax")
    jnp = jax.numpy
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def loss(p, X, Y):
        h1 = jnp.tanh(X @ p["W1"] + p["b1"])
        h2 = jnp.tanh(h1 @ p["W2"] + p["b2"])
        z = h2 @ p["W3"] + p["b3"]
        m = jax.lax.stop_gradient(jnp.max(z, axis=1, keepdims=True))
        logp = z - (jnp.log(jnp.sum(jnp.exp(z - m), axis=1, keepdims=True)) + m)
        return -jnp.sum(Y * logp) / X.shape[0]

    vg = jax.value_and_grad(loss)

    def update(p, X, Y):
        value, g = vg(p, X, Y)
        return {k: p[k] - LR * g[k] for k in p}, value

    update = jax.jit(update) if jit else update
    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}

    def step():
        state["p"], value = update(state["p"], Xj, Yj)
        jax.block_until_ready(state["p"])

    def grads():
        g = (jax.jit(vg) if jit else vg)({k: jnp.asarray(v) for k, v in params.items()}, Xj, Yj)[1]
        return {k: np.asarray(v) for k, v in g.items()}

    return step, grads, lambda: {k: np.asarray(v) for k, v in state["p"].items()}


# -- HIPS autograd --------------------------------------------------------------------------

def make_autograd(params, X, labels, Y):
    ag = peer("autograd")
    anp = ag.numpy
    from autograd.tracer import getval  # autograd's stop_gradient

    def loss(p, X, Y):
        h1 = anp.tanh(anp.dot(X, p["W1"]) + p["b1"])
        h2 = anp.tanh(anp.dot(h1, p["W2"]) + p["b2"])
        z = anp.dot(h2, p["W3"]) + p["b3"]
        m = anp.max(getval(z), axis=1, keepdims=True)
        logp = z - (anp.log(anp.sum(anp.exp(z - m), axis=1, keepdims=True)) + m)
        return -anp.sum(Y * logp) / X.shape[0]

    vg = ag.value_and_grad(loss)
    state = {"p": copy_params(params)}

    def step():
        _, g = vg(state["p"], X, Y)
        state["p"] = {k: v - LR * g[k] for k, v in state["p"].items()}

    def grads():
        return {k: np.asarray(v) for k, v in vg(copy_params(params), X, Y)[1].items()}

    return step, grads, lambda: state["p"]


# -- the table ---------------------------------------------------------------------------------

FLOOR = "NumPy floor (hand-written)"
TORCH = "PyTorch eager (same formula)"
CR_JIT = "chainrule cr.jit(value_and_grad + update)"
JAX_JIT = "JAX jit(value_and_grad + update)"
JIT_ROWS = {FLOOR, TORCH, CR_JIT, JAX_JIT}


def _frameworks():
    """``(name, maker, peer, note)``; the maker gets ``(params, X, labels, onehot)``."""
    return [
        (FLOOR, make_floor, None, "dlogits = (softmax - onehot)/B; W -= lr*dW in place"),
        ("chainrule functional (value_and_grad)", make_chainrule_functional, None,
         "params dict; p - lr*g on plain arrays"),
        ("chainrule tape (.backward())", make_chainrule_tape, None,
         "cr.tensor leaves; w -= lr*w.grad under cr.no_grad()"),
        (CR_JIT, lambda *a: make_chainrule_jit(*a)[:3], None, "whole step compiled; new params out"),
        ("chainrule functional, gather NLL", lambda *a: make_chainrule_functional(*a, gather=True), None,
         "-mean(logp[arange(B), labels]) instead of one-hot"),
        (TORCH, make_torch, "torch", "manual SGD under torch.no_grad()"),
        ("PyTorch eager (F.cross_entropy)", lambda *a: make_torch(*a, fused_ce=True), "torch",
         "fused log-softmax + NLL"),
        (JAX_JIT, make_jax, "jax", "whole step compiled"),
        ("JAX eager value_and_grad", lambda *a: make_jax(*a, jit=False), "jax", "not jitted"),
        ("HIPS autograd value_and_grad", make_autograd, "autograd", "autograd.numpy"),
    ]


def _rel_err(g, ref):
    return max(float(np.max(np.abs(np.asarray(g[k], dtype=np.float64) - ref[k])) /
                     max(float(np.max(np.abs(ref[k]))), 1e-300)) for k in KEYS)


def _fail(name, msg, notes):
    """A failed check: fatal for chainrule (its times would mean nothing), a note for a peer."""
    if name.startswith("chainrule"):
        raise AssertionError(f"{name}: {msg}")
    notes.append(f"{'DTYPE ' if 'dtype' in msg else ''}CHECK FAILED: {name}: {msg}")


def run_dtype(dtype, quick=False, batch=BATCH, jit_only=False):
    dtype = np.dtype(dtype)
    repeats, min_time = (3, 0.04) if quick else (7, 0.25)
    if batch < BATCH:
        min_time /= 4
    params, X, labels, Y = make_data(dtype, batch=batch)
    _, ref = floor_loss_and_grads(copy_params(params), X, Y)
    ref = {k: v.astype(np.float64) for k, v in ref.items()}
    tol = 1e-10 if dtype == np.float64 else 1e-4

    results, notes, steps = [], [], []
    for name, maker, peer_name, note in _frameworks():
        if jit_only and name not in JIT_ROWS:
            continue
        if peer_name is not None and peer(peer_name) is None:
            results.append({"name": name, "skipped": skipped(peer_name)})
            continue
        step, grads, final = maker(params, X, labels, Y)
        # correctness and dtype, before timing
        g = grads()
        err = _rel_err(g, ref)
        if not err <= tol:
            _fail(name, f"({dtype}): gradient differs from the NumPy floor's (rel. error {err:.2e})", notes)
        bad = {k: str(v.dtype) for k, v in g.items() if v.dtype != dtype}
        if bad:
            _fail(name, f"gradient dtypes {bad}, expected {dtype}", notes)
        row = {"name": name, "note": note, "peer": peer_name, "grad_rel_err_vs_floor": err}
        results.append(row)
        steps.append((row, step, final))

    timings = measure_all([step for _, step, _ in steps], repeats=repeats, min_time=min_time)
    for (row, _, final), t in zip(steps, timings):
        row["ms_per_step"] = t.best * 1e3
        row["timing"] = t.as_dict()
        bad = {k: str(v.dtype) for k, v in final().items() if v.dtype != dtype}
        if bad:
            _fail(row["name"], f"parameters became {bad} after training steps, expected {dtype}", notes)
    timings = [(row["name"], t) for (row, _, _), t in zip(steps, timings)]

    headers = ["framework", "ms/step", "vs NumPy floor", "vs PyTorch", "vs jax.jit", "grad err", "notes"]
    rows = ratio_rows(results, "ms_per_step", "grad_rel_err_vs_floor", FLOOR, [TORCH], JAX_JIT)
    print(f"\n(b) MLP training step, {dtype}: {'-'.join(map(str, SIZES))} tanh, softmax cross-entropy, "
          f"batch {batch}, SGD lr {LR}")
    print(f"    one call = forward + backward + update; best of {repeats} runs; "
          f"'grad err' = max rel. difference from the floor's gradient (checked before timing)")
    print(table(headers, rows, notes + cores_note(timings), left=(0, 6)))
    return {"dtype": str(dtype), "batch": batch, "repeats": repeats, "rows": results}


#: The runs: result key -> (dtype, batch).
CONFIGS = {"float32": (np.float32, BATCH), "float64": (np.float64, BATCH),
           "float32_b16": (np.float32, 16), "float64_b16": (np.float64, 16)}


def run(quick=False, jit_only=False):
    out = {"sizes": SIZES, "batch": BATCH, "lr": LR}
    for key, (dtype, batch) in CONFIGS.items():
        out[key] = run_dtype(dtype, quick, batch, jit_only)
    return out
