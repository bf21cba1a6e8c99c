"""vmap against a Python loop; Jacobians and Hessians against central differences and
against each other.  Oracles: the loop of the unbatched function, finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

RNG = np.random.default_rng(0)
B = 4


def _loop(f, *xs, in_axes=0):
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(xs)
    n = next(np.shape(x)[a] for x, a in zip(xs, axes) if a is not None)
    return np.stack([f(*[x if a is None else np.take(x, i, axis=a) for x, a in zip(xs, axes)])
                     for i in range(n)])


FUNCTIONS = {  # name: (f, argument shapes of one example)
    "elementwise broadcast": (lambda x, y: cnp.tanh(x) * y + cnp.exp(-x), [(3, 2), (2,)]),
    "reduction axis": (lambda x: cnp.sum(x ** 2, axis=0) + cnp.max(x, axis=-1).sum(), [(3, 2)]),
    "mean keepdims": (lambda x: x - cnp.mean(x, axis=1, keepdims=True), [(3, 2)]),
    "matrix @ matrix": (lambda a, b: a @ b, [(2, 3), (3, 2)]),
    "matrix @ vector": (lambda a, v: a @ v, [(2, 3), (3,)]),
    "vector @ matrix": (lambda v, a: v @ a, [(3,), (3, 2)]),
    "reshape transpose": (lambda x: cnp.transpose(cnp.reshape(x, (2, 3))), [(6,)]),
    "indexing": (lambda x: x[1:, ::-1] * x[np.array([0, 0]), 0:1], [(3, 2)]),
    "where comparison": (lambda x: cnp.where(x > 0, x ** 2, -x), [(3,)]),
    "concatenate einsum": (lambda x, y: cnp.einsum("i,j->ij", cnp.concatenate([x, y]), y), [(2,), (3,)]),
    "solve": (lambda a, b: cnp.linalg.solve(a @ a.T + 3 * np.eye(3), b), [(3, 3), (3,)]),
    "cumsum prod": (lambda x: cnp.cumsum(x) * cnp.prod(x), [(4,)]),
    "broadcast_to": (lambda x: cnp.broadcast_to(x, (2, 3)) * 2.0, [(3,)]),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_vmap_equals_the_loop(name):
    f, shapes = FUNCTIONS[name]
    xs = [RNG.standard_normal((B,) + s) for s in shapes]
    np.testing.assert_allclose(cr.vmap(f)(*xs), _loop(f, *xs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_per_example_gradients(name):
    f, shapes = FUNCTIONS[name]
    xs = [RNG.standard_normal((B,) + s) for s in shapes]
    loss = lambda *a: cnp.sum(f(*a) ** 2)  # noqa: E731
    np.testing.assert_allclose(cr.vmap(cr.grad(loss))(*xs), _loop(cr.grad(loss), *xs), rtol=1e-10, atol=1e-12)


def test_in_axes_none_and_one_and_out_axes():
    w = RNG.standard_normal(3)
    xs = RNG.standard_normal((3, B))
    out = cr.vmap(lambda w, x: w * x, in_axes=(None, 1), out_axes=1)(w, xs)
    np.testing.assert_allclose(out, w[:, None] * xs)


def test_pytree_arguments_and_outputs():
    params = {"w": RNG.standard_normal(2), "b": 0.5}
    xs = RNG.standard_normal((B, 2))
    out = cr.vmap(lambda p, x: {"y": cnp.sum(p["w"] * x) + p["b"]}, in_axes=(None, 0))(params, xs)
    np.testing.assert_allclose(out["y"], xs @ params["w"] + 0.5)


def test_grad_of_vmap_and_jvp_of_vmap():
    xs = RNG.standard_normal((B, 3))
    f = lambda x: cnp.sum(cnp.sin(x) * x)  # noqa: E731
    np.testing.assert_allclose(cr.grad(lambda X: cnp.sum(cr.vmap(f)(X)))(xs), np.cos(xs) * xs + np.sin(xs))
    _, t = cr.jvp(cr.vmap(f), (xs,), (np.ones_like(xs),))
    np.testing.assert_allclose(t, (np.cos(xs) * xs + np.sin(xs)).sum(axis=1))


def test_vmap_errors():
    with pytest.raises(ValueError, match="size"):
        cr.vmap(lambda x, y: x + y)(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="no argument is mapped"):
        cr.vmap(lambda x: x, in_axes=None)(np.ones(2))
    with pytest.raises(TypeError, match="batched value"):
        cr.vmap(lambda x: x if x > 0 else -x)(np.ones(2))


# -- Jacobians ------------------------------------------------------------------------

def _numerical_jacobian(f, x, eps=1e-6):
    x = np.asarray(x, float)
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        jac[(...,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return jac


JACOBIAN_CASES = {
    "R3 -> R2x2": (lambda x: cnp.outer(cnp.sin(x[:2]), x[1:]), (3,)),
    "R2x2 -> R3": (lambda x: cnp.concatenate([cnp.sum(x, axis=0), cnp.prod(x, axis=None)[None]]), (2, 2)),
    "R4 -> scalar": (lambda x: cnp.sum(cnp.tanh(x) ** 2), (4,)),
    "R2 -> R5": (lambda x: cnp.exp(x[0]) * cnp.linspace(0.0, 1.0, 5) + x[1] ** 3, (2,)),
}


@pytest.mark.parametrize("name", list(JACOBIAN_CASES))
@pytest.mark.parametrize("jac", [cr.jacfwd, cr.jacrev, cr.jacobian], ids=["jacfwd", "jacrev", "jacobian"])
def test_jacobians_against_finite_differences(name, jac):
    f, shape = JACOBIAN_CASES[name]
    x = RNG.uniform(0.2, 1.0, shape)
    J = jac(f)(x)
    expected = _numerical_jacobian(f, x)
    assert J.shape == expected.shape
    np.testing.assert_allclose(J, expected, rtol=1e-6, atol=1e-8)


def test_argnums_tuple_gives_one_block_per_argument():
    f = lambda x, y: cnp.sin(x) * y  # noqa: E731
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    for jac in (cr.jacfwd, cr.jacrev):
        jx, jy = jac(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(jx, np.diag(np.cos(x) * y))
        np.testing.assert_allclose(jy, np.diag(np.sin(x)))


@pytest.mark.parametrize("n_in,n_out,calls", [(10, 2, ["Tensor"]), (2, 10, ["Tensor", "JVPTracer"]),
                                               (3, 3, ["Tensor"])])
def test_jacobian_auto_picks_the_cheaper_mode_without_an_extra_forward_pass(n_in, n_out, calls):
    """Reverse mode (k <= n) reuses the one recorded pass that measured the output: f runs
    once.  Forward mode (k > n) follows that pass with the batched forward pass."""
    seen = []
    A = RNG.standard_normal((n_out, n_in))

    def f(x, scale=1.0):
        seen.append(type(x).__name__)
        return cnp.tanh(A @ x) * scale

    x = RNG.standard_normal(n_in)
    J = cr.jacobian(f)(x, scale=2.0)
    assert seen == calls
    np.testing.assert_allclose(J, cr.jacfwd(f)(x, scale=2.0))
    np.testing.assert_allclose(J, 2 * (1 - np.tanh(A @ x) ** 2)[:, None] * A)


def test_jacobians_pass_keyword_arguments_and_name_themselves_in_errors():
    f = lambda x, s=1.0: x * s  # noqa: E731
    for jac in (cr.jacfwd, cr.jacrev, cr.jacobian):
        np.testing.assert_array_equal(jac(f)(np.ones(2), s=3.0), 3 * np.eye(2))
    np.testing.assert_array_equal(cr.hessian(lambda x, s: cnp.sum(x ** 2) * s)(np.ones(2), s=2.0), 4 * np.eye(2))
    for name, jac in [("jacfwd", cr.jacfwd), ("jacrev", cr.jacrev), ("jacobian", cr.jacobian),
                      ("hessian", cr.hessian)]:
        with pytest.raises(TypeError, match=rf"^{name}: argument 0\['w'\] has dtype int64"):
            jac(lambda p: cnp.sum(p["w"] * 1.0))({"w": np.arange(3)})
    for name, jac in [("jacfwd", cr.jacfwd), ("jacrev", cr.jacrev), ("jacobian", cr.jacobian)]:
        with pytest.raises(TypeError, match=rf"^{name}: output\[1\] is a str"):
            jac(lambda x: (x, "label"))(np.ones(2))


def test_hessian_against_finite_differences_of_the_gradient():
    A = RNG.standard_normal((5, 4))
    f = lambda x: cnp.sum(cnp.tanh(A @ x) ** 2)  # noqa: E731
    x = RNG.standard_normal(4)
    H = cr.hessian(f)(x)
    np.testing.assert_allclose(H, _numerical_jacobian(cr.grad(f), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    np.testing.assert_allclose(H, cr.jacrev(cr.jacrev(f))(x), atol=1e-12)
