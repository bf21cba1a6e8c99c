"""``chainrule.numpy.linalg``: NumPy's linear algebra, differentiable."""
from chainrule._ops.linalg import LINALG as __all__  # noqa: F401
from chainrule._ops.linalg import *  # noqa: F401,F403
