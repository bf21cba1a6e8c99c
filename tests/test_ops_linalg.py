"""Linear algebra: tensordot einsum outer inner trace diagonal diag and the linalg namespace.

Oracles: NumPy's values, and ``check_grads`` (finite differences) to order 2
in both modes.  Matrices are small and well conditioned.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._ops import linalg as LA
from chainrule.testing import check_grads

COVERED = {"tensordot", "einsum", "outer", "inner", "trace", "diagonal", "diag"}

rng = np.random.default_rng(42)


def _r(*shape):
    return rng.standard_normal(shape)


def _wc(n, *batch):
    """A well-conditioned (n, n) matrix (or stack)."""
    return _r(*batch, n, n) * 0.3 + 2.0 * np.eye(n)


def _spd(a):
    """A symmetric positive definite function of ``a`` (differentiable)."""
    n = a.shape[-1]
    return cnp.matmul(a, cnp.swapaxes(a, -1, -2)) + n * np.eye(n)


def _check(f, args, **kw):
    check_grads(f, args, order=2, modes=("fwd", "rev"), **kw)


# -- top-level functions ---------------------------------------------------------------

TOP = {
    "tensordot(axes=2)": (lambda a, b: cnp.tensordot(a, b), lambda a, b: np.tensordot(a, b), [(2, 3, 2), (3, 2, 2)]),
    "tensordot(axes=1)": (lambda a, b: cnp.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1), [(2, 3), (3, 2)]),
    "tensordot(axes=pairs)": (lambda a, b: cnp.tensordot(a, b, ([0, 2], [1, 0])),
                              lambda a, b: np.tensordot(a, b, ([0, 2], [1, 0])), [(2, 3, 2), (2, 2, 3)]),
    "outer": (cnp.outer, np.outer, [(3,), (2, 2)]),
    "inner(1d)": (cnp.inner, np.inner, [(3,), (3,)]),
    "inner(nd)": (cnp.inner, np.inner, [(2, 3), (2, 3)]),
    "trace": (cnp.trace, np.trace, [(3, 3)]),
    "trace(offset)": (lambda a: cnp.trace(a, 1), lambda a: np.trace(a, 1), [(3, 4)]),
    "diagonal": (cnp.diagonal, np.diagonal, [(3, 3)]),
    "diagonal(3d)": (lambda a: cnp.diagonal(a, -1, 1, 2), lambda a: np.diagonal(a, -1, 1, 2), [(2, 3, 3)]),
    "diag(1d)": (cnp.diag, np.diag, [(3,)]),
    "diag(1d,k=1)": (lambda v: cnp.diag(v, 1), lambda v: np.diag(v, 1), [(2,)]),
    "diag(1d,k=-2)": (lambda v: cnp.diag(v, -2), lambda v: np.diag(v, -2), [(2,)]),
    "diag(2d)": (cnp.diag, np.diag, [(3, 3)]),
    "diag(2d,k=-1)": (lambda a: cnp.diag(a, -1), lambda a: np.diag(a, -1), [(3, 3)]),
}

EINSUM = {
    "ij,jk->ik": [(2, 3), (3, 2)],
    "ij->ji": [(2, 3)],
    "i,i->": [(3,)] * 2,
    "bij,bjk->bik": [(2, 2, 3), (2, 3, 2)],
    "ij->": [(2, 3)],
    "...ij,...jk": [(2, 2, 3), (3, 2)],
    "ij,jk": [(2, 3), (3, 2)],
    "ij,jk,kl->il": [(2, 3), (3, 2), (2, 2)],
    "i,j->ij": [(2,), (3,)],
    "ij->i": [(2, 3)],
    "...i,...i->...": [(2, 3), (1, 3)],
}


@pytest.mark.parametrize("name", list(TOP))
def test_top_level_values_and_grads(name):
    f, ref, shapes = TOP[name]
    args = [_r(*s) for s in shapes]
    np.testing.assert_allclose(f(*args), ref(*args))
    # traced values equal NumPy's too
    np.testing.assert_allclose(cr.jvp(f, tuple(args), tuple(np.zeros_like(a) for a in args))[0], ref(*args))
    _check(f, args)


@pytest.mark.parametrize("subs", list(EINSUM))
def test_einsum(subs):
    args = [_r(*s) for s in EINSUM[subs]]
    f = lambda *xs: cnp.einsum(subs, *xs)  # noqa: E731
    np.testing.assert_allclose(f(*args), np.einsum(subs, *args))
    np.testing.assert_allclose(cr.jvp(f, tuple(args), tuple(np.zeros_like(a) for a in args))[0],
                               np.einsum(subs, *args))
    _check(f, args)


def test_trace_grad_is_identity():
    np.testing.assert_allclose(cr.grad(cnp.trace)(_r(3, 3)), np.eye(3))


# -- cnp.linalg ---------------------------------------------------------------------------

def test_linalg_names_are_listed():
    assert set(LA.LINALG) == {"inv", "solve", "det", "slogdet", "cholesky", "norm", "eigh", "svdvals"}
    for n in LA.LINALG:
        assert callable(getattr(LA, n)) and getattr(LA, n).__doc__
        assert getattr(cnp.linalg, n) is getattr(LA, n)


def test_numpy_linalg_on_tracers_dispatches():
    a = _wc(2)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(np.linalg.inv(x)))(a),
                               cr.grad(lambda x: cnp.sum(LA.inv(x)))(a))


@pytest.mark.parametrize("batch", [(), (2,)])
def test_inv(batch):
    a = _wc(2, *batch)
    np.testing.assert_allclose(LA.inv(a), np.linalg.inv(a))
    _check(LA.inv, (a,))


@pytest.mark.parametrize("bshape", [(3,), (3, 2)])
def test_solve(bshape):
    a, b = _wc(3), _r(*bshape)
    np.testing.assert_allclose(LA.solve(a, b), np.linalg.solve(a, b))
    _check(LA.solve, (a, b))


def test_solve_batched():
    a, b = _wc(2, 2), _r(2, 2, 1)
    np.testing.assert_allclose(LA.solve(a, b), np.linalg.solve(a, b))
    _check(LA.solve, (a, b))


def test_solve_batched_b():
    a, b = _wc(2), _r(3, 2, 2)
    np.testing.assert_allclose(LA.solve(a, b), np.linalg.solve(a, b))
    _check(LA.solve, (a, b))


def test_solve_only_b_traced():
    a, b = _wc(2, 3), _r(2)
    _check(lambda v: LA.solve(a, v), (b,))
    _check(lambda m: LA.solve(a, m), (_r(2, 1),))


def test_solve_batched_a_vector_b():
    a, b = _wc(2, 3), _r(2)
    np.testing.assert_allclose(LA.solve(a, b), np.linalg.solve(a, b))
    _check(LA.solve, (a, b))


@pytest.mark.parametrize("batch", [(), (2,)])
def test_det(batch):
    a = _wc(3, *batch)
    np.testing.assert_allclose(LA.det(a), np.linalg.det(a))
    _check(LA.det, (a,))


def test_slogdet():
    a = _wc(3) - 4.0 * np.eye(3)  # negative determinant
    sign, logabs = LA.slogdet(a)
    s_np, l_np = np.linalg.slogdet(a)
    assert sign == s_np and np.isclose(logabs, l_np)
    traced_sign = []

    def f(x):
        s, la = LA.slogdet(x)
        traced_sign.append(float(s))
        return la
    _check(f, (a,))
    assert set(traced_sign) == {float(s_np)}
    np.testing.assert_allclose(cr.grad(f)(a), np.linalg.inv(a).T)


def test_slogdet_batched():
    a = _wc(2, 2)
    np.testing.assert_allclose(LA.slogdet(a)[1], np.linalg.slogdet(a)[1])
    _check(lambda x: LA.slogdet(x)[1], (a,))


@pytest.mark.parametrize("batch", [(), (2,)])
def test_cholesky(batch):
    a = _r(*batch, 3, 3)
    s = np.matmul(a, np.swapaxes(a, -1, -2)) + 3 * np.eye(3)
    np.testing.assert_allclose(LA.cholesky(s), np.linalg.cholesky(s))
    _check(lambda x: LA.cholesky(_spd(x)), (a,))


def test_cholesky_gradient_is_symmetric():
    a = _r(3, 3)
    s = a @ a.T + 3 * np.eye(3)
    g = cr.grad(lambda x: cnp.sum(LA.cholesky(x) * np.arange(9.0).reshape(3, 3)))(s)
    np.testing.assert_allclose(g, g.T)


NORMS = {
    "vector": (lambda x: LA.norm(x), (3,)),
    "vector ord=2": (lambda x: LA.norm(x, 2), (3,)),
    "frobenius": (lambda x: LA.norm(x), (2, 3)),
    "fro keepdims": (lambda x: LA.norm(x, "fro", keepdims=True), (2, 3)),
    "axis=1": (lambda x: LA.norm(x, axis=1), (2, 3)),
    "axis=0 keepdims": (lambda x: LA.norm(x, axis=0, keepdims=True), (2, 3)),
    "ord=1": (lambda x: LA.norm(x, 1), (3,)),
    "ord=inf": (lambda x: LA.norm(x, np.inf), (3,)),
    "ord=-inf": (lambda x: LA.norm(x, -np.inf), (3,)),
    "matrix ord=1": (lambda x: LA.norm(x, 1), (2, 3)),
    "matrix ord=inf": (lambda x: LA.norm(x, np.inf), (2, 3)),
    "matrix axes (1, 2)": (lambda x: LA.norm(x, axis=(1, 2)), (2, 2, 3)),
    "3d flattened": (lambda x: LA.norm(x), (2, 2, 3)),
}


@pytest.mark.parametrize("name", list(NORMS))
def test_norm(name):
    f, shape = NORMS[name]
    x = _r(*shape)
    np.testing.assert_allclose(f(x), _numpy_norm(name, x))
    _check(f, (x,))


def _numpy_norm(name, x):
    return {
        "vector": lambda: np.linalg.norm(x), "vector ord=2": lambda: np.linalg.norm(x, 2),
        "frobenius": lambda: np.linalg.norm(x), "fro keepdims": lambda: np.linalg.norm(x, "fro", keepdims=True),
        "axis=1": lambda: np.linalg.norm(x, axis=1),
        "axis=0 keepdims": lambda: np.linalg.norm(x, axis=0, keepdims=True),
        "ord=1": lambda: np.linalg.norm(x, 1), "ord=inf": lambda: np.linalg.norm(x, np.inf),
        "ord=-inf": lambda: np.linalg.norm(x, -np.inf), "matrix ord=1": lambda: np.linalg.norm(x, 1),
        "matrix ord=inf": lambda: np.linalg.norm(x, np.inf),
        "matrix axes (1, 2)": lambda: np.linalg.norm(x, axis=(1, 2)), "3d flattened": lambda: np.linalg.norm(x),
    }[name]()


def test_norm_traced_value_matches_numpy():
    x = _r(2, 3)
    for name, (f, shape) in NORMS.items():
        if shape == x.shape:
            np.testing.assert_allclose(cr.jvp(f, (x,), (np.zeros_like(x),))[0], _numpy_norm(name, x))


def test_norm_gradient_at_zero_is_zero():
    np.testing.assert_array_equal(cr.grad(LA.norm)(np.zeros(3)), np.zeros(3))
    np.testing.assert_array_equal(cr.grad(lambda x: LA.norm(x))(np.zeros((2, 2))), np.zeros((2, 2)))


def _sym_in(a):
    return a + cnp.swapaxes(a, -1, -2) + 5.0 * np.eye(a.shape[-1])


def test_eigh_values():
    a = _r(3, 3)
    s = a + a.T
    w, v = LA.eigh(s)
    w_np, v_np = np.linalg.eigh(s)
    np.testing.assert_allclose(w, w_np)
    np.testing.assert_allclose(v, v_np)


@pytest.mark.parametrize("batch", [(), (2,)])
def test_eigh_eigenvalues(batch):
    _check(lambda a: LA.eigh(_sym_in(a))[0], (_r(*batch, 3, 3),))


def test_eigh_reconstruction():
    def f(a):
        w, v = LA.eigh(_sym_in(a))
        return cnp.matmul(v * cnp.reshape(w, (1, 3)), v.T)
    _check(f, (_r(3, 3),))


def test_eigh_squared_eigenvectors():
    _check(lambda a: LA.eigh(_sym_in(a))[1] ** 2, (_r(3, 3),))


def test_eigh_eigenvector_invariant_with_eigenvalues():
    def f(a):
        w, v = LA.eigh(_sym_in(a))
        return cnp.sum(v ** 2 * cnp.reshape(w, (1, 2)), axis=1)
    _check(f, (_r(2, 2),))


def test_einsum_with_a_constant_operand():
    w = _r(3, 2)
    _check(lambda x: cnp.einsum("ij,jk->ik", x, w), (_r(2, 3),))
    _check(lambda x: cnp.einsum("ij,jk->ik", w.T, x), (_r(3, 2),))


def test_einsum_operand_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="operands"):
        cr.grad(lambda x: cnp.sum(cnp.einsum("ij,jk->ik", x)))(_r(2, 2))


def test_tape_tensor_through_linalg():
    m = _wc(2)
    a = cr.Tensor(m, requires_grad=True)
    out = cnp.sum(LA.inv(a)) + cnp.trace(a)
    out.backward()
    mi = np.linalg.inv(m)
    np.testing.assert_allclose(np.asarray(a.grad), -mi.T @ np.ones((2, 2)) @ mi.T + np.eye(2))
