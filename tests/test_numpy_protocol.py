"""NumPy's own functions on tracers (``__array_ufunc__`` / ``__array_function__``):
unmodified NumPy code records and differentiates; unsupported functions raise TypeError
naming themselves; plain ndarrays are never affected."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def numpy_code(x):  # written for NumPy, not for chainrule
    return np.sum(np.tanh(np.reshape(x, (3, 2))) ** 2, axis=0).mean() + np.max(np.exp(x))


def test_unmodified_numpy_code_differentiates_like_chainrule_numpy():
    x = np.linspace(-1.0, 1.0, 6)
    expected = cr.grad(lambda v: cnp.mean(cnp.sum(cnp.tanh(cnp.reshape(v, (3, 2))) ** 2, axis=0))
                       + cnp.max(cnp.exp(v)))(x)
    np.testing.assert_allclose(cr.grad(numpy_code)(x), expected)
    _, t = cr.jvp(numpy_code, (x,), (np.ones(6),))
    np.testing.assert_allclose(t, expected.sum())


def test_numpy_functions_on_tape_tensors_record():
    x = cr.tensor(np.linspace(-1.0, 1.0, 6), requires_grad=True)
    y = numpy_code(x)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), cr.grad(numpy_code)(np.linspace(-1.0, 1.0, 6)))


def test_shape_queries():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6


@pytest.mark.parametrize("call", [lambda x: np.fft.fft(x), lambda x: np.allclose(x, 0.0),
                                  lambda x: np.sin(x, out=np.empty(3))])
def test_unsupported_numpy_functions_raise_type_error_naming_them(call):
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match=r"fft|allclose|sin"):
        call(x)


def test_plain_arrays_are_untouched():
    x = np.ones(3)
    assert type(np.sum(x)) is np.float64 and type(np.sin(x)) is np.ndarray
