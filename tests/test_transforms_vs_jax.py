"""The transforms composed as JAX users compose them, checked against JAX itself
(skipped without it) -- or, for chainrule's own root / fixed_point, against the closed form."""
from __future__ import annotations

import collections

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

RNG = np.random.default_rng(7)
X = RNG.normal(size=(4, 3))
W = RNG.normal(size=3)
P = collections.namedtuple("P", "a b")


def _close(ours, ref):
    ol, ot = jax.tree_util.tree_flatten(ours)
    rl, rt = jax.tree_util.tree_flatten(ref)
    assert ot == rt, (ot, rt)
    for o, r in zip(ol, rl):
        assert np.shape(o) == np.shape(r)
        np.testing.assert_allclose(np.asarray(o), np.asarray(r), rtol=1e-9, atol=1e-12)


def loss(m, w, x):
    return m.sum(m.tanh(w * x)) ** 2 + m.sum(m.sin(x) * w[0])


def vec(m, x):
    return m.sin(x) * m.sum(x ** 2)


CASES = {
    "vmap(grad)": lambda cr, m: cr.vmap(cr.grad(lambda w, x: loss(m, w, x)), in_axes=(None, 0))(W, X),
    "grad(vmap-sum)": lambda cr, m: cr.grad(lambda w: cr.vmap(lambda x: loss(m, w, x))(X).sum())(W),
    "vmap(jvp)": lambda cr, m: cr.vmap(lambda x, v: cr.jvp(lambda x: vec(m, x), (x,), (v,)))(X, 2 * X),
    "jvp(vmap)": lambda cr, m: cr.jvp(cr.vmap(lambda x: vec(m, x)), (X,), (2 * X,)),
    "vmap(jacrev)": lambda cr, m: cr.vmap(cr.jacrev(lambda x: vec(m, x)))(X),
    "vmap(jacfwd)": lambda cr, m: cr.vmap(cr.jacfwd(lambda x: vec(m, x)))(X),
    "jacfwd(vmap)": lambda cr, m: cr.jacfwd(cr.vmap(lambda x: vec(m, x)))(X),
    "jacrev(vmap)": lambda cr, m: cr.jacrev(cr.vmap(lambda x: vec(m, x)))(X),
    "vmap(hessian)": lambda cr, m: cr.vmap(cr.hessian(lambda x: m.sum(vec(m, x))))(X),
    "vmap(vmap) axes": lambda cr, m: cr.vmap(cr.vmap(lambda x, w: vec(m, x) * w, in_axes=(1, None)),
                                            in_axes=(0, 0), out_axes=-1)(np.stack([X, X]), np.ones(2)),
    "jacobian dict/tuple/None": lambda cr, m: cr.jacobian(
        lambda p, q: {"y": (p["a"] * q[0], None), "z": m.sum(p["b"] ** 2)}, argnums=(0, 1))(
        {"a": W, "b": W[:2]}, (2.0, None)),
    "jacrev namedtuple": lambda cr, m: cr.jacrev(lambda p: P(p.a * p.b, m.sum(p.a)))(P(W, 2 * W)),
    "jacfwd namedtuple": lambda cr, m: cr.jacfwd(lambda p: P(p.a * p.b, m.sum(p.a)))(P(W, 2 * W)),
    "hessian argnums pytree": lambda cr, m: cr.hessian(lambda p, c: m.sum(p["a"] ** 2 * p["b"]) * c,
                                                       argnums=(0,))({"a": W, "b": 2 * W}, 3.0),
    "vmap in_axes dict prefix": lambda cr, m: cr.vmap(lambda c, p: m.tanh(p["w"] @ c) + p["b"],
                                                      in_axes=(0, {"w": None, "b": 0}))(
        X[:, :2], {"w": X[:2].T, "b": X}),
    "vmap out_axes pytree": lambda cr, m: cr.vmap(lambda x, c: {"s": m.sum(x), "c": c, "x": x},
                                                  in_axes=(1, None), out_axes={"s": 0, "c": None, "x": 1})(X, 2.0),
    "vmap kwargs": lambda cr, m: cr.vmap(lambda x, scale: x * scale)(X, scale=X[:, 0]),
    "hessian pytree in and out": lambda cr, m: cr.hessian(
        lambda p, c: {"a": m.sum(p["x"] ** 3) * c, "b": (p["x"] ** 2 * p["y"],)}, argnums=(0, 1))(
        {"x": W, "y": 2.0}, 3.0),
    "float32 hessian": lambda cr, m: cr.hessian(lambda x: m.sum(m.sin(x) ** 2))(W.astype(np.float32)),
}


class _JaxAsCr:
    vmap, grad, jvp, jacrev, jacfwd, jacobian, hessian = (
        jax.vmap, jax.grad, jax.jvp, jax.jacrev, jax.jacfwd, jax.jacobian, jax.hessian)


@pytest.mark.parametrize("name", sorted(CASES))
def test_composition_matches_jax(name):
    ours = CASES[name](cr, cnp)
    ref = CASES[name](_JaxAsCr, jnp)
    _close(ours, ref)
    for o, r in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref)):
        assert np.asarray(o).dtype == np.asarray(r).dtype, name


def _custom_fns():
    @cr.custom_vjp
    def cube_vjp(x):
        return x ** 3

    cube_vjp.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))

    @cr.custom_jvp
    def cube_jvp(x):
        return x ** 3

    cube_jvp.defjvp(lambda p, t: (p[0] ** 3, 3 * p[0] ** 2 * t[0]))
    return {"custom_vjp": cube_vjp, "custom_jvp": cube_jvp, "checkpoint": cr.checkpoint(lambda x: x ** 3)}


@pytest.mark.parametrize("kind", ["custom_vjp", "custom_jvp", "checkpoint"])
def test_custom_rules_and_checkpoint_under_hessian_and_vmap(kind):
    cube = _custom_fns()[kind]
    f, jf = (lambda x: cnp.sum(cube(x) * cnp.sin(x))), (lambda x: jnp.sum(x ** 3 * jnp.sin(x)))
    _close(cr.hessian(f)(W), jax.hessian(jf)(W))
    _close(cr.vmap(cr.hessian(f))(X), jax.vmap(jax.hessian(jf))(X))
    _close(cr.jacrev(cr.vmap(cube))(X), jax.jacrev(jax.vmap(lambda x: x ** 3))(X))
    _close(cr.vmap(cr.jacfwd(cube))(X), jax.vmap(jax.jacfwd(lambda x: x ** 3))(X))


def test_root_and_fixed_point_compose_with_every_transform():
    a = np.abs(W) + 1.0
    cubic = lambda x, a: x ** 3 + x - a  # noqa: E731  (x* = r(a), dr/da = 1 / (3 r^2 + 1))
    r = lambda a: cr.root(cubic, np.ones(3), a)  # noqa: E731
    x = r(a)
    np.testing.assert_allclose(x ** 3 + x, a)
    d = 1 / (3 * x ** 2 + 1)
    np.testing.assert_allclose(cr.jacrev(r)(a), np.diag(d))
    np.testing.assert_allclose(cr.jacfwd(r)(a), np.diag(d))
    # second derivative: d2r/da2 = -6 r (dr/da)^3
    np.testing.assert_allclose(cr.hessian(lambda a: cnp.sum(r(a)))(a), np.diag(-6 * x * d ** 3), rtol=1e-8)
    # vmap with per-example params and starting points
    xb = cr.vmap(lambda x0, a: cr.root(cubic, x0, a))(np.array([0.5, 2.0, -1.0]), a)
    np.testing.assert_allclose(xb, x)
    np.testing.assert_allclose(cr.vmap(cr.grad(lambda a: cr.root(cubic, 1.0, a)))(a), d)
    heron = lambda x, a: (x + a / x) / 2  # noqa: E731
    _close(cr.hessian(lambda a: cnp.sum(cr.fixed_point(heron, np.ones(3), a)))(a),
           jax.hessian(lambda a: jnp.sum(jnp.sqrt(a)))(a))
    _close(cr.vmap(cr.grad(lambda a: cr.fixed_point(heron, 1.0, a)))(a), jax.vmap(jax.grad(jnp.sqrt))(a))


def test_implicit_derivative_under_jacrev_jacfwd_and_vmap():
    circle = lambda x, y: x ** 2 + y ** 2 - 1.0  # noqa: E731
    slope = lambda x: cr.implicit_derivative(circle, x, cnp.sqrt(1 - x ** 2))  # noqa: E731
    ref = jax.grad(lambda x: -x / jnp.sqrt(1 - x ** 2))
    xs = np.array([0.6, 0.3, -0.2])
    for jac in (cr.jacrev, cr.jacfwd, cr.grad):
        _close(jac(slope)(0.6), ref(0.6))
    _close(cr.vmap(cr.grad(slope))(xs), jax.vmap(ref)(xs))


@pytest.mark.parametrize("name", ["jacfwd", "jacrev", "jacobian", "hessian"])
def test_has_aux_like_jax(name):
    def f(m):
        return lambda x: (m.sum(m.sin(x) * x[0]) ** 2 if name == "hessian" else m.sin(x) * m.sum(x),
                          {"n": m.sum(x ** 2)})
    ours, aux = getattr(cr, name)(f(cnp), has_aux=True)(W)
    ref, ref_aux = getattr(jax, name)(f(jnp), has_aux=True)(W)
    _close(ours, ref)
    _close(aux, ref_aux)
    batched, baux = cr.vmap(getattr(cr, name)(f(cnp), has_aux=True))(X)
    _close((batched, baux), jax.vmap(getattr(jax, name)(f(jnp), has_aux=True))(X))


def test_jvp_has_aux_like_jax():
    f = lambda m: (lambda x: (m.sin(x), m.sum(x)))  # noqa: E731
    _close(cr.jvp(f(cnp), (W,), (W,), has_aux=True), jax.jvp(f(jnp), (W,), (W,), has_aux=True))


def test_jacobian_auto_forward_branch_with_aux_and_kwargs():
    f = lambda m: (lambda x, c=1.0: (m.outer(m.sin(x), x) * c, {"x0": x[0]}))  # noqa: E731  9 > 3: fwd
    ours = cr.jacobian(f(cnp), has_aux=True)(W, c=2.0)
    _close(ours, jax.jacobian(f(jnp), has_aux=True)(W, c=2.0))
