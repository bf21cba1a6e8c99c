"""cr.scan / cr.fori_loop / cr.while_loop: values and derivatives against hand-unrolled Python
loops, finite differences and JAX's lax, under grad, jvp, vmap, jit and their compositions."""
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

RNG = np.random.default_rng(7)
D, L = 3, 6
W = RNG.normal(size=(D, D)) * 0.5
U = RNG.normal(size=(D, 2))
B = RNG.normal(size=D)
XS = RNG.normal(size=(L, 2))
H0 = RNG.normal(size=D)
WEIGHTS = np.arange(1.0, L + 1)


# -- the programs, each as a scan and as the loop written out by hand (the oracle) --------

def rnn_scan(W, U, b, xs, h0, reverse=False, checkpoint=False):
    def step(h, x):
        h = cnp.tanh(W @ h + U @ x + b)
        return h, cnp.sum(h ** 2)
    h, ys = cr.scan(step, h0, xs, reverse=reverse, checkpoint=checkpoint)
    return cnp.sum(h) + cnp.sum(ys * WEIGHTS)


def rnn_unrolled(W, U, b, xs, h0, reverse=False, checkpoint=False):
    h, ys = h0, [None] * L
    for i in (reversed(range(L)) if reverse else range(L)):
        h = cnp.tanh(W @ h + U @ xs[i] + b)
        ys[i] = cnp.sum(h ** 2)
    return cnp.sum(h) + sum(y * w for y, w in zip(ys, WEIGHTS))


def tree_scan(a, xs):
    """A dict carry with an int counter, a dict of xs, a tuple of ys (one of them ints)."""
    def step(c, x):
        v = c["v"] * a + x["p"] * cnp.sin(x["q"] * c["v"])
        return {"n": c["n"] + 1, "v": v}, (cnp.sum(v), c["n"])
    c, (ys, ns) = cr.scan(step, {"n": 0, "v": cnp.ones(3)}, {"p": xs, "q": xs * 2.0})
    return cnp.sum(c["v"]) + cnp.sum(ys ** 2) + 0.0 * cnp.sum(ns) + c["n"]


def tree_unrolled(a, xs):
    v, ys = cnp.ones(3), []
    for i in range(xs.shape[0]):
        v = v * a + xs[i] * cnp.sin(xs[i] * 2.0 * v)
        ys.append(cnp.sum(v))
    return cnp.sum(v) + sum(y ** 2 for y in ys) + xs.shape[0]


def euler_scan(k, x0):
    """An explicit ODE integrator with no xs: dx/dt = -k x + sin(x), 20 steps of 0.05."""
    (x, _), traj = cr.scan(lambda c, _: ((c[0] + 0.05 * (-k * c[0] + cnp.sin(c[0])), c[1] + 1), c[0]),
                           (x0, 0), None, length=20)
    return cnp.sum(x) + 0.1 * cnp.sum(traj)


def euler_unrolled(k, x0):
    x, traj = x0, []
    for _ in range(20):
        traj.append(x)
        x = x + 0.05 * (-k * x + cnp.sin(x))
    return cnp.sum(x) + 0.1 * sum(cnp.sum(t) for t in traj)


def fori_prog(x, y):
    return cnp.sum(cr.fori_loop(1, 5, lambda i, v: v * x + cnp.sin(v) * i, y))


def fori_unrolled(x, y):
    v = y
    for i in range(1, 5):
        v = v * x + cnp.sin(v) * i
    return cnp.sum(v)


def nested_prog(a, xs):
    """A scan whose body holds a scan, a cond and a fori_loop."""
    def outer(c, x):
        def inner(d, xi):
            d = cnp.sin(d * a + xi)
            return d, cnp.cos(d)
        d, ys = cr.scan(inner, c, x)
        d = cr.cond(cnp.sum(d) > 0, lambda t: t * 2.0, lambda t: t - 1.0, d)
        return cr.fori_loop(0, 2, lambda i, v: v * a, d), cnp.sum(ys)
    c, ys = cr.scan(outer, cnp.zeros(2), xs)
    return cnp.sum(c) + cnp.sum(ys ** 2)


def nested_unrolled(a, xs):
    c, total = np.zeros(2), 0.0
    for x in xs:
        d, s = c, 0.0
        for xi in x:
            d = cnp.sin(d * a + xi)
            s = s + cnp.sum(cnp.cos(d))
        d = d * 2.0 if cnp.sum(d) > 0 else d - 1.0
        c = d * a * a
        total = total + s ** 2
    return cnp.sum(c) + total


CASES = {
    "rnn": (rnn_scan, rnn_unrolled, (W, U, B, XS, H0)),
    "rnn_reverse": (lambda *a: rnn_scan(*a, reverse=True), lambda *a: rnn_unrolled(*a, reverse=True),
                    (W, U, B, XS, H0)),
    "rnn_checkpoint": (lambda *a: rnn_scan(*a, checkpoint=True), rnn_unrolled, (W, U, B, XS, H0)),
    "rnn_checkpoint_reverse": (lambda *a: rnn_scan(*a, reverse=True, checkpoint=4),
                               lambda *a: rnn_unrolled(*a, reverse=True), (W, U, B, XS, H0)),
    "tree": (tree_scan, tree_unrolled, (0.9, RNG.normal(size=(5, 3)))),
    "euler": (euler_scan, euler_unrolled, (1.3, np.array([0.5, -1.0]))),
    "fori": (fori_prog, fori_unrolled, (0.8, np.array([0.3, 0.6]))),
    "nested": (nested_prog, nested_unrolled, (0.8, RNG.normal(size=(4, 3, 2)))),
}


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol)


def _tree_close(a, b, tol=1e-10):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        _close(x, y, tol)


def _argnums(args):
    return tuple(i for i, a in enumerate(args))


@pytest.mark.parametrize("name", CASES)
def test_values_match_the_unrolled_loop(name):
    f, oracle, args = CASES[name]
    want = oracle(*args)
    _close(f(*args), want)
    _close(cr.jit(f)(*args), want)


@pytest.mark.parametrize("name", CASES)
def test_reverse_mode_eager_jit_and_composed(name):
    f, oracle, args = CASES[name]
    nums = _argnums(args)
    want = cr.grad(oracle, argnums=nums)(*args)
    for got in (cr.grad(f, argnums=nums)(*args), cr.grad(cr.jit(f), argnums=nums)(*args),
                cr.jit(cr.grad(f, argnums=nums))(*args)):
        _tree_close(got, want)


@pytest.mark.parametrize("name", CASES)
def test_forward_mode(name):
    f, oracle, args = CASES[name]
    tans = tuple(RNG.normal(size=np.shape(a)) for a in args)
    want = cr.jvp(oracle, args, tans)[1]
    _close(cr.jvp(cr.jit(f), args, tans)[1], want)
    _close(cr.jit(lambda *a: cr.jvp(f, a[:len(args)], a[len(args):])[1])(*args, *tans), want)


@pytest.mark.parametrize("name", CASES)
def test_second_derivatives(name):
    f, oracle, args = CASES[name]
    want = cr.hessian(oracle)(*args)
    for got in (cr.hessian(cr.jit(f))(*args), cr.jit(cr.hessian(f))(*args),
                cr.jacfwd(cr.grad(cr.jit(f)))(*args)):
        _close(got, want, 1e-9)


@pytest.mark.parametrize("name", ["rnn", "rnn_reverse", "rnn_checkpoint", "tree", "euler", "fori"])
def test_finite_differences(name):
    f, _, args = CASES[name]
    jf = cr.jit(f)
    check_grads(lambda a0: jf(a0, *args[1:]), (args[0],), order=2)


@pytest.mark.parametrize("name", ["rnn", "rnn_checkpoint", "euler", "fori"])
def test_vmap_over_every_argument_and_of_the_gradient(name):
    f, oracle, args = CASES[name]
    for k, a in enumerate(args):
        stack = np.stack([np.asarray(a) * s for s in (1.0, 0.7, -0.4)])
        axes = tuple(0 if j == k else None for j in range(len(args)))
        rows = [list(args[:k]) + [row] + list(args[k + 1:]) for row in stack]
        _close(cr.vmap(cr.jit(f), in_axes=axes)(*args[:k], stack, *args[k + 1:]), [oracle(*r) for r in rows])
        got = cr.vmap(cr.grad(cr.jit(f), argnums=k), in_axes=axes)(*args[:k], stack, *args[k + 1:])
        _close(got, [cr.grad(oracle, argnums=k)(*r) for r in rows])
    _close(cr.jit(cr.vmap(f, in_axes=(0,) + (None,) * (len(args) - 1)))(np.stack([args[0]] * 2), *args[1:]),
           [oracle(*args)] * 2)


def test_tape_backward_and_create_graph():
    f, oracle, args = CASES["rnn"]
    jf = cr.jit(f)
    w = cr.tensor(W, requires_grad=True)
    jf(w, *args[1:]).backward()
    _close(w.grad, cr.grad(oracle)(*args))
    x = cr.tensor(0.9, requires_grad=True)
    jt = cr.jit(tree_scan)
    (g,) = cr.autograd.grad(jt(x, CASES["tree"][2][1]), [x], create_graph=True)
    (h,) = cr.autograd.grad(g, [x])
    _close(h, cr.grad(cr.grad(tree_unrolled))(0.9, CASES["tree"][2][1]))


# -- against JAX -------------------------------------------------------------------------------

def test_against_jax_lax_scan():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def jrnn(W, U, b, xs, h0, reverse):
        def step(h, x):
            h = jnp.tanh(W @ h + U @ x + b)
            return h, jnp.sum(h ** 2)
        h, ys = jax.lax.scan(step, h0, xs, reverse=reverse)
        return jnp.sum(h) + jnp.sum(ys * WEIGHTS)
    args = (W, U, B, XS, H0)
    for rev in (False, True):
        f = cr.jit(lambda *a: rnn_scan(*a, reverse=rev))
        _close(f(*args), jrnn(*args, rev))
        for got, want in zip(cr.grad(f, argnums=(0, 1, 2, 3, 4))(*args),
                             jax.grad(lambda *a: jrnn(*a, rev), argnums=(0, 1, 2, 3, 4))(*args)):
            _close(got, want)
        _close(cr.hessian(f)(*args), jax.hessian(lambda *a: jrnn(*a, rev))(*args), 1e-9)


def test_against_jax_while_and_fori():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    halve = lambda x: cr.while_loop(lambda v: v[0] > 1.0, lambda v: (v[0] / 2.0, v[1] * v[0]), (x, x))[1]
    jhalve = lambda x: jax.lax.while_loop(lambda v: v[0] > 1.0, lambda v: (v[0] / 2.0, v[1] * v[0]), (x, x))[1]
    for x in (10.0, 3.0, 0.5):
        _close(cr.jit(halve)(x), jhalve(x))
        _close(cr.jvp(cr.jit(halve), (x,), (1.0,))[1], jax.jvp(jhalve, (x,), (1.0,))[1])
    xs = np.array([10.0, 3.0, 0.5, 40.0])
    _close(cr.vmap(cr.jit(halve))(xs), jax.vmap(jhalve)(xs))
    _close(cr.jit(cr.vmap(halve))(xs), jax.vmap(jhalve)(xs))
    fori = lambda x: cr.fori_loop(0, 7, lambda i, v: v * x + jnp_free_sin(v) * i, x)
    jfori = lambda x: jax.lax.fori_loop(0, 7, lambda i, v: v * x + jnp.sin(v) * i, x)
    _close(cr.grad(cr.jit(fori))(0.6), jax.grad(jfori)(0.6))


def jnp_free_sin(v):
    return cnp.sin(v)


# -- while_loop ---------------------------------------------------------------------------------

def newton_sqrt(a):
    return cr.while_loop(lambda c: cnp.abs(c * c - a) > 1e-12, lambda c: 0.5 * (c + a / c), a)


def test_while_loop_values_and_forward_mode():
    for f in (newton_sqrt, cr.jit(newton_sqrt)):
        _close(f(2.0), np.sqrt(2.0))
        _close(cr.jvp(f, (2.0,), (1.0,))[1], 0.5 / np.sqrt(2.0), 1e-8)
    _close(cr.jacfwd(cr.jit(newton_sqrt))(3.0), 0.5 / np.sqrt(3.0), 1e-8)


def test_while_loop_batched_predicate_runs_until_every_member_stops():
    counts = cr.jit(cr.vmap(lambda x: cr.while_loop(lambda c: c[0] > 1.0, lambda c: (c[0] / 2.0, c[1] + 1),
                                                    (x, 0))[1]))
    np.testing.assert_array_equal(counts(np.array([10.0, 3.0, 0.5, 1000.0])), [4, 2, 0, 10])
    _close(cr.vmap(cr.jit(newton_sqrt))(np.array([2.0, 9.0, 0.25])), np.sqrt([2.0, 9.0, 0.25]))


def test_while_loop_reverse_mode_refuses_with_the_way_out():
    with pytest.raises(TypeError, match="while_loop: reverse-mode.*cr.scan or cr.fori_loop.*cr.root"):
        cr.grad(cr.jit(newton_sqrt))(2.0)
    with pytest.raises(TypeError, match="while_loop: reverse-mode"):
        cr.jit(cr.grad(newton_sqrt))(2.0)


def test_fori_loop_traced_bounds_is_a_while_loop():
    f = cr.jit(lambda n, x: cr.fori_loop(0, n, lambda i, v: v * x + i, 1.0))
    for n in (0, 3, 5):
        want = 1.0
        for i in range(n):
            want = want * 2.0 + i
        _close(f(n, 2.0), want)
    assert f.traces == 1


def test_eager_loops_are_python_loops():
    seen = []
    cr.scan(lambda c, x: (seen.append(x) or c + x, None), 0.0, np.arange(3.0))
    cr.fori_loop(0, 2, lambda i, v: seen.append(i) or v, 0.0)
    assert [float(s) for s in seen] == [0.0, 1.0, 2.0, 0.0, 1.0]


# -- bounded graphs and memory ----------------------------------------------------------------

def _decay(W):
    def f(h0, xs):
        h, _ = cr.scan(lambda h, x: (cnp.tanh(W @ h + x), None), h0, xs)
        return cnp.sum(h)
    return f


def test_graph_does_not_grow_with_the_number_of_steps():
    w = np.eye(4) * 0.5
    sizes = {n: len(cr.make_ir(_decay(w))(np.zeros(4), np.zeros((n, 4))).eqns) for n in (10, 100_000)}
    assert sizes[10] == sizes[100_000] <= 4
    xs = RNG.normal(size=(100_000, 4)) * 0.1
    f = cr.jit(_decay(w))
    f(np.zeros(4), xs[:10])
    tracemalloc.start()
    out = f(np.zeros(4), xs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200_000, peak  # a few carries, not 10^5 steps of anything
    h = np.zeros(4)
    for x in xs[-200:]:  # the decay forgets: the last 200 steps give the answer (an independent check)
        h = np.tanh(w @ h + x)
    _close(out, h.sum(), 1e-8)


def _peak_of_grad(n, checkpoint):
    d = 32
    w = RNG.normal(size=(d, d)) / np.sqrt(d)
    xs = RNG.normal(size=(n, d)) * 0.1

    def f(w):
        h, _ = cr.scan(lambda h, x: (cnp.tanh(w @ h + x), None), cnp.zeros(d), xs, checkpoint=checkpoint)
        return cnp.sum(h)
    g = cr.jit(cr.grad(f))
    g(w)
    tracemalloc.start()
    g(w)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_checkpointed_scan_keeps_order_sqrt_n_memory():
    full = {n: _peak_of_grad(n, False) for n in (900, 3600)}
    ckpt = {n: _peak_of_grad(n, True) for n in (900, 3600)}
    assert full[3600] > 3.0 * full[900]                  # residuals of every step: linear
    assert ckpt[3600] < 2.5 * ckpt[900]                  # sqrt(4) = 2 more segments and steps each
    assert ckpt[3600] < full[3600] / 10


def test_checkpoint_under_jit_recomputes_in_the_backward_graph():
    """jit(grad(checkpoint(f))) keeps only the block's inputs: its recomputation is one backward equation."""
    f = cr.checkpoint(lambda x: cnp.sin(cnp.sin(cnp.sin(x))))
    g = cr.jit(cr.grad(lambda x: cnp.sum(f(x))))
    x = RNG.normal(size=5)
    _close(g(x), cr.grad(lambda x: cnp.sum(cnp.sin(cnp.sin(cnp.sin(x)))))(x))
    from chainrule._jit import passes
    from chainrule.jit import Compiled
    ir = cr.make_ir(cr.grad(lambda x: cnp.sum(f(x))))(x)
    assert any(e.prim.name == "jit_call" for e in ir.eqns)
    del passes, Compiled


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", [lambda f: f, cr.jit])
def test_carry_must_keep_structure_shape_and_dtype(stage):
    with pytest.raises(TypeError, match="scan: the body must return a carry with the structure of init"):
        stage(lambda xs: cr.scan(lambda c, x: ((c, c), x), 0.0, xs))(np.ones(3))
    with pytest.raises(TypeError, match=r"scan: the body returns carry.*float64\[2\] but init has float64\[\]"):
        stage(lambda xs: cr.scan(lambda c, x: (c + x, x), np.float64(0.0), xs))(np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"scan: the body returns carry\['a'\] as float64\[2\] but init has (a Python number|float64)"):
        stage(lambda xs: cr.scan(lambda c, x: ({"a": c["a"] + x}, x), {"a": 0.0}, xs))(np.ones((3, 2)))
    with pytest.raises(TypeError, match="must return a pair"):
        stage(lambda xs: cr.scan(lambda c, x: c, 0.0, xs))(np.ones(3))


def test_python_number_carry_takes_the_body_dtype():
    f = lambda xs: cr.scan(lambda c, x: (c + x, c), 0, xs)
    for g in (f, cr.jit(f)):
        c, ys = g(np.ones(3))
        assert np.asarray(c).dtype == np.float64 and ys.dtype == np.float64 and float(c) == 3.0
        c, ys = g(np.ones(3, np.int64))
        assert np.asarray(c).dtype == np.int64 and ys.tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match=r"int32\[\] but init has float64"):
        cr.jit(lambda xs: cr.scan(lambda c, x: (x, c), np.float64(0.0), xs))(np.ones(3, np.int32))


def test_scan_length_errors():
    with pytest.raises(ValueError, match="scan: the leaves of xs must share their leading axis length"):
        cr.scan(lambda c, x: (c, None), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="length=5 but the leaves of xs have leading axes"):
        cr.scan(lambda c, x: (c, None), 0.0, np.ones(3), length=5)
    with pytest.raises(ValueError, match="give the number of steps"):
        cr.scan(lambda c, x: (c, None), 0.0)


def test_zero_steps():
    c, ys = cr.scan(lambda c, x: (c + x, (c * x, x)), 1.5, np.ones(0))
    assert float(np.asarray(c)) == 1.5 and ys[0].shape == (0,) and ys[1].shape == (0,)
    c, ys = cr.scan(lambda c, x: (c + x, c * x), np.ones(2), np.ones((0, 2)))
    assert ys.shape == (0, 2)


def test_taylor_mode_through_staged_loops():
    x = np.array([0.5, 0.7, 0.9])
    series = ([np.ones(3), np.zeros(3), np.zeros(3)],)
    f = lambda x: cr.scan(lambda c, xi: (c * xi + cnp.sin(c), c * c), 0.3, x)[1]
    w = lambda x: cr.while_loop(lambda c: c[1] < 3, lambda c: (cnp.sin(c[0]) * x, c[1] + 1), (x, 0))[0]
    for g in (f, w):
        p0, s0 = cr.jet(g, (x,), series)        # eager: Python loops, the oracle
        p1, s1 = cr.jet(cr.jit(g), (x,), series)
        _close(p1, p0)
        for a, b in zip(s1, s0):
            _close(a, b)
        _close(s0[0], cr.jvp(g, (x,), (np.ones(3),))[1])


# -- explain -------------------------------------------------------------------------------------

def test_explain_shows_a_loop_as_its_steps_and_collapses_a_long_one():
    def f(a, xs):
        c, ys = cr.scan(lambda c, x: (cnp.tanh(c * a + x), c ** 2), 0.5, xs)
        return c + cnp.sum(ys)
    short = cr.explain(f, 0.7, np.array([0.1, 0.2, 0.3]))
    assert "⋮" not in str(short)
    assert [s.op for s in short.steps if s.phase == "forward"][:8] == ["multiply", "getitem", "add", "tanh"] * 2
    ex = cr.explain(f, 0.7, np.linspace(-1, 1, 60))
    full, text = ex.text(collapse=False), str(ex)
    n_fwd = sum(s.phase == "forward" for s in ex.steps)
    assert len(full.splitlines()) > len(text.splitlines()) + 300
    assert "57 more repetitions of the 4 steps above (multiply, getitem, add, tanh)" in text
    shown = [int(line.split(".")[0]) for line in text.split("Backward pass")[0].splitlines()
             if line.strip()[:1].isdigit()]
    assert shown == list(range(1, 9)) + list(range(237, n_fwd + 1))  # two repetitions, a gap, the rest
    np.testing.assert_allclose(ex.grads["a"], cr.grad(f)(0.7, np.linspace(-1, 1, 60)))
