"""``cr.jet`` (Taylor mode): its convention, pytrees, errors, and composition with grad/jit/vmap.

The oracle is nested ``cr.jvp``: the k-th coefficient of ``jet`` is the k-th derivative of
``t -> f(x(t))`` at 0 along the path ``x(t) = x_0 + sum_k x_k t^k / k!`` (``path_derivatives``),
and ``jax.experimental.jet`` where JAX is installed.  Every primitive of the op tables is
checked in ``test_jet_ops.py``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.primitive import REGISTRY
from chainrule.testing import check_grads


def path_derivatives(f, primals, series):
    """``[d^k/dt^k f(x(t)) at 0 for k = 1..K]`` by K nested ``cr.jvp`` in the scalar t."""
    K = len(series[0])

    def path(t):
        xs = []
        for x, s in zip(primals, series):
            for k, c in enumerate(s, 1):
                x = x + c * (t ** k / math.factorial(k))
            xs.append(x)
        return f(*xs)

    out, g = [], path
    for _ in range(K):
        g = (lambda g: lambda t: cr.jvp(g, (t,), (1.0,))[1])(g)
        out.append(g(0.0))
    return out


def random_series(primals, K, seed):
    rng = np.random.default_rng(seed)
    return tuple([rng.standard_normal(np.shape(x)) * 0.5 for _ in range(K)] for x in primals)


def assert_jet(f, primals, series, rtol=1e-9, atol=1e-10):
    """``cr.jet`` against nested ``cr.jvp``, and against ``jax.experimental.jet`` if JAX is here."""
    y, ys = cr.jet(f, tuple(primals), series)
    np.testing.assert_allclose(y, f(*primals), rtol=1e-12, atol=1e-14)
    want = path_derivatives(f, primals, series)
    assert len(ys) == len(want)
    for k, (a, b) in enumerate(zip(ys, want), 1):
        b = np.asarray(b)
        assert np.shape(a) == np.shape(b), f"coefficient {k}: shape {np.shape(a)} != {np.shape(b)}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"coefficient {k}")
    return ys


def jax_jet(jf, primals, series):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax.experimental.jet import jet
    return jet(jf, tuple(np.asarray(x, float) for x in primals),
               tuple([np.asarray(c, float) for c in s] for s in series))


# -- the convention --------------------------------------------------------------------

def test_sin_coefficients_are_derivatives_along_the_path():
    # x(t) = t: the coefficients are sin's derivatives at 0
    y, ys = cr.jet(cnp.sin, (0.0,), ([1.0, 0.0, 0.0, 0.0],))
    assert y == 0.0
    np.testing.assert_allclose(ys, [1.0, 0.0, -1.0, 0.0], atol=1e-15)
    # x(t) = 0.3 + t + t^2/2: y'' = cos(x) x'' - sin(x) x'^2 (hand-derived)
    x = 0.3
    _, (y1, y2) = cr.jet(cnp.sin, (x,), ([1.0, 1.0],))
    assert y1 == pytest.approx(np.cos(x))
    assert y2 == pytest.approx(np.cos(x) - np.sin(x))


@pytest.mark.parametrize("K", [1, 2, 3, 4])
def test_a_composite_against_nested_jvp_and_jax(K):
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    f = lambda x: cnp.sum(cnp.tanh(x @ W + b) ** 2 * cnp.exp(-x[0]))  # noqa: E731
    x = rng.standard_normal(3)
    series = random_series([x], K, 1)
    ys = assert_jet(f, [x], series)
    import_jnp = pytest.importorskip("jax.numpy")
    _, jys = jax_jet(lambda x: import_jnp.sum(import_jnp.tanh(x @ W + b) ** 2 * import_jnp.exp(-x[0])),
                     [x], series)
    np.testing.assert_allclose(ys, jys, rtol=1e-10, atol=1e-12)


def test_constant_arguments_and_symbolic_zeros():
    # an argument whose series is all zeros, and an output independent of the path
    y, ys = cr.jet(lambda x, c: x * c + 1.0, (2.0, 3.0), ([1.0, 0.0], [0.0, 0.0]))
    assert y == 7.0 and list(ys) == [3.0, 0.0]
    y, ys = cr.jet(lambda x: cnp.ones(3), (2.0,), ([1.0, 2.0],))
    assert len(ys) == 2 and all(np.array_equal(c, np.zeros(3)) for c in ys)


def test_order_zero_is_the_value():
    y, ys = cr.jet(cnp.exp, (1.0,), ([],))
    assert y == pytest.approx(np.e) and list(ys) == []


def test_pytree_primals_and_outputs():
    def f(p):
        return {"a": p["w"] * p["v"], "b": (cnp.exp(p["w"]),)}
    w, v = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    dw, dv = np.array([1.0, 0.5]), np.array([0.0, 1.0])
    y, ys = cr.jet(f, ({"w": w, "v": v},), ([{"w": dw, "v": dv}, {"w": dw, "v": dv}],))
    assert set(ys) == {"a", "b"} and len(ys["a"]) == 2 and len(ys["b"][0]) == 2
    np.testing.assert_allclose(ys["a"][0], dw * v + w * dv)
    np.testing.assert_allclose(ys["a"][1], dw * v + w * dv + 2 * dw * dv)
    np.testing.assert_allclose(ys["b"][0][1], np.exp(w) * (dw + dw ** 2))


def test_pytree_output_matches_jax():
    jnp = pytest.importorskip("jax.numpy")
    _, ys = cr.jet(lambda x: {"a": x * x, "b": cnp.exp(x)}, (1.0,), ([1.0, 0.5],))
    _, jys = jax_jet(lambda x: {"a": x * x, "b": jnp.exp(x)}, [1.0], ([1.0, 0.5],))
    for key in ("a", "b"):
        np.testing.assert_allclose(ys[key], jys[key], rtol=1e-14)


# -- bad input ---------------------------------------------------------------------------

def test_series_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"jet: series\[1\] has 1 terms but series\[0\] has 2"):
        cr.jet(lambda x, y: x * y, (1.0, 2.0), ([1.0, 0.0], [1.0]))


def test_a_coefficient_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"jet: series\[0\]\[1\] has shape \(2,\) but its primal has shape \(3,\)"):
        cr.jet(cnp.sin, (np.zeros(3),), ([np.zeros(3), np.zeros(2)],))


def test_one_series_per_primal():
    with pytest.raises(ValueError, match="jet: 2 primals but 1 series"):
        cr.jet(lambda x, y: x * y, (1.0, 2.0), ([1.0],))
    with pytest.raises(TypeError, match=r"jet: series\[0\] must be a list of coefficients"):
        cr.jet(cnp.sin, (1.0,), (np.ones(2),))
    with pytest.raises(TypeError, match="jet: primals and series must be tuples"):
        cr.jet(cnp.sin, 1.0, [1.0])


def test_a_structure_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"jet: series\[0\]\[0\] has structure"):
        cr.jet(lambda p: p["a"], ({"a": 1.0},), ([{"b": 1.0}],))


def test_an_integer_primal_is_refused():
    with pytest.raises(TypeError, match=r"jet: primals\[0\]"):
        cr.jet(cnp.sin, (np.arange(3),), ([np.ones(3)],))


def test_converting_a_jet_value_to_numpy_says_what_to_do():
    with pytest.raises(TypeError, match="cr.jet"):
        cr.jet(lambda x: np.asarray(x), (1.0,), ([1.0],))


# -- composition ---------------------------------------------------------------------------

def _mlp(params, x):
    W1, b1, W2 = params
    return cnp.tanh(x @ W1 + b1) @ W2


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, 5)), rng.standard_normal(5), rng.standard_normal((5, 1)))


def test_grad_of_a_jet_output_against_finite_differences():
    x, v = np.array([[0.3, -0.2]]), np.array([[1.0, 0.5]])

    def loss(W1, b1, W2):
        _, ys = cr.jet(lambda x: _mlp((W1, b1, W2), x), (x,), ([v, np.zeros_like(v), np.zeros_like(v)],))
        return cnp.sum(ys[1] ** 2) + cnp.sum(ys[2])
    check_grads(loss, _params(), order=1)


def _every_specific_rule(a, x):
    """A function of parameters a (3,) through every primitive with a hand-written Taylor rule."""
    u = cnp.exp(a[0] * x) + cnp.log(1.5 + a[1] * x * x) + cnp.sqrt(2.0 + cnp.sin(a[2] * x))
    return cnp.tanh(u) / (2.0 + cnp.cos(x)) + cnp.square(u) * cnp.reciprocal(3.0 + x * x)


def test_grad_through_every_specific_rule_against_finite_differences():
    x = np.array([0.3, -0.4, 0.7])

    def loss(a):
        _, ys = cr.jet(lambda x: _every_specific_rule(a, x), (x,), ([np.ones(3), 0.5 * np.ones(3), np.zeros(3)],))
        return cnp.sum(ys[2] * ys[0]) + cnp.sum(ys[1])
    check_grads(loss, (np.array([0.5, 0.8, -1.1]),), order=1)


def test_jvp_of_a_jet_is_the_next_derivative():
    # f(s) = d^2/dt^2 exp((0.5 + t)(s + 1)) at t = 0 = (s + 1)^2 e^{0.5 (s + 1)}; f'(0) = 2.5 e^0.5
    f = lambda s: cr.jet(lambda x: cnp.exp(x * (s + 1.0)), (0.5,), ([1.0, 0.0],))[1][1]  # noqa: E731
    value, d = cr.jvp(f, (0.0,), (1.0,))
    np.testing.assert_allclose(value, np.exp(0.5), rtol=1e-14)
    np.testing.assert_allclose(d, 2.5 * np.exp(0.5), rtol=1e-14)


def test_jit_of_every_specific_rule_equals_eager():
    a, x = np.array([0.5, 0.8, -1.1]), np.array([0.3, -0.4, 0.7])
    series = ([np.ones(3), 0.5 * np.ones(3), np.zeros(3), -np.ones(3)],)

    def g(a, x):
        return cr.jet(lambda x: _every_specific_rule(a, x), (x,), series)[1]
    for got, want in zip(cr.jit(g)(a, x), g(a, x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    assert_jet(lambda x: _every_specific_rule(a, x), [x], series)


def test_jit_of_a_jet_equals_eager():
    params = _params(1)
    x = np.random.default_rng(2).standard_normal((4, 2))
    series = ([np.ones_like(x), np.zeros_like(x), 0.5 * x, np.zeros_like(x)],)

    def g(x):
        return cr.jet(lambda x: _mlp(params, x), (x,), series)

    y, ys = g(x)
    jy, jys = cr.jit(g)(x)
    np.testing.assert_allclose(jy, y, rtol=1e-13)
    for a, b in zip(jys, ys):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_vmap_of_a_jet_equals_the_loop():
    params = _params(3)
    xs = np.random.default_rng(4).standard_normal((3, 2))
    v = np.array([1.0, -0.5])

    def g(x):
        return cr.jet(lambda x: _mlp(params, x), (x,), ([v, v, v],))[1]

    got = cr.vmap(g)(xs)
    for i in range(3):
        for k in range(3):
            np.testing.assert_allclose(got[k][i], g(xs[i])[k], rtol=1e-12, atol=1e-14)


def test_jet_inside_jet_and_grad_inside_jet():
    # d/ds of the jet in t of sin(x + t + s): the inner coefficients shift by one derivative
    _, (outer,) = cr.jet(lambda s: cr.jet(cnp.sin, (0.4 + s,), ([1.0, 0.0],))[1][1], (0.0,), ([1.0],))
    assert outer == pytest.approx(-np.cos(0.4))
    _, ys = cr.jet(cr.grad(lambda x: x ** 4), (1.5,), ([1.0, 0.0],))
    np.testing.assert_allclose(ys, [12 * 1.5 ** 2, 24 * 1.5])


# -- the registry ------------------------------------------------------------------------

#: Primitives with a JVP rule but no Taylor rule (each with its reason): none.
NO_TAYLOR_RULE: dict = {}


def test_every_differentiable_primitive_has_a_taylor_rule():
    from chainrule._core.primitive import TAYLOR_SHORTCUTS
    from chainrule._interpreters.taylor import SHORTCUTS
    assert set(SHORTCUTS) == set(TAYLOR_SHORTCUTS)
    missing = [n for n, p in REGISTRY.items() if p.jvp is not None and p.taylor is None
               and n not in NO_TAYLOR_RULE]
    assert not missing, f"primitives with a JVP rule but no taylor= rule: {missing}"
    bad = [n for n, p in REGISTRY.items() if isinstance(p.taylor, str) and p.taylor not in SHORTCUTS]
    assert not bad, f"unknown taylor shortcuts: {bad}"


def test_an_unknown_shortcut_is_refused_at_declaration():
    from chainrule._core.primitive import defprim
    with pytest.raises(ValueError, match="primitive made_up: unknown taylor shortcut 'quadratic'"):
        defprim("made_up", np.sin, [None], taylor="quadratic")


# -- the specific rules against the rule derived from the JVP table ------------------------

SPECIFIC = sorted(n for n, p in REGISTRY.items() if callable(p.taylor))


def _dense(cs, like):
    return [np.zeros_like(like) if c is None else np.asarray(c) for c in cs]


@pytest.mark.parametrize("K", [1, 3, 6])
@pytest.mark.parametrize("name", SPECIFIC)
def test_a_specific_rule_equals_the_rule_derived_from_the_jvp(name, K):
    """Each hand-written recurrence against the generic derivation (the JVP rule run under a jet
    of one order less), with constant inputs and symbolic-zero coefficients among the series."""
    from chainrule._interpreters.taylor import SHORTCUTS
    p = REGISTRY[name]
    derived = SHORTCUTS["jvp"](p)
    rng = np.random.default_rng(K)
    n = len(p.vjps)
    xs = [rng.uniform(0.5, 2.0, (3, 2)) for _ in range(n)]
    ans = p.impl(*xs)
    patterns = [[True] * n] + ([[True, False], [False, True]] if n == 2 else [])
    for live in patterns:
        series = [[rng.standard_normal((3, 2)) for _ in range(K)] if on else None for on in live]
        for s in series:
            if s is not None and K > 2:
                s[1] = None   # a symbolic zero inside the series
        got = p.taylor(xs, series, ans, {})
        want = derived(xs, series, ans, {})
        assert len(got) == K
        np.testing.assert_allclose(_dense(got, ans), _dense(want, ans), rtol=1e-11, atol=1e-11,
                                   err_msg=f"{name}, live inputs {live}")


def test_a_deep_network_at_order_6_matches_jax():
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(8)
    Ws = [rng.standard_normal((3, 8)) / 2, rng.standard_normal((8, 8)) / 3, rng.standard_normal((8, 2)) / 3]

    def net(x, np_):
        h = x
        for W in Ws[:-1]:
            h = np_.tanh(h @ W) + np_.sin(h @ W) * 0.5
        return np_.exp(-(h @ Ws[-1]) ** 2) / (1.0 + np_.square(h @ Ws[-1]))

    x = rng.standard_normal((4, 3))
    series = random_series([x], 6, 9)
    y, ys = cr.jet(lambda x: net(x, cnp), (x,), series)
    jy, jys = jax_jet(lambda x: net(x, jnp), [x], series)
    np.testing.assert_allclose(y, jy, rtol=1e-13)
    for k, (a, b) in enumerate(zip(ys, jys), 1):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b).max(), err_msg=f"coefficient {k}")


def test_float32_stays_float32():
    x = np.linspace(-1, 1, 5).astype(np.float32)
    y, ys = cr.jet(lambda x: cnp.tanh(x) * cnp.exp(x), (x,), ([np.ones_like(x), np.zeros_like(x)],))
    assert y.dtype == np.float32 and all(c.dtype == np.float32 for c in ys)
    want = path_derivatives(lambda x: cnp.tanh(x) * cnp.exp(x), [x.astype(np.float64)],
                            ([np.ones(5), np.zeros(5)],))
    np.testing.assert_allclose(ys, want, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("p", [0, 1, 2, 3, 4, 2.5, -2.0, 0.5, -1.5])
def test_power_by_a_constant_scalar_against_the_derived_rule(p):
    from chainrule._interpreters.taylor import SHORTCUTS
    prim = REGISTRY["power"]
    derived = SHORTCUTS["jvp"](prim)
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (4,))
    series = [[rng.standard_normal(4) for _ in range(5)], None]
    ans = np.power(x, p)
    got, want = prim.taylor([x, p], series, ans, {}), derived([x, p], series, ans, {})
    np.testing.assert_allclose(_dense(got, ans), _dense(want, ans), rtol=1e-11, atol=1e-11)


def test_integer_powers_at_zero_are_exact():
    # (x^3) along x(t) = t: 0, 0, 6, 0 (the recurrence through 1/x would give nan)
    _, ys = cr.jet(lambda x: x ** 3, (0.0,), ([1.0, 0.0, 0.0, 0.0],))
    assert [float(c) for c in ys] == [0.0, 0.0, 6.0, 0.0]
    _, ys = cr.jet(lambda x: x ** 2.0, (np.zeros(2),), ([np.ones(2), np.ones(2)],))
    np.testing.assert_array_equal(ys, [[0.0, 0.0], [2.0, 2.0]])
