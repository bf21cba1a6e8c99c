"""The seeds' 1-2-1 tanh network: seven gradients three ways, then gradient descent.

    python examples/tiny_mlp.py

One input x, two tanh hidden units, one linear output, seven parameters:

    h1 = tanh(w11 x + b1)          h2 = tanh(w12 x + b2)
    y  = wo1 h1 + wo2 h2 + bo      L  = (y - target)^2 / 2

For one training example the gradient dL/d(parameters) is computed by cr.grad over a
dict of parameters (functional), by loss.backward() on cr.tensor leaves (tape), and by
a hand-written backward pass; all three agree. Then a few steps of gradient descent
with cr.value_and_grad drive the loss down.
"""
import math

import chainrule as cr
import chainrule.numpy as cnp

NAMES = ("w11", "w12", "b1", "b2", "wo1", "wo2", "bo")
X, TARGET = 0.8, 0.5


def loss_fn(p, x=X, target=TARGET):
    h1 = cnp.tanh(p["w11"] * x + p["b1"])
    h2 = cnp.tanh(p["w12"] * x + p["b2"])
    y = p["wo1"] * h1 + p["wo2"] * h2 + p["bo"]
    return (y - target) ** 2 / 2


def backprop_by_hand(p, x=X, target=TARGET):
    """The chain rule written out, node by node (plain floats)."""
    z1 = p["w11"] * x + p["b1"]
    z2 = p["w12"] * x + p["b2"]
    h1, h2 = math.tanh(z1), math.tanh(z2)
    y = p["wo1"] * h1 + p["wo2"] * h2 + p["bo"]
    dy = y - target                   # dL/dy
    dh1, dh2 = dy * p["wo1"], dy * p["wo2"]
    dz1, dz2 = dh1 * (1 - h1 ** 2), dh2 * (1 - h2 ** 2)   # tanh' = 1 - tanh^2
    return {"w11": dz1 * x, "w12": dz2 * x, "b1": dz1, "b2": dz2,
            "wo1": dy * h1, "wo2": dy * h2, "bo": dy}


def main():
    params = {"w11": 0.5, "w12": -0.4, "b1": 0.1, "b2": -0.1, "wo1": 0.8, "wo2": 0.6, "bo": 0.05}
    print(f"x = {X}, target = {TARGET}, loss = {float(loss_fn(params)):.6f}\n")

    functional = cr.grad(loss_fn)(params)            # a dict, same keys as params

    leaves = {k: cr.tensor(v, requires_grad=True) for k, v in params.items()}
    loss_fn(leaves).backward()
    tape = {k: t.grad.item() for k, t in leaves.items()}

    hand = backprop_by_hand(params)

    print(f"{'parameter':>9}  {'cr.grad':>14}  {'tape backward':>14}  {'by hand':>14}")
    worst = 0.0
    for k in NAMES:
        print(f"{k:>9}  {functional[k]:14.10f}  {tape[k]:14.10f}  {hand[k]:14.10f}")
        worst = max(worst, abs(functional[k] - hand[k]), abs(tape[k] - hand[k]))
    print(f"largest disagreement: {worst:.1e}")
    assert worst < 1e-14

    print("\ngradient descent, lr = 0.2")
    step_fn = cr.value_and_grad(loss_fn)
    lr = 0.2
    for step in range(31):
        loss, g = step_fn(params)
        if step % 5 == 0:
            print(f"  step {step:2d}  loss {float(loss):.3e}")
        params = {k: params[k] - lr * g[k] for k in params}
    assert loss < 1e-4


if __name__ == "__main__":
    main()
