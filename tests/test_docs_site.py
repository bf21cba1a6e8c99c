"""The documentation site builds with warnings as errors (mkdocs.yml; the ``docs`` extra).

Skipped where mkdocs is not installed; CI installs the extra, so it runs there (and
.ci/run builds the site once more on its own).
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    pytest.importorskip("material")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    page = (tmp_path / "api" / "tape" / "index.html").read_text()
    assert 'id="chainrule.Tensor.backward"' in page      # the API reference is generated
    assert "language-pycon" in page or 'class="gp"' in page  # examples render as code
    assert (tmp_path / "api" / "numpy" / "index.html").read_text().count('id="chainrule.numpy.') > 100


def test_doctest_examples_are_fenced_for_the_site():
    pytest.importorskip("griffe")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from griffe_doctests import fence_examples
    finally:
        sys.path.remove(str(ROOT / "tools"))
    text = "Prose.\n\n>>> x = 1\n>>> x\n1\n\nMore.\n\n```python\n>>> left alone\n```"
    assert fence_examples(text) == ("Prose.\n\n```pycon\n>>> x = 1\n>>> x\n1\n```\n\nMore.\n\n"
                                    "```python\n>>> left alone\n```")
    assert fence_examples("    >>> 1\n    1") == "    ```pycon\n    >>> 1\n    1\n    ```"
