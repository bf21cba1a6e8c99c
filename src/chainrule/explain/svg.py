"""The computational graph drawn as SVG by chainrule itself (no Graphviz).

A layered layout: inputs in the first column, every other node one column
right of its deepest input, nodes in a column ordered by the mean row of
their inputs (two sweeps), edges as cubic curves between box sides.
"""
from __future__ import annotations

from html import escape

from chainrule.explain import notation as nt

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 172, 70, 64, 22, 16


def layout(ex):
    """``{name: (x, y)}`` (top-left corners) and the drawing's width and height."""
    nodes = ex.nodes
    layer = {}
    for name, n in nodes.items():  # nodes are stored inputs first, then in topological order
        layer[name] = 0 if not n.inputs else 1 + max(layer[i] for i in n.inputs)
    columns = [[] for _ in range(max(layer.values()) + 1)]
    for name in nodes:
        columns[layer[name]].append(name)
    row = {name: float(i) for col in columns for i, name in enumerate(col)}
    for _ in range(2):
        for col in columns[1:]:
            col.sort(key=lambda m: sum(row[i] for i in nodes[m].inputs) / len(nodes[m].inputs))
            for i, m in enumerate(col):
                row[m] = float(i)
    tallest = max(len(c) for c in columns)
    height = 2 * MARGIN + tallest * BOX_H + (tallest - 1) * GAP_Y
    pos = {}
    for c, col in enumerate(columns):
        top = (height - len(col) * BOX_H - (len(col) - 1) * GAP_Y) / 2
        for i, name in enumerate(col):
            pos[name] = (MARGIN + c * (BOX_W + GAP_X), top + i * (BOX_H + GAP_Y))
    width = 2 * MARGIN + len(columns) * BOX_W + (len(columns) - 1) * GAP_X
    return pos, width, height


def node_label(ex, n):
    """The first line of a node's box: ``u = x · y``, or the input's name."""
    if n.op is None:
        return f"{n.name} (input)"
    step = next(s for s in ex.steps if s.phase == "forward" and s.node == n.name)
    text = step.formula.split(" = ")[1]
    return f"{n.name} = {text}" if nt.width(text) <= 16 else f"{n.name} = {n.op}"


def svg(ex, live=False) -> str:
    """The graph with every value and adjoint on it (``live``: values only on inputs, for the page)."""
    pos, width, height = layout(ex)
    ids = {name: f"n{i}" for i, name in enumerate(ex.nodes)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'width="{width:.0f}" height="{height:.0f}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
           "<style>" + STYLE + "</style>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>']
    for name, n in ex.nodes.items():
        x2, y2 = pos[name]
        for src in dict.fromkeys(n.inputs):
            x1, y1 = pos[src]
            a, b = (x1 + BOX_W, y1 + BOX_H / 2), (x2, y2 + BOX_H / 2)
            mid = (a[0] + b[0]) / 2
            out.append(f'<path class="edge" data-from="{ids[src]}" data-to="{ids[name]}" '
                       f'd="M{a[0]:.1f},{a[1]:.1f} C{mid:.1f},{a[1]:.1f} {mid:.1f},{b[1]:.1f} '
                       f'{b[0] - 2:.1f},{b[1]:.1f}" marker-end="url(#arrow)"/>')
    for name, n in ex.nodes.items():
        x, y = pos[name]
        val = nt.num(n.value) if (not live or n.kind == "input") else ""
        adj = f"{nt.bar(name)} = {nt.num(n.adjoint)}" if (not live and n.adjoint is not None) else ""
        out.append(
            f'<g class="node {n.kind}" id="{ids[name]}" data-name="{escape(name)}" '
            f'transform="translate({x:.1f},{y:.1f})"><title>{escape(name)}</title>'
            f'<rect width="{BOX_W}" height="{BOX_H}" rx="9"/>'
            f'<text class="label" x="10" y="21">{escape(node_label(ex, n))}</text>'
            f'<text class="val" x="10" y="42">{escape(val)}</text>'
            f'<text class="adj" x="10" y="61">{escape(adj)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


STYLE = (
    ".edge{fill:none;stroke:#8a94a6;stroke-width:1.6}"
    ".edge.lit{stroke:#d9480f;stroke-width:3}"
    ".node rect{fill:#f8f9fb;stroke:#5c677d;stroke-width:1.4}"
    ".node.input rect{fill:#e7f0ff}.node.output rect{fill:#fff1e3}"
    ".node.current rect{fill:#ffe066;stroke:#d9480f;stroke-width:3}"
    ".node.source rect{stroke:#d9480f;stroke-dasharray:4 3;stroke-width:2.4}"
    ".node.grad rect{stroke:#2b8a3e;stroke-width:3}"
    ".node text{font-size:13px;fill:#1d2433}"
    ".node .label{font-weight:bold}.node .val{fill:#1c4f9c}.node .adj{fill:#b02a37}"
)
