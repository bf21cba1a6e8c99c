"""``chainrule.numpy.special``: special functions, differentiable."""
from chainrule._ops.special import SPECIAL as __all__  # noqa: F401
from chainrule._ops.special import *  # noqa: F401,F403
