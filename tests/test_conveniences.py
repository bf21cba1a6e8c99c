"""Issue 16 item 21, the small conveniences: ``cr.manual_seed``, ``F.log_sigmoid`` at +-1000,
``cr.nn.save(model.state_dict(), path)``, ``plot_history`` leaving the backend alone, and
``ex.svg()`` / ``ex.latex()`` displaying in notebooks."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.nn import functional as F


# -- cr.manual_seed -------------------------------------------------------------------------

def _draw():
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.MLP([4, 5, 2]), cr.nn.Dropout(0.5))
    out = net(np.ones((6, 3)))
    return net.params(), out.detach().numpy()


def test_manual_seed_makes_default_layers_and_dropout_reproducible():
    cr.manual_seed(123)
    p1, out1 = _draw()
    cr.manual_seed(123)
    p2, out2 = _draw()
    assert p1.keys() == p2.keys() and all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert np.array_equal(out1, out2)
    cr.manual_seed(124)
    p3, _ = _draw()
    assert not np.array_equal(p1["layers.0.weight"], p3["layers.0.weight"])


def test_manual_seed_leaves_explicit_rng_alone_and_checks_its_argument():
    cr.manual_seed(0)
    a = cr.nn.Linear(2, 2, rng=7).params()["weight"]
    cr.manual_seed(1)
    b = cr.nn.Linear(2, 2, rng=7).params()["weight"]
    assert np.array_equal(a, b)
    with pytest.raises(TypeError, match="integer >= 0"):
        cr.manual_seed(1.5)


# -- log_sigmoid ------------------------------------------------------------------------------

def test_log_sigmoid_is_finite_and_exact_at_the_extremes():
    torch = pytest.importorskip("torch")
    x = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.logsigmoid(xt)
    ref.sum().backward()
    out = F.log_sigmoid(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-15, atol=0)
    g = cr.grad(lambda v: cnp.sum(F.log_sigmoid(v)))(x)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-15, atol=0)
    assert out[0] == -1000.0 and g[0] == 1.0 and g[-1] == 0.0


def test_log_sigmoid_derivatives_to_order_two():
    cr.testing.check_grads(F.log_sigmoid, (np.array([-3.0, -0.2, 0.4, 5.0]),), order=2)


# -- save / load of a state dict --------------------------------------------------------------

def test_save_accepts_a_state_dict_and_load_a_path(tmp_path):
    net = cr.nn.MLP([2, 3, 1], rng=0)
    path = tmp_path / "net.npz"
    cr.nn.save(net.state_dict(), path)               # torch.save(model.state_dict(), path)
    other = cr.nn.MLP([2, 3, 1], rng=1)
    other.load_state_dict(cr.nn.load(path))          # model.load_state_dict(torch.load(path))
    assert all(np.array_equal(other.params()[k], v) for k, v in net.params().items())
    cr.nn.load(cr.nn.MLP([2, 3, 1], rng=2), path)    # the checked form still works on the same file
    opt = cr.optim.Adam(net.parameters())
    cr.nn.save(opt.state_dict(), tmp_path / "opt.npz")
    assert cr.optim.Adam(other.parameters()).load_state_dict(cr.nn.load(tmp_path / "opt.npz"))
    with pytest.raises(TypeError, match="state dict"):
        cr.nn.save([1, 2], path)
    with pytest.raises(TypeError, match="load\\(obj, path\\)"):
        cr.nn.load(net)


# -- plot_history -----------------------------------------------------------------------------

def test_plot_history_leaves_the_backend_and_pyplot_alone(tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from chainrule.nn.train import plot_history

    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    history = {"loss": [1.0, 0.5, 0.2], "train_accuracy": [0.5, 0.8, 0.9], "test_accuracy": [0.4, 0.7, 0.85]}
    fig = plot_history(history, tmp_path / "curves.png")
    assert calls == [] and matplotlib.get_backend() == backend and plt.get_fignums() == figures
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert len(fig.axes) == 2 and plot_history(history).axes[0].get_title() == "loss"


# -- explain views in notebooks ---------------------------------------------------------------

def test_explain_svg_and_latex_display_in_notebooks():
    ex = cr.explain(lambda x, w: cnp.tanh(w * x), 0.8, 0.5)
    svg, tex = ex.svg(), ex.latex()
    assert isinstance(svg, str) and svg._repr_svg_() == str(svg) and str(svg).startswith("<svg")
    assert str(tex).startswith("\\begin{align*}")
    shown = tex._repr_latex_()
    assert shown.startswith("$$\\begin{aligned}") and shown.endswith("\\end{aligned}$$")
    assert "align*" not in shown
    limit = sys.getrecursionlimit()
    try:
        pytest.importorskip("IPython")
        from IPython.core.formatters import DisplayFormatter
    finally:  # importing IPython raises the recursion limit to 3000, which other tests' depth checks see
        sys.setrecursionlimit(limit)
    data, _ = DisplayFormatter().format(svg)
    assert data["image/svg+xml"] == str(svg)
    data, _ = DisplayFormatter().format(tex)
    assert data["text/latex"] == shown


# -- DataLoader -------------------------------------------------------------------------------

def test_dataloader_batches_shuffles_per_epoch_and_drops_last():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    plain = list(cr.nn.DataLoader((X, y), batch_size=4))
    assert [len(yb) for _, yb in plain] == [4, 4, 2]
    assert np.array_equal(np.concatenate([xb for xb, _ in plain]), X)
    assert len(cr.nn.DataLoader((X, y), batch_size=4, drop_last=True)) == 2
    loader = cr.nn.DataLoader((X, y), batch_size=3, shuffle=True, drop_last=True, seed=5)
    epochs = [[(xb.copy(), yb.copy()) for xb, yb in loader] for _ in range(3)]
    for epoch in epochs:
        assert len(epoch) == 3 and all(len(yb) == 3 for _, yb in epoch)
        ys = np.concatenate([yb for _, yb in epoch])
        assert len(set(ys.tolist())) == 9                          # each example at most once
        for xb, yb in epoch:
            assert np.array_equal(xb, X[yb])                      # rows stay paired
    orders = [np.concatenate([yb for _, yb in e]).tolist() for e in epochs]
    assert orders[0] != orders[1] != orders[2]                    # reshuffled every epoch
    again = cr.nn.DataLoader((X, y), batch_size=3, shuffle=True, drop_last=True, seed=5)
    assert [np.concatenate([yb for _, yb in again]).tolist() for _ in range(3)] == orders  # seeded
    cr.manual_seed(3)
    a = [yb.tolist() for _, yb in cr.nn.DataLoader((X, y), batch_size=5, shuffle=True)]
    cr.manual_seed(3)
    b = [yb.tolist() for _, yb in cr.nn.DataLoader((X, y), batch_size=5, shuffle=True)]
    assert a == b
    assert [b.shape for b in cr.nn.DataLoader(X, batch_size=6)] == [(6, 2), (4, 2)]
    assert list(next(iter(cr.nn.DataLoader({"x": X, "y": y}, batch_size=2)))) == ["x", "y"]
    with pytest.raises(ValueError, match="different numbers of examples"):
        cr.nn.DataLoader((X, y[:-1]))
    with pytest.raises(ValueError, match="batch_size"):
        cr.nn.DataLoader(X, batch_size=0)


def test_dataloader_trains_a_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    model = cr.nn.Linear(3, 1, rng=0)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    loader = cr.nn.DataLoader((X, y), batch_size=16, shuffle=True, seed=0)
    for epoch in range(30):
        for xb, yb in loader:
            opt.zero_grad()
            F.mse_loss(model(xb), yb).backward()
            opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy().ravel(), [1.0, -2.0, 0.5], atol=1e-3)
