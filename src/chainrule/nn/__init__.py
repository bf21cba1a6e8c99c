"""``cr.nn``: modules, layers, activations, losses, initialisers, save/load.

>>> import numpy as np, chainrule as cr
>>> from chainrule.nn import functional as F
>>> net = cr.nn.MLP([2, 8, 1], activation="tanh", rng=0)
>>> x, y = np.random.default_rng(1).standard_normal((16, 2)), np.zeros((16, 1))
>>> loss = F.mse_loss(net(x), y)          # tape: records the graph
>>> loss.backward()
>>> net.layers[0].weight.grad.shape
(2, 8)
>>> g = cr.grad(lambda p: F.mse_loss(net.apply(p, x), y))(net.params())    # functional
>>> bool(np.array_equal(g["layers.0.weight"], net.layers[0].weight.grad.numpy()))
True

See docs/nn.md.
"""
from chainrule.nn import functional, init  # noqa: F401
from chainrule.nn.data import DataLoader
from chainrule.nn.layers import (GELU, MLP, BCELoss, BCEWithLogitsLoss, Conv1d, Conv2d, CrossEntropyLoss, Dropout,
                                 Embedding, Identity, LayerNorm, Linear, MSELoss, ReLU, Sequential, Sigmoid, Softplus,
                                 Tanh)
from chainrule.nn.module import Module, parameter
from chainrule.nn.serialization import load, save
from chainrule.nn.trace import Trace, backward, forward
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_

__all__ = ["Module", "parameter", "Linear", "MLP", "Sequential", "Tanh", "ReLU", "Sigmoid", "GELU",
           "Softplus", "Identity", "functional", "init", "forward", "backward", "Trace", "save", "load",
           "clip_grad_norm_", "clip_grad_value_", "Dropout", "MSELoss", "CrossEntropyLoss", "BCELoss",
           "BCEWithLogitsLoss", "DataLoader", "Conv1d", "Conv2d", "LayerNorm", "Embedding"]
