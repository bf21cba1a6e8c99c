"""The seeds' first examples, by chainrule: both APIs, both modes.

    python examples/seed_chain_rule.py

1. y = (x^2 + 1)^3, whose derivative is 6x(x^2 + 1)^2.
2. L = e^{xy} + w, whose gradient is (y e^{xy}, x e^{xy}, 1).
"""
import numpy as np

import chainrule as cr
import chainrule.numpy as cnp


def y_of(x):
    return (x ** 2 + 1) ** 3


def L_of(x, y, w):
    return cnp.exp(x * y) + w


def main():
    x = 1.5
    print("1. y = (x^2 + 1)^3 at x = 1.5")
    print(f"   y            = {y_of(x):.6f}")
    print(f"   dy/dx (grad) = {cr.grad(y_of)(x):.6f}")
    print(f"   dy/dx (jvp)  = {cr.jvp(y_of, (x,), (1.0,))[1]:.6f}")
    print(f"   6x(x^2+1)^2  = {6 * x * (x ** 2 + 1) ** 2:.6f}   (by hand)")
    print(f"   d2y/dx2      = {cr.grad(cr.grad(y_of))(x):.6f}   (grad of grad)")
    print(f"   6(x^2+1)(5x^2+1) = {6 * (x ** 2 + 1) * (5 * x ** 2 + 1):.6f}   (by hand)")

    x, y, w = 1.0, 2.0, 3.0
    print("\n2. L = e^{xy} + w at x = 1, y = 2, w = 3")
    gx, gy, gw = cr.grad(L_of, argnums=(0, 1, 2))(x, y, w)
    print(f"   L = {L_of(x, y, w):.6f}")
    print(f"   functional cr.grad : dL/dx = {gx:.6f}, dL/dy = {gy:.6f}, dL/dw = {gw:.6f}")

    xt, yt, wt = (cr.tensor(v, requires_grad=True) for v in (x, y, w))
    L = L_of(xt, yt, wt)
    L.backward()
    print(f"   tape .backward()   : dL/dx = {xt.grad.item():.6f}, dL/dy = {yt.grad.item():.6f}, "
          f"dL/dw = {wt.grad.item():.6f}")
    e = np.exp(x * y)
    print(f"   by hand            : y e^xy = {y * e:.6f}, x e^xy = {x * e:.6f}, 1")


if __name__ == "__main__":
    main()
