"""take, take_along_axis, sort, pad, argmax/argmin/argsort: values, derivatives, errors."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

from _inputs import distinct as _distinct, normal as _r

COVERED = {"take", "take_along_axis", "sort", "pad", "argmax", "argmin", "argsort"}


# -- take ---------------------------------------------------------------------

@pytest.mark.parametrize("shape, indices, axis", [
    ((5,), [0, 2, 2, 4], None),
    ((2, 3), [5, 0, 0, -1], None),
    ((2, 3), [[1, 1], [0, 2]], 1),
    ((3, 4), [2, 2, 2, -3], 0),
    ((2, 3, 4), [3, 0, 3], -1),
    ((2, 3, 4), 1, 1),
    ((2, 3, 4), np.array(-2), -2),
])
def test_take(shape, indices, axis):
    x = _r(shape)
    np.testing.assert_array_equal(cnp.take(x, indices, axis=axis), np.take(x, indices, axis=axis))
    check_grads(lambda v: cnp.take(v, indices, axis=axis) ** 2, (x,), order=2)
    val, tan = cr.jvp(lambda v: cnp.take(v, indices, axis=axis), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(val, np.take(x, indices, axis=axis))


def test_take_repeated_indices_accumulate():
    x = np.array([1.0, 2.0, 3.0])
    g = cr.grad(lambda v: cnp.sum(cnp.take(v, [2, 0, 2, 2])))(x)
    np.testing.assert_array_equal(g, [1.0, 0.0, 3.0])
    t = cr.tensor(x, requires_grad=True)
    cnp.sum(cnp.take(t, np.array([1, 1])) * 2.0).backward()
    np.testing.assert_array_equal(np.asarray(t.grad), [0.0, 4.0, 0.0])


# -- take_along_axis --------------------------------------------------------------

@pytest.mark.parametrize("shape, ind_shape, axis", [
    ((5,), (7,), 0),
    ((3, 4), (3, 6), 1),
    ((3, 4), (5, 4), 0),
    ((3, 4), (3, 1), -1),
    ((3, 4), (1, 4), -2),
    ((2, 3, 4), (2, 5, 4), 1),
    ((2, 3, 4), (2, 3, 2), -1),
    ((2, 1, 4), (2, 3, 2), 2),
    ((2, 3), (4,), None),
])
def test_take_along_axis(shape, ind_shape, axis):
    x = _r(shape)
    n = x.size if axis is None else shape[axis]
    ind = np.random.default_rng(1).integers(-n, n, ind_shape)
    np.testing.assert_array_equal(cnp.take_along_axis(x, ind, axis), np.take_along_axis(x, ind, axis))
    check_grads(lambda v: cnp.take_along_axis(v, ind, axis) ** 2, (x,), order=2)
    val, _ = cr.jvp(lambda v: cnp.take_along_axis(v, ind, axis), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(val, np.take_along_axis(x, ind, axis))


def test_take_along_axis_repeated_indices_accumulate():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ind = np.array([[0, 0, 0], [2, 1, 2]])
    g = cr.grad(lambda v: cnp.sum(cnp.take_along_axis(v, ind, axis=1)))(x)
    np.testing.assert_array_equal(g, [[3.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    t = cr.tensor(x, requires_grad=True)
    cnp.sum(cnp.take_along_axis(t, ind, 1) ** 2).backward()
    np.testing.assert_array_equal(np.asarray(t.grad), [[6.0, 0.0, 0.0], [0.0, 10.0, 24.0]])


# -- sort ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", [((5,), -1), ((5,), 0), ((3, 4), -1), ((3, 4), 0),
                                         ((2, 3, 4), 1), ((2, 3, 4), -3), ((2, 3), None)])
def test_sort(shape, axis):
    x = _distinct(shape)
    np.random.default_rng(3).shuffle(x.reshape(-1))
    np.testing.assert_array_equal(cnp.sort(x, axis=axis), np.sort(x, axis=axis))
    check_grads(lambda v: cnp.sort(v, axis=axis) ** 2 * np.arange(1.0, np.sort(x, axis=axis).size + 1)
                .reshape(np.sort(x, axis=axis).shape), (x,), order=2)


def test_sort_tape_and_ties():
    t = cr.tensor(np.array([3.0, 1.0, 2.0]), requires_grad=True)
    s = cnp.sort(t)
    cnp.sum(s * np.array([1.0, 10.0, 100.0])).backward()
    np.testing.assert_array_equal(np.asarray(t.grad), [100.0, 1.0, 10.0])
    g = cr.grad(lambda v: cnp.sum(cnp.sort(v) * np.array([1.0, 2.0])))(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(np.sort(g), [1.0, 2.0])  # ties: some order, each value once


# -- pad -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, pad_width, cv", [
    ((3,), 2, 0), ((3,), (1, 2), 1.5), ((2, 3), ((1, 0), (2, 1)), 0), ((2, 3), ((0, 0), (0, 3)), -2.0),
    ((2, 3), (1,), 0), ((2, 3, 2), ((1, 1), (0, 2), (3, 0)), 0.5), ((2, 2), ((1, 1), (2, 0)), ((1.0, 2.0), (3.0, 4.0))),
])
def test_pad(shape, pad_width, cv):
    x = _r(shape)
    want = np.pad(x, pad_width, constant_values=cv)
    np.testing.assert_array_equal(cnp.pad(x, pad_width, constant_values=cv), want)
    f = lambda v: cnp.pad(v, pad_width, mode="constant", constant_values=cv) ** 2
    check_grads(f, (x,), order=2)
    val, _ = cr.jvp(lambda v: cnp.pad(v, pad_width, constant_values=cv), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(val, want)


def test_pad_traced_constant_value_and_tape():
    x = _r((2, 2))
    check_grads(lambda v, c: cnp.pad(v, 1, constant_values=c) ** 2, (x, 0.7), order=2)
    t = cr.tensor(x, requires_grad=True)
    cnp.sum(cnp.pad(t, ((1, 0), (0, 2)), constant_values=5.0) * 3.0).backward()
    np.testing.assert_array_equal(np.asarray(t.grad), np.full((2, 2), 3.0))


def test_pad_other_modes():
    x = _r((4,))
    np.testing.assert_array_equal(cnp.pad(x, 1, mode="edge"), np.pad(x, 1, mode="edge"))
    with pytest.raises(NotImplementedError, match="pad.*'empty'"):
        cr.grad(lambda v: cnp.sum(cnp.pad(v, 1, mode="empty")))(x)


# -- no derivative ----------------------------------------------------------------------

@pytest.mark.parametrize("name, kwargs", [("argmax", {}), ("argmax", {"axis": 1}),
                                          ("argmax", {"axis": -1, "keepdims": True}),
                                          ("argmin", {}), ("argmin", {"axis": 0}),
                                          ("argsort", {}), ("argsort", {"axis": 0}),
                                          ("argsort", {"axis": None})])
def test_arg_functions_are_plain_integers(name, kwargs):
    x = _distinct((3, 4))
    want = getattr(np, name)(x, **kwargs)
    np.testing.assert_array_equal(getattr(cnp, name)(x, **kwargs), want)
    seen = []

    def f(v):
        out = getattr(cnp, name)(v, **kwargs)
        seen.append(out)
        return cnp.sum(v * v)

    cr.grad(f)(x)
    cr.jvp(f, (x,), (np.ones_like(x),))
    out = getattr(cnp, name)(cr.tensor(x, requires_grad=True), **kwargs)
    for o in seen + [out]:
        assert isinstance(o, (np.ndarray, np.integer)) and np.asarray(o).dtype.kind == "i"
        np.testing.assert_array_equal(o, want)


def test_plain_inputs_are_numpy():
    x = _r((3, 3))
    assert type(cnp.take(x, [0, 1])) is np.ndarray
    assert type(cnp.sort(x)) is np.ndarray
    assert type(cnp.pad(x, 1)) is np.ndarray


def _grad_of(f, x):
    return cr.grad(lambda v: cnp.sum(f(v)))(x)


def test_errors_name_the_function():
    x = _r((2, 3))
    with pytest.raises(ValueError, match="take.*axis 2"):
        _grad_of(lambda v: cnp.take(v, [0], axis=2), x)
    with pytest.raises(IndexError, match="take.*index 3.*size 3"):
        _grad_of(lambda v: cnp.take(v, [0, 3], axis=1), x)
    with pytest.raises(TypeError, match="take.*integers"):
        _grad_of(lambda v: cnp.take(v, [0.5]), x)
    with pytest.raises(ValueError, match="take_along_axis.*same number of dimensions"):
        _grad_of(lambda v: cnp.take_along_axis(v, np.array([0, 1]), 1), x)
    with pytest.raises(ValueError, match="take_along_axis.*axis -3"):
        _grad_of(lambda v: cnp.take_along_axis(v, np.zeros((2, 1), int), -3), x)
    with pytest.raises(ValueError, match="take_along_axis.*broadcast"):
        _grad_of(lambda v: cnp.take_along_axis(v, np.zeros((3, 1), int), 1), x)
    with pytest.raises(IndexError, match="take_along_axis.*index -4"):
        _grad_of(lambda v: cnp.take_along_axis(v, np.full((2, 1), -4), 1), x)
    with pytest.raises(ValueError, match="sort.*axis 2"):
        _grad_of(lambda v: cnp.sort(v, axis=2), x)
    with pytest.raises(ValueError, match="pad.*pad_width"):
        _grad_of(lambda v: cnp.pad(v, ((1, 1), (1, 1), (1, 1))), x)
    with pytest.raises(ValueError, match="pad.*non-negative"):
        _grad_of(lambda v: cnp.pad(v, -1), x)
