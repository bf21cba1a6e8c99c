"""The interactive page: the graph, Forward step / Backward step / Back / Reset, the running log.

One self-contained file (inline CSS, SVG and script; no network).  The page
replays ``ex.steps``: a forward step writes a node's value on it, a backward
step adds an edge's contribution to a node's adjoint; the node being computed
is lit, the log beside the graph grows.  Keys: → next step, ← back, Home reset.
"""
from __future__ import annotations

import itertools
import json

from chainrule.explain import notation as nt
from chainrule.explain.render import summary
from chainrule.explain.svg import box_adjoint, box_value, escape, svg

_counter = itertools.count()


def page_data(ex):
    """What the script replays: nodes, steps (with the text each puts on the graph), the seed."""
    ids = {name: f"n{i}" for i, name in enumerate(ex.nodes)}
    steps = []
    for s in ex.steps:
        if s.phase == "forward":
            shown, source = box_value(s.value), None
        else:
            shown, source = box_adjoint(s.node, s.value), ids[s.inputs[0]]
        steps.append({"phase": s.phase, "index": s.index, "node": ids[s.node], "source": source,
                      "formula": s.formula, "shown": shown, "grad": "⇒" in s.formula})
    return {"nodes": [{"id": ids[n.name], "name": n.name, "kind": n.kind} for n in ex.nodes.values()],
            "steps": steps, "seed": {"node": ids[ex.output], "shown": box_adjoint(ex.output, ex.seed),
                     "text": f"{nt.bar(ex.output)} = {nt.num(ex.seed)}"},
            "inputs": ", ".join(f"{n.name} = {nt.num(n.value)}" for n in ex.nodes.values() if n.kind == "input"),
            "summary": summary(ex),
            # inputs no adjoint reached: their gradient, 0, appears on them at the end
            "zeros": [{"node": ids[k], "shown": box_adjoint(k, v)} for k, v in ex.grads.items()
                      if ex.nodes[k].adjoint is None]}


def html(ex, embedded=False) -> str:
    """The page (``embedded``: a ``<div>`` for a notebook cell instead of a whole document)."""
    if embedded:
        return f"<style>{CSS}</style>" + fragment(ex)
    return document(f"chainrule explain: {ex.title}", [ex])


def document(title, explanations) -> str:
    """A whole page holding one or more explanations, each with its own controls."""
    keys = "" if len(explanations) == 1 else (
        '<p class="help">Several explanations: click one (or Tab to it) before using the arrow keys.</p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#1d2433}}{CSS}</style></head>
<body>
{keys}
{"".join(fragment(ex, single=len(explanations) == 1) for ex in explanations)}
</body></html>"""


#: Inside ``<script>`` the HTML parser, not JSON, decides where the data ends: ``</script>``
#: closes it and ``<!--<script>`` makes the parser look for a second ``</script>``.  JSON
#: may write any character of a string as ``\\uXXXX``, so these never appear as themselves.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_json(data) -> str:
    """``data`` as JSON that is safe inside an HTML ``<script>`` element, whatever its strings hold.

    >>> script_json({"name": "</script><!--<script>&"})
    '{"name": "\\\\u003c/script\\\\u003e\\\\u003c!--\\\\u003cscript\\\\u003e\\\\u0026"}'
    """
    return json.dumps(data, ensure_ascii=False).translate(_SCRIPT_SAFE).encode(
        "utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate cannot be written as UTF-8


def fragment(ex, single=False) -> str:
    """One explanation's graph, buttons, log and script, in a ``<div class="crx">``."""
    uid = f"chainrule-explain-{next(_counter)}"
    data = page_data(ex)
    payload = script_json(data)
    return f"""<div class="crx" id="{uid}" tabindex="0" data-keys="{'document' if single else 'self'}">
<h1>{escape(ex.title)}</h1>
<p class="inputs">Inputs: <span>{escape(data["inputs"])}</span> &middot; output <b>{escape(ex.output)}</b></p>
<div class="controls">
<button type="button" class="fwd" title="→">Forward step</button>
<button type="button" class="bwd" title="→ after the forward pass">Backward step</button>
<button type="button" class="back" title="←">Back</button>
<button type="button" class="reset" title="Home">Reset</button>
<span class="status"></span>
</div>
<div class="now" aria-live="polite"></div>
<div class="main"><div class="pane">{svg(ex, live=True)}</div>
<div class="logpane"><h2>Log</h2><ol class="log"></ol></div></div>
<p class="help">Keys: → next step, ← back, Home reset. Values appear in blue, adjoints in red; the node being
computed is lit, a green frame marks a finished gradient.</p>
<script type="application/json" class="crx-data">{payload}</script>
<script>{SCRIPT}</script>
</div>
"""


CSS = """
.crx{margin-bottom:28px;font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#1d2433;outline:none;max-width:1500px}
.crx h1{font-size:20px;margin:8px 0}.crx h2{font-size:15px;margin:4px 0 8px}
.crx .controls{margin:10px 0;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
.crx button{font-size:14px;padding:6px 14px;border-radius:6px;border:1px solid #5c677d;background:#fff;cursor:pointer}
.crx button.fwd{background:#e7f0ff}.crx button.bwd{background:#fde8ea}
.crx button:disabled{opacity:.4;cursor:default}
.crx .status{font-size:14px;color:#5c677d;margin-left:8px}
.crx .now{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:15px;margin:0 0 10px;padding:8px 12px;
 background:#fff9db;border:1px solid #f0d264;border-radius:6px;min-height:1.3em;white-space:pre-wrap}
.crx .main{display:flex;gap:16px;align-items:flex-start}
.crx .pane{flex:3;overflow:auto;max-height:1000px;border:1px solid #dde1e8;border-radius:8px;padding:6px;background:#fff}
.crx .pane svg{max-width:100%;height:auto}
.crx .logpane{flex:2;min-width:320px;max-height:640px;overflow:auto;border:1px solid #dde1e8;border-radius:8px;padding:6px 10px}
.crx .log{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px;padding-left:4px;margin:0;list-style:none}
.crx .log li{margin:3px 0;white-space:pre-wrap}.crx .log li.forward{color:#1c4f9c}.crx .log li.backward{color:#8c1c2b}
.crx .log li.current{background:#fff3bf}.crx .log li.seed{list-style:none;color:#5c677d}
.crx .help{font-size:12px;color:#5c677d}
"""

SCRIPT = r"""
(function (root) {
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var data = JSON.parse(root.querySelector(".crx-data").textContent);
  var steps = data.steps, total = steps.length;
  var nForward = 0;
  steps.forEach(function (s) { if (s.phase === "forward") nForward++; });
  var k = 0;
  var $ = function (sel) { return root.querySelector(sel); };
  // Every element a step touches, found once: a step then changes a few elements (O(1)),
  // and Back undoes it, instead of redrawing the whole graph and log each time.
  var nodes = {}, into = {}, pair = {};
  root.querySelectorAll("g.node").forEach(function (g) {
    nodes[g.id] = {g: g, val: g.querySelector(".val"), adj: g.querySelector(".adj")};
  });
  root.querySelectorAll(".edge, .elabel").forEach(function (e) {
    var to = e.getAttribute("data-to"), key = e.getAttribute("data-from") + ">" + to;
    (into[to] = into[to] || []).push(e);
    (pair[key] = pair[key] || []).push(e);
  });
  var log = $(".log"), undo = [], lit = [];
  function item(cls, text) {
    var li = document.createElement("li");
    li.className = cls;
    li.textContent = text;
    log.appendChild(li);
    return li;
  }
  function apply(i) {  // step i forward; what it changed goes on the undo stack
    var s = steps[i], n = nodes[s.node], field = s.phase === "forward" ? n.val : n.adj;
    var u = {field: field, text: field.textContent, g: n.g, grad: n.g.classList.contains("grad"), items: [],
             seed: null, zeros: null};
    if (s.phase === "backward" && i === nForward) {
      var sd = nodes[data.seed.node].adj;
      u.seed = {field: sd, text: sd.textContent};
      sd.textContent = data.seed.shown;
      u.items.push(item("seed", "seed " + data.seed.text));
    }
    field.textContent = s.shown;
    if (s.grad) n.g.classList.add("grad");
    u.items.push(item(s.phase, (s.phase === "forward" ? "F" : "B") + s.index + "  " + s.formula));
    if (i === total - 1) u.zeros = data.zeros.map(function (z) {
      var m = nodes[z.node], was = {m: m, text: m.adj.textContent, grad: m.g.classList.contains("grad")};
      m.adj.textContent = z.shown;
      m.g.classList.add("grad");
      return was;
    });
    undo.push(u);
  }
  function unapply() {
    var u = undo.pop();
    if (u.zeros) u.zeros.forEach(function (w) {
      w.m.adj.textContent = w.text;
      if (!w.grad) w.m.g.classList.remove("grad");
    });
    u.field.textContent = u.text;
    if (!u.grad) u.g.classList.remove("grad");
    if (u.seed) u.seed.field.textContent = u.seed.text;
    u.items.forEach(function (li) { log.removeChild(li); });
  }
  function highlight() {
    lit.forEach(function (e) { e.classList.remove("current", "source", "lit"); });
    lit = [];
    var mark = function (e, cls) { e.classList.add(cls); lit.push(e); };
    if (k > 0) {
      var cur = steps[k - 1], g = nodes[cur.node].g;
      mark(g, "current");
      mark(log.lastElementChild, "current");
      if (cur.source) {
        mark(nodes[cur.source].g, "source");
        (pair[cur.node + ">" + cur.source] || []).forEach(function (e) { mark(e, "lit"); });  // the edge, its label
      } else {
        (into[cur.node] || []).forEach(function (e) { if (e.classList.contains("edge")) mark(e, "lit"); });
      }
      var last = log.lastElementChild;
      if (last && last.scrollIntoView) last.scrollIntoView({block: "nearest"});
      var pane = $(".pane"), box = g.getBoundingClientRect(), view = pane.getBoundingClientRect();
      if (box.top < view.top || box.bottom > view.bottom)  // a big graph scrolls to the node being computed
        pane.scrollTop += box.top - view.top - (view.height - box.height) / 2;
      if (box.left < view.left || box.right > view.right)
        pane.scrollLeft += box.left - view.left - (view.width - box.width) / 2;
    }
    $(".now").textContent = k === 0 ? "Inputs: " + data.inputs :
      (k === nForward + 1 ? "seed " + data.seed.text + "   then   " : "") + steps[k - 1].formula +
      (k === total ? "\n" + data.summary : "");
    $(".fwd").disabled = k >= nForward;
    $(".bwd").disabled = k < nForward || k >= total;
    $(".back").disabled = k === 0;
    $(".reset").disabled = k === 0;
    $(".status").textContent = k === 0 ? "Ready: press Forward step (or →)" :
      (k <= nForward ? "forward step " + k + " of " + nForward :
       "backward step " + (k - nForward) + " of " + (total - nForward)) +
      (k === total ? " · done: every gradient found" : "");
  }
  function go(to) {
    to = Math.max(0, Math.min(total, to));
    while (k < to) apply(k++);
    while (k > to) { unapply(); k--; }
    highlight();
  }
  $(".fwd").addEventListener("click", function () { if (k < nForward) go(k + 1); });
  $(".bwd").addEventListener("click", function () { if (k >= nForward && k < total) go(k + 1); });
  $(".back").addEventListener("click", function () { go(k - 1); });
  $(".reset").addEventListener("click", function () { go(0); });
  var keys = root.dataset.keys === "document" ? document : root;
  keys.addEventListener("keydown", function (e) {
    if (e.key === "ArrowRight") { go(k + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { go(k - 1); e.preventDefault(); }
    else if (e.key === "Home") { go(0); e.preventDefault(); }
  });
  highlight();
})((document.currentScript && document.currentScript.parentNode) ||
   Array.prototype.filter.call(document.querySelectorAll(".crx"), function (e) { return !e.dataset.ready; })[0]);
"""
