"""cnp.linalg.svd, qr, pinv, lstsq: NumPy's values; derivatives against central differences
(both modes, order 2), against JAX, under vmap/jit/the tape; the cases without a
derivative (repeated singular values, full_matrices of a non-square matrix, wide QR)
say so by name."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

L = cnp.linalg
COVERED: set = set()  # tests/test_ops.py reads this; the names here are in cnp.linalg, not at the top level
RNG = np.random.default_rng(3)
SHAPES = [(4, 3), (3, 3), (3, 5), (2, 4, 3), (2, 3, 4)]


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# gauge-invariant functions of the factors (unchanged when a pair of vectors flips sign)
def _svd_fn(lib, w):
    def f(a):
        u, s, vt = lib.svd(a, full_matrices=False)
        return ((u ** 2) * w[0]).sum() + ((vt ** 2) * w[1]).sum() + (s * w[2]).sum() \
            + (u[..., :, :1] * vt[..., :1, :] * w[3]).sum()  # u₁v₁ᵀ
    return f


def _qr_fn(lib, w):
    def f(a):
        q, r = lib.qr(a)
        return ((q ** 2) * w[0]).sum() + ((r ** 2) * w[1]).sum() + (q[..., :, :1] * r[..., :1, :] * w[2]).sum()
    return f


def _weights(shape, kind):
    m, n = shape[-2:]
    k = min(m, n)
    b = shape[:-2]
    if kind == "svd":
        return [RNG.normal(size=b + s) for s in [(m, k), (k, n), (k,), (m, n)]]
    return [RNG.normal(size=b + s) for s in [(m, n), (n, n), (m, n)]]


@pytest.mark.parametrize("shape", SHAPES)
def test_svd(shape):
    a = RNG.normal(size=shape)
    u, s, vt = L.svd(cr.tensor(a), full_matrices=False)
    U, S, VT = np.linalg.svd(a, full_matrices=False)
    for ours, theirs in ((u, U), (s, S), (vt, VT)):  # S: LAPACK's values-only path, to rounding
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-14, atol=0)
    w = _weights(shape, "svd")
    check_grads(_svd_fn(cnp.linalg, w), (a,), order=2)
    jax = _jax()
    np.testing.assert_allclose(cr.grad(_svd_fn(cnp.linalg, w))(a), jax.grad(_svd_fn(jax.numpy.linalg, w))(a),
                               rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(cr.hessian(_svd_fn(cnp.linalg, w))(a),
                               jax.hessian(_svd_fn(jax.numpy.linalg, w))(a), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3)])
def test_svd_full_matrices_of_a_square_matrix_is_the_thin_one(shape):
    a = RNG.normal(size=shape)
    for ours, theirs in zip(L.svd(cr.tensor(a)), np.linalg.svd(a)):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-14, atol=0)
    check_grads(lambda a: L.svd(a)[0] ** 2 + L.svd(a)[2] ** 2, (a,), order=2)


def test_svd_plain_values_and_numpy_dispatch():
    a = RNG.normal(size=(4, 3))
    for kw in ({}, {"full_matrices": False}):
        for ours, theirs in zip(L.svd(a, **kw), np.linalg.svd(a, **kw)):
            assert type(ours) is np.ndarray
            np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(L.svd(a, compute_uv=False), np.linalg.svd(a, compute_uv=False))
    t = cr.tensor(a, requires_grad=True)
    s = np.linalg.svd(t, compute_uv=False)  # NumPy's function on a Tensor dispatches here
    cnp.sum(s).backward()
    u, _, vt = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(t.grad.numpy(), u @ vt, atol=1e-14)


def test_svd_of_repeated_singular_values_says_why():
    a = np.diag([2.0, 2.0, 1.0])
    with pytest.raises(np.linalg.LinAlgError, match="singular value 2 is repeated"):
        cr.grad(lambda a: cnp.sum(L.svd(a)[0] ** 2 * np.arange(9.0).reshape(3, 3)))(a)
    _, t = cr.jvp(lambda a: L.svd(a)[0], (a,), (RNG.normal(size=(3, 3)),))
    assert np.isnan(t).any()  # forward mode: nan, as JAX
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(L.svd(a)[1]))(a), np.eye(3))  # values: fine


def test_svd_refusals():
    t = cr.tensor(RNG.normal(size=(4, 3)), requires_grad=True)
    u, s, vt = L.svd(t)  # values of the full factors, as NumPy's
    assert u.shape == (4, 4) and vt.shape == (3, 3)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        cnp.sum(u).backward()
    with pytest.raises(TypeError, match="svd.*hermitian"):
        L.svd(t, hermitian=True)
    with pytest.raises(np.linalg.LinAlgError, match="2 dimensions"):
        L.svd(cr.tensor([1.0, 2.0], requires_grad=True))


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (2, 5, 3)])
def test_qr(shape):
    a = RNG.normal(size=shape)
    q, r = L.qr(cr.tensor(a))
    Q, R = np.linalg.qr(a)
    np.testing.assert_array_equal(q.numpy(), Q)
    np.testing.assert_array_equal(r.numpy(), R)
    np.testing.assert_array_equal(L.qr(cr.tensor(a), mode="r").numpy(), R)
    w = _weights(shape, "qr")
    check_grads(_qr_fn(cnp.linalg, w), (a,), order=2)
    check_grads(lambda a: L.qr(a), (a,), order=2)  # LAPACK's signs are locally constant
    jax = _jax()
    np.testing.assert_allclose(cr.grad(_qr_fn(cnp.linalg, w))(a), jax.grad(_qr_fn(jax.numpy.linalg, w))(a),
                               rtol=1e-9, atol=1e-10)


def test_qr_plain_and_refusals():
    a = RNG.normal(size=(4, 3))
    for mode in ("reduced", "complete", "r", "raw"):
        ours, theirs = L.qr(a, mode), np.linalg.qr(a, mode)
        for o, t in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
            np.testing.assert_array_equal(o, t)
    t = cr.tensor(a, requires_grad=True)
    with pytest.raises(NotImplementedError, match="mode='reduced'"):
        L.qr(t, mode="complete")
    with pytest.raises(TypeError, match="raw"):
        L.qr(t, mode="raw")
    q, r = L.qr(cr.tensor(a.T, requires_grad=True))  # wide: values, but no derivative
    np.testing.assert_allclose(q.detach().numpy() @ r.detach().numpy(), a.T, atol=1e-14)
    with pytest.raises(NotImplementedError, match="wide 3×4"):
        cnp.sum(r).backward()


@pytest.mark.parametrize("shape", SHAPES)
def test_pinv(shape):
    a = RNG.normal(size=shape)
    np.testing.assert_allclose(L.pinv(cr.tensor(a)).numpy(), np.linalg.pinv(a), rtol=1e-14, atol=1e-14)
    check_grads(L.pinv, (a,), order=2)
    jax = _jax()
    w = RNG.normal(size=shape[:-2] + shape[-2:][::-1])
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(L.pinv(a) * w))(a),
                               jax.grad(lambda a: (jax.numpy.linalg.pinv(a) * w).sum())(a), rtol=1e-9)


def test_pinv_at_a_rank_deficient_matrix_matches_jax():
    """Where the rank is locally constant the formula holds at rank < min(m, n) too (finite
    differences would change the rank, so JAX, which uses the same formula, is the reference)."""
    a = RNG.normal(size=(4, 2)) @ RNG.normal(size=(2, 3))  # rank 2
    w = RNG.normal(size=(3, 4))
    jax = _jax()
    np.testing.assert_allclose(L.pinv(cr.tensor(a)).numpy(), np.linalg.pinv(a), atol=1e-13)
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(L.pinv(a) * w))(a),
                               jax.grad(lambda a: (jax.numpy.linalg.pinv(a) * w).sum())(a), rtol=1e-8, atol=1e-10)
    _, t = cr.jvp(L.pinv, (a,), (w.T,))
    _, jt = jax.jvp(jax.numpy.linalg.pinv, (a,), (w.T,))
    np.testing.assert_allclose(t, jt, rtol=1e-8, atol=1e-10)


def test_pinv_keywords():
    a = np.diag([1.0, 1e-3, 0.0])
    t = cr.tensor(a)
    for kw in ({}, {"rcond": 1e-2}, {"rtol": None}, {"rtol": 1e-2}, {"hermitian": True}):
        np.testing.assert_allclose(L.pinv(t, **kw).numpy(), np.linalg.pinv(a, **kw))
    with pytest.raises(ValueError, match="rtol and rcond"):
        L.pinv(t, rcond=1e-2, rtol=1e-2)


@pytest.mark.parametrize("m,n,k", [(5, 3, None), (5, 3, 2), (3, 3, None), (3, 5, 2)])
def test_lstsq(m, n, k):
    a, b = RNG.normal(size=(m, n)), RNG.normal(size=(m,) if k is None else (m, k))
    ours = L.lstsq(cr.tensor(a), cr.tensor(b))
    theirs = np.linalg.lstsq(a, b)
    np.testing.assert_allclose(ours[0].numpy(), theirs[0], rtol=1e-12, atol=1e-13)
    res = ours[1].numpy() if isinstance(ours[1], cr.Tensor) else ours[1]
    assert res.shape == theirs[1].shape
    np.testing.assert_allclose(res, theirs[1], rtol=1e-12)
    assert int(np.asarray(ours[2].numpy() if isinstance(ours[2], cr.Tensor) else ours[2])) == theirs[2]
    np.testing.assert_allclose(ours[3].numpy(), theirs[3], rtol=1e-14)
    check_grads(lambda a, b: L.lstsq(a, b)[0], (a, b), order=2)
    if m > n:
        check_grads(lambda a, b: L.lstsq(a, b)[1], (a, b), order=2)
    jax = _jax()
    ours = cr.grad(lambda a, b: cnp.sum(L.lstsq(a, b)[0] ** 2), (0, 1))(a, b)
    theirs = jax.grad(lambda a, b: (jax.numpy.linalg.lstsq(a, b)[0] ** 2).sum(), (0, 1))(a, b)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, t, rtol=1e-8, atol=1e-10)


def test_lstsq_rank_deficient_has_no_residuals_and_its_rank():
    a = RNG.normal(size=(5, 2)) @ RNG.normal(size=(2, 3))
    b = RNG.normal(size=5)
    x, res, rank, s = L.lstsq(cr.tensor(a, requires_grad=True), b)
    X, RES, RANK, S = np.linalg.lstsq(a, b)
    assert res.shape == RES.shape == (0,) and rank == RANK == 2
    np.testing.assert_allclose(x.detach().numpy(), X, atol=1e-12)


@pytest.mark.parametrize("f", [
    lambda a: L.svd(a, full_matrices=False)[0] ** 2, lambda a: L.svd(a, full_matrices=False)[2] ** 2,
    lambda a: L.qr(a)[0] ** 2, lambda a: L.qr(a)[1], lambda a: L.pinv(a),
    lambda a: L.lstsq(a, np.arange(4.0))[0]], ids=["svd U", "svd Vt", "qr Q", "qr R", "pinv", "lstsq"])
def test_vmap_jit_tape(f):
    xs = RNG.normal(size=(3, 4, 3))
    np.testing.assert_allclose(cr.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(cr.jit(f)(xs[0]), f(xs[0]), rtol=1e-12, atol=1e-13)
    w = np.cos(np.arange(np.size(f(xs[0])))).reshape(np.shape(f(xs[0])))
    g = cr.grad(lambda a: cnp.sum(f(a) * w))
    t = cr.tensor(xs[0], requires_grad=True)
    cnp.sum(f(t) * w).backward()
    np.testing.assert_allclose(t.grad.numpy(), g(xs[0]), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(cr.vmap(g)(xs), np.stack([g(x) for x in xs]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.jit(g)(xs[0]), g(xs[0]), rtol=1e-10, atol=1e-12)
