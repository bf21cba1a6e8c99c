"""``chainrule.numpy.special``: special functions (SciPy's names), differentiable."""
from chainrule._ops import special as _impl
from chainrule._ops.special import SPECIAL as __all__

globals().update({_name: getattr(_impl, _name) for _name in __all__})
