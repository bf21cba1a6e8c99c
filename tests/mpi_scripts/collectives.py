"""Run under mpiexec -n 2: allreduce/broadcast on pytrees against NumPy by hand."""
import numpy as np

import chainrule.distributed as dist

r, w = dist.rank(), dist.world_size()


def tree(q):
    return {"a": np.arange(6.0).reshape(2, 3) * (q + 1), "b": [np.float32(q - 1.5), np.array([q, 7 - q])]}


trees = [tree(q) for q in range(w)]
for op, f in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min)):
    got = dist.allreduce(tree(r), op=op)
    np.testing.assert_allclose(got["a"], f([t["a"] for t in trees], axis=0))
    np.testing.assert_allclose(got["b"][0], f([t["b"][0] for t in trees], axis=0), rtol=1e-6)
    np.testing.assert_allclose(got["b"][1], f([t["b"][1] for t in trees], axis=0))
    assert got["b"][0].dtype == np.float32
got = dist.broadcast(tree(r), root=w - 1)
np.testing.assert_array_equal(got["a"], trees[-1]["a"])
np.testing.assert_array_equal(got["b"][1], trees[-1]["b"][1])
idx = [dist.allreduce({"i": np.bincount(dist.shard(10, epoch=e, seed=3), minlength=10)}, op="sum")["i"]
       for e in range(2)]
assert all(((i == 0) | (i == 1)).all() and i.sum() == 10 // w * w for i in idx)
assert not np.array_equal(dist.shard(10, epoch=0, seed=3), dist.shard(10, epoch=1, seed=3))
dist.barrier()
if dist.is_main():
    print("COLLECTIVES OK")
