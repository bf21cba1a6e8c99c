"""Every primitive batches natively under ``vmap``: a table of functions, each exercising
one primitive, checked against independent oracles.

Oracles: the Python loop ``np.stack([f(x) for x in xs])`` (for several ``in_axes`` /
``out_axes``), the loop of ``grad(f)``, central finite differences (``check_grads`` and a
numerical Jacobian).  A registry test makes a batching rule compulsory for every new
primitive, and a counting test proves the rules are used (no element-by-element loop).
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.primitive import REGISTRY
from chainrule._interpreters import batching
from chainrule.testing import check_grads

B = 3


def _spd(a):
    """A well-conditioned symmetric positive definite matrix from any square ``a``."""
    return a @ cnp.swapaxes(a, -1, -2) + 3.0 * np.eye(a.shape[-1])


def _distinct(a):
    """A symmetric matrix with well-separated eigenvalues."""
    n = a.shape[-1]
    return 0.1 * (a + cnp.transpose(a)) + np.diag(np.arange(1.0, n + 1.0))


def _sep(a):
    """A matrix with well-separated singular values (about 3, 2, ...) from one with entries in [0.5, 1.5]."""
    m, n = a.shape[-2:]
    k = min(m, n)
    return (a - 1.0) * 0.5 + np.eye(m, n) * np.pad(np.arange(k + 1.0, 1.0, -1.0), (0, m - k))[:, None]


@cr.custom_vjp
def _softclip(x, y):
    return cnp.tanh(x) * y, cnp.sum(x ** 2)


_softclip.defvjp(lambda x, y: (_softclip(x, y), (x, y)),
                 lambda r, g: (g[0] * (1.0 - cnp.tanh(r[0]) ** 2) * r[1] + 2.0 * g[1] * r[0],
                               g[0] * cnp.tanh(r[0])))


def _scaled_fun(k, x):  # k is static (nondiff_argnums)
    return k * cnp.sin(x)


_scaled = cr.custom_vjp(_scaled_fun, nondiff_argnums=(0,))
_scaled.defvjp(lambda k, x: (_scaled(k, x), x), lambda k, x, g: (k * g * cnp.cos(x),))


@cr.custom_jvp
def _logcosh(x):
    return cnp.log(cnp.cosh(x))


@_logcosh.defjvp
def _logcosh_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _logcosh(x), cnp.tanh(x) * t


_block = cr.checkpoint(lambda h, w: (cnp.tanh(w @ h), cnp.sum(h * h)))
_F2 = lambda x, a, b: cnp.stack([x[0] * x[1] - a, x[0] - x[1] - b])  # noqa: E731


def _seg(x):  # segment_sum: the VJP of repeat, bound under vmap
    return cr.grad(lambda v: cnp.sum(cnp.repeat(v, [1, 2, 0]) ** 3))(x)


# name: (function, argument shapes of one example, primitives it must bind under vmap)
TABLE = {
    "scatter_add via at.add": (lambda x, v: cnp.at(x)[np.array([0, 2, 0])].add(v * 2.0), [(4,), (3,)],
                               ["scatter_add"]),
    "scatter_add non-adjacent": (lambda x, v: cnp.at(x)[np.array([0, 1]), :, np.array([2, 0])].add(v),
                                 [(2, 2, 3), (2, 2)], ["scatter_add"]),
    "index_set": (lambda x, v: cnp.at(x)[1:3].set(v), [(4,), (2,)], ["index_set"]),
    "index_set broadcast": (lambda x, v: cnp.at(x)[:, np.array([0, 2])].set(cnp.sum(v)), [(2, 3), (2,)],
                            ["index_set"]),
    "getitem non-adjacent": (lambda x: x[np.array([1, 0, 1]), :, 1], [(2, 3, 2)], ["getitem"]),
    "roll axes": (lambda x: cnp.roll(x, (1, -1), (0, 1)), [(3, 2)], ["roll"]),
    "roll flat": (lambda x: cnp.roll(x, 2), [(3, 2)], ["roll"]),
    "tile": (lambda x: cnp.tile(x, (2, 3)), [(2,)], ["tile"]),
    "repeat": (lambda x: cnp.repeat(x, [1, 0, 2], axis=1), [(2, 3)], ["repeat"]),
    "repeat int": (lambda x: cnp.repeat(x, 2), [(2, 2)], ["repeat"]),
    "segment_sum": (_seg, [(3,)], ["segment_sum"]),
    "pad": (lambda x: cnp.pad(x, ((1, 0), (0, 2))), [(2, 2)], ["pad"]),
    "concatenate mixed": (lambda x, y: cnp.concatenate([x, y, x], axis=-1), [(2, 1), (2, 3)], ["concatenate"]),
    "stack": (lambda x, y: cnp.stack([x, y], axis=1), [(2,), (2,)], ["concatenate"]),
    "cumprod": (lambda x: cnp.cumprod(x, axis=0), [(3, 2)], ["cumprod"]),
    "cumprod flat": (lambda x: cnp.cumprod(x), [(2, 2)], ["cumprod"]),
    "einsum": (lambda a, b: cnp.einsum("ij,jk->ki", a, b), [(2, 3), (3, 2)], ["einsum"]),
    "einsum ellipsis": (lambda a, b: cnp.einsum("...i,i", a, b), [(2, 3), (3,)], ["einsum"]),
    "matmul vector vector": (lambda u, v: u @ v, [(3,), (3,)], ["matmul"]),
    "matmul stack vector": (lambda a, v: a @ v, [(2, 2, 3), (3,)], ["matmul"]),
    "inv": (lambda a: cnp.linalg.inv(_spd(a)), [(3, 3)], ["inv"]),
    "solve vector": (lambda a, b: cnp.linalg.solve(_spd(a), b), [(3, 3), (3,)], ["solve"]),
    "solve matrix": (lambda a, b: cnp.linalg.solve(_spd(a), b), [(3, 3), (3, 2)], ["solve"]),
    "solve stack vector": (lambda a, b: cnp.linalg.solve(_spd(a), b), [(2, 3, 3), (3,)], ["solve"]),
    "det": (lambda a: cnp.linalg.det(_spd(a)), [(3, 3)], ["det"]),
    "slogdet": (lambda a: cnp.linalg.slogdet(a + 3.0 * np.eye(2))[1], [(2, 2)], ["logabsdet"]),
    "cholesky": (lambda a: cnp.linalg.cholesky(_spd(a)), [(3, 3)], ["cholesky"]),
    "eigh": (lambda a: cnp.linalg.eigh(_distinct(a))[0], [(3, 3)], ["eigh_w"]),
    "eigh vectors": (lambda a: cnp.linalg.eigh(_distinct(a))[1] ** 2, [(3, 3)], ["eigh_v"]),
    "svd U": (lambda a: cnp.linalg.svd(_sep(a), full_matrices=False)[0] ** 2, [(3, 2)], ["svd_U"]),
    "svd Vt": (lambda a: cnp.linalg.svd(_sep(a), full_matrices=False)[2] ** 2, [(2, 3)], ["svd_Vt"]),
    "qr": (lambda a: cnp.linalg.qr(_sep(a))[0] * cnp.linalg.qr(_sep(a))[1][0], [(3, 2)], ["qr_Q", "qr_R"]),
    "pinv": (lambda a: cnp.linalg.pinv(_sep(a)), [(2, 3)], ["pinv"]),
    "logsumexp": (lambda x: cnp.special.logsumexp(x, axis=0), [(3, 2)], ["logsumexp"]),
    "logsumexp b": (lambda x, b: cnp.special.logsumexp(x, axis=-1, b=b, keepdims=True), [(2, 3), (3,)],
                    ["logsumexp"]),
    "slogdet sign": (lambda a: cnp.linalg.slogdet(a - 1.0)[0] * cnp.linalg.slogdet(a - 1.0)[1], [(2, 2)],
                     ["slogdet_sign", "logabsdet"]),
    "sort (batched gather)": (lambda x: cnp.sort(x) * np.arange(1.0, 4.0), [(3,)], ["gather", "scatter_rows"]),
    "at set, batched index": (lambda x, v: cnp.at(x)[cnp.argsort(v)[:2]].set(v[:2] ** 2), [(4,), (4,)],
                              ["set_rows"]),
    "custom_vjp pytree": (lambda x, y: _softclip(x, y)[0] + _softclip(x, y)[1], [(2,), (2,)], ["custom_vjp_call"]),
    "custom_vjp nondiff": (lambda x: _scaled(3.0, x), [(2,)], ["custom_vjp_call"]),
    "custom_jvp": (lambda x: _logcosh(x) * 2.0, [(3,)], ["custom_jvp_call"]),
    "checkpoint": (lambda h, w: _block(h, w)[0] * _block(h, w)[1], [(2,), (2, 2)], ["checkpoint"]),
    "root scalar": (lambda a: cr.root(lambda x, a: x ** 3 - a, 1.0, a), [()], ["root"]),
    "root system": (lambda a, b: cr.root(_F2, np.array([3.0, 1.0]), a[0] + 5.0, b[0]), [(1,), (1,)], ["root"]),
    "fixed_point": (lambda a: cr.fixed_point(lambda x, a: (x + a / x) / 2, 1.0, a), [()], ["root"]),
}


def _args(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, (B,) + s) for s in shapes]


def _variants(nargs):
    """``in_axes`` settings: all mapped, and (with several arguments) each one alone."""
    out = [0]
    if nargs > 1:
        out += [tuple(0 if i == k else None for i in range(nargs)) for k in range(nargs)]
    return out


def _loop(f, xs, in_axes):
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(xs)
    return np.stack([np.asarray(f(*[x if a is None else x[i] for x, a in zip(xs, axes)])) for i in range(B)])


def _unmapped(xs, in_axes):
    """Arguments with ``in_axes=None`` are given as one example, not a batch."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(xs)
    return [x if a is not None else x[0] for x, a in zip(xs, axes)]


CASES = [(name, ax) for name, (f, shapes, _) in TABLE.items() for ax in _variants(len(shapes))]


@pytest.mark.parametrize("name,in_axes", CASES)
def test_vmap_equals_the_loop(name, in_axes):
    f, shapes, _ = TABLE[name]
    xs = _unmapped(_args(shapes), in_axes)
    np.testing.assert_allclose(cr.vmap(f, in_axes=in_axes)(*xs), _loop(f, xs, in_axes), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(TABLE))
def test_in_axes_last_and_out_axes_last(name):
    f, shapes, _ = TABLE[name]
    xs = _args(shapes)
    moved = [np.moveaxis(x, 0, -1) for x in xs]
    axes = tuple(x.ndim - 1 for x in xs)
    got = cr.vmap(f, in_axes=axes, out_axes=-1)(*moved)
    np.testing.assert_allclose(got, np.moveaxis(_loop(f, xs, 0), 0, -1), rtol=1e-10, atol=1e-12)


def _loss(f):
    return lambda *a: cnp.sum(cnp.sin(f(*a)))


@pytest.mark.parametrize("name", list(TABLE))
def test_vmap_of_grad_equals_the_loop_of_grad(name):
    f, shapes, _ = TABLE[name]
    xs = _args(shapes, seed=1)
    nums = tuple(range(len(shapes)))
    got = cr.vmap(cr.grad(_loss(f), argnums=nums))(*xs)
    want = [np.stack([cr.grad(_loss(f), argnums=nums)(*[x[i] for x in xs])[k] for i in range(B)])
            for k in nums]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(TABLE))
def test_grad_of_vmap_against_finite_differences(name):
    f, shapes, _ = TABLE[name]
    xs = _args(shapes, seed=2)
    check_grads(lambda *a: cnp.sum(cnp.sin(cr.vmap(f)(*a))), xs, order=1)


@pytest.mark.parametrize("name", list(TABLE))
def test_second_order_through_vmap(name):
    """Derivatives of order 2 in both modes of the batched function, against finite differences."""
    f, shapes, _ = TABLE[name]
    check_grads(lambda *a: cr.vmap(f)(*a), _args(shapes, seed=3), order=2)


def _numerical_jacobian(f, x, eps=1e-6):
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(cols[0]) + x.shape)


@pytest.mark.parametrize("name", list(TABLE))
def test_jacfwd_and_jacrev_of_vmap(name):
    f, shapes, _ = TABLE[name]
    xs = _args(shapes, seed=4)
    g = lambda x: cr.vmap(f)(x, *xs[1:])  # noqa: E731
    want = _numerical_jacobian(g, xs[0])
    np.testing.assert_allclose(cr.jacfwd(g)(xs[0]), want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cr.jacrev(g)(xs[0]), want, rtol=1e-5, atol=1e-7)


# -- the rules are real: no loop, and no primitive without one ---------------------------------

def test_every_primitive_has_a_batching_rule():
    missing = sorted(n for n, p in REGISTRY.items() if p.batch is None and not p.elementwise)
    assert not missing, (f"primitives without a vmap rule: {missing}; declare batch= in their defprim "
                         f"block (elementwise primitives batch by broadcasting)")


def test_the_table_exercises_every_primitive_with_a_rule():
    covered = {p for _, _, prims in TABLE.values() for p in prims}
    need = {"scatter_add", "index_set", "roll", "tile", "repeat", "segment_sum", "pad", "concatenate",
            "cumprod", "einsum", "inv", "solve", "det", "logabsdet", "cholesky", "eigh_w", "eigh_v",
            "logsumexp", "checkpoint", "custom_vjp_call", "custom_jvp_call", "root",
            "gather", "scatter_rows", "set_rows", "slogdet_sign", "svd_U", "svd_Vt", "qr_Q", "qr_R", "pinv"}
    assert need <= covered, sorted(need - covered)


@pytest.mark.parametrize("name", list(TABLE))
def test_the_rule_is_used_not_a_loop(name, monkeypatch):
    f, shapes, prims = TABLE[name]
    calls, seen = [], set()
    monkeypatch.setattr(batching, "one_by_one", lambda *a: calls.append(a[0].name))
    process = batching.BatchTracer._process

    def spy(self, p, args, params):
        seen.add(p.name)
        return process(self, p, args, params)

    monkeypatch.setattr(batching.BatchTracer, "_process", spy)
    xs = _args(shapes)
    cr.vmap(f)(*xs)
    cr.vmap(cr.grad(_loss(f)))(*xs)
    assert calls == []
    assert set(prims) <= seen, f"{name} never bound {set(prims) - seen} under vmap"


def test_a_primitive_without_a_rule_still_maps_but_warns():
    from chainrule._core.primitive import bind, defprim
    p = defprim("test_only_cumulative_max", lambda x: np.maximum.accumulate(x, axis=-1), [None], jvp=None)
    try:
        xs = np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 6.0]])
        with pytest.warns(RuntimeWarning, match="'test_only_cumulative_max' has no batching rule.*batch="):
            out = cr.vmap(lambda x: bind(p, (x,), {}))(xs)
        np.testing.assert_array_equal(out, np.maximum.accumulate(xs, axis=-1))
    finally:
        del REGISTRY[p.name]
        batching._warned.discard(p.name)
