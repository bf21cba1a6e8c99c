"""Packaging: the sdist carries what the README's test command needs, the metadata is
complete (SPDX licence, classifiers), and ``chainrule --version`` answers.

The sdist is built with the project's own backend (setuptools, no build isolation, so no
network) from a copy of this tree, so the tree itself gains no ``*.egg-info``.
"""
import email
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

import chainrule
from chainrule.cli import main, version

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: what the README's test command reads besides the package: the tests and their helpers,
#: the docs (doctests, docs-named tests), the examples (run by test_examples), the benchmarks
NEEDED_DIRS = ("tests", "docs", "examples", "benchmarks")
IGNORED = shutil.ignore_patterns(".*", "__pycache__", "*.py[cod]", "*.egg-info", "build", "dist", "results",
                                 "*.html")


def _require_setuptools():
    setuptools = pytest.importorskip("setuptools")
    if tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit()) < (77, 0):
        pytest.skip(f"setuptools {setuptools.__version__} < 77 (pyproject's build requirement)")


def _copy(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for entry in ROOT.iterdir():  # the top-level files, the package and NEEDED_DIRS (not a venv)
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name in ("src", *NEEDED_DIRS):
            shutil.copytree(entry, tree / entry.name, ignore=IGNORED)
        elif entry.is_file():
            shutil.copy2(entry, tree / entry.name)
    return tree


def _backend(tree, call):
    """Run ``setuptools.build_meta.<call>`` in ``tree`` (a child process: setuptools writes
    into the working directory); returns what it returned."""
    code = f"import sys; from setuptools import build_meta as b; print(b.{call})"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    _require_setuptools()
    tmp = tmp_path_factory.mktemp("sdist")
    tree = _copy(tmp)
    out = tmp / "out"
    out.mkdir()
    name = _backend(tree, f"build_sdist({str(out)!r})")
    with tarfile.open(out / name) as tar:
        members = [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]
        pkg_info = tar.extractfile(f"{name[:-len('.tar.gz')]}/PKG-INFO").read().decode()
    return tree, set(members), email.message_from_string(pkg_info)


def test_sdist_has_license_and_what_the_tests_read(sdist):
    tree, members, _ = sdist
    for needed in ("LICENSE", "README.md", "pyproject.toml", "conftest.py", "MANIFEST.in",
                   "src/chainrule/__init__.py", "tests/_inputs.py", "tests/mpi_scripts/conftest.py",
                   "docs/explain-tour.png"):
        assert needed in members, f"the sdist lacks {needed}"
    for folder in NEEDED_DIRS:
        files = {p.relative_to(tree).as_posix() for p in (tree / folder).rglob("*") if p.is_file()}
        assert files, f"nothing in {folder}/"
        missing = sorted(files - members)
        assert not missing, f"the sdist lacks {missing[:10]}"


def test_sdist_metadata(sdist):
    _, _, meta = sdist
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in meta.get_all("License-File")
    classifiers = meta.get_all("Classifier")
    assert "Programming Language :: Python :: 3.10" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: the expression only
    assert meta["Version"] == chainrule.__version__
    assert meta["Requires-Python"] == ">=3.10"


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"chainrule {chainrule.__version__}"), out
    assert version().startswith(chainrule.__version__)
