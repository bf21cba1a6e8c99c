"""(e) Training throughput with cr.nn + cr.optim against PyTorch eager, in samples per second.

Two runs, each written with the frameworks' high-level training APIs and checked to
compute the same thing before timing (same initial weights, same batches, the first
step's gradients compared):

* digits: scikit-learn's 8x8 digits (1437 training images), MLP 64-128-10 ReLU,
  softmax cross-entropy, Adam lr 1e-3, mini-batches of 32 (the 44 full batches of one
  shuffled epoch, cycled);
* mnist-sized step: MLP 784-256-256-10 tanh, batch 128 of random data, softmax
  cross-entropy, SGD lr 0.01 (the model of benchmark (b), here through ``cr.nn``).

One call = ``zero_grad``, forward, loss, backward, optimiser step.  chainrule runs
twice: the PyTorch idiom on the tape (``cr.nn.MLP``, ``F.cross_entropy``,
``loss.backward()``, ``cr.optim.Adam/SGD``) and the functional form
(``cr.value_and_grad`` of ``model.apply`` and the optimiser's functional core).
PyTorch runs ``torch.nn.Sequential``, ``F.cross_entropy`` and ``torch.optim`` (its
default foreach implementations).  Samples/s = batch size / time per step; the
ratio is chainrule's samples/s over PyTorch's (above 1: chainrule is faster).
"""
from __future__ import annotations

import _env  # noqa: F401  (before NumPy)
import numpy as np

from _harness import DASH, cores_note, fnum, measure_all, peer, skipped, table

import chainrule as cr
from chainrule.nn import functional as F

DIGITS = dict(sizes=(64, 128, 10), activation="relu", batch=32, optimiser="Adam", lr=1e-3)
MNIST = dict(sizes=(784, 256, 256, 10), activation="tanh", batch=128, optimiser="SGD", lr=0.01)


def digits_batches(dtype, batch):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(dtype)
    order = np.random.default_rng(0).permutation(1437)  # the size of the training split
    n = len(order) // batch * batch
    return [(X[order[i:i + batch]], y[order[i:i + batch]]) for i in range(0, n, batch)]


def random_batches(dtype, batch, n_in, n_classes, count=4):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((batch, n_in)).astype(dtype), rng.integers(0, n_classes, batch))
            for _ in range(count)]


def _cycle(batches):
    state = {"i": 0}

    def next_batch():
        i = state["i"]
        state["i"] = (i + 1) % len(batches)
        return batches[i]

    return next_batch


def make_chainrule_tape(spec, dtype, batches):
    model = cr.nn.MLP(spec["sizes"], activation=spec["activation"], rng=0, dtype=dtype)
    opt = getattr(cr.optim, spec["optimiser"])(model.parameters(), lr=spec["lr"])
    nxt = _cycle(batches)

    def step():
        xb, yb = nxt()
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    def first_grads():
        xb, yb = batches[0]
        fresh = cr.nn.MLP(spec["sizes"], activation=spec["activation"], rng=0, dtype=dtype)
        F.cross_entropy(fresh(xb), yb).backward()
        return {k: t.grad.numpy() for k, t in fresh.named_parameters()}

    return step, first_grads, model


def make_chainrule_functional(spec, dtype, batches):
    model = cr.nn.MLP(spec["sizes"], activation=spec["activation"], rng=0, dtype=dtype)
    core = getattr(cr.optim, spec["optimiser"].lower())(lr=spec["lr"])
    vg = cr.value_and_grad(lambda p, xb, yb: F.cross_entropy(model.apply(p, xb), yb))
    state = {"params": model.params()}
    state["opt"] = core.init(state["params"])
    nxt = _cycle(batches)

    def step():
        xb, yb = nxt()
        _, g = vg(state["params"], xb, yb)
        state["params"], state["opt"] = core.update(g, state["opt"], state["params"])

    def first_grads():
        return vg(model.params(), *batches[0])[1]

    return step, first_grads, model


def make_torch(spec, dtype, batches, init):
    torch = peer("torch")
    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
    layers = []
    sizes = spec["sizes"]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(a, b, dtype=tdtype)
        with torch.no_grad():  # chainrule's initial weights (stored input-major: transpose)
            lin.weight.copy_(torch.from_numpy(init[f"layers.{i}.weight"].T.copy()))
            lin.bias.copy_(torch.from_numpy(init[f"layers.{i}.bias"]))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU() if spec["activation"] == "relu" else torch.nn.Tanh())
    model = torch.nn.Sequential(*layers)
    opt = getattr(torch.optim, spec["optimiser"])(model.parameters(), lr=spec["lr"])
    tb = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    nxt = _cycle(tb)
    tf = torch.nn.functional

    def step():
        xb, yb = nxt()
        opt.zero_grad()
        tf.cross_entropy(model(xb), yb).backward()
        opt.step()

    def first_grads():
        import copy
        fresh = copy.deepcopy(model)
        tf.cross_entropy(fresh(tb[0][0]), tb[0][1]).backward()
        out = {}
        linears = [m for m in fresh if isinstance(m, torch.nn.Linear)]
        for i, lin in enumerate(linears):
            out[f"layers.{i}.weight"] = lin.weight.grad.numpy().T
            out[f"layers.{i}.bias"] = lin.bias.grad.numpy()
        return out

    return step, first_grads


def _rel_err(g, ref):
    return max(float(np.max(np.abs(np.asarray(g[k], np.float64) - np.asarray(ref[k], np.float64)))
                     / max(float(np.max(np.abs(ref[k]))), 1e-300)) for k in ref)


def run_case(title, spec, dtype, batches, quick):
    repeats, min_time = (2, 0.05) if quick else (7, 0.3)
    dtype = np.dtype(dtype)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    names, fns, errs = [], [], []
    tape_step, tape_grads, model = make_chainrule_tape(spec, dtype, batches)
    ref = tape_grads()
    init = model.params()
    fun_step, fun_grads, _ = make_chainrule_functional(spec, dtype, batches)
    names += ["chainrule tape (cr.nn + cr.optim)", "chainrule functional (apply + core)"]
    fns += [tape_step, fun_step]
    errs += [0.0, _rel_err(fun_grads(), ref)]
    notes = []
    torch_name = f"PyTorch eager (nn.Sequential + torch.optim.{spec['optimiser']})"
    if peer("torch") is not None:
        t_step, t_grads = make_torch(spec, dtype, batches, init)
        names.append(torch_name)
        fns.append(t_step)
        errs.append(_rel_err(t_grads(), ref))
    else:
        notes.append(f"{torch_name}: {skipped('torch')}")
    for n, e in zip(names, errs):
        if e > tol:
            raise AssertionError(f"{title}: {n} first-step gradient differs from chainrule tape's by {e:.1e}")
    timings = measure_all(fns, repeats=repeats, min_time=min_time)
    batch = spec["batch"]
    torch_rate = batch / timings[2].best if len(timings) > 2 else None
    rows, results = [], []
    for n, t, e in zip(names, timings, errs):
        rate = batch / t.best
        ratio = rate / torch_rate if torch_rate else None
        rows.append([n, fnum(t.best * 1e6), f"{rate:,.0f}", DASH if ratio is None else f"{ratio:.2f}x",
                     f"{e:.0e}"])
        results.append({"name": n, "step_s": t.best, "median_s": t.median, "samples_per_s": rate,
                        "ratio_to_torch": ratio, "grad_err": e, **t.as_dict()})
    print(f"\n  {title}, {dtype.name}: batch {batch}, {spec['optimiser']} lr {spec['lr']}; best of {repeats} runs")
    print(table(["framework", "us/step", "samples/s", "vs PyTorch", "grad err"], rows,
                notes + cores_note(list(zip(names, timings))), left=(0,)))
    return {"title": title, "dtype": dtype.name, "batch": batch, "rows": results}


def run(quick=False):
    from _harness import banner
    print(banner("(e) Training throughput: cr.nn + cr.optim vs PyTorch eager (samples/s)"))
    out = {}
    for dtype in (np.float32, np.float64):
        batches = digits_batches(dtype, DIGITS["batch"])
        if batches is None:
            print("  digits: skipped: scikit-learn not installed (pip install 'chainrule[datasets]')")
        else:
            out[f"digits_{np.dtype(dtype).name}"] = run_case("digits MLP 64-128-10 relu, Adam", DIGITS,
                                                             dtype, batches, quick)
        out[f"mnist_step_{np.dtype(dtype).name}"] = run_case(
            "MLP 784-256-256-10 tanh, SGD", MNIST, dtype, random_batches(dtype, MNIST["batch"], 784, 10), quick)
    return out
