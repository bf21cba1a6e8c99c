"""vmap's API against JAX: in_axes / out_axes pytree prefixes, out_axes None and negative,
keyword arguments, axis_size, and errors that name the argument path."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

X = np.arange(6.0).reshape(2, 3)


def test_out_axes_none_requires_an_unbatched_output():
    assert cr.vmap(lambda x: 1.0, out_axes=None)(X) == 1.0
    with pytest.raises(ValueError, match=r"vmap: out_axes is None for output\[1\].*differs per example"):
        cr.vmap(lambda x: (1.0, x), out_axes=(None, None))(X)
    with pytest.raises(ValueError, match="out_axes is None"):
        cr.vmap(lambda x: x, out_axes=None)(X)


def test_out_axes_negative_and_pytree():
    np.testing.assert_array_equal(cr.vmap(lambda x: x * 2, out_axes=-1)(X), (X * 2).T)
    a, b = cr.vmap(lambda x, c: (x, c), in_axes=(0, None), out_axes=(1, None))(X, 3.0)
    np.testing.assert_array_equal(a, X.T)
    assert b == 3.0
    out = cr.vmap(lambda x: {"s": cnp.sum(x), "x": x}, out_axes={"s": 0, "x": -1})(X)
    np.testing.assert_array_equal(out["x"], X.T)
    np.testing.assert_array_equal(out["s"], X.sum(1))
    with pytest.raises(ValueError, match="out_axes 2 is out of range for output"):
        cr.vmap(lambda x: x, out_axes=2)(X)


def test_in_axes_pytree_prefix_with_none_entries():
    params = {"w": X, "b": np.ones(3)}
    out = cr.vmap(lambda a, p: p["w"] * p["b"] + a, in_axes=(None, {"w": 0, "b": None}))(1.0, params)
    np.testing.assert_array_equal(out, X + 1.0)
    out = cr.vmap(lambda p: p[0] + p[1], in_axes=((0, None),))((X, np.ones(3)))
    np.testing.assert_array_equal(out, X + 1.0)
    with pytest.raises(ValueError, match=r"in_axes for argument 0.*keys"):
        cr.vmap(lambda p: p["w"], in_axes=({"w": 0},))(params)
    with pytest.raises(ValueError, match="does not match the value's structure"):
        cr.vmap(lambda p: p[0], in_axes=((0, 0, 0),))((X, X))


def test_keyword_arguments_are_mapped_over_axis_0_like_jax():
    out = cr.vmap(lambda x, scale=1.0: x * scale)(X, scale=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out, X * np.array([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="keyword argument 'scale'.*always mapped over axis 0"):
        cr.vmap(lambda x, scale=1.0: x * scale)(X, scale=2.0)


def test_axis_size():
    np.testing.assert_array_equal(cr.vmap(lambda x: x * 2, in_axes=None, axis_size=3)(1.0), [2.0] * 3)
    with pytest.raises(ValueError, match="axis_size=3, but argument 0"):
        cr.vmap(lambda x: x, axis_size=3)(X)
    with pytest.raises(ValueError, match="pass axis_size"):
        cr.vmap(lambda x: x, in_axes=None)(X)


def test_size_mismatch_names_every_argument_path():
    with pytest.raises(ValueError, match=r"argument 0 \(shape \(2,\).*size 2; argument 1\['q'\].*size 3"):
        cr.vmap(lambda a, b: a + b["q"])(np.ones(2), {"q": np.ones(3)})
    with pytest.raises(ValueError, match="axis 0 of argument 0, but it has shape \\(\\) .*None"):
        cr.vmap(lambda x: x)(1.0)


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    xs = np.random.default_rng(0).normal(size=(2, 3, 4))
    for ia, oa in [(0, 0), (1, -1), (-1, 1), (2, 0)]:
        ours = cr.vmap(cr.vmap(lambda x: x * cnp.sum(x), in_axes=ia % 2), in_axes=ia, out_axes=oa)(xs)
        ref = jax.vmap(jax.vmap(lambda x: x * jnp.sum(x), in_axes=ia % 2), in_axes=ia, out_axes=oa)(xs)
        np.testing.assert_allclose(ours, ref)
    p = {"w": xs[0], "b": xs[1, 0, :3]}
    ours = cr.vmap(lambda p, x: p["w"] @ x + p["b"], in_axes=({"w": None, "b": 0}, 1))(p, xs[1].T)
    ref = jax.vmap(lambda p, x: p["w"] @ x + p["b"], in_axes=({"w": None, "b": 0}, 1))(p, xs[1].T)
    np.testing.assert_allclose(ours, ref)


@pytest.mark.parametrize("name", ["vmap", "grad", "value_and_grad", "jacfwd", "jacrev", "jacobian", "hessian"])
def test_a_non_function_is_refused_at_once_naming_the_transform(name):
    with pytest.raises(TypeError, match=rf"^{name}: expected a function to transform, got float 3.0"):
        getattr(cr, name)(3.0)


@pytest.mark.parametrize("fn,args,err,match", [
    (lambda x: x + np.ones(4), (X,), ValueError, r"shapes \(3,\) \(4,\)"),
    (lambda x, y: x + y, (X, np.ones((2, 4))), ValueError, r"shapes \(3,\) \(4,\)"),
    (lambda x: x[5], (X,), IndexError, "index 5 is out of bounds for axis 0 with size 3"),
    (lambda a, b: cnp.linalg.solve(a, b), (np.stack([np.eye(3)] * 2), np.ones((2, 4))), ValueError,
     r"operands: \(3, 3\) float64, \(4,\) float64"),
])
def test_errors_inside_vmap_speak_of_one_example(fn, args, err, match):
    """A primitive failing under vmap reports the shapes and axes of one example, as the
    user wrote the function, not those of the batched arrays."""
    with pytest.raises(err, match=match) as info:
        cr.vmap(fn)(*args)
    assert "inside cr.vmap" in "".join(getattr(info.value, "__notes__", []))


def test_a_failure_of_another_example_keeps_the_batched_error():
    with pytest.raises(IndexError, match="mask"):
        cr.vmap(lambda x, m: x[m])(X, np.array([[True, False, True], [True, True, False]]))


def test_array_of_traced_values_is_a_differentiable_stack():
    """jnp.array([x[0], 2 * x[1]]), as JAX users write it, under vmap, grad, jacfwd and root."""
    np.testing.assert_array_equal(cr.vmap(lambda a: cnp.array([a[0], a[1] * 2]))(X), [[0.0, 2.0], [3.0, 8.0]])
    g = cr.grad(lambda a: cnp.sum(cnp.array([[a[0], 1.0], [a[1] ** 2, a[2]]])))(X[1])
    np.testing.assert_array_equal(g, [1.0, 8.0, 1.0])
    J = cr.jacfwd(lambda a: cnp.array([a[0] * a[1], a[2]], dtype=np.float32))(X[0])
    assert J.dtype == np.float32
    F = lambda x, a: cnp.array([x[0] * x[1] - a, x[0] - x[1] - 1.0])  # noqa: E731
    assert cr.grad(lambda a: cr.root(F, np.array([1.0, 1.0]), a)[0])(6.0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="different shapes"):
        cr.grad(lambda a: cnp.sum(cnp.array([a, a[:2]])))(X[0])
