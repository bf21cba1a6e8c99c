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
    "np.any": lambda x: np.any(x),
    "np.copy": lambda x: np.copy(x),
    "np.save": lambda x: np.save("/nonexistent/never.npy", x),
    "np.fft.fft": lambda x: np.fft.fft(x),
    "np.fmod": lambda x: np.fmod(x, 2.0),
    "np.add.reduce": lambda x: np.add.reduce(x),
    "np.maximum.accumulate": lambda x: np.maximum.accumulate(x),
    "np.add.at": lambda x: np.add.at(x, [0], 1.0),
    "np.asarray": lambda x: np.asarray(x),
}


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
