"""``cr.testing.check_grads`` itself: it passes on correct rules and catches wrong ones.

Wrong rules come from throw-away ``Primitive`` objects (not ``defprim``, which would
register a global name), bound directly with ``bind``.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule.numpy as cnp
from chainrule._core.primitive import Primitive, bind
from chainrule.testing import check_grads

X = np.array([0.3, -0.9, 1.4])


def _sin_prim(vjp_scale=1.0, jvp="elementwise", second_order_ok=True):
    """A ``sin`` primitive whose VJP is scaled by ``vjp_scale`` and whose JVP may be replaced."""
    def rule(ans, x):
        c = cnp.cos(x) if second_order_ok else _constant(cnp.cos(x))
        return lambda g: cnp.multiply(g, c * vjp_scale)

    return Primitive("test_sin", np.sin, [rule], jvp, None, False, False)


def _constant(x):
    # strip every level of tracing: the value is right, the derivative of it is lost
    while hasattr(x, "_value"):
        x = x._value
    return x


def _fn(p):
    return lambda x: bind(p, (x,), {})


def test_passes_on_a_correct_primitive():
    check_grads(_fn(_sin_prim()), (X,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("f,args", [
    (lambda x, y: cnp.sum(x * y, axis=0) / (1.0 + y[0] ** 2), (np.ones((2, 3)) * 0.5, np.arange(3.0))),
    (lambda p: {"out": cnp.tanh(p["w"] @ p["x"]), "aux": [p["w"][0]]},
     ({"w": np.eye(2) + 0.1, "x": np.array([0.5, -0.5])},)),
    (lambda x: x, (2.0,)),
    (lambda x: (x * 0.0, cnp.sum(x)), (np.ones(80),)),  # large input: inner-product VJP check
], ids=["broadcast", "pytrees", "identity", "large input"])
def test_passes_on_correct_functions(f, args):
    check_grads(f, args, order=2)


def test_passes_with_float32_inputs():
    check_grads(lambda x: cnp.exp(x) * x, (X.astype(np.float32),), order=2)


@pytest.mark.parametrize("modes", [("rev",), ("fwd",), ("fwd", "rev")])
def test_catches_a_wrong_vjp(modes):
    # the JVP is derived from the VJP ("elementwise"), so both modes see the factor 2
    with pytest.raises(AssertionError, match=r"mismatch.*index \(\d+,\)"):
        check_grads(_fn(_sin_prim(vjp_scale=2.0)), (X,), order=1, modes=modes)


def _wrong_jvp(primals, tangents, ans, params):
    (x,), (t,) = primals, tangents
    return cnp.multiply(t, cnp.sin(x))  # should be cos(x)


def test_catches_a_wrong_jvp_in_forward_mode_only():
    f = _fn(_sin_prim(jvp=_wrong_jvp))
    check_grads(f, (X,), order=1, modes=("rev",))  # the VJP is right
    with pytest.raises(AssertionError, match=r"fwd: jvp mismatch.*index \(\d+,\)"):
        check_grads(f, (X,), order=1, modes=("fwd",))


def test_catches_a_wrong_jvp_at_second_order_through_reverse_mode():
    # rev of fwd differentiates the (wrong) JVP rule in reverse mode
    with pytest.raises(AssertionError, match="mismatch"):
        check_grads(_fn(_sin_prim(jvp=_wrong_jvp)), (X,), order=2, modes=("fwd", "rev"))


def test_catches_a_rule_that_is_right_only_to_first_order():
    f = _fn(_sin_prim(second_order_ok=False))
    check_grads(f, (X,), order=1)
    with pytest.raises(AssertionError, match=r"of (fwd|rev).*mismatch"):
        check_grads(f, (X,), order=2)


def test_the_message_names_the_worst_element():
    # wrong only at the last element: the error must point at index (2,)
    def rule(ans, x):
        w = np.array([1.0, 1.0, 3.0])
        return lambda g: cnp.multiply(g, cnp.cos(x) * w)

    p = Primitive("test_sin_last", np.sin, [rule], "elementwise", None, False, False)
    with pytest.raises(AssertionError, match=r"index \(2,\).*1 of 3 elements differ"):
        check_grads(_fn(p), (X,), order=1, modes=("rev",))


def test_catches_a_wrong_primal_output_of_jvp():
    def jvp_rule(primals, tangents, ans, params):
        return cnp.multiply(tangents[0], cnp.cos(primals[0]))

    # evaluation differs between traced (impl) and untraced (check_grads calls f on arrays) use
    p = Primitive("test_sin_bad_impl", lambda x: np.sin(x) + 1.0, [None], jvp_rule, None, False, False)

    def f(x):
        return bind(p, (x,), {}) if hasattr(x, "_value") else np.sin(x)

    with pytest.raises(AssertionError, match="primal"):
        check_grads(f, (X,), order=1, modes=("fwd",))


def test_rejects_integer_arguments_and_unknown_modes():
    with pytest.raises(TypeError):
        check_grads(lambda x: x, (np.array([1, 2]),))
    with pytest.raises(ValueError, match="mode"):
        check_grads(lambda x: x, (X,), modes=("backward",))
