"""cr.nn as a PyTorch user meets it: repr, module walking, freezing, dtype, input errors, torch state."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F


def test_repr_nests_like_torch():
    net = cr.nn.Sequential(cr.nn.Linear(3, 4, rng=0), cr.nn.ReLU(), cr.nn.Sequential(cr.nn.Linear(4, 2, rng=0)))
    assert repr(net) == ("Sequential(\n  (0): Linear(in_features=3, out_features=4, bias=True)\n  (1): ReLU()\n"
                         "  (2): Sequential(\n    (0): Linear(in_features=4, out_features=2, bias=True)\n  )\n)")
    r = repr(cr.nn.MLP([3, 5, 2], rng=0))
    assert "(layers.1): Linear(in_features=5, out_features=2, bias=True)" in r

    class Net(cr.nn.Module):
        def __init__(self):
            self.encoder = cr.nn.Linear(2, 3, rng=0)
            self.heads = {"a": cr.nn.Linear(3, 1, rng=0)}
    net = Net()
    net.encoder.owner = net                                   # a back reference: no endless repr
    assert "    (owner): Net(...)\n" in repr(net)
    del net.encoder.owner
    assert repr(net) == ("Net(\n  (encoder): Linear(in_features=2, out_features=3, bias=True)\n"
                           "  (heads.a): Linear(in_features=3, out_features=1, bias=True)\n)")


def test_named_modules_children_and_counting():
    net = cr.nn.Sequential(cr.nn.Linear(3, 4, rng=0), cr.nn.Tanh(), cr.nn.Sequential(cr.nn.Linear(4, 2, rng=0)))
    assert [p for p, _ in net.named_modules()] == ["", "layers.0", "layers.1", "layers.2", "layers.2.layers.0"]
    assert [type(m).__name__ for m in net.children()] == ["Linear", "Tanh", "Sequential"]
    assert net.modules()[0] is net and len(net.modules()) == 5
    assert net.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2
    # parameter paths and module paths agree
    mods = dict(net.named_modules())
    for path, t in net.named_parameters():
        owner, leaf = path.rsplit(".", 1)
        assert getattr(mods[owner], leaf) is t


def test_frozen_parameter_stays_a_parameter_and_is_skipped():
    net = cr.nn.MLP([3, 4, 1], rng=0)
    names = [n for n, _ in net.named_parameters()]
    net.layers[0].requires_grad_(False)
    assert [n for n, _ in net.named_parameters()] == names        # still listed
    assert list(net.state_dict()) == names                         # still saved
    assert net.num_parameters(trainable_only=True) == 4 * 1 + 1
    frozen = net.layers[0].weight.detach().numpy().copy()
    for opt in (cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1),
                cr.optim.AdamW(net.parameters(), lr=0.1)):
        x = np.ones((2, 3))
        opt.zero_grad()
        F.mse_loss(net(x), np.zeros((2, 1))).backward()
        assert net.layers[0].weight.grad is None
        opt.step()
        np.testing.assert_array_equal(net.layers[0].weight.detach().numpy(), frozen)
    g = cr.grad(lambda p: F.mse_loss(net.apply(p, x), np.zeros((2, 1))))(net.params())
    assert set(g) == set(names)                                    # apply still takes every path
    net.requires_grad_(True)
    assert net.num_parameters(trainable_only=True) == net.num_parameters()


def test_to_float32_end_to_end():
    net = cr.nn.MLP([3, 8, 2], rng=0).to(np.float32)
    opt = cr.optim.Adam(net.parameters(), lr=1e-2)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), np.array([0, 1, 1, 0, 1]))
        loss.backward()
        opt.step()
    assert loss.dtype == np.float32
    assert {p.dtype for p in net.parameters()} == {np.dtype(np.float32)}
    assert {p.grad.dtype for p in net.parameters()} == {np.dtype(np.float32)}
    assert {b.dtype for k in ("exp_avg", "exp_avg_sq") for b in opt.state[k]} == {np.dtype(np.float32)}
    assert net(np.ones((1, 3), dtype=np.int64)).dtype == np.float32   # integer data takes the weights' dtype
    assert net.double().layers[0].weight.dtype == np.float64
    opt.zero_grad()                                   # an optimiser built before .to() follows it
    F.cross_entropy(net(x.astype(np.float64)), np.array([0, 1, 1, 0, 1])).backward()
    opt.step()
    assert {b.dtype for k in ("exp_avg", "exp_avg_sq") for b in opt.state[k]} == {np.dtype(np.float64)}
    net.float()
    opt.zero_grad()
    F.cross_entropy(net(x), np.array([0, 1, 1, 0, 1])).backward()
    opt.step()
    assert {b.dtype for k in ("exp_avg", "exp_avg_sq") for b in opt.state[k]} == {np.dtype(np.float32)}
    with pytest.raises(TypeError, match="floating dtype"):
        net.to(np.int32)


def test_linear_input_errors_name_the_layer():
    net = cr.nn.MLP([3, 5, 2], rng=0)
    with pytest.raises(ValueError, match=r"Linear 'layers.0' of the MLP: expected an input of shape "
                                         r"\(\.\.\., 3\).*got shape \(7, 4\)"):
        net(np.ones((7, 4)))
    with pytest.raises(ValueError, match=r"pass x\.T"):
        net(np.ones((3, 7)))
    outer = cr.nn.Sequential(cr.nn.Linear(3, 5, rng=0), cr.nn.Tanh(), net)
    with pytest.raises(ValueError, match=r"Linear 'layers.2.layers.0' of the Sequential.*got shape \(2, 5\)"):
        outer(np.ones((2, 3)))                      # 5 features reach net, which takes 3
    with pytest.raises(ValueError, match=r"Linear\(in_features=3.*got shape \(\)"):
        cr.nn.Linear(3, 2, rng=0)(1.0)
    with pytest.raises(ValueError, match="floating-point input, got dtype int64"):
        cr.nn.Linear(3, 2, rng=0)(cr.tensor(np.ones((2, 3), dtype=np.int64)))


def test_torch_state_dict_is_refused_clearly():
    torch = pytest.importorskip("torch")
    lin = cr.nn.Linear(3, 3, rng=0)
    before = lin.weight.detach().numpy().copy()
    with pytest.raises(TypeError, match=r"PyTorch state_dict.*transpose.*nothing was loaded"):
        lin.load_state_dict(torch.nn.Linear(3, 3).state_dict())
    np.testing.assert_array_equal(lin.weight.detach().numpy(), before)
    arrays = {k: v.numpy() for k, v in torch.nn.Linear(3, 5).state_dict().items()}
    with pytest.raises(ValueError, match=r"\(in, out\), the transpose of PyTorch's"):
        cr.nn.Linear(3, 5, rng=0).load_state_dict(arrays)
    arrays["weight"] = arrays["weight"].T                           # the documented conversion works
    cr.nn.Linear(3, 5, rng=0).load_state_dict(arrays)


def test_registering_replacing_and_deleting():
    class Net(cr.nn.Module):
        def __init__(self):
            self.a = cr.nn.Linear(2, 3, rng=0)
            self.b = cr.nn.Linear(3, 1, rng=0)

        def forward(self, x):
            out = self.b(cr.numpy.tanh(self.a(x)))
            return out if self.scale is None else out * self.scale

    net = Net()
    assert net.register_parameter("scale", None) is None
    s = net.register_parameter("scale", 2.0)
    assert [n for n, _ in net.named_parameters()][-1] == "scale" and s.requires_grad
    with pytest.raises(TypeError, match="must be a cr.nn.Module"):
        net.add_module("c", lambda x: x)
    del net.b
    net.add_module("b", cr.nn.Linear(3, 1, rng=1))
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias", "scale", "b.weight", "b.bias"]
    x = np.ones((4, 2))
    F.mse_loss(net(x), np.zeros((4, 1))).backward()
    net.zero_grad(set_to_none=False)
    assert all(np.array_equal(p.grad.numpy(), np.zeros(p.shape)) for p in net.parameters())
    net.eval()
    assert [m.training for m in net.modules()] == [False] * 3
    assert net.train() is net and all(m.training for m in net.modules())


def test_hessian_of_a_tiny_model_by_params_dict():
    net = cr.nn.MLP([2, 3, 1], activation="tanh", rng=0)
    x, y = np.random.default_rng(0).standard_normal((5, 2)), np.random.default_rng(1).standard_normal((5, 1))
    params = net.params()

    def loss(p):
        return F.mse_loss(net.apply(p, x), y)

    H = cr.hessian(loss)(params)
    grad = cr.grad(loss)
    eps = 1e-5
    for a in params:
        for idx in np.ndindex(params[a].shape):
            plus, minus = dict(params), dict(params)
            plus[a], minus[a] = params[a].copy(), params[a].copy()
            plus[a][idx] += eps
            minus[a][idx] -= eps
            gp, gm = grad(plus), grad(minus)
            for b in params:  # column (a, idx) of the Hessian, block b
                np.testing.assert_allclose(H[b][a][(...,) + idx], (gp[b] - gm[b]) / (2 * eps),
                                           rtol=1e-6, atol=1e-8)
    cr.testing.check_grads(loss, (params,), order=2, modes=("rev",))


def test_label_smoothing_under_vmap_and_grad():
    z = np.random.default_rng(0).standard_normal((4, 3))
    labels = np.array([0, 2, 1, 1])
    per = cr.vmap(lambda v, t: F.cross_entropy(v, t, label_smoothing=0.2))(z, labels)
    loop = [F.cross_entropy(z[i], labels[i], label_smoothing=0.2) for i in range(4)]
    np.testing.assert_allclose(per, loop, rtol=1e-14)
    cr.testing.check_grads(lambda v: F.cross_entropy(v, labels, label_smoothing=0.2), (z,), order=2)
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\]"):
        F.cross_entropy(z, labels, label_smoothing=1.5)


def test_out_of_range_class_indices_are_caught_in_every_form():
    z = np.zeros((2, 3))
    msg = r"class indices must lie in \[0, 3\) for 3 classes.*from 0 to 5"
    with pytest.raises(ValueError, match=msg):
        F.cross_entropy(z, np.array([0, 5]))
    with pytest.raises(ValueError, match=msg):
        F.cross_entropy(cr.tensor(z, requires_grad=True), cr.tensor(np.array([0, 5])))   # tape labels
    with pytest.raises(ValueError, match=msg):
        cr.vmap(F.cross_entropy)(z, np.array([0, 5]))                                   # batched labels
    with pytest.raises(ValueError, match="from -1 to 1"):
        F.cross_entropy(z, np.array([-1, 1]))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, np.inf])
@pytest.mark.parametrize("max_norm", [0.05, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    net = cr.nn.MLP([3, 4, 2], rng=0)
    ref = [torch.tensor(p.detach().numpy().copy(), requires_grad=True) for p in net.parameters()]
    x = np.random.default_rng(0).standard_normal((5, 3))
    F.cross_entropy(net(x), np.array([0, 1, 1, 0, 1])).backward()
    for r, p in zip(ref, net.parameters()):
        r.grad = torch.from_numpy(p.grad.numpy().copy())
    total = cr.nn.clip_grad_norm_(net.parameters(), max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type)
    np.testing.assert_allclose(total, ttotal.item(), rtol=1e-13)
    for r, p in zip(ref, net.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-13)
    cr.nn.clip_grad_value_(net, 0.01)
    torch.nn.utils.clip_grad_value_(ref, 0.01)
    for r, p in zip(ref, net.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), r.grad.numpy())


def test_dropout_train_eval_and_gradient():
    torch = pytest.importorskip("torch")
    drop = cr.nn.Dropout(0.25, rng=0)
    net = cr.nn.Sequential(cr.nn.Linear(50, 50, rng=0), drop, cr.nn.Linear(50, 1, rng=1))
    x = np.random.default_rng(0).standard_normal((400, 50))
    h = drop(np.ones((400, 50)))
    assert set(np.unique(h)) == {0.0, 1 / 0.75} and abs((h == 0).mean() - 0.25) < 0.02   # torch's scaling
    net.eval()
    np.testing.assert_array_equal(net(x).detach().numpy(), net.layers[2](net.layers[0](x)).detach().numpy())
    net.train()
    w = cr.tensor(np.ones((3, 4)), requires_grad=True)
    out = drop(w)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), out.detach().numpy())    # d/dw (mask * w / 0.75)
    assert cr.nn.Dropout(0.3, rng=0).eval()(x) is x and repr(drop) == "Dropout(p=0.25)"
    assert drop(cr.tensor(np.ones(3, np.float32))).dtype == np.float32
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        cr.nn.Dropout(1.5)


def test_loss_modules_like_torch():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(0).standard_normal((6, 3))
    labels = np.array([0, 2, 1, 1, 0, 2])
    p = np.random.default_rng(1).uniform(0.1, 0.9, (6, 3))
    tz, tl, tp = torch.from_numpy(z), torch.from_numpy(labels), torch.from_numpy(p)
    pairs = [(cr.nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1), z, labels, tz, tl),
             (cr.nn.MSELoss("sum"), torch.nn.MSELoss(reduction="sum"), z, p, tz, tp),
             (cr.nn.BCELoss(), torch.nn.BCELoss(), p, p[::-1].copy(), tp, torch.from_numpy(p[::-1].copy())),
             (cr.nn.BCEWithLogitsLoss("none"), torch.nn.BCEWithLogitsLoss(reduction="none"), z, p, tz, tp)]
    for ours, theirs, a, b, ta, tb in pairs:
        np.testing.assert_allclose(ours(a, b), theirs(ta, tb).numpy(), rtol=1e-13)
    assert repr(cr.nn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss(label_smoothing=0.1)"
    assert repr(cr.nn.MSELoss()) == "MSELoss()"


def test_sequential_indexing_like_torch():
    a, b = cr.nn.Linear(3, 4, rng=0), cr.nn.Linear(4, 2, rng=1)
    seq = cr.nn.Sequential(a, cr.nn.Tanh())
    assert seq.append(b) is seq and len(seq) == 3 and seq[0] is a and seq[-1] is b
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "Linear"]
    head = seq[:2]
    assert type(head) is cr.nn.Sequential and head[0] is a
    x = np.ones((2, 3))
    np.testing.assert_array_equal(seq(x).detach().numpy(), b(head(x)).detach().numpy())
    assert [n for n, _ in seq.named_parameters()][-1] == "layers.2.bias"


def test_pytorch_default_init():
    torch = pytest.importorskip("torch")
    ours = cr.nn.Linear(400, 300, rng=0, init="pytorch")
    torch.manual_seed(0)
    ref = torch.nn.Linear(400, 300)
    w, b = ours.weight.detach().numpy(), ours.bias.detach().numpy()
    bound = 1 / np.sqrt(400)
    for a, t, tol in ((w, ref.weight.detach().numpy(), 0.02), (b, ref.bias.detach().numpy(), 0.2)):
        assert np.abs(a).max() <= bound and np.abs(t).max() <= bound
        assert abs(a.std() - bound / np.sqrt(3)) < tol * bound and abs(t.std() - bound / np.sqrt(3)) < tol * bound
    assert abs(w.var() - 1 / (3 * 400)) < 1e-4 and np.any(b != 0)
    same = cr.nn.Linear(400, 300, rng=0, init="pytorch")
    np.testing.assert_array_equal(same.bias.detach().numpy(), b)  # seeded
    assert not np.array_equal(b, w[0, :300])                     # bias drawn after the weight, not a replay
    assert np.all(cr.nn.Linear(3, 2, rng=0).bias.detach().numpy() == 0)  # other inits: zero bias
