"""Run as one process, or under mpiexec -n 2: a short Burgers fit with Adam, L-BFGS and BFGS.

``python pinn_shards.py OUT.npz`` writes the parameters after each optimiser (rank 0). Under
MPI every rank starts from other weights (rank 0's must be broadcast), takes its strided
share of the 321 collocation rows (161 and 160: uneven, so the weighting matters), and
asserts that all ranks end with bitwise identical parameters; tests/test_distributed.py
compares the files of the two runs.  Then two runs under a time budget, which every rank
must end at the same step.
"""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule.pinn import burgers

problem = burgers.make_problem(n_u=20, n_f=301, seed=0)
out = {}
for name, adam_steps, iters in (("adam", 8, 0), ("lbfgs", 2, 8), ("bfgs", 2, 8), ("ssbfgs", 0, 8)):
    net = cr.pinn.mlp(problem.box, [2, 10, 10, 1], rng=dist.rank())
    params, info = burgers.train(net, problem, adam_steps=adam_steps, iters=iters,
                                 optimizer="lbfgs" if name == "adam" else name, progress=False)
    assert info["workers"] == dist.world_size() and info["adam_steps"] == adam_steps, info
    assert info["iters"] == iters, (name, info["iters"], info["message"])
    lo, hi = dist.allreduce(params, op="min"), dist.allreduce(params, op="max")
    for k, v in params.items():
        assert np.array_equal(lo[k], v) and np.array_equal(hi[k], v), f"{name} {k}: ranks differ"
        out[f"{name}/{k}"] = np.asarray(v)
    out[f"{name}/loss"] = np.array(info["loss"])

# a time budget: every rank must stop at the same step of the same phase, or the collectives would
# no longer match (the test sets CHAINRULE_MPI_TIMEOUT, so that fails instead of hanging)
net = cr.pinn.mlp(problem.box, [2, 10, 10, 1], rng=0)
for adam_steps, phase in ((10 ** 6, "adam"), (3, "lbfgs")):
    params, info = burgers.train(net, problem, adam_steps=adam_steps, iters=10 ** 6, optimizer="lbfgs",
                                 time_budget=1.0, progress=False)
    assert info["message"] == "time budget reached" and info["history"][-1][0] == phase, info["message"]
    steps = dist.allreduce(np.array([info["adam_steps"], info["iters"]]), op="max")
    assert np.array_equal(steps, [info["adam_steps"], info["iters"]]), "ranks stopped at different steps"
    assert all(np.array_equal(dist.allreduce(params, op="max")[k], v) for k, v in params.items())
if dist.is_main():
    np.savez(sys.argv[1], **out)
    print(f"PINN SHARDS OK world_size={dist.world_size()}")
