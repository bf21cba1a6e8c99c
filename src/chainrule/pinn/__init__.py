"""``cr.pinn``: physics-informed neural networks -- collocation points, input-normalised
MLPs, weighted loss terms and the derivatives a residual needs; ``chainrule pinn burgers``
reproduces Raissi et al. (2019)'s Burgers result.

>>> import numpy as np, chainrule as cr
>>> box = cr.pinn.Box([0.0, -1.0], [1.0, 1.0], names=("t", "x"))
>>> x_f = box.sample(64, "lhs", rng=0)                     # needs SciPy
>>> net = cr.pinn.mlp(box, [2, 16, 16, 1], rng=0)
>>> u, du, (u_xx,) = cr.pinn.partials(net, x_f, second=(1,))
>>> u.shape, du.shape, u_xx.shape
((64, 1), (64, 2), (64, 1))

See docs/pinn.md.
"""
from chainrule.pinn.model import Normalized, mlp, mse, weighted_loss
from chainrule.pinn.residual import laplacian, partials
from chainrule.pinn.sampling import METHODS, Box, Resampler, unit_cube
from chainrule.pinn.training import fit

__all__ = ["Box", "METHODS", "unit_cube", "Resampler", "Normalized", "mlp", "mse", "weighted_loss",
           "partials", "laplacian", "fit"]
