"""``chainrule.numpy.linalg``: NumPy's linear algebra, differentiable."""
from chainrule._ops import linalg as _impl
from chainrule._ops.linalg import LINALG as __all__

globals().update({_name: getattr(_impl, _name) for _name in __all__})
