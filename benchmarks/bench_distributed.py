"""Data-parallel throughput of the 784-256-256-10 training step over MPI.

    python benchmarks/bench_distributed.py                       # 1 process
    mpiexec -n 2 python benchmarks/bench_distributed.py          # 2 processes

Each rank takes a batch of 64 (so N ranks process 64*N examples per step), computes the
gradient with ``cr.grad``, averages it with ``cr.distributed.mean_gradients`` (one
allreduce) and takes an Adam step. Rank 0 prints steps/s, examples/s, the allreduce time
per step and the bytes each rank sends into the allreduce per step.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _env  # noqa: F401,E402  (pins the threads before NumPy loads)
import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.distributed as dist  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


def main(steps=30, batch=64):
    r, w = dist.rank(), dist.world_size()
    rng = np.random.default_rng(r)
    x = rng.normal(size=(batch, 784))
    y = np.eye(10)[rng.integers(0, 10, batch)]
    model = cr.nn.MLP([784, 256, 256, 10], activation="relu", rng=0)
    params = dist.broadcast(model.params())
    core = cr.optim.adam(1e-3)
    state = core.init(params)
    loss = lambda p: F.mse_loss(model.apply(p, x), y)  # noqa: E731
    g = cr.grad(loss)(params)
    nbytes = sum(a.nbytes for a in cr.tree_leaves(g)) if hasattr(cr, "tree_leaves") else \
        sum(np.asarray(a).nbytes for a in g.values())
    comm = 0.0
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        g = cr.grad(loss)(params)
        t1 = time.perf_counter()
        g = dist.mean_gradients(g)
        comm += time.perf_counter() - t1
        params, state = core.update(g, state, params)
    dist.barrier()
    dt = time.perf_counter() - t0
    if dist.is_main():
        print(f"ranks={w} batch/rank={batch} steps/s={steps / dt:.1f} examples/s={steps * batch * w / dt:.0f} "
              f"allreduce ms/step={1e3 * comm / steps:.2f} bytes/step={nbytes}")


if __name__ == "__main__":
    main()
