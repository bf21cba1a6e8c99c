"""cr.jit composed with every transform, in either order, against the eager result.

``grad(jit(f))``, ``jit(grad(f))``, ``jvp``, ``vmap``, ``jit(vmap(grad))``,
``hessian``, nested jit, jit inside ``custom_vjp`` / ``checkpoint`` / ``root``,
the tape (``jitted(x_tensor).backward()``), pytrees in and out, ``cr.explain``
of a jitted function, static arguments, keywords and methods.  The oracle is
always the same composition without ``jit`` (itself checked against finite
differences and JAX by the other test files).
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.pytree import tree_flatten

RT = dict(rtol=1e-12, atol=1e-13)
X = np.array([0.5, -1.0, 2.0])
M = np.array([[0.3, -0.2, 0.5], [1.1, 0.4, -0.7]])


def f(x):
    return cnp.sum(cnp.tanh(x) ** 2 * x) + cnp.prod(cnp.sin(x))


def vec(x):
    return cnp.exp(-x) * cnp.cos(x[::-1]) + cnp.cumsum(x)


def two(x, w):
    return cnp.sum(cnp.tanh(w @ x) ** 2) + cnp.sum(w * w) * x[0]


def _close(got, want, **kw):
    gl, gt = tree_flatten(got)
    wl, wt = tree_flatten(want)
    assert gt == wt, (gt, wt)
    for g, w in zip(gl, wl):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **(kw or RT))


# -- the functional transforms, each order ------------------------------------------------

COMPOSITIONS = {
    "grad(jit)": (lambda j: cr.grad(j(f)), (X,)),
    "jit(grad)": (lambda j: j(cr.grad(f)), (X,)),
    "grad(jit) argnums": (lambda j: cr.grad(j(two), argnums=(0, 1)), (X, M)),
    "jit(grad) argnums": (lambda j: j(cr.grad(two, argnums=(0, 1))), (X, M)),
    "value_and_grad(jit)": (lambda j: cr.value_and_grad(j(f)), (X,)),
    "jvp(jit)": (lambda j: lambda x, t: cr.jvp(j(vec), (x,), (t,)), (X, np.array([0.3, 1.0, -2.0]))),
    "jit(jvp)": (lambda j: j(lambda x, t: cr.jvp(vec, (x,), (t,))), (X, np.array([0.3, 1.0, -2.0]))),
    "vjp(jit)": (lambda j: lambda x, g: cr.vjp(j(vec), x)[1](g), (X, np.array([0.3, 1.0, -2.0]))),
    "jit(vjp)": (lambda j: j(lambda x, g: cr.vjp(vec, x)[1](g)), (X, np.array([0.3, 1.0, -2.0]))),
    "vmap(jit)": (lambda j: cr.vmap(j(vec)), (np.arange(12.0).reshape(4, 3) / 7,)),
    "vmap(jit) in_axes": (lambda j: cr.vmap(j(two), in_axes=(0, None)), (np.arange(12.0).reshape(4, 3) / 7, M)),
    "jit(vmap)": (lambda j: j(cr.vmap(vec)), (np.arange(12.0).reshape(4, 3) / 7,)),
    "jit(vmap(grad))": (lambda j: j(cr.vmap(cr.grad(f))), (np.arange(12.0).reshape(4, 3) / 7,)),
    "vmap(grad(jit))": (lambda j: cr.vmap(cr.grad(j(f))), (np.arange(12.0).reshape(4, 3) / 7,)),
    "vmap(jit(grad))": (lambda j: cr.vmap(j(cr.grad(f))), (np.arange(12.0).reshape(4, 3) / 7,)),
    "grad(vmap(jit))": (lambda j: cr.grad(lambda x: cnp.sum(cr.vmap(j(vec))(x))), (np.arange(12.0).reshape(4, 3) / 7,)),
    "hessian(jit)": (lambda j: cr.hessian(j(f)), (X,)),
    "jit(hessian)": (lambda j: j(cr.hessian(f)), (X,)),
    "jacfwd(jit)": (lambda j: cr.jacfwd(j(vec)), (X,)),
    "jacrev(jit)": (lambda j: cr.jacrev(j(vec)), (X,)),
    "jit(jacrev)": (lambda j: j(cr.jacrev(vec)), (X,)),
    "grad(grad(jit))": (lambda j: cr.grad(cr.grad(j(lambda s: cnp.sin(s) * s ** 3))), (0.7,)),
    "jit(grad(grad))": (lambda j: j(cr.grad(cr.grad(lambda s: cnp.sin(s) * s ** 3))), (0.7,)),
    "grad(jit(grad))": (lambda j: cr.grad(j(cr.grad(lambda s: cnp.sin(s) * s ** 3))), (0.7,)),
    "jvp(grad(jit))": (lambda j: lambda x, t: cr.jvp(cr.grad(j(f)), (x,), (t,)), (X, np.array([1.0, 0.0, 2.0]))),
    "third order": (lambda j: cr.grad(cr.grad(cr.grad(j(lambda s: cnp.exp(s) * cnp.sin(s))))), (0.4,)),
    "jit(grad(jit))": (lambda j: j(cr.grad(j(f))), (X,)),
    "jit(jit)": (lambda j: j(j(vec)), (X,)),
    "grad(jit(jit))": (lambda j: cr.grad(j(lambda x: cnp.sum(j(vec)(x) ** 2))), (X,)),
    "stop_gradient": (lambda j: cr.grad(j(lambda x: cnp.sum(cr.stop_gradient(x) * x))), (X,)),
    "int argument": (lambda j: cr.grad(j(lambda x, n: cnp.sum(x * n))), (X, np.arange(3))),
    "float32": (lambda j: cr.grad(j(f)), (X.astype(np.float32),)),
}


def _identity(fn):
    return fn


@pytest.mark.parametrize("name", list(COMPOSITIONS))
def test_composition_matches_eager(name):
    make, args = COMPOSITIONS[name]
    want = make(_identity)(*args)
    jitted = make(cr.jit)
    _close(jitted(*args), want, **({"rtol": 1e-6} if name == "float32" else {}))
    _close(jitted(*args), want, **({"rtol": 1e-6} if name == "float32" else {}))  # cached graphs
    if name == "float32":
        assert np.asarray(jitted(*args)).dtype == np.float32


def test_derivatives_of_a_jitted_function_do_not_retrace():
    jf = cr.jit(f)
    for k in range(3):
        x = X + k
        _close(cr.grad(jf)(x), cr.grad(f)(x))
        _close(cr.jvp(jf, (x,), (X,)), cr.jvp(f, (x,), (X,)))
        _close(cr.vmap(jf)(np.stack([x, -x])), cr.vmap(f)(np.stack([x, -x])))
        _close(cr.hessian(jf)(x), cr.hessian(f)(x))
    assert jf.traces == 1


def test_nested_jit_is_one_graph():
    inner = cr.jit(lambda x: cnp.sin(x) * 2.0)
    ir = cr.make_ir(cr.grad(lambda x: cnp.sum(inner(x))))(X)
    names = [e.prim.name for e in ir.eqns]
    assert "jit_call" not in names and "sin" in names and "cos" in names


def test_a_jitted_closure_over_a_traced_value():
    """The value of the enclosing transform is captured: grad flows through it."""
    def outer(a):
        g = cr.jit(lambda x: cnp.sum(x * a ** 2))
        return g(X) + a
    _close(cr.grad(outer)(1.5), cr.grad(lambda a: cnp.sum(X * a ** 2) + a)(1.5))
    _close(cr.jit(cr.grad(outer))(1.5), cr.grad(lambda a: cnp.sum(X * a ** 2) + a)(1.5))


# -- custom rules, checkpoint, implicit --------------------------------------------------

@cr.custom_vjp
def clipped_sin(x):
    return cr.jit(lambda x: cnp.sin(x) * 2.0)(x)


def _fwd(x):
    return clipped_sin(x), x


def _bwd(x, g):
    return (cr.jit(lambda x, g: cnp.clip(2.0 * cnp.cos(x) * g, -1.0, 1.0))(x, g),)


clipped_sin.defvjp(_fwd, _bwd)


def test_jit_inside_custom_vjp_and_custom_vjp_inside_jit():
    want = np.clip(2.0 * np.cos(X), -1.0, 1.0)
    loss = lambda x: cnp.sum(clipped_sin(x))  # noqa: E731
    _close(cr.grad(loss)(X), want)
    _close(cr.jit(cr.grad(loss))(X), want)
    _close(cr.grad(cr.jit(loss))(X), want)
    _close(cr.jit(clipped_sin)(X), 2.0 * np.sin(X))


@cr.custom_jvp
def softabs(x):
    return cnp.sqrt(x * x + 1.0)


softabs.defjvp(lambda p, t: (softabs(p[0]), cr.jit(lambda x, t: x / cnp.sqrt(x * x + 1.0) * t)(p[0], t[0])))


def test_custom_jvp_with_jit():
    want = X / np.sqrt(X * X + 1.0)
    _close(cr.grad(cr.jit(lambda x: cnp.sum(softabs(x))))(X), want)
    _close(cr.jit(cr.grad(lambda x: cnp.sum(softabs(x))))(X), want)
    _close(cr.jvp(cr.jit(softabs), (X,), (np.ones(3),))[1], want)


def test_checkpoint_with_jit():
    want = cr.grad(f)(X)
    _close(cr.grad(cr.checkpoint(cr.jit(f)))(X), want)
    _close(cr.jit(cr.grad(cr.checkpoint(f)))(X), want)
    _close(cr.grad(cr.jit(cr.checkpoint(f)))(X), want)
    _close(cr.hessian(cr.checkpoint(cr.jit(f)))(X), cr.hessian(f)(X))


def cubic(z, a):
    return z ** 3 + z - a


def test_root_with_a_jitted_function_and_jit_of_root():
    def solve(a, F):
        return cnp.sum(cr.root(F, np.zeros(3), a) ** 2)
    want_v = solve(X, cubic)
    want_g = cr.grad(lambda a: solve(a, cubic))(X)
    z = cr.root(cubic, np.zeros(3), X)
    np.testing.assert_allclose(z ** 3 + z, X, atol=1e-10)
    np.testing.assert_allclose(want_g, 2 * z / (3 * z ** 2 + 1), rtol=1e-9)  # implicit function theorem
    _close(cr.grad(lambda a: solve(a, cr.jit(cubic)))(X), want_g)
    _close(cr.jit(lambda a: solve(a, cubic))(X), want_v)
    _close(cr.jit(cr.grad(lambda a: solve(a, cubic)))(X), want_g)
    _close(cr.grad(cr.jit(lambda a: solve(a, cubic)))(X), want_g)


def test_implicit_fixed_point_under_jit():
    from chainrule.implicit import fixed_point
    heron = lambda x, a: (x + a / x) / 2  # noqa: E731
    g = cr.grad(lambda a: fixed_point(heron, 1.0, a))
    _close(cr.jit(g)(9.0), g(9.0))
    np.testing.assert_allclose(cr.jit(g)(9.0), 1 / 6, rtol=1e-9)


# -- the tape ---------------------------------------------------------------------------------

def test_tape_backward_through_a_jitted_function():
    jf = cr.jit(f)
    want = cr.grad(f)(X)
    xt = cr.tensor(X, requires_grad=True)
    for k in range(1, 4):
        loss = jf(xt)
        assert isinstance(loss, cr.Tensor) and loss.requires_grad
        np.testing.assert_allclose(loss.detach().numpy(), f(X), **RT)
        loss.backward()
        _close(xt.grad.numpy(), k * want)  # gradients accumulate
    assert jf.traces == 1


def test_tape_with_plain_and_tensor_arguments_and_pytrees():
    w = cr.tensor(M, requires_grad=True)
    params = {"w": w, "b": cr.tensor(np.array([0.1, -0.2]), requires_grad=True)}
    jf = cr.jit(lambda p, x: cnp.sum(cnp.tanh(p["w"] @ x + p["b"]) ** 2))
    loss = jf(params, X)
    loss.backward()
    want = cr.grad(lambda p: cnp.sum(cnp.tanh(p["w"] @ X + p["b"]) ** 2))({"w": M, "b": np.array([0.1, -0.2])})
    _close(params["w"].grad.numpy(), want["w"])
    _close(params["b"].grad.numpy(), want["b"])


def test_tape_create_graph_through_jit():
    xt = cr.tensor(X, requires_grad=True)
    (g,) = cr.autograd.grad(cr.jit(f)(xt), [xt], create_graph=True)
    cnp.sum(g * g).backward()
    want = cr.grad(lambda x: cnp.sum(cr.grad(f)(x) ** 2))(X)
    _close(xt.grad.numpy(), want)


def test_tape_intermediate_tensor_into_a_jitted_function():
    xt = cr.tensor(X, requires_grad=True)
    h = cnp.exp(xt) * 2.0
    out = cr.jit(vec)(h)
    cnp.sum(out * out).backward()
    _close(xt.grad.numpy(), cr.grad(lambda x: cnp.sum(vec(cnp.exp(x) * 2.0) ** 2))(X))


def test_tape_no_grad_and_a_tensor_without_requires_grad():
    jf = cr.jit(vec)
    with cr.no_grad():
        out = jf(cr.tensor(X, requires_grad=True))
    assert not getattr(out, "requires_grad", False)
    _close(cr.tensor(jf(cr.tensor(X))).numpy(), vec(X))


def test_a_captured_tape_tensor_gets_its_gradient():
    """A closure over a Tensor with requires_grad: the tensor is an input of the graph."""
    w = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    jf = cr.jit(lambda y: cnp.sum(cnp.sin(y * w)))
    for _ in range(2):
        jf(X).backward()
    _close(w.grad.numpy(), 2 * X * np.cos(X * np.array([1.0, 2.0, 3.0])))
    # (each call retraces today: the captured value is found only by tracing; see the report of issue 11)


# -- pytrees ---------------------------------------------------------------------------------

def tree_fn(p, xs):
    h = cnp.tanh(p["w"] @ xs[0] + p["b"])
    return {"out": [h * 2.0, (cnp.sum(h), xs[1][0] * p["b"][0] + xs[1][1])], "norm": cnp.sum(p["w"] ** 2)}


P = {"w": M, "b": np.array([0.1, -0.2])}
XS = (X, [1.5, np.float64(2.0)])


def test_pytrees_in_and_out():
    got, want = cr.jit(tree_fn)(P, XS), tree_fn(P, XS)
    _close(got, want)
    assert type(got["out"]) is list and type(got["out"][1]) is tuple


def test_grad_and_vmap_of_pytree_functions():
    loss = lambda p, xs: cnp.sum(tree_fn(p, xs)["out"][0]) + tree_fn(p, xs)["norm"]  # noqa: E731
    _close(cr.grad(cr.jit(loss))(P, XS), cr.grad(loss)(P, XS))
    _close(cr.jit(cr.grad(loss, argnums=(0, 1)))(P, XS), cr.grad(loss, argnums=(0, 1))(P, XS))
    batch = np.stack([X, X * 2, -X])
    vf = lambda x: tree_fn(P, (x, [1.0, 2.0]))  # noqa: E731
    _close(cr.vmap(cr.jit(vf))(batch), cr.vmap(vf)(batch))


def test_namedtuple_outputs_keep_their_type():
    sign, logdet = cr.jit(cnp.linalg.slogdet)(M @ M.T + np.eye(2))
    want = np.linalg.slogdet(M @ M.T + np.eye(2))
    out = cr.jit(cnp.linalg.slogdet)(M @ M.T + np.eye(2))
    assert type(out) is type(want) and out.logabsdet == pytest.approx(want.logabsdet, rel=1e-13)


# -- explain ----------------------------------------------------------------------------

def test_explain_of_a_jitted_function_shows_the_traced_graph_steps():
    def g(x, y):
        unused = cnp.exp(x)  # noqa: F841 -- dead code: the optimised graph drops it
        return cnp.sum(cnp.tanh(x * y) ** 2)
    jg = cr.jit(g)
    x, y = np.array([0.5, -1.0]), np.array([2.0, 0.3])
    ex, ex_eager = cr.explain(jg, x, y), cr.explain(g, x, y)
    raw = [e.prim.name for e in jg.lower(x, y).raw_ir.eqns]
    fwd = [s.op for s in ex.steps if s.phase == "forward"]
    assert fwd == [s.op for s in ex_eager.steps if s.phase == "forward"] == ["multiply", "tanh", "power", "sum"]
    assert raw == ["exp"] + fwd  # explain leaves out the dead step, as it does eagerly
    assert [s.formula for s in ex.steps] == [s.formula for s in ex_eager.steps]
    for k in ex.grads:
        _close(ex.grads[k], ex_eager.grads[k])
    _close((ex.grads["x"], ex.grads["y"]), cr.grad(g, argnums=(0, 1))(x, y))


def test_explain_runs_the_graph_as_traced_not_as_optimised():
    """Repeated and constant subexpressions stay separate steps, as the user wrote them (and eagerly)."""
    def g(x):
        c = cnp.exp(np.float64(0.0)) * 2.0  # a constant the optimiser may fold
        return cnp.sum(cnp.sin(x) * cnp.sin(x)) + c * cnp.sum(x)
    ex, ex_eager = cr.explain(cr.jit(g), X), cr.explain(g, X)
    assert [s.formula for s in ex.steps] == [s.formula for s in ex_eager.steps]
    assert [s.op for s in ex.steps if s.phase == "forward"].count("sin") == 2
    _close(ex.grads["x"], cr.grad(g)(X))


def test_explain_of_a_function_calling_a_jitted_one():
    inner = cr.jit(lambda v: cnp.sin(v) * v)
    ex = cr.explain(lambda x: cnp.sum(inner(x) ** 2), X)
    ops = [s.op for s in ex.steps if s.phase == "forward"]
    assert ops == ["sin", "multiply", "power", "sum"] and "jit_call" not in ops
    _close(ex.grads["x"], cr.grad(lambda x: cnp.sum((cnp.sin(x) * x) ** 2))(X))


# -- static arguments, keywords, methods -----------------------------------------------------

def powered(x, n, scale=1.0):
    out = x
    for _ in range(n - 1):
        out = out * x
    return cnp.sum(out) * scale


@pytest.mark.parametrize("kw,call", [
    ({"static_argnums": 1}, lambda jf, x: jf(x, 3)),
    ({"static_argnums": (1,)}, lambda jf, x: jf(x, n=3)),
    ({"static_argnames": "n"}, lambda jf, x: jf(x, n=3)),
    ({"static_argnames": ("n",)}, lambda jf, x: jf(x, 3)),
    ({"static_argnums": -2}, lambda jf, x: jf(x, 3, 1.0)),
], ids=["num", "num by name", "name", "name by position", "negative num"])
def test_static_arguments_under_grad(kw, call):
    jf = cr.jit(powered, **kw)
    want_g = cr.grad(lambda x: powered(x, 3))(X)
    _close(call(jf, X), powered(X, 3))
    _close(cr.grad(lambda x: call(jf, x))(X), want_g)
    _close(cr.jit(cr.grad(lambda x: call(jf, x)))(X), want_g)


def test_keyword_arguments_are_traced_and_differentiable():
    jf = cr.jit(powered, static_argnames="n")
    _close(cr.grad(lambda s: jf(X, n=2, scale=s))(3.0), cr.grad(lambda s: powered(X, 2, scale=s))(3.0))
    n = jf.traces
    _close(jf(X, scale=2.0, n=2), powered(X, 2, 2.0))
    _close(jf(X, n=2, scale=5.0), powered(X, 2, 5.0))  # the order of keywords does not matter
    assert jf.traces == n + 1


class Layer:
    def __init__(self, w):
        self.w = w

    @cr.jit
    def __call__(self, x):
        return cnp.tanh(self.w @ x)

    @cr.jit
    def loss(self, x, target):
        return cnp.sum((self(x) - target) ** 2)


def test_jitted_methods():
    layer = Layer(M)
    _close(layer(X), np.tanh(M @ X))
    _close(layer.loss(X, np.ones(2)), np.sum((np.tanh(M @ X) - 1.0) ** 2))
    _close(cr.grad(layer.loss)(X, np.ones(2)),
           cr.grad(lambda x: cnp.sum((cnp.tanh(M @ x) - 1.0) ** 2))(X))
    other = Layer(M * 2.0)
    _close(other(X), np.tanh(2.0 * M @ X))  # another instance: another static self
    assert Layer.__dict__["__call__"].__name__ == "__call__"


def test_random_draws_in_python_are_baked_in_at_trace_time():
    """Pass randomness in as an argument: a draw in Python runs once, when tracing (as in JAX)."""
    rng = np.random.default_rng(0)
    baked = cr.jit(lambda x: x * (rng.random(x.shape) < 0.5))
    assert np.array_equal(baked(np.ones(64)), baked(np.ones(64)))  # the same mask every call
    passed = cr.jit(lambda x, mask: x * mask / 0.5)
    m1, m2 = rng.random(64) < 0.5, rng.random(64) < 0.5
    _close(passed(np.ones(64), m1), m1 / 0.5)
    _close(passed(np.ones(64), m2), m2 / 0.5)
    assert passed.traces == 1


def test_constant_outputs_come_back_as_numpy_values_under_every_transform():
    def fn(x):
        return x * 2.0, cnp.ones(3), np.float64(1.5)
    jf = cr.jit(fn)
    xt = cr.tensor(X, requires_grad=True)
    seen = []

    def loss(x):
        out = jf(x)
        seen.append([type(o) for o in out[1:]])
        return cnp.sum(out[0])
    for got in (jf(X), jf(xt)):
        assert type(got[1]) is np.ndarray and type(got[2]) is np.float64
        np.testing.assert_array_equal(got[1], np.ones(3))
    cr.grad(loss)(X)
    cr.vmap(loss)(np.ones((2, 3)))
    cr.jvp(loss, (X,), (X,))
    assert seen == [[np.ndarray, np.float64]] * 3


def test_outputs_of_plain_inputs_only_are_plain_values_as_eagerly():
    """A metric of the data returned next to a loss: NumPy values on the tape and under grad/vmap, as eagerly."""
    def step(w, data):
        return cnp.sum((data @ w) ** 2), cnp.mean(data), data * 2.0
    jf = cr.jit(step)
    data = M.T
    wt = cr.tensor(np.array([0.3, -0.4]), requires_grad=True)
    for fn in (step, jf):
        loss, metric, scaled = fn(wt, data)
        assert isinstance(loss, cr.Tensor) and loss.requires_grad
        assert type(metric) is np.float64 and type(scaled) is np.ndarray
        np.testing.assert_allclose(metric, np.mean(data), **RT)
    loss.backward()
    _close(wt.grad.numpy(), cr.grad(lambda w: step(w, data)[0])(np.array([0.3, -0.4])))
    kinds = []

    def probe(fn):
        def loss(w):
            out = fn(w, data)
            kinds.append([type(o) for o in out[1:]])
            return out[0]
        return loss
    _close(cr.grad(probe(jf))(np.array([0.3, -0.4])), cr.grad(probe(step))(np.array([0.3, -0.4])))
    _close(cr.vmap(probe(jf))(np.ones((3, 2))), cr.vmap(probe(step))(np.ones((3, 2))))
    assert kinds[0] == kinds[1] == [np.float64, np.ndarray] and kinds[2] == kinds[3]
    assert jf.traces == 1
