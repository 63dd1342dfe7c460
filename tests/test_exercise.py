"""Exercise sheets: nice numbers, fair problems (checked with PyTorch), the same sheet for the
same seed on any machine, answer keys that load and check clean, errors in one line."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tests.teachkit import error_line, run_cli
from tinygrad_bp.slides.case import judge, load_case
from tinygrad_bp.teach.exercise import make_exercises
from tinygrad_bp.teach.problem import problem_toml

ROOT = Path(__file__).resolve().parent.parent
torch = pytest.importorskip("torch")


def hundredths(x: float) -> bool:
    return abs(x * 100 - round(x * 100)) < 1e-9


@pytest.mark.parametrize("layers,acts", [([2, 2, 1], ["sigmoid"]), ([3, 2, 2], ["tanh", "linear"])])
def test_numbers_are_nice_and_problems_fair(layers, acts):
    exercises = make_exercises(layers, acts, seed=7, count=15)
    for ex in exercises:
        p = ex.problem
        ((x, d),) = p.data
        assert all(hundredths(w) and 0 < abs(w) <= 1 for l in p.layers for w in l.W.ravel())
        assert all(hundredths(b) for l in p.layers for b in l.b)
        assert all(hundredths(v) for v in [*x, *d])
        # fairness, recomputed with PyTorch autograd
        Ws = [torch.tensor(l.W, requires_grad=True) for l in p.layers]
        bs = [torch.tensor(l.b, requires_grad=True) for l in p.layers]
        a = torch.tensor(x)
        for layer, W, b in zip(p.layers, Ws, bs):
            v = W @ a + b
            assert (v.abs() >= 0.05).all()
            if layer.activation.name in ("sigmoid", "tanh"):
                assert (v.abs() <= 2.5).all()
            a = (
                torch.sigmoid(v)
                if layer.activation.name == "sigmoid"
                else (torch.tanh(v) if layer.activation.name == "tanh" else v)
            )
        e = torch.tensor(d) - a
        assert (e.abs() >= 0.1).all()
        (0.5 * (e**2).sum()).backward()
        grads = torch.cat([t.grad.ravel() for t in Ws + bs])
        assert grads.abs().min() >= min(1e-3, 0.01 * grads.abs().max())


def test_students_get_different_numbers_and_adding_students_changes_none():
    three = make_exercises([2, 2, 1], ["sigmoid"], seed=3, students=3)
    five = make_exercises([2, 2, 1], ["sigmoid"], seed=3, students=5)
    Ws = [ex.problem.layers[0].W.tobytes() for ex in three]
    assert len(set(Ws)) == 3
    assert Ws == [ex.problem.layers[0].W.tobytes() for ex in five[:3]]


def test_same_seed_same_files_in_another_process(tmp_path):
    """Two runs in separate processes (other hash seeds, other folders): identical bytes."""
    args = ["exercise", "--layers", "2,2,1", "--seed", "11", "--count", "2", "--students", "2"]
    for k, hashseed in enumerate(("1", "12345")):
        r = run_cli(*args, "-o", f"run{k}", cwd=tmp_path, hashseed=hashseed)
        assert r.returncode == 0, r.stderr
    first = sorted((tmp_path / "run0").iterdir())
    assert len(first) == 2 * (1 + 2 * 2)  # a sheet, and a key and a solution per problem
    for f in first:
        assert f.read_bytes() == (tmp_path / "run1" / f.name).read_bytes(), f.name
    r = run_cli(*args[:-2], "-o", "run2", "--seed", "12", cwd=tmp_path)
    assert (tmp_path / "run2" / "key-problem01.toml").read_bytes() != (
        tmp_path / "run0" / "key-student001-problem01.toml"
    ).read_bytes()


@pytest.mark.parametrize("fmt", ["md", "html", "tex"])
def test_keys_load_and_check_clean(tmp_path, fmt):
    r = run_cli(
        "exercise", "--seed", "5", "--count", "3", "--format", fmt, "-o", "ex", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    keys = sorted((tmp_path / "ex").glob("key-*.toml"))
    assert len(keys) == 3
    for key in keys:
        result = judge(load_case(key))
        assert len(result.verdicts) > 20
        assert {v.status for v in result.verdicts} == {"ok"}
    assert (tmp_path / "ex" / f"sheet.{fmt}").read_text().strip()
    assert (tmp_path / "ex" / f"solution-problem01.{fmt}").read_text().strip()


def test_key_round_trips_through_the_case_loader(tmp_path):
    (ex,) = make_exercises([2, 3, 1], ["tanh"], seed=1)
    path = tmp_path / "k.toml"
    path.write_text(problem_toml(ex.problem))
    case = load_case(path)
    assert np.array_equal(case.network.layers[0].W, ex.problem.layers[0].W)
    assert case.eta == ex.problem.eta and case.network.loss == ex.problem.loss


@pytest.mark.parametrize(
    "args,words",
    [
        (["--layers", "2"], "two or more"),
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--activation", "tanh,tanh,tanh"], "one per layer"),
        (["--layers", "20,20,1"], "too many to work by hand"),
        (["--count", "0"], "from 1 to 100"),
        (["-o", "afile"], "not a folder"),
        (["--loss", "bce", "--activation", "tanh"], "a sigmoid output layer"),
        (["--count", "100", "--students", "100"], "over the limit of 2000"),
    ],
)
def test_exercise_errors(tmp_path, args, words):
    (tmp_path / "afile").write_text("x")
    assert words in error_line(run_cli("exercise", *args, cwd=tmp_path))


def test_draws_use_only_random_random():
    """The numbers come from random.Random(str).random() only, which Python keeps stable."""
    rng = random.Random("7/1/1")
    assert 0 <= rng.random() < 1
    src = (ROOT / "tinygrad_bp/teach/exercise.py").read_text()
    assert "np.random" not in src and "randint" not in src and "choice(" not in src


def test_the_docs_walk_through_sheet_then_solve(tmp_path):
    r = run_cli("exercise", "--seed", "7", "--count", "3", "-o", "sheet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("solve", "sheet/key-problem01.toml", "-o", "solution.md", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # the solution written by `solve` is the one `exercise` wrote
    ours = (tmp_path / "solution.md").read_text().split("\n", 1)[1]
    theirs = (tmp_path / "sheet" / "solution-problem01.md").read_text().split("\n", 1)[1]
    assert ours == theirs


def test_docs_excerpt_is_what_the_sheet_gives(tmp_path):
    """The solution lines quoted in docs/teachers.md come from seed 7's first problem."""
    r = run_cli("exercise", "--seed", "7", "--count", "3", "-o", "sheet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    solution = (tmp_path / "sheet" / "solution-problem01.md").read_text()
    doc = (ROOT / "docs" / "teachers.md").read_text()
    quoted = [
        line for line in doc.splitlines() if line.startswith(("$v_{3}", "$\\delta", "> Note"))
    ]
    assert len(quoted) == 4
    for line in quoted:
        assert line in solution


# an output neuron's delta = -dE/dv_j as the sheet states it, worked by hand per loss
OUTPUT_DELTA = {
    "half_sse": ("delta_j = e_j f'(v_j)", lambda e, y, fp, m: e * fp),
    "sse": ("delta_j = 2 e_j f'(v_j)", lambda e, y, fp, m: 2 * e * fp),
    "mse": ("delta_j = 2/m e_j f'(v_j)", lambda e, y, fp, m: 2 / m * e * fp),
    "bce": ("delta_j = e_j / (y_j (1 - y_j)) f'(v_j)", lambda e, y, fp, m: e / (y * (1 - y)) * fp),
}


@pytest.mark.parametrize("loss", sorted(OUTPUT_DELTA))
def test_the_sheet_states_the_output_delta_the_key_uses(loss):
    from tinygrad_bp.teach.exercise import exercise_sheet
    from tinygrad_bp.teach.render import render_doc

    exercises = make_exercises([2, 2, 2], ["tanh", "sigmoid"], seed=5, loss=loss)
    sheet = render_doc(exercise_sheet(exercises, "t"), "md").replace("\\_", "_")
    words, formula = OUTPUT_DELTA[loss]
    assert words in sheet and "delta_j = e_j f'(v_j) at an output" not in sheet
    values = exercises[0].solution.values()
    ((_, d),) = exercises[0].problem.data
    for j in (3, 4):
        y, fp = values[f"y{j}"], values[f"f'(v{j})"]
        e = d[j - 3] - y
        assert values[f"delta{j}"] == pytest.approx(formula(e, y, fp, 2), rel=1e-12)
