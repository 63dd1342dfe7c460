"""Formulas that compute and print themselves: one tree gives the number, the LaTeX and the MathML.

A line of a worked solution such as ``v_1 = w_11 x_1 + w_12 x_2 + b_1`` is an
`Expr` tree over named quantities (`Ref`). ``expr.eval(env)`` computes it from
the numbers in ``env`` (floats, or `Value`s when the engine is to differentiate
it), and ``expr.render(r, env)`` prints it with a `Renderer` (`TeX` or
`MathML`): with ``env=None`` as symbols, with an ``env`` as the numbers
substituted. So the formula shown and the number computed can never disagree.

Labels (`Sym`, `Delta`, `Partial`, `Call`) are how a quantity is written: the
renderers turn them into ``w_{11}``, ``\\Delta w_{11}``,
``\\frac{\\partial E}{\\partial w_{11}}``, ``\\sigma'(v_{2})`` or the same in MathML.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..formatting import fmt

__all__ = [
    "Add",
    "Apply",
    "Call",
    "Const",
    "Delta",
    "Div",
    "Exp",
    "Expr",
    "Label",
    "Ln",
    "MathML",
    "Mul",
    "Neg",
    "Partial",
    "Ref",
    "Renderer",
    "Square",
    "Sym",
    "TeX",
    "round_sig",
    "shown",
    "total",
]

GREEK = {"delta": "δ", "Delta": "Δ", "eta": "η", "sigma": "σ", "partial": "∂"}


def shown(x: float, digits: int) -> str:
    """`x` as written with `digits` significant digits, trailing zeros kept: 0.000420, 1.00;
    rounded as a person rounds the decimal number, half up (0.355 -> 0.36, see `round_sig`)."""
    text = fmt(round_sig(x, digits), f"#.{digits}g")
    mantissa, e, exponent = text.partition("e")
    if mantissa.endswith("."):
        mantissa = mantissa[:-1]
    return mantissa + (e + str(int(exponent)) if e else "")


def round_sig(x: float, digits: int) -> float:
    """`x` rounded to `digits` significant digits (what a person writes down): the shortest
    decimal that reads back as x (0.355 for 0.25 * 0.5 + 0.3 * 1.1 - 0.1, whose float is
    0.35499999999999998...) rounded half away from zero, 0.355 -> 0.36, as by hand."""
    if x == 0 or not math.isfinite(x):
        return x
    d = Decimal(repr(float(x)))
    step = Decimal(1).scaleb(d.adjusted() - digits + 1)
    rounded = float(d.quantize(step, rounding=ROUND_HALF_UP))
    return rounded if math.isfinite(rounded) else x  # 1.8e308 is past the largest float


# -- labels: how a quantity is written ------------------------------


@dataclass(frozen=True)
class Sym:
    """A letter (or a Greek name such as ``"delta"``) with an optional subscript and superscript."""

    base: str
    sub: str = ""
    sup: str = ""


@dataclass(frozen=True)
class Delta:
    """The update of a parameter: Delta w_11."""

    of: Label


@dataclass(frozen=True)
class Partial:
    """The derivative dE/dw_11."""

    top: Label
    bottom: Label


@dataclass(frozen=True)
class Call:
    """A function applied to a quantity: sigmoid(v_2), or with ``prime`` sigmoid'(v_2)."""

    fname: str
    arg: Label
    prime: bool = False


Label = Sym | Delta | Partial | Call

_PLAIN = re.compile(r"^([A-Za-z]+?)_?([A-Za-z0-9]*)$")


def plain_label(text: str) -> Sym:
    """An author's own name read as a letter with a subscript: ``w5`` -> w_5, ``h_out`` -> h_out."""
    m = _PLAIN.match(text)
    if m and len(m.group(1)) <= 3 and m.group(2):
        return Sym(m.group(1), m.group(2))
    return Sym(text)


# -- renderers ------------------------------


class Renderer:
    """Turns labels, numbers and operators into one markup language."""

    def __init__(self, digits: int = 4, exact: frozenset[str] = frozenset()) -> None:
        self.digits = digits
        # quantities given in the problem: shown as written, not rounded
        self.exact = exact

    def number_text(self, x: float, exact: bool = False) -> tuple[str, str | None]:
        """Mantissa and power of ten of `x` shown to `digits` significant digits."""
        text = fmt(x, ".12g") if exact else shown(x, self.digits)
        mantissa, _, exponent = text.partition("e")
        return mantissa, (str(int(exponent)) if exponent else None)


class TeX(Renderer):
    """LaTeX math (for ``$...$`` in Markdown and for .tex files); names are escaped."""

    def escape(self, s: str) -> str:
        out = []
        for ch in s:
            if ch in "\\{}&#%_^~":
                out.append(
                    {"\\": r"\backslash{}", "^": r"\hat{}", "~": r"\sim{}"}.get(ch, "\\" + ch)
                )
            elif (ch.isascii() and ch.isalnum()) or ch in " .,:;()+-*/'=":
                out.append(ch)
            else:  # anything else (< > & " ...) is not fed to TeX or to a Markdown page
                out.append("?")
        return "".join(out)

    def word(self, s: str) -> str:
        if s in GREEK:
            return "\\" + s
        if len(s) == 1:
            return self.escape(s)
        return r"\mathrm{" + self.escape(s) + "}"

    def label(self, lab: Label) -> str:
        if isinstance(lab, Sym):
            out = self.word(lab.base)
            if lab.sub:
                out += "_{" + self.escape(lab.sub) + "}"
            if lab.sup:
                out += r"^{\mathrm{" + self.escape(lab.sup) + "}}"
            return out
        if isinstance(lab, Delta):
            return r"\Delta " + self.label(lab.of)
        if isinstance(lab, Partial):
            return (
                r"\frac{\partial "
                + self.label(lab.top)
                + r"}{\partial "
                + self.label(lab.bottom)
                + "}"
            )
        return self.func(lab.fname, self.label(lab.arg), lab.prime)

    def num(self, x: float, exact: bool = False) -> str:
        mantissa, power = self.number_text(x, exact)
        return mantissa if power is None else rf"{mantissa} \times 10^{{{power}}}"

    def op(self, o: str) -> str:
        return {"*": r"\cdot", "-": "-", "+": "+", "=": "=", "approx": r"\approx"}[o]

    def row(self, parts: list[str]) -> str:
        return " ".join(p for p in parts if p)

    def paren(self, s: str) -> str:
        return rf"\left({s}\right)"

    def frac(self, a: str, b: str) -> str:
        return rf"\frac{{{a}}}{{{b}}}"

    def power(self, a: str, b: str) -> str:
        return f"{{{a}}}^{{{b}}}"

    def func(self, name: str, arg: str, prime: bool = False) -> str:
        head = r"\ln" if name == "ln" else self.word(name)
        return head + ("'" if prime else "") + self.paren(arg)

    def text(self, s: str) -> str:
        return r"\text{" + self.escape(s) + "}"

    def sum_over(self, body: str, index: str) -> str:
        return rf"\sum_{{{index}}} {body}"


class MathML(Renderer):
    """Presentation MathML (rendered by browsers without any script); every text is escaped."""

    def word(self, s: str) -> str:
        if s in GREEK:
            return f"<mi>{GREEK[s]}</mi>"
        variant = "" if len(s) == 1 else ' mathvariant="normal"'
        return f"<mi{variant}>{html.escape(s)}</mi>"

    def _sub(self, s: str) -> str:
        kind = "mn" if s.isdigit() else "mi"
        return f"<{kind}>{html.escape(s)}</{kind}>"

    def label(self, lab: Label) -> str:
        if isinstance(lab, Sym):
            base = self.word(lab.base)
            if lab.sub and lab.sup:
                sub, sup = self._sub(lab.sub), f"<mtext>{html.escape(lab.sup)}</mtext>"
                return f"<msubsup>{base}{sub}{sup}</msubsup>"
            if lab.sub:
                return f"<msub>{base}{self._sub(lab.sub)}</msub>"
            if lab.sup:
                return f"<msup>{base}<mtext>{html.escape(lab.sup)}</mtext></msup>"
            return base
        if isinstance(lab, Delta):
            return f"<mrow><mi>Δ</mi>{self.label(lab.of)}</mrow>"
        if isinstance(lab, Partial):
            top = f"<mrow><mo>∂</mo>{self.label(lab.top)}</mrow>"
            bottom = f"<mrow><mo>∂</mo>{self.label(lab.bottom)}</mrow>"
            return self.frac(top, bottom)
        return self.func(lab.fname, self.label(lab.arg), lab.prime)

    def num(self, x: float, exact: bool = False) -> str:
        mantissa, power = self.number_text(x, exact)
        sign = ""
        if mantissa.startswith("-"):
            sign, mantissa = "<mo>-</mo>", mantissa[1:]
        out = f"<mn>{mantissa}</mn>"
        if power is not None:
            out += f"<mo>×</mo><msup><mn>10</mn><mn>{power}</mn></msup>"
        return f"<mrow>{sign}{out}</mrow>" if sign or power else out

    def op(self, o: str) -> str:
        return "<mo>" + {"*": "·", "-": "-", "+": "+", "=": "=", "approx": "≈"}[o] + "</mo>"

    def row(self, parts: list[str]) -> str:
        return "<mrow>" + "".join(parts) + "</mrow>"

    def paren(self, s: str) -> str:
        return f"<mrow><mo>(</mo>{s}<mo>)</mo></mrow>"

    def frac(self, a: str, b: str) -> str:
        return f"<mfrac>{a}{b}</mfrac>"

    def power(self, a: str, b: str) -> str:
        return f"<msup>{a}{b}</msup>"

    def func(self, name: str, arg: str, prime: bool = False) -> str:
        head = self.word(name) + ("<mo>′</mo>" if prime else "")
        return f"<mrow>{head}{self.paren(arg)}</mrow>"

    def text(self, s: str) -> str:
        return f"<mtext>{html.escape(s)}</mtext>"

    def sum_over(self, body: str, index: str) -> str:
        return f"<mrow><munder><mo>∑</mo>{index}</munder>{body}</mrow>"


# -- expressions ------------------------------

ADD, MUL, NEG, POW, ATOM = 1, 2, 3, 4, 5
Env = Mapping[str, Any]


class Expr:
    """A formula over named quantities."""

    prec = ATOM

    def eval(self, env: Env) -> Any:
        raise NotImplementedError

    def render(self, r: Renderer, env: Env | None = None) -> str:
        raise NotImplementedError

    def refs(self) -> set[str]:
        """The keys of the quantities the formula reads."""
        out: set[str] = set()
        for child in self.children():
            out |= child.refs()
        return out

    def children(self) -> tuple[Expr, ...]:
        return ()

    def shown_prec(self, env: Env | None) -> int:
        """The precedence as printed: a substituted negative number binds like a minus sign."""
        return self.prec

    def starts_negative(self, env: Env | None) -> bool:
        """Whether the printed text starts with a minus sign."""
        return self.shown_prec(env) == NEG

    def wrapped(self, r: Renderer, env: Env | None, least: int) -> str:
        s = self.render(r, env)
        return r.paren(s) if self.shown_prec(env) < least else s

    def signed(self, r: Renderer, env: Env | None, least: int) -> str:
        """As `wrapped`, and in parentheses when it would print as a second sign: a + (-b)."""
        if self.starts_negative(env):
            return r.paren(self.render(r, env))
        return self.wrapped(r, env, least)


@dataclass(frozen=True)
class Ref(Expr):
    """A named quantity: `key` finds its number, `label` is how it is written."""

    key: str
    label: Label

    def eval(self, env: Env) -> Any:
        return env[self.key]

    def render(self, r: Renderer, env: Env | None = None) -> str:
        if env is None:
            return r.label(self.label)
        return r.num(float(env[self.key]), self.key in r.exact)

    def refs(self) -> set[str]:
        return {self.key}

    def shown_prec(self, env: Env | None) -> int:
        if env is not None and float(env[self.key]) < 0:
            return NEG
        return ATOM


@dataclass(frozen=True)
class Const(Expr):
    """A fixed number such as 1/2; `tex` and `mathml` override how it is written."""

    value: float
    tex: str = ""
    mathml: str = ""

    def eval(self, env: Env) -> Any:
        return self.value

    def render(self, r: Renderer, env: Env | None = None) -> str:
        if isinstance(r, TeX) and self.tex:
            return self.tex
        if isinstance(r, MathML) and self.mathml:
            return self.mathml
        return r.num(self.value)

    def shown_prec(self, env: Env | None) -> int:
        return NEG if self.value < 0 else ATOM


class _Nary(Expr):
    def __init__(self, *terms: Expr) -> None:
        self.terms = terms

    def children(self) -> tuple[Expr, ...]:
        return self.terms

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.terms!r}"


def total(terms: list[Expr]) -> Expr:
    """The sum of `terms`; one term is itself (no parentheses around a sum of one)."""
    return terms[0] if len(terms) == 1 else Add(*terms)


class Add(_Nary):
    """a + b + ...; a `Neg` term prints as a subtraction."""

    prec = ADD

    def eval(self, env: Env) -> Any:
        total = self.terms[0].eval(env)
        for t in self.terms[1:]:
            total = total + t.eval(env)
        return total

    def render(self, r: Renderer, env: Env | None = None) -> str:
        parts = [self.terms[0].wrapped(r, env, ADD)]
        for t in self.terms[1:]:
            if isinstance(t, Neg):
                parts += [r.op("-"), t.arg.signed(r, env, MUL)]
            else:
                parts += [r.op("+"), t.signed(r, env, ADD)]
        return r.row(parts)

    def starts_negative(self, env: Env | None) -> bool:
        return self.terms[0].starts_negative(env)


class Mul(_Nary):
    """a * b * ...; symbols are juxtaposed (w_11 x_1), numbers joined by a dot."""

    prec = MUL

    def eval(self, env: Env) -> Any:
        out = self.terms[0].eval(env)
        for t in self.terms[1:]:
            out = out * t.eval(env)
        return out

    def render(self, r: Renderer, env: Env | None = None) -> str:
        parts = [self.terms[0].wrapped(r, env, NEG)]
        for t in self.terms[1:]:
            if env is not None or isinstance(t, Const):
                parts.append(r.op("*"))
            elif isinstance(r, TeX):
                parts.append(r"\,")
            parts.append(t.signed(r, env, POW))
        return r.row(parts)

    def starts_negative(self, env: Env | None) -> bool:
        return self.terms[0].starts_negative(env)


class _Unary(Expr):
    def __init__(self, arg: Expr) -> None:
        self.arg = arg

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


class Neg(_Unary):
    prec = NEG

    def eval(self, env: Env) -> Any:
        return -self.arg.eval(env)

    def render(self, r: Renderer, env: Env | None = None) -> str:
        return r.row([r.op("-"), self.arg.signed(r, env, MUL)])

    def starts_negative(self, env: Env | None) -> bool:
        return True


class Square(_Unary):
    prec = POW

    def eval(self, env: Env) -> Any:
        a = self.arg.eval(env)
        return a * a

    def render(self, r: Renderer, env: Env | None = None) -> str:
        two = "2" if isinstance(r, TeX) else "<mn>2</mn>"
        return r.power(self.arg.wrapped(r, env, ATOM), two)


class Ln(_Unary):
    """ln a (with `Value`s: the engine's log)."""

    def eval(self, env: Env) -> Any:
        a = self.arg.eval(env)
        return a.log() if hasattr(a, "log") else math.log(a)

    def render(self, r: Renderer, env: Env | None = None) -> str:
        return r.func("ln", self.arg.render(r, env))


class Apply(_Unary):
    """f(a) or f'(a) of an activation: the numbers come from the op table's f and df."""

    def __init__(self, fname: str, fn: Callable[[float], float], arg: Expr, prime=False) -> None:
        super().__init__(arg)
        self.fname, self.fn, self.prime = fname, fn, prime

    def eval(self, env: Env) -> Any:
        return self.fn(self.arg.eval(env))

    def render(self, r: Renderer, env: Env | None = None) -> str:
        return r.func(self.fname, self.arg.render(r, env), self.prime)


class Exp(_Unary):
    """e^a (with `Value`s: the engine's exp)."""

    prec = POW

    def eval(self, env: Env) -> Any:
        a = self.arg.eval(env)
        return a.exp() if hasattr(a, "exp") else math.exp(a)

    def render(self, r: Renderer, env: Env | None = None) -> str:
        e = "e" if isinstance(r, TeX) else "<mi>e</mi>"
        return r.power(e, self.arg.render(r, env))


class Div(Expr):
    """a / b, written as a fraction."""

    def __init__(self, a: Expr, b: Expr) -> None:
        self.a, self.b = a, b

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def eval(self, env: Env) -> Any:
        return self.a.eval(env) / self.b.eval(env)

    def render(self, r: Renderer, env: Env | None = None) -> str:
        return r.frac(self.a.render(r, env), self.b.render(r, env))
