"""Functional updates ``cnp.at(x)[idx].set(v)`` / ``.add(v)``: values against NumPy,
derivatives in ``x`` and ``v`` against finite differences in both modes to order 2."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

COVERED = {"at"}

INDICES = {
    "int": 1,
    "slice": slice(0, 3, 2),
    "tuple": (1, slice(None)),
    "int array": np.array([0, 2]),
    "repeated": np.array([1, 1, 0]),
    "mask": np.array([True, False, True, False]),
}


def _x():
    return np.arange(8.0).reshape(4, 2) / 3.0 - 1.0


@pytest.mark.parametrize("name", list(INDICES))
def test_set_and_add_match_numpy(name):
    idx = INDICES[name]
    x = _x()
    shape = x[idx].shape
    v = np.random.default_rng(0).standard_normal(shape)
    expected_set = x.copy()
    expected_set[idx] = v
    expected_add = x.copy()
    np.add.at(expected_add, idx, v)
    np.testing.assert_array_equal(cnp.at(x)[idx].set(v), expected_set)
    np.testing.assert_allclose(cnp.at(x)[idx].add(v), expected_add)
    np.testing.assert_array_equal(x, _x())  # functional: x untouched


@pytest.mark.parametrize("name", list(INDICES))  # repeated: only the kept write counts
def test_set_derivatives(name):
    idx = INDICES[name]
    x = _x()
    v = np.random.default_rng(1).standard_normal(x[idx].shape)
    check_grads(lambda x, v: cnp.at(x)[idx].set(v) ** 2, (x, v), order=2)


@pytest.mark.parametrize("name", list(INDICES))
def test_add_derivatives_accumulate_repeated_indices(name):
    idx = INDICES[name]
    x = _x()
    v = np.random.default_rng(2).standard_normal(x[idx].shape)
    check_grads(lambda x, v: cnp.at(x)[idx].add(v) ** 2, (x, v), order=2)
    if name == "repeated":  # d/dv sum(at(x)[idx].add(v)) = 1 per occurrence
        np.testing.assert_array_equal(cr.grad(lambda v: cnp.at(x)[idx].add(v).sum())(v), np.ones((3, 2)))


def test_a_scalar_value_broadcasts_and_its_gradient_sums():
    x = _x()
    g = cr.grad(lambda s: (cnp.at(x)[:, 0].set(s) ** 2).sum())(0.5)
    np.testing.assert_allclose(g, 2 * 0.5 * 4)


def test_an_unbroadcastable_value_names_at():
    with pytest.raises(ValueError, match="at: a value of shape"):
        cnp.at(_x())[0].set(np.ones(3))


def test_on_tape_tensors():
    x = cr.tensor(_x(), requires_grad=True)
    v = cr.tensor(2.0, requires_grad=True)
    y = cnp.at(x)[0].add(v)
    (y * y).sum().backward()
    expected_x = 2 * (_x() + np.array([[2.0, 2.0], [0, 0], [0, 0], [0, 0]]))
    np.testing.assert_allclose(x.grad.numpy(), expected_x)
    np.testing.assert_allclose(v.grad.item(), expected_x[0].sum())
