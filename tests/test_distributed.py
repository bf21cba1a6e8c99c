"""cr.distributed: world size 1 in this process, and real MPI jobs (mpiexec -n 2) in subprocesses.

The MPI tests need mpi4py and an mpiexec (``pip install 'chainrule[mpi]'``; the ``test``
extra installs them, so CI runs them); they are skipped, with the reason, otherwise.
"""
import os
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
    from chainrule._launch import mpiexec
    return mpiexec()


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


def test_mpi_sharded_burgers_fit_equals_one_process_with_all_points(tmp_path):
    # oracle: the same fit in one process on all 321 collocation rows; two ranks with 161 and
    # 160 rows each must reach the same parameters for Adam, L-BFGS, BFGS and self-scaled BFGS
    pytest.importorskip("scipy", reason="the line search and the LHS points need SciPy")
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    r = subprocess.run([sys.executable, str(SCRIPTS / "pinn_shards.py"), str(one)], env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "world_size=1" in r.stdout, r.stdout + r.stderr
    r = _run("pinn_shards.py", two, timeout=180, env={"CHAINRULE_MPI_TIMEOUT": "60"})
    assert r.returncode == 0 and "PINN SHARDS OK world_size=2" in r.stdout, r.stdout + r.stderr
    with np.load(one) as a, np.load(two) as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_pinn_burgers_workers_2_prints_once_and_matches_one_process():
    # oracle: the same quick run in one process; rank 0 alone prints, with the same loss and error
    pytest.importorskip("scipy", reason="the line search and the LHS points need SciPy")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'chainrule[mpi]'")
    if _mpiexec() is None:
        pytest.skip("no mpiexec on PATH or next to sys.executable: pip install mpich")
    cmd = [sys.executable, "-m", "chainrule", "pinn", "burgers", "--quick", "--no-progress", "--out", "none"]
    one = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    two = subprocess.run(cmd + ["--workers", "2"], env=_env(), capture_output=True, text=True, timeout=120)
    assert one.returncode == 0 and two.returncode == 0, one.stdout + one.stderr + two.stdout + two.stderr
    assert "2 MPI ranks" in two.stdout and two.stdout.count("relative L2 error") == 1, two.stdout
    results = [[ln.split(";")[0] for ln in r.stdout.splitlines() if ln.startswith(("loss", "relative"))]
               for r in (one, two)]
    assert results[0] == results[1] and len(results[0]) == 2, results


@pytest.mark.parametrize("jit", [False, True])
def test_train_digits_workers_2_resume_and_jit(tmp_path, jit):
    # oracle: 4 epochs in one run of --workers 2; 2 epochs, then --resume to 4, must give the same model
    # bitwise (only rank 0 writes the checkpoint, every rank reads it); and the jitted step (gradient,
    # allreduce, update) must match the eager DataParallel run to round-off
    pytest.importorskip("sklearn", reason="the digits need scikit-learn: pip install 'chainrule[datasets]'")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'chainrule[mpi]'")
    if _mpiexec() is None:
        pytest.skip("no mpiexec on PATH or next to sys.executable: pip install mpich")

    def train(out, epochs, *flags, jit=jit):
        cmd = [sys.executable, "-m", "chainrule", "train", "digits", "--workers", "2", "--epochs", str(epochs),
               "--no-plot", "--quiet", "--out-dir", str(out), *flags, *(["--jit"] if jit else [])]
        r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    a, b = tmp_path / "a", tmp_path / "b"
    train(a, 4)
    train(b, 2)
    out = train(b, 4, "--resume")
    assert out.count("epochs 3-4 (resumed after epoch 2)") == 1, out
    # a checkpoint of two workers is refused by one process, naming the difference
    r = subprocess.run([sys.executable, "-m", "chainrule", "train", "digits", "--epochs", "5", "--no-plot", "--quiet",
                        "--resume", "--out-dir", str(b), *(["--jit"] if jit else [])], env=_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "workers: 2 there, 1 here" in r.stderr, r.stderr
    with np.load(a / "digits_mlp.npz") as fa, np.load(b / "digits_mlp.npz") as fb:
        assert fa.files == fb.files and all(np.array_equal(fa[k], fb[k]) for k in fa.files)
    if jit:  # the eager run of the same job as a second oracle
        train(tmp_path / "eager", 4, jit=False)
        with np.load(a / "digits_mlp.npz") as fa, np.load(tmp_path / "eager" / "digits_mlp.npz") as fe:
            for k in fa.files:
                np.testing.assert_allclose(fa[k], fe[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_jit_train_step_with_sync_equals_the_fused_step():
    # oracle: the fused compiled step; with sync the gradient and the update are compiled apart
    from chainrule.nn import functional as F
    from chainrule.nn.train import jit_train_step
    model = cr.nn.MLP([3, 8, 2], activation="tanh", rng=0)
    x, y = np.random.default_rng(0).standard_normal((16, 3)), np.random.default_rng(1).standard_normal((16, 2))
    seen = []
    fused = jit_train_step(model, F.mse_loss, cr.optim.adam(lr=0.01))
    split = jit_train_step(model, F.mse_loss, cr.optim.adam(lr=0.01),
                           sync=lambda g: seen.append(1) or dist.mean_gradients(g))
    (p1, s1), (p2, s2) = fused.init(), split.init()
    for _ in range(5):
        p1, s1, l1 = fused(p1, s1, x, y)
        p2, s2, l2 = split(p2, s2, x, y)
    assert len(seen) == 5 and split.traces == 1 and int(s2["step"]) == 5
    for k in p1:
        np.testing.assert_allclose(p2[k], p1[k], rtol=1e-12, atol=1e-15, err_msg=k)
    assert str(split.lower(p2, s2, x, y).ir).count("\n") > 5  # the gradient half's graph
    with pytest.raises(TypeError, match="jit_train_step: sync must be a function of the gradients"):
        jit_train_step(model, F.mse_loss, cr.optim.adam(lr=0.01), sync=3)


def test_workers_that_disagree_with_mpiexec_are_refused():
    # under mpiexec -n 2, --workers 3 names both numbers and exits 2 on every rank, before any training
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'chainrule[mpi]'")
    exe = _mpiexec()
    if exe is None:
        pytest.skip("no mpiexec on PATH or next to sys.executable: pip install mpich")
    r = subprocess.run([exe, "-n", "2", sys.executable, "-m", "chainrule", "pinn", "burgers", "--quick",
                        "--workers", "3", "--out", "none"], env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("chainrule pinn burgers: --workers 3, but mpiexec started 2 processes") == 2, r.stderr
