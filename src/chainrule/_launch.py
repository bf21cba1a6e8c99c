"""``--workers N`` for the commands that train (``chainrule train digits``, ``chainrule pinn burgers``):
the option, and running the same command under ``mpiexec -n N``, in one place."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from chainrule._argtypes import positive_int

__all__ = ["add_workers_argument", "relaunch"]


def add_workers_argument(parser, how=""):
    """Add ``--workers N`` to ``parser``; ``how`` says what each rank takes."""
    parser.add_argument("--workers", type=positive_int, default=1, metavar="N",
                        help=f"data-parallel training on N MPI processes (relaunches itself under mpiexec -n N; "
                             f"needs pip install 'chainrule[mpi]'){how}")


def relaunch(args, prog):
    """``None`` when this process runs the command itself (``--workers 1``, or already a rank of an
    ``mpiexec`` job of that size); else the exit status of the same command under ``mpiexec -n N``."""
    from chainrule import distributed as dist

    workers = getattr(args, "workers", 1)
    if dist._under_mpiexec():
        size = dist.world_size()
        if workers not in (1, size):
            print(f"{prog}: --workers {workers}, but mpiexec started {size} processes; drop --workers "
                  f"under mpiexec", file=sys.stderr)
            return 2
        return None
    if workers == 1:
        return None
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        print(f"{prog}: --workers needs mpi4py; pip install 'chainrule[mpi]'", file=sys.stderr)
        return 2
    exe = mpiexec()
    if exe is None:
        print(f"{prog}: --workers needs mpiexec (pip install mpich), or run `mpiexec -n N {prog} ...` "
              f"yourself", file=sys.stderr)
        return 2
    return subprocess.run([exe, "-n", str(workers), sys.executable, "-m", "chainrule", *args.argv]).returncode


def mpiexec():
    """The ``mpiexec`` next to the Python executable (mpich's wheel puts it there), else on ``PATH``."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")
