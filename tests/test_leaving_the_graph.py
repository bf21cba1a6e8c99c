"""Values that would leave a derivative behind are refused, never silently wrong (issue 16, items 1, 2, 5).

The oracle is the peers' behaviour: JAX raises for ``float()`` of a value under ``grad``,
for complex constants in ``grad`` of a real function it follows the complex convention
(chainrule refuses instead), and ``jnp.asarray`` refuses masked arrays.  Where the
conversion is legitimate (the tape, ``stop_gradient``, integer values) the result is
checked against the closed form.
"""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


# -- 1. Python numbers from a value being differentiated ----------------------------------------

@pytest.mark.parametrize("f", [
    math.sin,
    lambda x: float(x) * x,
    lambda x: x.item() * x,
    lambda x: int(x) * x,
    lambda x: complex(x).real * x,
    lambda x: cnp.asarray(x.tolist()) * x,
], ids=["math.sin", "float", "item", "int", "complex", "tolist"])
@pytest.mark.parametrize("transform", ["grad", "jvp", "hessian", "jet"])
def test_python_number_of_a_differentiated_value_raises(f, transform):
    with pytest.raises(TypeError, match=r"of a value being differentiated at test_leaving_the_graph.py:\d+"):
        if transform == "grad":
            cr.grad(f)(3.0)
        elif transform == "jvp":
            cr.jvp(f, (3.0,), (1.0,))
        elif transform == "hessian":
            cr.hessian(f)(3.0)
        else:
            cr.jet(f, (3.0,), ((1.0, 0.0),))


def test_jax_refuses_the_same_conversion():
    jax = pytest.importorskip("jax")
    with pytest.raises(Exception, match="(?i)concret|tracer"):
        jax.grad(lambda x: float(x) * x)(3.0)


def test_legitimate_conversions_still_work():
    # stop_gradient first: the number carries no derivative, by request (d/dx of 3 x at 3 is 3)
    assert cr.grad(lambda x: x * float(cr.stop_gradient(x)))(3.0) == 3.0
    # integer values carry no derivative: int() of an int-dtype value is fine
    assert cr.grad(lambda x: x * int(cnp.sum(cnp.asarray([1, 2]))))(3.0) == 3.0
    # bool() (a branch on a comparison) is allowed under grad, as in JAX
    assert cr.grad(lambda x: x ** 2 if x > 0 else -x)(3.0) == 6.0
    # the tape and forward_ad convert as torch does (the user holds the Tensor and its graph)
    t = cr.tensor(2.5, requires_grad=True)
    assert float(t) == 2.5 and t.item() == 2.5
    with cr.forward_ad.dual_level():
        d = cr.forward_ad.make_dual(cr.tensor(1.5), cr.tensor(1.0))
        assert float(d) == 1.5


# -- 2. complex numbers entering a real function ------------------------------------------------

@pytest.mark.parametrize("f", [
    lambda v: cnp.abs(v * 1j),
    lambda v: cnp.abs(v * np.array([1 + 1j])),
    lambda v: cnp.abs(v.astype(complex) * 2),
    lambda v: cnp.abs(v.astype(np.complex64)),
], ids=["1j", "array", "astype complex", "astype complex64"])
def test_complex_in_differentiated_code_raises(f):
    with pytest.raises(TypeError, match="complex differentiation is not supported"):
        cr.grad(f)(1.0)
    with pytest.raises(TypeError, match="complex differentiation is not supported"):
        cr.jvp(f, (1.0,), (1.0,))
    with pytest.raises(TypeError, match="complex differentiation is not supported"):
        f(cr.tensor(1.0, requires_grad=True))


def test_complex_outside_differentiation_is_numpy():
    assert cnp.abs(np.array(1.0) * 1j) == 1.0
    with pytest.raises(TypeError, match="complex"):     # complex Tensors are not supported, as cr.tensor(1j)
        cr.tensor(1.0) * 1j
    # casts to real dtypes keep their derivative (float32) or drop it as JAX does (integers)
    assert cr.grad(lambda v: cnp.sum(v.astype(np.float32)))(1.0) == 1.0


# -- 5. masked arrays ---------------------------------------------------------------------------

def test_masked_arrays_are_refused():
    ma = np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    with pytest.raises(TypeError, match=r"value_and_grad\(sum\): argument 0: masked arrays are not supported"):
        cr.value_and_grad(cnp.sum)(ma)
    with pytest.raises(TypeError, match="jvp primal 0: masked arrays"):
        cr.jvp(cnp.sum, (ma,), (np.ones(3),))
    with pytest.raises(TypeError, match="tensor: masked arrays"):
        cr.tensor(ma)
    with pytest.raises(TypeError, match="multiply: a masked array meets a value being differentiated"):
        cr.grad(lambda x: cnp.sum(x * ma))(np.ones(3))
    # the ways out the message names give the right numbers
    v, g = cr.value_and_grad(cnp.sum)(ma.filled(0.0))
    assert v == 4.0 and np.array_equal(g, [1.0, 1.0, 1.0])
    w = (~ma.mask).astype(float)
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(x * w))(np.ones(3)), [1.0, 0.0, 1.0])


def test_jax_refuses_masked_arrays():
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(Exception, match="(?i)masked"):
        jnp.asarray(np.ma.array([1.0, 2.0], mask=[0, 1]))
