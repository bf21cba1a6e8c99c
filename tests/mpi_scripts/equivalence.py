"""Run under mpiexec -n 2: N workers with batch B match one process with batch N*B (float64)."""
import numpy as np

import chainrule as cr
import chainrule.distributed as dist
import chainrule.nn.functional as F

r, w = dist.rank(), dist.world_size()
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(64, 5)), rng.normal(size=(64, 2))
B, k = 4, 5


def batches(step):
    """The global batch of ``step`` (w*B rows) and this rank's slice."""
    rows = np.arange(step * w * B, (step + 1) * w * B) % len(X)
    return rows, rows[r * B:(r + 1) * B]


# functional path: cr.grad + mean_gradients + cr.optim.adam
def run_functional(distributed):
    # a different init per rank: the broadcast must replace it by rank 0's
    model = cr.nn.MLP([5, 8, 2], activation="tanh", rng=1 + r)
    params = dist.broadcast(model.params()) if distributed else model.params()
    core = cr.optim.adam(lr=0.05)
    state = core.init(params)
    for s in range(k):
        full, mine = batches(s)
        rows = mine if distributed else full
        g = cr.grad(lambda p: F.mse_loss(model.apply(p, X[rows]), Y[rows]))(params)
        if distributed:
            g = dist.mean_gradients(g)
        params, state = core.update(g, state, params)
    return params


# tape path: DataParallel + cr.optim.SGD with momentum
def run_tape(distributed):
    model = cr.nn.MLP([5, 8, 2], activation="tanh", rng=1 + r)
    dp = dist.DataParallel(model) if distributed else None
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for s in range(k):
        full, mine = batches(s)
        rows = mine if distributed else full
        opt.zero_grad()
        loss = F.mse_loss(model(cr.tensor(X[rows])), cr.tensor(Y[rows]))
        loss.backward()
        if distributed:
            dp.sync_gradients()
        opt.step()
    return {n: p._value.copy() for n, p in model.named_parameters()}


for run in (run_functional, run_tape):
    got = run(True)
    # the single-process reference with batch w*B, started from rank 0's initial parameters
    r_saved = r
    r = 0
    want = run(False)
    r = r_saved
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-14, err_msg=f"{run.__name__} {key}")
    same = dist.allreduce(got, op="max")
    for key in got:
        np.testing.assert_array_equal(same[key], got[key])   # identical on every rank
if dist.is_main():
    print(f"EQUIVALENT world_size={w}")
