"""cr.optim: the update formulas (Kingma & Ba; PyTorch's SGD/AdamW when torch is importable),
convergence to known optima, the wrappers, and saving optimiser state."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.nn import functional as F

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def _grads(n, shape=(3, 2), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(n)]


# -- update formulas ------------------------------------------------------------------------

def test_adam_first_steps_equal_kingma_ba():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p0 = np.random.default_rng(1).standard_normal((3, 2))
    core = cr.optim.adam(lr=lr, betas=(b1, b2), eps=eps)
    params, state = {"w": p0}, core.init({"w": p0})
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(_grads(4), start=1):             # Algorithm 1 of Kingma & Ba (2015)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        params, state = core.update({"w": g}, state, params)
        np.testing.assert_allclose(params["w"], p, rtol=1e-14, atol=1e-15)
        if t == 1:  # the first step is lr * sign(g) (up to eps)
            np.testing.assert_allclose(params["w"], p0 - lr * np.sign(g), rtol=1e-6)
    assert state["step"] == 4


def _torch_run(opt_cls, kwargs, p0, grads):
    t = torch.tensor(p0, requires_grad=True)
    opt = opt_cls([t], **kwargs)
    out = []
    for g in grads:
        t.grad = torch.tensor(g)
        opt.step()
        out.append(t.detach().numpy().copy())
    return out


CASES = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd momentum dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "sgd nesterov + wd": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam + L2": ("Adam", dict(lr=0.01, weight_decay=0.1)),
    "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
}


@needs_torch
@pytest.mark.parametrize("case", list(CASES))
def test_steps_match_torch_optim(case):
    name, kwargs = CASES[case]
    p0, grads = np.random.default_rng(2).standard_normal((3, 2)), _grads(6, seed=3)
    ref = _torch_run(getattr(torch.optim, name), kwargs, p0, grads)
    # the PyTorch-style wrapper
    w = cr.tensor(p0, requires_grad=True)
    opt = getattr(cr.optim, name)([w], **kwargs)
    # the functional core
    core = getattr(cr.optim, name.lower())(**kwargs)
    params, state = [p0], core.init([p0])
    for g, r in zip(grads, ref):
        w.grad = cr.tensor(g)
        opt.step()
        np.testing.assert_allclose(w.detach().numpy(), r, rtol=1e-12, atol=1e-14)
        params, state = core.update([g], state, params)
        np.testing.assert_allclose(params[0], r, rtol=1e-12, atol=1e-14)


def test_sgd_momentum_by_hand_and_none_grads_are_skipped():
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([5.0], requires_grad=True)
    opt = cr.optim.SGD([a, b], lr=0.1, momentum=0.5)
    for _ in range(2):
        opt.zero_grad()
        (a * 2.0).sum().backward()       # b is unused: b.grad stays None
        opt.step()
    # buf1 = 2, p = 1 - 0.2; buf2 = 0.5*2 + 2 = 3, p = 0.8 - 0.3
    np.testing.assert_allclose(a.detach().numpy(), [0.5], rtol=1e-15)
    assert b.item() == 5.0


def test_hyperparameter_errors():
    with pytest.raises(ValueError, match="sgd: lr must be >= 0"):
        cr.optim.sgd(-1.0)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        cr.optim.SGD([cr.tensor(1.0, requires_grad=True)], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"adam: betas\[1\] must be"):
        cr.optim.adam(betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="parameter 0 is a ndarray, not a Tensor"):
        cr.optim.Adam([np.ones(2)])
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"parameter 1 is not a leaf: it was computed \(by multiply\)"):
        cr.optim.Adam([w, w * 2])
    with pytest.raises(TypeError, match="parameter 0 does not require grad"):
        cr.optim.Adam([cr.tensor([1.0])])
    with pytest.raises(TypeError, match="a parameter group .* among plain parameters"):
        cr.optim.SGD([w, {"params": [w], "lr": 0.1}], lr=0.1)   # groups: tests/test_schedulers.py
    with pytest.raises(ValueError, match="empty parameter list"):
        cr.optim.Adam([])
    with pytest.raises(ValueError, match="grads have structure"):
        core = cr.optim.sgd(0.1)
        core.update({"a": 1.0}, core.init({"b": 1.0}), {"b": 1.0})
    with pytest.raises(TypeError, match="LBFGS.step needs a closure"):
        cr.optim.LBFGS([cr.tensor(1.0, requires_grad=True)]).step()


# -- convergence to known optima ------------------------------------------------------------------

def _regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(50)
    A = np.hstack([X, np.ones((50, 1))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return X, y[:, None], coef[:3, None], coef[3:]


@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: cr.optim.Adam(ps, lr=0.05),
], ids=["sgd momentum", "nesterov", "adam"])
def test_linear_regression_reaches_least_squares(make):
    X, y, w_star, b_star = _regression()
    model = cr.nn.Linear(3, 1, rng=0)
    opt = make(model.parameters())
    for _ in range(1500):
        opt.zero_grad()
        F.mse_loss(model(X), y).backward()
        opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), w_star, atol=1e-6)
    np.testing.assert_allclose(model.bias.detach().numpy(), b_star, atol=1e-6)


def _mse_closure(model, opt, X, y):
    def closure():
        opt.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        return loss
    return closure


def test_lbfgs_linear_regression_and_rosenbrock():
    X, y, w_star, b_star = _regression(1)
    model = cr.nn.Linear(3, 1, rng=0)
    opt = cr.optim.LBFGS(model.parameters(), max_iter=50)
    opt.step(_mse_closure(model, opt, X, y))
    np.testing.assert_allclose(model.weight.detach().numpy(), w_star, atol=1e-7)
    np.testing.assert_allclose(model.bias.detach().numpy(), b_star, atol=1e-7)

    # Rosenbrock, functional core, in 2 and 6 dimensions: minimum at all ones
    for n in (2, 6):
        rosen = cr.value_and_grad(lambda x: cnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
        x = np.array([-1.2, 1.0] * (n // 2))
        core = cr.optim.lbfgs()
        state = core.init(x)
        value, g = rosen(x)
        while not state["converged"] and state["step"] < 200:
            x, state = core.update(g, state, x, fun=rosen, value=value)
            value, g = state["value"], state["grads"]
        np.testing.assert_allclose(x, np.ones(n), atol=1e-6)
        assert value < 1e-10 and state["step"] < 100, (state["step"], state["message"])


def test_lbfgs_without_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    w = cr.tensor([1.0], requires_grad=True)
    opt = cr.optim.LBFGS([w])

    def closure():
        opt.zero_grad()
        loss = ((w - 2.0) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(ImportError, match=r"pip install 'chainrule\[special\]'"):
        opt.step(closure)


# -- optimiser state --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "LBFGS"])
def test_state_roundtrip_continues_identically(name, tmp_path):
    X, y, _, _ = _regression(2)
    kwargs = {"SGD": dict(lr=0.05, momentum=0.9), "LBFGS": dict(max_iter=2)}.get(name, dict(lr=0.01))

    def run(model, opt, n):
        for _ in range(n):
            opt.step(_mse_closure(model, opt, X, y))

    a = cr.nn.Linear(3, 1, rng=0)
    opt_a = getattr(cr.optim, name)(a.parameters(), **kwargs)
    run(a, opt_a, 3)
    cr.nn.save(a, tmp_path / "model.npz")
    cr.nn.save(opt_a, tmp_path / "opt.npz")
    run(a, opt_a, 3)

    b = cr.nn.Linear(3, 1, rng=5)
    opt_b = getattr(cr.optim, name)(b.parameters(), **kwargs)
    cr.nn.load(b, tmp_path / "model.npz")
    cr.nn.load(opt_b, tmp_path / "opt.npz")
    run(b, opt_b, 3)
    for (_, s), (_, t) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(s.detach().numpy(), t.detach().numpy())


def test_optimizer_state_of_the_wrong_shape_is_refused(tmp_path):
    small = cr.optim.Adam(cr.nn.Linear(2, 1, rng=0).parameters())
    big = cr.optim.Adam(cr.nn.Linear(3, 1, rng=0).parameters())
    cr.nn.save(small, tmp_path / "small.npz")
    before = big.state_dict()
    with pytest.raises(ValueError, match=r"'exp_avg.0' has shape \(2, 1\), expected \(3, 1\)"):
        cr.nn.load(big, tmp_path / "small.npz")
    with pytest.raises(KeyError, match="missing keys"):
        cr.optim.SGD(cr.nn.Linear(2, 1, rng=0).parameters(), lr=0.1, momentum=0.9).load_state_dict({"step": 1})
    for k, v in big.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.2),
    lambda ps: cr.optim.Adam(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    lambda ps: cr.optim.AdamW(ps, lr=0.01),
])
def test_fused_steps_equal_the_leaf_by_leaf_update_bitwise(make):
    """The wrappers update flat buffers in place, and ``core.update`` on NumPy leaves works on
    flat copies; the numbers are those of the leaf-by-leaf update (the one tracers take), also
    across a step that skips a parameter and a state reloaded mid-way; no input is modified."""
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (), (4, 2)]
    values = [rng.standard_normal(s) for s in shapes]
    tensors = [cr.tensor(v.copy(), requires_grad=True) for v in values]
    opt = make(tensors)
    core = make([cr.tensor(v.copy(), requires_grad=True) for v in values]).core
    params, state = list(values), core.init(list(values))
    for step in range(8):
        grads = [rng.standard_normal(s) for s in shapes]
        if step == 3:
            grads[1] = None                           # unused by the loss: skipped (the per-leaf path)
        if step == 5:
            opt.load_state_dict(opt.state_dict())     # a state from elsewhere: flattened anew
        for t, g in zip(tensors, grads):
            t.grad = None if g is None else cr.tensor(g)
        opt.step()
        if step != 3:
            before = [p.copy() for p in params]
            fused, fused_state = core._update_leaves(grads, state, params)
            for a, b in zip(params, before):
                np.testing.assert_array_equal(a, b)
        params, state = core._update_each(grads, state, params)
        for t, p in zip(tensors, params):
            np.testing.assert_array_equal(t.detach().numpy(), p)
        if step != 3:
            for a, b in zip(fused, params):
                np.testing.assert_array_equal(a, b)
        for k in core.buffers:
            for a, b in zip(opt.state[k], state[k]):
                np.testing.assert_array_equal(a, b)
            if step != 3:
                for a, b in zip(fused_state[k], state[k]):
                    np.testing.assert_array_equal(a, b)


def test_lbfgs_closure_without_backward_is_an_error():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.LBFGS([w])
    with pytest.raises(RuntimeError, match=r"closure must call loss.backward\(\)"):
        opt.step(lambda: (w * w).sum())
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])


# -- load_state_dict validates everything, then applies (issue 16, item 8) -----------------------

def _stepped(cls, **kw):
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cls([w], **kw)

    def closure():
        opt.zero_grad()
        loss = (w ** 2 * np.array([1.0, 3.0])).sum()
        loss.backward()
        return loss

    for _ in range(2):
        opt.step(closure)
    return opt


@pytest.mark.parametrize("cls,kw", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.1}),
                                    ("AdamW", {"lr": 0.1}), ("LBFGS", {"max_iter": 2})])
def test_load_state_dict_refuses_bad_values_and_changes_nothing(cls, kw):
    opt = _stepped(getattr(cr.optim, cls), **kw)
    good = {k: np.array(v, copy=True) for k, v in opt.state_dict().items()}
    buffer = next(k for k in good if k not in ("step", "lr"))
    bad = [dict(good, lr=float("nan")), dict(good, lr=-1.0), dict(good, lr="fast"), dict(good, step=-1),
           dict(good, step=2.5), dict(good, **{buffer: np.full_like(good[buffer], np.nan)})]
    for state in bad:
        with pytest.raises(ValueError, match=rf"{cls}.load_state_dict: .*nothing was loaded"):
            opt.load_state_dict(state)
        after = opt.state_dict()
        assert after.keys() == good.keys()
        assert all(np.array_equal(np.asarray(after[k]), good[k]) for k in good)   # unchanged
    opt.load_state_dict(good)                       # and the good state still loads
    assert float(opt.state_dict()["lr"]) == float(good["lr"])
