"""Pytrees: nested tuples, lists, dicts (and namedtuples) of arrays.

Transforms flatten their inputs and outputs at the API boundary, so the core
only ever sees flat lists of leaves.  Dict keys are ordered by sorting, as
JAX does, so two dicts with the same keys flatten alike.  ``None`` is an
empty subtree.

Every walk here uses an explicit stack, never recursion, so a tree nested
deeper than Python's recursion limit works like any other (as the backward
pass does for deep graphs); a tree that contains itself is refused.
"""
from __future__ import annotations

import numpy as np

__all__ = ["tree_flatten", "tree_unflatten", "TreeDef"]


class TreeDef:
    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind, meta, children):
        self.kind = kind          # "leaf", "none", tuple, list, dict or a namedtuple class
        self.meta = meta          # dict keys
        self.children = children  # child TreeDefs

    def _keys(self):
        if self.kind is dict:
            return [f"[{k!r}]" for k in self.meta]
        return [f"[{i}]" for i in range(len(self.children))]

    def paths(self, prefix=""):
        """The access path of every leaf, e.g. ``["['W0']", "['b0']"]`` or ``['[1][0]']``."""
        out, todo = [], [(self, prefix)]
        while todo:
            td, p = todo.pop()
            if td.kind == "leaf":
                out.append(p)
            else:
                todo.extend((c, p + k) for k, c in zip(reversed(td._keys()), reversed(td.children)))
        return out

    @property
    def num_leaves(self):
        n, todo = 0, [self]
        while todo:
            td = todo.pop()
            if td.kind == "leaf":
                n += 1
            else:
                todo.extend(td.children)
        return n

    def __eq__(self, other):
        todo = [(self, other)]
        while todo:
            a, b = todo.pop()
            if a is b:
                continue
            if not (isinstance(b, TreeDef) and a.kind == b.kind and a.meta == b.meta
                    and len(a.children) == len(b.children)):
                return False
            todo.extend(zip(a.children, b.children))
        return True

    def __hash__(self):
        tokens, todo = [], [self]
        while todo:
            td = todo.pop()
            tokens.append((str(td.kind), td.meta, len(td.children)))
            todo.extend(td.children)
        return hash(tuple(tokens))

    def __repr__(self):
        out, todo = [], [self]
        while todo:
            x = todo.pop()
            if type(x) is str:
                out.append(x)
            elif x.kind == "leaf":
                out.append("*")
            elif x.kind == "none":
                out.append("None")
            else:
                k = x.kind
                labels = [f"{m!r}: " for m in x.meta] if k is dict else [""] * len(x.children)
                items = []
                for i, (label, c) in enumerate(zip(labels, x.children)):
                    items += [", ", label, c] if i else [label, c]
                opening, closing = ("{", "}") if k is dict else ("[", "]") if k is list else ("(", ")")
                out.append(opening)
                todo.append(closing)
                todo.extend(reversed(items))
        return "".join(out)


_LEAF = TreeDef("leaf", None, ())
#: Types that are always leaves, tested first (an exact type, not a subclass: a namedtuple is a tuple)
_COMMON_LEAVES = frozenset({np.ndarray, float, int, np.float64, np.float32})
_NONE = TreeDef("none", None, ())


def tree_flatten(tree):
    """``(leaves, treedef)`` for a pytree."""
    if type(tree) in _COMMON_LEAVES:  # the usual single argument: no walk
        return [tree], _LEAF
    leaves, built = [], []
    todo = [(False, tree)]
    open_ids = set()  # containers entered and not yet built: meeting one again is a cycle
    while todo:
        build, x = todo.pop()
        if build:
            kind, meta, n, key = x
            open_ids.discard(key)
            children = tuple(built[len(built) - n:])
            del built[len(built) - n:]
            built.append(TreeDef(kind, meta, children))
            continue
        t = type(x)
        if t is tuple or t is list or (isinstance(x, tuple) and hasattr(x, "_fields")):
            meta, kids = None, x
        elif t is dict:
            meta = tuple(sorted(x))
            kids = [x[k] for k in meta]
        elif x is None:
            built.append(_NONE)
            continue
        else:
            leaves.append(x)
            built.append(_LEAF)
            continue
        if not kids:
            built.append(TreeDef(t, meta, ()))
            continue
        if id(x) in open_ids:
            raise ValueError(f"pytree: a {t.__name__} contains itself (a reference cycle), so it has "
                             f"no finite structure; pass a tree without cycles")
        open_ids.add(id(x))
        todo.append((True, (t, meta, len(kids), id(x))))
        todo.extend((False, c) for c in reversed(kids))
    return leaves, built[0]


def tree_unflatten(treedef, leaves):
    """The pytree of ``treedef``'s structure holding ``leaves``."""
    if treedef.kind == "leaf":
        return next(iter(leaves))
    it = iter(leaves)
    built = []
    todo = [(False, treedef)]
    while todo:
        build, td = todo.pop()
        k = td.kind
        if k == "leaf":
            built.append(next(it))
        elif k == "none":
            built.append(None)
        elif build or not td.children:
            n = len(td.children)
            children = built[len(built) - n:]
            del built[len(built) - n:]
            built.append(dict(zip(td.meta, children)) if k is dict
                         else k(children) if k is tuple or k is list else k(*children))
        else:
            todo.append((True, td))
            todo.extend((False, c) for c in reversed(td.children))
    return built[0]
