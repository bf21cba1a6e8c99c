"""Derivatives of any order, by nesting transforms.

    python examples/higher_order.py

1. The first six derivatives of f(x) = sin(x) e^x, by grad of grad of ... (reverse over
   reverse) and by jvp of jvp of ... (forward over forward), against the closed form
   f^(n)(x) = 2^(n/2) e^x sin(x + n pi/4).
2. A Hessian-vector product of the Rosenbrock function by jvp of grad
   (forward over reverse, never forming the Hessian), against grad of <grad, v>
   (reverse over reverse), central differences of the gradient, and the exact Hessian.
"""
import math

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp


def f(x):
    return cnp.sin(x) * cnp.exp(x)


def closed_form(n, x):
    return 2 ** (n / 2) * math.exp(x) * math.sin(x + n * math.pi / 4)


def nth_jvp(fun, n):
    """The n-th derivative of a scalar function by n nested jvps."""
    for _ in range(n):
        fun = (lambda g: lambda x: cr.jvp(g, (x,), (1.0,))[1])(fun)
    return fun


def rosenbrock(x):
    return cnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """The exact Hessian, by hand, to check against."""
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i, i + 1] += -400 * x[i]
        H[i + 1, i] += -400 * x[i]
        H[i + 1, i + 1] += 200
    return H


def main():
    x0 = 0.7
    print(f"1. derivatives of f(x) = sin(x) e^x at x = {x0}")
    print(f"   {'n':>2}  {'grad^n (reverse)':>20}  {'jvp^n (forward)':>20}  {'closed form':>20}")
    d = f
    worst = 0.0
    for n in range(1, 7):
        d = cr.grad(d)
        rev = float(d(x0))
        fwd = float(nth_jvp(f, n)(x0))
        exact = closed_form(n, x0)
        worst = max(worst, abs(rev - exact), abs(fwd - exact))
        print(f"   {n:>2}  {rev:20.15f}  {fwd:20.15f}  {exact:20.15f}")
    print(f"   largest difference from the closed form: {worst:.1e}")
    assert worst < 1e-12

    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.5, size=5)
    v = rng.standard_normal(5)
    print("\n2. Hessian-vector product of the Rosenbrock function (n = 5)")
    g = cr.grad(rosenbrock)
    _, hvp_fwd_rev = cr.jvp(g, (x,), (v,))                                  # forward over reverse
    hvp_rev_rev = cr.grad(lambda x: cnp.sum(cr.grad(rosenbrock)(x) * v))(x)  # reverse over reverse
    eps = 1e-5
    hvp_fd = (g(x + eps * v) - g(x - eps * v)) / (2 * eps)                  # differences of the gradient
    hvp_exact = rosenbrock_hessian(x) @ v
    np.set_printoptions(precision=8, suppress=True)
    print("   jvp(grad f)       :", hvp_fwd_rev)
    print("   grad(<grad f, v>) :", hvp_rev_rev)
    print("   finite differences:", hvp_fd)
    print("   exact H @ v       :", hvp_exact)
    err_ad = max(np.max(np.abs(hvp_fwd_rev - hvp_exact)), np.max(np.abs(hvp_rev_rev - hvp_exact)))
    err_fd = np.max(np.abs(hvp_fd - hvp_exact))
    print(f"   max error: automatic differentiation {err_ad:.1e}, finite differences {err_fd:.1e}")
    assert err_ad < 1e-9 and np.allclose(hvp_fd, hvp_exact, rtol=1e-6, atol=1e-6)


if __name__ == "__main__":
    main()
