"""Griffe extension for the documentation site: doctest examples rendered as code.

chainrule's docstrings are prose with ``>>>`` examples (run by pytest's
``--doctest-modules``).  Markdown would read ``>>>`` as nested block quotes, so
each run of example lines (the prompts, their continuations and the expected
output, up to a blank line) is wrapped in a ```` ```pycon ```` fence before
mkdocstrings renders the docstring; Sphinx roles (``:func:`f```) become code.
Slots documented through a ``__slots__`` dict get their docstrings.  Used by
mkdocs.yml; needs only griffe (it is outside docs/ so that pytest's
``--doctest-modules`` never imports it).
"""
from __future__ import annotations

import inspect
import re

import griffe

#: Sphinx cross-reference roles (``:func:`backward```), shown as code on the site.
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj):`~?([^`]+)`")


def fence_examples(text: str) -> str:
    """``text`` with every block of doctest lines fenced as ``pycon``; fenced text is left alone."""
    out, in_example, in_fence = [], False, False
    for line in text.splitlines():
        stripped = line.lstrip()
        if not in_example and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and not in_example and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            in_example = True
        elif in_example and not stripped:
            out.append(f"{indent}```")
            in_example = False
        out.append(line)
    if in_example:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctest examples of every docstring griffe loads; hide classes' underscore members.

    (Inspection also finds ``__doc__``, ``__module__``, ``__slots__`` and the operator
    methods; a class's public surface is its documented names.)
    """

    def on_attribute_instance(self, *, node, attr: griffe.Attribute, **kwargs) -> None:
        # A slot documented through a ``__slots__`` dict (``Tensor.grad``): griffe's inspector
        # sees a bare member descriptor; ``inspect.getdoc`` finds the slot's docstring.
        runtime = getattr(node, "obj", None)
        if inspect.ismemberdescriptor(runtime) and attr.docstring is None:
            doc = inspect.getdoc(runtime)
            if doc:
                attr.docstring = griffe.Docstring(doc, parent=attr)
                attr.value = None
                attr.labels.discard("class-attribute")
                attr.labels.add("instance-attribute")

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            text = _ROLE.sub(r"``\1``", obj.docstring.value)
            obj.docstring.value = fence_examples(text) if ">>>" in text else text
        if obj.is_class:
            for name in [n for n in obj.members if n.startswith("_")]:
                del obj.members[name]
