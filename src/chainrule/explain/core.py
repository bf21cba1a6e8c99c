"""``cr.explain``: the chain rule, step by step, read off the engine's own tape.

``explain(f, *args)`` wraps every floating input in a reverse-mode box at a
fresh level (as ``cr.vjp`` does), runs ``f`` to record the graph, and runs
the engine's :func:`backward_pass` with an ``on_edge`` hook.  The forward
steps are the recorded primitives in topological order; the backward steps
are the edges exactly as the engine ran them, each with the cotangent the
primitive's own VJP rule produced.  Nothing is differentiated twice: this
module only names the nodes and writes down what happened.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

import re

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, new_level
from chainrule._core.pytree import tree_flatten, tree_unflatten
from chainrule._interpreters.reverse import Tensor, backward_pass, box
from chainrule.jit import inline_jit
from chainrule.explain import notation as nt

__all__ = ["explain", "Explanation", "Step", "Node"]


class Step(NamedTuple):
    """One step of the explanation.

    ``phase`` is ``"forward"`` or ``"backward"``; ``index`` counts from 1
    within the phase; ``node`` is the node whose value (forward) or adjoint
    (backward) the step computes; ``op`` the primitive; ``inputs`` the nodes
    it reads (forward: the primitive's inputs; backward: the node whose
    adjoint flows back along the edge); ``formula`` and ``latex`` the step
    written out; ``value`` the node's value (forward) or its adjoint so far,
    this contribution included (backward).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
    >>> [(s.phase, s.index, s.node, s.op) for s in ex.steps]
    [('forward', 1, 'u', 'multiply'), ('forward', 2, 'f', 'exp'), ('backward', 1, 'u', 'exp'), ('backward', 2, 'x', 'multiply'), ('backward', 3, 'y', 'multiply')]
    >>> ex.steps[3].formula
    'x̄ += ū · ∂u/∂x = 7.389 · y = 14.78   ⇒ ∂f/∂x = 14.78'
    """

    phase: str
    index: int
    node: str
    op: str
    inputs: tuple
    formula: str
    latex: str
    value: Any


class Node:
    """A node of the graph: an input or a primitive's output.

    ``name`` and ``tex`` name it; ``kind`` is ``"input"``, ``"intermediate"`` or
    ``"output"``; ``op`` and ``inputs`` say how it was made; ``value`` and ``adjoint``
    are its numbers.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
    >>> ex.nodes
    {'x': Node('x', input, value=1), 'y': Node('y', input, value=2), 'u': Node('u', intermediate, value=2), 'f': Node('f', output, value=7.389)}
    >>> u = ex.nodes["u"]
    >>> u.op, u.inputs, float(u.adjoint)
    ('multiply', ('x', 'y'), 7.38905609893065)
    """

    __slots__ = ("name", "tex", "kind", "op", "inputs", "value", "adjoint", "wrt", "relevant")

    def __init__(self, name, kind, op, inputs, value):
        self.name, self.tex, self.kind, self.op = name, nt.tex(name), kind, op
        self.inputs, self.value, self.adjoint = inputs, value, None
        self.wrt = self.relevant = False

    def __repr__(self):
        return f"Node({self.name!r}, {self.kind}, value={nt.num(self.value)})"


class _Row(NamedTuple):  # the columns of one step, for the aligned text rendering
    lhs: str
    symbolic: str
    numeric: str
    value: str
    note: str


#: Names for intermediates, in order (no e: it reads as Euler's number; no f: a function).
_LETTERS = "uvpqrstabcdghkmnz"


def explain(f: Callable[..., Any], *args: Any, wrt: Any = None, output: Any = None) -> Explanation:
    """Explain how reverse mode finds the gradient of ``f`` at ``args``, step by step.

    ``f`` returns a scalar.  Every floating input (and every leaf of a pytree
    input) is a named node: named after ``f``'s parameters, or dict keys; for
    a ``cr.nn`` model (anything with ``named_parameters()`` and ``apply``),
    ``explain(model, x)`` names each weight by its module path, and so does
    ``explain(lambda model, x: ..., model, x)`` (the function gets a model
    whose parameters are the nodes; calling it applies them).  ``wrt``
    picks what to differentiate with respect to: argument positions or
    parameter names (default: every input; for a model, its parameters).
    ``output`` names the result (default ``"f"``, or ``"L"`` when an input is called f).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> ex = cr.explain(lambda x, y, w: cnp.exp(x * y) + w, 1.0, 2.0, 3.0, output="L")
    >>> [s.formula for s in ex.steps[:3]]
    ['u = x · y = 1 · 2 = 2', 'v = exp(u) = exp(2) = 7.389', 'L = v + w = 7.389 + 3 = 10.39']
    >>> ex.steps[5].formula
    'ū += v̄ · ∂v/∂u = 1 · exp(u) = 7.389'
    >>> ex.grads["x"], ex.grads["w"]
    (np.float64(14.7781121978613), np.float64(1.0))
    """
    return _Tracer(f, args, wrt, output).run()


class SVG(str):
    """An SVG drawing: a ``str`` (the markup) that Jupyter displays as the drawing (``_repr_svg_``)."""

    __slots__ = ()

    def _repr_svg_(self):
        return str(self)


class LaTeX(str):
    """LaTeX source: a ``str`` (an ``align*`` environment) that Jupyter typesets (``_repr_latex_``).

    Notebooks get it as ``$$\\begin{aligned} ... \\end{aligned}$$``, the form MathJax and
    KaTeX both typeset; ``str()`` stays the ``align*`` source to paste into a document.
    """

    __slots__ = ()

    def _repr_latex_(self):
        return "$$" + str(self).replace("{align*}", "{aligned}") + "$$"


class Explanation:
    """The steps of one forward and backward pass, and renderers for them.

    ``str(ex)`` is the aligned text log; ``ex.latex()``, ``ex.dot()``,
    ``ex.svg()`` and ``ex.html()`` the other views; ``ex.save(path)`` writes
    one chosen by the file's extension.  ``ex.steps`` lists the :class:`Step`
    records, ``ex.nodes`` the graph's nodes by name, ``ex.grads`` the
    gradient of the output with respect to each input, by name; ``ex.local``
    the local derivative on each edge ``(input, node)`` that an adjoint
    flowed along, as text.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> ex = cr.explain(lambda x: cnp.tanh(x) * 2.0, 0.5)
    >>> print(ex.latex().splitlines()[2])
    u &= \\tanh x = 0.4621 \\\\
    >>> ex.dot().splitlines()[-2], ex.svg()[:4], ex.html()[:15]
    ('  "u" -> "f" [label="∂f/∂u = 2", fontsize=10];', '<svg', '<!DOCTYPE html>')
    """

    def __init__(self, nodes, steps, rows, output, value, grads, seed, title, local):
        self.nodes, self.steps, self._rows, self.local = nodes, steps, rows, local
        self.output, self.value, self.grads, self.seed = output, value, grads, seed
        self.title = title
        self.constants = {}  # integer arguments, by name: constants of the graph

    def __str__(self):
        from chainrule.explain.render import text
        return text(self)

    def text(self, collapse=True) -> str:
        """The aligned text log (``str(ex)``).  A pass of more than
        :data:`~chainrule.explain.render.COLLAPSE_ABOVE` steps shows its longest repeated block
        (a loop's steps, a deep network's layers) twice at the start and once at the end, and
        says what it left out; ``collapse=False`` prints every step.

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
        >>> print(ex.text())
        Inputs: x = 1, y = 2
        <BLANKLINE>
        Forward pass: values, in topological order
          1. u = x · y  = 1 · 2  = 2
          2. f = exp(u) = exp(2) = 7.389
        <BLANKLINE>
        Backward pass: adjoints, in reverse order, from the seed f̄ = 1
          1. ū += f̄ · ∂f/∂u = 1 · exp(u) = 7.389
          2. x̄ += ū · ∂u/∂x = 7.389 · y  = 14.78   ⇒ ∂f/∂x = 14.78
          3. ȳ += ū · ∂u/∂y = 7.389 · x  = 7.389   ⇒ ∂f/∂y = 7.389
        <BLANKLINE>
        Gradient of f = 7.389: ∂f/∂x = 14.78, ∂f/∂y = 7.389
        """
        from chainrule.explain.render import text
        return text(self, collapse)

    def __repr__(self):
        return (f"<Explanation of {self.output}: {sum(s.phase == 'forward' for s in self.steps)} "
                f"forward and {sum(s.phase == 'backward' for s in self.steps)} backward steps>")

    def latex(self) -> LaTeX:
        """The steps as a LaTeX ``align*`` environment (a ``str`` that notebooks typeset).

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
        >>> print(ex.latex().splitlines()[3])
        f &= e^{u} = 7.389 \\\\
        """
        from chainrule.explain.render import latex
        return LaTeX(latex(self))

    def dot(self) -> str:
        """The graph in Graphviz's DOT language, values and adjoints on its nodes.

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
        >>> print(ex.dot().splitlines()[0])
        digraph explain {
        """
        from chainrule.explain.render import dot
        return dot(self)

    def svg(self, max_nodes=None) -> SVG:
        """The graph as a standalone SVG drawing (no Graphviz needed; a ``str`` that notebooks draw).

        A graph of more than ``max_nodes`` nodes (default :data:`MAX_DRAWN_NODES`) is refused
        with a ``ValueError`` saying how big it is; ``max_nodes=float("inf")`` draws it anyway.

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
        >>> ex.svg().startswith("<svg")
        True
        """
        from chainrule.explain.svg import svg
        self._drawable("svg", max_nodes)
        return SVG(svg(self))

    def html(self, max_nodes=None) -> str:
        """One self-contained interactive page: the graph, step buttons, the running log.

        ``max_nodes`` as for :meth:`svg`: the page draws the whole graph.

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
        >>> page = ex.html()
        >>> page.startswith("<!DOCTYPE html>"), "Backward step" in page
        (True, True)
        """
        from chainrule.explain.html import html
        self._drawable("html", max_nodes)
        return html(self)

    def _drawable(self, view, max_nodes):
        limit = MAX_DRAWN_NODES if max_nodes is None else max_nodes
        if len(self.nodes) > limit:
            raise ValueError(
                f"explain: the graph has {len(self.nodes):,} nodes, more than ex.{view}() draws "
                f"(max_nodes={limit:,}): a drawing that size is a wall of boxes and a browser slows on it. "
                f"str(ex) gives the step log, its repeated steps collapsed; ex.{view}(max_nodes=float('inf')) "
                f"draws it anyway.")

    def _repr_html_(self):
        from chainrule.explain.html import html
        if len(self.nodes) > MAX_DRAWN_NODES:  # a notebook then shows the text form instead
            return None
        return html(self, embedded=True)

    def save(self, path, max_nodes=None) -> str:
        """Write the view chosen by ``path``'s extension (.html .svg .dot .tex .txt); returns the path.

        ``max_nodes`` goes to :meth:`html` / :meth:`svg`.

        >>> import os, tempfile
        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> ex = cr.explain(lambda x, y: cnp.exp(x * y), 1.0, 2.0)
        >>> path = ex.save(os.path.join(tempfile.mkdtemp(), "steps.txt"))
        >>> open(path, encoding="utf-8").read().splitlines()[0]
        'Inputs: x = 1, y = 2'
        """
        import functools
        import pathlib
        path = pathlib.Path(path)
        views = {".html": functools.partial(self.html, max_nodes), ".htm": functools.partial(self.html, max_nodes),
                 ".svg": functools.partial(self.svg, max_nodes), ".dot": self.dot,
                 ".gv": self.dot, ".tex": self.latex, ".txt": self.__str__}
        view = views.get(path.suffix.lower())
        if view is None:
            raise ValueError(f"explain: cannot tell what to write for {path.name!r}; use one of the "
                             f"extensions {', '.join(sorted(views))}")
        path.write_text(view() + "\n", encoding="utf-8")
        return str(path)


#: ``ex.svg()`` and ``ex.html()`` refuse graphs with more nodes than this (pass ``max_nodes`` to
#: draw one anyway): at 10^4 operations the page takes about 7 ms a step in chromium, and a
#: drawing of 10^5 boxes is unreadable; the text log (``str(ex)``) has no limit.
MAX_DRAWN_NODES = 20_000


# -- tracing --------------------------------------------------------------------

class _Tracer:
    def __init__(self, f, args, wrt, output):
        self.f, self.args, self.wrt, self.output = f, list(args), wrt, output
        self.title = getattr(f, "__name__", type(f).__name__)
        if self.title == "<lambda>":  # the page's heading: "lambda x, y", not "<lambda>"
            try:
                self.title = "lambda " + ", ".join(inspect.signature(f).parameters)
            except (TypeError, ValueError):
                self.title = "lambda"

    def run(self):
        f, names = self._function_and_names()
        level = new_level()
        self.level = level
        nodes, boxes = {}, {}
        self.constants = {}  # integer arguments: used as they are, not differentiated
        self.input_of = {}  # input name -> (argument position, argument name)
        args = []
        for i, (a, aname) in enumerate(zip(self.args, names)):
            leaves, tree = tree_flatten(a)
            paths = tree.paths()
            # leaves of a dict in the dict's own order (pytrees sort the keys)
            order = sorted(range(len(leaves)), key=lambda j: list(a).index(tree.meta[j])) \
                if type(a) is dict and len(tree.meta) == len(leaves) else range(len(leaves))
            new = [None] * len(leaves)
            for j in order:
                leaf, path = leaves[j], paths[j]
                if type(leaf) in TRACER_TYPES and type(leaf) is not Tensor:
                    raise TypeError(f"explain: argument {aname} is being traced by an enclosing jvp, vmap "
                                    f"or jit; explain writes down concrete numbers, so call it outside "
                                    f"transformations")
                if not _is_float(leaf):
                    new[j] = leaf
                    raw = _raw_value(leaf)
                    if not isinstance(raw, (bool, np.bool_)) and np.size(raw) > 0 and \
                            np.issubdtype(np.asarray(raw).dtype, np.integer):
                        self.constants[_leaf_name(aname, path)] = leaf
                    continue
                name = _leaf_name(aname, path)
                if name in nodes:  # two dicts with the same key: say whose
                    name = f"{aname}.{name}"
                t = box(np.asarray(_raw_value(leaf), dtype=_float_dtype(leaf)), level)
                node = Node(name, "input", None, (), t._value)
                node.wrt = self._is_wrt(i, aname, name)
                self.input_of[name] = (i, aname)
                nodes[name] = node
                boxes[id(t)] = node
                new[j] = t
            args.append(tree_unflatten(tree, new))
        if self.output is None:  # f, unless an input has that name
            self.output = next(n for n in ("f", "L", "y", "out", "result") if n not in nodes)
        elif self.output in nodes or self.output in self.constants:
            raise ValueError(f"explain: output={self.output!r} is also the name of an input; "
                             f"give the output another name")
        if not nodes:
            raise TypeError(f"explain: {self.title} has no floating-point inputs to differentiate; "
                            f"pass floats or float arrays")
        wanted = self.wrt if isinstance(self.wrt, (tuple, list, set)) else (self.wrt,)
        for w in (() if self.wrt is None else wanted):
            if not any(w in (i, aname, n) for n, (i, aname) in self.input_of.items()):
                raise ValueError(f"explain: wrt={w!r} matches none of the inputs "
                                 f"({', '.join(nodes)}) nor argument positions 0..{len(self.args) - 1}; "
                                 f"pass argument positions or input names")
        with inline_jit():  # a jitted function shows the steps of its traced graph
            out = f(*args)
        if type(out) is Tensor and out._level == level and out._prim is None:
            raise ValueError(f"explain: {self.title} returns its input {boxes[id(out)].name} unchanged; "
                             f"there is no step to explain (its gradient is 1)")
        if type(out) is not Tensor or out._level != level or out._prim is None:
            raise ValueError(f"explain: the output of {self.title} does not depend on its inputs "
                             f"through chainrule operations; build it with chainrule.numpy functions")
        if out._value.size != 1:
            how = ("explain a loss of it instead, e.g. cr.explain(lambda model, x: "
                   "cnp.sum((model(x) - y) ** 2), model, x)") if _is_model(self.f) else \
                "reduce it (e.g. with .sum()) first"
            raise ValueError(f"explain: the output has shape {out._value.shape}; explain follows one "
                             f"scalar output back -- {how}")
        order = _topological(out, level)
        if any(type(t._value) is Tensor and t._value._level == 0 for t in order):
            raise TypeError(f"explain: {self.title} uses tensors that require grad (a model's parameters?) "
                            f"without taking them as inputs; pass them, or the model: "
                            f"cr.explain(lambda model, x: ..., model, x)")
        if any(type(t._value) in TRACER_TYPES for t in order):
            raise TypeError(f"explain: {self.title} uses a value that an enclosing cr.grad, jvp, vmap or "
                            f"jit is tracing; explain writes down concrete numbers, so call it outside "
                            f"transformations (its steps are not differentiable)")
        self._name_intermediates(order, out, nodes, boxes)
        # what a boolean constant (a where's condition) is called: a name no node has
        self.mask = next(m for m in ("mask", "cond", *(f"mask{k}" for k in range(1, len(nodes) + 2)))
                         if m not in nodes)
        rows, steps = [], []
        self._forward(order, nodes, boxes, steps, rows)
        seed = np.ones(out._value.shape, out._value.dtype)
        edges = []
        leaf_grads = backward_pass([out], [seed], retain_graph=True, on_edge=lambda *e: edges.append(e))
        self._backward(edges, leaf_grads, nodes, boxes, steps, rows)
        # an input no adjoint reached (unused, or only through stop_gradient): its gradient is 0
        grads = {n.name: (n.adjoint if n.adjoint is not None else np.zeros_like(n.value)[()])
                 for n in nodes.values() if n.kind == "input" and n.wrt}
        ex = Explanation(nodes, steps, rows, boxes[id(out)].name, _scalar(out._value), grads,
                         seed.reshape(()), self.title, self.local)
        ex.constants = self.constants
        return ex

    def _function_and_names(self):
        f = self.f
        if _is_model(f):
            model = f
            self.args = [_parameters(model)] + self.args
            self.title = type(model).__name__
            if self.wrt is None:
                self.wrt = (0,)
            names = ["params"] + [f"x{i}" if len(self.args) > 2 else "x" for i in range(1, len(self.args))]
            return (lambda p, *rest: model.apply(p, *rest)), names
        try:
            params = [p for p in inspect.signature(f).parameters.values()]
        except (TypeError, ValueError):
            params = []
        names = []
        for i in range(len(self.args)):
            if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY, params[i].POSITIONAL_OR_KEYWORD):
                names.append(params[i].name)
            else:
                names.append(f"x{i + 1}")
        models = {i: a for i, a in enumerate(self.args) if _is_model(a)}
        if models:  # a function of a model: its parameters are nodes, the function gets the model
            self.args = [_parameters(a) if i in models else a for i, a in enumerate(self.args)]
            fn = f
            f = lambda *args: fn(*[_Bound(models[i], a) if i in models else a  # noqa: E731
                                   for i, a in enumerate(args)])
        return f, names

    def _is_wrt(self, i, aname, name):
        wrt = self.wrt
        if wrt is None:
            return True
        for w in (wrt if isinstance(wrt, (tuple, list, set)) else (wrt,)):
            if w == i or w == aname or w == name:
                return True
        return False

    def _name_intermediates(self, order, out, nodes, boxes):
        taken = set(nodes) | {self.output}
        inner = [t for t in order if t is not out]
        # no letter that begins an input's longer name either: b beside b1 and bo reads as one of them
        initials = {n[0] for n in taken}
        free = [c for c in _LETTERS if c not in initials]
        if len(free) < len(inner):  # a big graph: v1, v2, ... as in Griewank's tables
            free = [f"v{k}" for k in range(1, 2 * len(inner) + len(taken) + 1) if f"v{k}" not in taken]
        names = iter(free)
        for t in order:
            name = self.output if t is out else next(names)
            node = Node(name, "output" if t is out else "intermediate", t._prim.name, (), t._value)
            nodes[name] = node
            boxes[id(t)] = node

    def _forward(self, order, nodes, boxes, steps, rows):
        level = self.level
        for k, t in enumerate(order, 1):
            node = boxes[id(t)]
            shown, names, numeric = [], [], []
            for a in t._args:
                if type(a) is Tensor and a._level == level:
                    src = boxes[id(a)]
                    shown.append((src.name, src.tex))
                    names.append(src.name)
                    numeric.append(nt.paren(nt.num(src.value)) if np.size(src.value) == 1 else None)
                    node.relevant = node.relevant or src.wrt or src.relevant
                elif a is not None:  # an optional input left out is not shown
                    c = _constant(a, self.mask)
                    shown.append(c)
                    numeric.append(c[0])
            node.inputs = tuple(names)
            arrays = sum(np.size(_raw_value(a)) > 1 for a in t._args) >= 2
            sym, sym_tex, num_text, value = forward_text(t._prim.name, shown, numeric, _shown_params(t),
                                                         arrays, t._value)
            parts = [node.name, sym] + ([num_text] if num_text else []) + [value]
            steps.append(Step("forward", k, node.name, t._prim.name, node.inputs, " = ".join(parts),
                              f"{node.tex} &= {sym_tex} = {_tex_num(value)}", _scalar(t._value)))
            rows.append(_Row(node.name, "= " + sym, num_text or "", value, ""))

    def _backward(self, edges, leaf_grads, nodes, boxes, steps, rows):
        level = self.level
        for node in nodes.values():
            node.relevant = node.relevant or node.wrt
        shown = [e for e in edges if boxes[id(e[3])].relevant]
        # the adjoint the engine had gathered for each node when it ran the node's own edges
        gathered = {id(e[0]): e[1] for e in reversed(edges)}
        count = 0
        remaining = {}
        for e in shown:
            remaining[id(e[3])] = remaining.get(id(e[3]), 0) + 1
        contributions, sums = {}, {}
        self.local = {}
        for node_t, g, i, a, ct in shown:
            n, target = boxes[id(node_t)], boxes[id(a)]
            if n.adjoint is None:
                n.adjoint = _scalar(g)
            p = node_t._prim
            subs_text, subs_tex = [], []
            for x in node_t._args:
                if type(x) is Tensor and x._level == level:
                    subs_text.append(boxes[id(x)].name)
                    subs_tex.append(boxes[id(x)].tex)
                elif x is None:  # an optional input left out drops out of the formula
                    subs_text.append("\x02")
                    subs_tex.append("\x02")
                else:
                    c = _constant(x, self.mask)
                    subs_text.append(c[0])
                    subs_tex.append(c[1])
            subs_text.append(n.name)
            subs_tex.append(n.tex)
            e = edge_text(p, i, subs_text, subs_tex, n, target, g, ct, dict(node_t._params),
                          [np.shape(_raw_value(x)) for x in node_t._args], np.shape(node_t._value))
            self.local[target.name, n.name] = (f"{nt.bar(target.name)} += {e.local}" if e.whole
                                               else f"∂{n.name}/∂{target.name} = {e.local}")
            lhs, lhs_tex, sym, sym_tex, numeric = e.lhs, e.lhs_tex, e.sym, e.sym_tex, e.numeric
            parts = contributions.setdefault(id(a), [])
            parts.append(ct)
            # the adjoint so far, summed as the engine sums (one addition a contribution, not a re-sum
            # of all of them: a weight read k times costs k additions, not k^2/2)
            running = ct if len(parts) == 1 else sums[id(a)] + ct
            sums[id(a)] = running
            remaining[id(a)] -= 1
            last = remaining[id(a)] == 0
            note = ""
            if last:
                total = leaf_grads[a] if a._prim is None else gathered.get(id(a))
                if total is None:  # no rule reads this node's adjoint further back
                    total = running
                target.adjoint = _scalar(total)
                running = total
                if len(parts) > 1:
                    if len(parts) > 6:  # a wide fan-out: the first and last terms, and how many
                        terms = ([nt.paren(nt.num(c)) for c in parts[:3]] + [f"… ({len(parts)} terms)"]
                                 + [nt.paren(nt.num(c)) for c in parts[-2:]])
                    else:
                        terms = [nt.paren(nt.num(c)) for c in parts]
                    note = f"{nt.bar(target.name)} = " + " + ".join(terms) + f" = {nt.num(total)}"
                if target.kind == "input" and target.wrt:
                    grad = f"∂{self.output}/∂{target.name} = {nt.num(total)}"
                    note = f"{note}   ⇒ {grad}" if note else f"⇒ {grad}"
            value = nt.num(ct)
            formula = " = ".join([lhs + " " + sym] + ([numeric] if numeric else []) + [value])
            if note:
                formula += "   " + note
            count += 1
            steps.append(Step("backward", count, target.name, p.name, (n.name,), formula,
                f"{lhs_tex} {sym_tex} = {_tex_num(value)}", _scalar(running)))
            rows.append(_Row(lhs, sym, numeric, value, note))
        out = next(n for n in nodes.values() if n.kind == "output")
        if out.adjoint is None:
            out.adjoint = 1.0


def forward_text(op, shown, numeric, params, arrays, value):
    """The parts of a forward step ``node = op(names) = op(numbers) = value``.

    ``shown`` are the operands as ``(text, latex)``, ``numeric`` their numbers as
    text (None for an array), ``arrays`` whether two operands are arrays.
    Returns ``(symbolic, its LaTeX, numeric or None, value)``.
    """
    sym, sym_tex = nt.forward_expr(op, shown, params, arrays)
    num_text = None
    if all(n is not None for n in numeric):
        num_text = nt.forward_expr(op, [(n, n) for n in numeric], params, arrays)[0]
        # a parenthesised number inside a call's parentheses once, not twice: f((-1)) -> f(-1);
        # other parentheses stay (reshape(1, shape=(1, 1)) keeps both closing ones)
        num_text = re.sub(r"\(\(([^()]*)\)\)", r"(\1)", num_text).split("  [")[0]  # no [checkpoint] twice
    value = nt.num(value)
    if num_text == value or num_text == sym:
        num_text = None
    return sym, sym_tex, num_text, value


class Edge(NamedTuple):
    """One backward edge written out: ``lhs sym = numeric = value`` (text and LaTeX)."""

    lhs: str
    lhs_tex: str
    sym: str
    sym_tex: str
    numeric: str
    local: str   # the local derivative (or, when ``whole``, the whole product)
    whole: bool  # the formula is a whole vector-Jacobian product containing the adjoint


def edge_text(p, i, subs_text, subs_tex, node, target, g, ct, params, shapes, node_shape):
    """How ``node``'s adjoint ``g`` reaches ``p``'s input ``i``, ``target``: "downstream
    adjoint × local derivative", from the formula declared with ``p``.

    ``node`` and ``target`` have ``.name`` and ``.tex``; ``subs_*`` name ``p``'s inputs and,
    last, its output; ``ct`` is the contribution, fitted to the input's shape.
    """
    local, local_tex, whole = nt.local_formula(
        p, i, len(shapes), subs_text, subs_tex, nt.bar(node.name), nt.texbar(node.name),
        params=params, shapes=shapes)
    lhs = f"{nt.bar(target.name)} +="
    lhs_tex = rf"{nt.texbar(target.name)} \mathrel{{+}}="
    if whole:
        sym, sym_tex, numeric = local, local_tex, ""
    elif np.size(g) == 1 and np.size(ct) == 1:
        sym = f"{nt.bar(node.name)} · ∂{node.name}/∂{target.name}"
        sym_tex = rf"{nt.texbar(node.name)}\,\frac{{\partial {node.tex}}}{{\partial {target.tex}}}"
        numeric = f"{nt.paren(nt.num(g))} · {nt.paren(local)}"
        sym_tex += rf" = {_tex_num(nt.paren(nt.num(g)))} \cdot {nt.paren(local_tex, tex=True)}"
    else:
        times = ("⊙", r"\odot") if p.elementwise else ("·", r"\cdot")
        sym = f"{nt.bar(node.name)} {times[0]} {nt.paren(local)}"
        sym_tex = rf"{nt.texbar(node.name)} {times[1]} {nt.paren(local_tex, tex=True)}"
        numeric = ""
    if tuple(node_shape) != tuple(ct.shape) and not whole:
        how = "summed over broadcast axes" if p.elementwise else "spread"
        sym += f"  ({how} to {nt.shape_text(ct.shape)})"
    return Edge(lhs, lhs_tex, sym, sym_tex, numeric, local, whole)


def _topological(out, level):
    """Non-leaf Tensors of ``level`` reachable from ``out``, inputs before users.

    An iterative depth-first search that emits a node when all it reads is
    emitted.  A node is marked when it is expanded, not when it is pushed: a
    node pushed early may be reached again through a deeper path, and must
    come out after everything on that path.
    """
    order, seen = [], set()
    stack = [(out, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        for a in reversed(t._args):
            if type(a) is Tensor and a._level == level and a._prim is not None and id(a) not in seen:
                stack.append((a, False))
    return order


def _shown_params(t):
    """The parameters a forward step shows: none that say "every axis" or "the full transpose"."""
    params = dict(t._params)
    x = next((a for a in t._args if a is not None), None)
    ndim = np.ndim(_raw_value(x))
    axis = params.get("axis")
    if isinstance(axis, tuple) and sorted(a % max(ndim, 1) for a in axis) == list(range(ndim)) \
            and not params.get("keepdims"):
        del params["axis"]  # a reduction over every axis reads as plain Σ, max(x), ...
    elif isinstance(axis, tuple) and len(axis) == 1:
        params["axis"] = axis[0]
    if t._prim.name == "transpose" and tuple(params.get("axes") or ()) == tuple(range(ndim))[::-1]:
        del params["axes"]
    return params


def _leaf_name(aname, path):
    """``w11`` for ``p["w11"]``, ``hidden.weight`` for a model's path, ``x[0]`` for a list item."""
    if not path:
        return aname
    parts = path[1:-1].split("][")
    if all(p[:1] in "'\"" for p in parts):
        return ".".join(p[1:-1] for p in parts)
    return aname + path


def _raw_value(x):
    while isinstance(x, Tensor):  # a cr.nn parameter may be a subclass
        x = x._value
    return x


def _is_model(x):
    """A ``cr.nn.Module`` or anything like one: ``named_parameters()`` and ``apply(params, x)``."""
    return callable(getattr(x, "named_parameters", None)) and callable(getattr(x, "apply", None))


def _parameters(model):
    return {path: np.asarray(_raw_value(t)) for path, t in model.named_parameters()}


class _Bound:
    """A model whose parameters are explain's input nodes: calling it applies them."""

    def __init__(self, model, params):
        self._model, self._params = model, params

    def __call__(self, *args, **kwargs):
        return self._model.apply(self._params, *args, **kwargs)

    def apply(self, params, *args, **kwargs):
        return self._model.apply(params, *args, **kwargs)

    def named_parameters(self):
        return iter(self._params.items())

    def __getattr__(self, name):
        return getattr(self._model, name)


def _is_float(x):
    x = _raw_value(x)
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, float):
        return True
    return isinstance(x, (np.ndarray, np.generic)) and np.issubdtype(x.dtype, np.floating)


def _float_dtype(x):
    x = _raw_value(x)
    return x.dtype if hasattr(x, "dtype") else np.float64


def _constant(x, mask="mask"):
    v = _raw_value(x)
    if np.asarray(v).dtype == bool and np.size(v) > 1:  # a where's condition
        return mask, nt.tex(mask)
    if np.size(v) == 1:
        s = nt.num(v)
        return (f"({s})" if s.startswith("-") else s), (f"({s})" if s.startswith("-") else s)
    if np.ndim(v) == 1 and np.size(v) <= 4:  # a short constant vector reads as its values
        s = nt.num(v)
        return s, s
    shape = nt.shape_text(np.shape(v))
    return f"const[{shape}]", rf"c_{{{shape}}}"


def _scalar(v):
    a = np.asarray(v)
    return a.reshape(())[()] if a.size == 1 and a.ndim == 0 else a


def _tex_num(s):
    return s.replace("…", r"\dots").replace("×", r"\times ")
