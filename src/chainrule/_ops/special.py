"""Family module (see chainrule._ops): each primitive is declared once, impl + rules + formulas."""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__: list = []
#: The functions of ``chainrule.numpy.special`` (defined in this module).
SPECIAL: list = []
