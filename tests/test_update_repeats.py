"""Writes to repeated indices: only the write NumPy keeps (the last) receives the cotangent.

Oracles: the Jacobian by forward mode (which applies the write to tangents and so
keeps NumPy's semantics), JAX's ``x.at[idx].set(v)``, and a hand-derived Jacobian.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

# (x shape, index, value shape): repeated, aliased (negative) and mixed indices
CASES = [
    ((2,), (np.array([0, 0]),), (2,)),
    ((3,), (np.array([2, 0, 2, 2]),), (4,)),
    ((2,), (np.array([1, -1]),), (2,)),                      # -1 aliases 1
    ((3,), (np.array([0, 0]),), ()),                         # a broadcast scalar written twice
    ((3, 2), (np.array([1, 1, 0]),), (3, 2)),                # whole rows, repeated
    ((3, 2), (np.array([1, 1]), slice(None)), (2, 2)),
    ((3, 4), (np.array([0, 2, 0]), np.array([1, 1, 1])), (3,)),
    ((3, 4), (slice(1, None), np.array([3, 3, -1])), (2, 3)),
    ((2, 3), (np.array([[0, 0], [1, 0]]), np.array([2, 2])), (2, 2)),
    ((4,), (np.array([True, False, True, False]),), (2,)),   # a mask: no repeats
]
IDS = [f"{s}-{i}" for i, (s, _, _) in enumerate(CASES)]


def _w(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _fn(xshape, idx, lib_at):
    w = _w(xshape, 1)

    def f(x, v):
        return lib_at(x, idx, v * v) * w
    return f


def _cr_at(x, idx, v):
    return cnp.at(x)[idx].set(v)


@pytest.mark.parametrize("xshape, idx, vshape", CASES, ids=IDS)
def test_reverse_equals_forward(xshape, idx, vshape):
    f = _fn(xshape, idx, _cr_at)
    x, v = _w(xshape, 2), _w(vshape, 3) + 2.0
    for argnums in (0, 1):
        jr = cr.jacrev(f, argnums=argnums)(x, v)
        jf = cr.jacfwd(f, argnums=argnums)(x, v)
        np.testing.assert_allclose(jr, jf, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xshape, idx, vshape", CASES, ids=IDS)
def test_against_jax(xshape, idx, vshape):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    jidx = tuple(jnp.asarray(i) if isinstance(i, np.ndarray) else i for i in idx)
    x, v = _w(xshape, 2), _w(vshape, 3) + 2.0
    w = _w(xshape, 1)

    def loss_cr(x, v):
        return cnp.sum(cnp.sin(cnp.at(x)[idx].set(v * v)) * w)

    def loss_jax(x, v):
        return jnp.sum(jnp.sin(jnp.asarray(x).at[jidx].set(v * v)) * w)

    for argnums in (0, 1):
        np.testing.assert_allclose(cr.grad(loss_cr, argnums)(x, v), jax.grad(loss_jax, argnums)(x, v),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cr.hessian(loss_cr, 1)(x, v), jax.hessian(loss_jax, 1)(x, v),
                               rtol=1e-10, atol=1e-12)


def test_the_issue_example():
    v = np.array([1.0, 2.0, 3.0])
    g = cr.grad(lambda v: cnp.sum(cnp.at(np.zeros(2))[np.array([0, 0])].set(v[1:]) * np.array([1.0, 10.0])))(v)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])  # by hand: only v[2] lands, at position 0


def test_tape_setitem_repeated():
    t = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = cr.tensor(np.zeros(2)) * 1.0
    h[np.array([0, 0])] = t[1:]
    (h * cr.tensor([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0, 1.0])


def test_add_still_accumulates():
    g = cr.grad(lambda v: cnp.sum(cnp.at(np.zeros(2))[np.array([0, 0])].add(v) * np.array([1.0, 10.0])))(
        np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])


@pytest.mark.parametrize("outer", ["vmap_of_grad", "grad_inside_vmap_batched_index"])
def test_batched_index(outer):
    idx = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1]])
    w = np.array([1.0, 10.0])
    vs = _w((3, 3), 4)

    def loss(v, i):
        return cnp.sum(cnp.at(np.zeros(2))[i].set(v * v) * w)

    expected = []
    for v, i in zip(vs, idx):  # by hand: the last write to each position gets 2 v w[pos]
        g = np.zeros(3)
        for pos in (0, 1):
            hits = np.nonzero(i == pos)[0]
            if hits.size:
                g[hits[-1]] = 2 * v[hits[-1]] * w[pos]
        expected.append(g)
    if outer == "vmap_of_grad":
        got = cr.vmap(cr.grad(loss))(vs, idx)
    else:
        got = cr.vmap(lambda v, i: cr.grad(lambda v: loss(v, i))(v))(vs, idx)
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-12)
    # and the same through the other mode
    np.testing.assert_allclose(got, cr.vmap(lambda v, i: cr.jacfwd(lambda v: loss(v, i))(v))(vs, idx),
                               rtol=1e-12)
