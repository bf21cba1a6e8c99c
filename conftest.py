"""Root conftest: the README's test command, ``python -m pytest``, works after any install.

pytest collects the doctests of ``src/chainrule`` (``testpaths``, ``--doctest-modules``)
after ``tests/``, which have imported ``chainrule`` already.  After an editable install
that is the same ``src/chainrule``; after a plain install (``pip install .`` in a clone,
or in the unpacked sdist) it is the copy in site-packages, and pytest's ``prepend``
import mode then stops on every module with "import file mismatch": ``src/chainrule/api.py``
was imported as ``chainrule.api`` from site-packages.

The doctests belong to the package that the tests test, so while a module of
``src/chainrule`` is collected, the mismatch check is off (``PY_IGNORE_IMPORTMISMATCH``,
pytest's own switch, for that collection only and for no test file) and the doctests run on
the imported ``chainrule.<module>``; the directory that pytest puts in front of ``sys.path``
for it is taken out again.  The header (or, under ``-q``, a last line) says which ``chainrule`` the run tests.
"""
import os
import pathlib
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parent / "src"


def _which_chainrule():
    try:
        import chainrule
    except ImportError as e:  # the tests' own imports will say more
        return f"chainrule: not importable ({e})"
    where = pathlib.Path(chainrule.__file__).resolve().parent
    kind = "this checkout's src/" if where.parent == SRC else "an installed copy, not this checkout's src/"
    return f"chainrule {chainrule.__version__} from {where} ({kind})"


def pytest_report_header(config):  # shown without -q
    return _which_chainrule()


def pytest_terminal_summary(terminalreporter):  # and after the summary, -q (addopts) or not
    if terminalreporter.verbosity < 0:
        terminalreporter.write_line(f"tested: {_which_chainrule()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    path = getattr(collector, "path", None)
    if path is None or not isinstance(collector, pytest.Module) or SRC not in pathlib.Path(path).resolve().parents:
        yield
        return
    before_env = os.environ.get("PY_IGNORE_IMPORTMISMATCH")
    before_path = list(sys.path)
    os.environ["PY_IGNORE_IMPORTMISMATCH"] = "1"
    try:
        yield
    finally:
        if before_env is None:
            del os.environ["PY_IGNORE_IMPORTMISMATCH"]
        else:
            os.environ["PY_IGNORE_IMPORTMISMATCH"] = before_env
        sys.path[:] = before_path
