"""``fit``: Adam, then full-batch L-BFGS, on a jitted loss with logged terms, under a time budget."""
from __future__ import annotations

import time

__all__ = ["fit"]


def fit(loss, params, data, *, adam_steps=1000, lbfgs_iters=10_000, time_budget=None, lr=1e-3,
        schedule=None, lbfgs=None, progress=True, callback=None):
    """Minimise ``loss(params, *data) -> (total, {name: term})`` from ``params``; ``(params, info)``.

    The objective is ``cr.jit(cr.value_and_grad(loss, has_aux=True))``: ``adam_steps``
    of Adam (learning rate ``lr``, or ``schedule(step)``, e.g. a
    ``cr.optim.cosine_decay_schedule``), then L-BFGS (``cr.optim.lbfgs(**lbfgs)``,
    default ``cr.optim.LBFGS_PINN``) for at most ``lbfgs_iters`` iterations; both
    phases stop at ``time_budget`` seconds in all.  ``info`` holds the final loss and
    terms, the counts, why L-BFGS stopped, the wall time and the history
    ``[(phase, step, seconds, loss)]``.  A tqdm bar shows the terms when tqdm is
    installed and ``progress`` is true.  ``callback(phase, step, params, value)`` runs
    after every step (``phase`` is ``"adam"`` or ``"lbfgs"``); returning ``True`` stops
    the run.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> loss = lambda p, y: cr.pinn.weighted_loss({"fit": cnp.mean((p["a"] - y) ** 2)})
    >>> p, info = cr.pinn.fit(loss, {"a": np.array(0.0)}, (np.array([1.0, 2.0]),), adam_steps=5, progress=False)
    >>> round(float(p["a"]), 6), info["adam_steps"]
    (1.5, 5)
    """
    import chainrule as cr
    from chainrule import optim

    vg = cr.jit(cr.value_and_grad(loss, has_aux=True))
    start = time.perf_counter()
    deadline = None if time_budget is None else start + float(time_budget)
    bar = _bar(adam_steps + lbfgs_iters, progress)
    history = []
    last = {}

    def report(phase, step, params, value, parts):
        history.append((phase, step, time.perf_counter() - start, float(value)))
        if bar is not None:
            terms = " ".join(f"{k}={float(v):.1e}" for k, v in parts.items())
            bar.set_postfix_str(f"{phase} loss={float(value):.3e} {terms}", refresh=False)
            bar.update(1)
        return callback is not None and bool(callback(phase, step, params, value))

    adam = optim.adam(lr=lr)
    state = adam.init(params)
    n_adam, stop = 0, False
    for step in range(adam_steps):
        if deadline is not None and time.perf_counter() > deadline:
            break
        if schedule is not None:
            adam.lr = float(schedule(step))
        (value, parts), grads = vg(params, *data)
        params, state = adam.update(grads, state, params)
        n_adam += 1
        if report("adam", step, params, value, parts):
            stop = True
            break

    def fun(p):
        (value, last["parts"]), grads = vg(p, *data)
        return value, grads

    core = optim.lbfgs(**(optim.LBFGS_PINN if lbfgs is None else lbfgs))
    params, lstate = core.minimize(fun, params, max_iter=0 if stop else lbfgs_iters, deadline=deadline,
                                   callback=lambda p, s: report("lbfgs", s["step"], p, s["value"], last["parts"]))
    if bar is not None:
        bar.close()
    info = {"adam_steps": n_adam, "lbfgs_iters": lstate["step"], "lbfgs_evals": lstate["n_evals"],
            "message": lstate["message"], "loss": float(lstate["value"]),
            "terms": {k: float(v) for k, v in last.get("parts", {}).items()},
            "wall_s": time.perf_counter() - start, "history": history}
    return params, info


def _bar(total, progress):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None  # tqdm is optional: training runs without a bar
    return tqdm(total=total, unit="it", dynamic_ncols=True, mininterval=1.0)
