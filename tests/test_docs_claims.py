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
