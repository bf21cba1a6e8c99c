"""Interoperation with NumPy's own functions, np.matrix, DLPack (NumPy, PyTorch) and the
array API's ``__array_namespace__``.

A tape Tensor that does not require grad is an array with nothing to lose: NumPy's functions
that only read it (``np.allclose``, ``np.any``, ``np.copy``, ``np.save``), DLPack consumers
and ``np.asarray`` take it.  A value being differentiated keeps refusing, and every refusal
names chainrule.numpy functions that exist.
"""
import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

X = np.array([1.0, np.nan, np.inf, -np.inf, -2.0, 0.0])


# -- isnan, isinf, isfinite: boolean, no derivative, every transform ------------------------------

@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_floating_point_tests_match_numpy_everywhere(name):
    ours, theirs = getattr(cnp, name), getattr(np, name)
    expected = theirs(X)
    assert ours(X).dtype == bool and np.array_equal(ours(X), expected)
    t = cr.tensor(X, requires_grad=True)
    for got in (ours(t), theirs(t)):  # np.isnan(t) dispatches to cnp.isnan
        assert isinstance(got, cr.Tensor) and not got.requires_grad and np.array_equal(got.numpy(), expected)
    assert np.array_equal(cr.vmap(ours)(np.stack([X, X[::-1]])), np.stack([expected, expected[::-1]]))
    assert np.array_equal(cr.jit(ours)(X), expected)
    assert np.array_equal(cr.jvp(ours, (X,), (np.ones(6),))[1], np.zeros(6))


def test_a_mask_from_isfinite_differentiates_the_finite_entries():
    f = lambda x: cnp.sum(cnp.where(cnp.isfinite(x), x, 0.0) ** 2)  # noqa: E731
    np.testing.assert_array_equal(cr.grad(f)(X), np.where(np.isfinite(X), 2 * X, 0.0))
    np.testing.assert_array_equal(cr.hessian(f)(X), np.diag(np.where(np.isfinite(X), 2.0, 0.0)))


# -- NumPy functions that only read, on a Tensor that does not require grad -----------------------

def test_numpy_readers_take_a_tensor_without_grad(tmp_path):
    t = cr.tensor(X)
    assert np.allclose(t, X, equal_nan=True) is True
    assert np.any(t > 0) and not np.all(t > 0)
    c = np.copy(t)
    assert type(c) is np.ndarray and c.flags.writeable and np.array_equal(c, X, equal_nan=True)
    c[0] = 7.0
    assert t.numpy()[0] == 1.0  # a copy: the Tensor is untouched
    np.save(tmp_path / "t.npy", t)
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), X)
    np.testing.assert_allclose(t, X)
    assert np.array_equal(np.isclose(t, X, equal_nan=True), np.ones(6, bool))
    assert np.fmod(cr.tensor([5.0, -3.0]), 2.0).tolist() == [1.0, -1.0]  # a ufunc chainrule lacks
    assert np.add.reduce(cr.tensor([1.0, 2.0])) == 3.0                 # a ufunc method
    assert np.array_equal(np.concatenate([t, t]), np.concatenate([X, X]), equal_nan=True)  # ours: a Tensor


def test_a_detached_tensor_is_read_like_an_array():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    assert np.allclose(w.detach(), [1.0, 2.0])
    with cr.no_grad():
        assert np.allclose(w * 2, [2.0, 4.0])


_REFUSED = {
    "np.allclose": lambda x: np.allclose(x, 0.0),
    "np.copy": lambda x: np.copy(x),
    "np.save": lambda x: np.save("/nonexistent/never.npy", x),
    "np.fft.fft": lambda x: np.fft.fft(x),
    "np.fmod": lambda x: np.fmod(x, 2.0),
    "np.add.reduce": lambda x: np.add.reduce(x),
    "np.maximum.accumulate": lambda x: np.maximum.accumulate(x),
    "np.add.at": lambda x: np.add.at(x, [0], 1.0),
    "np.asarray": lambda x: np.asarray(x),
}


def test_numpy_boolean_reductions_of_a_tensor_that_requires_grad_go_to_cnp():
    """np.any / np.all have chainrule counterparts (a boolean result, no derivative), so they work."""
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    assert bool(np.any(w > 0)) and not bool(np.all(w > 0))


def _cnp_names_exist(message):
    for name in re.findall(r"\bcnp((?:\.\w+)+)", message):
        obj = cnp
        for part in name.strip(".").split("."):
            assert hasattr(obj, part), f"the message names cnp{name}, which does not exist: {message}"
            obj = getattr(obj, part)


@pytest.mark.parametrize("name", list(_REFUSED))
def test_a_tensor_that_requires_grad_refuses_and_names_what_exists(name):
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError) as info:
        _REFUSED[name](w)
    message = str(info.value)
    assert "grad" in message
    if name != "np.asarray":
        assert name.replace("np.", "numpy.") in message
    _cnp_names_exist(message)


@pytest.mark.parametrize("transform", ["grad", "jvp", "vmap", "jit"])
@pytest.mark.parametrize("name", ["np.allclose", "np.fft.fft", "np.fmod", "np.add.reduce"])
def test_inside_a_transform_readers_refuse_too(transform, name):
    f = lambda x: _REFUSED[name](x) * x  # noqa: E731
    call = {"grad": lambda: cr.grad(lambda x: cnp.sum(f(x)))(np.ones(2)),
            "jvp": lambda: cr.jvp(f, (np.ones(2),), (np.ones(2),)),
            "vmap": lambda: cr.vmap(f)(np.ones((3, 2))),
            "jit": lambda: cr.jit(f)(np.ones(2))}[transform]
    with pytest.raises(TypeError, match=name.replace("np.", "numpy.").replace(".", r"\.")) as info:
        call()
    _cnp_names_exist(str(info.value))


def test_ufunc_methods_point_to_the_chainrule_function():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    for call, instead in [(np.add.reduce, "cnp.sum"), (np.multiply.accumulate, "cnp.cumprod")]:
        with pytest.raises(TypeError, match=re.escape(instead)):
            call(w)


# -- np.matrix: chainrule.numpy's reductions return what NumPy's return -------------------------

@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "amax", "amin", "prod", "var", "std",
                                  "cumsum", "cumprod", "argmax", "argmin", "argsort"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reductions_of_np_matrix_are_numpys(name, axis):
    m = np.matrix([[1.0, 2.0], [3.0, 5.0]])
    ours, theirs = getattr(cnp, name)(m, axis=axis), getattr(np, name)(m, axis=axis)
    assert type(ours) is type(theirs) and np.shape(ours) == np.shape(theirs)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_np_matrix_var_keywords():
    m = np.matrix([[1.0, 2.0], [3.0, 5.0]])
    for kw in ({"ddof": 1}, {"axis": 0, "ddof": 1}, {"dtype": np.float32, "axis": 1}):
        np.testing.assert_array_equal(cnp.var(m, **kw), np.var(m, **kw))
        np.testing.assert_array_equal(cnp.std(m, **kw), np.std(m, **kw))


# -- DLPack, both ways ----------------------------------------------------------------------------

def test_numpy_from_dlpack_shares_a_tensors_memory():
    t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    a = np.from_dlpack(t)
    assert t.__dlpack_device__() == (1, 0) and np.array_equal(a, t.numpy())
    # NumPy gives a writeable array from 2.1 (2.0 marks every DLPack import read-only)
    assert a.flags.writeable or np.lib.NumpyVersion(np.__version__) < "2.1.0"
    assert np.shares_memory(a, t.numpy())
    col = np.from_dlpack(t[:, 1])  # a strided view
    assert np.array_equal(col, [2.0, 5.0])
    for dtype in (np.float32, np.int64, bool):
        x = cr.tensor(np.array([1, 0], dtype=dtype))
        assert np.from_dlpack(x).dtype == dtype


def test_torch_from_dlpack_shares_a_tensors_memory_and_back():
    torch = pytest.importorskip("torch")
    t = cr.tensor([1.0, 2.0, 3.0])
    tt = torch.from_dlpack(t)
    assert tt.dtype == torch.float64 and tt.tolist() == [1.0, 2.0, 3.0]
    tt[0] = 10.0
    assert t.numpy()[0] == 10.0  # the same memory
    # torch -> chainrule: cnp.from_dlpack / np.from_dlpack share, cr.tensor copies
    src = torch.arange(4.0, dtype=torch.float64)
    a = cnp.from_dlpack(src)
    src[0] = -1.0
    assert type(a) is np.ndarray and a[0] == -1.0
    w = cr.tensor(src, requires_grad=True)
    assert w.dtype == np.float64 and w.detach().numpy().tolist() == [-1.0, 1.0, 2.0, 3.0]
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [-2.0, 2.0, 4.0, 6.0])
    assert cr.tensor(torch.ones(2, dtype=torch.float32)).dtype == np.float32


def test_jax_arrays_come_in_through_dlpack():
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.arange(3.0)
    np.testing.assert_array_equal(cnp.from_dlpack(x), np.arange(3.0))
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(v * v))(cnp.from_dlpack(x)), 2 * np.arange(3.0))
    np.testing.assert_array_equal(np.asarray(jnp.from_dlpack(cr.tensor([1.0, 2.0]))), [1.0, 2.0])


def test_a_dlpack_producer_without_array_makes_a_tensor():
    class Producer:  # only the DLPack protocol, no __array__
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kw):
            return self.a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()
    t = cr.tensor(Producer(np.array([1.0, 2.0])), requires_grad=True)
    assert t.requires_grad and t.detach().numpy().tolist() == [1.0, 2.0]


def test_a_tensor_that_requires_grad_refuses_dlpack():
    torch = pytest.importorskip("torch")
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    for consumer in (np.from_dlpack, torch.from_dlpack):
        with pytest.raises(TypeError, match="drop its gradient.*detach"):
            consumer(w)
    with pytest.raises(TypeError, match="dual value"):
        with cr.forward_ad.dual_level():
            np.from_dlpack(cr.forward_ad.make_dual(w.detach(), np.ones(2)))
    for transform in (lambda f: cr.grad(lambda x: cnp.sum(f(x))), lambda f: cr.vmap(f), lambda f: cr.jit(f)):
        with pytest.raises(TypeError):
            transform(lambda x: np.from_dlpack(x) * x)(np.ones((2, 2)))


def test_memory_a_graph_reads_is_exported_as_a_copy():
    """torch.from_dlpack ignores DLPack's read-only flag: a write there must not change what
    backward reads, so memory held by a graph leaves as a copy."""
    torch = pytest.importorskip("torch")
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    held = w.detach()  # shares w's memory, which the graph of y reads
    tt = torch.from_dlpack(held)
    tt[0] = 100.0
    y.backward()
    assert w.grad.numpy().tolist() == [2.0, 4.0] and held.numpy().tolist() == [1.0, 2.0]
    with pytest.raises(BufferError, match="copy"):
        held.__dlpack__(copy=False)


# -- the array API namespace ----------------------------------------------------------------------

def test_array_namespace_is_chainrule_numpy():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert t.__array_namespace__() is cnp and t.__array_namespace__(api_version="2023.12") is cnp
    with pytest.raises(ValueError, match="version"):
        t.__array_namespace__(api_version="1999.01")

    def generic(x):  # array-API style code: the namespace comes from the argument
        xp = x.__array_namespace__()
        return xp.sum(xp.tanh(x) ** 2)
    np.testing.assert_allclose(cr.grad(generic)(np.array([0.5, 1.0])), cr.grad(
        lambda x: cnp.sum(cnp.tanh(x) ** 2))(np.array([0.5, 1.0])))
    np.testing.assert_allclose(generic(np.array([0.5, 1.0])), np.sum(np.tanh([0.5, 1.0]) ** 2))
