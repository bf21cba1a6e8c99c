"""Derivatives at the edges, with JAX's conventions (API.md section 4).

Finite differences are undefined or one-sided at these points, so the oracle is the
convention itself, written out by hand, and the other mode: each case is checked in
reverse mode (grad), forward mode (jvp) and on the tape.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def _all_modes_grad(f, x):
    """d f / d x of scalar-valued ``f`` at array ``x`` by grad, by jvp (column by column), by the tape."""
    x = np.asarray(x, dtype=float)
    g_rev = np.asarray(cr.grad(f)(x))
    g_fwd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = 1.0
        g_fwd[idx] = cr.jvp(f, (x,), (e,))[1]
    t = cr.tensor(x, requires_grad=True)
    f(t).backward()
    g_tape = t.grad.numpy()
    return g_rev, g_fwd, g_tape


def _assert_all(gs, expected):
    for g, mode in zip(gs, ("grad", "jvp", "tape")):
        np.testing.assert_allclose(g, expected, err_msg=mode)


# -- ties --------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [cnp.maximum, cnp.minimum])
def test_maximum_minimum_split_ties_evenly(op):
    gx, gy = cr.grad(lambda x, y: op(x, y), argnums=(0, 1))(1.5, 1.5)
    assert (gx, gy) == (0.5, 0.5)
    # forward mode: d max(x, y) along (tx, ty) at a tie is (tx + ty) / 2
    assert cr.jvp(op, (1.5, 1.5), (1.0, 0.0))[1] == 0.5
    assert cr.jvp(op, (1.5, 1.5), (2.0, 4.0))[1] == 3.0
    x, y = cr.tensor(1.5, requires_grad=True), cr.tensor(1.5, requires_grad=True)
    op(x, y).backward()
    assert (x.grad.item(), y.grad.item()) == (0.5, 0.5)


def test_maximum_ties_elementwise_with_broadcasting():
    # x = [1, 2, 3] against y = 2 (broadcast): only the middle element ties
    x = np.array([1.0, 2.0, 3.0])
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.maximum(x, y)), argnums=(0, 1))(x, 2.0)
    np.testing.assert_array_equal(gx, [0.0, 0.5, 1.0])
    assert gy == 1.5  # 1 from the first element, 1/2 from the tie
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.minimum(x, y)), argnums=(0, 1))(x, 2.0)
    np.testing.assert_array_equal(gx, [1.0, 0.5, 0.0])
    assert gy == 1.5


def test_relu_by_maximum_at_zero_is_one_half():
    _assert_all(_all_modes_grad(lambda x: cnp.sum(cnp.maximum(x, 0.0)), [-1.0, 0.0, 2.0]), [0.0, 0.5, 1.0])


def test_max_reduction_splits_ties_evenly():
    x = [1.0, 3.0, 3.0, 2.0, 3.0]
    _assert_all(_all_modes_grad(cnp.max, x), [0, 1 / 3, 1 / 3, 0, 1 / 3])
    _assert_all(_all_modes_grad(lambda x: x.max(), x), [0, 1 / 3, 1 / 3, 0, 1 / 3])


def test_max_reduction_ties_per_slice():
    x = np.array([[1.0, 1.0, 0.0],
                  [2.0, 5.0, 5.0],
                  [4.0, 4.0, 4.0]])
    expected = np.array([[0.5, 0.5, 0.0],
                         [0.0, 0.5, 0.5],
                         [1 / 3, 1 / 3, 1 / 3]])
    for keepdims in (False, True):
        _assert_all(_all_modes_grad(lambda x: cnp.sum(cnp.max(x, axis=1, keepdims=keepdims)), x), expected)
    # along axis 0: column 0 max 4 (unique), column 1 max 5 (unique), column 2 max 5 (unique)
    _assert_all(_all_modes_grad(lambda x: cnp.sum(cnp.amax(x, axis=0)), x),
                [[0, 0, 0], [0, 1, 1], [1, 0, 0]])


def test_max_of_all_equal_values_is_the_mean():
    x = np.full((2, 3), 7.0)
    _assert_all(_all_modes_grad(cnp.max, x), np.full((2, 3), 1 / 6))


# -- sqrt at zero ----------------------------------------------------------------------------

def test_sqrt_derivative_at_zero_is_inf():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert cr.grad(cnp.sqrt)(0.0) == np.inf
        assert cr.jvp(cnp.sqrt, (0.0,), (1.0,)) == (0.0, np.inf)
        x = cr.tensor(0.0, requires_grad=True)
        cnp.sqrt(x).backward()
        assert x.grad.item() == np.inf
        g = cr.grad(lambda x: cnp.sum(cnp.sqrt(x)))(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(g, [np.inf, 0.25])


# -- where ---------------------------------------------------------------------------------------

def test_where_gradient_goes_only_to_the_selected_branch():
    c = np.array([True, False, True])
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([4.0, 5.0, 6.0])
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.where(c, x * x, y * y * y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [2.0, 0.0, 6.0])
    np.testing.assert_array_equal(gy, [0.0, 75.0, 0.0])
    _, t = cr.jvp(lambda x, y: cnp.where(c, x * x, y * y * y), (x, y), (np.ones(3), np.ones(3)))
    np.testing.assert_array_equal(t, [2.0, 75.0, 6.0])


def test_where_with_broadcast_branch_sums_its_selected_cotangents():
    c = np.array([[True, False], [True, True], [False, False]])
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.where(c, x, y)), argnums=(0, 1))(np.ones((1, 2)), 0.0)
    np.testing.assert_array_equal(gx, [[2.0, 1.0]])
    assert gy == 3.0


@pytest.mark.parametrize("point", [-2.0, 0.0, 4.0])
def test_safe_where_pattern_has_finite_gradient(point):
    def f(x):
        safe = cnp.where(x > 0, x, 1.0)
        return cnp.where(x > 0, cnp.sqrt(safe), 0.0)

    expected = 0.25 if point == 4.0 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no division by zero anywhere
        assert cr.grad(f)(point) == expected
        assert cr.jvp(f, (point,), (1.0,))[1] == expected
        assert cr.grad(cr.grad(f))(point) == (-1 / 32 if point == 4.0 else 0.0)
        x = cr.tensor(point, requires_grad=True)
        f(x).backward()
        assert x.grad.item() == expected


# -- power at zero ------------------------------------------------------------------------------

def test_power_derivative_in_exponent_at_zero_base_is_zero():
    # d/dy x**y = x**y log x, taken as 0 at x = 0 (as JAX) rather than 0 * -inf = nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert cr.grad(lambda x, y: x ** y, argnums=1)(0.0, 2.0) == 0.0
        assert cr.jvp(lambda y: 0.0 ** y, (2.0,), (1.0,)) == (0.0, 0.0)
        g = cr.grad(lambda y: cnp.sum(np.array([0.0, 2.0]) ** y))(np.array([2.0, 3.0]))
        np.testing.assert_allclose(g, [0.0, 8.0 * np.log(2.0)])
        assert cr.grad(cr.grad(lambda y: 0.0 ** y))(2.0) == 0.0
        y = cr.tensor(2.0, requires_grad=True)
        cnp.power(0.0, y).backward()
        assert y.grad.item() == 0.0


def test_power_derivative_in_base():
    # d/dx x**2 at 0 is 0; d/dx x**0 is 0 everywhere, including x = 0
    assert cr.grad(lambda x: x ** 2)(0.0) == 0.0
    assert cr.grad(lambda x: x ** 0)(0.0) == 0.0
    assert cr.grad(lambda x, y: x ** y, argnums=0)(0.0, 0.0) == 0.0
    assert cr.grad(lambda x: x ** 3)(-2.0) == 12.0  # negative base, integer exponent
    assert cr.jvp(lambda x: x ** 3, (-2.0,), (1.0,))[1] == 12.0


# -- casts to non-float dtypes ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_cast_to_a_non_float_dtype_has_zero_derivative(dtype):
    x = np.array([1.5, 2.5])
    f = lambda x: cnp.sum(cnp.astype(x, dtype) * 1.0)  # noqa: E731  (piecewise constant)
    np.testing.assert_array_equal(cr.grad(f)(x), [0.0, 0.0])
    np.testing.assert_array_equal(cr.jvp(f, (x,), (np.ones(2),))[1], 0.0)
    t = cr.tensor(x, requires_grad=True)
    assert not t.astype(dtype).requires_grad


# -- comparisons ---------------------------------------------------------------------------------

COMPARISONS = {
    "less": (cnp.less, lambda a, b: a < b),
    "less_equal": (cnp.less_equal, lambda a, b: a <= b),
    "greater": (cnp.greater, lambda a, b: a > b),
    "greater_equal": (cnp.greater_equal, lambda a, b: a >= b),
    "equal": (cnp.equal, lambda a, b: a == b),
    "not_equal": (cnp.not_equal, lambda a, b: a != b),
}


@pytest.mark.parametrize("name", list(COMPARISONS))
@pytest.mark.parametrize("form", ["function", "operator"])
def test_comparisons_are_bool_arrays_with_no_graph(name, form):
    fn = COMPARISONS[name][0] if form == "function" else COMPARISONS[name][1]
    x = np.array([1.0, 2.0, 3.0])
    expected = getattr(np, name)(x, 2.0)
    seen = []

    def f(x):
        c = fn(x, 2.0)
        seen.append(c)
        return cnp.sum(x * x)

    cr.grad(f)(x)
    cr.jvp(f, (x,), (np.ones(3),))
    cr.grad(lambda x: cnp.sum(cr.grad(f)(x)))(x)  # two levels deep
    for c in seen:
        assert type(c) is np.ndarray and c.dtype == np.bool_, type(c)
        np.testing.assert_array_equal(c, expected)
    t = cr.tensor(x, requires_grad=True)
    c = fn(t, 2.0)
    assert c.dtype == np.bool_
    assert not c.requires_grad and c.grad_fn is None
    np.testing.assert_array_equal(np.asarray(c), expected)
    # outside any transform: plain NumPy
    assert type(fn(x, 2.0)) is np.ndarray


def test_comparison_between_two_traced_values_in_nested_transforms():
    def inner(x, y):
        c = x < y
        assert type(c) is np.ndarray and c.dtype == np.bool_
        return cnp.sum(cnp.where(c, x, y) ** 2)

    g = cr.grad(lambda x: cnp.sum(cr.grad(inner, argnums=1)(x, x[::-1])))(np.array([1.0, 3.0]))
    # inner grad w.r.t. y = 2*y where y < x: y = [3, 1]; selected at index 1 -> [0, 2*x[0]]
    np.testing.assert_array_equal(g, [2.0, 0.0])


# -- stop_gradient -------------------------------------------------------------------------------

def test_stop_gradient_has_zero_derivative_in_every_mode_and_order():
    f = lambda x: x * cr.stop_gradient(x * x)  # noqa: E731  (treated as x * c, c = x0**2)
    assert cr.grad(f)(3.0) == 9.0
    assert cr.jvp(f, (3.0,), (1.0,)) == (27.0, 9.0)
    assert cr.grad(cr.grad(f))(3.0) == 0.0
    assert cr.jvp(cr.grad(f), (3.0,), (1.0,))[1] == 0.0
    assert cr.grad(lambda x: cr.jvp(f, (x,), (1.0,))[1])(3.0) == 0.0
    assert cr.grad(cr.stop_gradient)(3.0) == 0.0
    assert cr.jvp(cr.stop_gradient, (3.0,), (1.0,)) == (3.0, 0.0)
    x = cr.tensor(3.0, requires_grad=True)
    y = f(x)
    y.backward()
    assert x.grad.item() == 9.0
    s = cr.stop_gradient(x)
    assert not s.requires_grad and s.item() == 3.0


def test_stop_gradient_outside_transforms_is_identity():
    x = np.array([1.0, 2.0])
    assert cr.stop_gradient(x) is x
