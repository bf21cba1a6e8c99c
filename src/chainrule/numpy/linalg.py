"""``chainrule.numpy.linalg``: NumPy's linear algebra, differentiable."""
from chainrule._ops import decompositions as _decompositions
from chainrule._ops import linalg as _impl

__all__ = _impl.LINALG + _decompositions.LINALG

globals().update({_name: getattr(_impl, _name) for _name in _impl.LINALG})
globals().update({_name: getattr(_decompositions, _name) for _name in _decompositions.LINALG})
