"""Griffe extension for the documentation site: doctest examples rendered as code.

chainrule's docstrings are prose with ``>>>`` examples (run by pytest's
``--doctest-modules``).  Markdown would read ``>>>`` as nested block quotes, so
each run of example lines (the prompts, their continuations and the expected
output, up to a blank line) is wrapped in a ```` ```pycon ```` fence before
mkdocstrings renders the docstring.  Used by mkdocs.yml; needs only griffe (it is
outside docs/ so that pytest's ``--doctest-modules`` never imports it).
"""
from __future__ import annotations

import griffe


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

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_examples(obj.docstring.value)
        if obj.is_class:
            for name in [n for n in obj.members if n.startswith("_")]:
                del obj.members[name]
