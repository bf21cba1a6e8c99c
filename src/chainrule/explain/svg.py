"""The computational graph drawn as SVG by chainrule itself (no Graphviz).

A layered layout: inputs in the first column, every other node one column
right of its deepest input, nodes in a column ordered by the mean row of
their inputs (two sweeps), edges as cubic curves between box sides.
"""
from __future__ import annotations

import html
import re

from chainrule.explain import notation as nt

BOX_H, GAP_X, GAP_Y, MARGIN = 66, 60, 18, 16
PANE_W = 860  # about the graph pane's width on a laptop screen
DETOUR = 56  # room for the edges that go around the boxes they would cross
CHAR_W = 7.4  # px per character at 13px, a little over DejaVu Sans's average
LABEL_W = 8.2  # the same for the bold edge labels
MAX_BOX_W = 300  # px: the widest box; a longer value line is cut short with "…"


def _fit(text) -> str:
    """``text``, cut to fit inside the widest box (the step log has it in full)."""
    room = int((MAX_BOX_W - 10) / CHAR_W)
    if nt.width(text) <= room:
        return text
    out = ""
    for c in text:
        if nt.width(out + c) > room - 1:
            break
        out += c
    return out + "…"


def box_value(value) -> str:
    """A box's value line, cut to fit."""
    return _fit(nt.num(value))


# Characters XML 1.0 forbids even escaped: a saved .svg holding one would not open.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text) -> str:
    r"""``text`` for XML/HTML text and attribute values: ``& < > " '`` escaped, and characters
    XML cannot hold at all shown as ``\xNN``/``\uNNNN``.

    >>> print(escape('a<!--<script>"' + chr(0)))
    a&lt;!--&lt;script&gt;&quot;\x00
    """
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}",
                        html.escape(str(text)))


def box_adjoint(name, value) -> str:
    """A box's adjoint line: ``ū = 2``; a long name, already the box's title, as ``.grad = 2``."""
    b = nt.bar(name)
    return _fit(f"{'.grad' if b.endswith('.grad') else b} = {nt.num(value)}")


def box_width(ex):
    """One width for every box: enough for the longest label, value or adjoint (150 to 300 px)."""
    made_by = {s.node: s for s in ex.steps if s.phase == "forward"}
    longest = 0
    for name, n in ex.nodes.items():
        lines = [node_label(n, made_by.get(name)), box_value(n.value)]
        if n.adjoint is not None:
            lines.append(box_adjoint(name, n.adjoint))
        longest = max([longest] + [nt.width(t) for t in lines])
    return int(min(MAX_BOX_W, max(150, 22 + CHAR_W * longest)))


def layout(ex, box_w=150):
    """``({name: (x, y)}, width, height, across)``: box corners, and whether layers run left to right.

    Each input sits one layer before its first use; a deep, narrow graph (the
    tour's 1-2-1 network) is drawn top to bottom instead, so it fits beside the log.
    """
    nodes = ex.nodes
    users = {name: [] for name in nodes}
    layer = {}
    for name, n in nodes.items():  # inputs first, then topological order
        layer[name] = 0 if not n.inputs else 1 + max(layer[i] for i in n.inputs)
        for i in n.inputs:
            users[i].append(name)
    for name, n in nodes.items():
        if not n.inputs and users[name]:
            layer[name] = min(layer[u] for u in users[name]) - 1
    depth = max(layer.values()) + 1
    columns = [[] for _ in range(depth)]
    for name in nodes:
        columns[layer[name]].append(name)
    tallest = max(len(c) for c in columns)
    across = depth <= 5 or depth * (box_w + GAP_X) < 1.6 * tallest * (BOX_H + GAP_Y)
    across_w = 2 * MARGIN + depth * box_w + (depth - 1) * GAP_X
    if across and across_w > 1.4 * PANE_W and tallest * (box_w + GAP_Y) < across_w:
        across = False  # the page would shrink a wide drawing until its text is unreadable
    step = (BOX_H + GAP_Y) if across else (box_w + GAP_Y)
    place = {}

    def centre(col):
        first = -(len(col) - 1) / 2
        for i, m in enumerate(col):
            place[m] = (first + i) * step

    for col in columns:
        centre(col)
    for _ in range(4):  # barycentre sweeps, both neighbours
        for col in columns:
            col.sort(key=lambda m: sum(place[o] for o in nodes[m].inputs + tuple(users[m]))
                     / max(1, len(nodes[m].inputs) + len(users[m])))
            centre(col)
    lo = min(place.values())
    span = max(place.values()) - lo
    pos = {}
    for name in nodes:
        along = MARGIN + layer[name] * ((box_w + GAP_X) if across else (BOX_H + GAP_X / 2))
        side = MARGIN + place[name] - lo
        pos[name] = (along, side) if across else (side, along)
    if across:
        width = 2 * MARGIN + depth * box_w + (depth - 1) * GAP_X
        height = 2 * MARGIN + span + BOX_H
    else:
        width = 2 * MARGIN + span + box_w
        height = 2 * MARGIN + depth * BOX_H + (depth - 1) * GAP_X / 2
    return pos, width, height, across


def _blocked(pos, box_w, edges, across):
    """The edges whose straight run would pass behind another node's box.

    A run is blocked when one of 15 points along it lies in a box other than its
    ends'.  The boxes are put in a grid of box-sized cells first, so each point looks
    at the four cells a box covering it can start in: linear in the number of edges,
    whatever their length or the fan-out (a test against every box made the SVG
    quadratic: 72 s at 2 * 10^4 operations).
    """
    cw, ch = max(box_w, 1.0), float(BOX_H)
    grid = {}
    for name, (x, y) in pos.items():
        grid.setdefault((int(x // cw), int(y // ch)), []).append((x, y, name))
    blocked = set()
    for src, dst in edges:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        a = (x1 + box_w, y1 + BOX_H / 2) if across else (x1 + box_w / 2, y1 + BOX_H)
        b = (x2, y2 + BOX_H / 2) if across else (x2 + box_w / 2, y2)
        for t in range(1, 16):
            px, py = a[0] + (b[0] - a[0]) * t / 16, a[1] + (b[1] - a[1]) * t / 16
            if any(x <= px <= x + box_w and y <= py <= y + BOX_H and name != src and name != dst
                   for i in range(int((px - box_w) // cw), int(px // cw) + 1)
                   for j in range(int((py - BOX_H) // ch), int(py // ch) + 1)
                   for x, y, name in grid.get((i, j), ())):
                blocked.add((src, dst))
                break
    return blocked


def node_label(n, step, box_w=None):
    """The first line of a node's box: ``u = x · y`` (when it fits), ``u = matmul``, or the input's name."""
    if n.op is None:
        return f"{n.name} (input)" if n.wrt else f"{n.name} (constant)"
    text = step.formula.split(" = ")[1]
    fits = nt.width(text) <= 16 if box_w is None else \
        22 + CHAR_W * nt.width(f"{n.name} = {text}") <= box_w
    return f"{n.name} = {text}" if fits else f"{n.name} = {n.op}"


def svg(ex, live=False) -> str:
    """The graph with every value and adjoint on it (``live``: values only on inputs, for the page)."""
    box_w = box_width(ex)
    pos, width, height, across = layout(ex, box_w)
    ids = {name: f"n{i}" for i, name in enumerate(ex.nodes)}
    made_by = {s.node: s for s in ex.steps if s.phase == "forward"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'width="{width:.0f}" height="{height:.0f}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
           "<style>" + STYLE + "</style>",
           '<rect class="paper" width="100%" height="100%" fill="#ffffff"/>',
           '<defs>' + "".join(
               f'<marker id="{mid}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" '
               f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
               f'fill="{colour}"/></marker>' for mid, colour in (("arrow", "#8a94a6"), ("arrow-lit", "#d9480f")))
           + '</defs>']
    labels = []
    edges = [(src, name) for name, n in ex.nodes.items() for src in dict.fromkeys(n.inputs)]
    around = _blocked(pos, box_w, edges, across)
    below = set()
    if across:  # a blocked edge along the top row goes over it, along the bottom row under it
        top, bottom = min(y for _, y in pos.values()), max(y for _, y in pos.values())
        below = {e for e in around if pos[e[0]][1] == pos[e[1]][1] == bottom != top}
        around = {e for e in around if pos[e[0]][1] == pos[e[1]][1] == top} | below
        if around - below:
            pos = {k: (x, y + DETOUR) for k, (x, y) in pos.items()}
            height += DETOUR
        if below:
            height += DETOUR
    elif around:  # ... and in a top-down drawing right of it
        width += DETOUR
    out[0] = (f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width:.0f} {height:.0f}" '
              f'width="{width:.0f}" height="{height:.0f}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">')
    for src, name in edges:
        x1, y1 = pos[src]
        x2, y2 = pos[name]
        label_at = None
        if (src, name) in below:  # under the boxes in between, into the target's bottom
            a, b = (x1 + box_w / 2, y1 + BOX_H), (x2 + box_w / 2, y2 + BOX_H + 2)
            low = y1 + BOX_H + DETOUR * 0.9
            curve = f"C{a[0]:.1f},{low:.1f} {b[0]:.1f},{low:.1f}"
            label_at = ((a[0] + b[0]) / 2, low + 4)
        elif (src, name) in around and across:  # over the boxes in between, into the target's top
            a, b = (x1 + box_w / 2, y1), (x2 + box_w / 2, y2 - 2)
            top = min(y1, y2) - DETOUR * 0.9
            curve = f"C{a[0]:.1f},{top:.1f} {b[0]:.1f},{top:.1f}"
            label_at = ((a[0] + b[0]) / 2, top + DETOUR * 0.25)
        elif (src, name) in around:  # right of the boxes in between, into the target's right side
            a, b = (x1 + box_w, y1 + BOX_H / 2), (x2 + box_w + 2, y2 + BOX_H / 2)
            right = max(x for x, y in pos.values() if y1 <= y <= y2) + box_w + DETOUR * 0.9
            curve = f"C{right:.1f},{a[1]:.1f} {right:.1f},{b[1]:.1f}"
            label_at = (max(x1, x2) + box_w + DETOUR * 0.5, (a[1] + b[1]) / 2)
        elif across:
            a, b = (x1 + box_w, y1 + BOX_H / 2), (x2 - 2, y2 + BOX_H / 2)
            mid = (a[0] + b[0]) / 2
            curve = f"C{mid:.1f},{a[1]:.1f} {mid:.1f},{b[1]:.1f}"
        else:
            a, b = (x1 + box_w / 2, y1 + BOX_H), (x2 + box_w / 2, y2 - 2)
            mid = (a[1] + b[1]) / 2
            curve = f"C{a[0]:.1f},{mid:.1f} {b[0]:.1f},{mid:.1f}"
        local = ex.local.get((src, name))
        title = f"<title>{escape(local)}</title>" if local else ""
        out.append(f'<path class="edge" data-from="{ids[src]}" data-to="{ids[name]}" '
                   f'd="M{a[0]:.1f},{a[1]:.1f} {curve} {b[0]:.1f},{b[1]:.1f}" marker-end="url(#arrow)">'
                   f'{title}</path>')
        if local:  # shown on the page while the backward step along this edge is current
            mx, my = label_at or ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            wide = LABEL_W * nt.width(local)  # kept inside the drawing: the pane clips it
            if across:
                mx = min(max(mx, MARGIN / 2 + wide / 2), width - MARGIN / 2 - wide / 2)
                at = f'x="{mx:.1f}" y="{my - 6:.1f}" text-anchor="middle"'
            elif mx + 8 + wide <= width - MARGIN / 2:
                at = f'x="{mx + 8:.1f}" y="{my + 5:.1f}" text-anchor="start"'
            else:
                at = f'x="{max(mx - 8, MARGIN / 2 + wide):.1f}" y="{my + 5:.1f}" text-anchor="end"'
            labels.append(f'<text class="elabel" data-from="{ids[src]}" data-to="{ids[name]}" '
                          f'{at}>{escape(local)}</text>')
    for name, n in ex.nodes.items():
        x, y = pos[name]
        val = box_value(n.value) if (not live or n.kind == "input") else ""
        adj = box_adjoint(name, n.adjoint) if (not live and n.adjoint is not None) else ""
        out.append(
            f'<g class="node {n.kind}" id="{ids[name]}" data-name="{escape(name)}" '
            f'transform="translate({x:.1f},{y:.1f})"><title>{escape(name)}</title>'
            f'<rect width="{box_w}" height="{BOX_H}" rx="9"/>'
            f'<text class="label" x="10" y="21">{escape(node_label(n, made_by.get(name), box_w))}</text>'
            f'<text class="val" x="10" y="42">{escape(val)}</text>'
            f'<text class="adj" x="10" y="61">{escape(adj)}</text></g>')
    out += labels
    out.append("</svg>")
    return "\n".join(out)


STYLE = (
    ".edge{fill:none;stroke:#8a94a6;stroke-width:1.6}"
    ".edge.lit{stroke:#d9480f;stroke-width:3;marker-end:url(#arrow-lit)}"
    ".node rect{fill:#f8f9fb;stroke:#5c677d;stroke-width:1.4}"
    ".node.input rect{fill:#e7f0ff}.node.output rect{fill:#fff1e3}"
    ".node.current rect{fill:#ffe066;stroke:#d9480f;stroke-width:3}"
    ".node.source rect{stroke:#d9480f;stroke-dasharray:4 3;stroke-width:2.4}"
    ".node.grad rect{stroke:#2b8a3e;stroke-width:3}"
    ".elabel{display:none;font-size:13px;font-weight:bold;fill:#d9480f;paint-order:stroke;"
    "stroke:#ffffff;stroke-width:5px;stroke-linejoin:round}.elabel.lit{display:inline}"
    ".node text{font-size:13px;fill:#1d2433}"
    ".node .label{font-weight:bold}.node .val{fill:#1c4f9c}.node .adj{fill:#b02a37}"
)
