"""Run under mpiexec -n 2: rank 1 passes another shape for leaf ['b']; every rank raises."""
import numpy as np

import chainrule.distributed as dist

t = {"a": np.zeros(3), "b": np.zeros(4 if dist.rank() == 0 else 5)}
try:
    dist.allreduce(t)
except ValueError as e:
    print(f"rank {dist.rank()}: {e}", flush=True)
    assert "['b']" in str(e)
else:
    raise AssertionError("no error")
