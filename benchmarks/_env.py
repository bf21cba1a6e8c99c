"""Pin every numerical library to one thread.

This module imports nothing numerical: it must run before NumPy, PyTorch or
JAX is imported anywhere in the process, because the BLAS and XLA thread
pools read these variables once, when they load.
"""
import os

THREAD_VARS = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


#: The CPU this process is pinned to (None where affinity cannot be set).
PINNED_CPU = None


def pin_threads():
    """Set the single-thread variables (overriding what the shell set) and pin to one CPU.

    The variables alone do not stop every runtime from using a second core:
    JAX's CPU client overlaps Python dispatch with execution and runs
    independent operations of a compiled step concurrently on its own thread
    pool (measured here at 1.3-1.5 CPU-seconds per wall-second).  Pinning the
    process to one CPU, before any thread pool exists, makes every framework
    run on one core; threads created later inherit the affinity.
    """
    global PINNED_CPU
    for k, v in THREAD_VARS.items():
        os.environ[k] = v
    if hasattr(os, "sched_setaffinity"):
        try:
            cpus = sorted(os.sched_getaffinity(0))
            # the last one (CPU 0 usually takes more of the interrupts); under mpiexec each rank
            # its own, counting down, or the ranks of bench_distributed.py would share one core
            local = int(os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or 0)
            cpu = cpus[-1 - local % len(cpus)]
            os.sched_setaffinity(0, {cpu})
            PINNED_CPU = cpu
        except OSError:
            pass


pin_threads()
