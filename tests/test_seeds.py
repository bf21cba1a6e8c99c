"""The seed examples, checked against their hand derivations in every API.

y = (x^2 + 1)^3:       dy/dx = 6x (x^2 + 1)^2,   d2y/dx2 = 6 (x^2 + 1)^2 + 24 x^2 (x^2 + 1)
L = e^{xy} + w:        (dL/dx, dL/dy, dL/dw) = (y e^{xy}, x e^{xy}, 1)
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def cubic(x):
    return (x ** 2 + 1) ** 3


def d_cubic(x):
    return 6 * x * (x ** 2 + 1) ** 2


def d2_cubic(x):
    return 6 * (x ** 2 + 1) ** 2 + 24 * x ** 2 * (x ** 2 + 1)


POINTS = [-1.5, 0.0, 1.0, 2.0]


@pytest.mark.parametrize("x", POINTS)
def test_cubic_grad(x):
    np.testing.assert_allclose(cr.grad(cubic)(x), d_cubic(x), rtol=1e-14)


@pytest.mark.parametrize("x", POINTS)
def test_cubic_jvp(x):
    out, t = cr.jvp(cubic, (x,), (1.0,))
    np.testing.assert_allclose(out, cubic(x), rtol=1e-14)
    np.testing.assert_allclose(t, d_cubic(x), rtol=1e-14)


@pytest.mark.parametrize("x", POINTS)
def test_cubic_tape(x):
    t = cr.tensor(x, requires_grad=True)
    y = cubic(t)
    y.backward()
    np.testing.assert_allclose(y.item(), cubic(x), rtol=1e-14)
    np.testing.assert_allclose(t.grad.item(), d_cubic(x), rtol=1e-14)


@pytest.mark.parametrize("x", POINTS)
def test_cubic_second_derivative(x):
    np.testing.assert_allclose(cr.grad(cr.grad(cubic))(x), d2_cubic(x), rtol=1e-14)
    np.testing.assert_allclose(cr.jvp(cr.grad(cubic), (x,), (1.0,))[1], d2_cubic(x), rtol=1e-14)
    t = cr.tensor(x, requires_grad=True)
    cubic(t).backward(create_graph=True)
    g = t.grad
    t.grad = None
    g.backward()
    np.testing.assert_allclose(t.grad.item(), d2_cubic(x), rtol=1e-14)


def test_cubic_vectorised():
    assert cr.grad(cubic)(1.0) == 24.0  # exactly
    xs = np.array(POINTS)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(cubic(x)))(xs), d_cubic(xs), rtol=1e-14)
    check_grads(cubic, (xs,), order=2)


def L(x, y, w):
    return cnp.exp(x * y) + w


@pytest.mark.parametrize("x,y,w", [(1.0, 2.0, 3.0), (-0.5, 0.3, 0.0), (0.0, 0.0, -1.0)])
def test_exp_xy_plus_w_functional(x, y, w):
    e = np.exp(x * y)
    g = cr.grad(L, argnums=(0, 1, 2))(x, y, w)
    np.testing.assert_allclose(g, (y * e, x * e, 1.0), rtol=1e-14)
    v, g2 = cr.value_and_grad(L, argnums=(0, 1, 2))(x, y, w)
    np.testing.assert_allclose(v, e + w, rtol=1e-14)
    np.testing.assert_allclose(g2, g, rtol=0)
    out, f_vjp = cr.vjp(L, x, y, w)
    np.testing.assert_allclose(f_vjp(1.0), (y * e, x * e, 1.0), rtol=1e-14)
    for k, expected in enumerate((y * e, x * e, 1.0)):
        tangents = tuple(1.0 if j == k else 0.0 for j in range(3))
        np.testing.assert_allclose(cr.jvp(L, (x, y, w), tangents)[1], expected, rtol=1e-14)


@pytest.mark.parametrize("x,y,w", [(1.0, 2.0, 3.0), (-0.5, 0.3, 0.0)])
def test_exp_xy_plus_w_tape(x, y, w):
    e = np.exp(x * y)
    tx, ty, tw = (cr.tensor(v, requires_grad=True) for v in (x, y, w))
    out = L(tx, ty, tw)
    out.backward()
    np.testing.assert_allclose(out.item(), e + w, rtol=1e-14)
    np.testing.assert_allclose([tx.grad.item(), ty.grad.item(), tw.grad.item()], [y * e, x * e, 1.0], rtol=1e-14)


def test_exp_xy_plus_w_check_grads():
    check_grads(L, (1.0, 2.0, 3.0), order=2)
