"""median, diff, meshgrid: compositions of primitives, checked against NumPy's values,
central differences (both modes, order 2), JAX's derivatives, and vmap against a loop."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

ALIASES = {"concat": "concatenate", "permute_dims": "transpose", "pow": "power", "asin": "arcsin",
           "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "asinh": "arcsinh", "acosh": "arccosh",
           "atanh": "arctanh"}
COVERED = {"median", "diff", "meshgrid", "matrix_transpose", *ALIASES}

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 4, 5))


def _against_numpy_fd_jax(ours, theirs, jax_name, *args, **kw):
    np.testing.assert_allclose(ours(*args, **kw), theirs(*args, **kw), rtol=1e-13, atol=1e-14)
    check_grads(lambda *a: ours(*a, **kw), args, order=2)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jfn = getattr(jax.numpy, jax_name)
    w = [RNG.normal(size=np.shape(o)) for o in np.broadcast_arrays(*(lambda r: r if isinstance(r, tuple) else (r,))(
        theirs(*args, **kw)))]

    def loss(f):
        def go(*a):
            r = f(*a, **kw)
            r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
            return sum((ri * wi).sum() for ri, wi in zip(r, w))
        return go
    argnums = tuple(range(len(args)))
    got = cr.grad(loss(ours), argnums)(*args)
    expected = jax.grad(loss(jfn), argnums)(*args)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kw", [{}, {"axis": 0}, {"axis": 1, "keepdims": True}, {"axis": (0, 2)},
                                {"axis": -1}, {"axis": (0, 1, 2), "keepdims": True}])
def test_median(kw):
    _against_numpy_fd_jax(cnp.median, np.median, "median", X, **kw)


def test_median_even_and_odd_counts_share_the_gradient():
    assert cr.grad(cnp.median)(np.array([3.0, 1.0, 2.0])).tolist() == [0.0, 0.0, 1.0]
    assert cr.grad(cnp.median)(np.array([3.0, 1.0, 4.0, 2.0])).tolist() == [0.5, 0.0, 0.0, 0.5]


def test_median_of_nan_is_nan_and_of_integers_a_float():
    x = np.array([[1.0, np.nan, 2.0], [1.0, 5.0, 2.0]])
    got = cnp.median(cr.tensor(x), axis=1)
    np.testing.assert_array_equal(got.numpy(), np.median(x, axis=1))
    g = cr.grad(lambda v: cnp.sum(cnp.median(v, axis=1)))(x)
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    m = cnp.median(cr.tensor([1, 2, 3, 4]))
    assert m.dtype == np.float64 and m.item() == 2.5


def test_median_refuses_out_on_traced_values():
    with pytest.raises(TypeError, match="median.*out"):
        cnp.median(cr.tensor([1.0, 2.0], requires_grad=True), out=np.empty(()))


@pytest.mark.parametrize("kw", [{}, {"n": 2}, {"axis": 0}, {"n": 3, "axis": 1}, {"prepend": 0.5},
                                {"append": np.ones((3, 4, 1))}, {"n": 2, "axis": 0, "prepend": 1.0, "append": 2.0}])
def test_diff(kw):
    _against_numpy_fd_jax(cnp.diff, np.diff, "diff", X, **kw)


def test_diff_in_prepend_and_append_and_edge_cases():
    x, p, q = RNG.normal(size=(4, 3)), RNG.normal(size=(1, 3)), RNG.normal(size=(2, 3))
    f = lambda x, p, q: cnp.diff(x, n=2, axis=0, prepend=p, append=q)  # noqa: E731
    np.testing.assert_allclose(f(cr.tensor(x), p, q).numpy(), np.diff(x, n=2, axis=0, prepend=p, append=q))
    check_grads(f, (x, p, q), order=2)
    t = cr.tensor(x, requires_grad=True)
    assert cnp.diff(t, n=0) is t
    np.testing.assert_array_equal(cnp.diff(cr.tensor([True, False, False])).numpy(), [True, False])
    with pytest.raises(ValueError, match="non-negative"):
        cnp.diff(t, n=-1)
    with pytest.raises(ValueError, match="one dimensional"):
        cnp.diff(cr.tensor(1.0, requires_grad=True))


@pytest.mark.parametrize("kw", [{}, {"indexing": "ij"}, {"sparse": True}, {"sparse": True, "indexing": "ij"}])
def test_meshgrid(kw):
    a, b, c = RNG.normal(size=3), RNG.normal(size=2), RNG.normal(size=4)
    got, expected = cnp.meshgrid(cr.tensor(a), b, c, **kw), np.meshgrid(a, b, c, **kw)
    assert type(got) is tuple and len(got) == 3
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(np.asarray(g) if not isinstance(g, cr.Tensor) else g.numpy(), e)
    if kw.get("sparse"):
        check_grads(lambda a, b, c: cnp.meshgrid(a, b, c, **kw), (a, b, c), order=2)
    else:
        _against_numpy_fd_jax(cnp.meshgrid, np.meshgrid, "meshgrid", a, b, c, **kw)


def test_meshgrid_of_one_and_of_matrices():
    x = RNG.normal(size=(2, 2))
    (g,) = cnp.meshgrid(cr.tensor(x))
    np.testing.assert_array_equal(g.numpy(), np.meshgrid(x)[0])
    X2, Y2 = cnp.meshgrid(cr.tensor(x), np.arange(3.0))  # N-D inputs are flattened, as NumPy
    np.testing.assert_array_equal(X2.numpy(), np.meshgrid(x, np.arange(3.0))[0])
    with pytest.raises(ValueError, match="indexing"):
        cnp.meshgrid(cr.tensor(x), indexing="yx")


@pytest.mark.parametrize("f", [lambda v: cnp.median(v), lambda v: cnp.median(v, axis=0, keepdims=True),
                               lambda v: cnp.diff(v, n=2), lambda v: cnp.diff(v, axis=0, prepend=0.0),
                               lambda v: cnp.meshgrid(v[0], v[:, 1])[1]],
                         ids=["median", "median axis", "diff", "diff prepend", "meshgrid"])
def test_vmap_jit_and_tape_agree(f):
    xs = RNG.normal(size=(3, 4, 5))
    np.testing.assert_allclose(cr.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-13)
    np.testing.assert_allclose(cr.jit(f)(xs[0]), f(xs[0]), rtol=1e-13)
    t = cr.tensor(xs[0], requires_grad=True)
    cnp.sum(f(t) ** 2).backward()
    np.testing.assert_allclose(t.grad.numpy(), cr.grad(lambda v: cnp.sum(f(v) ** 2))(xs[0]), rtol=1e-13)
    np.testing.assert_allclose(cr.jacfwd(f)(xs[0]), cr.jacrev(f)(xs[0]), rtol=1e-13)


# -- the array API's names ------------------------------------------------------------------------

def test_array_api_names_are_numpys_functions():
    for name, same in ALIASES.items():
        assert getattr(cnp, name) is getattr(cnp, same) and hasattr(np, name), name


def test_matrix_transpose():
    x = RNG.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(cnp.matrix_transpose(cr.tensor(x)).numpy(), np.matrix_transpose(x))
    np.testing.assert_array_equal(cnp.matrix_transpose(x), np.matrix_transpose(x))
    check_grads(cnp.matrix_transpose, (x,), order=2)
    with pytest.raises(ValueError, match="2 dimensions"):
        cnp.matrix_transpose(cr.tensor([1.0], requires_grad=True))


def test_array_api_code_differentiates():
    def generic(x, y):  # written against the standard: the namespace comes from the argument
        xp = x.__array_namespace__()
        z = xp.concat([xp.asin(x / 4.0), xp.pow(y, 2.0)])
        return xp.sum(xp.matrix_transpose(xp.reshape(z, (2, 2))) * xp.atan2(z, 1.0)[:2])
    x, y = np.array([0.5, 1.0]), np.array([0.3, -0.7])
    check_grads(generic, (x, y), order=2)  # NumPy's namespace for the differences, ours for the rest
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for a, b in zip(cr.grad(generic, (0, 1))(x, y), jax.grad(generic, (0, 1))(jax.numpy.asarray(x), jax.numpy.asarray(y))):
        np.testing.assert_allclose(a, b, rtol=1e-13)
