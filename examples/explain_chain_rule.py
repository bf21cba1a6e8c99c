"""cr.explain on the seeds' examples: the step log, LaTeX, and the interactive page.

    python examples/explain_chain_rule.py

Prints the forward and backward steps of L = e^{xy} + w at x = 1, y = 2, w = 3, checks
the gradient read off the steps against cr.grad, and writes the interactive page of the
1-2-1 tanh network to a temporary folder (open it in a browser; → steps, ← goes back).
"""
import pathlib
import tempfile

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.explain.cli import tour_explanations


def L(x, y, w):
    return cnp.exp(x * y) + w


def main():
    ex = cr.explain(L, 1.0, 2.0, 3.0, output="L")
    print(ex)
    print("\nAs LaTeX:\n" + ex.latex())

    grads = cr.grad(L, argnums=(0, 1, 2))(1.0, 2.0, 3.0)
    for name, g in zip("xyw", grads):
        assert abs(ex.grads[name] - g) < 1e-12, (name, ex.grads[name], g)
    print("\nThe gradient read off the steps equals cr.grad's.")

    heading, mlp = tour_explanations()[2]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="chainrule-explain-"))
    print(f"\n{heading}: {len(mlp.steps)} steps; page written to {mlp.save(folder / 'tiny_mlp.html')}")


if __name__ == "__main__":
    main()
