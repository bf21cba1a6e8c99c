"""Run under mpiexec -n 2 with CHAINRULE_MPI_TIMEOUT set: rank 1 never joins rank 0's collective.

``loop``: rank 1 sleeps for ever without raising; ``extra``: rank 0 calls one allreduce more
than rank 1, which then leaves the script.  Rank 0 must raise TimeoutError and end the job.
"""
import sys
import time

import numpy as np

import chainrule.distributed as dist

mode = sys.argv[1]
dist.allreduce({"a": np.ones(3)})  # one collective that every rank joins
if dist.rank() == 1:
    if mode == "loop":
        while True:
            time.sleep(0.1)
    sys.exit(0)
dist.allreduce({"a": np.ones(3)})
