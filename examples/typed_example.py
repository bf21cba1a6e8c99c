"""A typed training script: ``mypy --strict examples/typed_example.py`` passes (tests/test_typing.py).

A jitted gradient of a least-squares loss, per-example gradients with ``vmap``, a
``scan`` over time steps and a small ``nn`` model with an optimiser -- each value with a
type a checker can follow: transforms keep the signature of the function they are given.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.typing import Array


def loss(w: Array, x: Array, y: Array) -> Array:
    """Mean squared error of a linear model."""
    return cnp.mean((x @ w - y) ** 2)


def decay(carry: Array, u: Array) -> tuple[Array, Array]:
    """One step of a leaky integrator: the new state, also emitted."""
    state = 0.9 * carry + u
    return state, state


def main() -> float:
    rng = np.random.default_rng(0)
    x, w_true = rng.normal(size=(32, 3)), np.array([1.0, -2.0, 0.5])
    y = x @ w_true

    # cr.jit keeps loss's signature: a checker rejects jitted(w, x) with a missing argument.
    jitted: Callable[[Array, Array, Array], Array] = cr.jit(loss)
    step = cr.jit(cr.grad(loss))
    w: Array = np.zeros(3)
    for _ in range(200):
        w = w - 0.1 * step(w, x, y)
    assert float(jitted(w, x, y)) < 1e-6

    # Per-example gradients: vmap over the rows of x and y, w shared.
    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0, 0))(w, x, y)
    assert per_example.shape == (32, 3)

    # A scan over 10 time steps: the carry keeps its type (annotate it as decay's).
    state0: Array = np.zeros(())
    final, states = cr.scan(decay, state0, np.ones(10))
    assert states.shape == (10,)

    # A model and an optimiser, on the tape.
    model = cr.nn.MLP([3, 8, 1])
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    first = last = 0.0
    for i in range(100):
        opt.zero_grad()
        mse = cnp.mean((model(x)[:, 0] - y) ** 2)
        mse.backward()
        opt.step()
        last = float(mse.item())
        first = last if i == 0 else first
    assert last < first
    return float(final)


if __name__ == "__main__":
    print(f"final state {main():.4f}")
