"""Every script in examples/ runs to completion and prints something."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: the arguments of a script's short run, where its default is long
ARGS = {"pinn_burgers.py": ["--quick", "--out", "none"]}


def test_there_are_examples():
    assert EXAMPLES, f"no scripts found in {ROOT / 'examples'}"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script):
    proc = subprocess.run([sys.executable, str(script), *ARGS.get(script.name, [])], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, (
        f"{script.name} exited with {proc.returncode}\n--- stdout ---\n{proc.stdout}"
        f"\n--- stderr ---\n{proc.stderr}")
    assert proc.stdout.strip(), f"{script.name} printed nothing"
