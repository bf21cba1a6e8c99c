"""Edge points of the primitives with guards: values, grad, jvp and second derivatives.

Oracles: JAX (x64) at ±0, ±inf, ties and huge values, where JAX's answer is the
mathematical one; central finite differences (``check_grads``) where the function is
smooth; the hand-derived limit where chainrule deliberately differs from JAX (each
such point is listed in ``DEVIATIONS`` with its reason, and docs/conventions.md says so).
"""
from __future__ import annotations


import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

from _inputs import quiet

INF = np.inf


_quiet = pytest.fixture(autouse=True)(quiet)  # edge points overflow and divide by zero on purpose


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# -- x ** y: the mixed partial at y = 0 (issue 10, item 1) ---------------------------------

def _pow2(v):
    return v[0] ** v[1]


def test_pow_hessian_at_zero_exponent_is_symmetric_issue_example():
    h = cr.hessian(_pow2)(np.array([1.5, 0.0]))
    np.testing.assert_allclose(h, [[0.0, 1 / 1.5], [1 / 1.5, np.log(1.5) ** 2]], rtol=1e-14)


# Points where x ** y is smooth (x > 0), with y = 0 and y = 1 among them, and x = 0 with y > 1.
SMOOTH = [(1.5, 0.0), (2.0, 0.0), (0.5, 0.0), (3.0, -1.0), (2.5, 1.0), (0.7, 2.2), (4.0, 0.5)]
AT_ZERO = [(0.0, 2.0), (0.0, 3.0), (0.0, 4.0), (0.0, 2.5)]  # y > 2 or integer: finite


@pytest.mark.parametrize("x, y", SMOOTH + AT_ZERO)
def test_pow_hessian_symmetric_and_matches_jax(x, y):
    jax = _jax()
    v = np.array([x, y])
    h_rev = cr.hessian(_pow2)(v)
    h_fwd = cr.jacfwd(cr.jacfwd(_pow2))(v)
    np.testing.assert_allclose(h_rev, h_rev.T, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(h_fwd, h_rev, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(h_rev, np.asarray(jax.hessian(lambda w: w[0] ** w[1])(v)), rtol=1e-13,
                               atol=1e-300)


@pytest.mark.parametrize("x, y", SMOOTH)
def test_pow_derivatives_to_third_order_match_finite_differences(x, y):
    check_grads(lambda a, b: a ** b, (x, y), order=3, eps=1e-4, rtol=1e-5)


def test_pow_guard_with_arrays_and_vmap():
    """Zeros in x and in y, not at the same place: the guard must not touch the others."""
    jax = _jax()
    x = np.array([0.0, 1.5, 2.0, 0.0])
    y = np.array([0.0, 0.0, 3.0, 2.0])
    hv = np.array([0.3, -0.7])

    def f(x, y):
        return cnp.sum(x ** y)

    def hvp(f, x, y, tx, ty):
        return cr.jvp(lambda a, b: cr.grad(f, argnums=(0, 1))(a, b), (x, y), (tx, ty))[1]

    tx, ty = np.full(4, hv[0]), np.full(4, hv[1])
    got = hvp(f, x, y, tx, ty)
    import jax.numpy as jnp
    want = jax.jvp(lambda a, b: jax.grad(lambda a, b: jnp.sum(a ** b), argnums=(0, 1))(a, b),
                   (x, y), (tx, ty))[1]
    # entry 0 is x = y = 0, where chainrule takes every derivative of x ** y as 0 (JAX: nan)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g[1:], np.asarray(w)[1:], rtol=1e-13)
        assert g[0] == 0.0
    # vmap of the mixed partial over the same points, one example at a time
    mixed = cr.vmap(cr.grad(cr.grad(lambda a, b: a ** b, argnums=0), argnums=1))(x, y)
    np.testing.assert_allclose(mixed[1:], [1 / 1.5, 2.0 ** 2 * (1 + 3 * np.log(2.0)), 0.0], rtol=1e-13)
    assert mixed[0] == 0.0


def test_pow_at_zero_zero_is_flat_to_every_order():
    for v in (np.array([0.0, 0.0]),):
        assert np.all(cr.grad(_pow2)(v) == 0.0)
        assert np.all(cr.hessian(_pow2)(v) == 0.0)
    assert cr.grad(lambda x: x ** 0.0)(0.0) == 0.0


# -- the table: value, grad, jvp, second derivatives against JAX -------------------------

def _cases():
    import jax.numpy as jnp
    from jax.scipy import special as jsp
    import jax
    return {
        # name: (chainrule f, jax f, points)
        "abs": (cnp.abs, jnp.abs, [0.0, -0.0, 2.0, -3.0, INF, -INF, 1e308]),
        "sqrt": (cnp.sqrt, jnp.sqrt, [0.0, 4.0, 1e308, INF]),
        "power_x2": (lambda x: x ** 2.0, lambda x: x ** 2.0, [0.0, -0.0, 3.0, -1e154]),
        "power_2y": (lambda y: 2.0 ** y, lambda y: 2.0 ** y, [0.0, -INF, 3.0, 1e3]),
        "power_0y": (lambda y: 0.0 ** y, lambda y: 0.0 ** y, [1.0, 2.5, 3.0]),
        "maximum": (cnp.maximum, jnp.maximum, [(1.0, 1.0), (0.0, -0.0), (INF, INF), (2.0, 1.0), (-INF, 1.0)]),
        "minimum": (cnp.minimum, jnp.minimum, [(1.0, 1.0), (0.0, -0.0), (-INF, -INF), (2.0, 1.0)]),
        "logaddexp": (cnp.logaddexp, jnp.logaddexp,
                      [(INF, -INF), (-INF, 1.0), (1.0, -INF), (-1e308, 1.0), (1.0, 1.0), (0.0, 700.0)]),
        "logaddexp2": (cnp.logaddexp2, jnp.logaddexp2,
                       [(INF, -INF), (-INF, 1.0), (1.0, -INF), (-1e308, 1.0), (1.0, 1.0), (0.0, 700.0)]),
        "arctan2": (cnp.arctan2, jnp.arctan2, [(0.0, 0.0), (1.0, 0.0), (0.0, -1.0)]),
        "hypot": (cnp.hypot, jnp.hypot, [(3.0, 4.0), (0.0, 2.0), (-2.0, 0.0)]),
        "expit": (cnp.special.expit, jsp.expit, [INF, -INF, 1e308, -1e308, 0.0, 40.0, -745.0]),
        "softplus": (cnp.special.softplus, jax.nn.softplus, [INF, -INF, 1e308, -1e308, 0.0, -40.0]),
        "logit": (cnp.special.logit, jsp.logit, [0.5, 1e-300]),
        "relu": (cr.nn.functional.relu, jax.nn.relu, [0.0, -0.0, 2.0, -INF, INF]),
        "clip": (lambda x: cnp.clip(x, 0.0, 1.0), lambda x: jnp.clip(x, 0.0, 1.0), [0.0, 1.0, 0.5, -INF]),
    }


def _derivs(lib, f, p):
    """value, grad, jvp (one per input) and the Hessian of ``f`` at the point ``p``, by ``lib``
    (chainrule or JAX: both spell ``grad``, ``jvp`` and ``hessian`` alike)."""
    p = tuple(np.atleast_1d(np.asarray(p, dtype=float)))
    n = len(p)
    val = f(*p)
    grad = lib.grad(f, argnums=tuple(range(n)))(*p)
    jvps = [lib.jvp(f, p, tuple(float(i == j) for i in range(n)))[1] for j in range(n)]
    hess = lib.hessian(lambda v: f(*[v[i] for i in range(n)]))(np.array(p))
    return val, grad, jvps, hess


def _derivs_cr(f, p):
    return _derivs(cr, f, p)


def _derivs_jax(f, p):
    return _derivs(_jax(), f, p)


def _table():
    pytest.importorskip("jax")
    return [(name, p) for name, (_, _, pts) in _cases().items() for p in pts]


def _params():
    try:
        import jax  # noqa: F401
    except ImportError:
        return [pytest.param("none", 0.0, marks=pytest.mark.skip(reason="jax not installed"))]
    return [pytest.param(name, p, id=f"{name}{p}") for name, p in _table()]


@pytest.mark.parametrize("name, p", _params())
def test_edge_table_matches_jax(name, p):
    _jax()
    f_cr, f_jax, _ = _cases()[name]
    got = _derivs_cr(f_cr, p)
    want = _derivs_jax(f_jax, p)
    for what, g, w in zip(("value", "grad", "jvp", "hessian"), got, want):
        np.testing.assert_allclose(np.asarray(g, dtype=float), np.asarray(w, dtype=float),
                                   rtol=1e-12, atol=1e-15, err_msg=f"{name} at {p}: {what}")


# Where JAX's answer is not the limit of the function, chainrule gives the limit (or the
# convention docs/conventions.md states); JAX's answer is in the comment.
DEVIATIONS = {
    # logaddexp(inf, y) = inf for every finite y: d/dy = exp(y - inf) = 0 (JAX: e^y), and
    # every second derivative is 0 (JAX: d2/dy2 = e^y)
    ("logaddexp", (INF, 1.0)): ((1.0, 0.0), [[0.0, 0.0], [0.0, 0.0]]),
    ("logaddexp2", (INF, 1.0)): ((1.0, 0.0), [[0.0, 0.0], [0.0, 0.0]]),
    # equal infinities tie: 1/2 each, as at a finite tie (JAX: 1, 1 at +inf and nan at -inf)
    ("logaddexp", (INF, INF)): ((0.5, 0.5), [[0.0, 0.0], [0.0, 0.0]]),
    ("logaddexp", (-INF, -INF)): ((0.5, 0.5), [[0.0, 0.0], [0.0, 0.0]]),
    ("logaddexp2", (INF, INF)): ((0.5, 0.5), [[0.0, 0.0], [0.0, 0.0]]),
    ("logaddexp2", (-INF, -INF)): ((0.5, 0.5), [[0.0, 0.0], [0.0, 0.0]]),
    # a tie of huge values: exp(x - ans) rounds to 1 (JAX: 1, 1 and Hessian [[0, -1], [-1, 0]])
    ("logaddexp", (1e308, 1e308)): ((0.5, 0.5), [[0.25, -0.25], [-0.25, 0.25]]),
    # hypot(0, 0) = norm([0, 0]): derivative 0, as norm's at the zero vector (JAX: 1/2, 1/2)
    ("hypot", (0.0, 0.0)): ((0.0, 0.0), [[0.0, 0.0], [0.0, 0.0]]),
}


@pytest.mark.parametrize("name, p", list(DEVIATIONS), ids=[f"{n}{p}" for n, p in DEVIATIONS])
def test_documented_deviations_from_jax(name, p):
    f = {"logaddexp": cnp.logaddexp, "logaddexp2": cnp.logaddexp2, "hypot": cnp.hypot}[name]
    grad, hess = DEVIATIONS[(name, p)]
    _, g, jvps, h = _derivs_cr(f, p)
    np.testing.assert_allclose(np.asarray(g, dtype=float), grad, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(jvps, dtype=float), grad, rtol=1e-15)
    np.testing.assert_allclose(h, hess, rtol=1e-15, atol=1e-300)


def test_norm_inf_at_the_zero_vector_splits_among_all_entries():
    # max(|x|) ties everywhere: 1/n each, summing to the directional derivative along
    # (1, ..., 1), which is 1 (JAX: 1/(2n), its norm takes a maximum with an initial 0)
    g = cr.grad(lambda x: cnp.linalg.norm(x, np.inf))(np.zeros(3))
    np.testing.assert_allclose(g, np.full(3, 1 / 3), rtol=1e-15)
    assert cr.jvp(lambda x: cnp.linalg.norm(x, np.inf), (np.zeros(3),), (np.ones(3),))[1] == 1.0


def test_logaddexp_issue_example_and_mirror():
    assert cr.grad(lambda v: cnp.logaddexp(v, 1.0))(np.inf) == 1.0
    assert cr.grad(lambda v: cnp.logaddexp(1.0, v))(np.inf) == 1.0
    assert cr.grad(lambda v: cnp.logaddexp(1.0, v))(-np.inf) == 0.0
    assert cr.grad(lambda v: cnp.logaddexp2(v, 1.0))(np.inf) == 1.0


def test_logaddexp_smooth_derivatives_match_finite_differences():
    x = np.array([-3.0, 0.5, 20.0])
    y = np.array([1.0, 0.5, -4.0])
    check_grads(cnp.logaddexp, (x, y), order=3, eps=1e-4, rtol=1e-5)
    check_grads(cnp.logaddexp2, (x, y), order=3, eps=1e-4, rtol=1e-5)


def test_logaddexp_at_infinities_under_vmap_and_tape():
    x = np.array([INF, -INF, INF, 2.0])
    y = np.array([INF, -INF, 1.0, 2.0])
    gx, gy = cr.vmap(cr.grad(cnp.logaddexp, argnums=(0, 1)))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 0.5, 1.0, 0.5])
    np.testing.assert_array_equal(gy, [0.5, 0.5, 0.0, 0.5])
    tx, ty = cr.tensor(x, requires_grad=True), cr.tensor(y, requires_grad=True)
    cnp.sum(cnp.logaddexp(tx, ty)).backward()
    np.testing.assert_array_equal(tx.grad.numpy(), gx)
    np.testing.assert_array_equal(ty.grad.numpy(), gy)


def test_hypot_at_zero_second_order_and_elsewhere():
    check_grads(cnp.hypot, (np.array([3.0, -1.0, 0.0]), np.array([4.0, 2.0, 0.5])), order=2,
                eps=1e-5, rtol=1e-5)
    gx, gy = cr.vmap(cr.grad(cnp.hypot, argnums=(0, 1)))(np.array([0.0, 3.0]), np.array([0.0, 4.0]))
    np.testing.assert_allclose(gx, [0.0, 0.6])
    np.testing.assert_allclose(gy, [0.0, 0.8])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_derivative_keeps_dtype(dtype):
    x = np.array([-1.0, 0.0, 2.0], dtype)
    g = cr.grad(lambda v: cnp.sum(cnp.abs(v)))(x)
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, [-1.0, 1.0, 1.0])
    t = cr.jvp(cnp.abs, (x,), (np.ones(3, dtype),))[1]
    assert t.dtype == dtype
    np.testing.assert_array_equal(t, [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(cr.vmap(cr.grad(cnp.abs))(x), [-1.0, 1.0, 1.0])


# -- the other guarded rules: second derivatives at their guard points ---------------------

def _vector_cases():
    import jax
    import jax.numpy as jnp
    return [
        ("prod with zeros", cnp.prod, jnp.prod, [2.0, 0.0, 3.0, 0.0]),
        ("prod with one zero", cnp.prod, jnp.prod, [2.0, 0.0, 3.0]),
        ("cumprod with zeros", lambda v: cnp.sum(cnp.cumprod(v) * np.arange(1.0, 5.0)),
         lambda v: jnp.sum(jnp.cumprod(v) * np.arange(1.0, 5.0)), [2.0, 0.0, 3.0, 0.5]),
        ("max ties", lambda v: cnp.max(v) * cnp.sum(v), lambda v: jnp.max(v) * jnp.sum(v), [1.0, 3.0, 3.0]),
        ("maximum ties", lambda v: cnp.sum(cnp.maximum(v, v[::-1]) * v), lambda v: jnp.sum(jnp.maximum(v, v[::-1]) * v),
         [1.0, 2.0, 1.0]),
        ("abs at 0", lambda v: cnp.sum(cnp.abs(v) * v), lambda v: jnp.sum(jnp.abs(v) * v), [0.0, -1.0, 2.0]),
        ("relu at 0", lambda v: cnp.sum(cr.nn.functional.relu(v) * v), lambda v: jnp.sum(jax.nn.relu(v) * v),
         [0.0, -1.0, 2.0]),
        ("power with y = 0 entries", lambda v: cnp.sum(v[:2] ** v[2:]), lambda v: jnp.sum(v[:2] ** v[2:]),
         [1.5, 0.5, 0.0, 0.0]),
        ("logsumexp with -inf", cnp.special.logsumexp, jax.scipy.special.logsumexp, [1.0, -INF, 0.0]),
        ("norm(x, 1) at 0", lambda v: cnp.linalg.norm(v, 1) ** 2, lambda v: jnp.linalg.norm(v, 1) ** 2,
         [0.0, 1.0, -2.0]),
    ]


def _vector_params():
    try:
        import jax  # noqa: F401
    except ImportError:
        return [pytest.param(0, marks=pytest.mark.skip(reason="jax not installed"))]
    return [pytest.param(i, id=c[0]) for i, c in enumerate(_vector_cases())]


@pytest.mark.parametrize("i", _vector_params())
def test_guarded_rules_hessians_match_jax(i):
    jax = _jax()
    name, f, jf, x = _vector_cases()[i]
    x = np.array(x)
    h = cr.hessian(f)(x)
    np.testing.assert_allclose(h, np.asarray(jax.hessian(jf)(x)), rtol=1e-13, atol=1e-300, err_msg=name)
    np.testing.assert_allclose(cr.jacfwd(cr.grad(f))(x), h, rtol=1e-13, atol=1e-300, err_msg=name)
    np.testing.assert_allclose(h, h.T, rtol=1e-13, atol=1e-300, err_msg=name)
