"""The fast paths of the product and indexing rules agree with the slow, obvious computation.

* ``matmul``'s vmap rule folds the batch into one product when an operand is shared:
  oracle, the Python loop over the batch, for every batched / shared combination,
  operand rank and batch axis (hypothesis draws the shapes); the staged graph shows
  the one product (a shared matrix meets the batch as a plain 2-D ``matmul``).
* Hessians through it (jacfwd of jacrev, nested vmaps): oracles, the closed form,
  JAX and central differences (``check_grads``).
* ``scatter_add`` (the transpose of ``x[idx]``) sums repeated positions with ``np.bincount``
  and assigns for slices and masks: oracle, ``np.add.at`` itself, for repeated, negative,
  sliced, masked, multi-dimensional and mixed indices, eagerly, under ``grad`` and ``jit``.
* ``einsum``'s VJP that sums over no index is a ``multiply``: oracles, ``check_grads``
  and JAX.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._interpreters.staging import Lit
from chainrule._ops.shape import _scatter_add, _scatter_add_impl, scatter_positions
from chainrule.testing import check_grads

rng = np.random.default_rng(0)


def _loop_matmul(X, Y, ax_x, ax_y, n):
    """The oracle: one ``@`` per example (``None`` axis: the operand is shared)."""
    pick = (lambda A, ax, i: A if ax is None else np.take(A, i, ax))
    return np.stack([pick(X, ax_x, i) @ pick(Y, ax_y, i) for i in range(n)])


def _with_batch(shape, ax, n):
    return rng.standard_normal(shape[:ax] + (n,) + shape[ax:]) if ax is not None else rng.standard_normal(shape)


# -- matmul under vmap ------------------------------------------------------------------------

X_SHAPES = [(3,), (4, 3), (2, 4, 3), (1, 4, 3)]
Y_SHAPES = [(3,), (3, 5), (2, 3, 5), (1, 3, 5)]


@pytest.mark.parametrize("sx,sy", list(itertools.product(X_SHAPES, Y_SHAPES)))
@pytest.mark.parametrize("which", ["x", "y", "both"])
def test_vmap_matmul_equals_loop_every_axis(sx, sy, which):
    n = 6
    axes_x = range(len(sx) + 1) if which in ("x", "both") else [None]
    axes_y = range(len(sy) + 1) if which in ("y", "both") else [None]
    for ax_x, ax_y in itertools.product(axes_x, axes_y):
        X, Y = _with_batch(sx, ax_x, n), _with_batch(sy, ax_y, n)
        got = cr.vmap(lambda a, b: a @ b, in_axes=(ax_x, ax_y))(X, Y)
        ref = _loop_matmul(X, Y, ax_x, ax_y, n)
        assert got.shape == ref.shape, (sx, sy, ax_x, ax_y)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_vmap_matmul_hypothesis(data):
    """Random ranks (stacks that broadcast), sizes (zero included) and batch axes."""
    k, m, p = (data.draw(st.integers(0, 3)) for _ in range(3))
    n = data.draw(st.integers(0, 4))
    stack = tuple(data.draw(st.lists(st.integers(1, 2), max_size=2)))
    sx = data.draw(st.sampled_from([(k,), (m, k), stack + (m, k)]))
    sy = data.draw(st.sampled_from([(k,), (k, p), tuple(1 for _ in stack) + (k, p)]))
    ax_x = data.draw(st.one_of(st.none(), st.integers(0, len(sx))))
    axes_y = st.integers(0, len(sy))
    ax_y = data.draw(axes_y if ax_x is None else st.one_of(st.none(), axes_y))  # at least one operand batched
    X, Y = _with_batch(sx, ax_x, n), _with_batch(sy, ax_y, n)
    got = cr.vmap(lambda a, b: a @ b, in_axes=(ax_x, ax_y))(X, Y)
    if n == 0:  # no example to loop over: the shape of one example's product, after a batch of 0
        assert got.shape == (0,) + np.matmul(np.zeros(sx), np.zeros(sy)).shape
        return
    ref = _loop_matmul(X, Y, ax_x, ax_y, n)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def _matmuls(f, *args):
    """The operand shapes of every matmul in the graph ``jit`` traces for ``f``."""
    ir = cr.make_ir(f)(*args)
    return [tuple(np.shape(a.value) if type(a) is Lit else a.shape for a in e.ins)
            for e in ir.eqns if e.prim.name == "matmul"]


def test_vmap_matmul_shared_matrix_is_one_product():
    """A @ v_b for a batch of vectors (either side, either batch axis) is one 2-D product, not a stack."""
    A, V = rng.standard_normal((5, 4)), rng.standard_normal((7, 4))
    for f, args in [(cr.vmap(lambda v: A @ v), (V,)),
                    (cr.vmap(lambda v: A @ v, in_axes=1), (V.T,)),
                    (cr.vmap(lambda v: v @ A.T), (V,)),
                    (cr.vmap(lambda M: A @ M), (rng.standard_normal((7, 4, 2)),)),
                    (cr.vmap(lambda M: M @ A), (rng.standard_normal((7, 2, 5)),)),
                    (cr.vmap(cr.vmap(lambda v: A @ v)), (rng.standard_normal((3, 7, 4)),))]:
        shapes = _matmuls(f, *args)
        assert len(shapes) == 1 and all(len(s) <= 2 for s in shapes[0]), shapes


def test_vmap_matmul_both_vectors_is_a_dot_per_example():
    X, Y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    np.testing.assert_allclose(cr.vmap(cnp.matmul)(X, Y), np.sum(X * Y, axis=1), rtol=1e-13)
    np.testing.assert_allclose(cr.vmap(cnp.dot)(X, Y), np.sum(X * Y, axis=1), rtol=1e-13)


def test_vmap_of_matmul_derivatives():
    """Jacobians through the batched rules, against central differences."""
    A = rng.standard_normal((3, 4))
    check_grads(lambda X: cr.vmap(lambda v: cnp.tanh(A @ v))(X), (rng.standard_normal((5, 4)),), order=2)
    check_grads(lambda X, Y: cr.vmap(lambda a, b: a @ b)(X, Y),
                (rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))), order=2)
    check_grads(lambda X: cr.vmap(lambda M: M @ A.T, in_axes=2)(X), (rng.standard_normal((3, 4, 2)),), order=2)
    check_grads(lambda X: cr.vmap(lambda v: v @ A)(X), (rng.standard_normal((2, 3)),), order=2)


# -- the Hessian of the benchmark --------------------------------------------------------------

def _h(tanh, total, A):
    return lambda x: total(tanh(A @ x) ** 2)


def _hess_closed_form(A, x):
    t = np.tanh(A @ x)
    d2 = (2.0 - 6.0 * t * t) * (1.0 - t * t)
    return A.T @ (d2[:, None] * A)


@pytest.mark.parametrize("n,m", [(6, 6), (5, 3), (1, 4)])
def test_hessian_matches_closed_form_eager_and_jit(n, m):
    A = rng.standard_normal((m, n))
    x = rng.standard_normal(n) / np.sqrt(n)
    ref = _hess_closed_form(A, x)
    h = cr.hessian(_h(cnp.tanh, cnp.sum, A))
    np.testing.assert_allclose(h(x), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.jit(h)(x), ref, rtol=1e-10, atol=1e-12)


def test_hessian_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    A = rng.standard_normal((8, 8))
    x = rng.standard_normal(8) / 3
    ref = np.asarray(jax.hessian(_h(jax.numpy.tanh, jax.numpy.sum, jax.numpy.asarray(A)))(jax.numpy.asarray(x)))
    np.testing.assert_allclose(cr.jit(cr.hessian(_h(cnp.tanh, cnp.sum, A)))(x), ref, rtol=1e-10, atol=1e-12)


def test_hessian_of_matrix_products_by_finite_differences():
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    check_grads(lambda x: cnp.sum(cnp.tanh(A @ cnp.reshape(x, (4, 2)) @ B.T)), (rng.standard_normal(8),),
                order=2)
    check_grads(lambda v, M: cnp.sin(v @ M @ v), (rng.standard_normal(4), rng.standard_normal((4, 4))), order=2)


# -- scatter_add: bincount and assignment against np.add.at -------------------------------------

def _add_at(g, idx, shape):
    out = np.zeros(shape, dtype=np.result_type(g))
    np.add.at(out, idx, g)
    return out


SHAPE = (5, 4, 3)
INDICES = {
    "repeated rows": np.array([0, 2, 2, 4, 0, 2]),
    "negative rows": np.array([-1, 0, -5, 4, -1]),
    "a list": [1, 1, 3],
    "2-D rows": np.array([[0, 1], [1, 1], [4, -2]]),
    "two arrays": (np.array([0, 0, 4, -1]), np.array([1, 1, 3, 3])),
    "three arrays, broadcast": (np.array([[0], [0]]), np.array([1, 1, 2]), np.array([2, 2, 2])),
    "array and slice": (slice(None), np.array([3, 3, 0])),
    "slice then arrays": (slice(1, 4), np.array([0, 0]), np.array([2, 2])),
    "arrays apart": (np.array([0, 0, 1]), slice(None), np.array([2, 2, 0])),
    "ellipsis and array": (Ellipsis, np.array([0, 2, 2])),
    "mask": np.array([True, False, True, True, False]),
    "mask with array": (np.array([True, False, True, True, False]), np.array([1, 1, 0])),
    "2-D mask": rng.standard_normal((5, 4)) > 0,
    "slice": slice(1, None, 2),
    "negative step": (slice(None, None, -1), 2),
    "integer and new axis": (3, None, slice(0, 2)),
    "empty": np.array([], dtype=np.intp),
}


def _g_for(idx):
    return rng.standard_normal(np.empty(SHAPE)[idx].shape)


@pytest.mark.parametrize("name", list(INDICES))
def test_scatter_add_equals_add_at(name):
    idx = INDICES[name]
    g = _g_for(idx)
    got = _scatter_add_impl(g, idx, SHAPE, scatter_positions(idx, SHAPE))
    ref = _add_at(g, idx, SHAPE)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)  # the same sums, added in the same order


@pytest.mark.parametrize("name", list(INDICES))
def test_gradient_of_indexing_equals_add_at(name):
    idx = INDICES[name]
    w = _g_for(idx)
    x = rng.standard_normal(SHAPE)
    ref = _add_at(w, idx, SHAPE)  # d/dx sum(w * x[idx])
    f = lambda x: cnp.sum(w * x[idx])  # noqa: E731
    np.testing.assert_array_equal(cr.grad(f)(x), ref)
    np.testing.assert_array_equal(cr.jit(cr.grad(f))(x), ref)
    xt = cr.tensor(x, requires_grad=True)
    f(xt).backward()
    np.testing.assert_array_equal(xt.grad.numpy(), ref)


@pytest.mark.parametrize("name", ["repeated rows", "two arrays", "array and slice", "mask"])
def test_scatter_paths_second_order_and_vmap(name):
    idx = INDICES[name]
    x = rng.standard_normal(SHAPE)
    check_grads(lambda x: cnp.sum(cnp.sin(x[idx]) ** 2), (x,), order=2)
    # vmap of the transpose: each example's scatter, against the loop of np.add.at
    G = np.stack([_g_for(idx) for _ in range(3)])
    got = cr.vmap(lambda g: _scatter_add(g, idx, SHAPE))(G)
    np.testing.assert_array_equal(got, np.stack([_add_at(g, idx, SHAPE) for g in G]))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.complex128])
def test_scatter_add_other_dtypes_keep_add_at(dtype):
    idx = INDICES["repeated rows"]
    g = (rng.standard_normal((6, 4, 3)) * 10).astype(dtype)
    got = _scatter_add_impl(g, idx, SHAPE, scatter_positions(idx, SHAPE))
    ref = _add_at(g, idx, SHAPE)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


def test_scatter_add_broadcasts_its_values():
    """``cnp.at(x)[idx].add(v)`` with a ``v`` that broadcasts to ``x[idx]``."""
    x = np.zeros(SHAPE)
    for idx, v in [(np.array([1, 1, 3]), np.arange(3.0)), (np.array([0, 0]), 2.0), ((np.array([2, 2]), 1), 1.5)]:
        ref = x.copy()
        np.add.at(ref, idx, v)
        np.testing.assert_array_equal(cnp.at(cnp.asarray(x))[idx].add(v), ref)
        np.testing.assert_array_equal(cr.jit(lambda x: cnp.at(x)[idx].add(v))(x), ref)


def test_scatter_positions_reject_out_of_bounds():
    with pytest.raises(IndexError, match=r"index 5 is out of bounds for axis 0 with size 5"):
        _scatter_add(np.ones((2, 4, 3)), np.array([0, 5]), SHAPE)
    with pytest.raises(IndexError, match=r"index -6 is out of bounds for axis 1 with size 4"):
        scatter_positions((np.array([0]), np.array([-6])), (5, 4))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_scatter_add_hypothesis(data):
    """Random shapes and integer indices (repeats and negatives) on leading axes, with a slice."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    k = data.draw(st.integers(1, len(shape)))
    size = data.draw(st.integers(0, 6))
    arrays = tuple(np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=size, max_size=size)), dtype=np.intp)
                   for n in shape[:k])
    idx = arrays if len(arrays) > 1 else arrays[0]
    if data.draw(st.booleans()) and len(shape) > k:
        idx = arrays + (slice(None, None, data.draw(st.sampled_from([1, -1, 2]))),)
    g = rng.standard_normal(np.empty(shape)[idx].shape)
    np.testing.assert_array_equal(_scatter_add_impl(g, idx, shape, scatter_positions(idx, shape)),
                                  _add_at(g, idx, shape))


def test_gather_with_batched_index_uses_scatter_rows():
    """vmap of x[i] with a batched integer index: its gradient (scatter_rows) against np.add.at."""
    x = rng.standard_normal((6, 2))
    I = np.array([[0, 0, 5], [-1, 2, 2]])
    W = rng.standard_normal((2, 3, 2))
    got = cr.grad(lambda x: cnp.sum(W * cr.vmap(lambda i: x[i])(I)))(x)
    ref = np.zeros_like(x)
    for i, w in zip(I, W):
        np.add.at(ref, i, w)
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0)


def test_getitem_one_integer_array():
    x = rng.standard_normal((5, 3))
    i = np.array([[4, -1], [0, 0]])
    np.testing.assert_array_equal(cr.jit(lambda x: x[i])(x), x[i])
    np.testing.assert_array_equal(cr.vmap(lambda x: x[i])(np.stack([x, 2 * x])), np.stack([x[i], 2 * x[i]]))
    with pytest.raises(IndexError, match="out of bounds"):
        cr.jit(lambda x: x[np.array([5])])(x)


# -- einsum's product VJPs ---------------------------------------------------------------------

@pytest.mark.parametrize("spec,shapes", [
    ("ed,ed->e", [(7, 3), (7, 3)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,j->ij", [(3, 4), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("bij,bj->bi", [(2, 3, 4), (2, 4)]),
    ("ij,ij,i->j", [(3, 4), (3, 4), (3,)]),
    ("i,i->", [(3,), (3,)]),
])
def test_einsum_gradients(spec, shapes):
    args = tuple(rng.standard_normal(s) for s in shapes)
    check_grads(lambda *a: cnp.einsum(spec, *a), args, order=2)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    f = lambda *a: cnp.sum(cnp.sin(cnp.einsum(spec, *a)))  # noqa: E731
    jf = lambda *a: jax.numpy.sum(jax.numpy.sin(jax.numpy.einsum(spec, *a)))  # noqa: E731
    ref = jax.grad(jf, argnums=tuple(range(len(args))))(*args)
    got = cr.grad(f, argnums=tuple(range(len(args))))(*args)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, np.asarray(r), rtol=1e-12, atol=1e-12)


def test_einsum_vjp_without_summed_index_is_a_multiply():
    d = rng.standard_normal((7, 3))
    ir = cr.make_ir(cr.grad(lambda d: cnp.sum(cnp.sqrt(cnp.einsum("ed,ed->e", d, d)))))(d)
    names = [e.prim.name for e in ir.eqns]
    assert names.count("einsum") == 1, names  # the forward one; the VJPs multiply
    ref = d / np.linalg.norm(d, axis=1, keepdims=True)
    np.testing.assert_allclose(cr.grad(lambda d: cnp.sum(cnp.sqrt(cnp.einsum("ed,ed->e", d, d))))(d), ref,
                               rtol=1e-13)


# -- the reductions' cotangent spread, cumsum's reverse cumsum, power's square ---------------

@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_reduction_spread_equals_broadcast_to(data):
    """``_spread`` (a filled array when small, a broadcast view when large, plain or traced):
    oracle, ``np.broadcast_to`` of the cotangent reshaped to the kept shape."""
    from chainrule._ops.reductions import _SPREAD_COPY, _spread
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=0, max_size=4)))
    if data.draw(st.booleans()):  # large enough for the broadcast-view branch
        shape = shape + (_SPREAD_COPY // 2 + 1,)
    axis = tuple(sorted(data.draw(st.sets(st.integers(0, max(len(shape) - 1, 0)), max_size=len(shape)))
                        if shape else ()))
    keepdims = data.draw(st.booleans())
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    kept = tuple(1 if i in axis else d for i, d in enumerate(shape))
    g = rng.standard_normal(kept if keepdims else tuple(d for i, d in enumerate(shape) if i not in axis))
    g = g.astype(dtype)
    want = np.broadcast_to(g.reshape(kept), shape)
    for given_g in (g, g[()] if g.ndim == 0 else g):
        got = _spread(given_g, shape, axis, keepdims)
        assert got.shape == shape and got.dtype == dtype
        np.testing.assert_array_equal(got, want)
    traced = cr.vmap(lambda t: _spread(t, shape, axis, keepdims))(np.stack([g, 2 * g]))
    np.testing.assert_array_equal(np.asarray(traced), np.stack([want, 2 * want]))


@pytest.mark.parametrize("shape,axis", [((7,), None), ((3, 5), 0), ((3, 5), 1), ((4, 3, 2), (0, 2)),
                                        ((5000,), None), ((2, 3000), 1), ((3000, 2), 0)])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_reduction_gradients_small_and_large(shape, axis, reduce):
    """Gradients of reductions on both sides of ``_SPREAD_COPY``, float64 and float32: oracles, the
    closed forms (ones, 1/n, the one-hot of the maximum) and central differences."""
    x = rng.standard_normal(shape)
    w = rng.standard_normal(np.sum(x, axis=axis).shape)
    fn = getattr(cnp, reduce)
    g = cr.grad(lambda x: cnp.sum(fn(x, axis=axis) * w))(x)
    wk = np.expand_dims(w, axis) if axis is not None else w
    n = x.size // np.size(w)
    closed = {"sum": np.broadcast_to(wk, shape),
              "mean": np.broadcast_to(wk, shape) / n,
              "max": np.where(x == np.max(x, axis=axis, keepdims=True), wk, 0.0)}[reduce]
    np.testing.assert_allclose(g, closed, rtol=1e-12, atol=0)
    assert g.flags.owndata or g.base is None or not np.shares_memory(g, w)
    g32 = cr.grad(lambda x: cnp.sum(fn(x, axis=axis) * w.astype(np.float32)))(x.astype(np.float32))
    assert g32.dtype == np.float32
    if x.size < 100:
        check_grads(lambda x: fn(x, axis=axis) * w, (x,), order=2)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum_gradient_is_reverse_cumsum(axis):
    """cumsum's cotangent (a reversed cumsum, NumPy methods on plain arrays): oracle, ``J.T @ g`` with
    ``J`` the lower-triangular ones, and forward over reverse against ``check_grads``."""
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    _, pull = cr.vjp(lambda x: cnp.cumsum(x, axis=axis), x)
    (got,) = pull(g)
    gm = np.moveaxis(g, axis, -1)
    want = np.moveaxis(gm @ np.tril(np.ones((gm.shape[-1],) * 2)), -1, axis)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    check_grads(lambda x: cnp.cumsum(x, axis=axis) ** 2, (x,), order=2)
    check_grads(lambda x: cnp.cumprod(x, axis=axis), (x,), order=1)


@pytest.mark.parametrize("y", [2, 2.0, 3, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_power_values_and_dtypes_match_numpy(y, dtype):
    """``x ** 2`` runs as ``np.square`` on float arrays: oracle, ``np.power`` itself (value and dtype),
    and its derivative ``y x^(y-1)``."""
    x = (rng.standard_normal(6) * 3).astype(dtype) if dtype != np.int64 else np.arange(-3, 3)
    if y == 0.5:
        x = np.abs(x)
    want = np.power(x, y)
    got = cnp.power(cr.tensor(x), y)
    np.testing.assert_array_equal(np.asarray(got), want)
    assert got.dtype == want.dtype
    got_v = cr.vmap(lambda t: t ** y)(x.reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(got_v), want.reshape(2, 3))
    if dtype == np.float64 and y != 0.5:
        np.testing.assert_allclose(cr.grad(lambda t: cnp.sum(t ** y))(x), y * x ** (y - 1), rtol=1e-14)
