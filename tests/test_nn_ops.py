"""The ``log_softmax`` primitive (src/chainrule/_ops/nn.py), in the style of the ops tables.

Values against SciPy, derivatives to order 2 in both modes by ``check_grads`` over a
table of shapes and axes, the closed-form VJP, the vmap rule against the
element-by-element map, stability at +-1000 and float32.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.primitive import REGISTRY
from chainrule._ops.nn import log_softmax, log_softmax_p
from chainrule.testing import check_grads

#: shape, axis
TABLE = [((3,), -1), ((3,), 0), ((2, 3), -1), ((2, 3), 0), ((2, 3, 4), 1), ((1, 4), -1), ((4, 1), -1)]


def _x(shape, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def test_primitive_is_registered_once():
    assert REGISTRY["log_softmax"] is log_softmax_p
    assert log_softmax_p.batch is not None and log_softmax_p.uses_ans


@pytest.mark.parametrize("shape,axis", TABLE)
def test_values_match_scipy(shape, axis):
    x = _x(shape)
    np.testing.assert_allclose(log_softmax(x, axis), sc.log_softmax(x, axis=axis), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("shape,axis", TABLE)
def test_derivatives_order_2(shape, axis):
    check_grads(lambda v: log_softmax(v, axis), (_x(shape, 1),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("shape,axis", TABLE)
def test_vjp_closed_form(shape, axis):
    x, g = _x(shape, 2), _x(shape, 3)
    _, f_vjp = cr.vjp(lambda v: log_softmax(v, axis), x)
    p = sc.softmax(x, axis=axis)
    np.testing.assert_allclose(f_vjp(g)[0], g - p * g.sum(axis=axis, keepdims=True), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_vmap_rule_matches_the_map(axis):
    xs = _x((5, 3, 4), 4)
    batched = cr.vmap(lambda v: log_softmax(v, axis))(xs)
    np.testing.assert_allclose(batched, np.stack([log_softmax(v, axis) for v in xs]), rtol=1e-14)
    per_example = cr.vmap(cr.grad(lambda v: cnp.sum(log_softmax(v, axis) * np.arange(4.0))))(xs)
    loop = np.stack([cr.grad(lambda v: cnp.sum(log_softmax(v, axis) * np.arange(4.0)))(v) for v in xs])
    np.testing.assert_allclose(per_example, loop, rtol=1e-13, atol=1e-15)


def test_stable_at_large_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    out = log_softmax(x)
    np.testing.assert_allclose(out, [[0.0, -1000.0, -2000.0], [-np.log(3)] * 3], rtol=1e-15)
    g = cr.grad(lambda v: log_softmax(v)[0, 1] + log_softmax(v)[1, 0])(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[-1.0, 1.0, 0.0], [2 / 3, -1 / 3, -1 / 3]], atol=1e-15)


def test_row_of_minus_infinity_has_no_nan_from_the_shift():
    out = log_softmax(np.array([0.0, -np.inf]))
    np.testing.assert_array_equal(out, [0.0, -np.inf])


def test_float32_stays_float32():
    x = _x((3, 4), 5).astype(np.float32)
    assert log_softmax(x).dtype == np.float32
    g = cr.grad(lambda v: cnp.sum(log_softmax(v)[:, 0]))(x)
    assert g.dtype == np.float32


def test_tape_and_integer_input():
    x = cr.tensor(_x((2, 3), 6), requires_grad=True)
    y = log_softmax(x)
    assert y.grad_fn is log_softmax_p
    (y[:, 0]).sum().backward()
    p = sc.softmax(x.detach().numpy(), axis=-1)
    np.testing.assert_allclose(x.grad.numpy(), np.eye(3)[[0, 0]] - p, rtol=1e-13, atol=1e-15)
    assert log_softmax(np.array([1, 2])).dtype == np.float64


def test_errors_name_the_function():
    with pytest.raises(ValueError, match="log_softmax: the input is a scalar"):
        log_softmax(1.0)
    with pytest.raises(np.exceptions.AxisError, match="log_softmax: axis 2"):
        log_softmax(np.ones((2, 2)), axis=2)
