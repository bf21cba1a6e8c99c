"""``chainrule.numpy.special`` (expit, logit, softplus, logsumexp, erf, gammaln, digamma,
polygamma) and the creation functions (full, full_like, eye, identity, arange, linspace).

Special functions: values against SciPy, derivatives to order 2 in both modes by
``check_grads`` on safe domains and several shapes, and stability at +-1000.
Creation functions: values against NumPy, and constants inside ``cr.grad``.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.special as sc

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._ops import special as sp  # the functions of cnp.special (see test_namespace)
from chainrule.testing import check_grads

#: The top-level ``chainrule.numpy`` names this file tests (read by tests/test_ops.py).
COVERED = {"full", "full_like", "eye", "identity", "arange", "linspace"}

SHAPES = [(), (3,), (2, 3)]


def _make(lo, hi, shape, seed):
    return np.asarray(np.random.default_rng(seed).uniform(lo, hi, shape))


# -- namespace -------------------------------------------------------------------------


def test_namespace_lists_the_special_functions():
    assert cnp.special.__all__ == sp.SPECIAL
    assert set(sp.SPECIAL) == {"expit", "logit", "softplus", "logsumexp", "erf", "gammaln",
                               "digamma", "polygamma"}
    assert not set(sp.SPECIAL) & set(cnp.__all__)  # not top-level names
    assert not any(hasattr(cnp, n) for n in sp.SPECIAL)


def test_namespace_exports_the_special_functions():
    for name in sp.SPECIAL:
        assert getattr(cnp.special, name) is getattr(sp, name)


# -- values against SciPy -------------------------------------------------------------

ELEMENTWISE = {  # name: (ours, SciPy's, safe domain)
    "expit": (sp.expit, sc.expit, (-4.0, 4.0)),
    "logit": (sp.logit, sc.logit, (0.1, 0.9)),
    "softplus": (sp.softplus, lambda x: np.logaddexp(0.0, x), (-4.0, 4.0)),
    "erf": (sp.erf, sc.erf, (-2.0, 2.0)),
    "gammaln": (sp.gammaln, sc.gammaln, (0.5, 4.0)),
    "digamma": (sp.digamma, sc.digamma, (0.5, 4.0)),
    "polygamma(1)": (lambda x: sp.polygamma(1, x), lambda x: sc.polygamma(1, x), (0.5, 4.0)),
    "polygamma(2)": (lambda x: sp.polygamma(2, x), lambda x: sc.polygamma(2, x), (0.5, 4.0)),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_values_match_scipy(name, shape):
    f, ref, (lo, hi) = ELEMENTWISE[name]
    x = _make(lo, hi, shape, 1)
    np.testing.assert_allclose(f(x), ref(x), rtol=1e-13, atol=1e-15)
    assert np.shape(f(x)) == shape


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_derivatives_order_2(name, shape):
    f, _, (lo, hi) = ELEMENTWISE[name]
    x = _make(lo, hi, shape, 2)
    check_grads(lambda v: f(v), (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", ["expit", "logit", "softplus", "erf", "gammaln", "digamma"])
def test_derivative_closed_forms(name):
    f, _, (lo, hi) = ELEMENTWISE[name]
    x = _make(lo, hi, (5,), 3)
    expected = {
        "expit": sc.expit(x) * sc.expit(-x),
        "logit": 1 / (x * (1 - x)),
        "softplus": sc.expit(x),
        "erf": 2 / np.sqrt(np.pi) * np.exp(-x ** 2),
        "gammaln": sc.digamma(x),
        "digamma": sc.polygamma(1, x),
    }[name]
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(f(v)))(x), expected, rtol=1e-12)
    _, t = cr.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(t, expected, rtol=1e-12)


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_float32_stays_float32(name):
    f, ref, (lo, hi) = ELEMENTWISE[name]
    x = _make(lo, hi, (4,), 10).astype(np.float32)
    assert f(x).dtype == np.float32
    np.testing.assert_allclose(f(x), ref(x.astype(np.float64)), rtol=1e-5)
    g = cr.grad(lambda v: cnp.sum(f(v)))(x)
    assert g.dtype == np.float32 and np.all(np.isfinite(g))


def test_logsumexp_float32():
    x = _make(-2.0, 2.0, (2, 3), 11).astype(np.float32)
    assert sp.logsumexp(x, axis=1).dtype == np.float32
    g = cr.grad(lambda v: cnp.sum(sp.logsumexp(v, axis=0)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, sc.softmax(x.astype(np.float64), axis=0), rtol=1e-5)


def test_gammaln_second_derivative_is_trigamma():
    x = np.array([0.7, 1.0, 2.5])
    d2 = cr.grad(lambda v: cnp.sum(cr.grad(lambda u: cnp.sum(sp.gammaln(u)))(v)))(x)
    np.testing.assert_allclose(d2, sc.polygamma(1, x), rtol=1e-12)


def test_composite_with_tape_tensors():
    x = cr.tensor(np.array([0.2, 0.6]), requires_grad=True)
    y = cnp.sum(sp.softplus(x) * sp.expit(x) + sp.logit(x))
    y.backward()
    v = np.array([0.2, 0.6])
    expected = sc.expit(v) * sc.expit(v) + np.logaddexp(0, v) * sc.expit(v) * (1 - sc.expit(v)) + 1 / (v * (1 - v))
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


def test_polygamma_rejects_a_negative_order():
    with pytest.raises(ValueError, match="non-negative"):
        sp.polygamma(-1, 1.0)


# -- logsumexp -------------------------------------------------------------------------

LSE_CASES = [  # shape, axis, keepdims
    ((), None, False), ((4,), None, False), ((4,), 0, True), ((2, 3), None, False),
    ((2, 3), 0, False), ((2, 3), 1, True), ((2, 3), -1, False), ((2, 3, 2), (0, 2), False),
    ((2, 3, 2), (0, 2), True),
]


@pytest.mark.parametrize("shape,axis,keepdims", LSE_CASES)
def test_logsumexp_values_and_derivatives(shape, axis, keepdims):
    x = _make(-2.0, 2.0, shape, 4)
    out = sp.logsumexp(x, axis=axis, keepdims=keepdims)
    ref = sc.logsumexp(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out, ref, rtol=1e-13)
    assert np.shape(out) == np.shape(ref)
    check_grads(lambda v: sp.logsumexp(v, axis=axis, keepdims=keepdims), (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("bshape", [(2, 3), (3,), (2, 1)])
def test_logsumexp_with_b(bshape):
    x = _make(-2.0, 2.0, (2, 3), 5)
    b = _make(0.5, 2.0, bshape, 6)
    np.testing.assert_allclose(sp.logsumexp(x, axis=1, b=b), sc.logsumexp(x, axis=1, b=b), rtol=1e-13)
    np.testing.assert_allclose(sp.logsumexp(x, b=b), sc.logsumexp(x, b=b), rtol=1e-13)
    check_grads(lambda v, w: sp.logsumexp(v, axis=1, b=w), (x, b), order=2, modes=("fwd", "rev"))
    check_grads(lambda v: sp.logsumexp(v, b=b, keepdims=True), (x,), order=2, modes=("fwd", "rev"))


def test_logsumexp_b_broadcasts_beyond_a():
    x = _make(-1.0, 1.0, (3,), 7)
    b = _make(0.5, 2.0, (2, 3), 8)
    np.testing.assert_allclose(sp.logsumexp(x, axis=1, b=b), sc.logsumexp(x, axis=1, b=b), rtol=1e-13)
    check_grads(lambda v, w: sp.logsumexp(v, axis=1, b=w), (x, b), order=2, modes=("fwd", "rev"))


def test_logsumexp_gradient_is_softmax():
    x = _make(-2.0, 2.0, (2, 3), 9)
    g = cr.grad(lambda v: cnp.sum(sp.logsumexp(v, axis=1)))(x)
    np.testing.assert_allclose(g, sc.softmax(x, axis=1), rtol=1e-13)


def test_logsumexp_is_one_primitive():
    from chainrule._core.primitive import REGISTRY
    assert REGISTRY["logsumexp"] is sp.logsumexp_p


def test_logsumexp_bad_axis():
    with pytest.raises(np.exceptions.AxisError, match="logsumexp"):
        cr.grad(lambda v: sp.logsumexp(v, axis=2))(np.ones((2, 3)))


def test_logsumexp_all_minus_inf():
    x = np.array([-np.inf, -np.inf])
    with np.errstate(**STRICT):
        assert sp.logsumexp(x) == -np.inf


# -- stability at +-1000 --------------------------------------------------------------

STRICT = dict(over="raise", invalid="raise", divide="raise")  # underflow to 0 is fine
BIG = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])


def _finite_grads(f, x, expected_grad):
    with np.errstate(**STRICT):
        g = cr.grad(lambda v: cnp.sum(f(v)))(x)
        _, t = cr.jvp(f, (x,), (np.ones_like(x),))
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(t))
    np.testing.assert_allclose(g, expected_grad, rtol=1e-13, atol=0)
    np.testing.assert_allclose(t, expected_grad, rtol=1e-13, atol=0)


def test_expit_is_stable():
    with np.errstate(**STRICT):
        y = sp.expit(BIG)
    np.testing.assert_allclose(y, sc.expit(BIG), rtol=1e-14)
    _finite_grads(sp.expit, BIG, sc.expit(BIG) * sc.expit(-BIG))
    d2 = cr.grad(lambda v: cnp.sum(cr.grad(lambda u: cnp.sum(sp.expit(u)))(v)))(BIG)
    assert np.all(np.isfinite(d2))


def test_softplus_is_stable():
    with np.errstate(**STRICT):
        y = sp.softplus(BIG)
    np.testing.assert_allclose(y, np.logaddexp(0.0, BIG), rtol=1e-15)
    assert y[-1] == 1000.0 and y[0] == 0.0
    _finite_grads(sp.softplus, BIG, sc.expit(BIG))
    d2 = cr.grad(lambda v: cnp.sum(cr.grad(lambda u: cnp.sum(sp.softplus(u)))(v)))(BIG)
    np.testing.assert_allclose(d2, sc.expit(BIG) * sc.expit(-BIG), rtol=1e-13)


@pytest.mark.parametrize("x", [np.array([1000.0, 1000.0, 999.0]), np.array([-1000.0, -1000.0, -999.0]),
                               np.array([1000.0, -1000.0, 0.0])])
def test_logsumexp_is_stable(x):
    with np.errstate(**STRICT):
        y = sp.logsumexp(x)
    np.testing.assert_allclose(y, sc.logsumexp(x), rtol=1e-15)
    with np.errstate(under="ignore"):
        soft = sc.softmax(x)
    with np.errstate(**STRICT):
        g = cr.grad(sp.logsumexp)(x)
        _, t = cr.jvp(sp.logsumexp, (x,), (np.ones_like(x),))
        h = cr.grad(lambda v: cnp.sum(cr.grad(sp.logsumexp)(v) * np.arange(3.0)))(x)
    assert np.all(np.isfinite(g)) and np.isfinite(t) and np.all(np.isfinite(h))
    np.testing.assert_allclose(g, soft, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(t, 1.0, rtol=1e-13)


# -- SciPy is imported lazily ----------------------------------------------------------


@pytest.mark.parametrize("name", ["erf", "gammaln", "digamma"])
def test_missing_scipy_gives_a_clear_error(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # `import scipy.special` now fails
    monkeypatch.delattr(sys.modules["scipy"], "special", raising=False)
    with pytest.raises(ImportError, match=rf"chainrule\.numpy\.special\.{name} needs SciPy.*chainrule\[special\]"):
        getattr(sp, name)(np.array([1.0]))
    # and inside a transform too
    with pytest.raises(ImportError, match="needs SciPy"):
        cr.grad(lambda v: cnp.sum(getattr(sp, name)(v)))(np.array([1.0]))
    assert sp.expit(0.0) == 0.5  # the NumPy-only functions still work


def test_module_import_does_not_import_scipy():
    import subprocess
    code = ("import sys, chainrule.numpy as cnp, chainrule._ops.special as s; "
            "s.expit(1.0); s.logsumexp([1.0, 2.0]); print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- creation: NumPy's values, constants inside cr.grad ---------------------------------

CREATION = [  # (ours, NumPy's)
    (lambda: cnp.full((2, 3), 1.5), lambda: np.full((2, 3), 1.5)),
    (lambda: cnp.full(3, 2, dtype=np.float32), lambda: np.full(3, 2, dtype=np.float32)),
    (lambda: cnp.full_like(np.ones((2, 2)), 4.0), lambda: np.full_like(np.ones((2, 2)), 4.0)),
    (lambda: cnp.full_like(np.ones(3, dtype=np.float32), 4), lambda: np.full_like(np.ones(3, dtype=np.float32), 4)),
    (lambda: cnp.eye(3), lambda: np.eye(3)),
    (lambda: cnp.eye(2, 4, k=-1, dtype=np.float32), lambda: np.eye(2, 4, k=-1, dtype=np.float32)),
    (lambda: cnp.identity(3), lambda: np.identity(3)),
    (lambda: cnp.arange(5), lambda: np.arange(5)),
    (lambda: cnp.arange(1, 7, 2), lambda: np.arange(1, 7, 2)),
    (lambda: cnp.arange(0.0, 1.0, 0.25), lambda: np.arange(0.0, 1.0, 0.25)),
    (lambda: cnp.arange(2, 5, dtype=float), lambda: np.arange(2, 5, dtype=float)),
    (lambda: cnp.linspace(0.0, 1.0, 7), lambda: np.linspace(0.0, 1.0, 7)),
    (lambda: cnp.linspace(0.0, 1.0, 4, endpoint=False), lambda: np.linspace(0.0, 1.0, 4, endpoint=False)),
    (lambda: cnp.linspace([0.0, 1.0], [1.0, 3.0], 3, axis=1), lambda: np.linspace([0.0, 1.0], [1.0, 3.0], 3, axis=1)),
]


@pytest.mark.parametrize("k", range(len(CREATION)))
def test_creation_matches_numpy(k):
    ours, ref = CREATION[k]
    a, b = ours(), ref()
    assert type(a) is np.ndarray and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


def test_linspace_retstep():
    a, step = cnp.linspace(0.0, 2.0, 5, retstep=True)
    np.testing.assert_array_equal(a, np.linspace(0.0, 2.0, 5))
    assert step == 0.5


def test_creation_functions_are_constants_inside_grad():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])

    def f(v):
        n = v.shape[0]
        consts = (cnp.full_like(v, 2.0), cnp.full(v.shape, 3.0), cnp.eye(n), cnp.identity(n),
                  cnp.arange(n, dtype=float), cnp.linspace(0.0, 1.0, n))
        for c in consts:
            assert type(c) is np.ndarray
        fl, fu, e, i, ar, ls = consts
        return cnp.sum(v * fl + v * fu + v * e + v * i + v * ar + v * ls)

    n = 2
    expected = 2.0 + 3.0 + 2 * np.eye(n) + np.arange(n, dtype=float) + np.linspace(0.0, 1.0, n)
    np.testing.assert_allclose(cr.grad(f)(x), expected)
    _, t = cr.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(t, np.sum(expected))
    tape = cr.tensor(x, requires_grad=True)
    assert not isinstance(cnp.full_like(tape, 1.0), cr.Tensor)


def test_full_with_a_traced_fill_value_is_differentiable():
    check_grads(lambda v: cnp.full((2, 3), v), (np.array(1.5),), order=2, modes=("fwd", "rev"))
    check_grads(lambda v: cnp.full((2, 3), v), (np.array([1.0, 2.0, 3.0]),), order=2, modes=("fwd", "rev"))
    assert cr.grad(lambda v: cnp.sum(cnp.full_like(np.ones(4), v)))(2.0) == 4.0


@pytest.mark.parametrize("make", [
    lambda v: cnp.arange(v), lambda v: cnp.arange(0.0, v, 0.5), lambda v: cnp.eye(2, k=v),
])
def test_creation_rejects_traced_arguments_clearly(make):
    with pytest.raises(TypeError, match="traced value"):
        cr.grad(lambda v: cnp.sum(make(v)))(2.0)
