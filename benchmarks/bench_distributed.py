"""Data-parallel throughput over MPI: the 784-256-256-10 MLP step and the Burgers PINN step.

    python benchmarks/bench_distributed.py                       # 1 process
    mpiexec -n 2 python benchmarks/bench_distributed.py          # 2 processes

MLP: each rank takes a batch of 64 (so N ranks process 64*N examples per step), computes
the gradient with ``cr.grad``, averages it with ``cr.distributed.mean_gradients`` and takes
an Adam step.

PINN: Raissi et al.'s Burgers problem (2 -> 8 x 20 tanh -> 1, 3,021 parameters, N_f =
10,000 + N_u = 100 collocation rows), the Adam step of ``cr.pinn.fit``: each rank evaluates
the jitted residual loss and gradient on its share of the fixed 10,100 rows (strong
scaling), and ``fit``'s objective sums loss, terms, gradient and the time-budget flag in one
allreduce.

Rank 0 prints steps/s, the rows processed per second, the time per step spent in
``cr.distributed.allreduce`` (communication plus waiting for the slower rank; and, apart,
the same allreduce when every rank is already waiting: the transfer alone), the bytes
each rank sends into it per step, and the ring-allreduce cost model for those bytes at
8-64 ranks.  Each process is pinned to its own core (``_env``).
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _env  # noqa: F401,E402  (pins the threads and the core before NumPy loads)
import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.distributed as dist  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402

#: (name, bandwidth in bytes/s, latency in s) of the interconnects in the cost model
NETWORKS = (("100 Gb/s InfiniBand", 12.5e9, 2e-6), ("25 Gb/s Ethernet", 3.125e9, 20e-6))


def ring_allreduce_seconds(nbytes, ranks, bandwidth, latency):
    """The ring allreduce's cost: ``2(N-1)/N * bytes / bandwidth + 2(N-1) * latency``
    (a reduce-scatter and an allgather, N-1 steps each, every step one message of bytes/N)."""
    n = ranks
    return 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency


class _Timed:
    """Stands in for ``dist.allreduce`` (which the code under test calls) to add up its seconds
    and the bytes of the trees it is given."""

    def __init__(self):
        self.seconds, self.nbytes, self.real = 0.0, 0, dist.allreduce

    def __call__(self, tree, op="mean"):
        t = time.perf_counter()
        out = self.real(tree, op)
        self.seconds += time.perf_counter() - t
        self.nbytes += _nbytes(tree)
        return out


def _nbytes(tree):
    from chainrule._core.pytree import tree_flatten
    return sum(np.asarray(x).nbytes for x in tree_flatten(tree)[0])


def _measure(step, steps):
    """Run ``step()`` ``steps`` times after one warm-up; ``(seconds, allreduce seconds, bytes into it)``."""
    step()  # compiles (the PINN's jit) and allocates
    timed = _Timed()
    dist.allreduce = timed
    try:
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        dist.barrier()
        return time.perf_counter() - t0, timed.seconds, timed.nbytes
    finally:
        dist.allreduce = timed.real


def allreduce_alone(nbytes, reps=50):
    """Seconds per ``dist.allreduce`` of ``nbytes`` of float64 when every rank is already waiting
    (a barrier before each): the transfer itself, without the wait for a slower rank."""
    tree = {"g": np.ones(nbytes // 8)}
    total = 0.0
    for _ in range(reps):
        dist.barrier()
        t = time.perf_counter()
        dist.allreduce(tree, op="sum")
        total += time.perf_counter() - t
    return total / reps


def mlp_step(batch=64):
    """The 784-256-256-10 step: a closure taking one step, and the rows it processes on all ranks."""
    rng = np.random.default_rng(dist.rank())
    x = rng.normal(size=(batch, 784))
    y = np.eye(10)[rng.integers(0, 10, batch)]
    model = cr.nn.MLP([784, 256, 256, 10], activation="relu", rng=0)
    core = cr.optim.adam(1e-3)
    box = {"params": dist.broadcast(model.params())}
    box["state"] = core.init(box["params"])
    grad = cr.grad(lambda p: F.mse_loss(model.apply(p, x), y))

    def step():
        g = dist.mean_gradients(grad(box["params"]))
        box["params"], box["state"] = core.update(g, box["state"], box["params"])
    return step, batch * dist.world_size(), _nbytes(box["params"])


def pinn_step(n_f=10_000):
    """The Burgers Adam step of ``cr.pinn.fit`` on this rank's share of the 10,100 rows."""
    from chainrule.pinn import burgers
    from chainrule.pinn.training import _Objective
    problem = burgers.make_problem(n_u=100, n_f=n_f, seed=0)
    net = cr.pinn.mlp(problem.box, [2] + [20] * 8 + [1], rng=0)
    objective = _Objective(cr.jit(cr.value_and_grad(burgers.loss_fn(net), has_aux=True)), (0,), None)
    data = objective.split((problem.x_f, problem.x_u, problem.u_u))
    core = cr.optim.adam(1e-3)
    box = {"params": dist.broadcast(net.params())}
    box["state"] = core.init(box["params"])

    def step():
        _, g = objective(box["params"], data)
        box["params"], box["state"] = core.update(g, box["state"], box["params"])
    # the allreduce carries the gradient, the loss, its two terms and the time-budget flag
    return step, len(problem.x_f), _nbytes(box["params"]) + 4 * 8


def main():
    w = dist.world_size()
    lines = []
    for name, (step, rows, per), steps in (("mlp 784-256-256-10, batch 64/rank", mlp_step(), 30),
                                           ("pinn burgers 2-8x20-1, 10,100 rows in all", pinn_step(), 20)):
        dt, comm, nbytes = _measure(step, steps)
        assert w == 1 or nbytes == per * steps, (nbytes, per * steps)  # the bytes counted are those sent
        alone = allreduce_alone(per)
        lines.append(f"{name}: ranks={w} steps/s={steps / dt:.1f} rows/s={steps * rows / dt:.0f} "
                     f"step ms={1e3 * dt / steps:.2f} allreduce ms/step={1e3 * comm / steps:.2f} "
                     f"(alone, after a barrier: {1e3 * alone:.2f}) bytes/step={per}")
        for net, bw, lat in NETWORKS:
            model = " ".join(f"N={n}:{1e3 * ring_allreduce_seconds(per, n, bw, lat):.3f}" for n in (8, 16, 32, 64))
            lines.append(f"    ring model, {net}: ms/step {model}")
    if dist.is_main():
        print("\n".join(lines))


if __name__ == "__main__":
    main()
