"""Exercise sheets with numbers a person can work by hand, and their answer keys.

Weights and inputs have one decimal (a weight now and then two, like 0.25),
targets one decimal inside the range of the output activation. A draw is kept
only when it is a fair exercise: no neuron saturated (|v| <= 2.5 for sigmoid
and tanh) or sitting on a kink (|v| >= 0.05), an error worth reducing
(|e_j| >= 0.1) and no gradient that is trivially 0 (|dE/dp| >= 0.001).

Numbers come from Python's `random.Random` seeded with a string, whose
``random()`` sequence Python guarantees across versions and machines: the same
seed gives the same sheet everywhere. Student s's problem k is drawn from its
own seed ``"{seed}/{s}/{k}"``, so adding students never changes the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ..engine.ops import Activation, activation
from .expr import MathML, TeX
from .problem import Layer, Problem
from .render import Doc, given_math, problem_blocks
from .solve import Solution, solve

__all__ = ["Exercise", "ExerciseError", "draw_problem", "exercise_sheet", "make_exercises"]

MAX_DRAWS = 2000
SATURATING = ("sigmoid", "tanh")


class ExerciseError(ValueError):
    """No fair exercise could be drawn for these settings."""


@dataclass
class Exercise:
    student: int
    number: int
    seed: str
    problem: Problem
    solution: Solution


def _pick(rng: random.Random, options: list[float]) -> float:
    return options[int(rng.random() * len(options))]


ONE_DECIMAL = [k / 10 for k in range(-9, 10) if k]
WEIGHTS = ONE_DECIMAL + [-0.75, -0.25, -0.15, 0.15, 0.25, 0.75]


def _targets(act: Activation) -> list[float]:
    if act.name == "sigmoid":
        return [k / 10 for k in range(1, 10)]
    if act.name in ("relu", "softplus"):
        return [k / 10 for k in range(1, 16)]
    return ONE_DECIMAL


def draw_problem(
    rng: random.Random, sizes: list[int], acts: list[Activation], loss: str, eta: float, steps=1
) -> Problem:
    """One problem of random nice numbers (not yet checked for fairness)."""
    layers = []
    for n_in, n_out, act in zip(sizes, sizes[1:], acts):
        W = np.array([[_pick(rng, WEIGHTS) for _ in range(n_in)] for _ in range(n_out)])
        b = np.array([_pick(rng, ONE_DECIMAL) for _ in range(n_out)])
        layers.append(Layer(W, b, act))
    x = np.array([_pick(rng, ONE_DECIMAL) for _ in range(sizes[0])])
    d = np.array([_pick(rng, _targets(acts[-1])) for _ in range(sizes[-1])])
    return Problem(tuple(layers), ((x, d),), eta, loss, "online", steps)


def fair(solution: Solution) -> bool:
    """No saturated or kinked neuron, a real error, no trivially zero gradient."""
    p = solution.problem
    first = solution.passes[0]
    values = {line.key: line.value for line in first.lines}
    for l, layer in enumerate(p.layers):
        for j in p.neurons(l):
            v = abs(values[f"v{j}"])
            if v < 0.05 or (layer.activation.name in SATURATING and v > 2.5):
                return False
    for line in first.lines:
        if line.key.startswith("e") and line.key[1:].isdigit() and abs(line.value) < 0.1:
            return False
        if line.key.startswith("dE/d") and abs(line.value) < 1e-3:
            return False
    return True


def make_exercises(
    sizes: list[int],
    activations: list[str],
    seed: int | str,
    count: int = 1,
    students: int = 1,
    loss: str = "half_sse",
    eta: float = 0.5,
    digits: int = 4,
) -> list[Exercise]:
    """`count` fair problems for each of `students`; the same arguments give the same numbers."""
    if len(sizes) < 2:
        raise ValueError(f"--layers needs two or more sizes like 2,2,1, got {sizes}")
    if sum(a * b for a, b in zip(sizes, sizes[1:])) > 200:
        raise ValueError(
            f"--layers {','.join(map(str, sizes))} has more than 200 weights: "
            "too many to work by hand; give a smaller network"
        )
    if len(activations) == 1:
        activations = activations * (len(sizes) - 1)
    if len(activations) != len(sizes) - 1:
        raise ValueError(
            f"--activation: give one activation, or one per layer of weights "
            f"({len(sizes) - 1}), got {len(activations)}"
        )
    acts = [activation(a) for a in activations]
    out = []
    for s in range(1, students + 1):
        for k in range(1, count + 1):
            key = f"{seed}/{s}/{k}"
            rng = random.Random(key)
            for _ in range(MAX_DRAWS):
                problem = draw_problem(rng, sizes, acts, loss, eta)
                solution = solve(problem, digits)
                if fair(solution):
                    break
            else:
                raise ExerciseError(
                    f"no fair problem in {MAX_DRAWS} draws for --layers "
                    f"{','.join(map(str, sizes))} --activation {','.join(activations)}: "
                    "try another --seed, fewer layers or another activation"
                )
            out.append(Exercise(s, k, key, problem, solution))
    return out


TASKS = [
    "the forward pass: v_j and y_j of every neuron;",
    "the error E;",
    "the local gradient delta_j of every neuron (output layer first);",
    "the gradient dE/dp of every weight and bias;",
    "every weight and bias after one update, p_new = p - eta dE/dp.",
]


def exercise_sheet(exercises: list[Exercise], title: str) -> Doc:
    """The problem sheet: each problem's network and numbers, and what to compute."""
    doc = Doc(title, [])
    doc.add("h1", title)
    doc.add(
        "p",
        "Neurons are numbered consecutively, hidden layers first; w_ji is the weight from "
        "input (or neuron) i into neuron j; e_j = d_j - y_j; delta_j = e_j f'(v_j) at an "
        "output neuron. Give every answer to 4 significant digits.",
    )
    for ex in exercises:
        doc.add("h2", f"Problem {ex.number}")
        digits = ex.solution.digits
        exact = frozenset(ex.solution.givens)
        renderers = {
            "md": TeX(digits, exact),
            "tex": TeX(digits, exact),
            "html": MathML(digits, exact),
        }
        problem_blocks(doc, ex.problem, renderers)
        doc.blocks.append(given_math(ex.solution, renderers))
        doc.add("p", "Compute")
        doc.add("list", TASKS)
    return doc
