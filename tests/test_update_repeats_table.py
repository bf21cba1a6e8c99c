"""Writes to repeated positions, beyond tests/test_update_repeats.py: second order, a
table of index kinds (slices with arrays, non-adjacent arrays, masks, broadcast values),
batched indices to second order, and a plain repeated index under vmap of the values.

``x[idx] = v`` with an index that names a position twice (``[0, 0]``, ``[1, -2]``
on length 3, a broadcast value) keeps one write, the last; the others never
reach the output, so their derivative is zero.  Every written position of
``x`` is overwritten, so its derivative is zero too.  Oracles: the Jacobian by
forward mode (whose ``"linear"`` rule applies the primitive itself, so it is
right by construction), central differences, and JAX's ``x.at[idx].set(v)``;
under ``vmap`` (a batched index takes the flat ``set_rows`` path) and to second
order.  ``.add`` keeps ``np.add.at``'s accumulation: every write gets ``g``.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

SHAPE = (3, 4)

#: index kinds, each with the shape of the value written (``None``: ``x[idx]``'s shape)
INDICES = {
    "repeated ints": (np.array([0, 2, 0]), None),
    "negative aliases positive": (np.array([1, -2]), None),
    "slice + repeated array": ((slice(None), np.array([3, 1, 3])), None),
    "two arrays broadcast": ((np.array([[0], [0]]), np.array([1, 1, 2])), None),
    "array + slice, not adjacent": ((np.array([2, 2]), slice(1, 3)), None),
    "repeated, broadcast row value": (np.array([1, 1]), (4,)),
    "repeated, scalar value": ((np.array([0, 0, 2]), np.array([3, 3, 1])), ()),
    "mask": (np.array([True, False, True]), None),
    "mask, broadcast value": (np.array([False, True, True]), (1, 4)),
    "int": (1, None),
    "slice": (slice(0, 3, 2), None),
}


def _split(z, vshape):
    n = int(np.prod(SHAPE))
    return cnp.reshape(z[:n], SHAPE), cnp.reshape(z[n:], vshape)


def _case(name):
    idx, vshape = INDICES[name]
    if vshape is None:
        vshape = np.empty(SHAPE)[idx].shape
    size = int(np.prod(SHAPE)) + int(np.prod(vshape, dtype=int))
    z = np.random.default_rng(len(name)).standard_normal(size)

    def f(z):
        x, v = _split(z, vshape)
        return cnp.reshape(cnp.at(x)[idx].set(v), -1)

    return idx, vshape, z, f


@pytest.mark.parametrize("name", list(INDICES))
def test_second_order_and_finite_differences(name):
    idx, vshape, z, f = _case(name)
    w = np.linspace(0.5, 2.0, int(np.prod(SHAPE)))
    check_grads(lambda z: f(z) ** 3 * w, (z,), order=2)
    h = lambda z: cnp.sum(f(z) ** 3 * w)
    np.testing.assert_allclose(cr.hessian(h)(z), cr.jacfwd(cr.grad(h))(z), atol=1e-12)


BATCHED_INDICES = np.array([[0, 0, 1], [2, 1, 2], [1, 1, 1], [-1, 2, 0]])  # rows of one batch


def _g(z, i):
    x, v = cnp.reshape(z[:3], (3,)), z[3:]
    return cnp.at(x)[i].set(v) ** 2 * np.array([1.0, 10.0, 100.0])


def _exact_rows(z):
    """d/dz of ``_g`` for each row of the batch, from NumPy's own writes (``L`` is linear)."""
    out = []
    for i in BATCHED_INDICES:
        lin = np.stack([_numpy_set(e[:3], e[3:], i) for e in np.eye(6)], axis=1)
        out.append((2 * (lin @ z) * np.array([1.0, 10.0, 100.0]))[:, None] * lin)
    return np.stack(out)


def _numpy_set(x, v, i):
    x = x.copy()
    x[i] = v
    return x


def test_batched_index_under_vmap():
    """A batched index goes through ``set_rows``; vmap(jacrev), jacrev(vmap) and jacfwd agree."""
    z = np.array([0.3, -0.7, 1.1, 2.0, -1.5, 0.4])
    exact = _exact_rows(z)
    np.testing.assert_allclose(cr.vmap(cr.jacrev(_g), in_axes=(None, 0))(z, BATCHED_INDICES), exact)
    np.testing.assert_allclose(cr.vmap(cr.jacfwd(_g), in_axes=(None, 0))(z, BATCHED_INDICES), exact)
    rev_of_vmap = cr.jacrev(lambda z: cr.vmap(lambda i: _g(z, i))(BATCHED_INDICES))(z)
    np.testing.assert_allclose(rev_of_vmap, exact)


def test_batched_index_second_order():
    z = np.array([0.3, -0.7, 1.1, 2.0, -1.5, 0.4])
    s = lambda z, i: cnp.sum(_g(z, i) ** 2)
    hess = cr.vmap(cr.hessian(s), in_axes=(None, 0))(z, BATCHED_INDICES)
    for k, i in enumerate(BATCHED_INDICES):  # one example at a time, plain index, forward over reverse
        np.testing.assert_allclose(hess[k], cr.jacfwd(cr.grad(lambda z: s(z, i)))(z), atol=1e-9)
        check_grads(lambda z: _g(z, i), (z,), order=2)


def test_batched_values_with_a_repeated_plain_index():
    """vmap over the values and the array, the index plain: grad of each example."""
    idx = np.array([2, 0, 2])
    xs = np.random.default_rng(3).standard_normal((5, 3))
    vs = np.random.default_rng(4).standard_normal((5, 3))
    f = lambda x, v: cnp.sum(cnp.at(x)[idx].set(v) * np.array([1.0, 2.0, 3.0]))
    gx, gv = cr.vmap(cr.grad(f, argnums=(0, 1)))(xs, vs)
    np.testing.assert_array_equal(gx, np.tile([0.0, 2.0, 0.0], (5, 1)))
    np.testing.assert_array_equal(gv, np.tile([0.0, 1.0, 3.0], (5, 1)))  # x[0] = v[1], x[2] = v[2]


def test_add_still_accumulates_with_a_batched_index():
    w = np.array([1.0, 2.0, 3.0])
    idx = BATCHED_INDICES[:, :3] % 3
    gb = cr.vmap(cr.grad(lambda v, i: cnp.sum(cnp.at(np.zeros(3))[i].add(v) * w)), in_axes=(None, 0))(np.ones(3), idx)
    np.testing.assert_array_equal(gb, w[idx])


@pytest.mark.parametrize("name", list(INDICES))
def test_second_order_against_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    idx, vshape, z, f = _case(name)
    n = int(np.prod(SHAPE))
    w = np.linspace(0.5, 2.0, n)

    def jf(z):
        x, v = z[:n].reshape(SHAPE), z[n:].reshape(vshape)
        return jax.numpy.sum(x.at[idx].set(v).ravel() ** 3 * w)

    np.testing.assert_allclose(cr.hessian(lambda z: cnp.sum(f(z) ** 3 * w))(z),
                               np.asarray(jax.hessian(jf)(z)), atol=1e-12)


def test_batched_index_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    z = np.array([0.3, -0.7, 1.1, 2.0, -1.5, 0.4])

    def jg(z, i):
        return (z[:3].at[i].set(z[3:])) ** 2 * np.array([1.0, 10.0, 100.0])

    expected = np.asarray(jax.vmap(jax.jacrev(jg), in_axes=(None, 0))(z, BATCHED_INDICES))
    np.testing.assert_allclose(cr.vmap(cr.jacrev(_g), in_axes=(None, 0))(z, BATCHED_INDICES), expected)
    np.testing.assert_allclose(cr.jacrev(lambda z: cr.vmap(lambda i: _g(z, i))(BATCHED_INDICES))(z), expected)
