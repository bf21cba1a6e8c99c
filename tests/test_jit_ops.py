"""cr.jit of every function in the op tables against the eager function.

The tables are the ones ``test_vmap_ops.py`` maps (``test_ops*.py``: elementwise,
reductions, products, shape, indexing, updates, linear algebra) plus
``test_explain_ops.CASES`` (one small function per primitive with formulas) and
the special functions, joining, sorting and creation.  For each function ``f``:

* ``jit(f)(*xs)`` equals ``f(*xs)`` (same pytree, dtypes and values);
* first derivatives through the jitted function equal the eager ones, in
  reverse mode (``vjp`` with a random cotangent, and ``grad``) and forward mode
  (``jvp`` with random tangents);
* ``jit(grad(h))`` equals ``grad(h)`` for ``h = sum(sin(f))``, and so does the
  tape's ``h(jit(f))(tensors).backward()``;
* ``vmap(jit(f))`` equals ``vmap(f)`` over a batch of the first float input.

The oracle is the eager function on the same inputs, which ``test_ops*.py``
checks against NumPy and finite differences.  Finally every registered
primitive must appear in the graph of at least one case (or be listed, with the
reason, in ``NOT_STAGED``).
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.primitive import REGISTRY
from chainrule._core.pytree import tree_flatten
from chainrule._jit import fuse
from test_ops import (BINARY, BINARY_SHAPES, INDEXES, MATMUL_FORMS, MATMUL_SHAPES, REDUCTION_CASES, REDUCTIONS,
                      SHAPE_OPS, UNARY, UNARY_SHAPES, WHERE_CASES, _any, _grid, _make, _offgrid, _pos)
from test_explain_ops import CASES as EXPLAIN_CASES
from test_ops_linalg import EINSUM, NORMS, TOP
from test_ops_reductions import CASES as RCASES
from test_ops_reductions import CUM_CASES, CUMULATIVE
from test_ops_reductions import REDUCTIONS as MORE_REDUCTIONS
from test_ops_reductions import _valid
from test_ops_shape import CASES as SHAPE_CASES
from test_ops_update import INDICES

from _inputs import distinct, normal

S = cnp.special
LA = cnp.linalg


# -- the check -----------------------------------------------------------------------------

def _leaves(t):
    return tree_flatten(t)[0]


def _tol(want, rtol, atol):
    """Compiled float32 code (fused loops) may round differently from NumPy's by an ulp or two."""
    return (max(rtol, 4e-6), max(atol, 1e-6)) if np.result_type(want) == np.float32 else (rtol, atol)


def _same(got, want, rtol=1e-12, atol=1e-14):
    gl, gt = tree_flatten(got)
    wl, wt = tree_flatten(want)
    assert gt == wt, (gt, wt)
    for g, w in zip(gl, wl):
        rtol, atol = _tol(w, rtol, atol)
        assert type(g) is not str
        if np.ndim(w):  # a 0-d result may be a NumPy scalar where the eager function gives a 0-d array
            assert type(g) is np.ndarray, (type(g), type(w))
        else:
            assert type(g) is type(w) or type(g) is type(np.asarray(w)[()]), (type(g), type(w))
        assert np.shape(g) == np.shape(w), (np.shape(g), np.shape(w))
        assert np.result_type(g) == np.result_type(w), (np.result_type(g), np.result_type(w))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _is_float(x):
    dt = getattr(x, "dtype", None)
    return np.issubdtype(np.result_type(x) if dt is None else dt, np.floating)


def _h(f):
    """A scalar of every float output of ``f`` (sin keeps the derivative of a linear map informative)."""
    def h(*a):
        return sum(cnp.sum(cnp.sin(o)) for o in _leaves(f(*a)) if _is_float(o))
    return h


def check(f, *xs, rtol=1e-12, atol=1e-14):
    """jit(f) against f: values, vjp, grad, jvp, and jit(grad)."""
    jf = cr.jit(f)
    want = f(*xs)
    first = jf(*xs)  # traced
    later = jf(*xs)  # the cached, compiled code
    assert jf.traces == 1
    _same(first, want, rtol, atol)
    _same(later, want, rtol, atol)
    assert [type(o) for o in _leaves(first)] == [type(o) for o in _leaves(later)]
    fl = [i for i, x in enumerate(xs) if _is_float(x)]
    if not fl or not any(_is_float(o) for o in _leaves(want)):
        return
    rng = np.random.default_rng(7)

    def on_floats(fun):
        def g(*a):
            full = list(xs)
            for i, v in zip(fl, a):
                full[i] = v
            return fun(*full)
        return g
    g_eager, g_jit = on_floats(f), cr.jit(on_floats(f))
    fxs = [xs[i] for i in fl]
    # reverse mode: vjp with a random cotangent of every (float) output
    out_e, pull_e = cr.vjp(_h(g_eager), *fxs)
    out_j, pull_j = cr.vjp(_h(g_jit), *fxs)
    _same(out_j, out_e, rtol, atol)
    ct = rng.standard_normal()
    _same(pull_j(ct), pull_e(ct), rtol * 100, atol * 100)
    # forward mode
    ts = tuple(rng.standard_normal(np.shape(x)).astype(np.result_type(x)) for x in fxs)
    pe, te = cr.jvp(g_eager, tuple(fxs), ts)
    pj, tj = cr.jvp(g_jit, tuple(fxs), ts)
    _same(pj, pe, rtol, atol)
    _same(tj, te, rtol * 100, atol * 100)
    # jit of grad
    argnums = tuple(range(len(fxs)))
    want_g = cr.grad(_h(g_eager), argnums)(*fxs)
    _same(cr.jit(cr.grad(_h(g_eager), argnums))(*fxs), want_g, rtol * 100, atol * 100)
    # the tape: h(jit(f)) of Tensors, .backward()
    ts = [cr.tensor(x, requires_grad=True) for x in fxs]
    loss = _h(g_jit)(*ts)
    if isinstance(loss, cr.Tensor):
        loss.backward()
        for t, w in zip(ts, want_g):
            r, a = _tol(w, rtol * 100, atol * 100)
            np.testing.assert_allclose(t.grad.numpy(), w, rtol=r, atol=a)
    else:  # a constant: as eagerly, it is a plain value
        assert not isinstance(_h(g_eager)(*ts), cr.Tensor) and not any(np.any(w) for w in want_g)
    # vmap of the jitted function over a batch of two of the first float input
    batch = np.stack([fxs[0], fxs[0] * 0.9])
    on_first = lambda fun: lambda b: fun(b, *fxs[1:])  # noqa: E731
    _same(cr.vmap(on_first(g_jit))(batch), cr.vmap(on_first(g_eager))(batch), rtol, atol)


# -- the cases: name -> (function, inputs) -------------------------------------------------

CASES = {}


def case(name, f, *xs):
    assert name not in CASES, name
    CASES[name] = (f, xs)


for _n, (_f, _dx, _dy) in BINARY.items():
    for _s in BINARY_SHAPES:
        case(f"binary {_n} {_s}", _f, _make(_dx, _s[0], 0), _make(_dy, _s[1], 1))
        if _s == ((3, 2), (1, 2)):
            case(f"binary {_n} f32 {_s}", _f, _make(_dx, _s[0], 0, np.float32), _make(_dy, _s[1], 1, np.float32))
            case(f"binary {_n} constant left", lambda y, _f=_f, _x=_make(_dx, (3, 2), 2): _f(_x, y),
                 _make(_dy, (1, 2), 3))
            case(f"binary {_n} constant right", lambda x, _f=_f, _y=_make(_dy, (1, 2), 3): _f(x, _y),
                 _make(_dx, (3, 2), 2))
            case(f"binary {_n} scalar right", lambda x, _f=_f: _f(x, 1.5), _make(_dx, (3, 2), 2))
for _n, (_f, _d) in UNARY.items():
    for _s in UNARY_SHAPES:
        case(f"unary {_n} {_s}", _f, _make(_d, _s, 4))
    case(f"unary {_n} f32", _f, _make(_d, (3, 2), 4, np.float32))
for _form, _fn in MATMUL_FORMS.items():
    for _s in MATMUL_SHAPES:
        if not (_form == "dot" and len(_s[1]) > 2):
            case(f"{_form} {_s}", _fn, _make(_any, _s[0], 12), _make(_any, _s[1], 13))
for _n, _f, _s in SHAPE_OPS:
    case(f"shape {_n}", _f, _make(_any, _s, 18))
for _n, _f in INDEXES:
    if "traced values" not in _n:
        case(f"getitem {_n}", _f, _make(_grid, (4, 3), 19) + 0.01)
for _k, (_cs, _xs, _ys) in enumerate(WHERE_CASES):
    _c = np.random.default_rng(6).random(_cs) > 0.4
    case(f"where {_k}", lambda x, y, _c=_c: cnp.where(_c, x, y), _make(_any, _xs, 7), _make(_any, _ys, 8))
case("where traced condition", lambda x: cnp.where(x > 0, x * x, cnp.sin(x)), _make(_grid, (3, 2), 9) + 0.01)

_ALL_RED = {**{n: (f, lambda s, d=d: _make(d, s, 10)) for n, (f, d) in REDUCTIONS.items()},
            **{n: (f, lambda s, mk=mk: mk(s, 1)) for n, (f, _, mk) in MORE_REDUCTIONS.items()}}
for _n, (_f, _mk) in _ALL_RED.items():
    for _s, _a in REDUCTION_CASES + [c for c in RCASES if c not in REDUCTION_CASES]:
        if _valid(_n, _s, _a):
            for _k in (False, True):
                case(f"reduce {_n} {_s} axis={_a} keepdims={_k}",
                     lambda x, _f=_f, _a=_a, _k=_k: _f(x, axis=_a, keepdims=_k), _mk(_s))
for _m in ("sum", "mean", "max"):
    case(f"method {_m}", lambda x, _m=_m: getattr(x, _m)(axis=-1, keepdims=True) * 1.5,
         _make(lambda r, s: distinct(s, 3), (3, 2), 11))
for _n, (_f, _, _mk) in CUMULATIVE.items():
    for _s, _a in CUM_CASES:
        case(f"{_n} {_s} axis={_a}", lambda x, _f=_f, _a=_a: _f(x, axis=_a), _mk(_s, 2))
for _n, (_f, _, _ss) in TOP.items():
    case(f"linalg {_n}", _f, *[normal(s, k) for k, s in enumerate(_ss)])
for _sub, _ss in EINSUM.items():
    case(f"einsum {_sub}", lambda *o, _sub=_sub: cnp.einsum(_sub, *o), *[normal(s, k) for k, s in enumerate(_ss)])
for _n, (_f, _s) in NORMS.items():
    case(f"norm {_n}", _f, normal(_s, 12))
for _n, (_f, _, _s) in SHAPE_CASES.items():
    case(f"shape fn {_n}", _f, normal(_s, 15))
for _n, _idx in INDICES.items():
    _shape = np.empty((4, 2))[_idx].shape
    case(f"at {_n}", lambda x, v, _idx=_idx: cnp.at(x)[_idx].add(v) * cnp.at(x)[_idx].set(v * 2.0),
         normal((4, 2), 16), normal(_shape, 17))
for _n, (_f, *_xs) in EXPLAIN_CASES.items():
    case(f"explain {_n}", _f, *_xs)

_p = np.array([0.3, 0.5, 0.7, 0.2])
for _n, (_f, _lo, _hi) in {"expit": (S.expit, -4, 4), "logit": (S.logit, 0.1, 0.9),
                           "softplus": (S.softplus, -4, 4), "erf": (S.erf, -2, 2),
                           "gammaln": (S.gammaln, 0.5, 4), "digamma": (S.digamma, 0.5, 4),
                           "polygamma(1)": (lambda x: S.polygamma(1, x), 0.5, 4),
                           "polygamma(2)": (lambda x: S.polygamma(2, x), 0.5, 4)}.items():
    case(f"special {_n}", _f, np.random.default_rng(3).uniform(_lo, _hi, (2, 3)))
case("special logsumexp axis", lambda x: S.logsumexp(x, axis=1, keepdims=True), normal((2, 3)))
case("special xlogy", lambda x, y: S.xlogy(x, y), normal((3,)), _p[:3] + 0.1) if hasattr(S, "xlogy") else None

# indexing, sorting, joining (test_ops_indexing, test_ops_joining)
case("take axis", lambda x: cnp.take(x, [[1, 1], [0, 2]], axis=1), normal((2, 3)))
case("take flat", lambda x: cnp.take(x, np.array([5, 0, 0, -1])), normal((2, 3)))
case("take_along_axis", lambda x: cnp.take_along_axis(x, np.array([[0, 2, 1, 2]] * 3), 1), normal((3, 4)))
case("take_along_axis None", lambda x: cnp.take_along_axis(x, np.array([3, 0, 5]), None), normal((2, 3)))
case("sort", lambda x: cnp.sort(x, axis=0), distinct((3, 4)))
case("sort None", lambda x: cnp.sort(x, axis=None), distinct((2, 3)))
case("argsort", lambda x: cnp.argsort(x, axis=-1), distinct((3, 4)))
case("argmax", lambda x: cnp.argmax(x, axis=1), distinct((3, 4)))
case("argmin", lambda x: cnp.argmin(x), distinct((3, 4)))
case("argmax and the max", lambda x: (cnp.argmax(x), cnp.max(x) * x), distinct((3,)))
case("pad", lambda x: cnp.pad(x, ((1, 0), (2, 1))), normal((2, 3)))
case("pad constant", lambda x: cnp.pad(x, 1, constant_values=2.5), normal((3,)))
case("pad f32", lambda x: cnp.pad(x, 1), normal((3,)).astype(np.float32))
case("pad edge", lambda x: cnp.pad(x, 2, mode="edge"), normal((3,)))
case("concatenate", lambda x, y: cnp.concatenate([x, y], axis=1), normal((2, 3)), normal((2, 1)))
case("concatenate None", lambda x, y: cnp.concatenate([x, y], axis=None), normal((2, 3)), normal((3,)))
case("concatenate with constant", lambda x: cnp.concatenate([x, np.ones(2)]), normal((3,)))
case("stack", lambda x, y: cnp.stack([x, y, x], axis=1), normal((2, 3)), normal((2, 3)))
case("hstack", lambda x, y: cnp.hstack([x, y]), normal((2, 3)), normal((2, 1)))
case("vstack", lambda x, y: cnp.vstack([x, y]), normal((3,)), normal((2, 3)))
case("split", lambda x: cnp.split(x, [1, 3], axis=1), normal((2, 4)))
case("split even", lambda x: cnp.split(x, 2), normal((4, 2)))
case("triu", lambda x: cnp.triu(x, 1), normal((3, 3)))
case("tril", lambda x: cnp.tril(x), normal((3, 4)))
case("rounding", lambda x: cnp.floor(x) + cnp.ceil(x) * x + cnp.round(x) + cnp.trunc(x) + cnp.sign(x) * x,
     _make(_offgrid, (3, 2), 20))
case("comparisons", lambda x, y: (x > y, x <= y, x == y, x != y, x < y, cnp.where(x >= y, x, y)),
     _make(_grid, (3, 2), 21), _make(_offgrid, (3, 2), 22))
case("floating-point tests", lambda x: (cnp.isnan(x), cnp.isinf(x), cnp.where(cnp.isfinite(x), x, 0.0)),
     np.array([1.0, np.nan, np.inf, -np.inf, -2.0]))
case("astype int", lambda x: cnp.astype(x * 3.0, np.int64) * x, normal((3,)))
case("clip", lambda x: cnp.clip(x, -0.5, 0.5), _make(_offgrid, (4,), 23))
case("stop_gradient", lambda x: cr.stop_gradient(x) * x, normal((3,)))
case("linalg solve", LA.solve, normal((3, 3)) + 3 * np.eye(3), normal((3, 2)))
case("linalg inv", LA.inv, normal((3, 3)) + 3 * np.eye(3))
case("linalg det", LA.det, normal((3, 3)) + 3 * np.eye(3))
case("linalg slogdet", lambda a: LA.slogdet(a), normal((3, 3)) + 3 * np.eye(3))
case("linalg cholesky", LA.cholesky, np.array([[2.0, 0.5], [0.5, 1.0]]))
case("linalg eigh", lambda a: LA.eigh(a + a.T), np.array([[2.0, 0.5], [0.3, 1.0]]))
case("linalg svdvals", lambda a: LA.norm(a, "nuc"), normal((3, 2)))
case("linalg svd tall", lambda a: LA.svd(a, full_matrices=False), normal((4, 2)))
case("linalg svd wide", lambda a: LA.svd(a, full_matrices=False), normal((2, 3)))
case("linalg svd square", LA.svd, normal((3, 3)))
case("linalg qr", lambda a: LA.qr(a), normal((4, 3)))
case("linalg pinv", lambda a: LA.pinv(a), normal((3, 4)))
case("linalg lstsq", lambda a, b: LA.lstsq(a, b)[:2], normal((4, 2)), normal((4,)))
case("nn log_softmax", lambda x: cr.nn.functional.log_softmax(x, axis=-1), normal((2, 3)))
case("nn softmax", lambda x: cr.nn.functional.softmax(x, axis=0), normal((2, 3)))
case("nn relu", lambda x: cr.nn.functional.relu(x), _make(_offgrid, (2, 3), 24))
case("int input", lambda x, n: x * n, normal((3,)), np.arange(3))
case("python scalar input", lambda x, s: x * s + s, normal((3,)), 2.5)
case("numpy scalar input", lambda x, s: x * s, normal((3,)), np.float64(2.5))
case("dict output", lambda x, y: {"s": x + y, "p": (x * y, [cnp.sum(x)])}, normal((3,)), normal((3,)))
case("one output twice", lambda x: (cnp.sin(x), cnp.sin(x)), normal((3,)))
case("input returned", lambda x, y: (x, y * 2.0), normal((3,)), normal((2,)))

_CREATION = {
    "full": lambda x: cnp.full((2, 3), 1.5) * cnp.sum(x),
    "eye": lambda x: cnp.eye(3) @ x,
    "arange": lambda x: cnp.arange(3) * x,
    "arange float": lambda x: cnp.arange(0.0, 0.75, 0.25) + x,
    "linspace": lambda x: cnp.linspace(0.0, 1.0, 3) * x,
    "zeros_like": lambda x: cnp.zeros_like(x) + cnp.ones_like(x) * x,
    "full_like": lambda x: cnp.full_like(x, 4.0) * x,
}
for _n, _f in _CREATION.items():
    case(f"creation {_n}", _f, normal((3,)))
CASES.pop(None, None)


# the primitives of vmap's traced indices and of the function-level APIs
case("vmap at set with batched indices",
     lambda x, i: cr.vmap(lambda r, j: cnp.at(r)[j].set(r[0] * 2.0))(x, i), normal((3, 4)), np.array([1, 3, 0]))
case("vmap at add with batched indices",
     lambda x, i: cr.vmap(lambda r, j: cnp.at(r)[j].add(cnp.sum(r) * 2.0))(x, i), normal((3, 4)), np.array([1, 3, 0]))
case("vmap take with batched indices", lambda x, i: cr.vmap(lambda r, j: r[j] * r)(x, i), normal((3, 4)),
     np.array([1, 3, 0]))
case("checkpoint", cr.checkpoint(lambda x: cnp.sin(cnp.cos(x)) * x), normal((3,)))
# tanh's backward step is its own primitive (tanh_backward): a gradient inside the function stages it
case("grad of tanh", lambda x: cr.grad(lambda z: cnp.sum(cnp.tanh(z) * z))(x), normal((3,)))
case("grad of tanh, large", lambda x: cr.grad(lambda z: cnp.sum(cnp.tanh(z) * z))(x), normal((80, 64)))


@cr.custom_vjp
def _cube(x):
    return x ** 3


_cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3.0 * x * x * g,))


@cr.custom_jvp
def _softabs(x):
    return cnp.sqrt(x * x + 1.0)


_softabs.defjvp(lambda p, t: (_softabs(p[0]), p[0] / cnp.sqrt(p[0] * p[0] + 1.0) * t[0]))
case("custom_vjp", lambda x: _cube(x) * 2.0, normal((3,)))
case("custom_jvp", lambda x: _softabs(x) * 2.0, normal((3,)))
case("root", lambda a: cr.root(lambda x, a: x ** 3 + x - a, np.zeros(3), a), normal((3,)))
case("cond", cr.jit(lambda x: cr.cond(x[0] > 0, lambda x: cnp.sin(x) * x, lambda x: x ** 3, x)), normal((3,)))  # staged
case("scan", lambda x: cr.scan(lambda c, xi: (c * xi + cnp.sin(c), c * c), cnp.ones(2), cnp.reshape(x, (3, 2)))[1],
     normal((6,)))
# a while_loop takes forward mode only (tests/test_loops.py): here its carry is not differentiated
case("while_loop", lambda x, n: x * cr.while_loop(lambda c: c < n[0], lambda c: c + 2, 0), normal((3,)), np.array([7]))

# bugs an earlier attempt found: dtypes, where=, constant masks, int norms, constant outputs
_m = np.array([True, False, True, True])
case("pad f32 constant_values", lambda x: cnp.pad(x, 1, constant_values=2.5), normal((3,)).astype(np.float32))
case("pad int", lambda x, n: cnp.pad(n, 1) * x, normal((5,)), np.arange(3))
case("linspace f32 traced ends", lambda x: cnp.linspace(x[0], x[1], 3), normal((2,)).astype(np.float32))
case("linspace traced ends", lambda x: cnp.linspace(x[0], x[1], 4, endpoint=False), normal((2,)))
case("linspace int dtype", lambda x: cnp.linspace(0, 10, 3, dtype=int) * x, normal((3,)))
for _o in (None, 1, 2, np.inf):
    case(f"norm of ints ord={_o}", lambda x, n, _o=_o: (cnp.linalg.norm(n, _o), x * 2.0), normal(()), np.arange(-1, 3))
case("norm of ints axis", lambda x, n: (cnp.linalg.norm(n, axis=0), x * 2.0), normal((3,)), np.arange(6).reshape(2, 3))
for _n in ("sum", "mean", "prod"):
    case(f"{_n} where=", lambda x, _n=_n: getattr(cnp, _n)(x, where=_m), normal((4,)))
    case(f"{_n} where= axis", lambda x, _n=_n: getattr(cnp, _n)(x, axis=0, where=_m[:, None]), normal((4, 2)))
case("max where=", lambda x: cnp.max(x, where=_m, initial=-5.0), distinct((4,)))
case("min where= axis", lambda x: cnp.min(x, axis=1, where=_m[None], initial=5.0), distinct((2, 4)))
case("boolean mask constant", lambda x: x[_m] * 2.0, normal((4,)))
case("boolean mask constant 2-D", lambda x: x[_m[:, None] & np.array([[True, False]])], normal((4, 2)))
case("boolean mask in grad", cr.grad(lambda x: cnp.sum(x[_m] ** 3)), normal((4,)))
case("constant output array", lambda x: (x * 2.0, cnp.ones(3)), normal((3,)))
case("constant output only", lambda x: cnp.arange(4.0), normal((3,)))
case("constant output scalar", lambda x: (cnp.sum(x), np.float64(2.0)), normal((3,)))
case("output not depending on a float input", lambda x, y: x * 2.0, normal((3,)), normal((2,)))


#: registered primitives no case's graph records, and why
#: (a jitted call inside a trace is inlined, but checkpoint's backward pass stages one that stays a call)
NOT_STAGED: dict = {}


@pytest.fixture(params=[False, pytest.param(True, marks=pytest.mark.slow)], ids=["numpy", "fused"])
def fusion(request, monkeypatch):
    """Each case twice: straight-line NumPy, and with fused Numba kernels (slow on a cold kernel
    cache: about a thousand small kernels to compile; tests/test_jit_fuse.py tests fusion itself)."""
    if not request.param:
        monkeypatch.setenv("CHAINRULE_JIT_NUMBA", "0")
        monkeypatch.setattr(fuse, "_warned", True)  # switched off on purpose: no FusionWarning
    return request.param


@pytest.mark.parametrize("name", list(CASES))
def test_jit_matches_eager(name, fusion):
    f, xs = CASES[name]
    check(f, *xs)


def test_every_primitive_is_staged_by_some_case():
    """The graphs of the cases (and of their gradients and tangents) record every registered primitive."""
    seen = set()
    for f, xs in CASES.values():
        irs = [cr.make_ir(f)(*xs)]
        fl = tuple(i for i, x in enumerate(xs) if _is_float(x))
        if fl:
            irs.append(cr.make_ir(cr.grad(_h(f), fl))(*xs))
            ts = tuple(np.ones_like(x) if _is_float(x) else None for x in xs)
            if all(t is not None for t in ts):
                irs.append(cr.make_ir(lambda *a, f=f, ts=ts: cr.jvp(f, a, ts)[1])(*xs))
        seen.update(e.prim.name for ir in irs for e in ir.eqns)
    assert set(REGISTRY) - seen == set(NOT_STAGED)
