"""(f) PINN: the loss of a physics-informed network for Burgers' equation and its parameter gradient.

The network ``u(t, x)`` is a tanh MLP, 2-20-20-20-20-1 (and, in the full
run, Raissi et al.'s 2-[20]*8-1), in float64 and float32.  The loss is Raissi's:

    f = u_t + u u_x - (0.01/pi) u_xx        on N_f = 10,000 collocation points
    loss = mean((u - u_data)^2) + mean(f^2)  (u_data on 100 initial/boundary points)

and one call = the loss and its gradient with respect to every weight and
bias.  ``u_t``, ``u_x`` and ``u_xx`` come from nested reverse-mode
gradients of ``sum(u)`` with respect to the point coordinates (each point's
``u`` depends only on its own coordinates), the way PINN code is written in
every framework:

* chainrule eager: ``cr.grad(..., has_aux=True)`` nested twice, then
  ``cr.value_and_grad`` over the parameters (one forward, its backward, the
  backward of that, and the reverse pass over all of it);
* chainrule tape: ``cr.autograd.grad(u, (t, x), create_graph=True)``, as in PyTorch;
* chainrule ``cr.jit`` of the functional form, compiled once, in warm-up;
* PyTorch eager: ``torch.autograd.grad(..., create_graph=True)``;
* JAX: ``jax.jit(jax.value_and_grad(loss))`` of the functional form.

There is no hand-written NumPy floor (the second derivatives of the network
and their parameter gradient are long to write by hand); the ratios are to
PyTorch eager.  Before timing every row's value and gradient are checked
against chainrule eager, which is checked against a central finite
difference of the loss along a random direction of the parameters (in
float32, chainrule eager is checked against its own float64 gradient).

Also reported: page faults per call (``resource.getrusage`` ``ru_minflt``
delta over a few calls): each fault is a fresh page that an allocation
touched for the first time, so they count how much memory a call takes from
the system instead of reusing.
"""
from __future__ import annotations

import math

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import DASH, cores_note, fnum, fratio, measure_all, peer, skipped, table

try:
    import resource
except ImportError:  # not on Windows
    resource = None

NU = 0.01 / math.pi
N_F = 10_000
N_U = 100
SMALL = (2, 20, 20, 20, 20, 1)
RAISSI = (2,) + (20,) * 8 + (1,)
TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-3}  # relative, between the rows
FD_TOL = 1e-6    # relative, chainrule eager against the central difference

CR_EAGER = "chainrule eager (nested cr.grad)"
CR_TAPE = "chainrule tape (cr.autograd.grad)"
CR_JIT = "chainrule cr.jit(value_and_grad)"
TORCH = "PyTorch eager (autograd.grad, create_graph)"
JAX_JIT = "JAX jax.jit(value_and_grad) [compiled ref.]"


def make_data(sizes, seed=0, dtype=np.float64):
    """Xavier-initialised ``[(W, b), ...]`` and the points: collocation ``(t_f, x_f)``, data ``(t_u, x_u, u_u)``."""
    if np.dtype(dtype) != np.float64:
        params, data = make_data(sizes, seed)
        return ([(W.astype(dtype), b.astype(dtype)) for W, b in params], tuple(a.astype(dtype) for a in data))
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))
        params.append((W, np.zeros(n_out)))
    t_f = rng.uniform(0.0, 1.0, (N_F, 1))
    x_f = rng.uniform(-1.0, 1.0, (N_F, 1))
    # initial condition u(0, x) = -sin(pi x) on half the data points, u(t, +-1) = 0 on the rest
    n0 = N_U // 2
    x0 = rng.uniform(-1.0, 1.0, (n0, 1))
    tb = rng.uniform(0.0, 1.0, (N_U - n0, 1))
    xb = np.where(rng.random((N_U - n0, 1)) < 0.5, -1.0, 1.0)
    t_u = np.concatenate([np.zeros((n0, 1)), tb])
    x_u = np.concatenate([x0, xb])
    u_u = np.concatenate([-np.sin(np.pi * x0), np.zeros((N_U - n0, 1))])
    return params, (t_f, x_f, t_u, x_u, u_u)


def make_functional_loss(grad, cat, tanh, mean):
    """The loss, written once for chainrule and JAX (``grad`` with ``argnums`` and ``has_aux``)."""
    def net(params, t, x):
        h = cat([t, x], axis=1)
        for W, b in params[:-1]:
            h = tanh(h @ W + b)
        W, b = params[-1]
        return h @ W + b

    def residual(params, t, x):
        def U(t, x):
            u = net(params, t, x)
            return u.sum(), u

        def Ux(t, x):
            (u_t, u_x), u = grad(U, argnums=(0, 1), has_aux=True)(t, x)
            return u_x.sum(), (u, u_t, u_x)

        u_xx, (u, u_t, u_x) = grad(Ux, argnums=1, has_aux=True)(t, x)
        return u_t + u * u_x - NU * u_xx

    def loss(params, t_f, x_f, t_u, x_u, u_u):
        f = residual(params, t_f, x_f)
        return mean((net(params, t_u, x_u) - u_u) ** 2) + mean(f ** 2)

    return loss


# -- the rows ------------------------------------------------------------------------------

def _flat(g):
    return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for W, b in g for a in (W, b)])


def _rows(params, data):
    """``(name, timed_fn, check_fn, peer, note)``; ``check_fn`` returns ``(value, flat gradient)`` in NumPy."""
    import chainrule as cr
    import chainrule.numpy as cnp

    loss = make_functional_loss(cr.grad, cnp.concatenate, cnp.tanh, cnp.mean)
    vg = cr.value_and_grad(loss)
    rows = [(CR_EAGER, lambda: vg(params, *data), lambda: _check(vg(params, *data)), None,
             "value_and_grad over grad(grad(sum u))")]

    t_f, x_f, t_u, x_u, u_u = data
    P = [(cr.tensor(W, requires_grad=True), cr.tensor(b, requires_grad=True)) for W, b in params]
    leaves = [a for pair in P for a in pair]
    tt, xt = cr.tensor(t_f, requires_grad=True), cr.tensor(x_f, requires_grad=True)

    def tape_net(t, x):
        h = cnp.concatenate([t, x], axis=1)
        for W, b in P[:-1]:
            h = cnp.tanh(h @ W + b)
        W, b = P[-1]
        return h @ W + b

    def tape():
        u = tape_net(tt, xt)
        u_t, u_x = cr.autograd.grad(u, (tt, xt), cnp.ones_like(t_f), create_graph=True)
        (u_xx,) = cr.autograd.grad(u_x, xt, cnp.ones_like(x_f), create_graph=True)
        f = u_t + u * u_x - NU * u_xx
        value = ((tape_net(t_u, x_u) - u_u) ** 2).mean() + (f ** 2).mean()
        g = cr.autograd.grad(value, leaves)
        return value, [(g[k], g[k + 1]) for k in range(0, len(g), 2)]

    rows.append((CR_TAPE, tape, lambda: _check(tape()), None, "as the PyTorch row, on cr.tensor"))

    jvg = cr.jit(vg)
    rows.append((CR_JIT, lambda: jvg(params, *data), lambda: _check(jvg(params, *data)), None,
                 "the eager row's function, compiled once, in warm-up"))

    torch = peer("torch")
    if torch is None:
        rows.append((TORCH, None, None, "torch", None))
    else:
        tP = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
        tleaves = [a for pair in tP for a in pair]
        t_ft = torch.tensor(t_f, requires_grad=True)
        x_ft = torch.tensor(x_f, requires_grad=True)
        t_ut, x_ut, u_ut = (torch.from_numpy(a) for a in (t_u, x_u, u_u))

        def torch_net(t, x):
            h = torch.cat([t, x], dim=1)
            for W, b in tP[:-1]:
                h = torch.tanh(h @ W + b)
            W, b = tP[-1]
            return h @ W + b

        def torch_vg():
            u = torch_net(t_ft, x_ft)
            u_t, u_x = torch.autograd.grad(u, (t_ft, x_ft), torch.ones_like(u), create_graph=True)
            (u_xx,) = torch.autograd.grad(u_x, x_ft, torch.ones_like(u_x), create_graph=True)
            f = u_t + u * u_x - NU * u_xx
            value = ((torch_net(t_ut, x_ut) - u_ut) ** 2).mean() + (f ** 2).mean()
            g = torch.autograd.grad(value, tleaves)
            return value, [(g[k], g[k + 1]) for k in range(0, len(g), 2)]

        rows.append((TORCH, torch_vg, lambda: _check(tuple_detach(torch_vg())), "torch",
                     "torch.autograd.grad twice, then over the parameters"))

    jax = peer("jax")
    if jax is None:
        rows.append((JAX_JIT, None, None, "jax", None))
    else:
        jnp = jax.numpy
        jloss = make_functional_loss(jax.grad, jnp.concatenate, jnp.tanh, jnp.mean)
        jjvg = jax.jit(jax.value_and_grad(jloss))
        jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
        jdata = tuple(jnp.asarray(a) for a in data)
        rows.append((JAX_JIT, lambda: jax.block_until_ready(jjvg(jparams, *jdata)),
                     lambda: _check(jjvg(jparams, *jdata)), "jax", "the same function, jax.grad nested"))
    return rows


def tuple_detach(out):
    value, g = out
    return value.detach().numpy(), [(W.detach().numpy(), b.detach().numpy()) for W, b in g]


def _check(out):
    value, g = out
    if hasattr(value, "detach"):  # a cr.Tensor
        value = value.detach().numpy()
        g = [(W.detach().numpy(), b.detach().numpy()) for W, b in g]
    return float(value), _flat(g)


def _fd_check(params, data, value_and_grad):
    """The gradient along a random direction against a central difference of the loss."""
    import chainrule as cr
    import chainrule.numpy as cnp

    loss = make_functional_loss(cr.grad, cnp.concatenate, cnp.tanh, cnp.mean)
    rng = np.random.default_rng(1)
    d = [(rng.standard_normal(W.shape), rng.standard_normal(b.shape)) for W, b in params]
    eps = 1e-5

    def at(s):
        return float(loss([(W + s * dW, b + s * db) for (W, b), (dW, db) in zip(params, d)], *data))

    fd = (at(eps) - at(-eps)) / (2 * eps)
    ad = float(_flat(d) @ value_and_grad[1])
    err = abs(ad - fd) / max(abs(fd), 1e-300)
    if not err <= FD_TOL:
        raise AssertionError(f"{CR_EAGER}: gradient along a random direction {ad!r} differs from the "
                             f"central difference {fd!r} (rel. error {err:.1e} > {FD_TOL})")
    return err


def page_faults(fn, calls=3):
    """Minor page faults per call (``ru_minflt`` delta), after one warm-up call; None without ``resource``."""
    if resource is None:
        return None
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def arch(sizes):
    """``2-20-20-20-20-1``; repeated hidden widths as ``2-[20]*8-1``."""
    hidden = sizes[1:-1]
    if len(hidden) > 4 and len(set(hidden)) == 1:
        return f"{sizes[0]}-[{hidden[0]}]*{len(hidden)}-{sizes[-1]}"
    return "-".join(map(str, sizes))


def run_sizes(sizes, quick=False, dtype=np.float64):
    dtype = np.dtype(dtype)
    repeats, min_time = (3, 0.0) if quick else (7, 0.3)
    params, data = make_data(sizes, dtype=dtype)
    tol = TOL[dtype]
    results, notes, fns = [], [], []
    ref = None
    for name, fn, check, peer_name, note in _rows(params, data):
        if fn is None:
            results.append({"name": name, "skipped": skipped(peer_name)})
            continue
        value, g = check()   # correctness first; the first row is chainrule eager, the reference
        if ref is None:
            ref = (value, g)
            if dtype == np.float64:
                fd_err = _fd_check(params, data, ref)
                notes.append(f"chainrule eager's gradient along a random direction = central difference "
                             f"of the loss to {fd_err:.0e} (rel.)")
            else:
                err64 = _vs_float64(sizes, g)
                notes.append(f"chainrule eager's {dtype} gradient = its float64 gradient to {err64:.0e} "
                             f"(max rel.)")
        err = float(np.max(np.abs(g - ref[1])) / np.max(np.abs(ref[1])))
        verr = abs(value - ref[0]) / abs(ref[0])
        if not (err <= tol and verr <= tol):
            msg = f"value / gradient differ from chainrule eager's (rel. errors {verr:.1e} / {err:.1e})"
            if name.startswith("chainrule"):
                raise AssertionError(f"{name}: {msg}")
            notes.append(f"CHECK FAILED: {name}: {msg}")
        row = {"name": name, "note": note, "peer": peer_name, "grad_rel_err_vs_eager": err}
        results.append(row)
        fns.append((row, fn))

    timings = measure_all([f for _, f in fns], repeats=repeats, min_time=min_time, warmup=2)
    for (row, fn), t in zip(fns, timings):
        row["ms_per_call"] = t.best * 1e3
        row["timing"] = t.as_dict()
        row["page_faults_per_call"] = page_faults(fn)
    timings = [(row["name"], t) for (row, _), t in zip(fns, timings)]

    by = {r["name"]: r for r in results if "skipped" not in r}
    torch_t = by[TORCH]["ms_per_call"] if TORCH in by else None
    jax_t = by[JAX_JIT]["ms_per_call"] if JAX_JIT in by else None
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["name"], DASH, DASH, DASH, DASH, DASH, r["skipped"]])
            continue
        r["ratio_to_torch"] = r["ms_per_call"] / torch_t if torch_t else None
        r["ratio_to_jax_jit"] = r["ms_per_call"] / jax_t if jax_t else None
        pf = r["page_faults_per_call"]
        rows.append([r["name"], fnum(r["ms_per_call"]), fratio(r["ratio_to_torch"]),
                     fratio(r["ratio_to_jax_jit"]), DASH if pf is None else f"{pf:.0f}",
                     f"{r['grad_rel_err_vs_eager']:.0e}", r["note"]])
    print(f"\n(f) PINN, Burgers u_t + u u_x - (0.01/pi) u_xx, {dtype}: MLP {arch(sizes)} tanh, "
          f"N_f = {N_F:,} collocation + {N_U} data points")
    print(f"    one call = loss + gradient w.r.t. all parameters; best of {repeats} runs; 'faults' = minor page "
          f"faults per call; 'err' = max rel. difference from chainrule eager's gradient")
    headers = ["framework", "ms/call", "vs PyTorch", "vs jax.jit", "faults", "err", "notes"]
    print(table(headers, rows, notes + cores_note(timings), left=(0, 6)))
    return {"sizes": sizes, "dtype": str(dtype), "n_f": N_F, "n_u": N_U, "repeats": repeats, "rows": results}


def _vs_float64(sizes, g32):
    """Max relative difference of a float32 gradient from chainrule eager's float64 one."""
    import chainrule as cr
    import chainrule.numpy as cnp
    params, data = make_data(sizes)
    _, g = _check(cr.value_and_grad(make_functional_loss(cr.grad, cnp.concatenate, cnp.tanh, cnp.mean))(
        params, *data))
    err = float(np.max(np.abs(g32 - g)) / np.max(np.abs(g)))
    if not err <= TOL[np.dtype(np.float32)]:
        raise AssertionError(f"{CR_EAGER}: the float32 gradient differs from the float64 one by {err:.1e} (rel.)")
    return err


def run(quick=False):
    """The 2-20-20-20-20-1 network in float64 and float32; the full run adds Raissi's 2-[20]*8-1 (float64)."""
    out = {"small": run_sizes(SMALL, quick), "small_f32": run_sizes(SMALL, quick, np.float32)}
    if not quick:
        out["raissi"] = run_sizes(RAISSI, quick)
    return out
