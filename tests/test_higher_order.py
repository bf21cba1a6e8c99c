"""Higher derivatives: grad of grad to 4th order, every mix of jvp and grad, the tape with
create_graph, and perturbation confusion (API.md section 2: "never confuse the perturbations
of different levels").  Oracles are hand-derived formulas.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def fwd_derivative(f):
    """x -> f'(x) by forward mode (scalar x)."""
    return lambda x: cr.jvp(f, (x,), (cnp.ones_like(x),))[1]


def rev_derivative(f):
    return cr.grad(f)


# (name, f, [f, f', f'', f''', f''''] as functions of x)
SCALAR_FUNCTIONS = [
    ("sin", cnp.sin, [np.sin, np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), np.sin]),
    ("x**5", lambda x: x ** 5,
     [lambda x: x ** 5, lambda x: 5 * x ** 4, lambda x: 20 * x ** 3, lambda x: 60 * x ** 2, lambda x: 120 * x]),
    ("exp(x*x)", lambda x: cnp.exp(x * x),
     [lambda x: np.exp(x * x),
      lambda x: 2 * x * np.exp(x * x),
      lambda x: (4 * x ** 2 + 2) * np.exp(x * x),
      lambda x: (8 * x ** 3 + 12 * x) * np.exp(x * x),
      lambda x: (16 * x ** 4 + 48 * x ** 2 + 12) * np.exp(x * x)]),
    ("log(x)", cnp.log,
     [np.log, lambda x: 1 / x, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3, lambda x: -6 / x ** 4]),
    ("tanh", cnp.tanh,
     [np.tanh,
      lambda x: 1 - np.tanh(x) ** 2,
      lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
      lambda x: (6 * np.tanh(x) ** 2 - 2) * (1 - np.tanh(x) ** 2),
      lambda x: (16 * np.tanh(x) - 24 * np.tanh(x) ** 3) * (1 - np.tanh(x) ** 2)]),
    ("1/x", lambda x: 1.0 / x,
     [lambda x: 1 / x, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3, lambda x: -6 / x ** 4, lambda x: 24 / x ** 5]),
    ("sqrt", cnp.sqrt,
     [np.sqrt, lambda x: 0.5 * x ** -0.5, lambda x: -0.25 * x ** -1.5, lambda x: 0.375 * x ** -2.5,
      lambda x: -0.9375 * x ** -3.5]),
]

X0 = 0.7


@pytest.mark.parametrize("name,f,derivs", SCALAR_FUNCTIONS, ids=[c[0] for c in SCALAR_FUNCTIONS])
def test_grad_of_grad_to_fourth_order(name, f, derivs):
    g = f
    for k in range(1, 5):
        g = cr.grad(g)
        np.testing.assert_allclose(g(X0), derivs[k](X0), rtol=1e-12, err_msg=f"order {k}")


@pytest.mark.parametrize("name,f,derivs", SCALAR_FUNCTIONS, ids=[c[0] for c in SCALAR_FUNCTIONS])
def test_jvp_of_jvp_to_fourth_order(name, f, derivs):
    g = f
    for k in range(1, 5):
        g = fwd_derivative(g)
        np.testing.assert_allclose(g(X0), derivs[k](X0), rtol=1e-12, err_msg=f"order {k}")


@pytest.mark.parametrize("modes", list(itertools.product("fr", repeat=4)), ids="".join)
def test_every_mix_of_modes_to_fourth_order(modes):
    # modes, read left to right, are the transforms from the outside in
    name, f, derivs = SCALAR_FUNCTIONS[2]  # exp(x*x): no derivative vanishes
    g = f
    for m in reversed(modes):
        g = fwd_derivative(g) if m == "f" else rev_derivative(g)
    np.testing.assert_allclose(g(X0), derivs[4](X0), rtol=1e-12)


def test_jvp_of_grad_is_a_hessian_vector_product():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])

    def f(x):
        return 0.5 * x @ (A @ x) + cnp.sum(cnp.sin(x))

    x, v = np.array([0.3, -0.4]), np.array([1.0, 2.0])
    H = A - np.diag(np.sin(x))
    _, hv = cr.jvp(cr.grad(f), (x,), (v,))
    np.testing.assert_allclose(hv, H @ v, rtol=1e-12)
    # grad of jvp: d/dx <grad f(x), v>
    hv2 = cr.grad(lambda x: cr.jvp(f, (x,), (v,))[1])(x)
    np.testing.assert_allclose(hv2, H @ v, rtol=1e-12)
    # grad of grad, column by column
    for i in range(2):
        row = cr.grad(lambda x: cr.grad(f)(x)[i])(x)
        np.testing.assert_allclose(row, H[i], rtol=1e-12)


def test_third_order_mixed_partials_of_a_two_argument_function():
    # f = x^2 y^3: d^3 f / dx dy dy = 2x * 6y = 12 x y
    f = lambda x, y: x ** 2 * y ** 3  # noqa: E731
    fx = cr.grad(f, argnums=0)
    fxy = cr.grad(fx, argnums=1)
    fxyy = cr.grad(fxy, argnums=1)
    assert fxyy(2.0, 3.0) == 12 * 2 * 3
    fxy_fwd = lambda x, y: cr.jvp(lambda y: fx(x, y), (y,), (1.0,))[1]  # noqa: E731
    assert cr.jvp(lambda y: fxy_fwd(2.0, y), (3.0,), (1.0,))[1] == 12 * 2 * 3


# -- the tape -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,f,derivs", SCALAR_FUNCTIONS, ids=[c[0] for c in SCALAR_FUNCTIONS])
def test_tape_create_graph_to_fourth_order(name, f, derivs):
    x = cr.tensor(X0, requires_grad=True)
    g = f(x)
    for k in range(1, 5):
        (g,) = cr.autograd.grad(g, x, create_graph=True)
        np.testing.assert_allclose(g.item(), derivs[k](X0), rtol=1e-12, err_msg=f"order {k}")


def test_tape_backward_create_graph_twice():
    x = cr.tensor(X0, requires_grad=True)
    (x ** 5).backward(create_graph=True)
    g1 = x.grad
    x.grad = None
    g1.backward(create_graph=True)
    g2 = x.grad
    x.grad = None
    g2.backward()
    np.testing.assert_allclose([g1.item(), g2.item(), x.grad.item()],
                               [5 * X0 ** 4, 20 * X0 ** 3, 60 * X0 ** 2], rtol=1e-12)


def test_functional_transform_of_a_tape_tensor_records_on_the_tape():
    # g(x) = d/dz [sin(z) * x] at z = x  = cos(x) * x, then the tape differentiates g
    x = cr.tensor(0.5, requires_grad=True)
    g = cr.grad(lambda z: cnp.sin(z) * x)(x)
    assert isinstance(g, cr.Tensor) and g.requires_grad
    np.testing.assert_allclose(g.item(), np.cos(0.5) * 0.5)
    g.backward()
    np.testing.assert_allclose(x.grad.item(), -np.sin(0.5) * 0.5 + np.cos(0.5))


def test_jvp_of_a_tape_computation():
    x = cr.tensor(0.5, requires_grad=True)
    out, t = cr.jvp(lambda z: cnp.exp(z * x), (x,), (1.0,))  # d/dz exp(z x) = x exp(z x), at z = x
    np.testing.assert_allclose(t.item(), 0.5 * np.exp(0.25))
    t.backward()  # d/dx [x exp(x^2)] = exp(x^2) (1 + 2 x^2)
    np.testing.assert_allclose(x.grad.item(), np.exp(0.25) * 1.5)


# -- perturbation confusion ----------------------------------------------------------------------

def _d(transform, f):
    """d/dy f(y) at y = 1 by 'grad' or 'jvp'."""
    if transform == "grad":
        return cr.grad(f)(1.0)
    return cr.jvp(f, (1.0,), (1.0,))[1]


def _outer(transform, f, x):
    if transform == "grad":
        return cr.grad(f)(x)
    return cr.jvp(f, (x,), (1.0,))[1]


@pytest.mark.parametrize("outer,inner", list(itertools.product(["grad", "jvp"], repeat=2)))
def test_perturbation_confusion(outer, inner):
    # f(x) = x * d/dy (x + y) at y = 1  =  x, so f'(x) = 1 (a confused system gives 2)
    f = lambda x: x * _d(inner, lambda y: x + y)  # noqa: E731
    assert _outer(outer, f, 1.0) == 1.0


@pytest.mark.parametrize("outer,inner", list(itertools.product(["grad", "jvp"], repeat=2)))
def test_perturbation_confusion_with_a_product(outer, inner):
    # f(x) = x * d/dy (x * y) at y = 1  =  x**2, so f'(3) = 6
    f = lambda x: x * _d(inner, lambda y: x * y)  # noqa: E731
    assert _outer(outer, f, 3.0) == 6.0


def test_perturbation_confusion_on_the_tape():
    x = cr.tensor(1.0, requires_grad=True)
    f = x * cr.grad(lambda y: x + y)(1.0)
    f.backward()
    assert x.grad.item() == 1.0
    x = cr.tensor(3.0, requires_grad=True)
    f = x * cr.jvp(lambda y: x * y, (1.0,), (1.0,))[1]
    f.backward()
    assert x.grad.item() == 6.0


def test_closure_over_an_outer_tracer_three_levels_deep():
    # f(x) = d/dy [ d/dz (x * y * z) ] = x  ->  f'(x) = 1 (and the inner values are right)
    def f(x):
        return cr.grad(lambda y: cr.grad(lambda z: x * y * z)(2.0))(5.0)

    assert f(4.0) == 4.0
    assert cr.grad(f)(4.0) == 1.0
    assert cr.jvp(f, (4.0,), (1.0,))[1] == 1.0


def test_vjp_function_reused_inside_another_transform():
    # a pullback built outside is a constant function of its own primal for the outer transform
    _, f_vjp = cr.vjp(lambda x: x ** 3, 2.0)
    assert cr.grad(lambda c: f_vjp(c)[0])(1.0) == 12.0
    assert cr.grad(lambda c: f_vjp(c * c)[0])(3.0) == 2 * 3.0 * 12.0


# -- the tape's recorded backward pass agrees with forward-over-reverse ------------------------------

TWO_ARG_FUNCTIONS = [
    ("broadcast arithmetic", lambda a, b: cnp.sum((a * b + a / (b + 2.0) - b) ** 2)),
    ("power", lambda a, b: cnp.sum((a * a + 1.0) ** b)),
    ("matmul and tanh", lambda a, b: cnp.sum(cnp.tanh(a @ b.T))),
    ("reductions", lambda a, b: cnp.sum(cnp.max(a * b, axis=0) * cnp.mean(a, axis=1, keepdims=True))),
    ("indexing", lambda a, b: cnp.sum(a[np.array([0, 0, 2]), ::-1] * b[0] ** 2)),
    ("where and maximum", lambda a, b: cnp.sum(cnp.where(a > 0, cnp.maximum(a, b), cnp.exp(a)) * a)),
    ("reshape transpose", lambda a, b: cnp.sum(cnp.sin(a.reshape(2, 3).T) * cnp.cos(b.T).T)),
]


@pytest.mark.parametrize("name,f", TWO_ARG_FUNCTIONS, ids=[c[0] for c in TWO_ARG_FUNCTIONS])
def test_tape_hessian_vector_product_agrees_with_jvp_of_grad(name, f):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 2)) + 0.05, rng.uniform(0.5, 1.5, (1, 2))
    va, vb = rng.standard_normal((3, 2)), rng.standard_normal((1, 2))
    _, (ha, hb) = cr.jvp(cr.grad(f, argnums=(0, 1)), (a, b), (va, vb))
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    ga, gb = cr.autograd.grad(f(ta, tb), [ta, tb], create_graph=True)
    ha_tape, hb_tape = cr.autograd.grad(cnp.sum(ga * va) + cnp.sum(gb * vb), [ta, tb])
    np.testing.assert_allclose(ha_tape.numpy(), ha, rtol=1e-10, atol=1e-12, equal_nan=False)
    np.testing.assert_allclose(hb_tape.numpy(), hb, rtol=1e-10, atol=1e-12, equal_nan=False)
