"""A small expression language over x, parsed safely and evaluated with `Value`.

Python syntax: numbers, ``+ - * / **``, unary minus, parentheses, the constants
``e`` and ``pi``, the functions ``exp log ln sqrt abs sin cos tan sinh cosh tanh
coth sech csch sigmoid``, ``log(u, a)`` (base a) and ``diff(u)`` (du/dx, by the
Value engine's reverse mode). Any other single letter (``a``, ``b``, ``c``) is a
positive constant.

The text is parsed with `ast` and checked node by node against a whitelist;
anything else (attributes, other names or calls, lambdas, comprehensions,
strings, ...) is an `ExpressionError` quoting the offending piece. Nothing is
ever handed to `eval` or `exec`: an expression compiles to a tree of small
Python closures that call `Value` operations.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.value import Value

__all__ = ["Expression", "ExpressionError", "UndefinedError", "parse"]

Env = dict[str, Value]
Compiled = Callable[[Env], Value]


class ExpressionError(ValueError):
    """The text is not an expression of this language; the message names the piece."""


class UndefinedError(ArithmeticError):
    """The expression has no real value at this point (outside its domain)."""


def _coth(v: Value) -> Value:
    return 1 / v.tanh()


def _sech(v: Value) -> Value:
    return 1 / v.cosh()


def _csch(v: Value) -> Value:
    return 1 / v.sinh()


UNARY: dict[str, Callable[[Value], Value]] = {
    "exp": Value.exp,
    "ln": Value.log,
    "sqrt": Value.sqrt,
    "abs": Value.abs,
    "sin": Value.sin,
    "cos": Value.cos,
    "tan": Value.tan,
    "sinh": Value.sinh,
    "cosh": Value.cosh,
    "tanh": Value.tanh,
    "coth": _coth,
    "sech": _sech,
    "csch": _csch,
    "sigmoid": Value.sigmoid,
}
FUNCTIONS = sorted([*UNARY, "log", "diff"])
NAMED_CONSTANTS = {"e": math.e, "pi": math.pi}
RESERVED = {"x", *NAMED_CONSTANTS}


@dataclass
class Expression:
    """A parsed expression: `text`, the constant letters it uses, and `value(x, consts)`."""

    text: str
    constants: tuple[str, ...]
    uses_diff: bool
    _fn: Compiled

    def evaluate(self, x: Value | float, constants: dict[str, float] | None = None) -> Value:
        """The expression as a Value graph at x (a Value leaf, or a number)."""
        env: Env = {"x": x if isinstance(x, Value) else Value(float(x), "x", role="input")}
        for name, value in (constants or {}).items():
            env[name] = Value(float(value), name, role="const")
        missing = [c for c in self.constants if c not in env]
        if missing:
            raise ValueError(f"no value given for the constant(s) {', '.join(missing)}")
        try:
            return self._fn(env)
        except (ValueError, ZeroDivisionError, OverflowError) as exc:
            raise UndefinedError(str(exc)) from None

    def value(self, x: float, constants: dict[str, float] | None = None) -> float:
        """The number at x, or `UndefinedError` where it is not a finite real number."""
        out = self.evaluate(x, constants).data
        if not math.isfinite(out):
            raise UndefinedError(f"{self.text} is not finite at x = {x}")
        return out

    def derivative(self, x: float, constants: dict[str, float] | None = None) -> float:
        """d/dx at x, by reverse mode on the Value graph."""
        if self.uses_diff:
            raise ExpressionError(
                f"{self.text}: the derivative of an expression that contains diff(...) would "
                "be a second derivative, which this checker does not compute"
            )
        leaf = Value(float(x), "x", role="input")
        out = self.evaluate(leaf, constants)
        out.backward()
        if not (math.isfinite(out.data) and math.isfinite(leaf.grad)):
            raise UndefinedError(f"d/dx {self.text} is not finite at x = {x}")
        return leaf.grad


def parse(text: str) -> Expression:
    """Parse `text` into an `Expression`, or raise `ExpressionError` naming what is wrong."""
    source = text.strip()
    if not source:
        raise ExpressionError("empty expression")
    if "^" in source:
        raise ExpressionError(f"'^' in {source!r}: write powers with ** (x**2)")
    try:
        tree = ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(
            f"not a valid expression{where}: {source!r} ({exc.msg}); write products with * (2*x)"
        ) from None
    compiler = _Compiler(source)
    try:
        fn = compiler.compile(tree.body)
    except RecursionError:
        raise ExpressionError(f"the expression is nested too deeply: {source[:60]!r}...") from None
    return Expression(source, tuple(sorted(compiler.constants)), compiler.uses_diff, fn)


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.constants: set[str] = set()
        self.uses_diff = False
        self.diff_depth = 0

    def piece(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or type(node).__name__

    def reject(self, node: ast.AST, why: str) -> ExpressionError:
        return ExpressionError(f"{why}: {self.piece(node)!r} in {self.source!r}")

    def compile(self, node: ast.AST) -> Compiled:
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.reject(node, "only numbers are allowed as literals")
            number = float(v)
            return lambda env: Value._lift(number)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.compile(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda env: -operand(env)
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self.reject(node, "only unary + and - are allowed")
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        kinds = {
            ast.Attribute: "attribute access is not allowed",
            ast.Lambda: "lambdas are not allowed",
            ast.Subscript: "indexing is not allowed",
            ast.Compare: "comparisons are not allowed (a rule is 'd/dx f = g' on its own line)",
        }
        for kind, why in kinds.items():
            if isinstance(node, kind):
                raise self.reject(node, why)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            raise self.reject(node, "comprehensions are not allowed")
        raise self.reject(node, f"{type(node).__name__} is not allowed in an expression")

    def name(self, node: ast.Name) -> Compiled:
        n = node.id
        if n == "x":
            return lambda env: env["x"]
        if n in NAMED_CONSTANTS:
            c = NAMED_CONSTANTS[n]
            return lambda env: Value._lift(c)
        if n in UNARY or n in ("log", "diff"):
            raise self.reject(node, f"the function {n} needs an argument, like {n}(x)")
        if len(n) == 1 and n.isalpha():
            self.constants.add(n)
            return lambda env: env[n]
        raise self.reject(
            node,
            f"unknown name {n!r} (use x, e, pi, a single-letter constant, or one of the "
            f"functions {', '.join(FUNCTIONS)})",
        )

    def binop(self, node: ast.BinOp) -> Compiled:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return lambda env: left(env) + right(env)
        if isinstance(op, ast.Sub):
            return lambda env: left(env) - right(env)
        if isinstance(op, ast.Mult):
            return lambda env: left(env) * right(env)
        if isinstance(op, ast.Div):
            return lambda env: left(env) / right(env)
        if isinstance(op, ast.Pow):
            if _mentions_x(node.right):
                return lambda env: left(env) ** right(env)  # d/dx a^u needs a > 0
            return lambda env: left(env) ** right(env).data  # the power rule

        raise self.reject(node, f"the operator {type(op).__name__} is not allowed (use + - * / **)")

    def call(self, node: ast.Call) -> Compiled:
        if not isinstance(node.func, ast.Name):
            raise self.reject(node.func, "only the listed functions can be called")
        name = node.func.id
        if node.keywords:
            raise self.reject(node, f"{name}() takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.reject(node, "starred arguments are not allowed")
        nargs = len(node.args)
        if name == "diff":
            if nargs != 1:
                raise self.reject(node, "diff takes one expression, like diff(x**2)")
            if self.diff_depth:
                raise self.reject(node, "diff(...) cannot be nested (no second derivatives)")
            self.diff_depth += 1
            inner = self.compile(node.args[0])
            self.diff_depth -= 1
            self.uses_diff = True
            return lambda env: _diff(inner, env)
        if name == "log":
            if nargs == 1:
                arg = self.compile(node.args[0])
                return lambda env: arg(env).log()
            if nargs == 2:
                arg, base = self.compile(node.args[0]), self.compile(node.args[1])
                return lambda env: arg(env).log() / base(env).log()
            raise self.reject(node, "log takes one or two arguments: log(u) or log(u, base)")
        if name in UNARY:
            if nargs != 1:
                raise self.reject(node, f"{name} takes one argument")
            fn, arg = UNARY[name], self.compile(node.args[0])
            return lambda env: fn(arg(env))
        raise self.reject(node.func, f"unknown function {name!r} (known: {', '.join(FUNCTIONS)})")


def _mentions_x(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "x" for n in ast.walk(node))


def _diff(inner: Compiled, env: Env) -> Value:
    """du/dx at this point, by reverse mode on a fresh graph; a constant of the outer graph."""
    leaf = Value(env["x"].data, "x", role="input")
    out = inner({**env, "x": leaf})
    out.backward()
    return Value._lift(leaf.grad)
