"""chainrule: exact derivatives of numerical Python code, and how they were found.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> cr.grad(lambda x: (x ** 2 + 1) ** 3)(1.0)
np.float64(24.0)
"""
from chainrule import autograd, forward_ad, testing  # noqa: F401
from chainrule._core.grad_mode import enable_grad, is_grad_enabled, no_grad
from chainrule._interpreters.reverse import Tensor, tensor
from chainrule._ops import stop_gradient
from chainrule._seed import manual_seed
from chainrule.anomaly import detect_anomaly
from chainrule.api import grad, hessian, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp, vmap
from chainrule.checkpoint import checkpoint
from chainrule.custom import custom_jvp, custom_vjp
from chainrule.explain import explain
from chainrule.implicit import fixed_point, implicit_derivative, root
from chainrule.jit import jit, make_ir
from chainrule.control import cond, fori_loop, scan, switch, while_loop
from chainrule.taylor import jet
from chainrule.pde import derivatives, divergence, hessian_diag, laplacian
from chainrule._jit.fuse import FusionWarning
from chainrule import nn, optim, pinn, distributed  # noqa: E402,F401  (last: they build on the names above)

__version__ = "0.1.0"

__all__ = [
    "explain",
    "Tensor", "tensor", "grad", "value_and_grad", "vjp", "jvp", "stop_gradient",
    "no_grad", "enable_grad", "manual_seed", "is_grad_enabled", "autograd", "forward_ad", "testing",
    "vmap", "jet", "laplacian", "divergence", "hessian_diag", "derivatives", "jacfwd", "jacrev", "jacobian", "hessian", "custom_vjp", "custom_jvp", "checkpoint", "root", "fixed_point", "implicit_derivative",
    "nn", "optim", "pinn", "distributed", "detect_anomaly", "jit", "make_ir", "cond", "switch", "scan", "fori_loop", "while_loop", "FusionWarning",
]
