"""``cr.optim``: SGD, Adam, AdamW, L-BFGS -- functional cores and PyTorch-style wrappers; learning-rate schedules.

Functional (``init``/``update`` on pytrees)::

    core = cr.optim.adam(lr=1e-3)
    state = core.init(params)
    params, state = core.update(grads, state, params)

PyTorch style, on tape parameters::

    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad(); loss.backward(); opt.step()

See docs/optim.md.
"""
from chainrule.optim.functional import FunctionalOptimizer, adam, adamw, sgd
from chainrule.optim.lbfgs import BFGS_MAX_PARAMS, BFGS_PINN, LBFGS_PINN, bfgs, lbfgs
from chainrule.optim.schedules import (CosineAnnealingLR, ExponentialLR, OneCycleLR, ReduceLROnPlateau, StepLR,
                                       cosine_decay_schedule, exponential_decay)
from chainrule.optim.optimizers import LBFGS, SGD, Adam, AdamW, Optimizer

__all__ = ["sgd", "adam", "adamw", "lbfgs", "LBFGS_PINN", "bfgs", "BFGS_PINN", "BFGS_MAX_PARAMS", "FunctionalOptimizer", "Optimizer", "SGD", "Adam", "AdamW",
           "LBFGS", "exponential_decay", "cosine_decay_schedule", "StepLR", "ExponentialLR", "CosineAnnealingLR",
           "OneCycleLR", "ReduceLROnPlateau"]
