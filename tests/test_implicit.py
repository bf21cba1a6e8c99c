"""Implicit differentiation: cr.root, cr.fixed_point, cr.implicit_derivative."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.primitive import TRACER_TYPES
from chainrule.implicit import SingularJacobianError, fixed_point, implicit_derivative, root
from chainrule.testing import check_grads


# -- the circle x² + y² = 1 -----------------------------------------------------------

def circle(x, y):
    return x ** 2 + y ** 2 - 1


@pytest.mark.parametrize("x", [0.6, -0.3, 0.9])
def test_circle_implicit_derivative(x):
    y = np.sqrt(1 - x ** 2)
    assert np.isclose(implicit_derivative(circle, x, y), -x / y)
    assert np.isclose(implicit_derivative(circle, x, -y), x / y)


def test_circle_implicit_derivative_is_differentiable():
    # d/dx of (-x / y) along fixed y is -1 / y
    y = 0.8
    d = cr.grad(lambda x: implicit_derivative(circle, x, y))(0.6)
    assert np.isclose(d, -1 / y)


def test_circle_root_derivative():
    upper = lambda x: root(lambda y, x: circle(x, y), 0.5, x)  # noqa: E731
    for x in (0.6, -0.3, 0.1):
        y = np.sqrt(1 - x ** 2)
        assert np.isclose(upper(x), y)
        assert np.isclose(cr.grad(upper)(x), -x / y)
        assert np.isclose(cr.grad(cr.grad(upper))(x), -1 / y ** 3)  # y'' = -1 / y³
    lower = lambda x: root(lambda y, x: circle(x, y), -0.5, x)  # noqa: E731
    assert np.isclose(cr.grad(lower)(0.6), 0.6 / 0.8)


def test_implicit_derivative_vertical_tangent():
    with pytest.raises(ZeroDivisionError, match="F_y = 0"):
        implicit_derivative(circle, 1.0, 0.0)


# -- a parametric nonlinear system: x0 x1 = a, x0 - x1 = b -----------------------------

def F2(x, a, b):
    return cnp.stack([x[0] * x[1] - a, x[0] - x[1] - b])


X0 = np.array([1.0, 1.0])


def solve2(a, b):
    return root(F2, X0, a, b)


def closed2(a, b):
    s = np.sqrt(b ** 2 + 4 * a)
    x = np.array([(b + s) / 2, (-b + s) / 2])
    jac = np.array([[1 / s, (1 + b / s) / 2],
                    [1 / s, (-1 + b / s) / 2]])  # d(x0, x1) / d(a, b)
    return x, jac, s


@pytest.mark.parametrize("a,b", [(6.0, 1.0), (2.0, -0.5), (10.0, 3.0)])
def test_system_value_and_jacobian_reverse(a, b):
    x, jac, _ = closed2(a, b)
    np.testing.assert_allclose(solve2(a, b), x, rtol=1e-10)
    out, pull = cr.vjp(solve2, a, b)
    for i in range(2):
        ga, gb = pull(np.eye(2)[i])
        np.testing.assert_allclose([ga, gb], jac[i], rtol=1e-9)


@pytest.mark.parametrize("a,b", [(6.0, 1.0), (2.0, -0.5)])
def test_system_jacobian_forward(a, b):
    x, jac, _ = closed2(a, b)
    _, ta = cr.jvp(solve2, (a, b), (1.0, 0.0))
    _, tb = cr.jvp(solve2, (a, b), (0.0, 1.0))
    np.testing.assert_allclose(ta, jac[:, 0], rtol=1e-9)
    np.testing.assert_allclose(tb, jac[:, 1], rtol=1e-9)


def test_system_second_derivatives_closed_form():
    a, b = 6.0, 1.0
    _, _, s = closed2(a, b)
    x0 = lambda a, b: solve2(a, b)[0]  # noqa: E731
    # x0 = (b + s) / 2: d²/da² = -2 / s³, d²/dadb = -b / s³, d²/db² = 2a / s³
    assert np.isclose(cr.grad(cr.grad(x0, 0), 0)(a, b), -2 / s ** 3)
    assert np.isclose(cr.grad(cr.grad(x0, 0), 1)(a, b), -b / s ** 3)
    assert np.isclose(cr.grad(cr.grad(x0, 1), 1)(a, b), 2 * a / s ** 3)
    # forward over reverse
    _, t = cr.jvp(cr.grad(x0, 0), (a, b), (1.0, 0.0))
    assert np.isclose(t, -2 / s ** 3)


def test_system_check_grads_order2():
    check_grads(solve2, (6.0, 1.0), order=2, modes=("fwd", "rev"), rtol=1e-5, atol=1e-6)


def test_system_array_param():
    # the same system with the parameters in one array θ = (a, b)
    G = lambda x, th: F2(x, th[0], th[1])  # noqa: E731
    th = np.array([6.0, 1.0])
    _, jac, _ = closed2(*th)
    J = np.stack([cr.grad(lambda t: root(G, X0, t)[i])(th) for i in range(2)])
    np.testing.assert_allclose(J, jac, rtol=1e-9)
    check_grads(lambda t: root(G, X0, t), (th,), order=2, rtol=1e-5, atol=1e-6)


# -- fixed points ------------------------------------------------------------------------

def heron(x, a):
    return (x + a / x) / 2


@pytest.mark.parametrize("a", [2.0, 9.0, 0.25])
def test_fixed_point_sqrt(a):
    s = lambda a: fixed_point(heron, 1.0, a)  # noqa: E731
    assert np.isclose(s(a), np.sqrt(a), rtol=1e-12)
    assert np.isclose(cr.grad(s)(a), 1 / (2 * np.sqrt(a)))
    assert np.isclose(cr.grad(cr.grad(s))(a), -1 / (4 * a ** 1.5))
    _, t = cr.jvp(s, (a,), (1.0,))
    assert np.isclose(t, 1 / (2 * np.sqrt(a)))


def test_fixed_point_vector_linear():
    # x = A x + b  =>  x = (I - A)^{-1} b, dx/db = (I - A)^{-1}
    A = np.array([[0.5, 0.1], [0.2, 0.3]])
    b = np.array([1.0, 2.0])
    f = lambda b: fixed_point(lambda x, b: cnp.matmul(A, x) + b, np.zeros(2), b)  # noqa: E731
    M = np.linalg.inv(np.eye(2) - A)
    np.testing.assert_allclose(f(b), M @ b, rtol=1e-9)
    _, pull = cr.vjp(f, b)
    for i in range(2):
        np.testing.assert_allclose(pull(np.eye(2)[i])[0], M[i], rtol=1e-8)


def test_fixed_point_matches_root():
    a = 3.0
    d_fp = cr.grad(lambda a: fixed_point(heron, 1.0, a))(a)
    d_root = cr.grad(lambda a: root(lambda x, a: x - heron(x, a), 1.0, a))(a)
    assert np.isclose(d_fp, d_root)


# -- iterations are never unrolled --------------------------------------------------------

def counting(F):
    calls = {"n": 0, "traced_params": 0}

    def G(x, *params):
        calls["n"] += 1
        calls["traced_params"] += sum(type(p) in TRACER_TYPES for p in params)
        return F(x, *params)
    return G, calls


def test_backward_cost_independent_of_iterations():
    costs = []
    forward = []
    for x0 in (1.5, 1e3):  # a good and a very poor start: many more Newton steps
        G, calls = counting(lambda x, a: x ** 2 - a)
        _, pull = cr.vjp(lambda a: root(G, x0, a), 2.0)
        forward.append(calls["n"])
        calls["n"] = 0
        (g,) = pull(1.0)
        assert np.isclose(g, 1 / (2 * np.sqrt(2.0)))
        costs.append(calls["n"])
    assert forward[1] > forward[0] + 10
    assert costs[0] == costs[1] <= 3


def test_fixed_point_backward_cost_independent_of_iterations():
    # slow contraction: hundreds of iterations, a constant number of g calls backward
    costs = []
    for tol in (1e-4, 1e-12):
        G, calls = counting(lambda x, a: 0.95 * x + a)
        _, pull = cr.vjp(lambda a: fixed_point(G, 0.0, a, tol=tol), 1.0)
        assert calls["n"] > 100
        calls["n"] = 0
        (g,) = pull(1.0)
        assert np.isclose(g, 1 / 0.05)
        costs.append(calls["n"])
    assert costs[0] == costs[1] <= 3


def test_solver_sees_no_tracers():
    # during solving F only ever gets plain parameters, even on the tape and under grad
    G, calls = counting(lambda x, a: x ** 2 - a)
    a = cr.tensor(2.0, requires_grad=True)
    x = root(G, 1.0, a)
    assert calls["n"] > 3 and calls["traced_params"] == 0
    assert x.requires_grad and x.grad_fn.name == "root"
    G, calls = counting(lambda x, a: x ** 2 - a)
    cr.grad(lambda a: root(G, 1.0, a))(2.0)
    assert calls["traced_params"] <= 3  # only the derivative rule sees traced values


# -- the tape and forward mode --------------------------------------------------------------

def test_tape_backward():
    a = cr.tensor(6.0, requires_grad=True)
    b = cr.tensor(1.0, requires_grad=True)
    x = root(F2, X0, a, b)
    _, jac, _ = closed2(6.0, 1.0)
    (x[0] + 2 * x[1]).backward()
    assert np.isclose(float(a.grad), jac[0, 0] + 2 * jac[1, 0])
    assert np.isclose(float(b.grad), jac[0, 1] + 2 * jac[1, 1])


def test_tape_second_derivative():
    a = cr.tensor(4.0, requires_grad=True)
    x = fixed_point(heron, 1.0, a)
    x.backward(create_graph=True)
    assert np.isclose(float(a.grad), 1 / 4)
    g = a.grad
    a.grad = None
    g.backward()
    assert np.isclose(float(a.grad), -1 / (4 * 4.0 ** 1.5))


def test_tape_array_param_and_no_grad():
    th = cr.tensor([6.0, 1.0], requires_grad=True)
    x = root(lambda x, t: F2(x, t[0], t[1]), X0, th)
    x.sum().backward()
    _, jac, _ = closed2(6.0, 1.0)
    np.testing.assert_allclose(th.grad, jac.sum(0), rtol=1e-9)
    with cr.no_grad():
        y = root(lambda x, t: F2(x, t[0], t[1]), X0, th)
    assert not y.requires_grad


def test_nondifferentiated_params_and_plain_call():
    # an integer parameter rides along; plain inputs give a plain result
    F = lambda x, a, n: x ** n - a  # noqa: E731
    assert np.isclose(root(F, 1.0, 8.0, 3), 2.0)
    assert np.isclose(cr.grad(lambda a: root(F, 1.0, a, 3))(8.0), 1 / 12)
    _, t = cr.jvp(lambda a: root(F, 1.0, a, 3), (8.0,), (1.0,))
    assert np.isclose(t, 1 / 12)


# -- errors ------------------------------------------------------------------------------------

def test_no_convergence():
    with pytest.raises(RuntimeError, match=r"newton.*20 iterations.*residual"):
        root(lambda x: x ** 2 + 1, 0.3, maxiter=20)
    with pytest.raises(RuntimeError, match=r"fixed_point.*50 iterations.*residual"):
        fixed_point(lambda x: 2 * x + 1, 1.0, maxiter=50)


def test_singular_jacobian():
    with pytest.raises(SingularJacobianError, match="singular"):
        root(lambda x: x ** 2 + 1, 0.0)
    with pytest.raises(np.linalg.LinAlgError, match="singular.*x0"):
        root(lambda x: cnp.stack([x[0] + x[1] - 1, 2 * x[0] + 2 * x[1] - 3]), np.zeros(2))
    # at a root where dF/dx is singular, the derivative is undefined: a clear error, not inf/nan
    F = lambda x, a: cnp.stack([x[0] + x[1] - a, 2 * x[0] + 2 * x[1] - 2 * a])  # noqa: E731
    assert np.allclose(F(root(F, np.array([0.5, 0.5]), 1.0), 1.0), 0)
    with pytest.raises(np.linalg.LinAlgError, match="not isolated"):
        cr.grad(lambda a: root(F, np.array([0.5, 0.5]), a)[0])(1.0)


def test_a_closure_over_a_traced_value_becomes_a_parameter():
    """F capturing a in its closure: a is lifted into the parameters, so derivatives flow to it."""
    sq = lambda a: root(lambda x: x ** 2 - a, 1.0)  # noqa: E731
    np.testing.assert_allclose([cr.grad(sq)(4.0), cr.grad(cr.grad(sq))(4.0)], [0.25, -1 / 32], rtol=1e-10)
    np.testing.assert_allclose(cr.jvp(lambda a: root(lambda x, b: x ** 2 - a * b, 1.0, a), (2.0,), (1.0,))[1],
                               1.0, rtol=1e-10)  # x = sqrt(a * a) = a
    heron = lambda a: fixed_point(lambda x: (x + a / x) / 2, 1.0)  # noqa: E731
    np.testing.assert_allclose(cr.vmap(heron)(np.array([4.0, 9.0])), [2.0, 3.0], rtol=1e-10)
    np.testing.assert_allclose(cr.vmap(cr.grad(heron))(np.array([4.0, 9.0])), [0.25, 1 / 6], rtol=1e-10)
    check_grads(sq, (4.0,), order=2)


def test_a_deeper_capture_is_an_error_naming_the_transform():
    box = {}

    def F(x):
        return x ** 2 - box["a"]()  # a reached through another function: not lifted

    def sq(a):
        box["a"] = lambda: a
        return root(F, 1.0)

    with pytest.raises(TypeError, match="closes over a value traced by reverse mode.*explicit argument"):
        cr.grad(sq)(2.0)
    with pytest.raises(TypeError, match="closes over a value traced by forward mode"):
        cr.jvp(sq, (2.0,), (1.0,))
    with pytest.raises(TypeError, match="closes over a value traced by cr.vmap"):
        cr.vmap(sq)(np.array([2.0, 3.0]))


def test_vmap_of_root_against_the_closed_form():
    """vmap batches the system (block-diagonal), not a loop: values and derivatives per example."""
    a = np.array([1.0, 4.0, 9.0])
    cube = lambda a: root(lambda x, a: x ** 3 - a, 1.0, a)  # noqa: E731
    np.testing.assert_allclose(cr.vmap(cube)(a), np.cbrt(a), rtol=1e-10)
    np.testing.assert_allclose(cr.vmap(cr.grad(cube))(a), np.cbrt(a) ** -2 / 3, rtol=1e-10)
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(cr.vmap(cube)(a)))(a), np.cbrt(a) ** -2 / 3, rtol=1e-10)
    np.testing.assert_allclose(cr.jacfwd(cr.vmap(cube))(a), np.diag(np.cbrt(a) ** -2 / 3), rtol=1e-10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown solver"):
        root(lambda x: x, 1.0, solver="bisect")
    with pytest.raises(ValueError, match="shape"):
        root(lambda x: cnp.sum(x), np.ones(2))
    with pytest.raises(ValueError, match="1-D"):
        root(lambda x: x, np.ones((2, 2)))


def test_second_derivatives_every_mode_combination():
    # x* = sqrt(a) as a root: d²/da² = -1 / (4 a^1.5) by fwd-fwd, fwd-rev, rev-fwd and rev-rev
    s = lambda a: root(lambda x, a: x ** 2 - a, 1.0, a)  # noqa: E731
    a, want = 4.0, -1 / (4 * 4.0 ** 1.5)
    d_fwd = lambda a: cr.jvp(s, (a,), (1.0,))[1]  # noqa: E731
    assert np.isclose(cr.jvp(d_fwd, (a,), (1.0,))[1], want)
    assert np.isclose(cr.grad(d_fwd)(a), want)
    assert np.isclose(cr.jvp(cr.grad(s), (a,), (1.0,))[1], want)
    assert np.isclose(cr.grad(cr.grad(s))(a), want)
    # third derivative: 3 / (8 a^2.5)
    assert np.isclose(cr.grad(cr.grad(cr.grad(s)))(a), 3 / (8 * a ** 2.5))


def test_jvp_with_tape_params():
    a = cr.tensor(9.0, requires_grad=True)
    _, t = cr.jvp(lambda a: fixed_point(heron, 1.0, a), (a,), (1.0,))
    t.backward()
    assert np.isclose(float(t), 1 / 6)
    assert np.isclose(float(a.grad), -1 / (4 * 9.0 ** 1.5))


def test_vmap_with_a_starting_point_per_example():
    """Each example starts from its own x0 (and so may find another root); x0 has no derivative."""
    sq = lambda a, x0: root(lambda x, a: x ** 2 - a, x0, a)  # noqa: E731
    a, x0 = np.array([4.0, 9.0]), np.array([1.0, -1.0])
    np.testing.assert_allclose(cr.vmap(sq)(a, x0), [2.0, -3.0], rtol=1e-10)
    np.testing.assert_allclose(cr.vmap(sq, in_axes=(None, 0))(4.0, x0), [2.0, -2.0], rtol=1e-10)
    np.testing.assert_allclose(cr.vmap(cr.grad(sq))(a, x0), [0.25, -1 / 6], rtol=1e-10)
    check_grads(lambda a: cr.vmap(sq)(a, x0), (a,), order=2)
    _, t = cr.jvp(lambda x0: cr.vmap(sq)(a, x0), (x0,), (np.ones(2),))
    np.testing.assert_array_equal(t, [0.0, 0.0])
    nested = cr.vmap(cr.vmap(sq, in_axes=(None, 0)), in_axes=(0, None))(a, x0)
    np.testing.assert_allclose(nested, [[2.0, -2.0], [3.0, -3.0]], rtol=1e-10)
    heron = lambda x0: fixed_point(lambda x, a: (x + a / x) / 2, x0, 4.0)  # noqa: E731
    np.testing.assert_allclose(cr.vmap(heron)(x0), [2.0, -2.0], rtol=1e-10)


def test_implicit_derivative_under_vmap():
    circle = lambda x, y: x ** 2 + y ** 2 - 1  # noqa: E731
    xs, ys = np.array([0.6, 0.8]), np.array([0.8, 0.6])
    np.testing.assert_allclose(cr.vmap(lambda x, y: implicit_derivative(circle, x, y))(xs, ys), -xs / ys,
                               rtol=1e-12)
    with pytest.raises(ZeroDivisionError, match="F_y = 0"):
        cr.vmap(lambda x, y: implicit_derivative(circle, x, y))(np.array([0.6, 1.0]), np.array([0.8, 0.0]))


def test_float32_stays_float32_through_root_and_fixed_point():
    """The solver runs in float64, the root comes back in NumPy's promotion of x0 and params."""
    f32 = np.float32
    F = lambda x, a: x ** 3 + x - a  # noqa: E731
    assert cr.root(F, 1.0, f32(2.0)).dtype == np.float32
    assert cr.root(F, 1, 2).dtype == np.float64
    assert cr.vmap(lambda x0, a: cr.root(F, x0, a))(np.ones(3, f32), np.full(3, 2.0, f32)).dtype == np.float32
    assert cr.vmap(lambda a: cr.root(F, np.ones(2, f32), a))(np.ones((3, 2), f32)).dtype == np.float32
    assert cr.fixed_point(lambda x, a: (x + a / x) / 2, 1.0, f32(4.0)).dtype == np.float32
    g = cr.vmap(cr.grad(lambda a: cr.fixed_point(lambda x, a: (x + a / x) / 2, 1.0, a)))(np.full(3, 4.0, f32))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 0.25, rtol=1e-6)
    H = cr.hessian(lambda a: cnp.sum(cr.root(F, np.ones(2, f32), a) ** 2))(np.full(2, 2.0, f32))
    assert H.dtype == np.float32


def test_pytree_params_and_captured_pytrees():
    """Params may be pytrees (a dict of weights, tuples, None leaves), as for every transform."""
    F = lambda x, p: x ** 3 + p["b"][0] * x - p["a"]  # noqa: E731  root x = 1 at a = 2, b = 1
    p = {"a": 2.0, "b": (1.0, None)}
    assert root(F, 1.5, p) == pytest.approx(1.0)
    g = cr.grad(lambda p: root(F, 1.5, p))(p)  # dx/da = 1 / (3x^2 + b), dx/db = -x / (3x^2 + b)
    assert g["a"] == pytest.approx(0.25) and g["b"][0] == pytest.approx(-0.25) and g["b"][1] is None
    np.testing.assert_allclose(cr.vmap(lambda a: root(F, 1.0, {"a": a, "b": (1.0, None)}))(np.array([2.0, 10.0])),
                               [1.0, 2.0])
    captured = cr.grad(lambda a: (lambda q: root(lambda x: x ** 3 + x - q["a"], 1.0))({"a": a}))(2.0)
    assert captured == pytest.approx(0.25)
    J = cr.jacfwd(lambda p: fixed_point(lambda x, p: (x + p["a"] / x) / 2, 1.0, p))({"a": 4.0})
    assert J["a"] == pytest.approx(0.25)


def test_shape_error_under_vmap_gives_one_examples_shapes():
    with pytest.raises(ValueError, match=r"F\(x, \*params\) has shape \(\) but x has shape \(2,\)"):
        cr.vmap(lambda a: root(lambda x, a: cnp.sum(x) - a, np.ones(2), a))(np.ones(3))


def test_F_may_return_a_list_of_equations():
    F = lambda x, a: [x[0] * x[1] - a, x[0] - x[1] - 1.0]  # noqa: E731  x = (3, 2) at a = 6
    np.testing.assert_allclose(root(F, np.ones(2), 6.0), [3.0, 2.0])
    assert cr.grad(lambda a: root(F, np.ones(2), a)[0])(6.0) == pytest.approx(0.2)
    np.testing.assert_allclose(cr.vmap(lambda a: root(F, np.ones(2), a))(np.array([6.0, 2.0])), [[3, 2], [2, 1]])
    J = cr.jacfwd(lambda a: fixed_point(lambda x, a: ((x[0] + a / x[0]) / 2, (x[1] + 2 * a / x[1]) / 2),
                                        np.ones(2), a))(4.0)
    np.testing.assert_allclose(J, [0.25, 0.5 / np.sqrt(2)])
