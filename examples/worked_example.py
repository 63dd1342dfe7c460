"""Check the seed notes' first worked example, claim by claim.

Run: python examples/worked_example.py
"""

from pathlib import Path

from tinygrad_bp.slides.case import check_case, load_case

case = load_case(Path(__file__).parent / "cases" / "worked_example_1.toml")
result = check_case(case)
print(result.report())

# The notes multiply out dE/dw2 wrongly and then start w2's update from the wrong old weight.
wrong = [c.name for c in result.claims if not c.ok]
print("\nwrong claims:", wrong)
assert wrong == ["dE/dw12", "w12_new"]
