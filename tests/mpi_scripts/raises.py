"""Run under mpiexec -n 2: rank 1 raises before a collective; rank 0 waits in it. The job must end."""
import numpy as np

import chainrule.distributed as dist

if dist.rank() == 1:
    raise RuntimeError("rank 1 failed on purpose")
dist.allreduce({"a": np.ones(3)})
dist.barrier()
