"""``cr.forward_ad`` (forward mode on the tape) against independent oracles.

Every function of the op tables of ``test_ops.py`` is pushed through
``make_dual``/``unpack_dual`` and its tangent compared with ``cr.jvp`` and with
central finite differences in float64 (the primal made a tape Tensor that
requires grad, or a NumPy array), and with ``torch.autograd.forward_ad`` where
PyTorch has the function.  Then: the semantics of levels (errors, nesting,
leaving a level), forward-over-reverse and reverse-over-forward Hessian-vector
products on a ``cr.nn.MLP`` against ``cr.hessian`` of the functional form, and
composition with ``cr.grad``, ``cr.jvp`` and ``cr.vmap`` in either order.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.forward_ad as fwAD
import chainrule.numpy as cnp
from test_ops import (BINARY, BINARY_SHAPES, INDEXES, MATMUL_SHAPES, REDUCTION_CASES, REDUCTIONS, SHAPE_OPS,
                      UNARY, _any, _grid, _make)

F = cr.nn.functional
EPS = 1e-6


def _np(v):
    """A result as a NumPy array (Tensors detached)."""
    return np.asarray(v.detach().numpy() if isinstance(v, cr.Tensor) else v)


def _tangents(xs, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(x)) for x in xs]


def dual_jvp(f, xs, ts, primal="tensor"):
    """``(f(xs), J·ts)`` through ``make_dual``/``unpack_dual``; a missing tangent is zeros."""
    with fwAD.dual_level():
        duals = [fwAD.make_dual(cr.tensor(x, requires_grad=True) if primal == "tensor" else x, t)
                 for x, t in zip(xs, ts)]
        out, tangent = fwAD.unpack_dual(f(*duals))
    out = _np(out)
    return out, np.zeros_like(out) if tangent is None else _np(tangent)


def central_difference(f, xs, ts):
    plus = f(*[x + EPS * t for x, t in zip(xs, ts)])
    minus = f(*[x - EPS * t for x, t in zip(xs, ts)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * EPS)


def check(f, xs, primal="tensor", seed=0):
    """The value against NumPy; the tangent against cr.jvp and central differences."""
    xs = [np.asarray(x, dtype=float) for x in xs]
    ts = _tangents(xs, seed)
    out, tangent = dual_jvp(f, xs, ts, primal)
    np.testing.assert_allclose(out, np.asarray(f(*xs)), rtol=1e-12, atol=1e-14)
    _, want = cr.jvp(f, tuple(xs), tuple(ts))
    np.testing.assert_allclose(tangent, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tangent, central_difference(f, xs, ts), rtol=1e-6, atol=1e-7)
    return xs, ts, tangent


# -- the op tables ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, shapes):
    f, dx, dy = BINARY[name]
    check(f, [_make(dx, shapes[0], 0), _make(dy, shapes[1], 1)])  # test_ops' draws: no kinks


@pytest.mark.parametrize("primal", ["tensor", "array"])
@pytest.mark.parametrize("shape", [(), (3, 2)], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape, primal):
    f, dom = UNARY[name]
    check(f, [_make(dom, shape, 4)], primal)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", REDUCTION_CASES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction(name, shape, axis, keepdims):
    f, dom = REDUCTIONS[name]
    check(lambda x: f(x, axis=axis, keepdims=keepdims), [_make(dom, shape, 4)])


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    check(cnp.matmul, [_make(_any, shapes[0], 5), _make(_any, shapes[1], 6)])
    check(lambda a, b: a @ b, [_make(_any, shapes[0], 5), _make(_any, shapes[1], 6)])


@pytest.mark.parametrize("name,f,shape", SHAPE_OPS, ids=[c[0] for c in SHAPE_OPS])
def test_shape_op(name, f, shape):
    check(f, [_make(_any, shape, 7)])


@pytest.mark.parametrize("name,f", INDEXES, ids=[c[0] for c in INDEXES])
def test_getitem(name, f):
    check(f, [_make(_grid, (4, 3), 8) + 0.01])


def test_linalg_and_special_functions():
    a = _make(_any, (3, 3), 9) + 3 * np.eye(3)
    check(lambda a: cnp.linalg.inv(a) @ cnp.linalg.solve(a, a.T), [a])
    check(cnp.linalg.det, [a])
    check(lambda x: cnp.special.logsumexp(x, axis=0) + cnp.special.erf(x).sum(), [_make(_any, (3, 2), 10)])


# -- PyTorch's forward_ad as the oracle ------------------------------------------------------------

def _torch_fn(torch, name, f):
    if name.startswith("op "):
        return f  # the operator forms work on torch tensors too
    if name == "clip":
        return lambda x: torch.clip(x, -0.75, 0.6)  # the table's bounds
    fn = getattr(torch, {"power": "pow"}.get(name, name), None)
    if fn is None:
        pytest.skip(f"torch has no {name}")
    return fn


def _torch_jvp(torch, f, xs, ts):
    fw = torch.autograd.forward_ad
    with fw.dual_level():
        out = f(*[fw.make_dual(torch.tensor(x), torch.tensor(t)) for x, t in zip(xs, ts)])
        p, t = fw.unpack_dual(out)
        return p.numpy(), t.numpy()


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_against_torch(name):
    torch = pytest.importorskip("torch")
    f, dom = UNARY[name]
    g = _torch_fn(torch, name, f)
    xs, ts, tangent = check(f, [_make(dom, (3, 2), 4)])
    p, t = _torch_jvp(torch, g, xs, ts)
    np.testing.assert_allclose(tangent, t, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_against_torch(name):
    torch = pytest.importorskip("torch")
    f, dx, dy = BINARY[name]
    g = _torch_fn(torch, name, f)
    xs, ts, tangent = check(f, [_make(dx, (3, 2), 0), _make(dy, (1, 2), 1)])
    p, t = _torch_jvp(torch, g, xs, ts)
    np.testing.assert_allclose(tangent, t, rtol=1e-12, atol=1e-14)


def test_forward_over_reverse_against_torch():
    torch = pytest.importorskip("torch")
    x0, v = _make(_any, (4,), 14), _make(_any, (4,), 15)

    def loss(m, x):
        return (m.tanh(x) ** 2 * m.exp(x[1:2] * x[:1])).sum() + (x[2] * x[3]) ** 3

    x = cr.tensor(x0, requires_grad=True)
    with fwAD.dual_level():
        (g,) = cr.autograd.grad(loss(cnp, fwAD.make_dual(x, v)), x)
        ours = _np(fwAD.unpack_dual(g).tangent)
    fw = torch.autograd.forward_ad
    xt = torch.tensor(x0, requires_grad=True)
    with fw.dual_level():
        (gt,) = torch.autograd.grad(loss(torch, fw.make_dual(xt, torch.tensor(v))), xt)
        theirs = fw.unpack_dual(gt).tangent.numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


# -- levels and their errors -----------------------------------------------------------------------

def test_make_dual_needs_a_level():
    with pytest.raises(RuntimeError, match=r"enter `with cr.forward_ad.dual_level\(\):`"):
        fwAD.make_dual(cr.tensor(1.0), cr.tensor(1.0))


def test_tangent_shape_and_dtype_are_checked():
    with fwAD.dual_level():
        with pytest.raises(ValueError, match=r"tangent has shape \(2,\) but the primal has shape \(3,\)"):
            fwAD.make_dual(np.zeros(3), np.zeros(2))
        with pytest.raises(TypeError, match="primal has dtype int64"):
            fwAD.make_dual(np.arange(3), np.zeros(3))
        with pytest.raises(TypeError, match="tangent has dtype int64 but the primal has dtype float64"):
            fwAD.make_dual(np.zeros(3), np.arange(3))
        d = fwAD.make_dual(np.zeros(3), np.ones(3, np.float32))  # another float dtype is cast, as torch
        assert fwAD.unpack_dual(d).tangent.dtype == np.float64
        with pytest.raises(RuntimeError, match="already has a tangent"):
            fwAD.make_dual(d, np.ones(3))


def test_a_level_must_be_open():
    with fwAD.dual_level() as level:
        pass
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match=f"dual level {level} is not open"):
            fwAD.make_dual(np.zeros(2), np.ones(2), level=level)


def test_unpack_dual_returns_the_named_tuple():
    with fwAD.dual_level():
        x = cr.tensor([1.0, 2.0])
        plain = fwAD.unpack_dual(x)
        assert type(plain) is fwAD.UnpackedDualTensor and plain.primal is x and plain.tangent is None
        primal, tangent = fwAD.unpack_dual(fwAD.make_dual(x, cr.tensor([3.0, 4.0])) * 2)
        np.testing.assert_array_equal(_np(primal), [2.0, 4.0])
        np.testing.assert_array_equal(_np(tangent), [6.0, 8.0])
        assert isinstance(tangent, cr.Tensor)
        assert fwAD.unpack_dual(np.ones(2) * 2).tangent is None  # a constant has no tangent


def test_leaving_the_level_drops_tangents():
    with fwAD.dual_level():
        d = fwAD.make_dual(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 1.0]))
        y = cnp.exp(d)
    assert fwAD.unpack_dual(y).tangent is None
    z = y * 2  # an operation after the level: an ordinary value
    assert fwAD.unpack_dual(z).tangent is None
    np.testing.assert_allclose(_np(fwAD.unpack_dual(z).primal), 2 * np.exp([1.0, 2.0]))
    assert repr(y) == repr(cr.tensor(np.exp([1.0, 2.0])))
    with fwAD.dual_level():  # a new level does not bring the old tangent back
        assert fwAD.unpack_dual(y * 1).tangent is None


def test_nested_levels_give_second_derivatives():
    # f(x) = x sin x; f' = sin x + x cos x, f'' = 2 cos x - x sin x (by hand)
    x = 0.7
    with fwAD.dual_level() as outer:
        d1 = fwAD.make_dual(cr.tensor(x), cr.tensor(1.0))
        with fwAD.dual_level() as inner:
            d2 = fwAD.make_dual(d1, cr.tensor(1.0))
            y = cnp.sin(d2) * d2
            primal, tangent = fwAD.unpack_dual(y)  # innermost level by default
            assert fwAD.unpack_dual(y, level=inner).tangent is tangent
            first = fwAD.unpack_dual(tangent, level=outer)
            np.testing.assert_allclose(_np(first.primal), np.sin(x) + x * np.cos(x), rtol=1e-14)
            np.testing.assert_allclose(_np(first.tangent), 2 * np.cos(x) - x * np.sin(x), rtol=1e-14)
            by_outer = fwAD.unpack_dual(y, level=outer)  # its primal and tangent still carry `inner`
            np.testing.assert_allclose(_np(fwAD.unpack_dual(by_outer.tangent).tangent),
                                       2 * np.cos(x) - x * np.sin(x), rtol=1e-14)
        assert fwAD.unpack_dual(tangent).tangent is not None  # `outer` is still open
        np.testing.assert_allclose(_np(fwAD.unpack_dual(tangent).tangent), 2 * np.cos(x) - x * np.sin(x))


def test_a_value_of_an_inner_level_cannot_be_made_dual_at_an_outer_one():
    with fwAD.dual_level() as outer:
        with fwAD.dual_level():
            inner = fwAD.make_dual(np.ones(2), np.ones(2))
            with pytest.raises(ValueError, match="started inside this dual level"):
                fwAD.make_dual(inner, np.ones(2), level=outer)


# -- dual values behave as Tensors -----------------------------------------------------------------

def test_a_dual_value_looks_like_a_tensor():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, np.ones((2, 2)))
        y = np.sin(d) @ d.T + d[0].sum()
        assert y.shape == (2, 2) and y.dtype == np.float64 and y.ndim == 2 and len(y) == 2
        assert y.requires_grad and y.grad_fn is not None
        assert repr(d) == f"dual({x!r}, tangent={cr.tensor(np.ones((2, 2)))!r})"
        assert float(d[1, 1]) == 4.0 and bool((d > 2)[1, 0])
        with pytest.raises(TypeError, match="would drop its tangent"):
            np.asarray(d)
        with pytest.raises(TypeError, match="would drop its tangent"):
            cr.tensor(d)
        plain = d.detach()  # as torch: no history and no tangent
        assert type(plain) is cr.Tensor and not plain.requires_grad
        assert fwAD.unpack_dual(plain).tangent is None
        with pytest.raises(RuntimeError, match="unpack_dual"):
            d.numpy()
        want = cr.jvp(lambda a: cnp.sin(a) @ a.T + a[0].sum(), (x.detach().numpy(),), (np.ones((2, 2)),))[1]
        np.testing.assert_allclose(_np(fwAD.unpack_dual(y).tangent), want, rtol=1e-14)


def test_nn_module_with_a_dual_input():
    model = cr.nn.MLP([3, 4, 2], activation="tanh", rng=0)
    x0, v = _make(_any, (5, 3), 16), _make(_any, (5, 3), 17)
    p = model.params()
    with fwAD.dual_level():
        out, tangent = fwAD.unpack_dual(model(fwAD.make_dual(x0, v)))
    want = cr.jvp(lambda x: model.apply(p, x), (x0,), (v,))
    np.testing.assert_allclose(_np(out), want[0], rtol=1e-14)
    np.testing.assert_allclose(_np(tangent), want[1], rtol=1e-12)
    np.testing.assert_allclose(_np(tangent), central_difference(lambda x: model.apply(p, x), [x0], [v]),
                               rtol=1e-6, atol=1e-8)


def test_no_grad_stops_the_tape_not_the_tangent():
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, np.array([1.0, 2.0]))
        with cr.no_grad():
            y = cnp.exp(d)
        assert not y.requires_grad  # as torch: no_grad leaves forward mode on
        np.testing.assert_allclose(_np(fwAD.unpack_dual(y).tangent), np.exp([0.5, 1.5]) * [1.0, 2.0])


def test_in_place_writes():
    with fwAD.dual_level():
        d = fwAD.make_dual(cr.tensor([1.0, 2.0, 3.0]), cr.tensor([1.0, 1.0, 1.0]))
        alias = d
        d[0] = 5.0                       # a constant written: its tangent is zero there (torch too)
        d[1] = fwAD.make_dual(cr.tensor(7.0), cr.tensor(3.0))
        d *= 2
        primal, tangent = fwAD.unpack_dual(alias)  # setitem writes the object itself
        np.testing.assert_array_equal(_np(primal), [5.0, 7.0, 3.0])
        np.testing.assert_array_equal(_np(tangent), [0.0, 3.0, 1.0])
        np.testing.assert_array_equal(_np(fwAD.unpack_dual(d).tangent), [0.0, 6.0, 2.0])
        h = cr.tensor(np.zeros(3))
        with pytest.raises(RuntimeError, match="carries a tangent"):
            h[0] = d[1]  # a tape Tensor cannot hold a tangent


# -- Hessian-vector products -----------------------------------------------------------------------

def _mlp_problem():
    model = cr.nn.MLP([3, 5, 2], activation="tanh", rng=1)
    x, y = _make(_any, (6, 3), 18), _make(_any, (6, 2), 19)
    names = [n for n, _ in model.named_parameters()]
    p0 = model.params()
    v = {n: _make(_any, p0[n].shape, 20 + k) for k, n in enumerate(names)}

    def flat_loss(z):
        params, i = {}, 0
        for n in names:
            params[n] = cnp.reshape(z[i:i + p0[n].size], p0[n].shape)
            i += p0[n].size
        return F.mse_loss(model.apply(params, x), y)

    flat = lambda d: np.concatenate([np.ravel(_np(d[n])) for n in names])  # noqa: E731
    hv = cr.hessian(flat_loss)(flat(p0)) @ flat(v)
    return model, x, y, names, v, flat, hv


@pytest.mark.parametrize("create_graph", [False, True])
def test_forward_over_reverse_hvp_on_an_mlp(create_graph):
    model, x, y, names, v, flat, hv = _mlp_problem()
    params = dict(model.named_parameters())
    with fwAD.dual_level():
        dual = {n: fwAD.make_dual(params[n], v[n]) for n in names}
        loss = F.mse_loss(model.apply(dual, x), y)
        grads = cr.autograd.grad(loss, [params[n] for n in names], create_graph=create_graph)
        got = {n: fwAD.unpack_dual(g) for n, g in zip(names, grads)}
    np.testing.assert_allclose(flat({n: got[n].tangent for n in names}), hv, rtol=1e-10, atol=1e-12)
    grad = cr.grad(lambda p: F.mse_loss(model.apply(p, x), y))(model.params())
    np.testing.assert_allclose(flat({n: got[n].primal for n in names}), flat(grad), rtol=1e-12)
    assert all(got[n].tangent.requires_grad == create_graph for n in names)


def test_forward_over_reverse_with_respect_to_the_dual_values_themselves():
    model, x, y, names, v, flat, hv = _mlp_problem()
    params = dict(model.named_parameters())
    with fwAD.dual_level():
        dual = {n: fwAD.make_dual(params[n], v[n]) for n in names}
        grads = cr.autograd.grad(F.mse_loss(model.apply(dual, x), y), [dual[n] for n in names])
        np.testing.assert_allclose(flat({n: fwAD.unpack_dual(g).tangent for n, g in zip(names, grads)}),
                                   hv, rtol=1e-10, atol=1e-12)


def test_reverse_over_forward_hvp_on_an_mlp():
    model, x, y, names, v, flat, hv = _mlp_problem()
    params = dict(model.named_parameters())
    with fwAD.dual_level():
        dual = {n: fwAD.make_dual(params[n], v[n]) for n in names}
        tangent = fwAD.unpack_dual(F.mse_loss(model.apply(dual, x), y)).tangent
    tangent.backward()  # d/dw (∇L · v) = H v
    np.testing.assert_allclose(flat({n: params[n].grad for n in names}), hv, rtol=1e-10, atol=1e-12)


def test_backward_of_a_dual_loss_gives_the_primal_gradient():
    x0 = _make(_any, (3,), 21)
    x = cr.tensor(x0, requires_grad=True)
    with fwAD.dual_level():
        (cnp.sin(fwAD.make_dual(x, np.ones(3))) ** 2).sum().backward()
    np.testing.assert_allclose(_np(x.grad), np.sin(2 * x0), rtol=1e-14)


def test_a_dual_cotangent_adds_its_tangent():
    # d/dx <g + εu, sin x> = g cos x + ε u cos x   (x has no tangent)
    x0, g, u = _make(_any, (3,), 22), _make(_any, (3,), 23), _make(_any, (3,), 24)
    x = cr.tensor(x0, requires_grad=True)
    with fwAD.dual_level():
        (gx,) = cr.autograd.grad(cnp.sin(x), x, grad_outputs=fwAD.make_dual(g, u))
        primal, tangent = fwAD.unpack_dual(gx)
    np.testing.assert_allclose(_np(primal), g * np.cos(x0), rtol=1e-14)
    np.testing.assert_allclose(_np(tangent), u * np.cos(x0), rtol=1e-14)


# -- composition with the transforms ---------------------------------------------------------------

def _f(x):
    return cnp.sum(cnp.sin(x) * x ** 2)


X0, V, U = _make(_any, (3,), 25), _make(_any, (3,), 26), _make(_any, (3,), 27)


def test_grad_of_a_dual_value_is_forward_over_reverse():
    with fwAD.dual_level():
        g = cr.grad(_f)(fwAD.make_dual(X0, V))
        np.testing.assert_allclose(_np(fwAD.unpack_dual(g).tangent), cr.hessian(_f)(X0) @ V, rtol=1e-12)


def test_grad_of_a_function_that_opens_a_dual_level():
    def directional(x):
        with fwAD.dual_level():
            return fwAD.unpack_dual(_f(fwAD.make_dual(x, V))).tangent

    np.testing.assert_allclose(cr.grad(directional)(X0), cr.hessian(_f)(X0) @ V, rtol=1e-12)


def test_jvp_of_a_dual_value():
    with fwAD.dual_level():
        _, t = cr.jvp(_f, (fwAD.make_dual(X0, V),), (U,))
        np.testing.assert_allclose(_np(fwAD.unpack_dual(t).tangent), U @ cr.hessian(_f)(X0) @ V, rtol=1e-12)


def test_vmap_over_dual_values_and_of_a_function_that_opens_a_level():
    xs, vs = _make(_any, (4, 3), 28), _make(_any, (4, 3), 29)
    want = [cr.jvp(_f, (x,), (v,))[1] for x, v in zip(xs, vs)]
    with fwAD.dual_level():
        got = fwAD.unpack_dual(cr.vmap(_f)(fwAD.make_dual(xs, vs))).tangent
    np.testing.assert_allclose(_np(got), want, rtol=1e-12)

    def directional(x, v):
        with fwAD.dual_level():
            return fwAD.unpack_dual(_f(fwAD.make_dual(x, v))).tangent

    np.testing.assert_allclose(cr.vmap(directional)(xs, vs), want, rtol=1e-12)


def test_unpacking_inside_a_transform_started_inside_the_level_is_refused():
    with fwAD.dual_level():
        d = fwAD.make_dual(X0, V)
        with pytest.raises(ValueError, match="transform started inside dual level"):
            cr.grad(lambda s: fwAD.unpack_dual(_f(d * s)).tangent)(1.0)
