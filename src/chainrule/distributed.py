"""Data-parallel training over MPI (``mpi4py``; install with ``pip install 'chainrule[mpi]'``).

Run a script under ``mpiexec -n N python script.py``; every rank runs the same code on its
own shard of the data and the gradients are averaged with one ``allreduce`` per step.
Without ``mpiexec`` (or without ``mpi4py``) a single process is world size 1 and every
collective is a copy, so the same script runs unchanged on a laptop.

>>> import numpy as np, chainrule.distributed as dist
>>> dist.rank(), dist.world_size()
(0, 1)
>>> dist.allreduce({"w": np.ones(2)}, op="sum")["w"]
array([1., 1.])
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from typing import Any

import numpy as np

from chainrule._core.pytree import tree_flatten, tree_unflatten

__all__ = ["rank", "world_size", "allreduce", "broadcast", "barrier", "mean_gradients",
           "shard", "is_main", "DataParallel", "set_timeout", "get_timeout"]

_comm = None
_UNSET = object()
_timeout = _UNSET  # seconds a collective may wait, None for ever; read from _TIMEOUT_ENV on first use
_TIMEOUT_ENV = "CHAINRULE_MPI_TIMEOUT"
_OPS = ("sum", "mean", "max", "min")
_MPI_ENV = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "HYDRA_CONTROL_FD")


def _under_mpiexec():
    return any(k in os.environ for k in _MPI_ENV)


def _get_comm():
    """``MPI.COMM_WORLD``, or ``None`` for a single process without mpi4py."""
    global _comm
    if _comm is not None:
        return _comm or None
    try:
        from mpi4py import MPI
    except ImportError:
        if _under_mpiexec():
            raise ImportError("chainrule.distributed: this process runs under mpiexec but mpi4py "
                              "is not installed; pip install 'chainrule[mpi]'") from None
        _comm = False
        return None
    _comm = MPI.COMM_WORLD
    if _comm.Get_size() > 1:
        _install_excepthook(_comm)
    return _comm


def _install_excepthook(comm):
    """An uncaught exception in one rank prints its traceback and aborts the whole job
    (``comm.Abort``) instead of leaving the other ranks waiting in a collective."""
    old = sys.excepthook

    def hook(kind, value, tb):
        old(kind, value, tb)
        sys.stderr.flush()
        sys.stdout.flush()
        import time
        time.sleep(0.5)  # let mpiexec forward the traceback before the abort tears the job down
        comm.Abort(1)

    sys.excepthook = hook


def set_timeout(seconds: float | None) -> float | None:
    """Let a collective wait at most ``seconds`` for the other ranks (``None``: for ever, the
    default); returns the previous setting.  The environment variable
    ``CHAINRULE_MPI_TIMEOUT`` sets it for a whole job (``mpiexec -n 2 -env ...``).

    Past the timeout the collective raises ``TimeoutError`` naming itself and the rank, so a
    rank stuck in a loop, or ranks that call different numbers of collectives, end the job
    with an error (through the abort hook) instead of hanging it.  MPI cannot cancel a
    collective, so the error is meant to end the job, not to be caught and retried.

    >>> import chainrule.distributed as dist
    >>> old = dist.set_timeout(30)
    >>> dist.get_timeout()
    30.0
    >>> dist.set_timeout(old)
    30.0
    """
    global _timeout
    old = get_timeout()
    _timeout = _seconds(seconds, "set_timeout")
    return old


def get_timeout() -> float | None:
    """The collectives' timeout in seconds, or ``None`` (see :func:`set_timeout`).

    >>> import chainrule.distributed as dist
    >>> dist.get_timeout() is None or dist.get_timeout() > 0
    True
    """
    global _timeout
    if _timeout is _UNSET:
        _timeout = _seconds(os.environ.get(_TIMEOUT_ENV) or None, _TIMEOUT_ENV)
    return _timeout


def _seconds(value, who):
    if value is None:
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = float("nan")
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"{who}: the timeout must be a number of seconds > 0 (or None: wait for ever), "
                         f"got {value!r}")
    return t


def _wait(req, what, c):
    """Complete the non-blocking collective ``req``: ``Wait`` without a timeout, else ``Test``
    with growing pauses until it completes or the timeout passes (``TimeoutError``)."""
    t = get_timeout()
    if t is None:
        req.Wait()
        return
    end, pause = time.monotonic() + t, 1e-5
    while not req.Test():
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: rank {c.Get_rank()} of {c.Get_size()} waited {t:g} s for the other "
                               f"ranks (cr.distributed.set_timeout / {_TIMEOUT_ENV}); another rank is stuck or "
                               f"has failed, or the ranks call different numbers of collectives")
        time.sleep(pause)
        pause = min(2 * pause, 1e-3)


def rank() -> int:
    """This process's rank, ``0`` for a single process.

    >>> import chainrule.distributed as dist
    >>> dist.rank()
    0
    """
    c = _get_comm()
    return 0 if c is None else c.Get_rank()


def world_size() -> int:
    """The number of processes, ``1`` without ``mpiexec``.

    >>> import chainrule.distributed as dist
    >>> dist.world_size()
    1
    """
    c = _get_comm()
    return 1 if c is None else c.Get_size()


def is_main() -> bool:
    """``True`` on rank 0: print and save only there.

    >>> import chainrule.distributed as dist
    >>> dist.is_main()
    True
    """
    return rank() == 0


def barrier() -> None:
    """Wait until every rank reaches this point (a no-op for one process).

    >>> import chainrule.distributed as dist
    >>> dist.barrier()
    """
    c = _get_comm()
    if c is not None and c.Get_size() > 1:
        _wait(c.Ibarrier(), "barrier", c)


def _leaves(tree, name):
    leaves, treedef = tree_flatten(tree)
    arrs = []
    for i, x in enumerate(leaves):
        a = np.asarray(getattr(x, "_value", x))
        if a.dtype.kind not in "biuf":  # the paths are made only for the message
            raise TypeError(f"{name}: leaf {treedef.paths()[i] or '<root>'} has dtype {a.dtype}; only numeric "
                            f"arrays can be communicated (convert it or leave it out of the tree)")
        arrs.append(a)
    return arrs, treedef


def _check_same(c, arrs, treedef, name):
    """Compare a hash of the tree's signature (structure, shapes, dtypes) across the ranks in one
    16-byte allreduce; when they differ, gather the signatures and name the first leaf that differs."""
    from mpi4py import MPI
    paths = [q or "<root>" for q in treedef.paths()]
    sig = [(p, a.shape, a.dtype.str) for p, a in zip(paths, arrs)]
    h = int.from_bytes(hashlib.blake2b(repr(sig).encode(), digest_size=7).digest(), "little")
    got = np.empty(2, np.int64)
    _wait(c.Iallreduce(np.array([h, -h], np.int64), got, op=MPI.MAX), name, c)
    if got[0] == -got[1]:  # max == min: the same signature everywhere
        return
    sigs = c.allgather(sig)
    ref = sigs[0]
    for r, s in enumerate(sigs):
        if s == ref:
            continue
        for i, (a, b) in enumerate(zip(ref, s)):
            if a != b:
                raise ValueError(f"{name}: the trees differ across ranks at leaf {b[0]}: rank {r} has "
                                 f"shape {b[1]} dtype {b[2]}, rank 0 has {a[0]} shape {a[1]} dtype "
                                 f"{a[2]}; every rank must pass the same structure")
        raise ValueError(f"{name}: rank {r} passes {len(s)} leaves, rank 0 passes {len(ref)}; "
                         f"every rank must pass the same structure")


def _by_dtype(arrs, fn):
    """Pack ``arrs`` into one flat buffer per dtype, apply ``fn`` (a collective) to each
    buffer, and unpack the results into arrays of the original shapes."""
    out = [None] * len(arrs)
    for dt in sorted({a.dtype.str for a in arrs}):
        idx = [i for i, a in enumerate(arrs) if a.dtype.str == dt]
        buf = fn(np.concatenate([arrs[i].ravel() for i in idx]))
        k = 0
        for i in idx:
            n = arrs[i].size
            out[i] = buf[k:k + n].reshape(arrs[i].shape)
            k += n
    return out


def allreduce(tree: Any, op: str = "mean") -> Any:
    """Reduce a pytree of arrays over all ranks (``"sum"``, ``"mean"``, ``"max"``, ``"min"``).

    The leaves are packed into one flat buffer per dtype, so a call sends one message per
    dtype, not one per leaf; every rank gets the result. Leaves come back as NumPy arrays.

    >>> import numpy as np, chainrule.distributed as dist
    >>> dist.allreduce({"a": np.array([1.0, 2.0]), "b": [np.float64(3.0)]}, op="max")
    {'a': array([1., 2.]), 'b': [array(3.)]}
    """
    if op not in _OPS:
        raise ValueError(f"allreduce: op={op!r} is not one of {_OPS}")
    arrs, treedef = _leaves(tree, "allreduce")
    c = _get_comm()
    if c is None or c.Get_size() == 1:
        return tree_unflatten(treedef, [a.copy() for a in arrs])
    from mpi4py import MPI
    _check_same(c, arrs, treedef, "allreduce")
    mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]

    def reduce(send):
        if op == "mean" and send.dtype.kind != "f":
            send = send.astype(np.float64)
        recv = np.empty_like(send)
        _wait(c.Iallreduce(send, recv, op=mpi_op), "allreduce", c)
        if op == "mean":
            recv /= c.Get_size()
        return recv

    return tree_unflatten(treedef, _by_dtype(arrs, reduce))


def broadcast(tree: Any, root: int = 0) -> Any:
    """Rank ``root``'s pytree of arrays on every rank (one message per dtype).

    >>> import numpy as np, chainrule.distributed as dist
    >>> dist.broadcast({"w": np.zeros(3)})
    {'w': array([0., 0., 0.])}
    """
    arrs, treedef = _leaves(tree, "broadcast")
    c = _get_comm()
    if c is None or c.Get_size() == 1:
        return tree_unflatten(treedef, [a.copy() for a in arrs])
    _check_same(c, arrs, treedef, "broadcast")

    def bcast(buf):
        _wait(c.Ibcast(buf, root=root), "broadcast", c)
        return buf

    return tree_unflatten(treedef, _by_dtype(arrs, bcast))


def mean_gradients(grads: Any) -> Any:
    """The gradients averaged over ranks (functional training: call it between ``cr.grad``
    and the optimiser's ``update``, so every rank takes the same step).

    >>> import numpy as np, chainrule.distributed as dist
    >>> dist.mean_gradients({"w": np.array([2.0])})
    {'w': array([2.])}
    """
    return allreduce(grads, op="mean")


def shard(n: int, epoch: int = 0, seed: int = 0, shuffle: bool = True, drop_last: bool = True) -> Any:
    """This rank's indices into ``n`` examples for ``epoch``, as ``DistributedSampler``.

    The same permutation (from ``seed`` and ``epoch``) on every rank, cut into
    ``world_size()`` strided pieces.  With ``drop_last`` the pieces have equal length (the
    last ``n % world_size()`` examples of the permutation are dropped so every rank takes
    the same number of steps); without it every example is kept and the lengths differ by
    at most one (full-batch training: ``cr.pinn.fit`` weights each rank by its share).

    >>> import chainrule.distributed as dist
    >>> dist.shard(5, shuffle=False)
    array([0, 1, 2, 3, 4])
    """
    idx = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    w = world_size()
    m = (n // w) * w if drop_last else n
    return idx[:m][rank()::w]


class DataParallel:
    """Data parallelism for a tape module: rank 0's parameters are broadcast at construction,
    and ``sync_gradients()`` (after ``loss.backward()``) averages every parameter's ``.grad``
    in one allreduce, so an optimiser on each rank takes the same step.

    >>> import chainrule as cr, chainrule.distributed as dist
    >>> model = cr.nn.Linear(2, 1)
    >>> dp = dist.DataParallel(model)
    >>> loss = (model(cr.tensor([[1.0, 2.0]])) ** 2).sum()
    >>> loss.backward(); dp.sync_gradients()
    >>> dp.module is model
    True
    """

    def __init__(self, model: Any) -> None:
        self.module = model
        params = model.parameters()
        values = broadcast([p._value for p in params])
        from chainrule._interpreters.reverse import _write
        for p, v in zip(params, values):
            _write(p, v, "DataParallel")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def parameters(self) -> Any:
        return self.module.parameters()

    def sync_gradients(self) -> None:
        """Average ``.grad`` over ranks in place (a missing ``.grad`` counts as zeros)."""
        from chainrule._interpreters.reverse import Tensor
        params = self.module.parameters()
        grads = [np.zeros_like(p._value) if p.grad is None else p.grad._value for p in params]
        if world_size() == 1:
            return
        for p, g in zip(params, allreduce(grads, op="mean")):
            p.grad = Tensor(g)
