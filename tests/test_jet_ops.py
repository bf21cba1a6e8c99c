"""``cr.jet`` of every function of the op tables, orders 1 to 4, against nested ``cr.jvp``.

The cases are ``test_jit_ops.CASES``: the tables of ``test_ops*.py`` (elementwise,
reductions, products, shape, indexing, updates, linear algebra, special functions,
joining, sorting, creation, custom rules, checkpoint, root), which together stage every
registered primitive.  Each case's float inputs get a random series of order 4; the oracle
is the k-th derivative of ``t -> f(x(t))`` at 0 by k nested ``cr.jvp`` (``path_derivatives``),
and the jet of each order K = 1..4 must give its first K coefficients.  The elementwise
tables are also checked against ``jax.experimental.jet`` (skipped without JAX, and for the
primitives JAX's jet has no rule for).  Finally every primitive with a Taylor rule must be
reached by some case.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.pytree import tree_flatten
from chainrule._core.primitive import REGISTRY
from chainrule._interpreters import taylor
from test_jet import path_derivatives
from test_jit_ops import CASES
from test_ops import BINARY, MATMUL_SHAPES, REDUCTION_CASES, UNARY, _any, _make
from test_ops_linalg import EINSUM
from _inputs import distinct, normal

KMAX = 4


def _is_float(x):
    return np.issubdtype(np.result_type(x), np.floating)


def _on_floats(f, xs):
    """``f`` as a function of its float inputs only (the others fixed), and those inputs."""
    fl = [i for i, x in enumerate(xs) if _is_float(x)]

    def g(*a):
        full = list(xs)
        for i, v in zip(fl, a):
            full[i] = v
        return f(*full)
    return g, [np.asarray(xs[i]) for i in fl]


def _series(xs, seed):
    rng = np.random.default_rng(seed)
    return tuple([(0.5 * rng.standard_normal(x.shape)).astype(x.dtype) for _ in range(KMAX)] for x in xs)


def _tol(x):
    return (2e-3, 2e-3) if np.result_type(x) == np.float32 else (1e-8, 1e-9)


def check_jet(f, xs, seed=0):
    g, fx = _on_floats(f, xs)
    if not fx:
        pytest.skip("no float input")
    flat = lambda *a: tree_flatten(g(*a))[0]  # noqa: E731  (the output's leaves, a list)
    series = _series(fx, seed)
    want = path_derivatives(flat, fx, series)  # K lists of leaves
    for K in range(1, KMAX + 1):
        y, ys = cr.jet(flat, tuple(fx), tuple(s[:K] for s in series))
        assert len(ys) == len(y)
        for n, (leaf, coefs) in enumerate(zip(y, ys)):
            assert len(coefs) == K
            rtol, atol = _tol(leaf)
            for k in range(K):
                w, c = np.asarray(want[k][n]), np.asarray(coefs[k])
                assert c.shape == np.shape(leaf), (K, k, c.shape, np.shape(leaf))
                scale = 1.0 + float(np.max(np.abs(w), initial=0.0))
                np.testing.assert_allclose(c, w, rtol=rtol, atol=atol * scale,
                                           err_msg=f"order {K}, coefficient {k + 1}, output leaf {n}")


#: cases for the primitives only derivatives reach (the VJP of repeat is segment_sum)
MORE = {
    "grad of repeat": (cr.grad(lambda x: cnp.sum(cnp.sin(cnp.repeat(x, [2, 0, 3])) ** 2)), (normal((3,), 1),)),
    "grad of tile": (cr.grad(lambda x: cnp.sum(cnp.cos(cnp.tile(x, 2)) * 1.5)), (normal((2, 3), 2),)),
    "jit inside": (cr.jit(lambda x: cnp.tanh(x) @ x.T), (normal((2, 3), 3),)),
}
CASES = {**CASES, **MORE}


@pytest.mark.parametrize("name", list(CASES))
def test_jet_matches_nested_jvp(name):
    f, xs = CASES[name]
    check_jet(f, xs)


# -- against jax.experimental.jet ------------------------------------------------------------

def _jax_fn(name, f):
    jnp = pytest.importorskip("jax.numpy")
    if name.startswith("op "):
        return f   # operators work on JAX arrays too
    if name.startswith("astype"):
        pytest.skip("astype is a method of the namespace here")
    if name == "clip":
        return lambda x: jnp.clip(x, -0.75, 0.6)
    return getattr(jnp, name)


def _against_jax(name, f, xs):
    _against_jax_fn(f, _jax_fn(name, f), xs)


def _against_jax_fn(f, jf, xs):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax.experimental.jet import jet
    series = _series(xs, 5)
    _, ys = cr.jet(f, tuple(xs), series)
    try:
        _, jys = jet(jf, tuple(xs), series)
    except Exception as e:  # noqa: BLE001  (KeyError: no jet rule; select/minimum rules that do not
        # broadcast, a leaked tracer in logaddexp: failures of JAX's jet, not of the comparison)
        pytest.skip(f"jax.experimental.jet fails here: {type(e).__name__}: {str(e)[:80]}")
    for k, (a, b) in enumerate(zip(ys, jys), 1):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10, err_msg=f"coefficient {k}")


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_against_jax(name):
    f, dom = UNARY[name]
    _against_jax(name, f, [_make(dom, (3, 2), 4)])


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_against_jax(name):
    f, dx, dy = BINARY[name]
    _against_jax(name, f, [_make(dx, (3, 2), 0), _make(dy, (1, 2), 1)])


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_against_jax(shapes):
    jnp = pytest.importorskip("jax.numpy")
    _against_jax_fn(cnp.matmul, jnp.matmul, [_make(_any, shapes[0], 12), _make(_any, shapes[1], 13)])


@pytest.mark.parametrize("subs", list(EINSUM))
def test_einsum_against_jax(subs):
    jnp = pytest.importorskip("jax.numpy")
    _against_jax_fn(lambda *o: cnp.einsum(subs, *o), lambda *o: jnp.einsum(subs, *o),
                    [normal(s, k) for k, s in enumerate(EINSUM[subs])])


@pytest.mark.parametrize("shape,axis", REDUCTION_CASES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_reductions_against_jax(name, shape, axis):
    jnp = pytest.importorskip("jax.numpy")
    x = distinct(shape, 4) if name == "max" else normal(shape, 4)
    _against_jax_fn(lambda x: getattr(cnp, name)(x, axis=axis), lambda x: getattr(jnp, name)(x, axis=axis), [x])


# -- every Taylor rule is reached -------------------------------------------------------------

#: primitives no case reaches under cr.jet, and why
NOT_REACHED: dict = {"cond": "staged only inside cr.jit, whose jit_call takes the jet (an eager cond is Python's if)",
                     "scan": "staged only inside cr.jit, whose jit_call takes the jet (an eager scan is a Python loop;"
                             " tests/test_loops.py checks cr.jet through both)",
                     "while_loop": "staged only inside cr.jit, whose jit_call takes the jet (an eager while_loop is "
                                   "Python's while)"}


def test_every_taylor_rule_is_reached_by_some_case(monkeypatch):
    seen = set()
    process = taylor.JetTracer._process

    def spy(self, p, args, params):
        seen.add(p.name)
        return process(self, p, args, params)
    monkeypatch.setattr(taylor.JetTracer, "_process", spy)
    for name, (f, xs) in CASES.items():
        g, fx = _on_floats(f, xs)
        if fx:
            cr.jet(g, tuple(fx), _series(fx, 0))
    have = {n for n, p in REGISTRY.items() if p.taylor is not None}
    missing = sorted(have - seen - set(NOT_REACHED))
    assert not missing, f"Taylor rules no case of test_jit_ops.CASES reaches under cr.jet: {missing}"
