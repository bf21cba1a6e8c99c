"""Conv1d/Conv2d, LayerNorm, Embedding and Dropout against PyTorch: outputs and gradients with
the same weights, derivatives of order 2 by central differences, and the convolution's
graph size independent of the image size (im2col + one matmul)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
rng = np.random.default_rng(0)


def _torch_value_and_grads(fn, *arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    g = torch.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape)))
    (out * g).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts], g.numpy()


def _ours_value_and_grads(fn, arrays, g):
    out, vjp = cr.vjp(fn, *arrays)
    return out, vjp(g)


CONV2D = [
    ((2, 3, 7, 6), (4, 3, 3, 3), dict()),
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(stride=2, padding=1)),
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    ((1, 2, 6, 6), (2, 1, 3, 3), dict(padding="same", dilation=2, groups=2)),
    ((1, 2, 5, 6), (3, 2, 3, 5), dict(padding="same")),
    ((1, 2, 5, 5), (3, 2, 2, 2), dict(padding="valid", stride=3)),
    ((3, 5, 5), (2, 3, 1, 1), dict()),                                  # unbatched, 1x1
]
CONV1D = [
    ((2, 3, 10), (4, 3, 3), dict()),
    ((2, 4, 11), (4, 1, 3), dict(stride=2, padding=2, dilation=3, groups=4)),
    ((3, 8), (2, 3, 4), dict(padding="same")),          # even kernel: the extra zero on the right
]


@pytest.mark.parametrize("dim,xs,ws,kw", [(2, *c) for c in CONV2D] + [(1, *c) for c in CONV1D],
                         ids=[f"2d-{i}" for i in range(len(CONV2D))] + [f"1d-{i}" for i in range(len(CONV1D))])
def test_conv_value_and_gradients_equal_torch(dim, xs, ws, kw):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    tfn, ours = (TF.conv2d, F.conv2d) if dim == 2 else (TF.conv1d, F.conv1d)
    with warnings.catch_warnings():  # torch on padding="same" with an even kernel: a padded copy
        warnings.simplefilter("ignore", UserWarning)
        ref, ref_grads, g = _torch_value_and_grads(lambda x, w, b: tfn(x, w, b, **kw), x, w, b)
    out, grads = _ours_value_and_grads(lambda x, w, b: ours(x, w, b, **kw), (x, w, b), g)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    for a, r in zip(grads, ref_grads):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dim", [1, 2])
def test_conv_derivatives_to_order_two(dim):
    if dim == 2:
        x, w = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 1, 2, 2))
        fn = lambda x, w: cnp.tanh(F.conv2d(x, w, stride=(1, 2), padding=1, groups=2))  # noqa: E731
    else:
        x, w = rng.standard_normal((2, 2, 5)), rng.standard_normal((3, 2, 2))
        fn = lambda x, w: cnp.tanh(F.conv1d(x, w, stride=2, padding=1, dilation=2))  # noqa: E731
    cr.testing.check_grads(fn, (x, w), order=2)


def test_conv_second_derivative_equals_torch_double_backward():
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    loss = torch.tanh(TF.conv2d(xt, wt, padding=1)).pow(2).sum()
    (gw,) = torch.autograd.grad(loss, wt, create_graph=True)
    v = rng.standard_normal(w.shape)
    (hv,) = torch.autograd.grad((gw * torch.tensor(v)).sum(), xt)
    ours = cr.grad(lambda x: cnp.sum(cr.grad(lambda w: cnp.sum(cnp.tanh(F.conv2d(x, w, padding=1)) ** 2))(w) * v))(x)
    np.testing.assert_allclose(ours, hv.numpy(), rtol=1e-11, atol=1e-12)


def test_conv_graph_is_im2col_and_one_matmul_whatever_the_image_size():
    w = rng.standard_normal((4, 3, 3, 3))

    def ir(n):
        return str(cr.make_ir(lambda x: F.conv2d(x, w, padding=1))(np.ones((2, 3, n, n))))
    small, large = ir(8), ir(64)
    assert small.count("\n") == large.count("\n")
    assert small.count("matmul") == 1


def test_conv_modules_load_a_torch_state_dict_and_train_the_same():
    for tm, cm, x in [(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=True), cr.nn.Conv2d(3, 4, 3, stride=2, padding=1),
                       rng.standard_normal((2, 3, 8, 8))),
                      (torch.nn.Conv1d(2, 4, 5, padding="same", groups=2), cr.nn.Conv1d(2, 4, 5, padding="same", groups=2),
                       rng.standard_normal((2, 2, 9)))]:
        tm.double()
        cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
        out_t = tm(torch.tensor(x))
        out_t.pow(2).sum().backward()
        out_c = cm(x)
        (out_c ** 2).sum().backward()
        np.testing.assert_allclose(out_c.detach().numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
        for name, p in cm.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), getattr(tm, name).grad.numpy(), rtol=1e-12, atol=1e-12)


def test_conv_default_init_is_torchs_and_reproducible():
    cr.manual_seed(0)
    a = cr.nn.Conv2d(4, 8, (3, 5), groups=2)
    cr.manual_seed(0)
    b = cr.nn.Conv2d(4, 8, (3, 5), groups=2)
    assert np.array_equal(a.params()["weight"], b.params()["weight"])
    bound = 1 / np.sqrt(2 * 3 * 5)               # fan_in = in_channels / groups * prod(kernel)
    assert a.weight.shape == (8, 2, 3, 5) and np.abs(a.params()["weight"]).max() <= bound
    assert np.abs(a.params()["weight"]).max() > 0.9 * bound and a.bias.shape == (8,)
    assert "Conv2d(4, 8, kernel_size=(3, 5), stride=1, groups=2)" in repr(a)


def test_conv_errors_say_what_to_do():
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 3, 2, 2)), groups=2)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        F.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="same.*stride 1"):
        F.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match="input must have shape"):
        F.conv2d(np.ones((4, 4)), np.ones((1, 1, 3, 3)))


def test_conv_under_vmap_gives_per_example_gradients():
    x, w = rng.standard_normal((3, 2, 6)), rng.standard_normal((4, 2, 3))
    loss = lambda w, xi: cnp.sum(cnp.tanh(F.conv1d(xi, w, padding=1)) ** 2)  # noqa: E731
    per = cr.vmap(cr.grad(loss), in_axes=(None, 0))(w, x)
    for i in range(3):
        np.testing.assert_allclose(per[i], cr.grad(loss)(w, x[i]), rtol=1e-12, atol=1e-13)


# -- LayerNorm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,norm", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((6,), (6,))])
def test_layer_norm_value_and_gradients_equal_torch(shape, norm):
    x, w, b = rng.standard_normal(shape), rng.standard_normal(norm), rng.standard_normal(norm)
    ref, ref_grads, g = _torch_value_and_grads(lambda x, w, b: TF.layer_norm(x, norm, w, b, 1e-5), x, w, b)
    out, grads = _ours_value_and_grads(lambda x, w, b: F.layer_norm(x, norm, w, b, 1e-5), (x, w, b), g)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    for a, r in zip(grads, ref_grads):
        np.testing.assert_allclose(a, r, rtol=1e-11, atol=1e-12)
    cr.testing.check_grads(lambda x, w, b: F.layer_norm(x, norm, w, b), (x, w, b), order=2)


def test_layer_norm_module_equals_torch():
    tm = torch.nn.LayerNorm((3, 4)).double()
    with torch.no_grad():
        tm.weight.normal_()
        tm.bias.normal_()
    cm = cr.nn.LayerNorm((3, 4))
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(cm(x).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert cr.nn.LayerNorm(4, elementwise_affine=False).num_parameters() == 0
    assert [n for n, _ in cr.nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]


# -- Embedding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_value_and_gradients_equal_torch(padding_idx):
    w = rng.standard_normal((6, 3))
    idx = np.array([[0, 2, 2], [5, 1, 2]])
    ref, (ref_gw,), g = _torch_value_and_grads(lambda w: TF.embedding(torch.tensor(idx), w, padding_idx), w)
    out, (gw,) = _ours_value_and_grads(lambda w: F.embedding(idx, w, padding_idx), (w,), g)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_allclose(gw, ref_gw, rtol=1e-15, atol=0)
    if padding_idx is None:  # the padding row's gradient is withheld on purpose, not the derivative
        cr.testing.check_grads(lambda w: cnp.tanh(F.embedding(idx, w)), (w,), order=2)


def test_embedding_module_is_torchs():
    cr.manual_seed(0)
    emb = cr.nn.Embedding(10, 4, padding_idx=1)
    assert emb.weight.shape == (10, 4) and not emb.params()["weight"][1].any()
    out = emb(np.array([1, 3, 3]))
    cnp.sum(out * 2.0).backward()
    assert np.array_equal(emb.weight.grad.numpy()[3], [4.0] * 4) and not emb.weight.grad.numpy()[1].any()
    with pytest.raises(TypeError, match="integer indices"):
        emb(np.array([1.0]))
    assert repr(emb) == "Embedding(10, 4, padding_idx=1)"


# -- Dropout -----------------------------------------------------------------------------------

def test_dropout_train_and_eval_as_torch():
    x = rng.standard_normal((200, 50))
    p = 0.3
    drop = cr.nn.Dropout(p, rng=0)
    xt = cr.tensor(x, requires_grad=True)
    out = drop(xt)
    out.sum().backward()
    kept = out.detach().numpy() != 0
    np.testing.assert_allclose(out.detach().numpy(), np.where(kept, x / (1 - p), 0.0), rtol=1e-15)
    np.testing.assert_allclose(xt.grad.numpy(), kept / (1 - p), rtol=1e-15)   # torch's backward: mask / (1-p)
    assert abs(1 - kept.mean() - p) < 0.02
    t = torch.nn.Dropout(p)
    t_out = t(torch.tensor(x))
    assert abs((t_out == 0).double().mean().item() - p) < 0.02
    assert np.allclose(t_out.numpy()[t_out.numpy() != 0], x[t_out.numpy() != 0] / (1 - p))   # the same scaling
    drop.eval()
    t.eval()
    assert drop(x) is x and np.array_equal(t(torch.tensor(x)).numpy(), x)
    drop.train()
    assert (drop(x) == 0).any()
    assert not cr.nn.Dropout(1.0)(x).any() and np.array_equal(F.dropout(x, 0.5, training=False), x)
