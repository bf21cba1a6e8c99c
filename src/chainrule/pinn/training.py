"""``fit``: Adam, then full-batch quasi-Newton (self-scaled BFGS or L-BFGS), on a jitted loss, under a time budget."""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["fit"]


def fit(loss: Callable[..., Any], params: Any, data: Sequence[Any], *, adam_steps: int = 1000, iters: int = 10_000,
        optimizer: str = "auto", time_budget: float | None = None, lr: float = 1e-3, schedule: Any = None,
        resample: Any = None, progress: bool = True, callback: Callable[..., Any] | None = None) -> tuple[Any, Any]:
    """Minimise ``loss(params, *data) -> (total, {name: term})`` from ``params``; ``(params, info)``.

    The objective is ``cr.jit(cr.value_and_grad(loss, has_aux=True))``: ``adam_steps``
    of Adam (learning rate ``lr``, or ``schedule(step)``, e.g. a
    ``cr.optim.cosine_decay_schedule``), then at most ``iters`` iterations of a
    full-batch quasi-Newton method; both phases stop at ``time_budget`` seconds in all.
    ``resample(step) -> data``, when given, supplies the data of each Adam step (fresh
    collocation points from a :class:`Resampler`, fresh STDE directions); the
    quasi-Newton phase needs one fixed objective and uses ``data``.

    ``optimizer``: ``"ssbfgs"`` (``cr.optim.bfgs(**cr.optim.BFGS_PINN)``, the self-scaled
    dense BFGS, which trains PINNs orders of magnitude further than L-BFGS in the same
    time), ``"bfgs"`` (unscaled), ``"lbfgs"`` (``cr.optim.lbfgs(**cr.optim.LBFGS_PINN)``),
    a core made by ``cr.optim.bfgs``/``cr.optim.lbfgs``, or ``"auto"``: ``"ssbfgs"`` up to
    ``cr.optim.BFGS_MAX_PARAMS`` parameters (its matrix is ``n^2`` numbers), ``"lbfgs"``
    beyond.  ``info`` holds the final loss and terms, the counts (``adam_steps``,
    ``iters``, ``evals``), the ``optimizer``'s name, why it stopped (``message``), the
    wall time and the history ``[(phase, step, seconds, loss)]``.  A tqdm bar shows the
    terms when tqdm is installed and ``progress`` is true.  ``callback(phase, step,
    params, value)`` runs after every step (``phase`` is ``"adam"`` or the optimizer's
    name); returning ``True`` stops the run.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> loss = lambda p, y: cr.pinn.weighted_loss({"fit": cnp.mean((p["a"] - y) ** 2)})
    >>> p, info = cr.pinn.fit(loss, {"a": np.array(0.0)}, (np.array([1.0, 2.0]),), adam_steps=5, progress=False)
    >>> round(float(p["a"]), 6), info["adam_steps"], info["optimizer"]
    (1.5, 5, 'ssbfgs')
    """
    import chainrule as cr
    from chainrule import optim

    vg = cr.jit(cr.value_and_grad(loss, has_aux=True))
    start = time.perf_counter()
    deadline = None if time_budget is None else start + float(time_budget)
    bar = _bar(adam_steps + iters, progress)
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
    n_adam, stop, why = 0, False, ""
    for step in range(adam_steps):
        if deadline is not None and time.perf_counter() > deadline:
            stop, why = True, "time budget reached"
            break
        if schedule is not None:
            adam.lr = float(schedule(step))
        (value, parts), grads = vg(params, *(data if resample is None else tuple(resample(step))))
        params, state = adam.update(grads, state, params)
        n_adam += 1
        if report("adam", step, params, value, parts):
            stop, why = True, "stopped by callback"
            break

    def fun(p):
        (value, last["parts"]), grads = vg(p, *data)
        return value, grads

    core, name = _optimizer(optimizer, params)
    params, lstate = core.minimize(fun, params, max_iter=0 if stop else iters, deadline=deadline,
                                   callback=lambda p, s: report(name, s["step"], p, s["value"], last["parts"]))
    if bar is not None:
        bar.close()
    if stop or iters == 0:  # the quasi-Newton phase did not run: say why the Adam phase ended
        lstate["message"] = why or "adam_steps done"
    info = {"adam_steps": n_adam, "optimizer": name, "iters": lstate["step"], "evals": lstate["n_evals"],
            "message": lstate["message"], "loss": float(lstate["value"]),
            "terms": {k: float(v) for k, v in last.get("parts", {}).items()},
            "wall_s": time.perf_counter() - start, "history": history}
    return params, info


def _optimizer(optimizer, params):
    """``(core, name)`` for ``fit``'s ``optimizer`` argument."""
    from chainrule import optim
    from chainrule._core.pytree import tree_flatten

    if isinstance(optimizer, str):
        name = optimizer
        if name == "auto":
            n = sum(int(np.size(x)) for x in tree_flatten(params)[0])
            name = "ssbfgs" if n <= optim.BFGS_MAX_PARAMS else "lbfgs"
        if name == "ssbfgs":
            return optim.bfgs(**optim.BFGS_PINN), name
        if name == "bfgs":
            return optim.bfgs(**dict(optim.BFGS_PINN, scaling=None)), name
        if name == "lbfgs":
            return optim.lbfgs(**optim.LBFGS_PINN), name
        raise ValueError(f"pinn.fit: optimizer must be 'auto', 'ssbfgs', 'bfgs', 'lbfgs' or a core from "
                         f"cr.optim.bfgs / cr.optim.lbfgs, got {optimizer!r}")
    if not hasattr(optimizer, "minimize"):
        raise TypeError(f"pinn.fit: optimizer must be a name or a core from cr.optim.bfgs / cr.optim.lbfgs "
                        f"(with .minimize), got {type(optimizer).__name__}")
    name = getattr(optimizer, "name", type(optimizer).__name__)
    if name == "bfgs" and getattr(optimizer, "scaling", None) == "ssbfgs":
        name = "ssbfgs"
    return optimizer, name


def _bar(total, progress):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None  # tqdm is optional: training runs without a bar
    return tqdm(total=total, unit="it", dynamic_ncols=True, mininterval=1.0)
