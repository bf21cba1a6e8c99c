"""``cr.jit`` where users put it: a whole training step (``model.apply`` + an optimiser core).

Oracles: the same step run eagerly (``cr.value_and_grad`` then ``core.update``), the
PyTorch-style tape and wrapper optimiser, and ``chainrule train digits`` without ``--jit``.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.nn.train import TrainStep, jit_train_step

CORES = {
    "sgd-momentum": lambda: cr.optim.sgd(lr=0.05, momentum=0.9),
    "sgd-nesterov-wd": lambda: cr.optim.sgd(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: cr.optim.adam(lr=0.01),
    "adam-amsgrad-wd": lambda: cr.optim.adam(lr=0.01, weight_decay=1e-2, amsgrad=True),
    "adamw": lambda: cr.optim.adamw(lr=0.01),
}
WRAPPERS = {
    "sgd-momentum": lambda ps: cr.optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
}


def _problem(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)
    return X, y


def _eager_steps(model, core, batches, lrs=None):
    """The oracle: the same pure step, unjitted."""
    params = model.params()
    state = core.init(params)
    losses = []
    for k, (xb, yb) in enumerate(batches):
        if lrs is not None:
            core.lr = lrs[k]
        loss, grads = cr.value_and_grad(lambda p: F.cross_entropy(model.apply(p, xb), yb))(params)
        params, state = core.update(grads, state, params)
        losses.append(float(loss))
    return params, state, losses


def _batches(X, y, size, epochs=1):
    return [(X[s:s + size], y[s:s + size]) for _ in range(epochs) for s in range(0, len(X), size)]


@pytest.mark.parametrize("name", sorted(CORES))
def test_jitted_step_equals_the_eager_step_after_k_steps(name):
    X, y = _problem()
    batches = _batches(X, y, 16, epochs=4)                     # 12 steps, one batch shape
    model = cr.nn.MLP([5, 12, 3], activation="tanh", rng=0)
    want, want_state, want_losses = _eager_steps(model, CORES[name](), batches)

    step = jit_train_step(model, F.cross_entropy, CORES[name]())
    params, state = step.init()
    start = {k: v.copy() for k, v in params.items()}
    losses = []
    for xb, yb in batches:
        params, state, loss = step(params, state, xb, yb)
        losses.append(float(loss))
    assert step.traces == 1                                    # no retrace across steps
    assert type(state["step"]) is np.int64 and state["step"] == len(batches)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-12)
    for k in want:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-12, atol=1e-14, err_msg=k)
        assert not np.allclose(params[k], start[k])            # it trained
    for key in want_state:
        if key != "step":
            for a, b in zip(state[key], want_state[key]):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # the step is pure: the model's own parameters were never written
    for k, v in model.params().items():
        np.testing.assert_array_equal(v, start[k])


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_jitted_step_equals_the_tape_and_the_wrapper_optimiser(name):
    """A second, independent oracle: loss.backward() and opt.step() on the tape."""
    X, y = _problem()
    model = cr.nn.MLP([5, 12, 3], activation="relu", rng=1)
    twin = cr.nn.MLP([5, 12, 3], activation="relu", rng=1)
    opt = WRAPPERS[name](twin.parameters())
    step = jit_train_step(model, F.cross_entropy, CORES[name]())
    params, state = step.init()
    for xb, yb in _batches(X, y, 16, epochs=3):
        params, state, loss = step(params, state, xb, yb)
        opt.zero_grad()
        tape_loss = F.cross_entropy(twin(xb), yb)
        tape_loss.backward()
        opt.step()
        assert float(loss) == pytest.approx(tape_loss.item(), rel=1e-12)
    for k, v in twin.params().items():
        np.testing.assert_allclose(params[k], v, rtol=1e-12, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("name", sorted(CORES))
def test_float32_parameters_stay_float32_and_trace_once(name):
    """The step counter and the bias corrections are float64 scalars; they must not promote
    float32 parameters (that would also change the signature, retracing every step)."""
    X, y = _problem()
    X = X.astype(np.float32)
    batches = _batches(X, y, 16, epochs=2)
    model = cr.nn.MLP([5, 12, 3], activation="tanh", rng=0, dtype=np.float32)
    want, want_state, _ = _eager_steps(model, CORES[name](), batches)
    step = jit_train_step(model, F.cross_entropy, CORES[name]())
    params, state = step.init()
    for xb, yb in batches:
        params, state, loss = step(params, state, xb, yb)
    assert step.traces == 1 and loss.dtype == np.float32
    for k in want:
        assert params[k].dtype == want[k].dtype == np.float32, k
        np.testing.assert_allclose(params[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
    for key in want_state:
        if key != "step":
            assert all(b.dtype == np.float32 for b in (*state[key], *want_state[key])), key
    # and the eager leaf-by-leaf update (what tracers of cr.grad take) keeps float32 too
    core = CORES[name]()
    leaves = [np.ones(3, np.float32), np.ones((2, 2), np.float32)]
    grads = [np.full(3, 0.5, np.float32), np.full((2, 2), -0.5, np.float32)]
    new, _ = core._update_each(grads, core.init(leaves), leaves)
    fused, _ = core._update_leaves(grads, core.init(leaves), leaves)
    for a, b in zip(new, fused):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_a_partial_last_batch_traces_once_more_and_never_again():
    X, y = _problem(n=40)
    batches = _batches(X, y, 16, epochs=3)                     # 16, 16, 8 per epoch
    model = cr.nn.MLP([5, 8, 3], rng=2)
    step = jit_train_step(model, F.cross_entropy, cr.optim.adam(lr=0.01))
    params, state = step.init()
    for xb, yb in batches:
        params, state, _ = step(params, state, xb, yb)
    assert step.traces == 2
    want, _, _ = _eager_steps(model, cr.optim.adam(lr=0.01), batches)
    for k in want:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-12, atol=1e-14)


def test_a_learning_rate_schedule_takes_effect_without_retracing():
    X, y = _problem()
    batches = _batches(X, y, 16, epochs=2)
    lrs = [0.1 * 0.7 ** k for k in range(len(batches))]
    model = cr.nn.MLP([5, 8, 3], rng=3)
    core = cr.optim.sgd(lr=lrs[0], momentum=0.5)
    step = jit_train_step(model, F.cross_entropy, core)
    params, state = step.init()
    for k, (xb, yb) in enumerate(batches):
        core.lr = lrs[k]
        params, state, _ = step(params, state, xb, yb)
    assert step.traces == 1 and core.lr == lrs[-1]             # the core's lr is restored after tracing
    want, _, _ = _eager_steps(model, cr.optim.sgd(lr=lrs[0], momentum=0.5), batches, lrs)
    for k in want:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-12, atol=1e-14)


def test_a_hand_written_jitted_step_with_a_core_traces_once():
    """The pitfalls of an earlier attempt: the counter (a Python 0, then np.int64) and SGD's
    first momentum step / Adam's sqrt as Python-level code on traced values."""
    X, y = _problem()
    model = cr.nn.MLP([5, 8, 3], rng=4)
    for make in (lambda: cr.optim.sgd(lr=0.1, momentum=0.9), lambda: cr.optim.adam(lr=0.01)):
        core = make()

        @cr.jit
        def train_step(params, state, xb, yb):
            loss, grads = cr.value_and_grad(lambda p: F.cross_entropy(model.apply(p, xb), yb))(params)
            params, state = core.update(grads, state, params)
            return params, state, loss
        params = model.params()
        state = core.init(params)
        assert type(state["step"]) is np.int64
        for xb, yb in _batches(X, y, 16, epochs=2):
            params, state, _ = train_step(params, state, xb, yb)
        assert train_step.traces == 1
        want, _, _ = _eager_steps(model, make(), _batches(X, y, 16, epochs=2))
        for k in want:
            np.testing.assert_allclose(params[k], want[k], rtol=1e-12, atol=1e-14)


def test_the_compiled_graph_is_inspectable():
    X, y = _problem()
    model = cr.nn.MLP([5, 8, 3], rng=5)
    step = jit_train_step(model, F.cross_entropy, cr.optim.adam(lr=0.01))
    params, state = step.init()
    graph = step.lower(params, state, X[:16], y[:16])
    assert "def " in graph.source and len(graph.ir.eqns) <= len(graph.raw_ir.eqns)
    assert "TrainStep(MLP, cross_entropy" in repr(step)


def test_dropout_in_training_mode_is_refused_and_eval_mode_trains():
    X, y = _problem()
    model = cr.nn.Sequential(cr.nn.Linear(5, 8, rng=0), cr.nn.Dropout(0.3, rng=0), cr.nn.Linear(8, 3, rng=1))
    step = jit_train_step(model, F.cross_entropy, cr.optim.adam())
    params, state = step.init()
    with pytest.raises(ValueError, match=r"Dropout \(layers\.1\) is in training mode.*model\.eval\(\)"):
        step(params, state, X[:16], y[:16])
    model.eval()
    params, state, loss = step(params, state, X[:16], y[:16])
    assert np.isfinite(loss) and step.traces == 2              # the refused trace counts, uncached
    params, state, loss = step(params, state, X[16:32], y[16:32])
    assert step.traces == 2
    model.train()                                              # the mode keys the cache: traced anew
    with pytest.raises(ValueError, match="Dropout"):
        step(params, state, X[:16], y[:16])


def test_what_is_not_an_optimiser_core_or_a_model_is_refused():
    model = cr.nn.MLP([5, 3], rng=0)
    with pytest.raises(TypeError, match=r"functional core.*\.core"):
        jit_train_step(model, F.cross_entropy, cr.optim.Adam(model.parameters()))
    with pytest.raises(TypeError, match="cr.nn.Module"):
        jit_train_step(lambda x: x, F.cross_entropy, cr.optim.adam())
    assert isinstance(jit_train_step(model, F.cross_entropy, cr.optim.sgd(0.1)), TrainStep)


# -- the command ------------------------------------------------------------------------------

def _accuracy_printed(out):
    return float(re.search(r"test accuracy ([0-9.]+)%", out).group(1)) / 100


def test_train_digits_jit_reaches_the_eager_accuracy(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    from chainrule.cli import main
    from chainrule.nn import train

    args = ["train", "digits", "--epochs", "4", "--no-plot", "--quiet"]
    assert main([*args, "--out-dir", str(tmp_path / "eager")]) == 0
    eager = _accuracy_printed(capsys.readouterr().out)
    assert main([*args, "--jit", "--out-dir", str(tmp_path / "jit")]) == 0
    out = capsys.readouterr().out
    assert "jitted step" in out
    jitted = _accuracy_printed(out)
    assert eager > 0.9 and abs(jitted - eager) <= 0.01
    # the saved model is the trained one
    model = cr.nn.MLP([64, 128, 10], activation="relu", rng=1)
    cr.nn.load(model, tmp_path / "jit" / "digits_mlp.npz")
    _, X_test, _, y_test = train.load_digits(seed=0)
    assert f"{train.accuracy(model, X_test, y_test):.2%}" in out


def test_train_digits_function_with_jit_follows_the_eager_run():
    pytest.importorskip("sklearn")
    from chainrule.nn import train
    data = train.load_digits(seed=0)
    eager = train.train_digits(epochs=2, progress=False, data=data)
    jitted = train.train_digits(epochs=2, progress=False, data=data, jit=True)
    np.testing.assert_allclose(jitted.history["loss"], eager.history["loss"], rtol=1e-9)
    assert jitted.history["test_accuracy"] == eager.history["test_accuracy"]
    for k, v in eager.model.params().items():
        np.testing.assert_allclose(jitted.model.params()[k], v, rtol=1e-9, atol=1e-12)
