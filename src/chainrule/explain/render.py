"""Text, LaTeX and DOT renderings of an :class:`~chainrule.explain.core.Explanation`."""
from __future__ import annotations

from chainrule.explain import notation as nt


#: A pass with more steps than this is shown with its longest repeated block collapsed.
COLLAPSE_ABOVE = 120
_MAX_PERIOD = 48
#: Columns of the text log are aligned up to this width; a longer cell runs on.
ALIGN_MAX = 56


def _repeated_block(ops):
    """``(period, start, stop)`` of the longest stretch of ``ops`` that repeats with a period, or ``None``.

    ``ops[start:stop]`` is a block of ``period`` operations repeated (the steps of a loop,
    the layers of a deep network); the stretch saved by collapsing it is the longest.
    """
    n = len(ops)
    best, saved = None, 0
    for p in range(1, min(_MAX_PERIOD, n // 3) + 1):
        i = 0
        while i < n - p:
            if ops[i] != ops[i + p]:
                i += 1
                continue
            j = i
            while j < n - p and ops[j] == ops[j + p]:
                j += 1
            reps = (j - i + p) // p
            if reps >= 4 and (reps - 3) * p > saved:
                best, saved = (p, i, i + reps * p), (reps - 3) * p
            i = j + 1
    return best


def _shown(part, collapse):
    """The rows of one pass to print: ``(step, row)`` pairs and ``None`` where a block is collapsed."""
    if not collapse or len(part) <= COLLAPSE_ABOVE:
        return part, None
    block = _repeated_block([s.op for s, _ in part])
    if block is None:
        return part, None
    p, start, stop = block
    a, b = start + 2 * p, stop - p  # keep the first two repetitions and the last one
    ops = ", ".join(dict.fromkeys(s.op for s, _ in part[start:start + p]))
    note = (f"⋮  steps {part[a][0].index}–{part[b - 1][0].index}: {(b - a) // p} more repetitions of the "
            f"{p} step{'s' if p > 1 else ''} above ({ops}), not shown: ex.text(collapse=False) shows every step")
    return part[:a] + [None] + part[b:], note


def text(ex, collapse=True) -> str:
    """The step log, columns aligned (Unicode); a long pass's longest repeated block collapsed."""
    inputs = [n for n in ex.nodes.values() if n.kind == "input"]
    lines = ["Inputs: " + ", ".join(f"{n.name} = {nt.num(n.value)}" for n in inputs)]
    if ex.constants:
        lines[0] += ("; not differentiated (integers): "
                     + ", ".join(f"{k} = {nt.num(v)}" for k, v in ex.constants.items()))
    rows = list(zip(ex.steps, ex._rows))
    for phase, title in (("forward", "Forward pass: values, in topological order"),
                         ("backward", f"Backward pass: adjoints, in reverse order, from the seed "
                                      f"{nt.bar(ex.output)} = {nt.num(ex.seed)}")):
        part, gap = _shown([(s, r) for s, r in rows if s.phase == phase], collapse)
        lines += ["", title]
        cols = [[r.lhs, r.symbolic, r.numeric, r.value] for _, r in filter(None, part)]
        # columns align up to ALIGN_MAX characters: one very long cell (a 60-way concatenate) does not
        # push every other line out
        widths = [min(max((nt.width(c[j]) for c in cols), default=0), ALIGN_MAX) for j in range(4)]
        num_w = len(str(max((sr[0].index for sr in filter(None, part)), default=0)))
        cols = iter(cols)
        for sr in part:
            if sr is None:
                lines.append(f"  {'':>{num_w}}  {gap}")
                continue
            s, r = sr
            c = next(cols)
            cells = [nt.pad(c[0], widths[0]), nt.pad(c[1], widths[1])]
            if widths[2]:
                cells.append(nt.pad(("= " + c[2]) if c[2] else "", widths[2] + 2))
            cells.append("= " + nt.pad(c[3], widths[3]))
            line = f"  {s.index:>{num_w}}. " + " ".join(cells)
            if r.note:
                line += "   " + r.note
            lines.append(line.rstrip())
    lines += ["", summary(ex)]
    return "\n".join(lines)


def summary(ex) -> str:
    """The last line(s) of the log: the gradient, and why an input's is 0 when no adjoint reached it."""
    out = (f"Gradient of {ex.output} = {nt.num(ex.value)}: "
           + ", ".join(f"∂{ex.output}/∂{k} = {nt.num(v)}" for k, v in ex.grads.items()))
    held = [n.name for n in ex.nodes.values() if n.kind == "input" and n.name not in ex.grads]
    if held:
        out += f"\n({', '.join(held)}: held constant, not differentiated (wrt=))"
    unreached = [k for k in ex.grads if ex.nodes[k].adjoint is None]
    if unreached:
        out += (f"\n({', '.join(unreached)}: no differentiable path to {ex.output}, so "
                f"{'its gradient is' if len(unreached) == 1 else 'their gradients are'} 0)")
    return out


def latex(ex) -> str:
    """The steps as one ``align*`` environment (amsmath)."""
    out = [r"\begin{align*}", r"&\text{Forward pass} \\"]
    out += [s.latex + r" \\" for s in ex.steps if s.phase == "forward"]
    out.append(rf"&\text{{Backward pass, seed }} {nt.texbar(ex.output)} = {nt.num(ex.seed)} \\")
    for s in ex.steps:
        if s.phase == "backward":
            lhs, _, rhs = s.latex.partition(r" \mathrel{+}= ")
            out.append(rf"{lhs} &\mathrel{{+}}= {rhs} \\")
    grads = ", ".join(rf"\frac{{\partial {nt.tex(ex.output)}}}{{\partial {nt.tex(k)}}} = {nt.num(v)}"
                      for k, v in ex.grads.items())
    out += [rf"&{grads}".replace("…", r"\dots").replace("×", r"\times "), r"\end{align*}"]
    return "\n".join(out)


def dot(ex) -> str:
    """The graph in Graphviz's DOT language, each node with its value and adjoint."""
    out = ["digraph explain {", "  rankdir=LR;",
           '  node [shape=box, style="rounded,filled", fillcolor="#f7f7f7", fontname="Helvetica"];']
    for n in ex.nodes.values():
        label = n.name if n.op is None else f"{n.name} = {n.op}"
        label += f"\\nvalue {nt.num(n.value)}"
        if n.adjoint is not None:
            label += f"\\n{nt.bar(n.name)} = {nt.num(n.adjoint)}"
        fill = {"input": "#e3f0ff", "output": "#ffe9d6"}.get(n.kind, "#f7f7f7")
        out.append(f'  "{_q(n.name)}" [label="{_q(label)}", fillcolor="{fill}"];')
    for n in ex.nodes.values():
        for src in dict.fromkeys(n.inputs):
            local = ex.local.get((src, n.name))
            label = f' [label="{_q(local)}", fontsize=10]' if local else ""
            out.append(f'  "{_q(src)}" -> "{_q(n.name)}"{label};')
    out.append("}")
    return "\n".join(out)


def _q(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")
