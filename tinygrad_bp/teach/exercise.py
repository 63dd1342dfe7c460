"""Exercise sheets with numbers a person can work by hand, and their answer keys.

Weights and inputs have one decimal (a weight now and then two, like 0.25),
targets one decimal inside the range of the output activation. A draw is kept
only when it is a fair exercise: no neuron saturated (|v| <= 2.5 for sigmoid
and tanh) or sitting on a kink (|v| >= 0.05), an error worth reducing
(|e_j| >= 0.1) and no gradient that is trivially 0 (|dE/dp| >= 0.001, or in
a deep net, where the first layers' gradients shrink, 1% of the largest).

Numbers come from Python's `random.Random` seeded with a string, whose
``random()`` sequence Python guarantees across versions and machines: the same
seed gives the same sheet everywhere. Student s's problem k is drawn from its
own seed ``"{seed}/{s}/{k}"``, so adding students never changes the others.
"""

from __future__ import annotations

import dataclasses
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
MAX_PROBLEMS = 2000
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
    """Targets with one decimal inside the output activation's range (read off f itself)."""
    low, high = float(act.f(-40.0)), float(act.f(40.0))
    if low >= 0.0 and high <= 1.0:  # like sigmoid: strictly between 0 and 1
        return [k / 10 for k in range(1, 10)]
    if low >= 0.0:  # non-negative outputs, like relu and softplus
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


def fair_forward(problem: Problem) -> bool:
    """The cheap half, before any derivation: no neuron saturated (|v| > 2.5 for sigmoid
    and tanh) or on a kink or at 0 (|v| < 0.05), and an error worth reducing (|e| >= 0.1)."""
    a = problem.data[0][0]
    for layer in problem.layers:
        v = np.abs(layer.W @ a + layer.b)
        if v.min() < 0.05 or (layer.activation.name in SATURATING and v.max() > 2.5):
            return False
        a = layer.activation.f(layer.W @ a + layer.b)
    return bool(np.abs(problem.data[0][1] - a).min() >= 0.1)


def fair(solution: Solution) -> bool:
    """No gradient trivially 0: each |dE/dp| at least 0.001, or in a deep net (where the
    gradients of the first layers shrink) at least 1% of the largest."""
    grads = [abs(line.value) for line in solution.passes[0].section("gradients")]
    return min(grads) >= min(1e-3, 0.01 * max(grads)) and min(grads) > 1e-6


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
    if count * students > MAX_PROBLEMS:
        raise ValueError(
            f"--count {count} x --students {students} = {count * students} problems, over the "
            f"limit of {MAX_PROBLEMS}; give fewer"
        )
    if len(activations) == 1:
        activations = activations * (len(sizes) - 1)
    if len(activations) != len(sizes) - 1:
        raise ValueError(
            f"--activation: give one activation, or one per layer of weights "
            f"({len(sizes) - 1}), got {len(activations)}"
        )
    acts = [activation(a) for a in activations]
    if loss == "bce" and acts[-1].name != "sigmoid":
        raise ValueError(
            f"--loss bce needs outputs between 0 and 1: a sigmoid output layer, "
            f"not {acts[-1].spec}; give e.g. --activation tanh,sigmoid"
        )
    out = []
    for s in range(1, students + 1):
        for k in range(1, count + 1):
            key = f"{seed}/{s}/{k}"
            rng = random.Random(key)
            for _ in range(MAX_DRAWS):
                problem = draw_problem(rng, sizes, acts, loss, eta)
                if not fair_forward(problem):
                    continue
                if fair(solve(dataclasses.replace(problem, steps=0), notes=False)):
                    solution = solve(problem, digits)
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
        "input (or neuron) i into neuron j; e_j = d_j - y_j; delta_j = -dE/dv_j, the local "
        "gradient (at an output neuron as each problem says). Give every answer to "
        f"{exercises[0].solution.digits if exercises else 4} significant digits.",
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
