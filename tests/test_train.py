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
    assert main(["train", "digits", "--epochs", "0", "--no-plot"]) == 2


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
