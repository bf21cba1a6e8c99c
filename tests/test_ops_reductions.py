"""Reductions beyond sum/mean/max: min/amin, prod, var, std, cumsum, cumprod.

Each is checked by ``check_grads`` (fwd and rev, to order 2) over shapes and
axes, against NumPy's values, and at the edges: ties for min, zeros for prod
and cumprod (one and two), float32 staying float32.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

from _inputs import distinct as _distinct, normal as _any
from test_ops import REDUCTION_CASES

COVERED = {"min", "amin", "prod", "var", "std", "cumsum", "cumprod"}


def _away_from_zero(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 1.5, shape)


#: name -> (chainrule function, NumPy function, input maker)
REDUCTIONS = {
    "min": (cnp.min, np.min, _distinct),
    "amin": (cnp.amin, np.amin, _distinct),
    "prod": (cnp.prod, np.prod, _any),
    "var": (cnp.var, np.var, _any),
    "std": (cnp.std, np.std, _any),
    "var ddof=1": (lambda x, **kw: cnp.var(x, ddof=1, **kw), lambda x, **kw: np.var(x, ddof=1, **kw), _any),
    "std ddof=1": (lambda x, **kw: cnp.std(x, ddof=1, **kw), lambda x, **kw: np.std(x, ddof=1, **kw), _any),
}

CASES = REDUCTION_CASES + [((2, 3, 2), None)]


def _valid(name, shape, axis):
    # std of one entry has an infinite derivative (sqrt'(0)); ddof=1 of one entry divides by 0
    n = int(np.prod(shape if axis is None else [shape[a] for a in np.atleast_1d(axis)], dtype=int))
    return not (("std" in name or "ddof" in name) and n <= 1)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", CASES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction(name, shape, axis, keepdims):
    if not _valid(name, shape, axis):
        pytest.skip("derivative not finite for one entry")
    f, np_f, make = REDUCTIONS[name]
    x = make(shape, 1)
    np.testing.assert_allclose(f(x, axis=axis, keepdims=keepdims), np_f(x, axis=axis, keepdims=keepdims))
    traced = cr.jvp(lambda x: f(x, axis=axis, keepdims=keepdims), (x,), (np.ones_like(x),))[0]
    np.testing.assert_allclose(traced, np_f(x, axis=axis, keepdims=keepdims), rtol=1e-12)
    check_grads(lambda x: f(x, axis=axis, keepdims=keepdims), (x,), order=2, modes=("fwd", "rev"))


CUMULATIVE = {"cumsum": (cnp.cumsum, np.cumsum, _any), "cumprod": (cnp.cumprod, np.cumprod, _any)}
CUM_CASES = [((), None), ((3,), None), ((3,), 0), ((3,), -1), ((3, 2), None), ((3, 2), 0),
             ((3, 2), -1), ((2, 3, 2), None), ((2, 3, 2), 1), ((2, 3, 2), -1)]


@pytest.mark.parametrize("shape,axis", CUM_CASES, ids=str)
@pytest.mark.parametrize("name", list(CUMULATIVE))
def test_cumulative(name, shape, axis):
    f, np_f, make = CUMULATIVE[name]
    x = make(shape, 2)
    np.testing.assert_allclose(f(x, axis=axis), np_f(x, axis=axis))
    traced = cr.jvp(lambda x: f(x, axis=axis), (x,), (np.ones_like(x),))[0]
    np.testing.assert_allclose(traced, np_f(x, axis=axis), rtol=1e-12)
    check_grads(lambda x: f(x, axis=axis), (x,), order=2, modes=("fwd", "rev"))


def test_cumsum_vjp_is_reversed_cumsum():
    x = _any((4,), 3)
    g = np.array([1.0, 2.0, 3.0, 4.0])
    _, pull = cr.vjp(cnp.cumsum, x)
    np.testing.assert_allclose(pull(g)[0], np.cumsum(g[::-1])[::-1])


# -- methods ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["min", "prod", "var", "std", "cumsum", "cumprod"])
@pytest.mark.parametrize("kwargs", [{}, {"axis": 0}, {"axis": -1}], ids=str)
def test_methods(method, kwargs):
    x = _distinct((3, 2), 4)
    out = getattr(cr.tensor(x), method)(**kwargs)
    np.testing.assert_allclose(out.detach().numpy(), getattr(x, method)(**kwargs))
    check_grads(lambda x: getattr(x, method)(**kwargs) * 1.5, (x,), order=2)


def test_keepdims_methods_and_ddof():
    x = _any((3, 2), 5)
    check_grads(lambda x: x.var(axis=0, ddof=1, keepdims=True), (x,), order=2)
    check_grads(lambda x: x.prod(axis=-1, keepdims=True), (x,), order=2)
    check_grads(lambda x: x.min(axis=-1, keepdims=True), (_distinct((3, 2), 6),), order=2)


# -- min ties ---------------------------------------------------------------------

def test_min_ties_split_evenly():
    x = np.array([[1.0, 0.5, 0.5], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(cr.grad(lambda x: cnp.min(x, axis=1).sum())(x),
                               [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(cr.grad(cnp.amin)(np.array([3.0, -1.0, -1.0, 2.0, -1.0])),
                               [0.0, 1 / 3, 1 / 3, 0.0, 1 / 3])
    _, t = cr.jvp(cnp.min, (np.array([0.5, 0.5, 1.0]),), (np.array([1.0, 3.0, 7.0]),))
    np.testing.assert_allclose(t, 2.0)


# -- zeros in prod and cumprod -------------------------------------------------------

def _others(x):
    return np.array([np.prod(np.delete(x, j)) for j in range(x.size)])


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, -1.5], [0.0, 2.0, 0.0, 5.0], [0.0, 0.0]], ids=str)
def test_prod_gradient_with_zeros(x):
    x = np.array(x)
    expected = _others(x)
    np.testing.assert_array_equal(cr.grad(cnp.prod)(x), expected)
    np.testing.assert_array_equal(cr.jvp(cnp.prod, (x,), (np.ones_like(x),))[1], expected.sum())
    check_grads(cnp.prod, (x,), order=2)


def test_prod_hessian_with_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0])
    n = x.size
    expected = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                expected[i, j] = np.prod(np.delete(x, [i, j]))
    h = np.stack([cr.grad(lambda x, e=e: cnp.sum(cr.grad(cnp.prod)(x) * e))(x) for e in np.eye(n)])
    np.testing.assert_allclose(h, expected)


def test_prod_with_zeros_along_an_axis():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    g = cr.grad(lambda x: cnp.prod(x, axis=1).sum())(x)
    np.testing.assert_array_equal(g, np.stack([_others(r) for r in x]))
    check_grads(lambda x: cnp.prod(x, axis=0, keepdims=True), (x,), order=2)


def _cumprod_grad_of_sum(x):
    # d/dx_j sum_k prod_{i<=k} x_i = sum_{k>=j} prod_{i<=k, i!=j} x_i
    return np.array([sum(np.prod(np.delete(x[:k + 1], j)) for k in range(j, x.size)) for j in range(x.size)])


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, -1.5], [0.0, 2.0, 0.0, 5.0], [1.5, 2.0, 0.0],
                               [1.5, -2.0, 0.5], [1e-200, 1e-200, 3.0]], ids=str)
def test_cumprod_gradient_with_zeros(x):
    """Zeros (one, two), no zero (the O(n) path), and a partial product that underflows to 0."""
    x = np.array(x)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.cumprod(x).sum())(x), _cumprod_grad_of_sum(x))
    t = np.array([0.5, -1.0, 2.0, 1.0][:x.size])
    jac = np.array([[np.prod(np.delete(x[:k + 1], j)) if j <= k else 0.0 for j in range(x.size)]
                    for k in range(x.size)])
    np.testing.assert_allclose(cr.jvp(cnp.cumprod, (x,), (t,))[1], jac @ t)
    if np.all(np.abs(x) > 1e-100):  # finite differences cannot resolve 1e-200
        check_grads(cnp.cumprod, (x,), order=2)


def test_cumprod_with_zeros_along_axis_0():
    x = np.array([[0.0, 2.0], [3.0, 0.0], [0.0, 4.0]])
    check_grads(lambda x: cnp.cumprod(x, axis=0), (x,), order=2)


# -- dtypes and errors -----------------------------------------------------------------

@pytest.mark.parametrize("fn", ["min", "prod", "var", "std", "cumsum", "cumprod"])
def test_float32_stays_float32(fn):
    x = _away_from_zero((3, 2), 7).astype(np.float32)
    f = getattr(cnp, fn)
    out, t = cr.jvp(lambda x: f(x, axis=0), (x,), (np.ones_like(x),))
    assert out.dtype == np.float32 and t.dtype == np.float32
    g = cr.grad(lambda x: cnp.sum(f(x, axis=0)))(x)
    assert g.dtype == np.float32
    check_grads(lambda x: f(x, axis=0), (x,), order=2)


def test_out_is_refused_and_dtype_casts():
    x = cr.tensor(_any((3,), 8))
    with pytest.raises(TypeError, match="out="):
        cnp.prod(x, out=np.empty(()))
    with pytest.raises(TypeError, match="out="):
        cnp.cumsum(x, out=np.empty(3))
    assert cnp.var(x, dtype=np.float32).dtype == np.float32


def test_bad_axes():
    x = cr.tensor(_any((3, 2), 9))
    with pytest.raises(np.exceptions.AxisError):
        cnp.prod(x, axis=2)
    with pytest.raises(np.exceptions.AxisError):
        cnp.cumsum(x, axis=-3)
    with pytest.raises(TypeError, match="axis"):
        cnp.cumprod(x, axis=(0, 1))


def test_tape_backward_and_numpy_dispatch():
    x = np.array([[2.0, 0.0, 3.0], [1.0, 4.0, 0.5]])
    t = cr.tensor(x, requires_grad=True)
    (t.prod(axis=1).sum() + t.cumprod(axis=1).sum() + t.std()).backward()
    expected = (np.stack([_others(r) for r in x]) + np.stack([_cumprod_grad_of_sum(r) for r in x])
                + (x - x.mean()) / (x.size * x.std()))
    np.testing.assert_allclose(t.grad.numpy() if hasattr(t.grad, "numpy") else t.grad, expected)
