"""Solutions and sheets as Markdown (``$...$`` LaTeX), LaTeX, or one self-contained HTML page.

A document is a list of blocks: headings, paragraphs, bullet lists, equations
(``label = formula = numbers = value``) and notes. Each format writes the same
blocks: Markdown and LaTeX with `TeX` math, HTML with `MathML` math and inline
CSS (no script, nothing fetched from a network). Every text is escaped for the
format it goes into.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..engine.ops import Activation
from .expr import MathML, Ref, Renderer, Sym, TeX
from .problem import Problem
from .solve import Line, Notation, Solution

__all__ = ["FORMATS", "Doc", "render_doc", "solution_doc"]

FORMATS = ("md", "tex", "html")


@dataclass
class Doc:
    """Blocks: ("h1"|"h2"|"h3"|"p"|"note", text), ("list", [text]), ("math", [math per format])."""

    title: str
    blocks: list[tuple]

    def add(self, kind: str, *content) -> None:
        self.blocks.append((kind, *content))


# -- building ------------------------------


def equation(line: Line, r: Renderer, env: dict) -> str:
    """``label = formula = numbers = value``, leaving out a step that repeats the one before."""
    parts = [r.label(line.label)]
    if line.expr is not None:
        symbolic = line.expr.render(r)
        if symbolic != parts[0]:
            parts.append(symbolic)
        if line.numbers and not isinstance(line.expr, Ref):
            parts.append(line.expr.render(r, env))
    result = r.num(line.value)
    if parts[-1].replace(" ", "") != result.replace(" ", ""):
        parts.append(result)
    eq = r.op("=")
    if isinstance(r, TeX):
        return f" {eq} ".join(parts)
    return r.row([p for part in parts for p in (part, eq)][:-1])


def _math(lines: list[Line], renderers: dict[str, Renderer], env: dict) -> tuple:
    return ("math", [{f: equation(line, r, env) for f, r in renderers.items()} for line in lines])


def _activation_math(act: Activation) -> dict[str, str]:
    """f and f' of the table in LaTeX (the HTML page says them in words in the statement)."""
    tex = rf"f(v) = {act.op.tex}, \quad f'(v) = {act.op.dtex}"
    return {"md": tex, "tex": tex, "html": ""}


SECTION_TITLES = {
    "forward": "Forward pass",
    "error": "Error",
    "backward": "Local gradients, output layer first",
    "gradients": "Gradients",
    "updates": "Updates",
}

LOSS_WORDS = {
    "half_sse": "E = 1/2 sum of e_j^2, e_j = d_j - y_j",
    "sse": "E = sum of e_j^2, e_j = d_j - y_j",
    "mse": "E = mean of e_j^2 over the outputs, e_j = d_j - y_j",
    "bce": "E = -sum of [d_j ln y_j + (1 - d_j) ln(1 - y_j)]",
    "softmax_ce": "E = -sum of d_j ln y_j with y = softmax(v) at the output",
}

#: delta_j = -dE/dv_j of an output neuron j under each loss (m outputs).
OUTPUT_DELTA_WORDS = {
    "half_sse": "delta_j = e_j f'(v_j)",
    "sse": "delta_j = 2 e_j f'(v_j)",
    "mse": "delta_j = 2/m e_j f'(v_j) with m outputs",
    "bce": "delta_j = e_j / (y_j (1 - y_j)) f'(v_j)",
    "softmax_ce": "delta_j = d_j - y_j sum_k d_k",
}


def problem_blocks(doc: Doc, problem: Problem, renderers: dict[str, Renderer]) -> None:
    """The statement: network, activations, loss, learning rate, examples, starting values."""
    sizes = [problem.n_inputs] + [layer.size for layer in problem.layers]
    items = [
        "network " + "-".join(map(str, sizes)) + f", loss {LOSS_WORDS[problem.loss]} "
        f"(at an output neuron {OUTPUT_DELTA_WORDS[problem.loss]}), "
        f"learning rate eta = {problem.eta:g}, {problem.mode} updates, {problem.steps} step(s)"
    ]
    for l, layer in enumerate(problem.layers):
        nums = list(problem.neurons(l))
        what = "output" if problem.is_output(l) else "hidden"
        frozen = f", {' and '.join(sorted(layer.frozen))} frozen" if layer.frozen else ""
        shared = ", one bias shared by the layer" if layer.shared_bias else ""
        items.append(
            f"layer {l + 1} ({what} neurons {nums[0]} to {nums[-1]}): "
            f"f = {layer.activation.spec}{shared}{frozen}. {layer.activation.op.doc}"
        )
    doc.add("list", items)
    if problem.names:
        doc.add(
            "p",
            "Notation of this problem (theirs = ours): "
            + ", ".join(f"{theirs} = {ours}" for theirs, ours in problem.names.items()),
        )


def given_math(solution: Solution, renderers: dict[str, Renderer]) -> tuple:
    """One equation per given number: x_i, d_j, every starting weight and bias, eta."""
    rows = []
    b = solution.givens
    for key, value in b.items():
        name, _, k = key.partition("|")
        lab = _given_label(solution, name, k)
        rows.append(
            {
                f: r.row([r.label(lab), r.op("="), r.num(value, True)])
                if f == "html"
                else f"{r.label(lab)} = {r.num(value, True)}"
                for f, r in renderers.items()
            }
        )
    return ("math", rows)


def _given_label(solution: Solution, name: str, example: str):
    notation = Notation(solution.problem)
    if name == "eta":
        return Sym("eta")
    if example:
        tag = f"[{int(example) + 1}]" if len(solution.problem.data) > 1 else ""
        return notation.sym(name, Sym(name[0], name[1:] + tag))
    return notation.param(name)


def solution_doc(solution: Solution, title: str) -> Doc:
    problem = solution.problem
    exact = frozenset(solution.givens)
    renderers = {
        "md": TeX(solution.digits, exact),
        "tex": TeX(solution.digits, exact),
        "html": MathML(solution.digits, exact),
    }
    env = {line.key: line.value for line in solution.lines} | solution.givens
    doc = Doc(title, [])
    doc.add("h1", title)
    doc.add(
        "p",
        f"Every number is carried at full precision and shown to {solution.digits} "
        "significant digits. A note marks each line where the rounded numbers shown "
        "would give another last digit.",
    )
    doc.add("h2", "Given")
    problem_blocks(doc, problem, renderers)
    acts = {layer.activation.spec: layer.activation for layer in problem.layers}
    doc.add("math", [_activation_math(act) for act in acts.values()])
    doc.blocks.append(given_math(solution, renderers))
    for p in solution.passes:
        if p.index == 0:
            head = "Before any update"
        else:
            head = f"After update {p.index}"
        if problem.mode == "online":
            head += f", example {p.examples[0] + 1}"
        doc.add("h2", head)
        for section in ("forward", "error", "backward", "gradients", "updates"):
            lines = p.section(section)
            if not lines:
                continue
            doc.add("h3", SECTION_TITLES[section])
            for line in lines:
                doc.blocks.append(_math([line], renderers, env))
                if line.note:
                    doc.add("note", f"Note: {line.note}.")
    return doc


# -- writing ------------------------------

CSS = """body{font-family:Georgia,serif;max-width:52em;margin:2em auto;padding:0 1em}
h1,h2,h3{font-family:Helvetica,Arial,sans-serif}math[display=block]{margin:.4em 0}
.note{background:#fff4d6;border-left:4px solid #e0a800;padding:.2em .6em}
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}"""


def md_escape(s: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>#|$" else ch for ch in s)


def render_doc(doc: Doc, form: str) -> str:
    """The document as Markdown, LaTeX or HTML text."""
    if form not in FORMATS:
        raise ValueError(f"unknown format {form!r}; give one of {', '.join(FORMATS)}")
    return {"md": _md, "tex": _tex, "html": _html}[form](doc)


def _md(doc: Doc) -> str:
    out = []
    for kind, *content in doc.blocks:
        if kind in ("h1", "h2", "h3"):
            out += ["#" * int(kind[1]) + " " + md_escape(content[0]), ""]
        elif kind == "p":
            out += [md_escape(content[0]), ""]
        elif kind == "note":
            out += ["> " + md_escape(content[0]), ""]
        elif kind == "list":
            out += ["- " + md_escape(item) for item in content[0]] + [""]
        elif kind == "math":
            out += [f"${row['md']}$  " for row in content[0]] + [""]
        elif kind == "raw":
            out += [content[0]["md"], ""]
    return "\n".join(out).rstrip() + "\n"


def _tex_text(s: str) -> str:
    return TeX().escape(s)


def _tex(doc: Doc) -> str:
    out = [
        r"\documentclass{article}",
        r"\usepackage{amsmath}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\begin{document}",
    ]
    for kind, *content in doc.blocks:
        if kind in ("h1", "h2", "h3"):
            cmd = {"h1": r"\section*", "h2": r"\subsection*", "h3": r"\subsubsection*"}[kind]
            out.append(f"{cmd}{{{_tex_text(content[0])}}}")
        elif kind == "p":
            out += [_tex_text(content[0]), ""]
        elif kind == "note":
            out += [r"\emph{" + _tex_text(content[0]) + "}", ""]
        elif kind == "list":
            out.append(r"\begin{itemize}")
            out += [r"\item " + _tex_text(item) for item in content[0]]
            out.append(r"\end{itemize}")
        elif kind == "math":
            out += [r"\[ " + row["tex"] + r" \]" for row in content[0]]
        elif kind == "raw":
            out.append(content[0]["tex"])
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _html(doc: Doc) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/>',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    for kind, *content in doc.blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{html.escape(content[0])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{html.escape(content[0])}</p>")
        elif kind == "note":
            out.append(f'<p class="note">{html.escape(content[0])}</p>')
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in content[0]) + "</ul>")
        elif kind == "math":
            out += [
                f'<math display="block">{row["html"]}</math>' for row in content[0] if row["html"]
            ]
        elif kind == "raw":
            out.append(content[0]["html"])
    out.append("</body></html>")
    return "\n".join(out) + "\n"
