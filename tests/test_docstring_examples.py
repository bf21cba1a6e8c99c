"""Every public name has a docstring with a runnable example (a ``>>>`` doctest).

The public surface walked here: ``cr.__all__``; ``chainrule.numpy`` with ``linalg`` and
``special``; ``cr.nn`` with ``functional`` and ``init``, and the methods of ``cr.nn.Module``;
``cr.optim``, ``cr.pinn``, ``cr.explain``, ``cr.testing``, ``cr.distributed``,
``cr.autograd``, ``cr.forward_ad``; and every public attribute of ``cr.Tensor``, and of the
classes users call methods on most (``cr.optim.Optimizer``, ``cr.explain.Explanation``,
``cr.custom_vjp``, ``cr.custom_jvp``).

pytest's ``--doctest-modules`` runs the examples it finds by walking each module. It
misses some (the docstrings of ``__slots__``, such as ``Tensor.grad``'s, and any function
whose ``__module__`` does not match where it was defined); those are run here, with the
same option flags, so every example on the site is checked.
"""
from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import chainrule as cr

NAMESPACES = ["chainrule", "chainrule.numpy", "chainrule.numpy.linalg", "chainrule.numpy.special",
              "chainrule.nn", "chainrule.nn.functional", "chainrule.nn.init", "chainrule.optim",
              "chainrule.pinn", "chainrule.explain", "chainrule.testing", "chainrule.distributed",
              "chainrule.autograd", "chainrule.forward_ad"]
CLASSES = {"chainrule.Tensor": cr.Tensor, "chainrule.nn.Module": cr.nn.Module,
           "chainrule.optim.Optimizer": cr.optim.Optimizer, "chainrule.custom_vjp": cr.custom_vjp,
           "chainrule.custom_jvp": cr.custom_jvp,
           "chainrule.explain.Explanation": importlib.import_module("chainrule.explain").Explanation}

#: Public names that need no example of their own, and why.
EXEMPT = {
    # namespaces: their own names are walked one by one (and each module's docstring has an example)
    **{f"chainrule.{m}": "a namespace, walked name by name"
       for m in ("autograd", "forward_ad", "testing", "nn", "optim", "pinn", "distributed")},
    "chainrule.numpy.linalg": "a namespace, walked name by name",
    "chainrule.numpy.special": "a namespace, walked name by name",
    # constants
    "chainrule.optim.LBFGS_PINN": "a dict of L-BFGS settings (its docstring is dict's); cr.pinn.fit's example uses it",
    "chainrule.optim.BFGS_PINN": "a dict of BFGS settings (its docstring is dict's); cr.pinn.fit's example uses it",
    "chainrule.optim.BFGS_MAX_PARAMS": "an int (the largest problem dense BFGS takes)",
    "chainrule.pinn.METHODS": "a tuple of the sampling methods' names",
    "chainrule.nn.Module.training": "a bool attribute (train()/eval() set it; their examples show it)",
    "chainrule.custom_vjp.kind": "a class constant: the decorator's name in error messages",
    "chainrule.custom_jvp.kind": "a class constant: the decorator's name in error messages",
    "chainrule.FusionWarning": "a warning category, raised by cr.jit (docs/jit-compiler.md shows when)",
}


def public_names():
    """``(dotted name, object)`` of every public name, each object once."""
    seen, out = set(), []
    for ns in NAMESPACES:
        mod = importlib.import_module(ns)
        for name in mod.__all__:
            obj = getattr(mod, name)
            out.append((f"{ns}.{name}", obj))
    for cname, cls in CLASSES.items():
        for name in sorted(dir(cls)):
            if not name.startswith("_"):
                out.append((f"{cname}.{name}", inspect.getattr_static(cls, name)))
    result = []
    for name, obj in out:
        key = id(obj) if not isinstance(obj, (int, float, str, bool, tuple, dict)) else name
        if key not in seen:
            seen.add(key)
            result.append((name, obj))
    return result


PUBLIC = public_names()


def docstring(obj):
    """The object's own docstring ("" for a plain value: ``getdoc(5)`` would give int's)."""
    if isinstance(obj, (int, float, complex, str, bytes, tuple, list, dict, set, frozenset, type(None))):
        return ""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    return inspect.getdoc(obj) or ""


def collected_docstrings():
    """The docstrings pytest's ``--doctest-modules`` runs: what doctest finds in each module."""
    found, finder = set(), doctest.DocTestFinder()
    for info in pkgutil.walk_packages(cr.__path__, "chainrule."):
        if info.name.endswith("__main__"):
            continue
        for test in finder.find(importlib.import_module(info.name)):
            if test.examples:
                found.add(test.docstring)
    for test in finder.find(cr):
        found.add(test.docstring)
    return found


def test_the_walk_sees_the_whole_surface():
    names = dict(PUBLIC)
    assert len(names) > 250
    for name in ("chainrule.grad", "chainrule.numpy.sin", "chainrule.numpy.linalg.inv", "chainrule.Tensor.grad",
                 "chainrule.Tensor.backward", "chainrule.nn.Module.parameters", "chainrule.pinn.fit"):
        assert name in names, name


def test_the_exemptions_are_public_names():
    assert set(EXEMPT) <= {n for n, _ in PUBLIC} | {f"chainrule.{m}" for m in ("nn", "optim")}


@pytest.mark.parametrize("name,obj", [(n, o) for n, o in PUBLIC if n not in EXEMPT], ids=lambda v: v if isinstance(v, str) else "")
def test_every_public_name_has_an_example(name, obj):
    doc = docstring(obj)
    assert doc, f"{name} has no docstring: give it one, with a >>> example"
    assert ">>>" in doc, f"{name}'s docstring has no >>> example: add a short runnable one"


def _runner():
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    try:  # pytest's checker, for the project's NUMBER flag (pyproject.toml's doctest_optionflags)
        from _pytest.doctest import _get_checker, _get_number_flag
        return doctest.DocTestRunner(checker=_get_checker(), optionflags=flags | _get_number_flag())
    except ImportError:
        return doctest.DocTestRunner(optionflags=flags)


def test_the_examples_doctest_misses_run():
    collected = collected_docstrings()
    missed = [(n, o) for n, o in PUBLIC if ">>>" in docstring(o)
              and (getattr(o, "__doc__", None) or "") not in collected and docstring(o) not in collected]
    failures = []
    for name, obj in missed:
        runner = _runner()
        test = doctest.DocTestParser().get_doctest(docstring(obj), {}, name, None, 0)
        result = runner.run(test, out=lambda s: failures.append(f"{name}:\n{s}"), clear_globs=True)
        assert result.attempted, name
    assert not failures, "\n".join(failures)
    assert "chainrule.Tensor.grad" in [n for n, _ in missed]  # __slots__ docstrings: doctest skips them
