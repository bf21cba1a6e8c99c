"""Very long chains: the backward pass is iterative, so depth is limited by memory only
(DESIGN.md: "a 10^6-op chain must work").  The oracle is the closed form c**n.
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp

C = 1.0000001


def _chain(x, n):
    y = x
    for _ in range(n):
        y = y * C
    return y


def test_one_million_operations_on_the_tape():
    n = 1_000_000
    x = cr.tensor(1.0, requires_grad=True)
    y = _chain(x, n)
    y.backward()
    np.testing.assert_allclose(x.grad.item(), C ** n, rtol=1e-9)
    np.testing.assert_allclose(y.item(), C ** n, rtol=1e-9)


def test_a_retained_deep_graph_is_freed_without_recursion():
    n = 200_000
    x = cr.tensor(1.0, requires_grad=True)
    y = _chain(x, n)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 2 * C ** n, rtol=1e-9)
    del y  # deallocating a 200,000-deep chain of nodes must not overflow the C stack


def test_one_hundred_thousand_operations_through_cr_grad():
    n = 100_000

    def f(x):
        for _ in range(n):
            x = x * C
        return x

    np.testing.assert_allclose(cr.grad(f)(1.0), C ** n, rtol=1e-9)


def test_deep_chain_with_fan_out_at_every_step():
    # y_{k+1} = y_k + 1e-5 * sin(y_k): each node feeds two edges; the count-based
    # topological order must still visit every node exactly once
    n = 20_000

    def f(x):
        for _ in range(n):
            x = x + 1e-5 * cnp.sin(x)
        return x

    x0 = 0.3
    ys = [x0]
    for _ in range(n):
        ys.append(ys[-1] + 1e-5 * np.sin(ys[-1]))
    expected = np.prod([1 + 1e-5 * np.cos(y) for y in ys[:-1]])
    np.testing.assert_allclose(cr.grad(f)(x0), expected, rtol=1e-10)
    np.testing.assert_allclose(cr.jvp(f, (x0,), (1.0,))[1], expected, rtol=1e-10)
