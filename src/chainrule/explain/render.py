"""Text, LaTeX and DOT renderings of an :class:`~chainrule.explain.core.Explanation`."""
from __future__ import annotations

from chainrule.explain import notation as nt


def text(ex) -> str:
    """The step log, columns aligned (Unicode)."""
    inputs = [n for n in ex.nodes.values() if n.kind == "input"]
    lines = ["Inputs: " + ", ".join(f"{n.name} = {nt.num(n.value)}" for n in inputs)]
    if ex.constants:
        lines[0] += ("; not differentiated (integers): "
                     + ", ".join(f"{k} = {nt.num(v)}" for k, v in ex.constants.items()))
    rows = list(zip(ex.steps, ex._rows))
    for phase, title in (("forward", "Forward pass: values, in topological order"),
                         ("backward", f"Backward pass: adjoints, in reverse order, from the seed "
                                      f"{nt.bar(ex.output)} = {nt.num(ex.seed)}")):
        part = [(s, r) for s, r in rows if s.phase == phase]
        lines += ["", title]
        cols = [[r.lhs, r.symbolic, r.numeric, r.value] for _, r in part]
        widths = [max((nt.width(c[j]) for c in cols), default=0) for j in range(4)]
        num_w = len(str(len(part)))
        for (s, r), c in zip(part, cols):
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
