"""Bad input gets an error that says what went wrong and what to do (API.md sections 1-3)."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

# -- integer, bool and complex inputs -----------------------------------------------------------


@pytest.mark.parametrize("value,dtype", [
    (3, "int64"),
    (np.array([1, 2]), "int64"),
    (np.int32(4), "int32"),
    (True, "bool"),
    (np.array([True, False]), "bool"),
])
def test_grad_of_an_integer_or_bool_argument_names_it_and_its_dtype(value, dtype):
    with pytest.raises(TypeError, match=rf"argument 1\b.*{dtype}"):
        cr.grad(lambda x, y: cnp.sum(x * y), argnums=1)(2.0, value)
    with pytest.raises(TypeError, match=dtype):
        cr.vjp(lambda y: y * 2.0, value)
    with pytest.raises(TypeError, match=dtype):
        cr.jvp(lambda y: y * 2.0, (value,), (np.ones(np.shape(value)),))


def test_integer_leaf_of_a_pytree_argument_is_named():
    with pytest.raises(TypeError, match=r"argument 0.*int64"):
        cr.grad(lambda p: p["a"] * 2.0)({"a": 1, "b": 2.0})


def test_integer_argument_outside_argnums_is_fine():
    assert cr.grad(lambda x, n: x ** n)(2.0, 3) == 12.0


@pytest.mark.parametrize("value", [1.0 + 2.0j, np.array([1.0 + 0.0j]), np.complex64(1.0)])
def test_complex_input_is_a_type_error(value):
    with pytest.raises(TypeError, match="complex"):
        cr.grad(lambda x: cnp.sum(x * 2.0))(value)
    with pytest.raises(TypeError, match="complex"):
        cr.vjp(lambda x: x * 2.0, value)
    with pytest.raises(TypeError, match="complex"):
        cr.jvp(lambda x: x * 2.0, (value,), (value,))
    with pytest.raises(TypeError, match="complex"):
        cr.tensor(value)


# -- grad of a non-scalar -----------------------------------------------------------------------

@pytest.mark.parametrize("f", [
    lambda x: x * 2.0,
    lambda x: (cnp.sum(x), cnp.sum(x)),
    lambda x: {"loss": cnp.sum(x), "other": x},
], ids=["array", "tuple", "dict"])
def test_grad_of_a_non_scalar_says_to_use_vjp_or_jacobian(f):
    with pytest.raises(ValueError, match=r"(?s)scalar.*vjp.*jacobian"):
        cr.grad(f)(np.ones(3))
    with pytest.raises(ValueError, match="vjp"):
        cr.value_and_grad(f)(np.ones(3))


# -- shape mismatches in traced operations --------------------------------------------------------

SHAPE_ERRORS = [
    ("add", lambda x, y: x + y, (3,), (4,)),
    ("subtract", cnp.subtract, (3, 2), (3,)),
    ("multiply", lambda x, y: x * y, (2, 3), (3, 2)),
    ("divide", cnp.divide, (3,), (4,)),
    ("power", cnp.power, (3,), (2,)),
    ("maximum", cnp.maximum, (3,), (4,)),
    ("matmul", lambda x, y: x @ y, (2, 3), (4, 5)),
    ("matmul", cnp.matmul, (3,), (4,)),
]


def _shape_text(shape):
    # "(3,)" or "(2, 3)" -- NumPy writes "(2,3)" in some messages
    return r"\(" + r",\s?".join(str(d) for d in shape) + (r",?" if len(shape) == 1 else "") + r"\)"


@pytest.mark.parametrize("op,f,xshape,yshape", SHAPE_ERRORS, ids=[f"{c[0]}{c[2]}{c[3]}" for c in SHAPE_ERRORS])
@pytest.mark.parametrize("mode", ["grad", "jvp", "tape"])
def test_shape_mismatch_names_the_operation_and_both_shapes(op, f, xshape, yshape, mode):
    x, y = np.ones(xshape), np.ones(yshape)
    pattern = rf"(?s)(?=.*{op})(?=.*{_shape_text(xshape)})(?=.*{_shape_text(yshape)})"
    with pytest.raises(ValueError, match=pattern):
        if mode == "grad":
            cr.grad(lambda x: cnp.sum(f(x, y)))(x)
        elif mode == "jvp":
            cr.jvp(lambda x: f(x, y), (x,), (x,))
        else:
            f(cr.tensor(x, requires_grad=True), cr.tensor(y))


def test_reshape_to_a_wrong_size_names_both_shapes():
    with pytest.raises(ValueError, match=r"(?s)reshape.*\(3,\).*\(4,\)"):
        cr.grad(lambda x: cnp.sum(cnp.reshape(x, (4,))))(np.ones(3))


def test_broadcast_to_an_impossible_shape_names_the_operation():
    with pytest.raises(ValueError, match=r"(?s)broadcast_to.*\(3,\).*\(4,\)"):
        cr.grad(lambda x: cnp.sum(cnp.broadcast_to(x, (4,))))(np.ones(3))


def test_reduction_over_a_missing_axis_is_an_axis_error():
    with pytest.raises(np.exceptions.AxisError, match=r"sum.*axis 2"):
        cr.grad(lambda x: cnp.sum(cnp.sum(x, axis=2)))(np.ones((3, 2)))


# -- the tape -----------------------------------------------------------------------------------

def test_backward_of_a_non_scalar_without_grad_says_to_pass_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?s)scalar.*grad"):
        (x * 2).backward()


def test_backward_with_a_grad_of_the_wrong_shape():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(3))


@pytest.mark.parametrize("data", [[1, 2], 3, np.arange(3), [True, False]])
def test_tensor_of_integer_or_bool_data_cannot_require_grad(data):
    with pytest.raises(TypeError, match=r"(int|bool)"):
        cr.tensor(data, requires_grad=True)
    t = cr.tensor(data)  # without requires_grad it is fine
    with pytest.raises(TypeError):
        t.requires_grad_()


def test_numpy_conversion_of_a_tensor_that_requires_grad_is_refused():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="detach"):
        np.asarray(x * 2)


def test_autograd_grad_of_a_tensor_without_graph():
    x = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError):
        cr.autograd.grad(cr.tensor(2.0), x)


# -- vjp / jvp shapes -------------------------------------------------------------------------

def test_vjp_cotangent_of_the_wrong_shape():
    _, f_vjp = cr.vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        f_vjp(np.ones(4))
    with pytest.raises(ValueError):
        f_vjp(1.0)  # a scalar does not broadcast silently


def test_vjp_cotangent_of_the_wrong_structure():
    _, f_vjp = cr.vjp(lambda x: (x, x * 2.0), np.ones(3))
    with pytest.raises(ValueError, match="structure"):
        f_vjp(np.ones(3))


def test_jvp_tangent_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        cr.jvp(lambda x: x * 2.0, (np.ones(3),), (np.ones(4),))


def test_jvp_tangents_of_the_wrong_structure():
    with pytest.raises(ValueError, match="structure"):
        cr.jvp(lambda x, y: x * y, (np.ones(3), 1.0), (np.ones(3),))


def test_jvp_needs_tuples():
    with pytest.raises(TypeError, match="tuple"):
        cr.jvp(lambda x: x * 2.0, np.ones(3), np.ones(3))


def test_has_aux_needs_a_pair():
    with pytest.raises(ValueError, match="aux"):
        cr.grad(lambda x: x * 2.0, has_aux=True)(1.0)


@pytest.mark.parametrize("axes", [(1, 0, 2), (0, 0), (0, 5)])
def test_transpose_with_bad_axes_quotes_the_axes_given(axes):
    with pytest.raises(ValueError, match=r"transpose: axes \(" + ", ".join(map(str, axes)) + r"\) are not a permutation"):
        cr.grad(lambda x: cnp.sum(cnp.transpose(x, axes)))(np.ones((2, 3)))


def test_transpose_with_negative_axes_works_under_grad():
    g = cr.grad(lambda x: cnp.sum(cnp.transpose(x, (-1, 0)) * np.arange(6.0).reshape(3, 2)))(np.ones((2, 3)))
    np.testing.assert_array_equal(g, np.arange(6.0).reshape(3, 2).T)


def test_a_failing_solver_call_quotes_plain_settings_not_functions_or_arrays():
    with pytest.raises(ValueError) as info:
        cr.grad(lambda p: cnp.sum(cr.root(lambda x, p: x @ p, np.ones(2), p)))(np.ones(3))
    msg = str(info.value)
    assert msg.startswith("root: ") and "operands: (3,) float64" in msg
    assert "<function" not in msg and "array(" not in msg and "solver='newton'" in msg


def _writes_in_place(x):
    y = x * 2
    y[1:, 0] = 1.0
    return cnp.sum(y)


@pytest.mark.parametrize("transform", [
    lambda f, x: cr.grad(f)(x),
    lambda f, x: cr.jvp(f, (x,), (x,)),
    lambda f, x: cr.vmap(lambda r: f(r[None]))(x),
], ids=["grad", "jvp", "vmap"])
def test_assigning_into_a_transformed_value_points_to_cnp_at(transform):
    with pytest.raises(TypeError, match=r"x\[1:, 0\] = v: .*cnp\.at\(x\)\[1:, 0\]\.set\(v\)"):
        transform(_writes_in_place, np.ones((3, 3)))
    # and the suggested rewrite works: its gradient is 2 off the overwritten entries
    g = cr.grad(lambda x: cnp.sum(cnp.at(x * 2)[1:, 0].set(1.0)))(np.ones((3, 3)))
    np.testing.assert_array_equal(g, [[2, 2, 2], [0, 2, 2], [0, 2, 2]])
