"""Every Python code block in docs/ runs in CI.

pytest runs the pages as doctests (``--doctest-glob='docs/*.md'`` in pyproject.toml), so
a block of ``>>>`` lines runs and its output is checked. A Python block without prompts
would be shown but never run, and could rot unseen; such a block must say why it is not
run, in an HTML comment on the line just above it (invisible on the site)::

    <!-- not run: a formula written once for every framework, not chainrule code -->
    ```python
    loss = sum(x)
    ```
"""
from __future__ import annotations

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
PYTHON = {"python", "py", "python3", "pycon"}
NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*\S.*-->\s*$")


def python_blocks(text):
    """``(line number, info string, body lines, the line above)`` of each fenced block."""
    lines, i = text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(m.group(1)):
                j += 1
            if m.group(2).lower() in PYTHON:
                yield i + 1, lines[i + 1:j], lines[i - 1] if i else ""
            i = j
        i += 1


def test_the_pages_are_collected_as_doctests():
    assert PAGES and all(p.suffix == ".md" for p in PAGES)
    assert any(">>>" in p.read_text() for p in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_every_python_block_runs_or_says_why_not(page):
    unrun = [f"{page.relative_to(DOCS.parent)}:{n}" for n, body, above in python_blocks(page.read_text())
             if not any(line.lstrip().startswith(">>>") for line in body) and not NOT_RUN.match(above)]
    assert not unrun, (f"Python code blocks that no test runs: {unrun}. Write them as doctests (>>> lines "
                       f"with their output, a blank line before the closing fence), or put "
                       f"'<!-- not run: <why> -->' on the line above the fence")


def test_the_check_sees_an_unrun_block():
    text = "x\n\n```python\ny = 1\n```\n\n<!-- not run: a signature -->\n```py\nf(x)\n```\n```pycon\n>>> 1\n1\n\n```\n"
    blocks = list(python_blocks(text))
    assert [n for n, _, _ in blocks] == [3, 8, 11]
    assert [bool(NOT_RUN.match(above)) for _, _, above in blocks] == [False, True, False]
