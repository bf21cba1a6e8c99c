"""Jacobians and Hessians of functions with pytree inputs and outputs (JAX's layout:
the output's structure outside, the differentiated arguments' structure inside, each
block ``out_leaf.shape + in_leaf.shape``), checked against central differences."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def f(p, x):
    """Dict and array in; a dict holding a tuple and an array out."""
    h = cnp.tanh(p["W"] @ x + p["b"])
    return {"pair": (cnp.sum(h ** 2), h * x[0]), "scaled": p["b"] * x[1] ** 2}


def _args(rng):
    p = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}
    return p, rng.normal(size=2)


def _fd_block(fun, args, argnum, in_path, out_path, eps=1e-6):
    """d out[out_path] / d args[argnum][in_path] by central differences, shape out + in."""
    def pick(tree, path):
        for k in path:
            tree = tree[k]
        return np.asarray(tree, dtype=float)

    def with_leaf(value):
        new = [dict(a) if isinstance(a, dict) else a for a in args]
        if in_path:
            new[argnum] = dict(new[argnum])
            new[argnum][in_path[0]] = value
        else:
            new[argnum] = value
        return new

    x0 = pick(args[argnum], in_path)
    out_shape = pick(fun(*args), out_path).shape
    J = np.zeros(out_shape + x0.shape)
    for idx in np.ndindex(*x0.shape):
        d = np.zeros_like(x0)
        d[idx] = eps
        hi = pick(fun(*with_leaf(x0 + d)), out_path)
        lo = pick(fun(*with_leaf(x0 - d)), out_path)
        J[(...,) + idx] = (hi - lo) / (2 * eps)
    return J


OUT_PATHS = [("pair", 0), ("pair", 1), ("scaled",)]


@pytest.mark.parametrize("jac", [cr.jacfwd, cr.jacrev, cr.jacobian], ids=["jacfwd", "jacrev", "jacobian"])
def test_pytree_in_pytree_out_matches_finite_differences(jac):
    args = _args(np.random.default_rng(0))
    J = jac(f, argnums=(0, 1))(*args)
    assert set(J) == {"pair", "scaled"} and isinstance(J["pair"], tuple)
    for out_path in OUT_PATHS:
        node = J
        for k in out_path:
            node = node[k]
        blocks_p, block_x = node                      # tuple over argnums
        assert set(blocks_p) == {"W", "b"}
        for name in ("W", "b"):
            np.testing.assert_allclose(blocks_p[name], _fd_block(f, args, 0, (name,), out_path),
                                       rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(block_x, _fd_block(f, args, 1, (), out_path), rtol=1e-6, atol=1e-8)


def test_single_argnum_unwraps_and_both_modes_agree():
    args = _args(np.random.default_rng(1))
    Jf, Jr = cr.jacfwd(f)(*args), cr.jacrev(f)(*args)
    assert Jf["scaled"]["W"].shape == (3, 3, 2) and Jf["pair"][0]["b"].shape == (3,)
    for out_path in OUT_PATHS:
        a, b = Jf, Jr
        for k in out_path:
            a, b = a[k], b[k]
        for name in ("W", "b"):
            np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-14)


def test_hessian_of_a_dict_input_is_a_dict_of_dicts():
    def loss(p):
        return cnp.sum(p["a"] ** 2 * p["b"]) + cnp.sin(p["b"])

    p = {"a": np.array([1.0, 2.0]), "b": np.array(0.5)}
    H = cr.hessian(loss)(p)
    # hand-derived: d2/da2 = 2b I, d2/dadb = 2a, d2/db2 = -sin b
    np.testing.assert_allclose(H["a"]["a"], 2 * 0.5 * np.eye(2))
    np.testing.assert_allclose(H["a"]["b"], [2.0, 4.0])
    np.testing.assert_allclose(H["b"]["a"], [2.0, 4.0])
    np.testing.assert_allclose(H["b"]["b"], -np.sin(0.5))


def test_scalar_blocks_are_numpy_scalars_like_grad():
    J = cr.jacrev(lambda x, y: (x * y, x + y), argnums=(0, 1))(2.0, 3.0)
    assert J == ((3.0, 2.0), (1.0, 1.0))
    assert all(isinstance(v, np.float64) for row in J for v in row)


def test_float32_blocks_stay_float32():
    x = np.array([1.0, 2.0], dtype=np.float32)
    J = cr.jacrev(lambda x: {"y": cnp.sin(x)})(x)
    assert J["y"].dtype == np.float32
    np.testing.assert_allclose(J["y"], np.diag(np.cos(x)), rtol=1e-6)


@pytest.mark.parametrize("jac", [cr.jacfwd, cr.jacrev, cr.jacobian])
def test_empty_pytrees_on_either_side(jac):
    """Nothing to differentiate (None, {}) or nothing returned: an empty Jacobian of that
    structure, not a crash in building the basis."""
    assert jac(lambda x: 1.0)(None) is None
    assert jac(lambda p: 1.0)({}) == {}
    assert jac(lambda x: None)(np.ones(2)) is None
    J = jac(lambda p, q: p * 2, argnums=(0, 1))(np.ones(2), None)
    np.testing.assert_array_equal(J[0], 2 * np.eye(2))
    assert J[1] is None


@pytest.mark.parametrize("jac", [cr.jacrev, cr.jacobian, cr.jacfwd])
def test_has_aux_errors_name_the_transform(jac):
    with pytest.raises(ValueError, match=rf"^{jac.__name__} with has_aux=True needs .* a pair"):
        jac(lambda x: x, has_aux=True)(np.ones(2))


def test_jacobian_basis_is_cached_and_never_shared_with_the_caller():
    # the identity basis is built once per (shapes, dtypes) and read-only; a Jacobian block that
    # is a view of it (f = identity) is copied, so writing into a result never changes the next one
    for jac in (cr.jacfwd, cr.jacrev, cr.jacobian):
        J = jac(lambda x: x)(np.ones(3))
        J[...] = 7.0
        np.testing.assert_array_equal(jac(lambda x: x)(np.ones(3)), np.eye(3))
        Jd = jac(lambda x: {"a": x.reshape(3, 1)})(np.ones(3))["a"]
        Jd[0, 0, 0] = -1.0
        np.testing.assert_array_equal(jac(lambda x: x.reshape(3, 1))(np.ones(3)), np.eye(3).reshape(3, 1, 3))
    from chainrule.api import _basis_of
    (piece,), _ = _basis_of((((2, 2), np.dtype(np.float32)),))
    assert not piece.flags.writeable and piece.dtype == np.float32 and piece.shape == (4, 2, 2)
    np.testing.assert_array_equal(piece.reshape(4, 4), np.eye(4))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_jacrev_with_few_outputs_matches_forward_mode(k):
    # one or two outputs take the direct pullback path, three the vmapped one: all agree with
    # jacfwd and with the closed form, also under an outer vmap and inside a Hessian
    rng = np.random.default_rng(k)
    A = rng.standard_normal((k, 5))
    f = lambda x: {"y": cnp.tanh(A @ cnp.sin(x)), "s": cnp.sum(x[:1] ** 2)}
    x = rng.standard_normal(5)
    Jr, Jf = cr.jacrev(f)(x), cr.jacfwd(f)(x)
    np.testing.assert_allclose(Jr["y"], Jf["y"], rtol=1e-13)
    expect = (1 - np.tanh(A @ np.sin(x)) ** 2)[:, None] * A * np.cos(x)
    np.testing.assert_allclose(Jr["y"], expect, rtol=1e-12)
    np.testing.assert_allclose(Jr["s"], [2 * x[0], 0, 0, 0, 0], rtol=1e-13)
    X = rng.standard_normal((3, 5))
    np.testing.assert_allclose(cr.vmap(cr.jacrev(f))(X)["y"], cr.vmap(cr.jacfwd(f))(X)["y"], rtol=1e-13)
    g = lambda x: cnp.sum(cnp.tanh(A @ cnp.sin(x)))
    np.testing.assert_allclose(cr.jacfwd(cr.jacrev(g))(x), cr.jacrev(cr.jacfwd(g))(x), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 100])
def test_jacfwd_and_hessian_in_chunks_equal_the_one_pass(chunk):
    """chunk_size pushes a few basis directions at a time; the Jacobian is the same (jacrev the oracle)."""
    def f(p, y):
        return {"a": cnp.sin(p["u"]) * cnp.sum(p["v"] ** 2) * y, "b": cnp.tanh(p["v"]) @ p["u"][:2]}, p["u"][0]
    p = {"u": np.array([0.3, -0.7, 1.1]), "v": np.array([0.5, 0.2])}
    want = cr.jacrev(f, has_aux=True)(p, 1.5)
    got = cr.jacfwd(f, has_aux=True, chunk_size=chunk)(p, 1.5)
    for a, b in zip(jax_free_leaves(got), jax_free_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    g = lambda x: cnp.sum(cnp.sin(x) * cnp.roll(x, 1) ** 2)
    x = np.linspace(-1.0, 1.0, 7)
    np.testing.assert_allclose(cr.hessian(g, chunk_size=chunk)(x), cr.jacrev(cr.jacrev(g))(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cr.vmap(cr.hessian(g, chunk_size=chunk))(np.stack([x, 2 * x])),
                               np.stack([cr.hessian(g)(x), cr.hessian(g)(2 * x)]), rtol=1e-12, atol=1e-14)


def jax_free_leaves(tree):
    from chainrule._core.pytree import tree_flatten
    return tree_flatten(tree)[0]


def test_chunk_size_must_be_a_positive_int():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="jacfwd: chunk_size must be a positive int or None"):
            cr.jacfwd(cnp.sin, chunk_size=bad)
