"""Pytrees: nested tuples, lists, dicts (and namedtuples) of arrays.

Transforms flatten their inputs and outputs at the API boundary, so the core
only ever sees flat lists of leaves.  Dict keys are ordered by sorting, as
JAX does, so two dicts with the same keys flatten alike.  ``None`` is an
empty subtree.
"""
from __future__ import annotations

__all__ = ["tree_flatten", "tree_unflatten", "TreeDef"]


class TreeDef:
    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind, meta, children):
        self.kind = kind          # "leaf", "none", tuple, list, dict or a namedtuple class
        self.meta = meta          # dict keys
        self.children = children  # child TreeDefs

    def paths(self, prefix=""):
        """The access path of every leaf, e.g. ``["['W0']", "['b0']"]`` or ``['[1][0]']``."""
        if self.kind == "leaf":
            return [prefix]
        if self.kind is dict:
            keys = [f"[{k!r}]" for k in self.meta]
        else:
            keys = [f"[{i}]" for i in range(len(self.children))]
        return [p for k, c in zip(keys, self.children) for p in c.paths(prefix + k)]

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind and self.meta == other.meta
                and self.children == other.children)

    def __hash__(self):
        return hash((str(self.kind), self.meta, self.children))

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind is dict:
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children)) + "}"
        inner = ", ".join(map(repr, self.children))
        return f"[{inner}]" if self.kind is list else f"({inner})"


_LEAF = TreeDef("leaf", None, ())


def tree_flatten(tree):
    """``(leaves, treedef)`` for a pytree."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(x, leaves):
    t = type(x)
    if t is tuple or t is list:
        return TreeDef(t, None, tuple(_flatten(c, leaves) for c in x))
    if t is dict:
        keys = tuple(sorted(x))
        return TreeDef(dict, keys, tuple(_flatten(x[k], leaves) for k in keys))
    if x is None:
        return TreeDef("none", None, ())
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # namedtuple
        return TreeDef(t, None, tuple(_flatten(c, leaves) for c in x))
    leaves.append(x)
    return _LEAF


def tree_unflatten(treedef, leaves):
    """The pytree of ``treedef``'s structure holding ``leaves``."""
    return _unflatten(treedef, iter(leaves))


def _unflatten(td, it):
    k = td.kind
    if k == "leaf":
        return next(it)
    if k == "none":
        return None
    children = [_unflatten(c, it) for c in td.children]
    if k is dict:
        return dict(zip(td.meta, children))
    if k is tuple or k is list:
        return k(children)
    return k(*children)
