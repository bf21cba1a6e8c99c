"""Every convention docs/conventions.md marks "as JAX", checked against JAX itself (x64).

Each case is a function and an edge point (a tie, a zero, a bound, an infinity); the
gradient (reverse mode) and the JVP along every coordinate direction (forward mode) must
equal JAX's.  The documented deviations from JAX are tested in tests/test_edges.py.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

INF = np.inf
A = np.array


def _relu_jax(x):
    return jax.nn.relu(x)


# (convention, chainrule f, jax f, args): f maps float arrays to a scalar
CASES = [
    ("maximum tie", lambda x, y: cnp.maximum(x, y), jnp.maximum, (1.5, 1.5)),
    ("minimum tie", lambda x, y: cnp.minimum(x, y), jnp.minimum, (1.5, 1.5)),
    ("maximum tie, broadcast", lambda x, y: cnp.sum(cnp.maximum(x, y)), lambda x, y: jnp.sum(jnp.maximum(x, y)),
     (A([1.0, 2.0, 3.0]), 2.0)),
    ("max ties", cnp.max, jnp.max, (A([1.0, 3.0, 3.0]),)),
    ("max ties along an axis", lambda x: cnp.sum(cnp.max(x, axis=1)), lambda x: jnp.sum(jnp.max(x, axis=1)),
     (A([[1.0, 1.0], [2.0, 0.0]]),)),
    ("min ties", cnp.min, jnp.min, (A([0.0, 0.0, 1.0]),)),
    ("sqrt'(0) = inf", cnp.sqrt, jnp.sqrt, (0.0,)),
    ("x ** 0.5 at 0", lambda x: x ** 0.5, lambda x: x ** 0.5, (0.0,)),
    ("abs'(0) = 1", lambda x: cnp.sum(cnp.abs(x)), lambda x: jnp.sum(jnp.abs(x)), (A([-2.0, 0.0, -0.0, 3.0]),)),
    ("norm(x, 1) at zeros", lambda x: cnp.linalg.norm(x, 1), lambda x: jnp.linalg.norm(x, 1),
     (A([0.0, 1.0, -2.0, 0.0]),)),
    ("norm(x, inf) at ties", lambda x: cnp.linalg.norm(x, INF), lambda x: jnp.linalg.norm(x, INF),
     (A([0.0, 2.0, -2.0]),)),
    ("norm(x, -inf) at zeros", lambda x: cnp.linalg.norm(x, -INF), lambda x: jnp.linalg.norm(x, -INF),
     (A([0.0, 0.0, 3.0]),)),
    ("matrix norm(x, 1) at zeros", lambda x: cnp.linalg.norm(x, 1), lambda x: jnp.linalg.norm(x, 1),
     (A([[0.0, 1.0], [0.0, -1.0]]),)),
    ("clip at its bounds", lambda x: cnp.sum(cnp.clip(x, 0.0, 1.0)), lambda x: jnp.sum(jnp.clip(x, 0.0, 1.0)),
     (A([-1.0, 0.0, 0.5, 1.0, 2.0]),)),
    ("rounding", lambda x: cnp.sum(cnp.floor(x) + cnp.ceil(x) + cnp.trunc(x) + cnp.round(x, 1) + cnp.sign(x)),
     lambda x: jnp.sum(jnp.floor(x) + jnp.ceil(x) + jnp.trunc(x) + jnp.round(x, 1) + jnp.sign(x)),
     (A([2.7, 0.0, -1.5]),)),
    ("x ** y at x = 0", lambda x, y: x ** y, lambda x, y: x ** y, (0.0, 2.0)),
    ("x ** y at x = 0, y = 3", lambda x, y: x ** y, lambda x, y: x ** y, (0.0, 3.0)),
    ("0 ** y", lambda y: 0.0 ** y, lambda y: 0.0 ** y, (3.0,)),
    ("x ** 0 (integer exponent)", lambda x: x ** 0, lambda x: x ** 0, (0.0,)),
    ("x ** y at y = 0", lambda x, y: x ** y, lambda x, y: x ** y, (1.5, 0.0)),
    ("relu at 0", lambda x: cnp.sum(cnp.where(x > 0, x, 0.0)), lambda x: jnp.sum(_relu_jax(x)),
     (A([-1.0, 0.0, 2.0]),)),
    ("nn.functional.relu at 0", lambda x: cnp.sum(cr.nn.functional.relu(x)), lambda x: jnp.sum(_relu_jax(x)),
     (A([-1.0, 0.0, -0.0, 2.0]),)),
    ("comparison as a mask", lambda x: (x > 0) * x, lambda x: (x > 0) * x, (2.0,)),
    ("prod with zeros", cnp.prod, jnp.prod, (A([2.0, 0.0, 3.0]),)),
    ("prod with two zeros", cnp.prod, jnp.prod, (A([2.0, 0.0, 0.0]),)),
    ("stop_gradient", lambda x: x * cr.stop_gradient(x), lambda x: x * jax.lax.stop_gradient(x), (3.0,)),
    ("arctan2(0, 0)", cnp.arctan2, jnp.arctan2, (0.0, 0.0)),
    ("det at a singular matrix", cnp.linalg.det, jnp.linalg.det, (A([[1.0, 2.0], [2.0, 4.0]]),)),
    ("det at zero", cnp.linalg.det, jnp.linalg.det, (A([[0.0, 0.0], [0.0, 0.0]]),)),
    ("eigenvalues at a tie", lambda a: cnp.sum(cnp.linalg.eigh(a)[0] * A([1.0, 1.0])),
     lambda a: jnp.sum(jnp.linalg.eigh(a)[0] * A([1.0, 1.0])), (A([[1.0, 0.0], [0.0, 1.0]]),)),
    ("logaddexp(inf, y), d/dx", lambda x: cnp.logaddexp(x, 1.0), lambda x: jnp.logaddexp(x, 1.0), (INF,)),
    ("logaddexp(-inf, y)", cnp.logaddexp, jnp.logaddexp, (-INF, 1.0)),
    ("logsumexp with -inf", cnp.special.logsumexp, jax.scipy.special.logsumexp, (A([2.0, -INF, 0.5]),)),
    ("logsumexp all -inf", cnp.special.logsumexp, jax.scipy.special.logsumexp, (A([-INF, -INF]),)),
    ("sort with ties", lambda x: cnp.sum(cnp.sort(x) * A([1.0, 10.0, 100.0])),
     lambda x: jnp.sum(jnp.sort(x) * A([1.0, 10.0, 100.0])), (A([3.0, 1.0, 2.0]),)),
]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _basis(args):
    """Every coordinate direction of ``args``: one tuple of tangents per direction."""
    for i, a in enumerate(args):
        a = np.asarray(a, dtype=float)
        for idx in np.ndindex(*a.shape):
            t = [np.zeros_like(np.asarray(b, dtype=float)) for b in args]
            t[i][idx] = 1.0
            yield tuple(x if np.ndim(x) else float(x) for x in t)


@pytest.mark.parametrize("name, f, jf, args", CASES, ids=[c[0] for c in CASES])
def test_convention_matches_jax(name, f, jf, args):
    args = tuple(np.asarray(a, dtype=float) if np.ndim(a) else float(a) for a in args)
    argnums = tuple(range(len(args)))
    np.testing.assert_allclose(f(*args), jf(*args), rtol=1e-14, err_msg=f"{name}: value")
    got = cr.grad(f, argnums=argnums)(*args)
    want = jax.grad(jf, argnums=argnums)(*args)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-14, err_msg=f"{name}: grad, argument {i}")
    for t in _basis(args):
        np.testing.assert_allclose(cr.jvp(f, args, t)[1], np.asarray(jax.jvp(jf, args, t)[1]), rtol=1e-14,
                                   err_msg=f"{name}: jvp along {t}")


def test_every_as_jax_section_of_the_docs_is_covered():
    """A new "(as JAX)" in docs/conventions.md must come with a case here."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "conventions.md").read_text()
    sections = re.split(r"\n## ", text)
    claimed = [s.splitlines()[0] for s in sections[1:] if "as JAX" in s]
    covered = {
        "Ties in `maximum`, `minimum` and `max`": ("maximum tie", "max ties"),
        "`sqrt'(0) = inf`": ("sqrt'(0) = inf",),
        "`abs'(0) = 1`, and `clip` at its bounds": ("abs'(0) = 1", "clip at its bounds", "norm(x, inf) at ties"),
        "Rounding and `sign` have zero derivative": ("rounding",),
        "Powers at zero": ("x ** y at x = 0", "x ** 0 (integer exponent)", "x ** y at y = 0"),
        "Infinities in `logaddexp`, `logsumexp`, `cross_entropy`": ("logaddexp(inf, y), d/dx", "logsumexp all -inf"),
        "`where` sends the gradient only to the selected branch": ("relu at 0",),
        "Products with zeros, norms at zero, repeated eigenvalues": ("prod with zeros", "arctan2(0, 0)"),
        "Linear algebra at singular matrices": ("det at a singular matrix", "det at zero", "eigenvalues at a tie"),
    }
    names = {c[0] for c in CASES}
    for title in claimed:
        assert title in covered, f"docs/conventions.md section {title!r} says 'as JAX' but has no JAX case here"
        assert set(covered[title]) <= names
