"""A small expression language over x, parsed safely and evaluated with `Value`.

Python syntax: numbers, ``+ - * / **``, unary minus, parentheses, the constants
``e`` and ``pi``, and functions:

* every unary op of the engine's table (`tinygrad_bp.engine.ops.UNARY`: exp, log,
  sqrt, abs, sin, cos, tan, sinh, cosh, tanh, sigmoid, relu, softplus, elu,
  leaky_relu, ...), evaluated by the `Value` method of the same name; an op's
  parameters are optional further arguments, by position or by name:
  ``leaky_relu(x, 0.2)``, ``elu(x, alpha=2)``;
* the aliases ``ln`` (log), ``coth``, ``sech``, ``csch``, ``log(u, a)`` (base a) and
  ``diff(u)`` (du/dx, by the Value engine's reverse mode).

Any other single letter (``a``, ``b``, ``c``) is a positive constant.

The text is parsed with `ast` and checked node by node against a whitelist;
anything else (attributes, other names or calls, lambdas, comprehensions,
strings, ...) is an `ExpressionError` quoting the offending piece. Nothing is
ever handed to `eval` or `exec`: an expression compiles to a tree of small
Python closures that call `Value` operations. Long texts, long numbers and deep
nesting are refused up front (see `Limits`); a piece without x or constants is
computed once while parsing, so ``10**10**10`` or ``1/0`` is an error that says so.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.autograd import topological_order
from ..engine.ops import UNARY as OPS
from ..engine.ops import UnaryOp
from ..engine.value import Value
from .limits import DEFAULT, Limits

__all__ = ["Expression", "ExpressionError", "OutOfRange", "UndefinedError", "parse"]

Env = dict[str, Value]
Compiled = Callable[[Env], Value]


class ExpressionError(ValueError):
    """The text is not an expression of this language; the message names the piece."""


class UndefinedError(ArithmeticError):
    """The expression has no real value at this point (outside its domain)."""


class OutOfRange(UndefinedError):
    """The expression's value at this point is beyond the range of float64 (an overflow)."""


# What evaluating an op outside its domain raises in the engine.
DOMAIN_ERRORS = (ValueError, ZeroDivisionError, OverflowError)


def _coth(v: Value) -> Value:
    return 1 / v.tanh()


def _sech(v: Value) -> Value:
    return 1 / v.cosh()


def _csch(v: Value) -> Value:
    return 1 / v.sinh()


#: Functions of one argument that are not in the op table, as compositions of ops.
ALIASES: dict[str, Callable[[Value], Value]] = {
    "ln": Value.log,
    "coth": _coth,
    "sech": _sech,
    "csch": _csch,
}
FUNCTIONS = sorted([*OPS, *ALIASES, "diff"])
NAMED_CONSTANTS = {"e": math.e, "pi": math.pi}
_DIGITS = re.compile(r"[0-9][0-9_]*")


def _apply(op: UnaryOp, v: Value, params: dict[str, float]) -> Value:
    """op(v) by the `Value` method of the op's name, with the op's parameters."""
    return getattr(v, op.name)(**params)


@dataclass
class Expression:
    """A parsed expression: `text`, the constant letters it uses, its `size` in nodes."""

    text: str
    constants: tuple[str, ...]
    uses_diff: bool
    size: int
    _fn: Compiled

    def evaluate(
        self,
        x: Value | float,
        constants: dict[str, float] | None = None,
        diffs: list[tuple[Value, float]] | None = None,
    ) -> Value:
        """The expression as a Value graph at x (a Value leaf, or a number); each diff(u)
        appends its node and the size of the terms of du/dx to `diffs`."""
        env: Env = {"x": x if isinstance(x, Value) else Value(float(x), "x", role="input")}
        if diffs is not None:
            env[_DIFFS] = diffs  # type: ignore[assignment]
        for name, value in (constants or {}).items():
            env[name] = Value(float(value), name, role="const")
        missing = [c for c in self.constants if c not in env]
        if missing:
            raise ValueError(
                f"{self.text!r} uses the constant(s) {', '.join(missing)}, but no value was given; "
                f"pass constants={{{', '.join(f'{c!r}: 1.0' for c in missing)}}}"
            )
        try:
            return self._fn(env)
        except OverflowError as exc:
            raise OutOfRange(str(exc)) from None
        except DOMAIN_ERRORS as exc:
            raise UndefinedError(str(exc)) from None
        except RecursionError:
            raise ExpressionError(_too_big_for_python(self.text)) from None

    def value(self, x: float, constants: dict[str, float] | None = None) -> float:
        """The number at x, or `UndefinedError` where it is not a finite real number."""
        return self._finite(self.evaluate(x, constants).data, x)

    def _finite(self, value: float, x: float) -> float:
        """`value`, or `OutOfRange` (infinite) or `UndefinedError` (NaN) naming x."""
        if not math.isfinite(value):
            raise (OutOfRange if math.isinf(value) else UndefinedError)(
                f"{self.text} is {value} at x = {x}, not a finite number; pick an x in its domain"
            )
        return value

    def derivative(self, x: float, constants: dict[str, float] | None = None) -> float:
        """d/dx at x, by reverse mode on the Value graph."""
        return self.derivative_and_scale(x, constants)[0]

    def value_and_scale(
        self, x: float, constants: dict[str, float] | None = None
    ) -> tuple[float, float]:
        """The number f at x and the size of the terms it is made of, the sum over the
        graph's nodes v of |v df/dv| (rounding moves f by about 1e-16 times this), so that
        a value that is small because it is made of small terms is told from one that is
        small because large terms cancel."""
        diffs: list[tuple[Value, float]] = []
        out = self.evaluate(x, constants, diffs)
        value = self._finite(out.data, x)
        out.backward()
        return value, _terms(out) + sum(abs(node.grad or 0.0) * scale for node, scale in diffs)

    def derivative_and_scale(
        self, x: float, constants: dict[str, float] | None = None
    ) -> tuple[float, float]:
        """df/dx at x by reverse mode and the size of the terms it is made of (see
        `value_and_scale`): the sum over the nodes v of |df/dv dv/dx|, each dv/dx a
        difference quotient."""
        if self.uses_diff:
            raise ExpressionError(
                f"{self.text}: the derivative of an expression that contains diff(...) would "
                "be a second derivative, which this checker does not compute; work out the "
                "inner derivative by hand and write it without diff"
            )
        leaf = Value(float(x), "x", role="input")
        out = self.evaluate(leaf, constants)
        out.backward()
        grad = 0.0 if leaf.grad is None else leaf.grad  # None: no path from x to the result
        if not (math.isfinite(out.data) and math.isfinite(grad)):
            raise (OutOfRange if math.isinf(out.data) or math.isinf(grad) else UndefinedError)(
                f"d/dx {self.text} is not finite at x = {x} (value {out.data}, slope {grad}); "
                "pick an x in its domain"
            )
        return grad, _slope_terms(out, leaf.data, lambda xh: self.evaluate(xh, constants))


def parse(text: str, limits: Limits = DEFAULT) -> Expression:
    """Parse `text` into an `Expression`, or raise `ExpressionError` naming what is wrong."""
    if not isinstance(text, str):
        raise ExpressionError(
            f"an expression is text, got {type(text).__name__} {text!r:.40}; "
            "pass a string like 'x**2 + 1'"
        )
    source = text.strip()
    if not source:
        raise ExpressionError(f"empty expression ({text!r}); write one like x**2 + 1")
    if len(source) > limits.max_chars:
        raise ExpressionError(
            limits.exceeded("max_chars", f"an expression of {len(source):,} characters is too long")
        )
    longest = max(_DIGITS.findall(source), key=lambda n: len(n.replace("_", "")), default="")
    digits = len(longest.replace("_", ""))
    if digits > limits.max_digits:
        raise ExpressionError(
            f"numbers in a derivation have at most {limits.max_digits} digits; "
            f"{longest[:20]}... has {digits:,} (raise the limit with "
            f"{limits.how_to_raise('max_digits')})"
        )
    if "^" in source:
        raise ExpressionError(f"'^' in {source!r}: write powers with ** (x**2)")
    try:
        with warnings.catch_warnings():  # '1if', '\)': the error below says it in one line
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise ExpressionError(_too_big_for_python(source)) from None
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(
            f"not a valid expression{where}: {source!r} ({exc.msg}); write products with * (2*x)"
        ) from None
    except ValueError as exc:  # e.g. NUL bytes
        raise ExpressionError(
            f"not a valid expression: {source!r:.200} ({exc}); write it with numbers, x, "
            "+ - * / ** and functions"
        ) from None
    compiler = _Compiler(source, limits)
    try:
        fn = compiler.compile(tree.body)
    except RecursionError:
        raise ExpressionError(_too_big_for_python(source)) from None
    return Expression(
        source, tuple(sorted(compiler.constants)), compiler.uses_diff, compiler.size, fn
    )


def _too_big_for_python(source: str) -> str:
    return (
        f"{source[:40]!r}... has more terms or levels of nesting than Python can take "
        "(a few hundred levels, a few thousand terms); split it over several lines"
    )


def _too_deep(source: str, limits: Limits) -> str:
    return limits.exceeded("max_depth", f"{source[:40]!r}... is nested too deeply")


class _Compiler:
    def __init__(self, source: str, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.constants: set[str] = set()
        self.uses_diff = False
        self.in_diff = False
        self.depth = 0
        self.size = 0
        self.variables = 0  # uses of x and of constant letters so far

    def piece(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or type(node).__name__
        return text if len(text) <= 80 else text[:77] + "..."

    def reject(self, node: ast.AST, why: str) -> ExpressionError:
        return ExpressionError(f"{why}: {self.piece(node)!r} in {self.source[:200]!r}")

    def compile(self, node: ast.AST) -> Compiled:
        """The closure computing `node`; a piece without variables is computed right away."""
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise ExpressionError(_too_deep(self.source, self.limits))
        self.size += 1
        before = self.variables
        fn = self.node(node)
        self.depth -= 1
        if isinstance(node, (ast.Constant, ast.Name)):
            return fn
        if self.variables == before:
            return self.fold(node, fn)
        return _finite(fn, lambda: self.piece(node))

    def fold(self, node: ast.AST, fn: Compiled) -> Compiled:
        try:
            number = fn({}).data
        except DOMAIN_ERRORS as exc:
            raise self.reject(
                node, f"this has no real value ({exc}); write a number that exists"
            ) from None
        if not math.isfinite(number):
            raise self.reject(
                node,
                f"this is {number}, beyond the range of float64 (about 1.8e308); "
                "use smaller numbers",
            )
        return lambda env: Value._lift(number)

    def node(self, node: ast.AST) -> Compiled:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.compile(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda env: -operand(env)
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self.reject(node, "only unary + and - are allowed; write -x or +x")
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        kinds = {
            ast.Attribute: "attribute access is not allowed; write the function alone, like exp(x)",
            ast.Lambda: "lambdas are not allowed; write the expression in x itself",
            ast.Subscript: "indexing is not allowed; use single-letter constants like a, b",
            ast.Compare: "comparisons are not allowed (a rule is 'd/dx f = g' on its own line)",
        }
        for kind, why in kinds.items():
            if isinstance(node, kind):
                raise self.reject(node, why)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            raise self.reject(node, "comprehensions are not allowed; write the terms out with +")
        raise self.reject(
            node,
            f"{type(node).__name__} is not allowed in an expression; use numbers, x, "
            "+ - * / ** and functions",
        )

    def constant(self, node: ast.Constant) -> Compiled:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.reject(
                node,
                f"only real numbers are allowed as literals, got {type(v).__name__}; "
                "write e.g. 2.5",
            )
        try:
            number = float(v)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise self.reject(
                node,
                "this number is beyond the range of float64 (about 1.8e308); write a smaller one",
            )
        return lambda env: Value._lift(number)

    def name(self, node: ast.Name) -> Compiled:
        n = node.id
        if n in NAMED_CONSTANTS:
            c = NAMED_CONSTANTS[n]
            return lambda env: Value._lift(c)
        if n in OPS or n in ALIASES or n == "diff":
            raise self.reject(node, f"the function {n} needs an argument, like {n}(x)")
        if n == "x" or (len(n) == 1 and n.isalpha()):
            self.variables += 1
            if n != "x":
                self.constants.add(n)
            return lambda env: env[n]
        raise self.reject(
            node,
            f"unknown name {n!r} (use x, e, pi, a single-letter constant, or one of the "
            f"functions {', '.join(FUNCTIONS)})",
        )

    def binop(self, node: ast.BinOp) -> Compiled:
        if isinstance(node.op, ast.Pow):
            base, power = self.compile(node.left), self.compile(node.right)
            if _mentions_x(node.right):
                return lambda env: base(env) ** power(env)  # d/dx a^u needs a > 0
            return lambda env: base(env) ** power(env).data  # the power rule
        # a chain a + b - c + ... (or a * b / c ...) is one node: no recursion per term
        kinds = (
            (ast.Add, ast.Sub) if isinstance(node.op, (ast.Add, ast.Sub)) else (ast.Mult, ast.Div)
        )
        if not isinstance(node.op, kinds):
            raise self.reject(
                node, f"the operator {type(node.op).__name__} is not allowed (use + - * / **)"
            )
        chain: list[tuple[ast.operator, ast.AST]] = []
        left: ast.AST = node
        while isinstance(left, ast.BinOp) and isinstance(left.op, kinds):
            chain.append((left.op, left.right))
            left = left.left
        first = self.compile(left)
        rest = [(_ARITHMETIC[type(op)], self.compile(term)) for op, term in reversed(chain)]

        def fn(env: Env) -> Value:
            out = first(env)
            for combine, term in rest:
                out = combine(out, term(env))
            return out

        return fn

    def call(self, node: ast.Call) -> Compiled:
        if not isinstance(node.func, ast.Name):
            raise self.reject(
                node.func, f"only these functions can be called: {', '.join(FUNCTIONS)}"
            )
        name = node.func.id
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            raise self.reject(node, "starred arguments are not allowed; write the arguments out")
        nargs = len(node.args)
        if name == "diff":
            return self.diff(node)
        if name == "log" and nargs == 2 and not node.keywords:
            arg, base = self.compile(node.args[0]), self.compile(node.args[1])
            return lambda env: arg(env).log() / base(env).log()
        if name in ALIASES:
            if nargs != 1 or node.keywords:
                raise self.reject(node, f"{name} takes one argument, like {name}(x)")
            fn, arg = ALIASES[name], self.compile(node.args[0])
            return lambda env: fn(arg(env))
        if name in OPS:
            return self.op(node, OPS[name])
        raise self.reject(node.func, f"unknown function {name!r} (known: {', '.join(FUNCTIONS)})")

    def op(self, node: ast.Call, op: UnaryOp) -> Compiled:
        """``f(u)`` or ``f(u, p1, ...)`` / ``f(u, p1=...)`` for an op with parameters."""
        names = list(op.params)
        usage = f"{op.name}(x{''.join(f', {p}' for p in names)})"
        if op.name == "log":
            usage = "log(x) or log(x, base)"
        given = [*zip(names, node.args[1:]), *((k.arg, k.value) for k in node.keywords)]
        if not node.args or len(node.args) - 1 > len(names):
            raise self.reject(node, f"{op.name} takes {usage}")
        seen: set[str] = set()
        for pname, _ in given:
            if pname not in names or pname in seen:
                again = "given twice" if pname in seen else "not one of its parameters"
                raise self.reject(node, f"{op.name} takes {usage}; {pname!r} is {again}")
            seen.add(pname)
        arg = self.compile(node.args[0])
        params = []
        for pname, pnode in given:
            if _mentions_x(pnode):
                raise self.reject(
                    pnode,
                    f"the {pname} of {op.name} is a number, not a function of x; write a constant",
                )
            params.append((pname, self.compile(pnode)))
        if not params:
            return lambda env: _apply(op, arg(env), {})
        return lambda env: _apply(op, arg(env), {p: v(env).data for p, v in params})

    def diff(self, node: ast.Call) -> Compiled:
        if len(node.args) != 1 or node.keywords:
            raise self.reject(node, "diff takes one expression, like diff(x**2)")
        if self.in_diff:
            raise self.reject(
                node, "diff(...) cannot be nested (no second derivatives); write the inner one out"
            )
        self.in_diff = True
        inner = self.compile(node.args[0])
        self.in_diff = False
        self.uses_diff = True
        self.variables += 1  # du/dx depends on x even where u is a number
        return lambda env: _diff(inner, env)


_ARITHMETIC: dict[type, Callable[[Value, Value], Value]] = {
    ast.Add: Value.__add__,
    ast.Sub: Value.__sub__,
    ast.Mult: Value.__mul__,
    ast.Div: Value.__truediv__,
}


def _finite(fn: Compiled, piece: Callable[[], str]) -> Compiled:
    """`fn`, refusing a value that is not a finite number, so that a NaN or an infinity
    never becomes a finite number further up (relu(log(x)) at x < 0, log(x)**0, 1/exp(x))."""

    def checked(env: Env) -> Value:
        out = fn(env)
        if not math.isfinite(out.data):
            error = OverflowError if math.isinf(out.data) else ValueError
            raise error(f"{piece()} is {out.data} here, not a finite number")
        return out

    return checked


def _mentions_x(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "x" for n in ast.walk(node))


def _diff(inner: Compiled, env: Env) -> Value:
    """du/dx at this point, by reverse mode on a fresh graph; a constant of the outer graph."""
    leaf = Value(env["x"].data, "x", role="input")
    out = inner({**env, "x": leaf})
    out.backward()
    node = Value._lift(0.0 if leaf.grad is None else leaf.grad)  # None: u does not depend on x
    if _DIFFS in env:
        moved = {**env}
        scale = _slope_terms(
            out, leaf.data, lambda xh: inner({**moved, "x": Value(xh, "x", role="input")})
        )
        env[_DIFFS].append((node, scale))  # type: ignore[attr-defined]
    return node


_DIFFS = "#diffs"  # the key of evaluate's `diffs` list in the environment (not a name)


def _terms(out: Value) -> float:
    """Sum over the nodes v of the graph of |v d(out)/dv|, after out.backward()."""
    return sum(abs(v.data * v.grad) for v in topological_order(out) if v.grad is not None)


#: The size of the terms of the local derivatives computed as differences, from y = op(a).
_LOCAL_TERMS: dict[str, Callable[[float], float]] = {
    "tanh": lambda y: 1 + y * y,
    "sigmoid": lambda y: abs(y) * (1 + abs(y)),
}


def _slope_terms(out: Value, x: float, build: Callable[[float], Value]) -> float:
    """The size of the terms of d(out)/dx, after out.backward(): the sum over the nodes v
    of |d(out)/dv| |dv/dx|, each dv/dx a difference quotient from `build` (the same
    graph at x + h), plus |d(out)/dv| |da/dx| (the terms of v's local derivative) for
    an op whose local derivative is a difference, 1 - y**2 of tanh and y (1 - y) of
    sigmoid, which loses every digit where y is near 1.
    Where the quotients cannot be had, the sum of |v d(out)/dv| over |x|."""
    nodes = topological_order(out)
    h = 1e-6 * max(abs(x), 1e-3)
    try:
        moved = topological_order(build(x + h))
    except (ArithmeticError, ValueError):
        moved = []
    if len(moved) != len(nodes):
        return _terms(out) / abs(x) if x else 1.0
    slope = {
        id(v): abs(w.data - v.data) / h if math.isfinite(w.data) else 0.0
        for v, w in zip(nodes, moved)
    }
    total = 0.0
    for v in nodes:
        if v.grad is None:
            continue
        total += abs(v.grad) * slope[id(v)]
        if v._op in _LOCAL_TERMS and v._a is not None:
            total += abs(v.grad) * _LOCAL_TERMS[v._op](v.data) * slope.get(id(v._a), 0.0)
    return total
