"""cr.custom_vjp / cr.custom_jvp: user rules are used by every transform."""
import functools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.custom import custom_jvp, custom_vjp
from chainrule.testing import check_grads


# -- fixtures: functions with rules ---------------------------------------------------

def make_log1pexp(scale=1.0):
    @custom_vjp
    def log1pexp(x):
        return cnp.log(1.0 + cnp.exp(x))

    def fwd(x):
        return log1pexp(x), x

    def bwd(x, g):
        return (scale * g * (1.0 - 1.0 / (1.0 + cnp.exp(x))),)

    log1pexp.defvjp(fwd, bwd)
    return log1pexp


def make_sin_jvp(scale=1.0):
    @custom_jvp
    def f(x):
        return cnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), scale * cnp.cos(x) * t

    return f


# -- custom_vjp ---------------------------------------------------------------------------

def test_custom_vjp_value_and_stable_gradient():
    f = make_log1pexp()
    assert np.isclose(f(0.0), np.log(2.0))
    assert cr.grad(f)(100.0) == pytest.approx(1.0)   # naive autodiff: inf / inf = nan
    x = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(cr.grad(lambda x: f(x).sum())(x), 1 / (1 + np.exp(-x)))


def test_custom_vjp_user_rule_runs():
    f = make_log1pexp(scale=3.0)
    assert cr.grad(f)(0.0) == pytest.approx(1.5)
    out, pull = cr.vjp(f, np.array([0.0, 1.0]))
    np.testing.assert_allclose(pull(np.ones(2))[0], 3.0 / (1 + np.exp(-np.array([0.0, 1.0]))))


def test_custom_vjp_bwd_runs_once_per_node():
    calls = []

    @custom_vjp
    def f(x, y):
        return x * y

    def fwd(x, y):
        return f(x, y), (x, y)

    def bwd(res, g):
        calls.append(1)
        x, y = res
        return g * y, g * x

    f.defvjp(fwd, bwd)
    assert cr.grad(f, argnums=(0, 1))(2.0, 3.0) == (3.0, 2.0)
    assert len(calls) == 1


def test_custom_vjp_forward_mode_differentiates_primal():
    f = make_log1pexp(scale=3.0)   # the (wrong) user rule plays no part in forward mode
    x = np.array([-1.0, 0.5])
    out, t = cr.jvp(f, (x,), (np.ones(2),))
    np.testing.assert_allclose(out, np.log1p(np.exp(x)))
    np.testing.assert_allclose(t, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(cr.jacfwd(f)(x) if hasattr(cr, "jacfwd") else np.diag(t),
                               np.diag(1 / (1 + np.exp(-x))))


def test_custom_vjp_check_grads_all_orders():
    f = make_log1pexp()
    check_grads(f, (np.array([-2.0, 0.3, 1.5]),), order=2)


def test_custom_vjp_grad_of_grad():
    f = make_log1pexp(scale=2.0)
    # d/dx of the rule 2*sigmoid(x) is 2*sigmoid'(x): the rule itself is differentiated
    s = 1 / (1 + np.exp(-0.7))
    assert cr.grad(cr.grad(f))(0.7) == pytest.approx(2 * s * (1 - s))


def test_custom_vjp_jvp_of_grad_and_grad_of_jvp():
    f = make_log1pexp()
    s = 1 / (1 + np.exp(-0.4))
    _, t = cr.jvp(cr.grad(f), (0.4,), (1.0,))
    assert t == pytest.approx(s * (1 - s))
    g = cr.grad(lambda x: cr.jvp(f, (x,), (1.0,))[1])(0.4)
    assert g == pytest.approx(s * (1 - s))


def test_custom_vjp_nondiff_argnums():
    @functools.partial(custom_vjp, nondiff_argnums=(0,))
    def app(fn, x):
        return fn(x)

    def fwd(fn, x):
        return fn(x), x

    def bwd(fn, x, g):
        assert callable(fn)   # non-hashable static values are passed through
        return (10.0 * g,)

    app.defvjp(fwd, bwd)
    assert app(cnp.sin, 0.0) == 0.0
    assert cr.grad(lambda x: app(cnp.sin, x))(0.3) == pytest.approx(10.0)
    assert cr.grad(app, argnums=1)(cnp.sin, 0.3) == pytest.approx(10.0)
    # forward mode differentiates the primal
    assert cr.jvp(lambda x: app(cnp.sin, x), (0.3,), (1.0,))[1] == pytest.approx(np.cos(0.3))


def test_custom_vjp_pytrees_in_and_out():
    @custom_vjp
    def f(params, x):
        return {"a": params["w"] * x, "b": (params["w"] + x).sum()}

    def fwd(params, x):
        return f(params, x), (params["w"], x)

    def bwd(res, g):
        w, x = res
        gw = g["a"] * x + g["b"]
        gx = g["a"] * w + g["b"]
        return {"w": gw}, gx

    f.defvjp(fwd, bwd)
    params = {"w": np.array([1.0, 2.0])}
    x = np.array([3.0, 4.0])
    out = f(params, x)
    np.testing.assert_allclose(out["a"], [3.0, 8.0])
    assert out["b"] == pytest.approx(10.0)

    def loss(params, x):
        o = f(params, x)
        return (o["a"] ** 2).sum() + o["b"]
    gp, gx = cr.grad(loss, argnums=(0, 1))(params, x)
    np.testing.assert_allclose(gp["w"], 2 * np.array([3.0, 8.0]) * x + 1)
    np.testing.assert_allclose(gx, 2 * np.array([3.0, 8.0]) * params["w"] + 1)
    check_grads(loss, (params, x), order=2)


def test_custom_vjp_none_cotangent_is_zero():
    @custom_vjp
    def f(x, y):
        return x * 2.0 + y

    f.defvjp(lambda x, y: (f(x, y), None), lambda res, g: (2.0 * g, None))
    gx, gy = cr.grad(f, argnums=(0, 1))(1.0, 5.0)
    assert gx == 2.0 and gy == 0.0


def test_custom_vjp_tape():
    f = make_log1pexp(scale=3.0)
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    f(x).sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 3.0 / (1 + np.exp(-np.array([0.0, 1.0]))))


def test_custom_vjp_tape_create_graph():
    f = make_log1pexp()
    x = cr.tensor(0.5, requires_grad=True)
    f(x).backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.backward()
    s = 1 / (1 + np.exp(-0.5))
    assert float(x.grad.detach().numpy()) == pytest.approx(s * (1 - s))


def test_custom_vjp_errors():
    @custom_vjp
    def twoargs(x, y):
        return x * y

    with pytest.raises(AttributeError, match="twoargs"):
        twoargs(1.0, 2.0)
    twoargs.defvjp(lambda x, y: (twoargs(x, y), (x, y)), lambda res, g: (g,))
    with pytest.raises(ValueError, match=r"twoargs.*one cotangent per differentiable argument \(2\)"):
        cr.grad(twoargs)(1.0, 2.0)

    @custom_vjp
    def badshape(x):
        return x.sum()

    badshape.defvjp(lambda x: (badshape(x), None), lambda res, g: (np.ones(5),))
    with pytest.raises(ValueError, match="badshape.*shape"):
        cr.grad(badshape)(np.ones(3))


def test_keyword_arguments_are_resolved():
    f = make_log1pexp(scale=3.0)
    assert cr.grad(lambda x: f(x=x))(0.0) == pytest.approx(1.5)


# -- custom_jvp -------------------------------------------------------------------------

def test_custom_jvp_rule_used_by_jvp_and_grad():
    f = make_sin_jvp(scale=5.0)
    assert f(0.3) == pytest.approx(np.sin(0.3))
    assert cr.jvp(f, (0.3,), (1.0,))[1] == pytest.approx(5 * np.cos(0.3))
    assert cr.grad(f)(0.3) == pytest.approx(5 * np.cos(0.3))
    x = np.array([0.1, 0.2])
    _, pull = cr.vjp(f, x)
    np.testing.assert_allclose(pull(np.array([1.0, 2.0]))[0], 5 * np.cos(x) * [1, 2])


def test_custom_jvp_check_grads_all_orders():
    f = make_sin_jvp()
    check_grads(f, (np.array([0.2, -1.1, 2.0]),), order=2)


def test_custom_jvp_higher_order_differentiates_rule():
    f = make_sin_jvp(scale=5.0)
    assert cr.grad(cr.grad(f))(0.3) == pytest.approx(-5 * np.sin(0.3))
    assert cr.jvp(cr.grad(f), (0.3,), (1.0,))[1] == pytest.approx(-5 * np.sin(0.3))


def test_custom_jvp_two_args_missing_tangent_and_tape():
    @custom_jvp
    def f(x, y):
        return cnp.sin(x) * y

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return f(x, y), cnp.cos(x) * tx * y + cnp.sin(x) * ty

    check_grads(f, (np.array([0.3, 1.0]), np.array([2.0, -1.0])), order=2)
    # y is a constant for jvp: its tangent arrives as zeros
    assert cr.jvp(lambda x: f(x, 2.0), (0.0,), (1.0,))[1] == pytest.approx(2.0)
    x = cr.tensor(0.0, requires_grad=True)
    y = cr.tensor(2.0, requires_grad=True)
    f(x, y).backward()
    assert float(x.grad.detach().numpy()) == pytest.approx(2.0)
    assert float(y.grad.detach().numpy()) == pytest.approx(0.0)


def test_custom_jvp_nondiff_argnums_and_pytree_output():
    @functools.partial(custom_jvp, nondiff_argnums=(1,))
    def powers(x, n):
        return [x ** k for k in range(1, n + 1)]

    @powers.defjvp
    def powers_jvp(n, primals, tangents):
        (x,), (t,) = primals, tangents
        return powers(x, n), [k * x ** (k - 1) * t for k in range(1, n + 1)]

    out = powers(2.0, 3)
    assert [float(o) for o in out] == [2.0, 4.0, 8.0]
    _, t = cr.jvp(lambda x: powers(x, 3), (2.0,), (1.0,))
    assert [float(v) for v in t] == [1.0, 4.0, 12.0]
    assert cr.grad(lambda x: sum(powers(x, 3)))(2.0) == pytest.approx(17.0)
    check_grads(lambda x: powers(x, 3), (np.array([0.5, 1.5]),), order=2)


def test_custom_jvp_safe_norm():
    # the classic use: a derivative that is finite where naive autodiff gives nan
    @custom_jvp
    def safe_norm(x):
        return cnp.sqrt((x ** 2).sum())

    @safe_norm.defjvp
    def safe_norm_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        n = safe_norm(x)
        denom = cnp.where(n == 0.0, 1.0, n)
        return n, (x * t).sum() / denom

    np.testing.assert_allclose(cr.grad(safe_norm)(np.zeros(3)), np.zeros(3))
    np.testing.assert_allclose(cr.grad(safe_norm)(np.array([3.0, 4.0])), [0.6, 0.8])


def test_custom_jvp_errors():
    @custom_jvp
    def nojvp(x):
        return x

    with pytest.raises(AttributeError, match="nojvp"):
        nojvp(1.0)

    @custom_jvp
    def badrule(x):
        return x

    badrule.defjvp(lambda primals, tangents: tangents[0])
    with pytest.raises(ValueError, match="badrule.*pair"):
        cr.jvp(badrule, (1.0,), (1.0,))


def test_custom_vjp_pytree_output_forward_mode_and_int_leaf():
    @custom_vjp
    def f(x):
        return cnp.sin(x), np.int64(3), x * np.ones((2, 2))

    f.defvjp(lambda x: (f(x), None), lambda r, g: (2.0 * g[0] + g[2].sum(),))
    out = f(1.0)
    assert out[0] == pytest.approx(np.sin(1.0)) and out[1] == 3 and out[2].shape == (2, 2)
    _, t = cr.jvp(f, (1.0,), (1.0,))
    assert t[0] == pytest.approx(np.cos(1.0)) and t[1] == 0.0
    np.testing.assert_allclose(t[2], np.ones((2, 2)))
    assert cr.grad(lambda x: f(x)[0] + f(x)[2].sum())(1.0) == pytest.approx(6.0)


def test_custom_vjp_identity_bwd_float32_and_result_not_aliased():
    @custom_vjp
    def ident(x):
        return x * 1.0

    ident.defvjp(lambda x: (ident(x), None), lambda r, g: (g,))
    x = np.array([1.0, 2.0], np.float32)
    g = cr.grad(lambda x: ident(x).sum())(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [1.0, 1.0])
    ct = np.array([5.0, 6.0], np.float32)
    (got,) = cr.vjp(ident, x)[1](ct)
    got[0] = 0.0
    assert ct[0] == 5.0


def test_custom_jvp_tape_create_graph():
    f = make_sin_jvp(scale=5.0)
    x = cr.tensor(0.3, requires_grad=True)
    f(x).backward(create_graph=True)
    g = x.grad
    assert float(g.detach().numpy()) == pytest.approx(5 * np.cos(0.3))
    x.grad = None
    g.backward()
    assert float(x.grad.detach().numpy()) == pytest.approx(-5 * np.sin(0.3))


# -- vmap: the user's rules run under vmap, once per call, not once per example -----------------

def test_vmap_runs_the_custom_vjp_rules_once_under_vmap():
    calls = {"fwd": 0, "bwd": 0}

    @cr.custom_vjp
    def f(x, w):
        return cnp.sin(x) * w

    def fwd(x, w):
        calls["fwd"] += 1
        return f(x, w), (x, w)

    def bwd(res, g):
        calls["bwd"] += 1
        x, w = res
        return g * cnp.cos(x) * w * 10.0, g * cnp.sin(x)  # a deliberately different rule for x

    f.defvjp(fwd, bwd)
    xs, w = np.array([0.1, 0.2, 0.3]), 2.0
    gx = cr.vmap(cr.grad(f), in_axes=(0, None))(xs, w)
    np.testing.assert_allclose(gx, 10.0 * np.cos(xs) * w, rtol=1e-12)  # the rule was used
    assert calls == {"fwd": 1, "bwd": 1}
    gw = cr.grad(lambda w: cnp.sum(cr.vmap(f, in_axes=(0, None))(xs, w)))(w)
    np.testing.assert_allclose(gw, np.sum(np.sin(xs)), rtol=1e-12)  # summed over the batch


def test_vmap_runs_the_custom_jvp_rule_once_under_vmap():
    calls = []

    @cr.custom_jvp
    def f(x):
        return cnp.exp(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        calls.append(1)
        (x,), (t,) = primals, tangents
        return f(x), 3.0 * cnp.exp(x) * t  # deliberately 3x: proves the rule is used

    xs = np.array([0.0, 1.0])
    np.testing.assert_allclose(cr.vmap(f)(xs), np.exp(xs), rtol=1e-12)
    np.testing.assert_allclose(cr.vmap(lambda x: cr.jvp(f, (x,), (1.0,))[1])(xs), 3 * np.exp(xs), rtol=1e-12)
    assert len(calls) == 1
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(xs), 3 * np.exp(xs), rtol=1e-12)


def test_a_nondiff_argument_mapped_by_vmap_is_refused_with_the_way_out():
    def fn(k, x):
        return k * cnp.sin(x)

    f = custom_vjp(fn, nondiff_argnums=(0,))
    f.defvjp(lambda k, x: (f(k, x), x), lambda k, x, g: (k * g * cnp.cos(x),))
    ks, xs = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="argument 0 is in nondiff_argnums but cr.vmap maps it.*differentiable"):
        cr.vmap(f)(ks, xs)
    np.testing.assert_allclose(cr.vmap(f, in_axes=(None, 0))(2.0, xs), 2.0 * np.sin(xs), rtol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.grad(f, argnums=1), in_axes=(None, 0))(2.0, xs), 2.0 * np.cos(xs),
                               rtol=1e-12)

    g = custom_vjp(fn)  # the way out: k differentiable, its cotangent None
    g.defvjp(lambda k, x: (g(k, x), (k, x)), lambda r, ct: (None, r[0] * ct * cnp.cos(r[1])))
    np.testing.assert_allclose(cr.vmap(g)(ks, xs), ks * np.sin(xs), rtol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.grad(g, argnums=1))(ks, xs), ks * np.cos(xs), rtol=1e-12)


@pytest.mark.parametrize("kind", ["vjp", "jvp"])
def test_a_closure_over_a_mapped_value_is_refused_under_vmap(kind):
    def outer(k, x):
        if kind == "vjp":
            f = custom_vjp(lambda x: k * cnp.sin(x))
            f.defvjp(lambda x: (f(x), x), lambda x, g: (k * g * cnp.cos(x),))
        else:
            f = custom_jvp(lambda x: k * cnp.sin(x))
            f.defjvp(lambda p, t: (f(p[0]), k * cnp.cos(p[0]) * t[0]))
        return f(x)

    ks, xs = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="closes over a value traced by cr.vmap.*explicit argument"):
        cr.vmap(outer)(ks, xs)
    with pytest.raises(ValueError, match="closes over a value traced by cr.vmap"):
        cr.vmap(cr.grad(outer, argnums=1))(ks, xs)


def test_defjvps_one_rule_per_argument_like_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def build(custom, m):
        @custom
        def f(x, y):
            return m.sin(x) * y

        f.defjvps(lambda tx, ans, x, y: m.cos(x) * tx * y, lambda ty, ans, x, y: m.sin(x) * ty)
        return f

    f, jf = build(cr.custom_jvp, cnp), build(jax.custom_jvp, jnp)
    w = np.array([0.5, 1.0, 2.0])
    for ours, ref in [
        (cr.grad(lambda x, y: cnp.sum(f(x, y)), argnums=(0, 1))(w, 2 * w),
         jax.grad(lambda x, y: jnp.sum(jf(x, y)), argnums=(0, 1))(w, 2 * w)),
        (cr.vmap(cr.jacfwd(f))(np.stack([w, w]), np.stack([w, 3 * w])),
         jax.vmap(jax.jacfwd(jf))(np.stack([w, w]), np.stack([w, 3 * w]))),
        (cr.hessian(lambda x: cnp.sum(f(x, x)))(w), jax.hessian(lambda x: jnp.sum(jf(x, x)))(w)),
    ]:
        for o, r in zip(np.atleast_1d(ours) if not isinstance(ours, tuple) else ours,
                        np.atleast_1d(ref) if not isinstance(ref, tuple) else ref):
            np.testing.assert_allclose(o, r, rtol=1e-12)

    @cr.custom_jvp
    def g(x, y):
        return x * y

    g.defjvps(None, lambda ty, ans, x, y: x * ty)  # None: x contributes nothing
    assert cr.grad(g, argnums=(0, 1))(2.0, 3.0) == (0.0, 2.0)
    with pytest.raises(ValueError, match="defjvps got 1 rules for 2 arguments"):
        g.defjvps(None)
        cr.jvp(g, (2.0, 3.0), (1.0, 1.0))
