"""cr.cond / cr.switch: values and derivatives against Python's ``if``, finite differences and JAX."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def true_fun(p):
    return {"a": cnp.sin(p["x"]) * p["y"], "b": (p["x"] ** 2,)}


def false_fun(p):
    return {"a": p["x"] * 3.0 + 0 * p["y"], "b": (cnp.exp(p["x"]),)}


def f_cond(x, y):
    out = cr.cond(cnp.sum(x) > 0, true_fun, false_fun, {"x": x, "y": y})
    return cnp.sum(out["a"]) + cnp.sum(out["b"][0] * y)


def f_if(x, y):  # the oracle
    out = (true_fun if cnp.sum(x) > 0 else false_fun)({"x": x, "y": y})
    return cnp.sum(out["a"]) + cnp.sum(out["b"][0] * y)


XS = [np.array([0.4, 0.9]), np.array([-0.7, -0.2])]  # one per branch
Y = np.array([1.3, -0.6])


@pytest.mark.parametrize("x", XS)
def test_values_and_grads_match_python_if(x):
    for f in (f_cond, cr.jit(f_cond)):
        np.testing.assert_allclose(f(x, Y), f_if(x, Y))
        for a, b in zip(cr.grad(f, argnums=(0, 1))(x, Y), cr.grad(f_if, argnums=(0, 1))(x, Y)):
            np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("x", XS)
def test_transforms_of_jit_and_finite_differences(x):
    jf = cr.jit(f_cond)
    check_grads(jf, (x, Y), order=2)
    np.testing.assert_allclose(cr.jit(cr.grad(f_cond))(x, Y), cr.grad(f_if)(x, Y))
    np.testing.assert_allclose(cr.grad(jf)(x, Y), cr.grad(f_if)(x, Y))
    np.testing.assert_allclose(cr.hessian(jf)(x, Y), cr.hessian(f_if)(x, Y), atol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.hessian(f_cond))(x, Y), cr.hessian(f_if)(x, Y), atol=1e-12)
    t = np.array([0.3, -1.1])
    np.testing.assert_allclose(cr.jvp(lambda x: jf(x, Y), (x,), (t,))[1],
                               cr.jvp(lambda x: f_if(x, Y), (x,), (t,))[1])


def test_vmap_batched_predicate_selects():
    X = np.stack(XS)
    for g in (f_cond, cr.jit(f_cond)):
        want = np.array([f_if(x, Y) for x in X])
        np.testing.assert_allclose(cr.vmap(g, in_axes=(0, None))(X, Y), want)
        np.testing.assert_allclose(cr.jit(cr.vmap(g, in_axes=(0, None)))(X, Y), want)
        np.testing.assert_allclose(cr.vmap(cr.grad(g), in_axes=(0, None))(X, Y),
                                   np.stack([cr.grad(f_if)(x, Y) for x in X]))
    # a batched predicate with unbatched operands
    out = cr.vmap(lambda s: cr.cond(s > 0, cnp.sin, cnp.cos, 0.5))(np.array([1.0, -1.0, 2.0]))
    np.testing.assert_allclose(out, [np.sin(0.5), np.cos(0.5), np.sin(0.5)])


def test_vmap_unbatched_predicate_keeps_one_branch():
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    for s in (1.0, -1.0):
        h = cr.jit(lambda s, x: cr.cond(s > 0, lambda x: cnp.sin(x) * 2, lambda x: x ** 3, x))
        got = cr.vmap(h, in_axes=(None, 0))(s, X)
        np.testing.assert_allclose(got, np.sin(X) * 2 if s > 0 else X ** 3)
        ir = cr.jit(cr.vmap(h, in_axes=(None, 0))).lower(s, X).ir  # optimised: dead traces dropped
        assert [e.prim.name for e in ir.eqns].count("cond") == 1


def test_jit_traces_once_and_stages_one_cond():
    f = cr.jit(f_cond)
    for x in XS * 2:
        f(x, Y)
    assert f.traces == 1
    ir = cr.make_ir(f_cond)(XS[0], Y)
    assert [e.prim.name for e in ir.eqns].count("cond") == 1
    assert "cond" in str(ir)


def test_switch_clamps_and_differentiates():
    branches = [lambda x: cnp.sin(x), lambda x: x ** 3, lambda x: -2.0 * x]
    fs = {"eager": lambda i, x: cr.switch(i, branches, x),
          "jit": cr.jit(lambda i, x: cr.switch(i, branches, x))}
    for f in fs.values():
        for i in range(-2, 5):
            k = min(max(i, 0), 2)
            np.testing.assert_allclose(f(i, 0.7), branches[k](0.7))
            np.testing.assert_allclose(cr.grad(f, argnums=1)(i, 0.7), cr.grad(branches[k])(0.7))
            check_grads(lambda x: f(i, x), (0.7,), order=2)
    out = cr.vmap(fs["jit"], in_axes=(0, None))(np.array([-1, 1, 2, 9]), 0.7)
    np.testing.assert_allclose(out, [np.sin(0.7), 0.7 ** 3, -1.4, -1.4])


def test_branch_ignoring_an_operand_gives_zero_cotangent():
    f = cr.jit(lambda p, x, y: cr.cond(p, lambda x, y: x * y, lambda x, y: x + 1.0, x, y))
    assert cr.grad(f, argnums=2)(False, 2.0, 3.0) == 0.0
    assert cr.grad(f, argnums=2)(True, 2.0, 3.0) == 2.0


def test_closure_over_a_traced_value():
    def f(x):
        return cr.jit(lambda p: cr.cond(p > 0, lambda: x * 2.0, lambda: cnp.sin(x)))(x)
    check_grads(f, (0.5,), order=2)
    np.testing.assert_allclose(cr.grad(f)(-0.5), np.cos(-0.5))


def test_explain_does_not_crash():
    text = str(cr.explain(cr.jit(lambda x: cr.cond(x > 0, lambda x: x ** 2, lambda x: -x, x)), 3.0))
    assert "cond" in text and "6" in text


def test_errors():
    g = cr.jit(lambda p, x: cr.cond(p, lambda x: x, lambda x: (x, x), x))
    with pytest.raises(TypeError, match=r"cond: false_fun and true_fun must return the same tree structure"):
        g(True, 1.0)
    g = cr.jit(lambda p, x: cr.cond(p, lambda x: {"a": x}, lambda x: {"a": x[:1]}, x))
    with pytest.raises(TypeError, match=r"cond: .*output \['a'\].*f64\[1\].*f64\[2\]|cond: .*'a'"):
        g(True, np.ones(2))
    g = cr.jit(lambda i, x: cr.switch(i, [lambda x: x, lambda x: x.astype(np.float32)], x))
    with pytest.raises(TypeError, match=r"switch: branch 0 and branch 1 .*float32"):
        g(0, np.ones(2))
    with pytest.raises(TypeError, match=r"cond: the predicate must be a scalar.*shape \(2,\)"):
        cr.cond(np.array([True, False]), lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match=r"cond: the predicate must be a scalar.*shape \(2,\)"):
        cr.jit(lambda x: cr.cond(x > 0, lambda: 1.0, lambda: 2.0))(np.ones(2))
    with pytest.raises(TypeError, match=r"switch: the index must be a scalar integer"):
        cr.jit(lambda x: cr.switch(x, [lambda: 1.0, lambda: 2.0]))(0.5)
    with pytest.raises(TypeError, match=r"switch: branches"):
        cr.switch(0, [])


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def make(np_):
        def f(x, y, i):
            a = jax.lax.cond(x[0] > 0, lambda p: np_.sin(p[0]) * p[1], lambda p: p[0] ** 2 - p[1], (x, y)) \
                if np_ is jnp else cr.cond(x[0] > 0, lambda p: np_.sin(p[0]) * p[1], lambda p: p[0] ** 2 - p[1],
                                           (x, y))
            br = [lambda z: np_.tanh(z), lambda z: z * z, lambda z: np_.exp(-z)]
            b = jax.lax.switch(i, br, a) if np_ is jnp else cr.switch(i, br, a)
            return np_.sum(b)
        return f
    fj, fc = make(jnp), make(cnp)
    for x in (np.array([0.3, -0.4]), np.array([-0.3, 0.8])):
        for i in (-1, 1, 5):
            np.testing.assert_allclose(cr.jit(fc)(x, Y, i), jax.jit(fj)(x, Y, i))
            for a, b in zip(cr.jit(cr.grad(fc, argnums=(0, 1)))(x, Y, i), jax.jit(jax.grad(fj, argnums=(0, 1)))(x, Y, i)):
                np.testing.assert_allclose(a, b)
    X = np.array([[0.3, -0.4], [-0.3, 0.8]])
    np.testing.assert_allclose(cr.vmap(cr.grad(fc), in_axes=(0, None, None))(X, Y, 2),
                               jax.vmap(jax.grad(fj), in_axes=(0, None, None))(X, Y, 2))
