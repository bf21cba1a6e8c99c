"""Pytrees nested far deeper than Python's recursion limit work in every transform.

Oracle: hand-derived derivatives of sum(sin(x)**2) (d/dx = sin 2x, d2/dx2 = 2 cos 2x).
"""
import collections
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.pytree import tree_flatten, tree_unflatten

DEPTH = 5000
assert DEPTH > sys.getrecursionlimit()
KINDS = ("list", "tuple", "dict")


def nest(x, kind, depth=DEPTH):
    for i in range(depth):
        k = KINDS[i % 3] if kind == "mixed" else kind
        x = [x] if k == "list" else (x,) if k == "tuple" else {"k": x}
    return x


def inner(t):
    while isinstance(t, (list, tuple, dict)):
        t = t["k"] if isinstance(t, dict) else t[0]
    return t


def f(tree):
    return cnp.sum(cnp.sin(inner(tree)) ** 2)


X = np.array([0.5, 2.0])


@pytest.mark.parametrize("kind", KINDS + ("mixed",))
def test_grad_of_a_deep_tree(kind):
    g = cr.grad(f)(nest(X, kind))
    _, ref_tree = tree_flatten(nest(X, kind))
    assert tree_flatten(g)[1] == ref_tree
    np.testing.assert_allclose(inner(g), np.sin(2 * X), rtol=1e-14)


def test_jvp_and_hessian_of_a_deep_tree():
    tree = nest(X, "mixed")
    y, t = cr.jvp(f, (tree,), (nest(np.array([1.0, -1.0]), "mixed"),))
    assert y == pytest.approx(np.sum(np.sin(X) ** 2))
    assert t == pytest.approx(np.sin(1.0) - np.sin(4.0))
    h = cr.hessian(f)(nest(X, "mixed", 1200))
    np.testing.assert_allclose(inner(h), np.diag(2 * np.cos(2 * X)), rtol=1e-13)


def test_vmap_of_a_deep_tree_with_a_deep_in_axes_prefix():
    xs = np.arange(6.0).reshape(3, 2)
    out = cr.vmap(lambda t: cnp.sum(inner(t) ** 2))(nest(xs, "mixed"))
    np.testing.assert_allclose(out, np.sum(xs ** 2, axis=1))
    out = cr.vmap(lambda t: cnp.sum(inner(t) ** 2), in_axes=(nest(1, "list"),))(nest(xs.T, "list"))
    np.testing.assert_allclose(out, np.sum(xs ** 2, axis=1))


def test_deep_in_axes_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="does not match the value's structure"):
        cr.vmap(lambda t: cnp.sum(inner(t)), in_axes=(nest((0, 0), "list"),))(nest(np.ones(3), "list"))


def test_treedef_walks_are_iterative():
    Pair = collections.namedtuple("Pair", "a b")
    tree = nest(Pair(X, {"z": None, "y": [X, ()]}), "mixed")
    leaves, td = tree_flatten(tree)
    assert len(leaves) == td.num_leaves == 2 and len(td.paths()) == 2
    path = "".join("['k']" if KINDS[i % 3] == "dict" else "[0]" for i in reversed(range(DEPTH)))
    assert td.paths() == [path + "[0]", path + "[1]['y'][0]"]
    assert tree_unflatten(td, leaves) is not tree
    again = tree_flatten(tree_unflatten(td, leaves))[1]
    assert again == td and hash(again) == hash(td)
    assert td != tree_flatten(nest(X, "mixed"))[1]
    text = repr(td)
    assert text.startswith("([{'k': ([{'k': ") and "(*, {'y': [*, ()], 'z': None})" in text
    assert text.endswith("}])") and len(text) > 3 * DEPTH
    assert repr(tree_flatten(Pair(1, {"b": None, "a": [2, ()]}))[1]) == "(*, {'a': [*, ()], 'b': None})"


def test_a_tree_that_contains_itself_is_refused():
    a = [X]
    a.append({"k": a})
    with pytest.raises(ValueError, match="contains itself"):
        cr.grad(lambda t: cnp.sum(t[0]))(a)
    shared = [X, X]
    assert len(tree_flatten([shared, shared])[0]) == 4   # sharing without a cycle is fine


def test_explain_names_leaves_of_a_deep_tree():
    e = cr.explain(f, nest(X, "list", 2000))
    assert "[0]" * 2000 in str(e)
