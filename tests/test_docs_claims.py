"""Statements of docs/*.md held against the code: what a page says, checked here by running it."""

from __future__ import annotations

import pytest

from tinygrad_bp.cli import COMMANDS, main


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
    from pathlib import Path

    case = Path(__file__).resolve().parent.parent / "examples" / "cases" / "tanh_1_1_2.toml"
    big = tmp_path / "big.toml"
    big.write_text(case.read_text() + "#" + "x" * (1 << 20) + "\n")
    assert main(["solve", str(big)]) == 2
    err = capsys.readouterr().err
    assert "over the limit of 1 MiB" in err and "--max-bytes" in err, err
    assert main(["solve", str(big), "--max-bytes", str(2 << 20)]) == 0
    assert "Worked solution" in capsys.readouterr().out
