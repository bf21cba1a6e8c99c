"""The functional transforms: ``cr.grad``, ``value_and_grad``, ``vjp``, ``jvp`` (API.md section 2).

The oracle for every number is a hand-derived formula or the other mode.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def f3(x, y, z):
    return x * y ** 2 + cnp.sin(z)


# -- argnums ---------------------------------------------------------------------------------

def test_argnums_default_is_the_first_argument():
    assert cr.grad(f3)(2.0, 3.0, 0.5) == 9.0


@pytest.mark.parametrize("argnums,expected", [
    (0, 9.0),
    (1, 12.0),
    (2, np.cos(0.5)),
    (-1, np.cos(0.5)),
    (-3, 9.0),
])
def test_argnums_int(argnums, expected):
    g = cr.grad(f3, argnums=argnums)(2.0, 3.0, 0.5)
    assert not isinstance(g, tuple)
    np.testing.assert_allclose(g, expected, rtol=1e-15)


@pytest.mark.parametrize("argnums,expected", [
    ((0, 1), (9.0, 12.0)),
    ((2, 0), (np.cos(0.5), 9.0)),
    ((1,), (12.0,)),
    ((0, -2, -1), (9.0, 12.0, np.cos(0.5))),
])
def test_argnums_tuple_gives_a_tuple(argnums, expected):
    g = cr.grad(f3, argnums=argnums)(2.0, 3.0, 0.5)
    assert isinstance(g, tuple) and len(g) == len(expected)
    np.testing.assert_allclose(g, expected, rtol=1e-15)
    v, g2 = cr.value_and_grad(f3, argnums=argnums)(2.0, 3.0, 0.5)
    np.testing.assert_allclose(v, 18.0 + np.sin(0.5))
    np.testing.assert_allclose(g2, expected, rtol=1e-15)


def test_argnums_out_of_range_is_an_error():
    with pytest.raises((ValueError, IndexError, TypeError)):
        cr.grad(f3, argnums=3)(2.0, 3.0, 0.5)


def test_non_differentiated_arguments_may_be_anything():
    def f(x, n, name, table):
        assert isinstance(n, int) and name == "label" and table["k"] == [1, 2]
        return x ** n

    assert cr.grad(f)(2.0, 3, "label", {"k": [1, 2]}) == 12.0


# -- has_aux ---------------------------------------------------------------------------------

def _with_aux(x):
    y = cnp.sum(x ** 2)
    return y, {"y": y, "x2": x * 2, "note": "text"}


def test_grad_has_aux():
    x = np.array([1.0, 2.0])
    g, aux = cr.grad(_with_aux, has_aux=True)(x)
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert aux["note"] == "text" and aux["y"] == 5.0
    np.testing.assert_array_equal(aux["x2"], [2.0, 4.0])
    assert type(aux["x2"]) is np.ndarray  # no tracers escape


def test_value_and_grad_has_aux():
    x = np.array([1.0, 2.0])
    (v, aux), g = cr.value_and_grad(_with_aux, has_aux=True)(x)
    assert v == 5.0 and aux["y"] == 5.0
    np.testing.assert_array_equal(g, [2.0, 4.0])


def test_vjp_has_aux():
    x = np.array([1.0, 2.0])
    out, f_vjp, aux = cr.vjp(lambda x: (x ** 3, cnp.sum(x)), x, has_aux=True)
    np.testing.assert_array_equal(out, [1.0, 8.0])
    assert aux == 3.0
    (ct,) = f_vjp(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(ct, [3.0, -12.0])


def test_value_and_grad_without_aux():
    v, g = cr.value_and_grad(lambda x: cnp.sum(cnp.exp(x)))(np.array([0.0, 1.0]))
    np.testing.assert_allclose(v, 1.0 + np.e)
    np.testing.assert_allclose(g, [1.0, np.e])


# -- pytrees -----------------------------------------------------------------------------------

def _loss(params, x):
    h = cnp.tanh(x @ params["W"] + params["b"])
    return cnp.sum(h * params["scale"][0]) + params["scale"][1][0] ** 2


def _params():
    rng = np.random.default_rng(0)
    return {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2),
            "scale": (1.5, [0.5])}


def test_grad_of_a_dict_of_params_has_the_same_structure():
    p, x = _params(), np.array([[0.1, 0.2, 0.3], [-0.5, 0.4, 0.0]])
    g = cr.grad(_loss)(p, x)
    assert type(g) is dict and set(g) == {"W", "b", "scale"}
    assert type(g["scale"]) is tuple and type(g["scale"][1]) is list
    assert g["W"].shape == (3, 2) and g["b"].shape == (2,)
    # hand formula
    h = np.tanh(x @ p["W"] + p["b"])
    dpre = 1.5 * (1 - h ** 2)
    np.testing.assert_allclose(g["W"], x.T @ dpre)
    np.testing.assert_allclose(g["b"], dpre.sum(0))
    np.testing.assert_allclose(g["scale"][0], h.sum())
    np.testing.assert_allclose(g["scale"][1][0], 1.0)


def test_pytree_gradient_matches_forward_mode():
    p, x = _params(), np.array([[0.1, 0.2, 0.3], [-0.5, 0.4, 0.0]])
    g = cr.grad(_loss)(p, x)
    rng = np.random.default_rng(1)
    t = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2), "scale": (0.3, [-0.7])}
    _, dir_deriv = cr.jvp(lambda p: _loss(p, x), (p,), (t,))
    inner = (np.sum(g["W"] * t["W"]) + np.sum(g["b"] * t["b"]) + g["scale"][0] * t["scale"][0]
             + g["scale"][1][0] * t["scale"][1][0])
    np.testing.assert_allclose(dir_deriv, inner, rtol=1e-12)


def test_pytree_outputs_of_vjp_and_jvp():
    def f(a, bc):
        b, c = bc
        return {"sum": a + b, "pair": (a * c, [c ** 2])}

    a, bc = np.array([1.0, 2.0]), (np.array([3.0, 4.0]), 5.0)
    out, f_vjp = cr.vjp(f, a, bc)
    assert set(out) == {"sum", "pair"} and type(out["pair"]) is tuple and type(out["pair"][1]) is list
    ct = {"sum": np.array([1.0, 1.0]), "pair": (np.array([1.0, 2.0]), [1.0])}
    ga, gbc = f_vjp(ct)
    np.testing.assert_array_equal(ga, [1.0 + 5.0, 1.0 + 10.0])
    assert type(gbc) is tuple
    np.testing.assert_array_equal(gbc[0], [1.0, 1.0])
    np.testing.assert_allclose(gbc[1], 1.0 * 1 + 2.0 * 2 + 10.0)  # a . ct_pair0 + 2c
    out2, tout = cr.jvp(f, (a, bc), (np.array([1.0, 0.0]), (np.array([0.0, 1.0]), 1.0)))
    np.testing.assert_array_equal(tout["sum"], [1.0, 1.0])
    np.testing.assert_array_equal(tout["pair"][0], [5.0 + 1.0, 2.0])
    np.testing.assert_allclose(tout["pair"][1][0], 10.0)


def test_namedtuple_and_nested_inputs():
    Point = namedtuple("Point", "x y")
    g = cr.grad(lambda p: p.x * p.y[0] + p.y[1])(Point(2.0, [3.0, 4.0]))
    assert type(g) is Point and g.x == 3.0 and g.y == [2.0, 1.0]


def test_none_in_a_pytree_is_kept():
    g = cr.grad(lambda p: p["a"] ** 2)({"a": 3.0, "b": None})
    assert g == {"a": 6.0, "b": None}


# -- kwargs, unused inputs, Python floats ----------------------------------------------------

def test_kwargs_are_passed_through():
    def f(x, *, scale=1.0, power=2):
        return scale * x ** power

    assert cr.grad(f)(2.0, scale=5.0, power=3) == 60.0
    assert cr.value_and_grad(f)(2.0, scale=0.5) == (2.0, 2.0)


@pytest.mark.parametrize("shape", [(), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unused_input_gives_zeros_of_its_shape_and_dtype(shape, dtype):
    y = np.ones(shape, dtype)
    g = cr.grad(lambda x, y: x * 2.0, argnums=1)(1.0, y)
    assert np.shape(g) == shape and g.dtype == dtype and not np.any(g)
    (_, gy) = cr.vjp(lambda x, y: x * 2.0, 1.0, y)[1](1.0)
    assert np.shape(gy) == shape and gy.dtype == dtype and not np.any(gy)


def test_input_used_only_through_a_comparison_has_zero_gradient():
    g = cr.grad(lambda x: cnp.sum(cnp.where(x > 0, 1.0, -1.0)))(np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_constant_function():
    assert cr.grad(lambda x: 3.0)(1.0) == 0.0
    assert cr.jvp(lambda x: 3.0, (1.0,), (1.0,))[1] == 0.0


def test_python_float_input():
    g = cr.grad(lambda x: x ** 3)(2.0)
    assert g == 12.0 and np.asarray(g).dtype == np.float64 and np.ndim(g) == 0
    out, t = cr.jvp(lambda x: x ** 3, (2.0,), (1.0,))
    assert (out, t) == (8.0, 12.0)
    out, f_vjp = cr.vjp(lambda x: x ** 3, 2.0)
    assert out == 8.0 and f_vjp(1.0) == (12.0,)


def test_python_int_cotangent_and_tangent_values_are_accepted_for_float_outputs():
    _, f_vjp = cr.vjp(lambda x: x * 3.0, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(f_vjp(np.array([1, 2]))[0], [3.0, 6.0])


def test_size_one_output_is_a_scalar_for_grad():
    g = cr.grad(lambda x: x[None] * 2.0)(np.array([3.0]))
    np.testing.assert_array_equal(g, [2.0])


# -- vjp -----------------------------------------------------------------------------------------

def test_vjp_fn_can_be_called_twice():
    x = np.array([1.0, 2.0])
    out, f_vjp = cr.vjp(lambda x: cnp.sin(x) * x, x)
    d = np.cos(x) * x + np.sin(x)
    (a,) = f_vjp(np.array([1.0, 1.0]))
    (b,) = f_vjp(np.array([2.0, 0.0]))
    np.testing.assert_allclose(a, d)
    np.testing.assert_allclose(b, [2 * d[0], 0.0])
    (c,) = f_vjp(np.array([1.0, 1.0]))
    np.testing.assert_allclose(c, d)


def test_vjp_of_several_primals_returns_one_cotangent_each():
    out, f_vjp = cr.vjp(lambda x, y: x @ y, np.ones((2, 3)), np.arange(3.0))
    gx, gy = f_vjp(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(gx, np.outer([1.0, 2.0], np.arange(3.0)))
    np.testing.assert_array_equal(gy, [3.0, 3.0, 3.0])


def test_vjp_matches_jvp_inner_product():
    rng = np.random.default_rng(2)
    A, x = rng.standard_normal((4, 3)), rng.standard_normal(3)
    f = lambda x: cnp.tanh(A @ x) ** 2  # noqa: E731
    u, v = rng.standard_normal(4), rng.standard_normal(3)
    (vjp_u,) = cr.vjp(f, x)[1](u)
    jvp_v = cr.jvp(f, (x,), (v,))[1]
    np.testing.assert_allclose(np.dot(vjp_u, v), np.dot(u, jvp_v), rtol=1e-12)


# -- jvp ----------------------------------------------------------------------------------------

def test_jvp_of_several_arguments_is_the_sum_of_partials():
    out, t = cr.jvp(f3, (2.0, 3.0, 0.5), (1.0, 10.0, 100.0))
    np.testing.assert_allclose(out, 18.0 + np.sin(0.5))
    np.testing.assert_allclose(t, 9.0 + 10 * 12.0 + 100 * np.cos(0.5))


def test_jvp_accepts_lists():
    out, t = cr.jvp(lambda x: x * x, [3.0], [1.0])
    assert (out, t) == (9.0, 6.0)


def test_jvp_output_that_does_not_depend_on_the_input_has_zero_tangent():
    out, t = cr.jvp(lambda x: (x * 2.0, np.ones(3)), (1.0,), (1.0,))
    assert t[0] == 2.0
    np.testing.assert_array_equal(t[1], np.zeros(3))


# -- float32 --------------------------------------------------------------------------------

def test_float32_input_keeps_float32_gradient():
    x = np.array([1.0, 2.0], np.float32)
    g = cr.grad(lambda x: cnp.sum(x * 2.0 + cnp.exp(x)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2.0 + np.exp(x), rtol=1e-6)
    assert cr.grad(lambda x: x * x)(np.float32(3.0)).dtype == np.float32


def test_float32_input_with_float64_constant_gives_float32_gradient():
    # the computation promotes to float64; the gradient is cast back to the input's dtype
    x = np.array([1.0, 2.0], np.float32)
    g = cr.grad(lambda x: cnp.sum(x * np.array([1.0, 3.0])))(x)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, [1.0, 3.0])


def test_float32_jvp_and_vjp():
    x = np.array([1.0, 2.0], np.float32)
    out, t = cr.jvp(lambda x: x ** 2, (x,), (np.ones(2, np.float32),))
    assert out.dtype == np.float32 and t.dtype == np.float32
    out, f_vjp = cr.vjp(lambda x: x ** 2, x)
    (ct,) = f_vjp(np.ones(2, np.float32))
    assert ct.dtype == np.float32
    np.testing.assert_array_equal(ct, [2.0, 4.0])


def test_mixed_float32_and_float64_arguments_keep_their_own_dtypes():
    gx, gy = cr.grad(lambda x, y: cnp.sum(x * y), argnums=(0, 1))(np.ones(2, np.float32), np.ones(2))
    assert gx.dtype == np.float32 and gy.dtype == np.float64


# -- Tensors as inputs to transforms ------------------------------------------------------------

def test_tensor_input_gives_tensor_gradient():
    x = cr.tensor([1.0, 2.0])
    g = cr.grad(lambda x: cnp.sum(x ** 3))(x)
    assert isinstance(g, cr.Tensor)
    np.testing.assert_array_equal(g.numpy(), [3.0, 12.0])


def test_transforms_leave_the_function_metadata():
    def my_function(x):
        """Docs."""
        return x

    assert cr.grad(my_function).__name__ == "my_function"
    assert cr.value_and_grad(my_function).__doc__ == "Docs."
