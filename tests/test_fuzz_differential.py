"""Property-based differential test: random compositions of the ops tables at edge points.

Hypothesis draws compositions of 1-4 operations from the registry in tests/_fuzz.py
(elementwise, special, nn, reductions, shape, indexing, joining, linear algebra) on
inputs that mix normals with zeros, -0, ties, +-inf, +-1e300, +-1 and singular matrices,
with repeated indices for take / getitem / at[]. Each composition is checked in every mode:

- the value under ``jvp`` against the plain (NumPy) call;
- ``<w, J t>`` by ``jvp`` against ``<vjp(w), t>`` (where finite);
- the Hessian-vector product reverse-over-reverse against forward-over-reverse;
- ``vmap(grad)`` and ``vmap(f)`` against a loop;
- the tape (``cr.tensor(...).backward()``) against ``cr.grad``;
- and, with JAX installed, value, ``jvp``, ``grad`` and the Hessian-vector product against JAX.

Steps that hit an issue item still open (tests/_fuzz.py ``KNOWN``) are kept out of the
main properties and checked by ``test_known_issue``, an xfail(strict=False) per item: flip
it to a plain test when the item's fix is merged.

CI runs it with a fixed derandomized budget; set ``CHAINRULE_FUZZ_EXAMPLES`` to scale up
(docs/testing.md).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

import _fuzz
import chainrule as cr
import chainrule.numpy as cnp

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "0"))
#: compositions per family in CI, checked across chainrule's modes and (fewer: each is a compile) with JAX
BUDGET = {"elementwise": 450, "reduction": 300, "shape": 300, "indexing": 300, "joining": 150, "linalg": 300}
JAX_BUDGET = {"elementwise": 60, "reduction": 40, "shape": 40, "indexing": 40, "joining": 30, "linalg": 40}
KNOWN_BUDGET = 20


def _settings(n, shrink=True):
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(max_examples=EXAMPLES or n, deadline=None, derandomize=not EXAMPLES, database=None,
                    suppress_health_check=list(HealthCheck), phases=phases)


def _property(n, modes, family=None, force=None, allow=()):
    def run(prog):
        _fuzz.Checker(prog).run(modes)
    if force:  # its smallest reproducer first; an expected failure is not worth shrinking
        run = example(prog=_fuzz.KNOWN_EXAMPLES[force])(run)
    return _settings(n, shrink=force is None)(given(prog=_fuzz.programs(family=family, force=force,
                                                                        allow=allow))(run))


@pytest.mark.parametrize("family", _fuzz.FAMILIES)
def test_modes_agree(family):
    """chainrule against itself: jvp, vjp, both Hessian-vector products, vmap, the tape."""
    _property(BUDGET[family], _fuzz.MODES, family)()


@pytest.mark.parametrize("family", _fuzz.FAMILIES)
def test_agrees_with_jax(family):
    """The same, and value, jvp, grad, Hessian-vector product against JAX (one compile per program)."""
    pytest.importorskip("jax")
    _property(JAX_BUDGET[family], _fuzz.MODES + ["jax"], family)()


@pytest.mark.parametrize("item", [pytest.param(item, marks=pytest.mark.xfail(reason=item, strict=False))
                                  for item in _fuzz.KNOWN])
def test_known_issue(item):
    """Compositions whose first step hits the item; passes once the fix is merged."""
    modes = _fuzz.MODES + (["jax"] if _fuzz.jax is not None else [])
    _property(KNOWN_BUDGET, modes, force=item, allow=(item,))()


@pytest.mark.parametrize("f", ["logaddexp", "logaddexp2"])
def test_logaddexp_at_infinity(f):
    """By hand (JAX 0.10.2 is wrong here: d/dy logaddexp(inf, 1) = e): the infinite argument takes it all."""
    f = getattr(cnp, f)
    with np.errstate(all="ignore"):
        for x, y, dx, dy in [(np.inf, 1.0, 1.0, 0.0), (1.0, np.inf, 0.0, 1.0), (-np.inf, 1.0, 0.0, 1.0)]:
            assert cr.grad(f, argnums=(0, 1))(x, y) == (dx, dy)
            assert cr.jvp(f, (x, y), (2.0, 3.0))[1] == 2.0 * dx + 3.0 * dy
            assert cr.hessian(lambda v: f(v[0], v[1]))(np.array([x, y])).tolist() == [[0.0, 0.0], [0.0, 0.0]]
        # the program the fuzzer draws, in every mode
        _fuzz.Checker(_fuzz.program(([np.inf, 0.5], 1.0), ("logaddexp", (0, 1), {}))).run(_fuzz.MODES)


def test_registry_covers_the_namespaces():
    """Every differentiable function of chainrule.numpy, .special and .linalg is in the fuzzer's registry."""
    from test_ops import NOT_DIFFERENTIABLE

    sources = " ".join(o.cr for o in _fuzz.OPS)
    names = {f"cnp.{n}" for n in cnp.__all__ if callable(getattr(cnp, n)) and n not in NOT_DIFFERENTIABLE}
    names |= {f"cnp.special.{n}" for n in cnp.special.__all__} | {f"cnp.linalg.{n}" for n in cnp.linalg.__all__}
    not_fuzzed = {  # reason each is left out
        "cnp.amax", "cnp.amin", "cnp.true_divide", "cnp.hstack", "cnp.vstack",  # aliases of fuzzed ones
        "cnp.concat", "cnp.permute_dims", "cnp.pow", "cnp.asin", "cnp.acos", "cnp.atan", "cnp.atan2",
        "cnp.asinh", "cnp.acosh", "cnp.atanh", "cnp.matrix_transpose",  # the array API's names for them
        "cnp.astype", "cnp.argmax", "cnp.argmin", "cnp.argsort",  # no derivative to compare
        "cnp.arange", "cnp.linspace", "cnp.eye", "cnp.identity", "cnp.full", "cnp.full_like",  # creation
    }
    missing = {n for n in names - not_fuzzed if n + "(" not in sources}
    assert not missing, f"add these to OPS in tests/_fuzz.py: {sorted(missing)}"
