"""cr.nn: Module bookkeeping, layers, functional losses and activations, apply/grad/vmap, forward/backward.

Oracles: PyTorch (when importable) for losses, activations and MLP gradients; finite
differences (``check_grads``); the hand backprop of examples/tiny_mlp.py; explicit loops.
"""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.nn import functional as F
from chainrule.testing import check_grads

ROOT = pathlib.Path(__file__).resolve().parent.parent
try:
    import torch
except ImportError:  # the torch comparisons are skipped
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def _rng(seed=0):
    return np.random.default_rng(seed)


# -- Module bookkeeping -----------------------------------------------------------------

class Block(cr.nn.Module):
    def __init__(self):
        self.scale = cr.nn.parameter(2.0)
        self.heads = {"a": cr.nn.Linear(3, 2, rng=0), "b": cr.nn.Linear(3, 2, rng=1, bias=False)}
        self.extra = [cr.nn.parameter(np.ones(2)), cr.nn.Tanh()]
        self.constant = cr.tensor(np.ones(3))            # not a parameter: no requires_grad
        self.tied = self.heads["a"].weight                # the same Tensor again: listed once

    def forward(self, x):
        return self.scale * (self.heads["a"](x) + self.heads["b"](x)) * self.extra[0] + cnp.sum(self.tied)


def test_named_parameters_dotted_paths_in_attribute_order():
    m = Block()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "heads.a.weight", "heads.a.bias", "heads.b.weight", "extra.0"]
    for _, t in m.named_parameters():
        assert type(t) is cr.Tensor and t.requires_grad and t.is_leaf
    assert [id(t) for t in m.parameters()] == [id(t) for _, t in m.named_parameters()]
    assert [type(s).__name__ for s in m.modules()] == ["Block", "Linear", "Linear", "Tanh"]
    assert set(m.state_dict()) == set(names)


def test_tied_parameter_is_swapped_everywhere_by_apply():
    m = Block()
    x = _rng().standard_normal((4, 3))
    p = m.params()
    p["heads.a.weight"] = p["heads.a.weight"] * 0.0
    expected = p["scale"] * (x @ p["heads.b.weight"] + p["heads.a.bias"]) * p["extra.0"]  # + sum(tied) = 0
    np.testing.assert_allclose(m.apply(p, x), expected, rtol=1e-15)
    # the module is unchanged afterwards
    assert m.tied is m.heads["a"].weight and not np.all(m.tied.detach().numpy() == 0)


def test_zero_grad_train_eval():
    m = cr.nn.MLP([3, 4, 2], rng=0)
    cnp.sum(m(np.ones((2, 3)))).backward()
    assert all(t.grad is not None for t in m.parameters())
    m.zero_grad()
    assert all(t.grad is None for t in m.parameters())
    assert m.eval() is m and not any(s.training for s in m.modules())
    assert all(s.training for s in m.train().modules())


def test_forward_not_defined_is_named():
    with pytest.raises(NotImplementedError, match="Nothing.forward is not defined"):
        type("Nothing", (cr.nn.Module,), {})()(1.0)


def test_apply_errors_name_keys_and_shapes():
    m = cr.nn.MLP([2, 3, 1], rng=0)
    p = m.params()
    with pytest.raises(KeyError, match=r"missing \['layers.1.bias'\]"):
        m.apply({k: v for k, v in p.items() if k != "layers.1.bias"}, np.ones((1, 2)))
    with pytest.raises(KeyError, match=r"unexpected \['bogus'\]"):
        m.apply({**p, "bogus": 1.0}, np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"params\['layers.0.weight'\] has shape \(3, 2\).*\(2, 3\)"):
        m.apply({**p, "layers.0.weight": np.ones((3, 2))}, np.ones((1, 2)))
    with pytest.raises(TypeError, match="params must be a dict"):
        m.apply(list(p.values()), np.ones((1, 2)))
    # after the errors every parameter is back in place
    assert all(type(t) is cr.Tensor for t in m.parameters()) and len(m.parameters()) == 4


# -- layers and initialisers ------------------------------------------------------------------

def test_linear_and_mlp_shapes_and_init_statistics():
    lin = cr.nn.Linear(400, 300, rng=0)
    w = lin.weight.detach().numpy()
    assert w.shape == (400, 300) and np.all(lin.bias.detach().numpy() == 0)
    assert abs(w.var() - 2 / 700) < 1e-4 and abs(w).max() <= np.sqrt(6 / 700)
    he = cr.nn.MLP([500, 400, 10], activation="relu", rng=0).layers[0].weight.detach().numpy()
    assert abs(he.var() - 2 / 500) < 2e-4
    assert abs(cr.nn.init.he_normal(_rng(), (1000, 500)).std() - np.sqrt(2 / 1000)) < 1e-3
    assert abs(cr.nn.init.glorot_normal(_rng(), (1000, 500)).std() - np.sqrt(2 / 1500)) < 1e-3
    # seeded: same seed same weights, float32 on request
    a, b = cr.nn.MLP([3, 5, 2], rng=7), cr.nn.MLP([3, 5, 2], rng=np.random.default_rng(7))
    for (_, s), (_, t) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(s.detach().numpy(), t.detach().numpy())
    assert cr.nn.MLP([3, 2], dtype=np.float32, rng=0).layers[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        cr.nn.init.glorot_uniform(0, (2, 2))
    with pytest.raises(ValueError, match="unknown initialiser 'nope'"):
        cr.nn.Linear(2, 2, init="nope")
    with pytest.raises(ValueError, match="MLP: sizes"):
        cr.nn.MLP([3])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        cr.nn.MLP([3, 2], activation="swish")


def test_mlp_output_and_sequential():
    x = _rng().standard_normal((4, 3))
    m = cr.nn.MLP([3, 5, 2], activation="relu", output="sigmoid", rng=0)
    W0, b0, W1, b1 = (t.detach().numpy() for t in m.parameters())
    expected = 1 / (1 + np.exp(-(np.maximum(x @ W0 + b0, 0) @ W1 + b1)))
    np.testing.assert_allclose(m.apply(m.params(), x), expected, rtol=1e-14)
    seq = cr.nn.Sequential(m.layers[0], cr.nn.ReLU(), m.layers[1], cr.nn.Sigmoid())
    np.testing.assert_allclose(seq.apply(seq.params(), x), expected, rtol=1e-14)
    assert "sizes=[3, 5, 2]" in repr(m) and "Linear(in_features=3" in repr(seq)


# -- activations and losses against PyTorch -------------------------------------------------

ACTIVATIONS = {
    "tanh": (F.tanh, cr.nn.Tanh(), lambda t: torch.tanh(t)),
    "relu": (F.relu, cr.nn.ReLU(), lambda t: torch.relu(t)),
    "sigmoid": (F.sigmoid, cr.nn.Sigmoid(), lambda t: torch.sigmoid(t)),
    "softplus": (F.softplus, cr.nn.Softplus(), lambda t: torch.nn.functional.softplus(t)),
    "gelu": (F.gelu, cr.nn.GELU(), lambda t: torch.nn.functional.gelu(t)),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), cr.nn.GELU("tanh"),
                  lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
    "identity": (F.identity, cr.nn.Identity(), lambda t: t),
}


@needs_torch
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_match_torch_values_and_gradients(name):
    f, module, ref = ACTIVATIONS[name]
    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.5])
    t = torch.tensor(x, requires_grad=True)
    ref(t).sum().backward()
    np.testing.assert_allclose(f(x), ref(torch.tensor(x)).numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(module(x), f(x), rtol=0)
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(f(v)))(x), t.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "gelu", "gelu_tanh"])
def test_smooth_activations_order_2(name):
    check_grads(ACTIVATIONS[name][0], (np.array([-1.3, 0.2, 0.9]),), order=2)


@needs_torch
def test_losses_match_torch():
    tf = torch.nn.functional
    rng = _rng(3)
    z, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    probs = rng.dirichlet(np.ones(4), 6)
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_allclose(F.cross_entropy(z, labels, reduction),
                                   tf.cross_entropy(torch.tensor(z), torch.tensor(labels), reduction=reduction),
                                   rtol=1e-13)
        np.testing.assert_allclose(F.cross_entropy(z, probs, reduction),
                                   tf.cross_entropy(torch.tensor(z), torch.tensor(probs), reduction=reduction),
                                   rtol=1e-13)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(F.mse_loss(a, b), tf.mse_loss(torch.tensor(a), torch.tensor(b)), rtol=1e-14)
    p, t = rng.uniform(0.05, 0.95, 5), rng.integers(0, 2, 5).astype(float)
    np.testing.assert_allclose(F.binary_cross_entropy(p, t),
                               tf.binary_cross_entropy(torch.tensor(p), torch.tensor(t)), rtol=1e-13)
    np.testing.assert_allclose(F.binary_cross_entropy(np.array([0.0, 1.0]), np.array([1.0, 0.0])), 100.0)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(z[:, 0], t[:1].repeat(6)),
                               tf.binary_cross_entropy_with_logits(torch.tensor(z[:, 0]), torch.tensor(t[:1].repeat(6))),
                               rtol=1e-13)
    # gradient of cross-entropy: (softmax - onehot) / B
    g = cr.grad(lambda v: F.cross_entropy(v, labels))(z)
    sm = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(g, (sm - np.eye(4)[labels]) / 6, rtol=1e-12, atol=1e-15)


def test_losses_order_2_and_stability():
    rng = _rng(4)
    z, labels, probs = rng.standard_normal((3, 4)), np.array([0, 3, 1]), rng.dirichlet(np.ones(4), 3)
    check_grads(lambda v: F.cross_entropy(v, labels), (z,), order=2)
    check_grads(lambda v, q: F.cross_entropy(v, q), (z, probs), order=2)
    check_grads(lambda a, b: F.mse_loss(a, b, "sum"), (z, probs), order=2)
    check_grads(lambda p: F.binary_cross_entropy(p, probs), (rng.uniform(0.2, 0.8, (3, 4)),), order=2)
    check_grads(lambda v: F.binary_cross_entropy_with_logits(v, probs), (z,), order=2)
    big = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    assert F.cross_entropy(big, np.array([0, 0])) == 1000.0
    assert np.all(np.isfinite(cr.grad(lambda v: F.cross_entropy(v, np.array([0, 0])))(big)))
    np.testing.assert_allclose(F.softmax(big), [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.exp(F.log_softmax(z)).sum(-1), 1.0, rtol=1e-15)


def test_loss_errors_say_what_to_do():
    with pytest.raises(ValueError, match=r"mse_loss: input has shape \(3,\) but target has shape \(3, 1\)"):
        F.mse_loss(np.ones(3), np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"class indices\) must have shape \(2,\)"):
        F.cross_entropy(np.ones((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 3\)"):
        F.cross_entropy(np.ones((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(np.ones(2), np.ones(2), reduction="avg")


# -- functional use: grad, vmap, tape agreement -----------------------------------------------

def _digits_like(seed=0, n=8):
    rng = _rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
def test_tape_and_functional_gradients_agree_exactly(activation):
    model = cr.nn.MLP([5, 7, 6, 3], activation=activation, rng=1)
    x, y = _digits_like()
    F.cross_entropy(model(x), y).backward()
    g = cr.grad(lambda p: F.cross_entropy(model.apply(p, x), y))(model.params())
    assert list(g) == sorted(n for n, _ in model.named_parameters())
    for name, t in model.named_parameters():
        np.testing.assert_array_equal(g[name], t.grad.numpy())


def test_apply_gradients_by_finite_differences():
    model = cr.nn.MLP([3, 4, 2], activation="tanh", rng=2)
    x, y = _rng(5).standard_normal((4, 3)), _rng(6).standard_normal((4, 2))
    check_grads(lambda p: F.mse_loss(model.apply(p, x), y), (model.params(),), order=2)


@needs_torch
def test_deep_mlp_gradients_match_torch():
    model = cr.nn.MLP([5, 8, 8, 8, 3], activation="tanh", rng=3)
    x, y = _digits_like(1, 10)
    g = cr.grad(lambda p: F.cross_entropy(model.apply(p, x), y))(model.params())
    ts = {k: torch.tensor(v, requires_grad=True) for k, v in model.params().items()}
    h = torch.tensor(x)
    for i in range(4):
        h = h @ ts[f"layers.{i}.weight"] + ts[f"layers.{i}.bias"]
        h = torch.tanh(h) if i < 3 else h
    torch.nn.functional.cross_entropy(h, torch.tensor(y)).backward()
    for k, t in ts.items():
        np.testing.assert_allclose(g[k], t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_vmap_gives_per_example_gradients():
    model = cr.nn.MLP([5, 6, 3], activation="tanh", rng=4)
    x, y = _digits_like(2, 6)
    params = model.params()

    def loss(p, xi, yi):            # one example: logits (3,), label ()
        return F.cross_entropy(model.apply(p, xi), yi)

    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0, 0))(params, x, y)
    for i in range(len(x)):
        gi = cr.grad(loss)(params, x[i], y[i])
        for k in params:
            np.testing.assert_allclose(per_example[k][i], gi[k], rtol=1e-13, atol=1e-15)
    mean = {k: v.mean(axis=0) for k, v in per_example.items()}
    full = cr.grad(lambda p: F.cross_entropy(model.apply(p, x), y))(params)
    for k in params:
        np.testing.assert_allclose(mean[k], full[k], rtol=1e-12, atol=1e-15)


def test_training_step_is_a_function_of_params():
    model = cr.nn.MLP([5, 4, 3], rng=5)
    x, y = _digits_like(3)
    core = cr.optim.sgd(lr=0.5)
    step_loss = cr.value_and_grad(lambda p: F.cross_entropy(model.apply(p, x), y))
    params, state = model.params(), core.init(model.params())
    first = None
    for _ in range(20):
        value, g = step_loss(params)
        first = value if first is None else first
        params, state = core.update(g, state, params)
    assert value < 0.5 * first
    # the module's own parameters were not changed by the functional loop
    np.testing.assert_array_equal(model.params()["layers.0.weight"], cr.nn.MLP([5, 4, 3], rng=5).params()["layers.0.weight"])


# -- the seeds' forward/backward --------------------------------------------------------------

def _tiny_mlp():
    spec = importlib.util.spec_from_file_location("tiny_mlp", ROOT / "examples" / "tiny_mlp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_forward_backward_equals_the_hand_computation_for_1_2_1():
    tiny = _tiny_mlp()
    s = {"w11": 0.5, "w12": -0.4, "b1": 0.1, "b2": -0.1, "wo1": 0.8, "wo2": 0.6, "bo": 0.05}
    net = cr.nn.MLP([1, 2, 1], activation="tanh", rng=0)
    net.load_state_dict({"layers.0.weight": [[s["w11"], s["w12"]]], "layers.0.bias": [s["b1"], s["b2"]],
                         "layers.1.weight": [[s["wo1"]], [s["wo2"]]], "layers.1.bias": [s["bo"]]})
    trace = cr.nn.forward(net, np.array([[tiny.X]]))
    grads = cr.nn.backward(trace, trace.output - tiny.TARGET)     # dL/dy for L = (y - t)^2 / 2
    hand = tiny.backprop_by_hand(s)
    np.testing.assert_allclose(grads["layers.0.weight"], [[hand["w11"], hand["w12"]]], rtol=1e-14)
    np.testing.assert_allclose(grads["layers.0.bias"], [hand["b1"], hand["b2"]], rtol=1e-14)
    np.testing.assert_allclose(grads["layers.1.weight"], [[hand["wo1"]], [hand["wo2"]]], rtol=1e-14)
    np.testing.assert_allclose(grads["layers.1.bias"], [hand["bo"]], rtol=1e-14)
    assert "Trace(MLP" in repr(trace)


@pytest.mark.parametrize("sizes", [[3, 2], [3, 4, 2], [3, 4, 5, 6, 2]])
def test_forward_backward_any_depth_matches_tape(sizes):
    net = cr.nn.MLP(sizes, activation="tanh", rng=1)
    x = _rng(8).standard_normal((5, 3))
    dLdy = _rng(9).standard_normal((5, 2))
    trace = cr.nn.forward(net, x)
    grads = cr.nn.backward(trace, dLdy)
    grads_again = cr.nn.backward(trace, dLdy)                     # a trace can be reused
    net(x).backward(dLdy)
    for name, t in net.named_parameters():
        np.testing.assert_array_equal(grads[name], t.grad.numpy())
        np.testing.assert_array_equal(grads_again[name], grads[name])
    with pytest.raises(ValueError, match=r"dL/dy has shape \(5,\) but the traced output has shape \(5, 2\)"):
        cr.nn.backward(trace, np.ones(5))
    with pytest.raises(TypeError, match="pass the Trace"):
        cr.nn.backward({}, dLdy)


def test_trace_is_not_changed_by_a_later_update_of_the_model():
    net = cr.nn.MLP([3, 4, 2], rng=2)
    x, dLdy = _rng(10).standard_normal((5, 3)), _rng(11).standard_normal((5, 2))
    trace = cr.nn.forward(net, x)
    before = cr.nn.backward(trace, dLdy)
    opt = cr.optim.SGD(net.parameters(), lr=1.0)
    net(x).backward(dLdy)
    opt.step()                                                      # writes into the parameters
    after = cr.nn.backward(trace, dLdy)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_parameters_in_tuples_are_listed_but_cannot_be_swapped():
    class Pair(cr.nn.Module):
        def __init__(self):
            self.ws = (cr.nn.parameter([1.0, 2.0]), cr.nn.parameter(3))

        def forward(self, x):
            return x * self.ws[0] + self.ws[1]

    m = Pair()
    assert [n for n, _ in m.named_parameters()] == ["ws.0", "ws.1"]
    assert m.ws[1].dtype == np.float64                      # an int value becomes a float parameter
    with pytest.raises(TypeError, match="parameter 'ws.0' is held in a tuple.*hold it in a list"):
        m.apply(m.params(), np.ones(2))
    assert all(type(t) is cr.Tensor for t in m.ws)


def test_hessian_vector_product_in_the_parameters():
    model = cr.nn.MLP([2, 2, 1], activation="tanh", rng=6)
    x, y = _rng(12).standard_normal((3, 2)), _rng(13).standard_normal((3, 1))
    grad = cr.grad(lambda p: F.mse_loss(model.apply(p, x), y))
    p = model.params()
    v = {k: _rng(14).standard_normal(a.shape) for k, a in p.items()}
    _, hvp = cr.jvp(grad, (p,), (v,))                             # forward over reverse
    eps = 1e-6
    plus, minus = grad({k: p[k] + eps * v[k] for k in p}), grad({k: p[k] - eps * v[k] for k in p})
    for k in p:
        np.testing.assert_allclose(hvp[k], (plus[k] - minus[k]) / (2 * eps), rtol=1e-6, atol=1e-9)
