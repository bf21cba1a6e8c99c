"""cr.jit's graph passes (fold, simplify, cse, dce) and code generation with buffer reuse.

Oracles: the unoptimised graph run primitive by primitive (``eval_ir``), eager
NumPy, and the compiled code with reuse off.  Values are compared bit for bit
(signed zeros and NaNs included): the passes and the buffer reuse must not
change a single result.
"""
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.primitive import REGISTRY
from chainrule._core.pytree import tree_flatten
from chainrule._interpreters.staging import IR, Eqn, Lit, Var, eval_ir
from chainrule._jit import codegen, passes

P = REGISTRY
F64 = np.float64


def same(a, b):
    """Bit-for-bit equal values: shapes, dtypes, signed zeros; any NaN equals any NaN."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "c":
        return same(a.real, b.real) and same(a.imag, b.imag)
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    return bool(np.array_equal(nan_a, nan_b) and np.array_equal(a[~nan_a], b[~nan_b])
                and np.array_equal(np.signbit(a[~nan_a]), np.signbit(b[~nan_b])))


def all_same(xs, ys):
    return len(xs) == len(ys) and all(same(x, y) for x, y in zip(xs, ys))


def prims(ir):
    return [e.prim.name for e in ir.eqns]


def check_pass(pass_, ir, *vals):
    """Run ``pass_`` on ``ir``: its result must compute what ``ir`` computes, compiled or not."""
    out = pass_(ir)
    want = eval_ir(ir, vals)
    assert all_same(eval_ir(out, vals), want)
    for reuse in (False, True):
        assert all_same(codegen.compile_ir(out, reuse=reuse)[0](*vals), want)
    return out


# -- fold ---------------------------------------------------------------------------------

def test_fold_evaluates_constant_equations():
    a = Var((3,), F64)
    c, d, o = Var((), F64), Var((), F64), Var((3,), F64)
    ir = IR([a], [Eqn(P["exp"], (Lit(0.5),), {}, c), Eqn(P["multiply"], (Lit(2.0), c), {}, d),
                  Eqn(P["multiply"], (a, d), {}, o)], [o])
    out = check_pass(passes.fold, ir, np.array([1.0, -2.0, 3.0]))
    assert prims(out) == ["multiply"]
    assert type(out.eqns[0].ins[1]) is Lit and out.eqns[0].ins[1].value == 2.0 * np.exp(0.5)


def test_fold_makes_constant_outputs_and_returns_a_copy_each_call():
    c = Var((2,), F64)
    ir = IR([], [Eqn(P["sin"], (Lit(np.array([0.0, 1.0])),), {}, c)], [c])
    out = check_pass(passes.fold, ir)
    assert out.eqns == [] and type(out.outs[0]) is Lit
    run, _ = codegen.compile_ir(out)
    first = run()[0]
    first[0] = 99.0  # the caller owns what it gets
    assert same(run()[0], np.sin(np.array([0.0, 1.0])))


def test_fold_keeps_big_constants_and_failing_equations():
    big, bad, o = Var((1000, 100), F64), Var((2, 2), F64), Var((1000, 100), F64)
    a = Var((1000, 100), F64)
    ir = IR([a], [Eqn(P["broadcast_to"], (Lit(1.5),), {"shape": (1000, 100)}, big),
                  Eqn(P["add"], (a, big), {}, o)], [o])
    assert prims(check_pass(passes.fold, ir, np.zeros((1000, 100)))) == ["broadcast_to", "add"]
    ir = IR([], [Eqn(P["reshape"], (Lit(np.arange(3.0)),), {"shape": (2, 2)}, bad)], [bad])
    assert prims(passes.fold(ir)) == ["reshape"]  # the run says what is wrong, naming reshape
    with pytest.raises(ValueError, match="reshape"):
        codegen.compile_ir(passes.optimize(ir))[0]()


# -- simplify -------------------------------------------------------------------------------

@pytest.mark.parametrize("f", [lambda x: x * 1.0, lambda x: 1 * x, lambda x: x + (-0.0), lambda x: -0.0 + x,
                               lambda x: x - 0.0, lambda x: x / 1, lambda x: x ** 1,
                               lambda x: cnp.transpose(x[None], (0, 1))[0]])
def test_simplify_removes_exact_identities(f):
    g = lambda x: cnp.sin(f(x))
    x = np.array([-0.0, 0.0, np.nan, -np.inf])
    ir = cr.make_ir(g)(x)
    out = check_pass(passes.optimize, ir, x)
    assert len(out.eqns) < len(ir.eqns)
    assert [n for n in prims(out) if n != "getitem"] == ["sin"]
    assert same(cr.jit(g)(x), np.sin(x))


@pytest.mark.parametrize("name, params", [("reshape", {"shape": (2, 3)}), ("astype", {"dtype": np.dtype(F64)}),
                                          ("broadcast_to", {"shape": (2, 3)}), ("transpose", {"axes": (0, 1)})])
def test_simplify_removes_declared_noops(name, params):
    a, b, c = Var((2, 3), F64), Var((2, 3), F64), Var((2, 3), F64)
    ir = IR([a], [Eqn(P[name], (a,), params, b), Eqn(P["sin"], (b,), {}, c)], [c])
    out = check_pass(passes.optimize, ir, np.arange(6.0).reshape(2, 3) - 2.0)
    assert prims(out) == ["sin"] and out.eqns[0].ins[0] is a


@pytest.mark.parametrize("f, why", [
    (lambda x: x + 0.0, "-0.0 + 0.0 is +0.0"), (lambda x: 0.0 + x, "-0.0 + 0.0 is +0.0"),
    (lambda x: x - (-0.0), "-0.0 - -0.0 is +0.0"), (lambda x: x * 0.0, "inf * 0 is nan"),
    (lambda x: x + 0, "the int 0 is +0.0"), (lambda x: x ** 2, "not a unit"),
    (lambda x: (x * 1j) * 1, "(a + inf j) * 1 is nan + inf j"),
])
def test_simplify_keeps_what_changes_a_value(f, why):
    x = np.array([-0.0, 0.0, np.nan, np.inf, 2.0])
    ir = cr.make_ir(lambda x: cnp.sin(f(x)))(x)
    out = check_pass(passes.optimize, ir, x)
    assert len(out.eqns) == len(ir.eqns), why
    assert same(cr.jit(lambda x: cnp.sin(f(x)))(x), np.sin(f(x)))


def test_simplify_keeps_a_change_of_dtype_and_graph_outputs():
    i = np.arange(3)
    out = passes.optimize(cr.make_ir(lambda x: cnp.sin(x * 1.0))(i))  # int * 1.0 is a float
    assert prims(out) == ["multiply", "sin"]
    x = np.ones(3)
    out = passes.optimize(cr.make_ir(lambda x: x * 1.0)(x))  # an output: never the caller's input back
    assert prims(out) == ["multiply"]
    y = cr.jit(lambda x: x * 1.0)(x)
    assert y is not x and not np.shares_memory(x, y)
    out = passes.optimize(cr.make_ir(lambda x: cnp.sin(cnp.transpose(x, (1, 0))))(np.ones((2, 2))))
    assert prims(out) == ["transpose", "sin"]  # same shape, not the identity


def test_simplify_reads_through_a_broadcast():
    ir = cr.make_ir(lambda s, y: cnp.broadcast_to(s, (3,)) * y)(2.0, np.ones(3))
    out = check_pass(passes.optimize, ir, np.float64(-0.0), np.array([1.0, np.inf, -2.0]))
    assert prims(out) == ["multiply"] and out.eqns[0].ins[0] is ir.invars[0]
    # the consumer does not broadcast to the same shape on its own: keep the broadcast
    ir = cr.make_ir(lambda s: cnp.broadcast_to(s, (3,)) * 2.0)(np.float32(2.0))
    assert prims(check_pass(passes.optimize, ir, np.float32(1.5))) == ["broadcast_to", "multiply"]


def test_simplify_keeps_stop_gradient_so_derivatives_stay():
    f = lambda x: cnp.sum(cr.stop_gradient(x * 1.0) * x)
    x = np.array([1.0, 2.0])
    assert "stop_gradient" in prims(cr.jit(f).lower(x).ir)
    assert np.allclose(cr.grad(cr.jit(f))(x), x)


# -- cse ------------------------------------------------------------------------------------

def test_cse_merges_equal_equations():
    f = lambda x: cnp.sin(x) * cnp.sin(x) + x * 2.0 + x * 2.0 + x[np.array([0, 1, 0])] + x[np.array([0, 1, 0])]
    x = np.array([0.5, -1.0, 2.0])
    ir = cr.make_ir(f)(x)
    out = check_pass(passes.cse, ir, x)
    assert prims(out).count("sin") == 1 and prims(out).count("getitem") == 1
    assert len([e for e in out.eqns if e.prim.name == "multiply"]) == 2


def test_cse_tells_signed_zeros_and_different_params_apart():
    x = np.array([np.inf, -1.0, 1.0])
    ir = cr.make_ir(lambda x: (x * 0.0, x * -0.0, cnp.sum(x, axis=0), cnp.sum(x, axis=0, keepdims=True),
                               x[np.array([0, 1])] + x[np.array([1, 0])]))(x)
    out = check_pass(passes.cse, ir, x)
    assert len(out.eqns) == len(ir.eqns)


def test_cse_params_with_arrays_and_unhashables():
    a = Var((5,), F64)
    b, c, d, e_, o = (Var((2,), F64) for _ in range(5))
    g = P["getitem"]
    ir = IR([a], [Eqn(g, (a,), {"idx": np.array([1, 3])}, b), Eqn(g, (a,), {"idx": np.array([1, 3])}, c),
                  Eqn(g, (a,), {"idx": (np.array([1, 2]),)}, d), Eqn(g, (a,), {"idx": np.array([1, 4])}, e_),
                  Eqn(P["add"], (b, c), {}, o)], [o, d, e_])
    vals = (np.arange(5.0),)
    out = check_pass(passes.cse, ir, *vals)
    assert len(out.eqns) == 4 and out.eqns[-1].ins[0] is out.eqns[-1].ins[1]


def test_dce_drops_unused():
    ir = cr.make_ir(lambda x: (cnp.sin(x), cnp.cos(x))[0])(np.ones(2))
    assert prims(passes.dce(ir)) == ["sin"] and "cos" in prims(ir)


def test_optimize_counts_on_a_traced_gradient():
    f = lambda x: cnp.sum(cnp.tanh(x) * cnp.tanh(x) * 1.0)
    x = np.linspace(-1, 1, 5)
    ir = cr.make_ir(cr.grad(f))(x)
    out = check_pass(passes.optimize, ir, x)
    assert len(out.eqns) < len(ir.eqns)
    # tanh once (CSE), one tanh_backward per use merged into one, the cotangents added
    assert [e.prim.name for e in out.eqns] == ["tanh", "tanh_backward", "add"]
    assert np.allclose(eval_ir(out, (x,))[0], 2 * np.tanh(x) * (1 - np.tanh(x) ** 2))


# -- property: random elementwise chains ----------------------------------------------------

SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, np.nan, np.inf, -np.inf, 1e308, 5e-324]
CONSTS = [0.0, -0.0, 1.0, 1, 0, 2.0, -1.0, np.nan, np.inf]
UNARY = ["sin", "tanh", "exp", "negative", "sqrt", "log", "abs", "square"]
BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum"]


@st.composite
def programs(draw):
    steps = []
    for k in range(draw(st.integers(1, 10))):
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(UNARY)), draw(st.integers(0, k + 1)), None))
        else:
            b = draw(st.one_of(st.integers(0, k + 1), st.sampled_from(CONSTS).map(lambda c: ("c", c))))
            steps.append((draw(st.sampled_from(BINARY)), draw(st.integers(0, k + 1)), b))
    outs = draw(st.lists(st.integers(0, len(steps) + 1), min_size=1, max_size=3))
    return steps, outs


def run_program(lib, program, x, y):
    steps, outs = program
    vals = [x, y]
    for name, i, j in steps:
        fn = getattr(lib, name)
        if j is None:
            vals.append(fn(vals[i]))
        else:
            vals.append(fn(vals[i], j[1] if isinstance(j, tuple) else vals[j]))
    return [vals[k] for k in outs]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.lists(st.sampled_from(SPECIAL), min_size=4, max_size=4),
       st.lists(st.sampled_from(SPECIAL), min_size=4, max_size=4), st.sampled_from([1, 3000]))
def test_random_chains_identical_with_and_without_passes_and_reuse(program, xs, ys, reps):
    x = np.tile(np.array(xs), reps)  # 3000 copies: 96 KiB, so the pool is used too
    y = np.tile(np.array(ys), reps)
    with np.errstate(all="ignore"):
        want = run_program(np, program, x, y)
        ir = cr.make_ir(lambda x, y: run_program(cnp, program, x, y))(x, y)
        opt = passes.optimize(ir)
        x0, y0 = x.copy(), y.copy()
        for g in (ir, opt):
            for reuse in (False, True):
                run, _ = codegen.compile_ir(g, reuse=reuse, fused=False)  # fusion: test_jit_fuse.py
                first = run(x, y)
                kept = [np.array(v, copy=True) for v in first]
                assert all_same(first, want)
                assert all_same(run(y, x), run_program(np, program, y, x))  # a second call...
                assert all_same(first, kept)  # ...leaves the first call's results alone
                assert same(x, x0) and same(y, y0)  # inputs are never written
        jitted = cr.jit(lambda x, y: run_program(cnp, program, x, y))
        jitted(x, y)
        for got, w in zip(jitted(x, y), want):  # fused libm calls (sin, tanh) may differ by an ulp
            np.testing.assert_allclose(got, w, rtol=4e-16 * 8, atol=0)


# -- buffer reuse ------------------------------------------------------------------------

def chain(x):
    a = cnp.tanh(x) * 2.0
    b = cnp.exp(-a) + a
    c = cnp.reshape(b, (-1,))  # an output that is a view of a temporary
    d = cnp.sin(b) * cnp.cos(a)
    return c, d * d, cnp.sum(d)


def test_reuse_uses_the_pool_for_big_temporaries_and_outputs_stay_fresh():
    x = np.linspace(-3, 3, 20_000).reshape(100, 200)
    f = cr.jit(chain)
    src = f.lower(x).source
    assert "_pool" in src and "out=p" in src
    first = f(x)
    kept = [v.copy() for v in first]
    second = f(-x)
    for a, b in zip(first, kept):
        assert same(a, b)
    for a, b in zip(first, second):
        assert not np.shares_memory(a, b)
    assert all_same(second, chain(-x))


def test_reuse_never_writes_inputs_or_views_of_them():
    x = np.linspace(-1, 1, 10_000)
    x0 = x.copy()
    f = cr.jit(lambda x: (cnp.tanh(cnp.reshape(x, (100, 100)) + 1.0) * 3.0, cr.stop_gradient(x) * 2.0))
    for _ in range(3):
        out = f(x)
        assert same(x, x0)
    assert all_same(out, [np.tanh(x.reshape(100, 100) + 1.0) * 3.0, x * 2.0])


@pytest.mark.filterwarnings("ignore::chainrule._jit.fuse.FusionWarning")
def test_reuse_keeps_a_buffer_while_a_view_of_it_lives(monkeypatch):
    monkeypatch.setenv("CHAINRULE_JIT_NUMBA", "0")  # the elementwise tail is NumPy calls, not one fused kernel
    def g(x):
        t = cnp.tanh(x)                      # a fresh buffer
        v = cnp.transpose(t, (1, 0))         # a view of it, read last
        s = cr.stop_gradient(t)              # returns t itself: may alias
        u = cnp.exp(x) * 2.0                 # must not go into t's buffer
        return u + v + s * u
    x = np.random.default_rng(1).standard_normal((128, 128))
    f = cr.jit(g)
    assert "out=" in f.lower(x).source
    assert same(f(x), g(x)) and same(f(x), g(x))


def test_source_without_reuse_has_no_out():
    ir = cr.make_ir(chain)(np.ones((100, 200)))
    _, src = codegen.compile_ir(passes.optimize(ir), reuse=False)
    assert "out=" not in src and "_pool" not in src
    _, src = codegen.compile_ir(passes.optimize(ir), reuse=True)
    assert "out=" in src


def test_threads_calling_one_jitted_function():
    f = cr.jit(chain)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((100, 200)) for _ in range(8)]
    wants = [chain(x) for x in xs]
    f(xs[0])
    errors = []

    def work(k):
        try:
            for _ in range(20):
                if not all_same(f(xs[k]), wants[k]):
                    errors.append(k)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_jit_with_transforms_after_the_passes():
    rng = np.random.default_rng(0)
    sizes = [2, 20, 20, 1]
    params = [(rng.standard_normal((m, n)) / np.sqrt(m), np.zeros(n)) for m, n in zip(sizes[:-1], sizes[1:])]
    X, Y = rng.standard_normal((5000, 2)), rng.standard_normal((5000, 1))

    def loss(p, x, y):
        for W, b in p[:-1]:
            x = cnp.tanh(x @ W + b)
        return cnp.mean((x @ p[-1][0] + p[-1][1] - y) ** 2)
    vg = cr.value_and_grad(loss)
    want = tree_flatten(vg(params, X, Y))[0]
    f = cr.jit(vg)
    for _ in range(2):
        got = tree_flatten(f(params, X, Y))[0]
        assert all(np.allclose(a, b, rtol=1e-12, atol=1e-15) for a, b in zip(got, want))
    h = lambda x: cnp.sum(cnp.sin(x) * cnp.exp(x * 1.0))
    x = rng.standard_normal(4)
    assert np.allclose(cr.jit(cr.hessian(h))(x), cr.hessian(h)(x))
    assert np.allclose(cr.hessian(cr.jit(h))(x), cr.hessian(h)(x))
    xs = rng.standard_normal((3, 4))
    assert np.allclose(cr.vmap(cr.jit(cr.grad(h)))(xs), cr.vmap(cr.grad(h))(xs))


# -- every primitive: jitted (optimised, reused buffers) against eager ---------------------------

def _explain_cases():
    from test_explain_ops import CASES
    return sorted(CASES.items())


@pytest.mark.parametrize("name, case", _explain_cases(), ids=lambda c: c if isinstance(c, str) else "")
def test_every_primitive_jitted_value_and_gradient_equal_eager(name, case):
    f, *args = case
    argnums = tuple(i for i, a in enumerate(args) if np.issubdtype(np.asarray(a).dtype, np.floating))
    with np.errstate(all="ignore"):
        assert all_same(tree_flatten(cr.jit(f)(*args))[0], tree_flatten(f(*args))[0])
        if argnums:
            g = cr.grad(f, argnums=argnums)
            want = tree_flatten(g(*args))[0]
            for got in (cr.jit(g)(*args), cr.grad(cr.jit(f), argnums=argnums)(*args)):
                got = tree_flatten(got)[0]
                assert all(np.allclose(a, b, rtol=1e-12, atol=1e-14, equal_nan=True) for a, b in zip(got, want))
