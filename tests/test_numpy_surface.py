"""NumPy's surface, completed: forms that used to raise (einsum diagonals, matrix 2-norms
through the SVD, Fortran order, every pad mode, traced linspace), and the messages a
user sees for wrong inputs and shape mismatches.

Each feature is checked against NumPy's values, against central differences
(``check_grads``, both modes, order 2), and ``vmap`` against a loop; against JAX where
JAX defines the derivative.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

RNG = np.random.default_rng(0)


def _vmap_matches_loop(f, xs):
    np.testing.assert_allclose(cr.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-12, atol=1e-12)


# -- messages: what the user passed -------------------------------------------------------------

@pytest.mark.parametrize("value,said", [
    ("abc", r"argument 0 is a Python str, 'abc', not a number"),
    (["a", "b"], r"argument 0\[0\] is a Python str, 'a', not a number"),
    (object(), r"argument 0 is a Python object, <object"),
    (np.array(["x"]), r"argument 0 has dtype <U1 \(a numpy.ndarray\)"),
    (3, r"argument 0 has dtype int64 \(a Python int, 3\)"),
    (1 + 2j, r"argument 0 has complex dtype complex128 \(a Python complex, \(1\+2j\)\)"),
])
def test_a_non_float_input_is_named_by_its_python_type(value, said):
    with pytest.raises(TypeError, match=said) as info:
        cr.grad(lambda x: x)(value)
    assert "float" in str(info.value)  # and says what is accepted


# -- messages: shape mismatches quote the operation and both shapes, in every mode ---------------

_MISMATCHES = {
    "matmul": (lambda x: cnp.matmul(x, np.ones((3, 2))), r"^matmul: shapes \(2, 2\) and \(3, 2\) do not align"),
    "dot": (lambda x: cnp.dot(x, np.ones((3, 2))), r"^dot: shapes \(2, 2\) and \(3, 2\) do not align"),
    "dot N-D": (lambda x: cnp.dot(x, np.ones((4, 3, 2))), r"^dot: shapes \(2, 2\) and \(4, 3, 2\)"),
    "tensordot": (lambda x: cnp.tensordot(x, np.ones((3, 2)), 1), r"^tensordot: shapes \(2, 2\) and \(3, 2\)"),
    "inner": (lambda x: cnp.inner(x, np.ones(3)), r"^inner: shapes \(2, 2\) and \(3,\)"),
    "einsum": (lambda x: cnp.einsum("ij,jk->ik", x, np.ones((3, 2))),
               r"^einsum 'ij,jk->ik': index 'j' has size 2 in operand 0 but 3 in operand 1 "
               r"\(operand 0: \(2, 2\), operand 1: \(3, 2\)\)"),
    "solve": (lambda x: cnp.linalg.solve(x, np.ones(3)), r"^solve.*\(2, 2\).*\(3,\)"),
    "add": (lambda x: cnp.add(x, np.ones(3)), r"^add: operands could not be broadcast together with shapes \(2, ?2\),? \(3,\)"),
    "multiply": (lambda x: x * np.ones(3), r"multiply.*\(2, ?2\),? \(3,\)"),
    "where": (lambda x: cnp.where(np.ones(3) > 0, x, 1.0), r"where.*\(3,\),? \(2, ?2\)"),
}


_MISMATCH_CASES = [(n, m) for n in _MISMATCHES for m in ("plain", "grad", "vmap")
                   if not (m == "plain" and n in ("multiply", "where"))]  # on plain arrays those are NumPy's own


@pytest.mark.parametrize("name,mode", _MISMATCH_CASES)
def test_a_shape_mismatch_names_the_operation_and_both_shapes(name, mode):
    f, match = _MISMATCHES[name]
    call = {"plain": lambda: f(np.ones((2, 2))),
            "grad": lambda: cr.grad(lambda x: cnp.sum(f(x)))(np.ones((2, 2))),
            "vmap": lambda: cr.vmap(f)(np.ones((5, 2, 2)))}[mode]
    with pytest.raises(ValueError, match=match):
        call()


# -- einsum with a repeated index in one operand (a diagonal) ------------------------------------

@pytest.mark.parametrize("spec,shapes", [
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("iij->j", [(2, 2, 3)]), ("ii,i->i", [(3, 3), (3,)]),
    ("iji->j", [(2, 3, 2)]), ("iii->i", [(2, 2, 2)]), ("ij,kk->ij", [(2, 3), (2, 2)]),
    ("...ii->...i", [(4, 2, 2)]),
])
def test_einsum_repeated_index_takes_the_diagonal(spec, shapes):
    args = tuple(RNG.normal(size=s) for s in shapes)
    f = lambda *a: cnp.einsum(spec, *a)  # noqa: E731
    np.testing.assert_allclose(f(*args), np.einsum(spec, *args))
    np.testing.assert_allclose(cr.jvp(f, args, args)[0], np.einsum(spec, *args))
    check_grads(lambda *a: cnp.sum(cnp.sin(f(*a))), args, order=2)
    _vmap_matches_loop(lambda x: f(x, *args[1:]), np.stack([args[0], 2 * args[0]]))


def test_einsum_diagonal_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    a = RNG.normal(size=(2, 2, 3))
    ours = cr.grad(lambda x: cnp.sum(cnp.einsum("iij->j", x) ** 2))(a)
    theirs = jax.grad(lambda x: (jax.numpy.einsum("iij->j", x) ** 2).sum())(a)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_einsum_sublist_form():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4))
    np.testing.assert_allclose(cnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    g = cr.grad(lambda x: cnp.sum(cnp.einsum(x, [0, 1], b, [1, 2], [0, 2])))(a)
    np.testing.assert_allclose(g, np.ones((2, 4)) @ b.T)


# -- matrix norms through the singular values -------------------------------------------------

@pytest.mark.parametrize("ord", [2, -2, "nuc", "fro", 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("shape,axis", [((3, 3), None), ((4, 2), None), ((2, 4), None),
                                        ((2, 3, 4), (1, 2)), ((3, 2, 4), (2, 0)), ((3, 4, 2), (-1, 0))])
def test_matrix_norms_values_and_derivatives(ord, shape, axis):
    a = RNG.normal(size=shape)
    f = lambda x: cnp.linalg.norm(x, ord, axis=axis)  # noqa: E731
    np.testing.assert_allclose(f(a), np.linalg.norm(a, ord, axis=axis), rtol=1e-12)
    np.testing.assert_allclose(cr.jvp(f, (a,), (a,))[0], np.linalg.norm(a, ord, axis=axis), rtol=1e-12)
    check_grads(lambda x: cnp.sum(f(x)), (a,), order=2)
    kd = cnp.linalg.norm(a, ord, axis=axis, keepdims=True)
    np.testing.assert_allclose(cr.jvp(lambda x: cnp.linalg.norm(x, ord, axis=axis, keepdims=True), (a,), (a,))[0], kd)


def test_two_norm_gradient_is_u1_v1_and_nuclear_is_u_vt():
    a = RNG.normal(size=(4, 3))
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, 2))(a), np.outer(u[:, 0], vt[0]), atol=1e-10)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, -2))(a), np.outer(u[:, -1], vt[-1]), atol=1e-10)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, "nuc"))(a), u @ vt, atol=1e-10)


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_matrix_norms_vmap_and_jax(ord):
    stack = RNG.normal(size=(3, 4, 3))
    f = lambda x: cnp.linalg.norm(x, ord)  # noqa: E731
    _vmap_matches_loop(f, stack)
    _vmap_matches_loop(cr.grad(f), stack)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for a in stack:
        np.testing.assert_allclose(cr.grad(f)(a), jax.grad(lambda x: jax.numpy.linalg.norm(x, ord))(a), atol=1e-10)
        np.testing.assert_allclose(cr.hessian(f)(a), jax.hessian(lambda x: jax.numpy.linalg.norm(x, ord))(a),
                                   atol=1e-8)


@pytest.mark.parametrize("ord", [3, 0.5, -1, 0, -3])
def test_vector_norms_of_any_order(ord):
    x = RNG.uniform(0.5, 2.0, size=4) * np.array([1, -1, 1, -1])
    f = lambda v: cnp.linalg.norm(v, ord)  # noqa: E731
    np.testing.assert_allclose(f(x), np.linalg.norm(x, ord))
    np.testing.assert_allclose(cr.jvp(f, (x,), (x,))[0], np.linalg.norm(x, ord))
    if ord != 0:
        check_grads(f, (x,), order=2)
    else:
        np.testing.assert_array_equal(cr.grad(f)(x), 0.0)


# -- reshape, ravel and flatten in Fortran order --------------------------------------------------

def test_fortran_order_reshape_ravel_flatten():
    x = RNG.normal(size=(2, 3, 4))
    cases = [(lambda a: cnp.reshape(a, (4, 6), order="F"), lambda a: np.reshape(a, (4, 6), order="F")),
             (lambda a: cnp.reshape(a, (-1, 3), order="F"), lambda a: np.reshape(a, (-1, 3), order="F")),
             (lambda a: cnp.ravel(a, order="F"), lambda a: np.ravel(a, order="F")),
             (lambda a: a.reshape(6, 4, order="F"), lambda a: a.reshape(6, 4, order="F")),
             (lambda a: a.flatten("F"), lambda a: a.flatten("F"))]
    w = RNG.normal(size=24)
    for ours, theirs in cases:
        np.testing.assert_array_equal(cr.jvp(ours, (x,), (x,))[0], theirs(x))
        check_grads(lambda a: cnp.sum(cnp.sin(ours(a)) * theirs(w.reshape(x.shape))), (x,), order=2)
        _vmap_matches_loop(ours, np.stack([x, -x]))
    t = cr.tensor(x, requires_grad=True)
    cnp.sum(t.flatten("F") * w).backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.reshape(w, x.shape, order="F"))


def test_layout_dependent_orders_are_refused_for_traced_values():
    for call in (lambda a: cnp.reshape(a, (6,), order="A"), lambda a: cnp.ravel(a, order="K")):
        with pytest.raises(TypeError, match=r"order='[AK]'.*pass order='C' or order='F'"):
            cr.grad(lambda a: cnp.sum(call(a)))(np.ones((2, 3)))


# -- pad: every NumPy mode, differentiable ------------------------------------------------------

_PAD_CASES = [
    ("constant", {}), ("constant", {"constant_values": ((1.0, 2.0), (3.0, 4.0))}), ("edge", {}),
    ("reflect", {}), ("reflect", {"reflect_type": "odd"}), ("symmetric", {}),
    ("symmetric", {"reflect_type": "odd"}), ("wrap", {}), ("linear_ramp", {}),
    ("linear_ramp", {"end_values": ((1.0, 2.0), (3.0, -1.0))}), ("maximum", {}),
    ("minimum", {"stat_length": 2}), ("mean", {"stat_length": ((1, 2), (3, 1))}), ("mean", {}),
    ("median", {}), ("median", {"stat_length": 2}),
]


@pytest.mark.parametrize("pad_width", [((2, 7), (1, 3)), 2, (0, 1)], ids=["wide", "2", "(0,1)"])
@pytest.mark.parametrize("mode,kw", _PAD_CASES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(_PAD_CASES)])
def test_pad_modes_values_and_derivatives(mode, kw, pad_width):
    x = RNG.normal(size=(3, 4))
    f = lambda a: cnp.pad(a, pad_width, mode, **kw)  # noqa: E731
    want = np.pad(x, pad_width, mode, **kw)
    np.testing.assert_allclose(cr.jvp(f, (x,), (x,))[0], want, rtol=1e-13, atol=1e-13)
    check_grads(lambda a: cnp.sum(cnp.sin(f(a))), (x,), order=2)
    _vmap_matches_loop(f, np.stack([x, 2 * x + 1]))


@pytest.mark.parametrize("mode,kw", [(m, kw) for m, kw in _PAD_CASES if m not in ("median",)])
def test_pad_modes_match_jax(mode, kw):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    x = RNG.normal(size=(3, 4))
    w = RNG.normal(size=np.pad(x, ((2, 7), (1, 3)), mode, **kw).shape)
    ours = cr.grad(lambda a: cnp.sum(cnp.pad(a, ((2, 7), (1, 3)), mode, **kw) * w))(x)
    theirs = jax.grad(lambda a: (jax.numpy.pad(a, ((2, 7), (1, 3)), mode, **kw) * w).sum())(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_pad_traced_constant_and_end_values():
    x = RNG.normal(size=(2, 3))
    cv = np.array([[0.5, -1.0], [2.0, 3.0]])
    check_grads(lambda a, c: cnp.sin(cnp.pad(a, ((1, 2), (2, 1)), constant_values=c)), (x, cv), order=2)
    check_grads(lambda a, c: cnp.sin(cnp.pad(a, ((1, 2), (2, 1)), "linear_ramp", end_values=c)), (x, cv), order=2)
    check_grads(lambda c: cnp.pad(x, 2, constant_values=c), (0.3,), order=2)
    np.testing.assert_allclose(cnp.pad(x, ((1, 2), (2, 1)), "linear_ramp", end_values=cv),
                               cr.jvp(lambda c: cnp.pad(x, ((1, 2), (2, 1)), "linear_ramp", end_values=c),
                                      (cv,), (cv,))[0])
    np.testing.assert_allclose(cr.vmap(lambda c: cnp.pad(x, 1, constant_values=c))(np.array([1.0, 2.0])),
                               np.stack([np.pad(x, 1, constant_values=c) for c in (1.0, 2.0)]))


def test_pad_refuses_what_it_cannot_differentiate_by_name():
    x = np.ones(3)
    with pytest.raises(NotImplementedError, match=r"pad: mode='empty'"):
        cr.grad(lambda a: cnp.sum(cnp.pad(a, 1, "empty")))(x)
    with pytest.raises(NotImplementedError, match=r"pad: mode=<function"):
        cr.grad(lambda a: cnp.sum(cnp.pad(a, 1, lambda *args, **kw: None)))(x)
    with pytest.raises(TypeError, match=r"pad: mode='edge' takes no keyword 'constant_values'"):
        cr.grad(lambda a: cnp.sum(cnp.pad(a, 1, "edge", constant_values=1.0)))(x)


# -- linspace with traced endpoints -----------------------------------------------------------

@pytest.mark.parametrize("num,endpoint", [(5, True), (5, False), (2, True), (1, True), (1, False), (0, True)])
@pytest.mark.parametrize("start,stop,axis", [(0.5, 2.0, 0), (np.array([0.0, 1.0]), np.array([[1.0, 2.0], [3.0, 5.0]]), -1),
                                             (np.array([0.0, 1.0]), 3.0, 1), (np.array([-1.0, 1.0]), 3.0, 0)])
def test_linspace_traced_endpoints(num, endpoint, start, stop, axis):
    def f(a, b):
        return cnp.linspace(a, b, num, endpoint=endpoint, axis=axis, retstep=True)

    want, want_step = np.linspace(start, stop, num, endpoint=endpoint, axis=axis, retstep=True)
    (got, got_step), _ = cr.jvp(f, (start, stop), (start, stop))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(got_step, want_step, rtol=1e-15)
    if num > 0:
        check_grads(lambda a, b: cnp.sin(f(a, b)[0]), (start, stop), order=2)


def test_linspace_derivatives_are_one_minus_t_and_t():
    t = np.linspace(0.0, 1.0, 7)
    np.testing.assert_allclose(cr.jacfwd(lambda a: cnp.linspace(a, 3.0, 7))(0.5), 1 - t)
    np.testing.assert_allclose(cr.jacrev(lambda b: cnp.linspace(0.5, b, 7))(3.0), t)
    _vmap_matches_loop(lambda b: cnp.linspace(0.0, b, 4), np.array([1.0, 2.0, -3.0]))
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    w = np.arange(6.0)
    np.testing.assert_allclose(cr.grad(lambda a, b: cnp.sum(cnp.linspace(a, b, 6, endpoint=False) * w), (0, 1))(0.3, 2.0),
                               jax.grad(lambda a, b: (jax.numpy.linspace(a, b, 6, endpoint=False) * w).sum(), (0, 1))(0.3, 2.0))


def test_linspace_dtype_and_refused_device():
    got = cr.jvp(lambda b: cnp.linspace(0.0, b, 5, dtype=np.float32), (2.0,), (1.0,))[0]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.linspace(0.0, 2.0, 5, dtype=np.float32))
    np.testing.assert_array_equal(cr.jvp(lambda b: cnp.linspace(0.0, b, 5, dtype=int), (7.0,), (1.0,))[0],
                                  np.linspace(0.0, 7.0, 5, dtype=int))
    with pytest.raises(TypeError, match=r"linspace: the keyword device='gpu'"):
        cr.grad(lambda b: cnp.sum(cnp.linspace(0.0, b, 5, device="gpu")))(1.0)


def test_the_tape_agrees_with_grad_on_the_new_forms():
    a = RNG.normal(size=(3, 4))
    fs = [lambda m: cnp.linalg.norm(m, "nuc") + cnp.linalg.norm(m, 2),
          lambda m: cnp.sum(cnp.pad(m, ((1, 2), (3, 0)), "symmetric", reflect_type="odd") ** 2),
          lambda m: cnp.sum(cnp.einsum("ii->i", m[:, :3]) ** 2),
          lambda m: cnp.sum(cnp.linspace(m[0], m[1], 5, axis=1) ** 2)]
    for f in fs:
        t = cr.tensor(a, requires_grad=True)
        f(t).backward()
        np.testing.assert_allclose(t.grad.numpy(), cr.grad(f)(a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (4, 4)])
@pytest.mark.parametrize("kappa", [1e4, 1e8])
def test_norm_gradients_stay_accurate_for_ill_conditioned_matrices(shape, kappa):
    """The singular vectors' values come from NumPy's SVD (error ~ eps·κ, not eps·κ² of the Gram matrix)."""
    m, n = shape
    k = min(shape)
    u0, _ = np.linalg.qr(RNG.normal(size=(m, m)))
    v0, _ = np.linalg.qr(RNG.normal(size=(n, n)))
    a = u0[:, :k] @ np.diag(np.geomspace(1.0, 1.0 / kappa, k)) @ v0[:, :k].T
    u, _, vt = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, "nuc"))(a), u @ vt, atol=1e-12)
    np.testing.assert_allclose(cr.jvp(lambda x: cnp.linalg.norm(x, -2), (a,), (np.outer(u[:, -1], vt[-1]),))[1],
                               1.0, rtol=1e-12)


def test_nuclear_norm_gradient_at_a_rank_deficient_matrix_matches_jax():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    u, _, vt = np.linalg.svd(a)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, "nuc"))(a), u @ vt, atol=1e-14)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, "nuc"))(a),
                               jax.grad(lambda x: jax.numpy.linalg.norm(x, "nuc"))(a), atol=1e-14)


def test_grad_of_none_says_none_is_an_empty_pytree():
    with pytest.raises(ValueError, match=r"no argument is None -- None is an empty pytree"):
        cr.grad(lambda x: cnp.sum(x))(None)
