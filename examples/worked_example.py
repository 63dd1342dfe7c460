"""Check the seed notes' first worked example, claim by claim.

Run: python examples/worked_example.py
"""

from pathlib import Path

from tinygrad_bp.slides.case import judge, load_case

case = load_case(Path(__file__).parent / "cases" / "worked_example_1.toml")
result = judge(case)
print(result.report())

# The notes multiply out dE/dw2 wrongly, then start w2's update from w1's old weight
# and subtract the step; y_in is rounded too early and E follows from their e.
status = {v.claim.name: (v.status, v.slips) for v in result.verdicts}
assert status["dE/dw2"] == ("wrong", ["arithmetic"])
assert status["w2_new"] == ("wrong", ["wrong_old_value", "sign"])
assert status["y_in"][0] == "rounding" and status["E"][0] == "follows"
