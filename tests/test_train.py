"""``chainrule train digits``: accuracy, the saved model, the plot, and the messages for missing extras."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.nn import train

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")


def test_train_digits_command_reaches_97_percent_and_saves(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["train", "digits", "--out-dir", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "samples/s" in out
    model_path, plot_path = tmp_path / "digits_mlp.npz", tmp_path / "digits_curves.png"
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the saved model, loaded into a fresh one, classifies the held-out split at >= 97%
    model = cr.nn.MLP([64, 128, 10], activation="relu", rng=1)
    cr.nn.load(model, model_path)
    _, X_test, _, y_test = train.load_digits(seed=0)
    acc = train.accuracy(model, X_test, y_test)
    assert acc >= 0.97
    assert f"{acc:.2%}" in out


def test_train_digits_function_history_and_progress_bar(capsys):
    result = train.train_digits(epochs=3, seed=1, progress=True)
    assert len(result.history["loss"]) == 3 and result.history["loss"][2] < result.history["loss"][0]
    assert 0.8 < result.test_accuracy <= 1.0
    assert "train digits" in capsys.readouterr().err        # tqdm writes to stderr
    assert "TrainResult(test_accuracy=" in repr(result)


@pytest.mark.parametrize("module,extra", [("sklearn", "datasets"), ("tqdm", "datasets"),
                                          ("matplotlib", "viz")])
def test_missing_extra_is_named_with_its_install_command(monkeypatch, capsys, tmp_path, module, extra):
    monkeypatch.setitem(sys.modules, module, None)
    assert main(["train", "digits", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"pip install 'chainrule[{extra}]'" in err
    assert not (tmp_path / "digits_mlp.npz").exists()


def test_no_plot_needs_no_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["train", "digits", "--epochs", "1", "--no-plot", "--quiet", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "digits_mlp.npz").exists() and not (tmp_path / "digits_curves.png").exists()


def test_help_lists_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "train" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "chainrule[datasets]" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:                 # argparse refuses it, before anything runs
        main(["train", "digits", "--epochs", "0", "--no-plot"])
    assert e.value.code == 2


def test_training_runs_with_one_blas_thread_by_default(monkeypatch, tmp_path, capsys):
    """A multithreaded BLAS makes the tiny matmuls of this MLP several times slower on a busy
    machine; training limits it to --threads (default 1) and puts it back afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    pytest.importorskip("sklearn")
    seen = []

    def fake(*args):
        seen.append({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})
        return train.TrainResult(cr.nn.MLP([64, 10], rng=0), {"loss": [0.1], "train_accuracy": [1.0],
                                                                   "test_accuracy": [1.0]}, 1.0, 1.0, 1.0)

    monkeypatch.setattr(train, "_train_digits", fake)
    before = {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
    assert main(["train", "digits", "--no-plot", "--quiet", "--out-dir", str(tmp_path)]) == 0
    assert main(["train", "digits", "--no-plot", "--quiet", "--threads", "0", "--out-dir", str(tmp_path)]) == 0
    after = {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
    assert seen[0] in ({1}, set()) and seen[1] == before == after
    assert "digits: MLP(sizes=[64, 10]" in capsys.readouterr().out


# -- nothing lost: arguments, checkpoints, --resume, signals, divergence (issue 16, item 9) ------

@pytest.mark.parametrize("args,said", [
    (["--activation", "foo"], "invalid choice: 'foo'"),
    (["--lr", "nan"], "expected a finite number > 0, got nan"),
    (["--lr", "-1"], "expected a finite number > 0"),
    (["--hidden", "0"], "expected a positive integer, got 0"),
    (["--epochs", "x"], "expected a positive integer, got 'x'"),
    (["--threads", "-1"], "expected an integer >= 0"),
])
def test_bad_arguments_exit_2_before_anything_runs(tmp_path, capsys, args, said):
    with pytest.raises(SystemExit) as e:
        main(["train", "digits", "--no-plot", "--quiet", "--out-dir", str(tmp_path / "o"), *args])
    assert e.value.code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_out_dir_that_is_a_file_and_resume_without_checkpoint(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "digits", "--no-plot", "--quiet", "--out-dir", str(f)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["train", "digits", "--no-plot", "--quiet", "--resume", "--out-dir", str(tmp_path / "none")]) == 2
    assert "--resume found no checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("jit", [False, True])
def test_resume_gives_the_same_model_as_one_run(tmp_path, capsys, jit):
    # oracle: 5 epochs in one run; 3 epochs, then --resume to 5, must give the same parameters bitwise
    flag = ["--jit"] if jit else []
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "digits", "--epochs", "5", "--no-plot", "--quiet", "--out-dir", str(a), *flag]) == 0
    assert main(["train", "digits", "--epochs", "3", "--no-plot", "--quiet", "--out-dir", str(b), *flag]) == 0
    assert main(["train", "digits", "--epochs", "5", "--no-plot", "--quiet", "--out-dir", str(b), "--resume",
                 *flag]) == 0
    assert "epochs 4-5 (resumed after epoch 3)" in capsys.readouterr().out
    with np.load(a / "digits_mlp.npz") as fa, np.load(b / "digits_mlp.npz") as fb:
        assert fa.files == fb.files and all(np.array_equal(fa[k], fb[k]) for k in fa.files)
    # other settings than the checkpoint's are refused, naming the difference
    assert main(["train", "digits", "--epochs", "6", "--lr", "0.01", "--no-plot", "--quiet", "--resume",
                 "--out-dir", str(b), *flag]) == 2
    assert "lr: 0.001 there, 0.01 here" in capsys.readouterr().err


def test_a_diverging_run_stops_with_a_message_and_saves_no_model(tmp_path, capsys):
    assert main(["train", "digits", "--lr", "1e300", "--epochs", "3", "--no-plot", "--quiet",
                 "--out-dir", str(tmp_path)]) == 1
    assert "the training loss became nan in epoch 1 (try a smaller --lr)" in capsys.readouterr().err
    assert not (tmp_path / "digits_mlp.npz").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_with_one_line_and_exit_130_keeping_the_checkpoint(tmp_path, sig):
    import signal
    import subprocess
    import time
    ckpt = tmp_path / "digits_checkpoint.npz"
    # `python -m chainrule train ...` with Python's own SIGINT handler: a job started in the
    # background (`cmd &` without job control, as some CI runners do) inherits SIGINT ignored,
    # and Python then leaves it ignored, so Ctrl-C could never arrive
    argv = ["chainrule", "train", "digits", "--epochs", "100000", "--no-plot", "--quiet", "--out-dir", str(tmp_path)]
    launch = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              f"sys.argv = {argv!r}; runpy.run_module('chainrule', run_name='__main__', alter_sys=True)")
    p = subprocess.Popen([sys.executable, "-c", launch],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ckpt.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(getattr(signal, sig))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == [f"chainrule train: interrupted; the last finished epoch is in {ckpt} (continue with --resume)"]
    assert "Traceback" not in err
    with np.load(ckpt) as f:                         # whole, and loadable
        assert "meta" in f.files and any(k.startswith("model.") for k in f.files)
