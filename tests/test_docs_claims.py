"""Statements of docs/*.md held against the code: what a page says, checked here by running it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinygrad_bp.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_percent_signs_as_written(command, capsys):
    # argparse %-formats argument help but prints a description as it is: '%%' there
    # would reach the reader doubled
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "%%" not in out, [line for line in out.splitlines() if "%%" in line]


@pytest.mark.parametrize("ask_before_backward", [True, False])
def test_a_folded_number_shows_its_gradient_whenever_it_is_asked_for(ask_before_backward):
    # docs/api.md: every Value gets a gradient, constants included; docs/pictures.md shows
    # the constant 1 of e = (a+b)(b+1) with grad 3.0 = de/d1 = a + b
    from tinygrad_bp import Value, graph_to_dict

    a, b = Value(2.0, "a"), Value(1.5, "b")
    e = (a + b) * (b + 1.0) - 4.0 * b
    if ask_before_backward:
        graph_to_dict(e)
    e.backward()
    consts = {n["value"]: n["grad"] for n in graph_to_dict(e)["nodes"] if n["op"] == "const"}
    # closed form: de/d1 = a + b, de/d4 = -b
    assert consts == {1.0: 3.5, 4.0: -1.5}


def test_solve_refuses_a_big_case_file_naming_a_flag_that_raises_the_limit(tmp_path, capsys):
    # docs/errors-and-limits.md: every limit names itself and the flag that raises it
    case = ROOT / "examples" / "cases" / "tanh_1_1_2.toml"
    big = tmp_path / "big.toml"
    big.write_text(case.read_text() + "#" + "x" * (1 << 20) + "\n")
    assert main(["solve", str(big)]) == 2
    err = capsys.readouterr().err
    assert "over the limit of 1 MiB" in err and "--max-bytes" in err, err
    assert main(["solve", str(big), "--max-bytes", str(2 << 20)]) == 0
    assert "Worked solution" in capsys.readouterr().out


# -- docs/api.md: each signature written there is the code's ------------------------------

API_PAGE = ROOT / "docs" / "api.md"

#: how a name written in docs/api.md is found in the package
PREFIXES = {
    "": "tinygrad_bp",
    "rules.": "tinygrad_bp.slides.rules",
    "compare.": "tinygrad_bp.slides.compare",
    "case.": "tinygrad_bp.slides.case",
    "Case.": "tinygrad_bp.slides.case:Case",
    "numbering.": "tinygrad_bp.slides.numbering",
    "sidebyside.": "tinygrad_bp.slides.sidebyside",
    "TwoLayerNet": "tinygrad_bp.slides.twolayer:TwoLayerNet",
    "TwoLayerNet.": "tinygrad_bp.slides.twolayer:TwoLayerNet",
    "Drawing.": "tinygrad_bp.views.draw:Drawing",
    "render.": "tinygrad_bp.views.render",
    "views.graph.": "tinygrad_bp.views.graph",
    "views.plot.": "tinygrad_bp.views.plot",
    "nn.": "tinygrad_bp.nn",
    "MLP.": "tinygrad_bp.nn:MLP",
    "ValueMLP.": "tinygrad_bp.nn:ValueMLP",
    "model.": "tinygrad_bp.nn.module:Module",
    "optim.": "tinygrad_bp.nn.optim",
    "train.": "tinygrad_bp.nn.train",
    "derivatives.": "tinygrad_bp.derivatives.verify",
}
#: written as examples of a call, not as the signature
EXAMPLES = {"Value", "Tensor", "step", "abs", "backward"}


def _resolve(name: str):
    import importlib

    head, _, last = name.rpartition(".")
    prefix = head + "." if head else ""
    if name in PREFIXES:  # a class written alone: TwoLayerNet(...)
        prefix, last = name, None
    where = PREFIXES.get(prefix)
    if where is None:
        where = PREFIXES["derivatives."] if prefix == "" else None
    if where is None:
        return None
    module, _, attr = where.partition(":")
    obj = importlib.import_module(module)
    if attr:
        obj = getattr(obj, attr)
    if last is None:
        return obj
    if not hasattr(obj, last) and prefix == "":  # the derivatives table names them bare
        obj = importlib.import_module(PREFIXES["derivatives."])
    return getattr(obj, last, None)


def _documented_signatures() -> list[tuple[str, str, str]]:
    """(the text, the name, its arguments) of every `name(arguments)` written in api.md
    in the first column of a table row, or as a call with '=' in it."""
    found = []
    for line in API_PAGE.read_text().splitlines():
        first = line.split("|")[1] if line.startswith("|") else ""
        for text, name, args in re.findall(r"`(([A-Za-z_][\w.]*)\((.*?)\))`", first):
            if name.split(".")[-1] not in EXAMPLES or name in ("Value", "Tensor"):
                found.append((text, name, args))
    return found


def _split_args(args: str) -> list[str]:
    parts, depth, quoted, cur = [], 0, False, ""
    for ch in args:
        quoted ^= ch == '"'
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0 and not quoted:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def test_every_signature_in_the_api_page_is_the_code_s():
    import inspect

    checked, wrong = 0, []
    for text, name, args in _documented_signatures():
        obj = _resolve(name)
        if obj is None or args == "...":
            continue
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        params = [p for p in sig.parameters.values() if p.name != "self"]
        written = [a for a in _split_args(args) if a != "*"]
        rest = written[-1:] == ["..."]  # "the other arguments, with their defaults"
        written = written[:-1] if rest else written
        if rest:
            params = params[: len(written)]
        names = [w.split("=")[0].lstrip("*") for w in written]
        if names != [p.name for p in params]:
            wrong.append(f"{text}: the code's arguments are {[p.name for p in params]}")
            continue
        for w, p in zip(written, params):
            if "=" in w:
                doc = eval(w.split("=", 1)[1], vars(inspect.getmodule(obj)))  # noqa: S307
                if doc != p.default:
                    wrong.append(f"{text}: {p.name} defaults to {p.default!r}")
            elif p.default is not inspect.Parameter.empty and p.kind is not p.VAR_POSITIONAL:
                wrong.append(f"{text}: {p.name} has the default {p.default!r}, not written")
        checked += 1
    assert not wrong, "\n".join(wrong)
    assert checked >= 25, checked


def test_every_public_name_is_in_the_api_page():
    import tinygrad_bp

    page = API_PAGE.read_text()
    missing = [n for n in tinygrad_bp.__all__ if not re.search(rf"`{re.escape(n)}\b", page)]
    assert not missing, missing


def test_a_limit_reached_from_python_names_the_keyword_that_raises_it():
    # docs/errors-and-limits.md: from Python the messages give the keyword to raise a limit
    import numpy as np

    from tinygrad_bp.slides.case import load_case
    from tinygrad_bp.slides.compare import compare
    from tinygrad_bp.slides.twolayer import TwoLayerNet
    from tinygrad_bp.teach.grade import submission_files
    from tinygrad_bp.teach.problem import read_problem
    from tinygrad_bp.teach.solve import solve

    examples = ROOT / "examples"
    net = TwoLayerNet.random(2, 3, 1)
    calls = {
        "max_params=": lambda: compare(net, np.zeros(2), np.zeros(1), 0.1, max_params=5),
        "max_quantities=": lambda: load_case(
            examples / "cases" / "tanh_1_1_2.toml", max_quantities=3
        ),
        "max_lines=": lambda: solve(read_problem(examples / "class" / "key.toml")[0], max_lines=3),
        "limit=": lambda: submission_files(examples / "class", None, limit=3),
    }
    for keyword, call in calls.items():
        with pytest.raises(ValueError) as caught:
            call()
        assert keyword in str(caught.value), str(caught.value)


@pytest.mark.parametrize("view", ["graph", "network"])
def test_draw_too_large_suggests_only_what_helps(view, capsys):
    assert main(["draw", "--view", view, "--sizes", "1000,1000,10", "-o", "never.svg"]) == 2
    err = capsys.readouterr().err
    assert "--max-nodes" in err and ("--view network" in err) == (view == "graph"), err


def test_every_flag_in_the_cli_page_is_its_command_s(capsys):
    # docs/cli.md: one section per command; each --flag it names is in that command's --help
    page = (ROOT / "docs" / "cli.md").read_text()
    sections = re.split(r"^## ", page, flags=re.M)[1:]
    assert sorted(s.split("\n", 1)[0].strip() for s in sections) == sorted(COMMANDS)
    wrong = []
    for section in sections:
        command = section.split("\n", 1)[0].strip()
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helptext = capsys.readouterr().out
        flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", section))
        wrong += [f"{command} {f}" for f in sorted(flags) if f not in helptext]
    assert not wrong, wrong


@pytest.mark.parametrize("dtype,bound", [("float64", 2.5), ("float32", 4.0)])
@pytest.mark.parametrize("path", ["four passes", "stable", "few numbers"])
def test_the_tensor_sigmoid_is_within_the_ulps_speed_md_states(dtype, bound, path):
    # docs/speed.md: both forms of the array sigmoid stay within 2.5 ulp (float64) and
    # 4 ulp (float32) of 1 / (1 + e^-x), here computed with 40 decimal digits
    from decimal import Decimal, localcontext

    import numpy as np

    from tinygrad_bp.engine.ops import UNARY

    dt = np.dtype(dtype)
    low = -700.0 if dt == np.float64 else -80.0  # the four passes: no entry below -708 / -87
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(low, 40.0, 1000), rng.uniform(-20.0, 20.0, 1000)]).astype(dt)
    if path == "stable":
        x = np.append(x, dt.type(2 * low))  # one entry far below: the two-sided form for all
    if path == "few numbers":  # 256 entries or fewer are computed out of place
        x = x[::10][:200]
    y = UNARY["sigmoid"].array(x)
    worst = 0.0
    with localcontext() as ctx:
        ctx.prec = 40
        for xi, yi in zip(x.tolist(), y.tolist()):
            exact = 1 / (1 + (-Decimal(xi)).exp())
            ulp = Decimal(float(np.spacing(dt.type(exact))))
            if ulp > 0:
                worst = max(worst, float(abs(Decimal(yi) - exact) / ulp))
    assert worst <= bound, worst
