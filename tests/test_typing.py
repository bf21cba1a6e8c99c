"""Static types: the package is marked typed, the stubs of ``chainrule.numpy`` match its names,
and ``mypy --strict`` passes on examples/typed_example.py with types that catch mistakes."""
from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import chainrule.numpy as cnp

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_numpy_stubs", ROOT / "tools" / "gen_numpy_stubs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_is_marked_typed():
    assert (SRC / "chainrule" / "py.typed").exists()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text(), "pyproject.toml must ship py.typed"


def test_the_numpy_stubs_are_up_to_date():
    stale = [str(p.relative_to(ROOT)) for p, text in _generator().stubs().items()
             if not p.exists() or p.read_text() != text]
    assert not stale, f"{stale} are out of date: run python tools/gen_numpy_stubs.py"


def _declared(path):
    """The public names a stub declares: functions, classes and ``import x as x`` re-exports."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname for a in node.names if a.asname == a.name)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("module", [cnp, cnp.linalg, cnp.special], ids=lambda m: m.__name__)
def test_every_public_name_has_a_declaration_and_no_more(module):
    path = SRC / "chainrule" / "numpy" / ("__init__.pyi" if module is cnp else f"{module.__name__.split('.')[-1]}.pyi")
    declared = _declared(path)
    constants = {n for n in ("e", "pi", "inf", "nan", "newaxis", "float32", "float64") if module is cnp}
    assert set(module.__all__) <= declared, f"missing from {path.name}: {sorted(set(module.__all__) - declared)}"
    assert declared <= set(module.__all__) | constants, f"extra in {path.name}: {sorted(declared - set(module.__all__))}"


def _untyped(f):
    """True for a function with no annotation at all: ``mypy --strict`` refuses a call to it."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):  # a builtin: typeshed types it
        return False
    return sig.return_annotation is sig.empty and all(p.annotation is p.empty for p in sig.parameters.values())


def test_every_public_function_and_method_is_annotated():
    import chainrule as cr
    untyped = []
    for ns in (cr, cr.nn, cr.nn.functional, cr.nn.init, cr.optim, cr.pinn, cr.distributed, cr.forward_ad,
               cr.autograd, cr.testing):
        for name in ns.__all__:
            obj = getattr(ns, name)
            if inspect.isclass(obj):
                members = {f"{name}.{m}": v for m, v in vars(obj).items()
                           if inspect.isfunction(v) and (not m.startswith("_") or m in ("__init__", "__call__"))}
            elif callable(obj) and not inspect.ismodule(obj):
                members = {name: obj}
            else:
                continue
            untyped += [f"{ns.__name__}.{k}" for k, v in members.items() if _untyped(v)]
    assert not untyped, f"annotate these (a call from --strict code is an error): {untyped}"


def _mypy(tmp_path, *files):
    """``mypy --strict`` on ``files``, reading this checkout's chainrule as an installed package would be read
    (its own modules are analysed, their errors not reported: ``--follow-imports=silent``)."""
    env = dict(os.environ, MYPYPATH=str(SRC))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
         "--cache-dir", str(tmp_path / "mypy_cache"), *map(str, files)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


GOOD = """
from typing import Callable
import numpy as np
import chainrule as cr
import chainrule.numpy as cnp
from chainrule.typing import Array

def f(w: Array, x: Array) -> Array:
    return cnp.sum(cnp.tanh(w * x) ** 2)

jitted: Callable[[Array, Array], Array] = cr.jit(f)       # jit keeps f's type
vmapped: Callable[[Array, Array], Array] = cr.vmap(f)
value: Array = cr.value_and_grad(f)(np.ones(2), np.ones(2))[0]
t = cr.tensor([1.0, 2.0], requires_grad=True)
cnp.sum(cnp.sin(t) * t).backward()                           # the tape: a Tensor stays a Tensor
(np.ones(2) * t + cnp.linalg.norm(t)).sum().backward()       # NumPy defers to a Tensor, as at run time
grad_t: cr.Tensor | None = t.grad

def frozen(x: Array) -> Array:
    with cr.no_grad():                     # a context that does not swallow exceptions
        return cr.stop_gradient(x)

core = cr.optim.adam(1e-3)                 # the public API is annotated: no untyped calls
state = core.init({"w": np.ones(2)})
model = cr.nn.Sequential(cr.nn.Linear(2, 4), cr.nn.Tanh(), cr.nn.Dropout(0.1), cr.nn.Linear(4, 1))
sched = cr.optim.StepLR(cr.optim.SGD(model, lr=0.1), step_size=10)
cr.testing.check_grads(f, (np.ones(2), np.ones(2)), order=1)
lap = cr.laplacian(f)(np.ones(2), np.ones(2))
"""

BAD = """
from typing import Callable
import numpy as np
import chainrule as cr
from chainrule.typing import Array

def f(w: Array, x: Array) -> Array:
    return w * x

one_arg: Callable[[Array], Array] = cr.jit(f)  # error: f takes two
cr.grad(f)(np.ones(2))                        # error: missing x
cr.jit(f)(np.ones(2), np.ones(2), 3)          # error: too many arguments
"""


def test_mypy_strict_passes_on_the_typed_example_and_catches_mistakes(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]' installs it)")
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(textwrap.dedent(GOOD))
    bad.write_text(textwrap.dedent(BAD))
    run = _mypy(tmp_path, ROOT / "examples" / "typed_example.py", good)
    assert run.returncode == 0, f"mypy --strict failed:\n{run.stdout}{run.stderr}"
    run = _mypy(tmp_path, bad)  # the cache is warm now
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert sorted({int(line.split(":")[1]) for line in errors}) == [10, 11, 12], run.stdout + run.stderr
