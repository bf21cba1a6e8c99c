"""NumPy's surface, completed: forms that used to raise (einsum diagonals, matrix 2-norms
through the SVD, Fortran order, every pad mode, traced linspace), and the messages a
user sees for wrong inputs and shape mismatches.

Each feature is checked against NumPy's values, against central differences
(``check_grads``, both modes, order 2), and ``vmap`` against a loop; against JAX where
JAX defines the derivative.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

RNG = np.random.default_rng(0)


def _vmap_matches_loop(f, xs):
    np.testing.assert_allclose(cr.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-12, atol=1e-12)


# -- messages: what the user passed -------------------------------------------------------------

@pytest.mark.parametrize("value,said", [
    ("abc", r"argument 0 is a Python str, 'abc', not a number"),
    (["a", "b"], r"argument 0\[0\] is a Python str, 'a', not a number"),
    (object(), r"argument 0 is a Python object, <object"),
    (np.array(["x"]), r"argument 0 has dtype <U1 \(a numpy.ndarray\)"),
    (3, r"argument 0 has dtype int64 \(a Python int, 3\)"),
    (1 + 2j, r"argument 0 has complex dtype complex128 \(a Python complex, \(1\+2j\)\)"),
])
def test_a_non_float_input_is_named_by_its_python_type(value, said):
    with pytest.raises(TypeError, match=said) as info:
        cr.grad(lambda x: x)(value)
    assert "float" in str(info.value)  # and says what is accepted
