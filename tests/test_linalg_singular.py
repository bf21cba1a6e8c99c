"""Linear algebra at and near singular matrices: exact derivatives or a clear error.

``det``'s derivatives of every order are signed minors (the cofactor matrix, then
minors of size n-2, n-3, ...), exact at every rank; oracles: those minors computed
by hand with ``numpy.linalg.det`` of submatrices, central differences (``det`` is a
polynomial), the other mode, and JAX (x64).  ``slogdet``, ``inv``, ``solve``,
``cholesky`` and ``eigh``'s eigenvectors have no derivative at singular (or, for
``eigh``, tied) inputs: they raise ``LinAlgError`` naming the operation.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

L = cnp.linalg

ISSUE = 0.1 * np.arange(1.0, 10.0).reshape(3, 3)  # rank 2
MATRICES = {
    "issue (rank 2 of 3)": ISSUE,
    "rank 1 of 2": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "zeros 3x3": np.zeros((3, 3)),
    "rank 1 of 3": np.outer([1.0, -2.0, 0.5], [3.0, 1.0, -1.0]),
    "rank 2 of 4": np.outer([1.0, 2.0, 0.0, -1.0], [1.0, 0.0, 1.0, 2.0]) + np.outer([0.0, 1.0, 1.0, 1.0], [2.0, -1.0, 0.0, 1.0]),
    "near singular": ISSUE + 1e-9 * np.array([[1.0, 0.0, -2.0], [0.5, 1.0, 0.0], [0.0, 3.0, 1.0]]),
    "invertible": np.array([[2.0, -1.0, 0.5], [1.0, 3.0, 0.0], [0.0, 1.0, 1.5]]),
    "1x1 zero": np.zeros((1, 1)),
}


def _minor_derivative(a, rows, cols):
    """``∂^k det / ∂a[rows[0], cols[0]] ... ∂a[rows[-1], cols[-1]]`` by hand: a signed minor."""
    if len(set(rows)) < len(rows) or len(set(cols)) < len(cols):
        return 0.0
    keep_r = [i for i in range(a.shape[0]) if i not in rows]
    keep_c = [j for j in range(a.shape[1]) if j not in cols]
    # det(a) = Σ_σ sgn σ Π a[i, σ(i)]: fixing σ(rows[r]) = cols[r] leaves the minor, with the
    # sign of the permutation that puts rows → cols first and the rest in order
    perm_rows = list(rows) + keep_r
    perm_cols = list(cols) + keep_c
    sign = _sign(perm_rows) * _sign(perm_cols)
    sub = a[np.ix_(keep_r, keep_c)]
    return sign * (np.linalg.det(sub) if sub.size else 1.0)


def _sign(p):
    return -1.0 if sum(p[i] > p[j] for i in range(len(p)) for j in range(i + 1, len(p))) % 2 else 1.0


def _hand_derivative(a, order):
    n = a.shape[0]
    out = np.zeros((n, n) * order)
    for pos in itertools.product(range(n), repeat=2 * order):
        out[pos] = _minor_derivative(a, pos[0::2], pos[1::2])
    return out


@pytest.mark.parametrize("name", list(MATRICES))
def test_det_gradient_is_the_cofactor_matrix(name):
    a = MATRICES[name]
    exact = _hand_derivative(a, 1)
    for g in (cr.grad(L.det)(a), cr.jacfwd(L.det)(a), cr.jacrev(L.det)(a)):
        np.testing.assert_allclose(g, exact, atol=1e-12 * max(1.0, np.abs(a).max()) ** 2)


@pytest.mark.parametrize("name", list(MATRICES))
def test_det_hessian_and_third_derivative_are_minors(name):
    a = MATRICES[name]
    np.testing.assert_allclose(cr.hessian(L.det)(a), _hand_derivative(a, 2), atol=1e-12)
    np.testing.assert_allclose(cr.jacrev(cr.jacfwd(L.det))(a), _hand_derivative(a, 2), atol=1e-12)
    if a.shape[0] <= 3:
        np.testing.assert_allclose(cr.jacfwd(cr.hessian(L.det))(a), _hand_derivative(a, 3), atol=1e-12)
        np.testing.assert_allclose(cr.jacrev(cr.jacrev(cr.grad(L.det)))(a), _hand_derivative(a, 3), atol=1e-12)


def test_the_issue_example():
    assert abs(cr.hessian(L.det)(ISSUE)[0, 0, 1, 1] - 0.9) < 1e-14
    np.testing.assert_allclose(cr.grad(L.det)(np.array([[1.0, 2.0], [2.0, 4.0]])),
                               [[4.0, -2.0], [-2.0, 1.0]], atol=1e-14)


@pytest.mark.parametrize("name", list(MATRICES))
def test_det_finite_differences_to_order_three(name):
    a = MATRICES[name]
    check_grads(L.det, (a,), order=3 if a.shape[0] <= 3 else 2)


@pytest.mark.parametrize("name", list(MATRICES))
def test_det_against_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    a = MATRICES[name]
    j = jax.numpy.asarray(a)
    np.testing.assert_allclose(cr.grad(L.det)(a), jax.grad(jax.numpy.linalg.det)(j), atol=1e-10)
    if np.linalg.matrix_rank(a) >= a.shape[0] - 1:  # JAX's LU-based Hessian is nan below rank n-1
        np.testing.assert_allclose(cr.hessian(L.det)(a), jax.hessian(jax.numpy.linalg.det)(j), atol=1e-8)


def test_det_batched_and_under_vmap():
    stack = np.stack([ISSUE, MATRICES["invertible"], np.zeros((3, 3)), MATRICES["rank 1 of 3"]])
    grads = np.stack([_hand_derivative(a, 1) for a in stack])
    hessians = np.stack([_hand_derivative(a, 2) for a in stack])
    np.testing.assert_allclose(cr.grad(lambda s: cnp.sum(L.det(s)))(stack), grads, atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.grad(L.det))(stack), grads, atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.hessian(L.det))(stack), hessians, atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.jacfwd(cr.grad(L.det)))(stack), hessians, atol=1e-12)


def test_det_float32_keeps_its_dtype():
    a = ISSUE.astype(np.float32)
    g = cr.grad(L.det)(a)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, _hand_derivative(ISSUE, 1), atol=1e-5)


# -- the rest of numpy.linalg: a derivative that exists is right, one that does not is refused --

def _raises(fn, op, *words):
    with pytest.raises(np.linalg.LinAlgError) as info:
        fn()
    msg = str(info.value)
    assert msg.startswith(f"{op}:"), msg
    for w in words:
        assert w in msg, msg


SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


def test_slogdet_at_singular_is_refused_in_both_modes():
    sign, logdet = L.slogdet(SINGULAR)
    assert sign == 0 and logdet == -np.inf  # the value is fine (as NumPy)
    f = lambda a: L.slogdet(a)[1]
    _raises(lambda: cr.grad(f)(SINGULAR), "slogdet", "singular", "-inf")
    _raises(lambda: cr.jvp(f, (SINGULAR,), (np.eye(2),)), "slogdet", "singular")
    _raises(lambda: cr.grad(f)(np.zeros((3, 3))), "slogdet", "singular")


def test_slogdet_near_singular_is_inv_transpose():
    a = MATRICES["near singular"]
    np.testing.assert_allclose(cr.grad(lambda a: L.slogdet(a)[1])(a), np.linalg.inv(a).T, rtol=1e-6)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    np.testing.assert_allclose(cr.grad(lambda a: L.slogdet(a)[1])(a),
                               jax.grad(lambda a: jax.numpy.linalg.slogdet(a)[1])(a), rtol=1e-6)


def test_inv_solve_cholesky_at_singular_name_the_operation():
    _raises(lambda: cr.grad(lambda a: cnp.sum(L.inv(a)))(SINGULAR), "inv", "ingular")
    _raises(lambda: cr.grad(lambda a: cnp.sum(L.solve(a, np.ones(2))))(SINGULAR), "solve", "ingular")
    _raises(lambda: cr.grad(lambda b: cnp.sum(L.solve(SINGULAR, b)))(np.ones(2)), "solve", "ingular")
    psd_singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    _raises(lambda: cr.grad(lambda a: cnp.sum(L.cholesky(a)))(psd_singular), "cholesky", "positive definite")
    _raises(lambda: cr.vmap(cr.grad(lambda a: cnp.sum(L.inv(a))))(np.stack([np.eye(2), SINGULAR])), "inv")


def test_inv_and_solve_near_singular_match_the_formulas():
    """Large but right: as accurate as the inverse itself (condition number about 1e5 here)."""
    a = ISSUE + 1e-4 * np.array([[1.0, 0.0, -2.0], [0.5, 1.0, 0.0], [0.0, 3.0, 1.0]])
    ai = np.linalg.inv(a)
    w = np.random.default_rng(0).standard_normal((3, 3))
    scale = np.abs(ai.T @ w @ ai.T).max()
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(L.inv(a) * w))(a), -ai.T @ w @ ai.T,
                               atol=1e-8 * scale)
    b = w[0]
    x = np.linalg.solve(a, b)
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(L.solve(a, b)))(a),
                               -np.outer(ai.T @ np.ones(3), x), atol=1e-8 * scale)


def test_eigh_repeated_eigenvalues():
    a = np.diag([2.0, 2.0, 5.0])
    # a function of the eigenvalues that is symmetric in the tied pair is differentiable
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(L.eigh(a)[0]))(a), np.eye(3), atol=1e-14)
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(L.eigh(a)[0] ** 2))(a), 2 * a, atol=1e-14)
    # the eigenvectors are not: reverse mode refuses, forward mode gives nan (as JAX)
    f = lambda a: cnp.sum(L.eigh(a)[1] ** 3)
    _raises(lambda: cr.grad(f)(a), "eigh", "repeated")
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0]
    rotated = q @ np.diag([1.0, 1.0, 3.0]) @ q.T  # tied only up to rounding
    _raises(lambda: cr.grad(f)((rotated + rotated.T) / 2), "eigh", "repeated")
    _, tv = cr.jvp(lambda a: L.eigh(a)[1], (a,), (np.ones((3, 3)),))
    assert np.isnan(tv).any()
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    _, jtv = jax.jvp(lambda a: jax.numpy.linalg.eigh(a)[1], (a,), (np.ones((3, 3)),))
    assert np.isnan(np.asarray(jtv)).any()
    # distinct but close eigenvalues: a (large) derivative, checked by finite differences
    # (symmetrised input and squared entries: finite differences see neither NumPy's lower
    # triangle nor its choice of signs)
    check_grads(lambda a: L.eigh((a + a.T) / 2)[1] ** 2,
                (np.diag([1.0, 1.0 + 1e-3, 3.0]) + 1e-4 * np.ones((3, 3)),), order=1, rtol=1e-4)
