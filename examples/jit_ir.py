"""What cr.jit sees: the graph IR of the seed example L = exp(x*y) + w, and of its gradient.

    python examples/jit_ir.py

cr.make_ir(f)(*args) is the graph as traced -- one equation a line, with shapes and
dtypes.  cr.jit(f).lower(*args) is what runs: .raw_ir (as traced), .ir (after the
optimisation passes) and .source (the straight-line Python the graph compiles to).
See docs/jit.md.
"""
import math

import chainrule as cr
import chainrule.numpy as cnp


def L_of(x, y, w):
    return cnp.exp(x * y) + w


def main():
    x, y, w = 1.0, 2.0, 3.0
    print("L = exp(x*y) + w, traced at x = 1, y = 2, w = 3 (f64[] is a float64 scalar):")
    print(cr.make_ir(L_of)(x, y, w))

    grad_L = cr.grad(L_of, argnums=(0, 1, 2))
    print("\nits gradient (y e^{xy}, x e^{xy}, 1), as traced -- the backward pass is more equations:")
    print(cr.make_ir(grad_L)(x, y, w))

    jitted = cr.jit(grad_L)
    compiled = jitted.lower(x, y, w)
    print(f"\nafter the passes ({len(compiled.raw_ir.eqns)} equations -> {len(compiled.ir.eqns)}):")
    print(compiled.ir)
    print("\nthe code it runs (.source):")
    print(compiled.source)

    gx, gy, gw = jitted(x, y, w)
    print(f"jitted(1, 2, 3) = ({gx:.6f}, {gy:.6f}, {gw:.6f});  traced {jitted.traces} time(s)")
    e = math.exp(x * y)
    print(f"by hand          = ({y * e:.6f}, {x * e:.6f}, 1.000000)")
    assert math.isclose(gx, y * e) and math.isclose(gy, x * e) and gw == 1.0
    gx2, gy2, gw2 = jitted(0.5, -1.0, 7.0)   # new values, same shapes and dtypes: no retrace
    print(f"jitted(0.5, -1, 7) = ({gx2:.6f}, {gy2:.6f}, {gw2:.6f});  still traced {jitted.traces} time(s)")
    assert jitted.traces == 1


if __name__ == "__main__":
    main()
