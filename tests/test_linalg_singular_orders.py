"""Beyond tests/test_linalg_singular.py: ``det``'s derivatives of every order, and the
derivatives that do not exist (``slogdet`` in forward mode and under vmap, ``eigh``'s
eigenvectors at tied eigenvalues).

``det``'s k-th derivative is the signed minors of size n-k, exact at every rank; the
oracle computes them by hand with ``numpy.linalg.det`` of submatrices, at any order.
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
def test_det_third_derivative_is_the_minors(name):
    a = MATRICES[name]
    if a.shape[0] > 3:
        pytest.skip("n^6 entries")
    exact = _hand_derivative(a, 3)
    np.testing.assert_allclose(cr.jacfwd(cr.hessian(L.det))(a), exact, atol=1e-12)
    np.testing.assert_allclose(cr.jacrev(cr.jacrev(cr.grad(L.det)))(a), exact, atol=1e-12)
    np.testing.assert_allclose(cr.jacfwd(cr.jacfwd(cr.jacfwd(L.det)))(a), exact, atol=1e-12)


def test_det_fourth_derivative_of_a_3x3_is_zero_and_of_a_4x4_the_sign():
    a = MATRICES["issue (rank 2 of 3)"]
    assert not np.any(cr.jacfwd(cr.jacfwd(cr.hessian(L.det)))(a))
    b = MATRICES["rank 2 of 4"]
    d4 = cr.jacfwd(cr.jacfwd(cr.hessian(L.det)))(b)
    for perm in itertools.permutations(range(4)):  # ∂⁴det / ∂b[0,σ0]..∂b[3,σ3] = sgn σ
        assert abs(d4[0, perm[0], 1, perm[1], 2, perm[2], 3, perm[3]] - _sign(perm)) < 1e-12
    np.testing.assert_allclose(np.abs(d4).sum(), 24 * 24)


def test_det_batched_and_under_vmap():
    stack = np.stack([ISSUE, MATRICES["invertible"], np.zeros((3, 3)), MATRICES["rank 1 of 3"]])
    grads = np.stack([_hand_derivative(a, 1) for a in stack])
    hessians = np.stack([_hand_derivative(a, 2) for a in stack])
    np.testing.assert_allclose(cr.grad(lambda s: cnp.sum(L.det(s)))(stack), grads, atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.grad(L.det))(stack), grads, atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.hessian(L.det))(stack), hessians, atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.jacfwd(cr.grad(L.det)))(stack), hessians, atol=1e-12)
    thirds = np.stack([_hand_derivative(a, 3) for a in stack])
    np.testing.assert_allclose(cr.vmap(cr.jacfwd(cr.hessian(L.det)))(stack), thirds, atol=1e-12)


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


def test_inv_solve_cholesky_at_singular_name_the_operation():
    _raises(lambda: cr.grad(lambda a: cnp.sum(L.inv(a)))(SINGULAR), "inv", "ingular")
    _raises(lambda: cr.grad(lambda a: cnp.sum(L.solve(a, np.ones(2))))(SINGULAR), "solve", "ingular")
    _raises(lambda: cr.grad(lambda b: cnp.sum(L.solve(SINGULAR, b)))(np.ones(2)), "solve", "ingular")
    psd_singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    _raises(lambda: cr.grad(lambda a: cnp.sum(L.cholesky(a)))(psd_singular), "cholesky", "positive definite")
    _raises(lambda: cr.vmap(cr.grad(lambda a: cnp.sum(L.inv(a))))(np.stack([np.eye(2), SINGULAR])), "inv")


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
