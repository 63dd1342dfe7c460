"""`tinygrad-bp exercise`: exercise sheets with hand-friendly numbers, answer keys, solutions."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import atomic_write
from ..formatting import dumps
from .args import bounded, layer_sizes, positive


def add_parser(sub) -> None:
    p = sub.add_parser(
        "exercise",
        help="generate an exercise sheet, its answer keys and worked solutions",
        description="Draw backprop problems with numbers a person can work by hand (one or two "
        "decimals, no saturated neurons, no trivially zero answers) and write into the output "
        "folder: the problem sheet (one per student with --students), and for every problem "
        "its answer key as a case file (key-*.toml, for `solve` and `grade`) and its worked "
        "solution. The same --seed gives the same sheet on every machine.",
    )
    p.add_argument(
        "--layers",
        type=layer_sizes(None, "2,2,1"),
        default=[2, 2, 1],
        metavar="N,H,...,O",
        help="inputs, hidden layer sizes, outputs (default 2,2,1)",
    )
    p.add_argument(
        "--activation",
        default="sigmoid",
        help="one activation for every layer, or one per layer separated by commas, "
        "e.g. tanh,linear (default sigmoid)",
    )
    p.add_argument(
        "--loss",
        choices=("half_sse", "sse", "mse", "bce"),
        default="half_sse",
        help="the error E (default half_sse: E = 1/2 sum e_j^2, as on the slides)",
    )
    p.add_argument("--eta", type=positive(float), default=0.5, help="learning rate (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the numbers (default 0)")
    p.add_argument(
        "--count",
        type=bounded(int, 1, 100),
        default=1,
        help="problems per sheet (default 1, at most 100)",
    )
    p.add_argument(
        "--students",
        type=bounded(int, 1, 1000),
        default=1,
        help="one sheet per student, each with other numbers (default 1, at most 1000)",
    )
    p.add_argument(
        "-o",
        "--output",
        default="exercise",
        metavar="DIR",
        help="output folder (default ./exercise)",
    )
    p.add_argument(
        "--format",
        choices=("md", "html", "tex"),
        default="md",
        help="format of sheets and solutions (default md)",
    )
    p.add_argument(
        "--digits",
        type=bounded(int, 1, 17),
        default=4,
        help="significant digits of the answers (default 4)",
    )
    p.add_argument(
        "--json", action="store_true", help="print what was written and every answer as JSON"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..teach.exercise import exercise_sheet, make_exercises
    from ..teach.problem import problem_toml
    from ..teach.render import render_doc, solution_doc

    exercises = make_exercises(
        args.layers,
        [a.strip() for a in args.activation.split(",")],
        args.seed,
        args.count,
        args.students,
        args.loss,
        args.eta,
        args.digits,
    )
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise OSError(f"-o {folder}: exists and is not a folder; give a folder name")
    folder.mkdir(parents=True, exist_ok=True)
    ext, sizes = args.format, ",".join(map(str, args.layers))
    written, answers = [], {}
    for s in range(1, args.students + 1):
        tag = f"-student{s:03d}" if args.students > 1 else ""
        mine = [ex for ex in exercises if ex.student == s]
        title = f"Backpropagation exercises ({sizes}, {args.activation})"
        if args.students > 1:
            title += f", student {s}"
        sheet = folder / f"sheet{tag}.{ext}"
        atomic_write(sheet, render_doc(exercise_sheet(mine, title), ext))
        written.append(str(sheet))
        for ex in mine:
            name = f"{tag.lstrip('-')}-problem{ex.number:02d}".lstrip("-")
            claims = ex.solution.claims()
            header = (
                f"Answer key of problem {ex.number}{' of student ' + str(s) if tag else ''}: "
                f"tinygrad-bp exercise --layers {sizes} --activation {args.activation} "
                f"--seed {args.seed}\n"
                f"The claims are the answers to {args.digits} significant digits."
            )
            key = folder / f"key-{name}.toml"
            atomic_write(key, problem_toml(ex.problem, claims, header))
            sol = folder / f"solution-{name}.{ext}"
            doc = solution_doc(
                ex.solution, f"Solution of problem {ex.number}{tag.replace('-', ', ')}"
            )
            atomic_write(sol, render_doc(doc, ext))
            written += [str(key), str(sol)]
            answers[name] = ex.solution.claims()
    if args.json:
        print(dumps({"files": written, "answers": answers}))
    else:
        print(
            f"wrote {len(written)} files to {folder}/: "
            + ", ".join(Path(w).name for w in written[:6])
            + (" ..." if len(written) > 6 else "")
        )
    return 0
