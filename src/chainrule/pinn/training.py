"""``fit``: Adam, then full-batch quasi-Newton (self-scaled BFGS or L-BFGS), on a jitted loss, under a time budget."""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["fit"]


def fit(loss: Callable[..., Any], params: Any, data: Sequence[Any], *, adam_steps: int = 1000, iters: int = 10_000,
        optimizer: str = "auto", time_budget: float | None = None, lr: float = 1e-3, schedule: Any = None,
        resample: Any = None, progress: bool = True, callback: Callable[..., Any] | None = None,
        shard: tuple[int, ...] = ()) -> tuple[Any, Any]:
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
    wall time, the number of MPI ``workers`` and the history ``[(phase, step, seconds, loss)]``.
    A tqdm bar shows the terms when tqdm is installed and ``progress`` is true.
    ``callback(phase, step, params, value)`` runs after every step (``phase`` is ``"adam"``
    or the optimizer's name); returning ``True`` stops the run.

    Under ``mpiexec`` (``cr.distributed``) the run is data-parallel: rank 0's ``params`` are
    broadcast, each rank evaluates the loss on its strided share of the data arguments
    whose positions ``shard`` lists (e.g. ``shard=(0,)`` for the collocation points; every
    row is kept), and the loss, its terms and the gradient are averaged -- weighted by each
    rank's share -- in one allreduce per evaluation, so every rank takes the same Adam
    steps and the same line-search trial points and keeps identical parameters.  For a
    loss made of means over the sharded rows (and terms equal on every rank) that is the
    one-process objective on all the data.  The time budget is decided on every rank
    together; a ``callback`` must return the same on every rank; only rank 0 shows a bar.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> loss = lambda p, y: cr.pinn.weighted_loss({"fit": cnp.mean((p["a"] - y) ** 2)})
    >>> p, info = cr.pinn.fit(loss, {"a": np.array(0.0)}, (np.array([1.0, 2.0]),), adam_steps=5, progress=False,
    ...                       shard=(0,))
    >>> round(float(p["a"]), 6), info["adam_steps"], info["optimizer"], info["workers"]
    (1.5, 5, 'ssbfgs', 1)
    """
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule import optim

    start = time.perf_counter()
    deadline = None if time_budget is None else start + float(time_budget)
    objective = _Objective(cr.jit(cr.value_and_grad(loss, has_aux=True)), shard, deadline)
    if dist.world_size() > 1:
        params = dist.broadcast(params)
    bar = _bar(adam_steps + iters, progress and dist.is_main())
    history = []

    def report(phase, step, params, value):
        history.append((phase, step, time.perf_counter() - start, float(value)))
        if bar is not None:
            terms = " ".join(f"{k}={float(v):.1e}" for k, v in objective.parts.items())
            bar.set_postfix_str(f"{phase} loss={float(value):.3e} {terms}", refresh=False)
            bar.update(1)
        return callback is not None and bool(callback(phase, step, params, value))

    adam = optim.adam(lr=lr)
    state = adam.init(params)
    fixed = objective.split(data)
    n_adam, why = 0, ""
    for step in range(adam_steps):
        if objective.late:
            why = "time budget reached"
            break
        if schedule is not None:
            adam.lr = float(schedule(step))
        value, grads = objective(params, fixed if resample is None else objective.split(tuple(resample(step))))
        params, state = adam.update(grads, state, params)
        n_adam += 1
        if report("adam", step, params, value):
            why = "stopped by callback"
            break

    def after_iteration(p, s):
        nonlocal why
        if report(name, s["step"], p, s["value"]):
            why = "stopped by callback"
        elif objective.late:
            why = "time budget reached"
        return bool(why)

    core, name = _optimizer(optimizer, params)
    params, lstate = core.minimize(lambda p: objective(p, fixed), params, max_iter=0 if why else iters,
                                   callback=after_iteration)
    if bar is not None:
        bar.close()
    if why or iters == 0:  # stopped by the budget or the callback, or no quasi-Newton phase: say why
        lstate["message"] = why or "adam_steps done"
    info = {"adam_steps": n_adam, "optimizer": name, "iters": lstate["step"], "evals": lstate["n_evals"],
            "message": lstate["message"], "loss": float(lstate["value"]),
            "terms": {k: float(v) for k, v in objective.parts.items()}, "workers": dist.world_size(),
            "wall_s": time.perf_counter() - start, "history": history}
    return params, info


class _Objective:
    """``vg(params, *data)`` on this rank's share of the data, averaged over the ranks.

    ``split(data)`` is ``(data, weight)``: the ``shard`` arguments cut to this rank's
    strided rows (``cr.distributed.shard``, every row kept) and the rank's share of them.
    Calling it returns ``(value, grads)`` summed over the ranks with those weights, in one
    allreduce that also carries whether any rank is past ``deadline`` (``late``), so every
    rank stops at the same step; ``parts`` holds the averaged loss terms.
    """

    def __init__(self, vg, shard, deadline):
        self.vg, self.shard, self.deadline = vg, tuple(shard), deadline
        self.late, self.parts = False, {}

    def split(self, data):
        from chainrule import distributed as dist
        data = tuple(data)
        for i in self.shard:
            if not (isinstance(i, int) and -len(data) <= i < len(data)):
                raise ValueError(f"pinn.fit: shard={self.shard!r} names data[{i!r}], but data has {len(data)} "
                                 f"arguments")
        rows = {i % len(data): len(data[i]) for i in self.shard}
        if len(set(rows.values())) > 1:
            raise ValueError(f"pinn.fit: the sharded data arguments must have the same number of rows, got "
                             + ", ".join(f"data[{i}]: {n}" for i, n in rows.items()))
        if not rows or dist.world_size() == 1:
            return data, 1.0 / dist.world_size()
        n = next(iter(rows.values()))
        mine = dist.shard(n, shuffle=False, drop_last=False)
        return tuple(x[mine] if i in rows else x for i, x in enumerate(data)), len(mine) / n

    def __call__(self, params, split):
        from chainrule import distributed as dist
        from chainrule._core.pytree import tree_flatten, tree_unflatten
        data, weight = split
        (value, parts), grads = self.vg(params, *data)
        late = self.deadline is not None and time.perf_counter() > self.deadline
        if dist.world_size() > 1:
            leaves, tree = tree_flatten(grads)
            flag = np.asarray(late, np.result_type(value))  # the value's dtype: one buffer, one message
            total = dist.allreduce({"value": value * weight, "parts": {k: v * weight for k, v in parts.items()},
                                    "grads": [g * weight for g in leaves], "late": flag}, op="sum")
            value, parts, late = total["value"], total["parts"], bool(total["late"])
            grads = tree_unflatten(tree, total["grads"])
        self.late, self.parts = late, parts
        return value, grads


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
