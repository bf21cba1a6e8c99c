"""Linear algebra at and near singular matrices.

Oracles: det is a polynomial in the entries, so its derivatives are checked against
the cofactor matrix and the second-order minors computed by hand, against central
differences (exact up to rounding for a polynomial), and against JAX.
"""
import itertools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def cofactors(a):
    """The cofactor matrix by its definition: signed (n-1)-minors."""
    n = a.shape[0]
    c = np.empty_like(a)
    for i, j in itertools.product(range(n), repeat=2):
        minor = np.delete(np.delete(a, i, 0), j, 1)
        c[i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1.0)
    return c


def det_hessian(a):
    """∂²det/∂a_ij∂a_kl by definition: the signed (n-2)-minor without rows i,k and columns j,l."""
    n = a.shape[0]
    h = np.zeros((n, n, n, n))
    for i, j, k, l in itertools.product(range(n), repeat=4):
        if i == k or j == l:
            continue
        rows = [r for r in range(n) if r not in (i, k)]
        cols = [c for c in range(n) if c not in (j, l)]
        minor = np.linalg.det(a[np.ix_(rows, cols)]) if rows else 1.0
        # the sign of the permutation placing (i→j, k→l) among the rest
        perm_sign = (-1) ** (i + j + k + l) * (1 if (i < k) == (j < l) else -1)
        h[i, j, k, l] = perm_sign * minor
    return h


rng = np.random.default_rng(0)
MATRICES = {
    "rank 2 of 3 (issue)": 0.1 * np.arange(1.0, 10.0).reshape(3, 3),
    "rank 1 of 2": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "rank 1 of 3": np.outer([1.0, -2.0, 0.5], [3.0, 1.0, 2.0]),
    "rank 2 of 4": rng.standard_normal((4, 2)) @ rng.standard_normal((2, 4)),
    "zeros 3": np.zeros((3, 3)),
    "near-singular": 0.1 * np.arange(1.0, 10.0).reshape(3, 3) + 1e-9 * rng.standard_normal((3, 3)),
    "random 4": rng.standard_normal((4, 4)),
    "1x1": np.array([[2.5]]),
    "1x1 zero": np.array([[0.0]]),
    "identity 3": np.eye(3),
}


@pytest.mark.parametrize("name", MATRICES)
def test_det_gradient_is_the_cofactor_matrix(name):
    a = MATRICES[name]
    np.testing.assert_allclose(cr.grad(cnp.linalg.det)(a), cofactors(a), atol=1e-12)
    np.testing.assert_allclose(cr.jacfwd(cnp.linalg.det)(a), cofactors(a), atol=1e-12)


@pytest.mark.parametrize("name", MATRICES)
def test_det_hessian_is_the_second_minors(name):
    a = MATRICES[name]
    expected = det_hessian(a)
    for h in (cr.hessian(cnp.linalg.det)(a), cr.jacrev(cr.grad(cnp.linalg.det))(a),
              cr.jacfwd(cr.jacfwd(cnp.linalg.det))(a)):
        np.testing.assert_allclose(h, expected, atol=1e-12)


def test_the_issue_example():
    a = 0.1 * np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    assert abs(cr.hessian(cnp.linalg.det)(a)[0, 0, 1, 1] - 0.9) < 1e-12
    np.testing.assert_allclose(cr.grad(cnp.linalg.det)(np.array([[1.0, 2.0], [2.0, 4.0]])),
                               [[4.0, -2.0], [-2.0, 1.0]], atol=1e-14)


@pytest.mark.parametrize("name", ["rank 2 of 3 (issue)", "rank 1 of 3", "random 4"])
def test_det_against_finite_differences(name):
    cr.testing.check_grads(cnp.linalg.det, (MATRICES[name],), order=2)


def test_det_stack_and_vmap():
    stack = np.stack([MATRICES["rank 2 of 3 (issue)"], MATRICES["zeros 3"], MATRICES["identity 3"]])
    g = cr.grad(lambda s: cnp.sum(cnp.linalg.det(s) * np.array([1.0, 2.0, 3.0])))(stack)
    np.testing.assert_allclose(g, np.stack([k * cofactors(m) for k, m in zip((1, 2, 3), stack)]), atol=1e-12)
    hv = cr.vmap(cr.hessian(cnp.linalg.det))(stack)
    np.testing.assert_allclose(hv, np.stack([det_hessian(m) for m in stack]), atol=1e-12)


@pytest.mark.parametrize("name", MATRICES)
def test_det_against_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    a = MATRICES[name]
    np.testing.assert_allclose(cr.grad(cnp.linalg.det)(a), jax.grad(jax.numpy.linalg.det)(a), atol=1e-10)
    if name not in ("rank 1 of 3", "rank 2 of 4", "zeros 3"):  # where JAX's LU-based Hessian is exact
        np.testing.assert_allclose(cr.hessian(cnp.linalg.det)(a), jax.hessian(jax.numpy.linalg.det)(a),
                                   atol=1e-10)


@pytest.mark.parametrize("name", ["rank 2 of 3 (issue)", "zeros 3", "random 4"])
def test_det_third_order_is_exact(name):
    """(minors of size n-3 by hand: tests/test_linalg_singular_orders.py)"""
    cr.testing.check_grads(cnp.linalg.det, (MATRICES[name],), order=3)


def test_slogdet_at_a_singular_matrix_says_so():
    with pytest.raises(np.linalg.LinAlgError, match=r"slogdet: the matrix of shape \(2, 2\) is singular"):
        cr.grad(lambda a: cnp.linalg.slogdet(a)[1])(MATRICES["rank 1 of 2"])


@pytest.mark.parametrize("op, f", [
    ("inv", lambda a: cnp.sum(cnp.linalg.inv(a))),
    ("solve", lambda a: cnp.sum(cnp.linalg.solve(a, np.ones(2)))),
    ("cholesky", lambda a: cnp.sum(cnp.linalg.cholesky(a))),
])
def test_no_value_no_derivative_named(op, f):
    with pytest.raises(np.linalg.LinAlgError, match=rf"{op}: .*\(2, 2\)"):
        cr.grad(f)(MATRICES["rank 1 of 2"])


def test_near_singular_inverse_derivatives_match_the_other_mode():
    a = MATRICES["near-singular"] + 1e-3 * np.eye(3)
    f = lambda a: cnp.linalg.inv(a)  # noqa: E731
    np.testing.assert_allclose(cr.jacrev(f)(a), cr.jacfwd(f)(a), rtol=1e-9)


@pytest.mark.parametrize("f", [
    lambda a: cnp.linalg.det(a),
    lambda a: cnp.sum(cnp.linalg.svdvals(a)),
    lambda a: cnp.linalg.norm(a, 2),
    lambda a: cnp.linalg.norm(a, "nuc"),
], ids=["det", "svdvals", "norm 2", "norm nuc"])
def test_an_infinite_entry_gives_nan_not_a_hang(f):
    """LAPACK's SVD never returns on this 3×3 (NumPy 2.4): derivatives through it are NaN,
    or (through eigh, for the singular vectors) a LinAlgError -- never a hang."""
    a = np.array([[np.inf, 1.0, 2.0], [2.0, 3.0, 4.0], [1.0, 1.0, 1.0]])
    with np.errstate(all="ignore"):
        for d in (cr.grad(f), cr.hessian(f)):
            try:
                assert np.isnan(d(a)).all()
            except np.linalg.LinAlgError:
                pass
