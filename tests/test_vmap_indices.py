"""Batched integer indices under ``vmap``: ``x[i]``, ``take``, ``take_along_axis``, ``sort``
and ``cnp.at(x)[i].set/add`` with an index that differs per example.

Oracles: the Python loop of the unbatched function, the loop of its gradient, and
central finite differences (``check_grads`` and a numerical Jacobian).
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._interpreters import batching
from chainrule.testing import check_grads

B = 3
RNG = np.random.default_rng(0)


def _distinct(n, k, shape=None):
    """B rows of k distinct integers in [0, n) (distinct so that ``set`` is well defined)."""
    rows = np.stack([RNG.permutation(n)[:k] for _ in range(B)])
    return rows if shape is None else rows.reshape((B,) + shape)


# name: (f(x, i), shape of one x, the batch of indices)
TABLE = {
    "x[i]": (lambda x, i: x[i], (4, 3), _distinct(4, 2)),
    "x[i] scalar": (lambda x, i: x[i], (4, 3), np.array([3, 0, 1])),
    "x[i, 2] scalar": (lambda x, i: x[i, 2] * x[0, i - 1], (4, 3), np.array([3, 0, 1])),
    "x[i] negative": (lambda x, i: x[i - 4], (4, 3), _distinct(4, 2)),
    "x[i] repeated": (lambda x, i: x[i], (4,), np.array([[1, 1, 0], [3, 3, 3], [0, 2, 0]])),
    "x[i] 2-d index": (lambda x, i: x[i], (4, 3), _distinct(4, 4, (2, 2))),
    "x[:, i]": (lambda x, i: x[:, i] * 2.0, (3, 4), _distinct(4, 2)),
    "x[1:, i, ::-1]": (lambda x, i: x[1:, i, ::-1], (3, 4, 2), _distinct(4, 3)),
    "x[i, :, 1] split": (lambda x, i: x[i, :, 1], (4, 2, 3), _distinct(4, 2)),
    "x[..., i]": (lambda x, i: x[..., i], (2, 4), _distinct(4, 3)),
    "x[i, i[::-1]]": (lambda x, i: x[i, i[::-1]], (4, 4), _distinct(4, 3)),
    "x[i, mask]": (lambda x, i: x[i, np.array([True, False, True])], (4, 3), _distinct(4, 2)),
    "take axis": (lambda x, i: cnp.take(x, i, axis=1), (2, 4), _distinct(4, 3)),
    "take flat": (lambda x, i: cnp.take(x, i), (2, 3), _distinct(6, 4)),
    "take_along_axis": (lambda x, i: cnp.take_along_axis(x, i, axis=1), (4, 3),
                        RNG.integers(0, 3, (B, 4, 2))),
    "at set": (lambda x, i: cnp.at(x)[i].set(cnp.sin(x[0])), (4, 3), _distinct(4, 2)),
    "at set scalar": (lambda x, i: cnp.at(x)[:, i].set(x[0, 0] ** 2), (2, 4), _distinct(4, 2)),
    "at add": (lambda x, i: cnp.at(x)[i].add(x[1:3] ** 2), (4, 3), np.array([[0, 0], [3, 1], [2, 2]])),
}


def _x(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, (B,) + shape)


def _loop(f, xs, idx, in_axes):
    ax_x, ax_i = in_axes
    return np.stack([np.asarray(f(xs if ax_x is None else xs[b], idx if ax_i is None else idx[b]))
                     for b in range(B)])


@pytest.mark.parametrize("in_axes", [(0, 0), (0, None)])
@pytest.mark.parametrize("name", list(TABLE))
def test_vmap_equals_the_loop(name, in_axes):
    f, shape, idx = TABLE[name]
    xs = _x(shape)
    idx = idx[0] if in_axes[1] is None else idx
    np.testing.assert_allclose(cr.vmap(f, in_axes=in_axes)(xs, idx), _loop(f, xs, idx, in_axes), rtol=1e-13)


@pytest.mark.parametrize("name", list(TABLE))
def test_shared_array_batched_index_under_jvp(name):
    """One (unbatched) array, a batch of indices: values and tangents against the loop."""
    f, shape, idx = TABLE[name]
    x, t = _x(shape, 8)[:2]
    out, tan = cr.jvp(lambda x: cr.vmap(f, in_axes=(None, 0))(x, idx), (x,), (t,))
    loop = [cr.jvp(lambda x: f(x, i), (x,), (t,)) for i in idx]
    np.testing.assert_allclose(out, np.stack([o for o, _ in loop]), rtol=1e-13)
    np.testing.assert_allclose(tan, np.stack([d for _, d in loop]), rtol=1e-13)


def test_plain_numpy_array_needs_take_for_a_batched_index():
    """NumPy's own indexing cannot see a chainrule value; cnp.take (or a traced array) can."""
    x, idx = _x((4,))[0], _distinct(4, 2)
    with pytest.raises(TypeError, match=r"cnp.take\(x, i, axis=0\)"):
        cr.vmap(lambda i: x[i])(idx)
    with pytest.raises(TypeError, match="inside cr.vmap"):  # not an object array of tracers
        cr.vmap(lambda x: np.asarray(x))(np.ones(3))
    with pytest.raises(TypeError, match="forward mode"):  # not a silent zero derivative
        cr.jacfwd(lambda x: np.asarray(x))(np.ones(3))
    np.testing.assert_array_equal(cr.vmap(lambda i: cnp.take(x, i, axis=0))(idx), x[idx])


@pytest.mark.parametrize("name", list(TABLE))
def test_batched_index_on_the_last_axis_and_out_axes(name):
    f, shape, idx = TABLE[name]
    xs = _x(shape)
    got = cr.vmap(f, in_axes=(0, idx.ndim - 1), out_axes=-1)(xs, np.moveaxis(idx, 0, -1))
    np.testing.assert_allclose(got, np.moveaxis(_loop(f, xs, idx, (0, 0)), 0, -1), rtol=1e-13)


@pytest.mark.parametrize("name", list(TABLE))
def test_vmap_of_grad_equals_the_loop_of_grad(name):
    f, shape, idx = TABLE[name]
    g = cr.grad(lambda x, i: cnp.sum(cnp.sin(f(x, i)) * 3.0))
    xs = _x(shape, 1)
    np.testing.assert_allclose(cr.vmap(g)(xs, idx), _loop(g, xs, idx, (0, 0)), rtol=1e-12)


@pytest.mark.parametrize("name", list(TABLE))
def test_vmap_of_grad_of_a_shared_array(name):
    """Per-example gradients with respect to one unbatched array, the index batched."""
    f, shape, idx = TABLE[name]
    g = cr.grad(lambda x, i: cnp.sum(cnp.sin(f(x, i)) * 3.0))
    x = _x(shape, 2)[0]
    np.testing.assert_allclose(cr.vmap(g, in_axes=(None, 0))(x, idx), _loop(g, x, idx, (None, 0)), rtol=1e-12)


@pytest.mark.parametrize("name", list(TABLE))
def test_grad_and_jvp_of_vmap_against_finite_differences(name):
    f, shape, idx = TABLE[name]
    check_grads(lambda xs: cr.vmap(f)(xs, idx) ** 2, (_x(shape, 3),), order=2)


def _numerical_jacobian(f, x, eps=1e-6):
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        cols.append((f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(cols[0]) + x.shape)


@pytest.mark.parametrize("name", list(TABLE))
def test_jacfwd_and_jacrev_of_vmap(name):
    f, shape, idx = TABLE[name]
    h = lambda xs: cr.vmap(f)(xs, idx) ** 2  # noqa: E731
    xs = _x(shape, 5)
    want = _numerical_jacobian(h, xs)
    np.testing.assert_allclose(cr.jacfwd(h)(xs), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cr.jacrev(h)(xs), want, rtol=1e-6, atol=1e-8)


SORTS = {
    "sort": lambda x: cnp.sort(x, axis=0),
    "sort last": lambda x: cnp.sort(x) * x,
    "sort flat": lambda x: cnp.sort(x, axis=None),
    "argsort gather": lambda x: x[cnp.argsort(x[:, 0])],
    "argmax gather": lambda x: cnp.take(x, cnp.argmax(x, axis=0), axis=0),
}


@pytest.mark.parametrize("name", list(SORTS))
def test_sort_under_vmap_and_its_derivatives(name):
    f = SORTS[name]
    xs = _x((4, 3), 6)
    np.testing.assert_allclose(cr.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-13)
    w = np.arange(1.0, 1.0 + np.size(f(xs[0]))).reshape(np.shape(f(xs[0])))
    g = cr.grad(lambda x: cnp.sum(f(x) * w))
    np.testing.assert_allclose(cr.vmap(g)(xs), np.stack([g(x) for x in xs]), rtol=1e-12)
    check_grads(cr.vmap(f), (xs,), order=2)


def test_no_primitive_is_mapped_one_by_one(monkeypatch):
    calls = []
    monkeypatch.setattr(batching, "one_by_one", lambda p, *a: calls.append(p.name))
    for f, shape, idx in TABLE.values():
        xs = _x(shape)
        cr.vmap(f)(xs, idx)
        cr.vmap(cr.grad(lambda x, i: cnp.sum(f(x, i))))(xs, idx)
    for f in SORTS.values():
        cr.vmap(f)(_x((4, 3)))
    assert calls == []


def test_vmap_of_argsort_matches_numpy():
    xs = _x((5,), 7)
    np.testing.assert_array_equal(cr.vmap(cnp.argsort)(xs), np.argsort(xs, axis=1))


# -- errors name the operation and say what to do ---------------------------------------------

def test_out_of_bounds_batched_index():
    with pytest.raises(IndexError, match=r"getitem: index 7 is out of bounds for axis 0 with size 4"):
        cr.vmap(lambda x, i: x[i])(_x((4,)), np.array([[0], [7], [1]]))


def test_batched_boolean_mask_says_use_where():
    with pytest.raises(IndexError, match="cnp.where"):
        cr.vmap(lambda x, m: x[m])(_x((4,)), np.ones((B, 4), dtype=bool))


def test_float_index_is_refused():
    with pytest.raises(IndexError, match="integer"):
        cr.vmap(lambda x, i: x[i])(_x((4,)), np.zeros((B, 2)))


def test_new_axis_with_a_batched_index_says_what_to_do():
    with pytest.raises(NotImplementedError, match="expand_dims"):
        cr.vmap(lambda x, i: x[None, i])(_x((4,)), _distinct(4, 2))
