"""cr.explain: the chain rule, step by step, read off the engine's own tape.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> ex = cr.explain(lambda x: cnp.sin(x) * x, 2.0)
>>> print(ex.steps[-1].formula)
x̄ += ū · ∂u/∂x = 2 · cos(x) = -0.8323   x̄ = 0.9093 + (-0.8323) = 0.077   ⇒ ∂f/∂x = 0.077
"""
from chainrule.explain.core import Explanation, Node, Step, explain

__all__ = ["explain", "Explanation", "Step", "Node"]
