"""The backward-pass stepper: one self-contained HTML page (no network, no external scripts).

The page shows the graph and a table of every node. The forward pass fills
in the values one operation at a time; the backward pass then seeds
dE/dE = 1 and walks the nodes from the root down (reverse topological
order). Each backward step takes one edge child -> parent and adds

    d(root)/d(parent) += d(root)/d(child) * ∂child/∂parent

to the parent's gradient, lighting that edge. The page's script does this
arithmetic itself from the local derivatives, so the gradients it shows are
an independent sum, not copied from the engine. Buttons and the arrow keys
step; Home and End jump; opening the page as `page.html#end` shows the last
step, `page.html#step=7` the seventh (the tests read them with a headless browser).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from ..formatting import dumps
from .dot import clean
from .graph import Graph

__all__ = ["stepper_html", "steps"]

MAX_STEPS = 5000


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def steps(graph: Graph) -> list[dict[str, Any]]:
    """The forward steps (one per operation) then the backward steps (one per edge)."""
    if any(local is None for n in graph.nodes for _, local in n.edges):
        raise ValueError(
            "the stepper needs one number per edge (a Value graph); a Tensor edge carries "
            "a Jacobian: build the expression from Values"
        )
    out: list[dict[str, Any]] = []
    for n in graph.nodes:
        if not n.is_leaf:
            out.append({"kind": "forward", "node": n.index})
    out.append({"kind": "seed", "node": graph.root.index})
    for n in reversed(graph.nodes):
        for k, (p, local) in enumerate(n.edges):
            out.append(
                {
                    "kind": "backward",
                    "node": n.index,
                    "parent": p,
                    "edge": f"e{n.index}_{k}",
                    "local": _finite(local),
                }
            )
    if len(out) > MAX_STEPS:
        raise ValueError(
            f"the stepper would take {len(out)} steps, over the limit of {MAX_STEPS}: "
            "step through a smaller graph"
        )
    return out


def stepper_html(graph: Graph, svg: str, title: str) -> str:
    """The whole page: the SVG (ids n<i> and e<i>_<k>), the node table and the script."""
    plan = steps(graph)
    labels = graph.labels()
    nodes = [
        {
            "label": clean(labels[n.index]),
            "op": clean(n.op),
            "value": _finite(n.value),
            "parents": [p for p, _ in n.edges],
        }
        for n in graph.nodes
    ]
    data = dumps({"nodes": nodes, "steps": plan}, indent=None)
    # inside <script>, no "<", ">" or "&" may appear raw: JSON escapes them as \\u00XX
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    svg = svg[svg.find("<svg") :] if "<svg" in svg else svg
    rows = "\n".join(
        f'<tr id="row{n.index}"><td>{escape(clean(labels[n.index]))}</td>'
        f'<td>{escape(clean(n.op))}</td><td class="value"></td>'
        f'<td class="grad" data-node="{n.index}"></td></tr>'
        for n in graph.nodes
    )
    return PAGE.format(title=escape(title), svg=svg, rows=rows, data=data)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; }}
#figure {{ overflow: auto; max-width: 100%; border: 1px solid #ddd; }}
#figure svg {{ height: auto; }}
#status {{ font-size: 1.1em; margin: .6em 0; min-height: 2.6em; white-space: pre-wrap; }}
table {{ border-collapse: collapse; font-size: .9em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
td:first-child, td:nth-child(2) {{ text-align: left; }}
tr.now {{ background: #ffe8a3; }}
tr.done td.grad {{ background: #d1e7dd; }}
g.now > path, g.now > polygon {{ stroke: #ff7f0e !important; stroke-width: 5; }}
g.now > text {{ fill: #e65c00; font-weight: bold; }}
g.seen > path, g.seen > polygon {{ stroke: #1f77b4; }}
</style></head><body>
<h1>{title}</h1>
<p><button id="first">|&#x25C0; start</button> <button id="prev">&#x25C0; back</button>
<button id="next">step &#x25B6;</button> <button id="last">end &#x25B6;|</button>
<span id="counter"></span> (arrow keys step, Home/End jump)</p>
<div id="status"></div>
<div id="figure">{svg}</div>
<table><thead><tr><th>node</th><th>op</th><th>value</th><th>gradient</th></tr></thead>
<tbody>{rows}</tbody></table>
<script id="data" type="application/json">{data}</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const N = DATA.nodes, S = DATA.steps;
let at = 0;  // number of steps taken
function num(x) {{ return x === null ? "NaN/inf" : Number(x.toPrecision(6)).toString(); }}
function el(id) {{ return document.getElementById(id); }}
// node i is drawn as n<i>, and a leaf used several times also as n<i>_1, n<i>_2, ...
function boxes(i) {{ return document.querySelectorAll("#n" + i + ", [id^='n" + i + "_']"); }}
function show() {{
  const value = N.map((n) => n.parents.length ? null : n.value);
  const grad = N.map(() => null);
  let text = "Forward pass: the leaves hold their values. Press step.";
  let litNode = null, litEdges = [];
  for (let k = 0; k < at; k++) {{
    const s = S[k];
    if (s.kind === "forward") {{
      value[s.node] = N[s.node].value;
      const args = N[s.node].parents.map((p) => N[p].label + " = " + num(value[p]));
      text = "forward: " + N[s.node].label + " = " + N[s.node].op + "(" + args.join(", ") +
        ") = " + num(value[s.node]);
      litNode = s.node;
      litEdges = N[s.node].parents.map((p, j) => "e" + s.node + "_" + j);
    }} else if (s.kind === "seed") {{
      grad[s.node] = 1;
      text = "backward: start at the root, d" + N[s.node].label + "/d" + N[s.node].label + " = 1";
      litNode = s.node; litEdges = [];
    }} else {{
      const up = grad[s.node] === null ? 0 : grad[s.node];
      const add = s.local === null ? NaN : up * s.local;
      grad[s.parent] = (grad[s.parent] === null ? 0 : grad[s.parent]) + add;
      const c = N[s.node].label, p = N[s.parent].label, r = N[N.length - 1].label;
      text = "backward: d" + r + "/d" + p + " += d" + r + "/d" + c + " \\u00d7 \\u2202" + c +
        "/\\u2202" + p + " = " + num(up) + " \\u00d7 " + num(s.local) + " = " + num(add) +
        "\\n(so far d" + r + "/d" + p + " = " + num(grad[s.parent]) + ")";
      litNode = s.parent; litEdges = [s.edge];
    }}
  }}
  if (at === S.length) text += "\\nDone: every gradient is filled in.";
  document.querySelectorAll(".now").forEach((e) => e.classList.remove("now"));
  N.forEach((n, i) => {{
    const row = el("row" + i);
    row.querySelector(".value").textContent = value[i] === null ? "" : num(value[i]);
    const g = row.querySelector(".grad");
    g.textContent = grad[i] === null ? "" : num(grad[i]);
    g.dataset.grad = grad[i] === null ? "" : String(grad[i]);
    row.classList.toggle("done", grad[i] !== null);
    boxes(i).forEach((box) => {{
      box.classList.toggle("seen", value[i] !== null);
      box.querySelectorAll("text").forEach((t) => {{
        if (t.textContent.startsWith("grad")) {{
          t.textContent = "grad " + (grad[i] === null ? "?" : num(grad[i]));
        }}
      }});
    }});
  }});
  if (litNode !== null) {{
    el("row" + litNode).classList.add("now");
    boxes(litNode).forEach((box) => box.classList.add("now"));
  }}
  litEdges.forEach((id) => [id, id + "h", "l" + id.slice(1)].forEach((part) => {{
    const e = el(part); if (e) e.classList.add("now");
  }}));
  el("status").textContent = text;
  el("counter").textContent = "step " + at + " of " + S.length;
  document.body.dataset.step = String(at);
}}
function go(k) {{ at = Math.max(0, Math.min(S.length, k)); show(); }}
el("first").onclick = () => go(0);
el("prev").onclick = () => go(at - 1);
el("next").onclick = () => go(at + 1);
el("last").onclick = () => go(S.length);
document.addEventListener("keydown", (ev) => {{
  const keys = {{ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1,
                Home: 0, End: S.length}};
  if (ev.key in keys) {{ go(keys[ev.key]); ev.preventDefault(); }}
}});
const start = location.hash.match(/^#step=(\\d+)$/);
go(location.hash === "#end" ? S.length : start ? Number(start[1]) : 0);
</script></body></html>
"""
