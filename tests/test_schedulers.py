"""Learning-rate schedulers and parameter groups against PyTorch, step by step: StepLR,
CosineAnnealingLR, OneCycleLR (its momentum too), ReduceLROnPlateau, and
``param_groups`` with per-group ``lr`` / ``weight_decay`` in SGD, Adam and AdamW."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)
W = [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 2))]
X = rng.standard_normal((5, 3))


def _loss_torch(ps):
    return (torch.tanh(torch.tensor(X) @ ps[0] + ps[1]) @ ps[2]).pow(2).sum()


def _loss_cr(ps):
    return ((cnp.tanh(X @ ps[0] + ps[1]) @ ps[2]) ** 2).sum()


def _pair(name, groups, **kw):
    """The same optimiser in torch and chainrule over W, grouped as ``groups`` ([(slice, options)])."""
    pt = [torch.tensor(w.copy(), requires_grad=True) for w in W]
    pc = [cr.tensor(w.copy(), requires_grad=True) for w in W]
    ot = getattr(torch.optim, name)([dict(params=pt[sl], **o) for sl, o in groups], **kw)
    oc = getattr(cr.optim, name)([dict(params=pc[sl], **o) for sl, o in groups], **kw)
    return (pt, ot), (pc, oc)


def _train(pair, steps, hook=None):
    (pt, ot), (pc, oc) = pair
    for k in range(steps):
        ot.zero_grad()
        _loss_torch(pt).backward()
        ot.step()
        oc.zero_grad()
        _loss_cr(pc).backward()
        oc.step()
        if hook:
            hook(k, ot, oc)
    for a, b in zip(pt, pc):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-11, atol=1e-13)


GROUPS = [(slice(0, 2), {"lr": 0.01, "weight_decay": 0.1}), (slice(2, 3), {})]


@pytest.mark.parametrize("name,kw,groups", [
    ("SGD", dict(lr=0.1, momentum=0.9), GROUPS),
    ("SGD", dict(lr=0.1), [(slice(0, 1), {"momentum": 0.5, "nesterov": True}), (slice(1, 3), {"weight_decay": 0.2})]),
    ("Adam", dict(lr=0.01), GROUPS),
    ("Adam", dict(lr=0.01), [(slice(0, 2), {"betas": (0.8, 0.99)}), (slice(2, 3), {"lr": 0.05, "amsgrad": False})]),
    ("AdamW", dict(lr=0.01), GROUPS),
], ids=["sgd-momentum", "sgd-nesterov", "adam", "adam-betas", "adamw"])
def test_param_groups_train_like_torch(name, kw, groups):
    def halve(k, ot, oc):
        if k == 6:  # the PyTorch way of changing a group's rate by hand
            for gt, gc in zip(ot.param_groups, oc.param_groups):
                gt["lr"] *= 0.5
                gc["lr"] *= 0.5
            ot.param_groups[1]["weight_decay"] = oc.param_groups[1]["weight_decay"] = 0.05
    pair = _pair(name, groups, **kw)
    _train(pair, 15, halve)
    (_, ot), (_, oc) = pair
    for gt, gc in zip(ot.param_groups, oc.param_groups):
        assert {k: gc[k] for k in gc if k != "params"} == {k: gt[k] for k in gc if k != "params"}
        assert [p.shape for p in gc["params"]] == [tuple(p.shape) for p in gt["params"]]


def test_param_groups_state_dict_round_trip_and_errors(tmp_path):
    (_, _), (pc, oc) = _pair("Adam", GROUPS, lr=0.01)
    _loss_cr(pc).backward()
    oc.step()
    sd = oc.state_dict()
    assert "groups.0.exp_avg.1" in sd and "groups.1.lr" in sd and float(sd["groups.0.lr"]) == 0.01
    cr.nn.save(oc, tmp_path / "opt.npz")
    (_, _), (pc2, oc2) = _pair("Adam", GROUPS, lr=0.01)
    cr.nn.load(oc2, tmp_path / "opt.npz")
    for a, b in zip(oc.groups, oc2.groups):
        assert all(np.array_equal(x, y) for x, y in zip(a.state["exp_avg"], b.state["exp_avg"]))
    bad = dict(sd, **{"groups.1.exp_avg.0": np.ones(7)})
    before = oc2.state_dict()
    with pytest.raises(ValueError, match="exp_avg.0"):
        oc2.load_state_dict(bad)
    assert all(np.array_equal(before[k], v) for k, v in oc2.state_dict().items())  # nothing changed
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(KeyError, match="unknown hyperparameter.*'learning_rate'"):
        cr.optim.SGD([{"params": [w], "learning_rate": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        cr.optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="lr must be"):
        cr.optim.SGD([w], lr=0.1).param_groups[0]["lr"] = -1.0
    gen = cr.optim.SGD((p for p in [w]), lr=0.1)                       # a generator, read once
    assert len(gen.params) == 1 and cr.optim.LBFGS((p for p in [w])).params == [w]
    grouped = cr.optim.SGD(({"params": [p]} for p in [w]), lr=0.1)
    assert grouped.param_groups[0]["params"] == [w]
    with pytest.raises(TypeError, match="parameter groups are not supported"):
        cr.optim.LBFGS([{"params": [w]}, {"params": [cr.tensor([2.0], requires_grad=True)]}])


# -- schedulers, value by value ----------------------------------------------------------------

def _lrs(pair, make, steps, metrics=None):
    """Each group's lr (and momentum) after every step, torch's and ours."""
    (pt, ot), (pc, oc) = pair
    st, sc = make(torch.optim.lr_scheduler, ot), make(cr.optim, oc)
    out_t, out_c = [], []

    def record(opt, out):
        out.append([(g["lr"], g.get("momentum", None) if "momentum" in g else g["betas"][0])
                    for g in opt.param_groups])
    record(ot, out_t)
    record(oc, out_c)
    for k in range(steps):
        ot.step()
        oc.step()
        if metrics is None:
            st.step()
            sc.step()
        else:
            st.step(metrics[k])
            sc.step(metrics[k])
        record(ot, out_t)
        record(oc, out_c)
        assert sc.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-13, abs=1e-16)
    np.testing.assert_allclose(np.array(out_c, float), np.array(out_t, float), rtol=1e-13, atol=1e-16)
    return out_c


TWO = [(slice(0, 2), {"lr": 0.2}), (slice(2, 3), {})]


@pytest.mark.parametrize("make,steps", [
    (lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 20),
    (lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001), 30),
    (lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=20), 20),
    (lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 2.0], epochs=3, steps_per_epoch=7, pct_start=0.25,
                               anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0), 20),
    (lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=30, three_phase=True, base_momentum=0.8), 30),
    (lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=12, cycle_momentum=False), 12),
], ids=["StepLR", "CosineAnnealingLR", "OneCycleLR", "OneCycleLR-linear-groups", "OneCycleLR-3phase",
        "OneCycleLR-no-momentum"])
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_schedules_equal_torch_step_by_step(make, steps, opt):
    pair = _pair(opt, TWO, lr=0.1, **({"momentum": 0.9} if opt == "SGD" else {}))
    _lrs(pair, make, steps)


def test_one_cycle_trains_like_torch_and_refuses_extra_steps():
    pair = _pair("SGD", TWO, lr=0.1, momentum=0.9)
    (pt, ot), (pc, oc) = pair
    st = torch.optim.lr_scheduler.OneCycleLR(ot, max_lr=0.03, total_steps=10)
    sc = cr.optim.OneCycleLR(oc, max_lr=0.03, total_steps=10)
    _train(pair, 9, lambda k, ot, oc: (st.step(), sc.step()))
    sc.step()
    with pytest.raises(ValueError, match="total_steps=10"):
        sc.step()
    linear = cr.optim.OneCycleLR(cr.optim.sgd(0.1), max_lr=1.0, total_steps=7, anneal_strategy="linear")
    for _ in range(7):
        linear.step()       # the 7th extrapolates below zero in PyTorch: here it stops at 0
    assert linear.get_last_lr() == [0.0]


@pytest.mark.parametrize("kw,metrics", [
    (dict(factor=0.5, patience=2), [5, 4, 4, 4, 4, 3.9999, 3, 3, 3, 3, 3, 3, 3]),
    (dict(mode="max", factor=0.2, patience=1, cooldown=2), [1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]),
    (dict(threshold=0.5, threshold_mode="abs", patience=0, min_lr=[0.01, 0.05]), [5, 4.8, 4.0, 3.9, 3.0, 2.9, 2.8]),
    (dict(factor=0.1, patience=0, min_lr=0.0999, eps=1e-3), [1, 1, 1, 1]),
], ids=["min-rel", "max-cooldown", "abs-minlr-groups", "eps"])
def test_reduce_on_plateau_equals_torch(kw, metrics):
    pair = _pair("SGD", TWO, lr=0.1)
    _lrs(pair, lambda m, o: m.ReduceLROnPlateau(o, **kw), len(metrics), [float(x) for x in metrics])


def test_schedulers_on_a_functional_core_and_state_dicts():
    core = cr.optim.adam(lr=0.1)
    sched = cr.optim.OneCycleLR(core, max_lr=1.0, total_steps=5)
    assert core.lr == 0.04 and core.betas[0] == 0.95
    sched.step()
    saved = sched.state_dict()
    sched.step()
    sched.load_state_dict(saved)
    assert sched.last_epoch == 1 and core.lr == sched.get_last_lr()[0]
    plateau = cr.optim.ReduceLROnPlateau(core, patience=0)
    plateau.step(1.0)
    plateau.step(1.0)
    assert core.lr == pytest.approx(sched.get_last_lr()[0] * 0.1)
    with pytest.raises(ValueError, match="momentum or betas"):
        cr.optim.OneCycleLR(cr.optim.lbfgs(), max_lr=1.0, total_steps=3)
    with pytest.raises(ValueError, match="factor must be < 1"):
        cr.optim.ReduceLROnPlateau(core, factor=1.0)
