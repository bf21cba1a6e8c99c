"""Declare a new primitive with ``defprim`` and check it with ``check_grads``.

    python examples/custom_primitive.py

softplus(x) = log(1 + e^x) gets one block: its NumPy evaluation, one staged VJP rule
written with chainrule's own operations (so every order and both modes follow), its
forward rule derived by the "elementwise" shortcut, and the formula of its derivative.
This is the worked example of docs/primitives.md.

``defprim`` lives in the internal module ``chainrule._core.primitive``: it is how the
library itself is built. A user-level ``cr.custom_vjp`` / ``cr.custom_jvp`` is planned.
"""
import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.primitive import defprim


def _softplus_vjp(ans, x):
    # Outer stage: keep only what the backward pass needs. softplus' = sigmoid, and
    # sigmoid(x) = 1 - exp(-softplus(x)), so the output alone suffices.
    s = 1.0 - cnp.exp(-ans)
    return lambda g: g * s      # inner stage: downstream adjoint x local derivative


softplus_p = defprim(
    "example_softplus",                      # a registry name; each may be declared once
    lambda x: np.logaddexp(0.0, x),          # impl: the stable NumPy evaluation
    [_softplus_vjp],                         # one staged VJP rule per input
    jvp="elementwise",                       # forward mode: the VJP formula applied to the tangent
    formulas=[("1 - exp(-ans)", r"1 - e^{-\mathrm{ans}}")],
    uses_ans=True,                           # the rule reads the output: in-place changes to it are caught
)


def softplus(x):
    """log(1 + e^x), differentiable to any order, in both modes."""
    return softplus_p.bind(x)


def main():
    x = np.array([-2.0, 0.0, 3.0])
    sigmoid = 1.0 / (1.0 + np.exp(-x))
    print("x                  =", x)
    print("softplus(x)        =", softplus(x), "  (a plain ndarray outside transforms)")
    print("grad (reverse)     =", cr.grad(lambda x: softplus(x).sum())(x))
    print("jvp  (forward)     =", cr.jvp(softplus, (x,), (np.ones(3),))[1])
    print("sigmoid(x)         =", sigmoid, "  (by hand)")
    d2 = cr.grad(lambda x: cr.grad(lambda x: softplus(x).sum())(x).sum())(x)
    print("second derivative  =", d2)
    print("sigmoid(1-sigmoid) =", sigmoid * (1 - sigmoid), "  (by hand)")

    t = cr.tensor(x, requires_grad=True)
    softplus(t).sum().backward()
    print("tape .backward()   =", t.grad)

    # Every derivative up to order 3, forward and reverse and their mixes, against
    # central finite differences; raises AssertionError on a mismatch.
    cr.testing.check_grads(softplus, (x,), order=3)
    print("check_grads(softplus, order=3): ok")

    text, latex = softplus_p.formulas[0]
    print(f"local derivative: d ans/dx = {text}   (LaTeX: {latex}; read by the planned cr.explain)")


if __name__ == "__main__":
    main()
