"""PDE operators (``cr.laplacian``, ``cr.divergence``, ``cr.hessian_diag``, ``cr.derivatives``).

Oracles: hand-derived formulas (sin(x) exp(y), polynomials), the trace / diagonal of
``cr.hessian`` (forward-over-reverse, a different engine), nested ``cr.jvp``, PyTorch's
nested autograd where installed, and central finite differences (``check_grads``) for the
gradient with respect to parameters.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads
import chainrule.numpy.special as cspecial
import chainrule.nn.functional as F

METHODS = ["forward", "hessian_trace", "taylor"]
TOL = {np.float64: 1e-10, np.float32: 2e-4}


def mlp_params(d, width=8, depth=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    sizes = [d] + [width] * depth + [1]
    return [((rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype), (0.3 * rng.standard_normal(b)).astype(dtype))
            for a, b in zip(sizes[:-1], sizes[1:])]


def mlp(params, x):
    h = x
    for W, b in params[:-1]:
        h = cnp.tanh(h @ W + b)
    W, b = params[-1]
    return (h @ W + b)[0]


def hessian_trace(f, x):
    d = x.size
    return np.trace(np.asarray(cr.hessian(f)(x)).reshape(d, d))


def close(a, b, dtype=np.float64):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale)


# -- hand-derived oracles ------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_harmonic_sin_exp(method):
    u = lambda x: cnp.sin(x[0]) * cnp.exp(x[1])          # Δu = 0, diag H = (-u, u)
    x = np.array([0.3, -0.8])
    assert abs(float(cr.laplacian(u, method=method)(x))) < 1e-14
    val = np.sin(0.3) * np.exp(-0.8)
    close(cr.hessian_diag(u)(x), [-val, val])


@pytest.mark.parametrize("d", [1, 2, 16])
@pytest.mark.parametrize("method", METHODS)
def test_polynomial(d, method):
    rng = np.random.default_rng(d)
    a, x = rng.standard_normal(d), rng.standard_normal(d)
    # f = sum a_i x_i^3 + sum_{i<j} x_i x_j + (sum x)^2 : Δf = 6 sum a_i x_i + 2 d
    f = lambda z: cnp.sum(a * z ** 3) + 0.5 * (cnp.sum(z) ** 2 - cnp.sum(z * z)) + cnp.sum(z) ** 2
    close(cr.laplacian(f, method=method)(x), 6 * np.sum(a * x) + 2 * d)
    close(cr.hessian_diag(f)(x), 6 * a * x + 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 2, 16])
def test_mlp_against_hessian(d, dtype):
    params = mlp_params(d, dtype=dtype)
    x = np.random.default_rng(1).standard_normal(d).astype(dtype)
    u = lambda z: mlp(params, z)
    ref = hessian_trace(u, x)
    for method in METHODS:
        lap = cr.laplacian(u, method=method)(x)
        assert np.asarray(lap).dtype == dtype, method
        close(lap, ref, dtype)
    close(cr.hessian_diag(u)(x), np.diag(np.asarray(cr.hessian(u)(x))), dtype)


def test_mlp_against_torch():
    torch = pytest.importorskip("torch")
    d = 5
    params = mlp_params(d, width=16, depth=3)
    x = np.random.default_rng(2).standard_normal(d)
    tp = [(torch.tensor(W), torch.tensor(b)) for W, b in params]

    def tu(z):
        h = z
        for W, b in tp[:-1]:
            h = torch.tanh(h @ W + b)
        return (h @ tp[-1][0] + tp[-1][1])[0]

    xt = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(tu(xt), xt, create_graph=True)
    ref = sum(torch.autograd.grad(g[i], xt, retain_graph=True)[0][i].item() for i in range(d))
    close(cr.laplacian(lambda z: mlp(params, z))(x), ref)


def test_many_primitives_against_hessian():
    """Primitives of every kind: linear, bilinear with both sides varying, multilinear,
    elementwise with one and two varying inputs, reductions, indexing, custom JVP rules."""
    c = np.array([[1.0, 0.5, -0.2], [0.3, -1.0, 0.7], [0.1, 0.2, 0.4]])

    def f(x):
        a = cnp.exp(x[0]) / (1.5 + x[1] ** 2)                 # divide, both varying
        b = x @ c @ x                                         # matmul, both sides varying
        e = cnp.einsum("i,i,i->", x, x, cnp.sin(x))           # multilinear, three varying
        s = cspecial.logsumexp(x * x) + cnp.sum(F.softmax(x) * x)  # custom JVP rules
        r = cnp.sqrt(1.0 + cnp.sum(cnp.reshape(cnp.concatenate([x, x[::-1]]), (2, 3)) ** 2))
        m = cnp.maximum(x, 0.1) ** 3 + cnp.power(cnp.abs(x) + 1.0, x)
        return a + b + e + s + r + cnp.sum(m) + cnp.arctan2(x[0], 2.0 + x[2] ** 2)

    x = np.array([0.4, -0.3, 0.9])
    ref = hessian_trace(f, x)
    for method in METHODS:
        close(cr.laplacian(f, method=method)(x), ref)
    close(cr.hessian_diag(f)(x), np.diag(np.asarray(cr.hessian(f)(x))))


def test_argument_of_any_shape_and_argnums():
    f = lambda p, X: cnp.sum(p * X ** 3)                       # Δ_X = 6 sum(p X)
    p, X = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, -1.0], [2.0, 1.0]])
    close(cr.laplacian(f, argnums=1)(p, X), 6 * np.sum(p * X))
    close(cr.hessian_diag(f, argnums=1)(p, X), 6 * p * X)


def test_constant_function_gives_zero():
    assert float(cr.laplacian(lambda x: 3.0 + 0 * cnp.sum(x))(np.ones(3))) == 0.0
    np.testing.assert_array_equal(cr.hessian_diag(lambda x: cnp.sum(2.0 * x))(np.ones(3)), np.zeros(3))


# -- divergence ----------------------------------------------------------------------

def test_divergence_formula_and_jacobian():
    F = lambda x: cnp.stack([x[0] * x[1], cnp.sin(x[1]), x[2] ** 3 * x[0]])
    x = np.array([0.5, 1.2, -0.7])
    close(cr.divergence(F)(x), x[1] + np.cos(x[1]) + 3 * x[2] ** 2 * x[0])
    close(cr.divergence(F)(x), np.trace(np.asarray(cr.jacobian(F)(x))))


def test_divergence_of_gradient_is_laplacian():
    params = mlp_params(4)
    u = lambda z: mlp(params, z)
    x = np.random.default_rng(3).standard_normal(4)
    close(cr.divergence(cr.grad(u))(x), cr.laplacian(u)(x))


# -- derivatives (PINN) ---------------------------------------------------------------

def test_derivatives_batch_network_hand_formulas():
    u = lambda X: cnp.sin(2 * X[:, 1]) * cnp.exp(-X[:, 0]) + X[:, 0] * X[:, 1] ** 2
    X = np.random.default_rng(4).standard_normal((7, 2))
    t, x = X[:, 0], X[:, 1]
    val, u_t, u_x, u_xx, u_tx, u_xxx = cr.derivatives(u, "", "t", "x", "xx", "tx", "xxx", names="tx")(X)
    close(val, np.sin(2 * x) * np.exp(-t) + t * x ** 2)
    close(u_t, -np.sin(2 * x) * np.exp(-t) + x ** 2)
    close(u_x, 2 * np.cos(2 * x) * np.exp(-t) + 2 * t * x)
    close(u_xx, -4 * np.sin(2 * x) * np.exp(-t) + 2 * t)
    close(u_tx, -2 * np.cos(2 * x) * np.exp(-t) + 2 * x)
    close(u_xxx, -8 * np.cos(2 * x) * np.exp(-t))


def test_derivatives_index_terms_per_point_and_vmap():
    params = mlp_params(3)
    u = lambda z: mlp(params, z)
    X = np.random.default_rng(5).standard_normal((6, 3))
    got = cr.vmap(cr.derivatives(u, (), (0,), (2, 2), (1,)))(X)
    H = np.stack([np.asarray(cr.hessian(u)(x)) for x in X])
    G = np.stack([np.asarray(cr.grad(u)(x)) for x in X])
    close(got[0], [float(u(x)) for x in X])
    close(got[1], G[:, 0])
    close(got[2], H[:, 2, 2])
    close(got[3], G[:, 1])


def test_derivatives_column_output_shape():
    u = lambda X: cnp.tanh(X @ np.array([[1.0], [2.0]]))     # (N, 2) -> (N, 1), as DeepXDE's nets
    X = np.array([[0.1, 0.2], [0.3, -0.4]])
    v, u_x = cr.derivatives(u, "", "x", names="tx")(X)
    assert v.shape == u_x.shape == (2, 1)
    close(u_x[:, 0], 2 * (1 - np.tanh(X @ [1.0, 2.0]) ** 2))


def test_derivatives_errors():
    u = lambda X: cnp.sum(X, axis=-1)
    with pytest.raises(ValueError, match="'z'.*not among names"):
        cr.derivatives(u, "z", names="tx")
    with pytest.raises(TypeError, match="no names= were given"):
        cr.derivatives(u, "xx")
    with pytest.raises(ValueError, match="coordinate 3.*2 coordinates"):
        cr.derivatives(u, (3,))(np.ones((4, 2)))
    with pytest.raises(ValueError, match="at least one term"):
        cr.derivatives(u)


# -- composition: vmap, grad w.r.t. parameters, jit -------------------------------------

def test_vmap_over_points_matches_loop():
    params = mlp_params(3)
    u = lambda z: mlp(params, z)
    X = np.random.default_rng(6).standard_normal((5, 3))
    for op in (cr.laplacian(u), cr.hessian_diag(u), cr.divergence(cr.grad(u))):
        close(cr.vmap(op)(X), np.stack([np.asarray(op(x)) for x in X]))


@pytest.mark.parametrize("method", METHODS)
def test_grad_of_mean_squared_laplacian_finite_differences(method):
    params = mlp_params(2, width=5)
    X = np.random.default_rng(7).standard_normal((4, 2))

    def loss(p):
        lap = cr.vmap(cr.laplacian(lambda z: mlp(p, z), method=method))(X)
        return cnp.mean(lap ** 2)

    check_grads(loss, (params,), order=1, modes=("rev",))


def test_grad_forward_equals_grad_hessian_trace():
    params = mlp_params(3, width=6)
    X = np.random.default_rng(8).standard_normal((5, 3))

    def loss(method):
        return lambda p: cnp.mean(cr.vmap(cr.laplacian(lambda z: mlp(p, z), method=method))(X) ** 2)

    g1, g2 = cr.grad(loss("forward"))(params), cr.grad(loss("hessian_trace"))(params)
    for (a, b), (c, e) in zip(g1, g2):
        close(a, c)
        close(b, e)


def test_grad_of_derivatives_residual_finite_differences():
    params = mlp_params(2, width=5)
    X = np.random.default_rng(9).standard_normal((4, 2))

    def loss(p):
        net = cr.vmap(lambda z: mlp(p, z))
        u, u_t, u_x, u_xx = cr.derivatives(net, "", "t", "x", "xx", names="tx")(X)
        return cnp.mean((u_t + u * u_x - 0.01 * u_xx) ** 2)

    check_grads(loss, (params,), order=1, modes=("rev",))


def test_jit_equals_eager():
    params = mlp_params(3)
    u = lambda z: mlp(params, z)
    X = np.random.default_rng(10).standard_normal((5, 3))
    ops = [cr.vmap(cr.laplacian(u)), cr.vmap(cr.laplacian(u, method="taylor")), cr.vmap(cr.hessian_diag(u)),
           cr.vmap(cr.divergence(cr.grad(u))),
           lambda X: cr.derivatives(cr.vmap(u), "", "x", "yy", names="xyz")(X)]
    for op in ops:
        eager, jitted = op(X), cr.jit(op)(X)
        for a, b in zip(eager if isinstance(eager, tuple) else (eager,),
                        jitted if isinstance(jitted, tuple) else (jitted,)):
            close(b, a)


def test_jit_of_grad_of_laplacian_loss():
    params = mlp_params(2, width=6)
    X = np.random.default_rng(11).standard_normal((8, 2))

    def loss(p):
        return cnp.mean(cr.vmap(cr.laplacian(lambda z: mlp(p, z)))(X) ** 2)

    v1, g1 = cr.value_and_grad(loss)(params)
    v2, g2 = cr.jit(cr.value_and_grad(loss))(params)
    close(v2, v1)
    for (a, b), (c, e) in zip(g1, g2):
        close(c, a)
        close(e, b)


# -- STDE --------------------------------------------------------------------------------

def test_stde_unbiased_statistically():
    d = 16
    params = mlp_params(d, width=16)
    x = np.random.default_rng(12).standard_normal(d)
    u = lambda z: mlp(params, z)
    exact = float(cr.laplacian(u)(x))
    for dist in ("rademacher", "gaussian"):
        est, var = cr.laplacian(u, method="stde", samples=4000, seed=0, distribution=dist,
                                return_variance=True)(x)
        assert var > 0
        assert abs(float(est) - exact) < 4 * np.sqrt(float(var)), (dist, est, exact, var)


def test_stde_rademacher_exact_for_diagonal_hessian():
    f = lambda z: cnp.sum(cnp.sin(z))             # H diagonal: v^T H v = tr H for every ±1 vector
    x = np.linspace(-1, 1, 32)
    est, var = cr.laplacian(f, method="stde", samples=3, seed=1, return_variance=True)(x)
    close(est, -np.sum(np.sin(x)))
    assert abs(float(var)) < 1e-20


def test_stde_mean_of_many_calls_and_grad():
    params = mlp_params(4, width=6)
    x = np.random.default_rng(13).standard_normal(4)
    u = lambda z: mlp(params, z)
    exact = float(cr.laplacian(u)(x))
    stde = cr.laplacian(u, method="stde", samples=8, seed=np.random.default_rng(3))
    draws = [float(stde(x)) for _ in range(400)]
    assert abs(np.mean(draws) - exact) < 4 * np.std(draws) / np.sqrt(len(draws))
    assert len(set(draws)) > 1   # fresh directions at each call
    g = cr.grad(lambda p: cr.laplacian(lambda z: mlp(p, z), method="stde", samples=2, seed=0)(x))(params)
    assert all(np.all(np.isfinite(w)) for w, _ in g)


# -- errors ------------------------------------------------------------------------------

def test_errors():
    with pytest.raises(ValueError, match="laplacian: f must return a scalar.*shape \\(2,\\)"):
        cr.laplacian(lambda x: x * 2)(np.ones(2))
    with pytest.raises(ValueError, match="hessian_diag: f must return a scalar"):
        cr.hessian_diag(lambda x: x * 2)(np.ones(2))
    with pytest.raises(ValueError, match="divergence: F must map R\\^d to R\\^d.*\\(3,\\).*\\(2,\\)"):
        cr.divergence(lambda x: x[:2])(np.ones(3))
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        cr.laplacian(lambda x: x, method="nope")
    with pytest.raises(ValueError, match="needs samples"):
        cr.laplacian(lambda x: x, method="stde")
    with pytest.raises(ValueError, match="belong to method='stde'"):
        cr.laplacian(lambda x: x, samples=3)
    with pytest.raises(TypeError, match="laplacian.*dtype int64"):
        cr.laplacian(lambda x: cnp.sum(x))(np.array([1, 2]))


# -- nesting ------------------------------------------------------------------------------

def test_nested_operators():
    f = lambda x: cnp.sum(x ** 4)                        # Δf = 12 |x|², Δ²f = 24 d
    x = np.array([0.5, -1.0, 2.0])
    close(cr.laplacian(cr.laplacian(f))(x), 72.0)
    close(cr.grad(cr.laplacian(f))(x), 24 * x)
    close(cr.hessian(cr.laplacian(f))(x), 24 * np.eye(3))
    close(cr.jvp(cr.laplacian(f), (x,), (np.ones(3),))[1], 24 * np.sum(x))
    close(cr.hessian_diag(cr.laplacian(f))(x), [24.0, 24.0, 24.0])
    close(cr.laplacian(cr.jit(f))(x), 12 * np.sum(x ** 2))


def test_mlp_against_jax_and_argnums_with_parameters():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    d = 4
    params = mlp_params(d, width=12, depth=3)
    X = np.random.default_rng(14).standard_normal((6, d))

    def jnet(p, x):
        h = x
        for W, b in p[:-1]:
            h = jnp.tanh(h @ W + b)
        return (h @ p[-1][0] + p[-1][1])[0]

    ref = jax.vmap(lambda x: jnp.trace(jax.hessian(lambda z: jnet(params, z))(x)))(jnp.asarray(X))
    got = cr.vmap(cr.laplacian(mlp, argnums=1), in_axes=(None, 0))(params, X)
    close(got, np.asarray(ref))
    ref_diag = jax.vmap(lambda x: jnp.diag(jax.hessian(lambda z: jnet(params, z))(x)))(jnp.asarray(X))
    close(cr.vmap(cr.hessian_diag(mlp, argnums=1), in_axes=(None, 0))(params, X), np.asarray(ref_diag))


@pytest.mark.parametrize("method", ["hessian_trace", "taylor", "stde"])
def test_every_method_refuses_a_vector_output(method):
    kw = {"samples": 2, "seed": 0} if method == "stde" else {}
    with pytest.raises(ValueError, match="laplacian: f must return a scalar"):
        cr.laplacian(lambda x: x * 2, method=method, **kw)(np.ones(2))


def test_derivatives_through_generic_rules_with_fewer_second_directions():
    """Primitives without a shortcut (custom JVP rules, linear algebra, sorting) when only
    some of the directions carry a second derivative."""
    def u(x):   # one point (t, x, y)
        a = cnp.stack([cnp.stack([1.0 + x[0] ** 2, x[1]]), cnp.stack([x[1] * x[2], 2.0 + cnp.sin(x[2])])])
        return (cspecial.logsumexp(x * x[::-1]) + cnp.linalg.det(a) + cnp.sum(cnp.sort(x) ** 3)
                + cnp.sum(F.softmax(x) * x))

    x = np.array([0.3, -0.6, 1.1])
    got = cr.derivatives(u, "", "t", "yy", "x", names="txy")(x)
    H, G = np.asarray(cr.hessian(u)(x)), np.asarray(cr.grad(u)(x))
    close(got[0], u(x))
    close(got[1], G[0])
    close(got[2], H[2, 2])
    close(got[3], G[1])


def test_stde_given_directions_under_jit_are_fresh_each_call():
    # the directions are an argument: jit traces once and every call uses the ones it is given
    W = np.random.default_rng(0).standard_normal((3, 3))
    u = lambda x: cnp.sum(cnp.tanh(W @ x) ** 2)
    x = np.array([0.2, -0.4, 0.7])
    H = cr.hessian(u)(x)
    f = cr.jit(lambda x, v: cr.laplacian(u, method="stde", directions=v)(x))
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.choice([-1.0, 1.0], size=(5, 3))
        expect = np.mean(np.einsum("ki,ij,kj->k", v, H, v))       # mean of v^T H v, by hand
        np.testing.assert_allclose(f(x, v), expect, rtol=1e-12)
    # d/dx of the estimate with fixed directions, against finite differences
    cr.testing.check_grads(lambda x: cr.laplacian(u, method="stde", directions=v)(x), (x,), order=1)


def test_stde_directions_errors():
    u = lambda x: cnp.sum(x ** 3)
    x = np.ones(3)
    with pytest.raises(ValueError, match=r"directions must have shape \(k,\) \+ \(3,\).*got \(2, 4\)"):
        cr.laplacian(u, method="stde", directions=np.ones((2, 4)))(x)
    with pytest.raises(ValueError, match="not both"):
        cr.laplacian(u, method="stde", samples=2, directions=np.ones((2, 3)))
    with pytest.raises(ValueError, match="directions= belongs to method='stde'"):
        cr.laplacian(u, directions=np.ones((2, 3)))
