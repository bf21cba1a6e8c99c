"""cr.distributed: world size 1 in this process, and real MPI jobs (mpiexec -n 2) in subprocesses.

The MPI tests need mpi4py and an mpiexec (``pip install 'chainrule[mpi]'``; the ``test``
extra installs them, so CI runs them); they are skipped, with the reason, otherwise.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist

SCRIPTS = Path(__file__).parent / "mpi_scripts"
SRC = Path(__file__).resolve().parents[1] / "src"


def _mpiexec():
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def _env():
    """This checkout's src first; mpich's hydra starts the ranks with fork (no ssh in a container)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
                HYDRA_LAUNCHER="fork", OMP_NUM_THREADS="1")


def _run(script, *args, n=2, timeout=60, env=()):
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'chainrule[mpi]'")
    exe = _mpiexec()
    if exe is None:
        pytest.skip("no mpiexec on PATH or next to sys.executable: pip install mpich")
    return subprocess.run([exe, "-n", str(n), sys.executable, str(SCRIPTS / script), *map(str, args)],
                          env=dict(_env(), **dict(env)), capture_output=True, text=True, timeout=timeout)


def test_single_process_is_world_size_1():
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
    t = {"a": np.arange(3.0), "b": (np.int64(2), None)}
    for op in ("sum", "mean", "max", "min"):
        got = dist.allreduce(t, op=op)
        np.testing.assert_array_equal(got["a"], t["a"])
        assert got["b"][1] is None and got["a"] is not t["a"]
    np.testing.assert_array_equal(dist.broadcast(t)["a"], t["a"])
    dist.barrier()
    np.testing.assert_array_equal(np.sort(dist.shard(7, epoch=1, seed=2)), np.arange(7))


def test_bad_op_and_dtype_are_named():
    with pytest.raises(ValueError, match="allreduce: op='prod'"):
        dist.allreduce({"a": np.ones(2)}, op="prod")
    with pytest.raises(TypeError, match=r"allreduce: leaf \['s'\] has dtype <U1"):
        dist.allreduce({"s": np.array(["x"])})


def test_data_parallel_single_process_keeps_gradients():
    model = cr.nn.MLP([3, 4, 1], activation="tanh", rng=0)
    before = [p._value.copy() for p in model.parameters()]
    dp = dist.DataParallel(model)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p._value, b)
    loss = (dp(cr.tensor(np.ones((2, 3)))) ** 2).sum()
    loss.backward()
    g = [p.grad._value.copy() for p in model.parameters()]
    dp.sync_gradients()
    for p, h in zip(model.parameters(), g):
        np.testing.assert_array_equal(p.grad._value, h)


def test_mpi_collectives_match_numpy():
    r = _run("collectives.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "COLLECTIVES OK" in r.stdout


def test_mpi_two_workers_equal_one_process_with_twice_the_batch():
    r = _run("equivalence.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "EQUIVALENT world_size=2" in r.stdout


def test_mpi_mismatched_trees_name_the_leaf():
    r = _run("mismatch.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("the trees differ across ranks at leaf ['b']") == 2, r.stdout


def test_mpi_a_rank_that_raises_fails_the_job_instead_of_hanging():
    # rank 1 raises before the allreduce that rank 0 waits in: the excepthook aborts the job
    t0 = time.monotonic()
    r = _run("raises.py", timeout=60)
    assert time.monotonic() - t0 < 30, "the job took too long to fail"
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Traceback" in out and "RuntimeError: rank 1 failed on purpose" in out, out


@pytest.mark.parametrize("mode", ["loop", "extra"])
def test_mpi_timeout_ends_a_job_whose_rank_never_joins(mode):
    # rank 1 hangs without raising (loop) or calls one collective fewer (extra); rank 0's allreduce
    # must raise TimeoutError after CHAINRULE_MPI_TIMEOUT seconds, naming itself and the rank
    t0 = time.monotonic()
    r = _run("hangs.py", mode, timeout=60, env={"CHAINRULE_MPI_TIMEOUT": "2"})
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "TimeoutError: allreduce: rank 0 of 2 waited 2 s for the other ranks" in out, out
    assert 2 <= took < 30, took


def test_timeout_setting_is_checked():
    old = dist.set_timeout(5)
    try:
        assert dist.get_timeout() == 5.0
        for bad in (0, -1, float("inf"), "soon"):
            with pytest.raises(ValueError, match="set_timeout: the timeout must be a number of seconds > 0"):
                dist.set_timeout(bad)
        assert dist.set_timeout(None) == 5.0 and dist.get_timeout() is None
    finally:
        dist.set_timeout(old)


def test_train_digits_workers_2_relaunches_under_mpiexec(tmp_path):
    pytest.importorskip("sklearn", reason="the digits need scikit-learn: pip install 'chainrule[datasets]'")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'chainrule[mpi]'")
    if _mpiexec() is None:
        pytest.skip("no mpiexec on PATH or next to sys.executable: pip install mpich")
    r = subprocess.run([sys.executable, "-m", "chainrule", "train", "digits", "--workers", "2", "--epochs", "2",
                        "--no-plot", "--quiet", "--out-dir", str(tmp_path)], env=_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("model saved to") == 1 and r.stdout.count("test accuracy") == 1, r.stdout
    assert (tmp_path / "digits_mlp.npz").exists()
